"""The morning forecast with the hourly O3 model: the day's own profile agrees with the
daily MDA8, the critical value comes from it, the stored run keeps what the intraday
update needs, and nothing observed after the issue time changes it."""

from __future__ import annotations

import copy
from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.daily import mda8_ugm3
from aqcast.features.nomenclature import POLLUTANTS
from aqcast.models.hourly import (
    hourly_weather_frame,
    load_hourly_config,
    observed_o3_frame,
    train_hourly,
)
from aqcast.models.inputs import issue_time_utc
from aqcast.service.forecasts import load_forecast, make_forecast, store_forecast

TZ = "Asia/Shanghai"
ISSUE = date(2013, 5, 20)


@pytest.fixture(scope="module")
def network(synthetic_world):
    return synthetic_world.network


@pytest.fixture(scope="module")
def bundle(synthetic_world, daily_bundle):
    """The session's small daily model (tests.support.training) with an hourly model."""
    base = synthetic_world.inputs
    b = copy.copy(daily_bundle)  # the shared bundle itself stays without one
    hc = load_hourly_config().model_copy(
        update={"rounds": 40, "calibration_days": 80, "intraday_samples": 100}
    )
    b.hourly = train_hourly(
        base.table,
        hourly_weather_frame(base.weather_hourly, TZ, hc),
        observed_o3_frame(base.hourly, TZ),
        train_until=pd.Timestamp(ISSUE),
        config=hc,
    )
    return b


@pytest.mark.slow
def test_forecast_profile_from_the_hourly_model(network, bundle, sqlite_url):
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    hourly = network.hourly[network.hourly["time"] >= pd.Timestamp("2013-03-01", tz="UTC")]
    ingest_frame(
        engine,
        hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    fc = make_forecast(engine, ISSUE, met="observed", bundle=bundle)
    assert not any("climatological shape" in n for n in fc.notes)
    prof = fc.hourly_o3
    assert len(prof) == 4 * 4 * 24  # (3 stations + district) x 4 target days x 24 hours
    assert set(fc.critical.columns) >= {"critical_value_ugm3", "likely_hours", "capped"}
    # the profile's MDA8 is the daily o3_mda8 q50 of the same entity and day
    district = prof[prof["area"] == "district"].sort_values(["target_date", "hour"])
    q50 = district["q50"].to_numpy().reshape(-1, 24)
    daily = fc.values[(fc.values["area"] == "district") & (fc.values["variable"] == "o3_mda8")]
    np.testing.assert_allclose(mda8_ugm3(q50), daily.sort_values("target_date")["q50"], rtol=1e-9)
    assert (fc.critical["critical_value_ugm3"] <= 200).all()

    run_id = store_forecast(engine, fc)
    back = load_forecast(engine, ISSUE)
    assert run_id > 0 and back is not None
    assert np.array(back.intraday["correlation"]).shape == (24, 24)
    assert set(back.intraday["calibration"]) == {str(h) for h in range(8, 21)}

    # everything observed from the issue time on is changed: the forecast is not
    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    late = hourly[hourly["time"] >= cutoff].copy()
    for c in POLLUTANTS:
        late[c] = late[c] * 2.5 + 7.0
    ingest_frame(engine, late, source="test", file_label="late", refresh_daily=False, tz=TZ)
    again = make_forecast(engine, ISSUE, met="observed", bundle=bundle)
    pd.testing.assert_frame_equal(again.hourly_o3, fc.hourly_o3)
    pd.testing.assert_frame_equal(again.critical, fc.critical)
