"""A forecast for issue date D uses only what was known at D 07:00 local.

Altering everything observed from D 07:00 on (pollutants and weather; with --met
observed all but the target days' weather, the declared perfect-prognosis input) must
leave that issue's features and forecasts unchanged, from frames and from the store.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.feature_table import feature_columns, load_feature_spec
from aqcast.features.nomenclature import POLLUTANTS
from aqcast.features.synthetic import QuirkRates, synthetic_network
from aqcast.models.forecast import make_forecast
from aqcast.models.inputs import frames_to_table, issue_time_utc, local_midnight_utc
from aqcast.models.predict import predict_table
from aqcast.models.train import load_training_config, train_bundle

TZ = "Asia/Shanghai"
ISSUE = date(2013, 5, 20)
NO_QUIRKS = QuirkRates(0, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def network():
    return synthetic_network(3, "2013-01-01", "2013-06-01", seed=3, quirks=NO_QUIRKS)


@pytest.fixture(scope="module")
def small_config():
    cfg = load_training_config()
    return cfg.model_copy(update={"max_rounds": 30, "min_rounds": 10})


@pytest.fixture(scope="module")
def store_bundle(network, small_config):
    """A model trained on target days before the issue date (perfect-prognosis training)."""
    spec = load_feature_spec()
    areas = {"district": network.stations["station"].tolist()}
    base = frames_to_table(
        network.hourly, areas, spec=spec, tz=TZ, issue_dates=None, met="observed"
    )
    return train_bundle(
        base.table,
        base.hourly,
        spec=spec,
        tz=TZ,
        train_start=None,
        train_until=ISSUE,
        version="t",
        config=small_config,
    )


def _altered(hourly: pd.DataFrame, after: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    out = hourly.copy()
    late = out["time"] >= after
    rng = np.random.default_rng(0)
    for c in columns:
        out.loc[late, c] = out.loc[late, c] * rng.uniform(0.2, 3.0, late.sum()) + 5.0
    return out


def _issue_rows(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["issue_date"] == pd.Timestamp(ISSUE)]
    return rows[["entity", "lead_days", *feature_columns(rows)]].reset_index(drop=True)


@pytest.mark.parametrize("met", ["observed", "none"])
def test_features_and_forecast_ignore_everything_after_issue_time(network, small_config, met):
    spec = load_feature_spec()
    areas = {"district": network.stations["station"].tolist()}
    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    pollutants = list(POLLUTANTS)
    weather = [c for c in network.hourly.columns if c not in ("station", "time", *pollutants)]
    changed = _altered(network.hourly, cutoff, pollutants)
    if met == "observed":
        # Weather after the last target day is not a declared input either.
        end_of_targets = local_midnight_utc(date(2013, 5, 24), TZ)
        changed = _altered(changed, end_of_targets, weather)
    else:
        changed = _altered(changed, cutoff, weather)
    assert not changed.equals(network.hourly)

    a = frames_to_table(network.hourly, areas, spec=spec, tz=TZ, issue_dates=None, met=met)
    b = frames_to_table(changed, areas, spec=spec, tz=TZ, issue_dates=None, met=met)
    pd.testing.assert_frame_equal(_issue_rows(a.table), _issue_rows(b.table))
    # The targets did change, so the alteration reached what the forecast must not see.
    ya = a.table.loc[a.table["issue_date"] == pd.Timestamp(ISSUE), "y_pm25_24h"]
    yb = b.table.loc[b.table["issue_date"] == pd.Timestamp(ISSUE), "y_pm25_24h"]
    assert not np.allclose(ya.to_numpy(), yb.to_numpy(), equal_nan=True)

    # Training sees target days before D only, so one model serves both replays.
    bundle = train_bundle(
        a.table,
        a.hourly,
        spec=spec,
        tz=TZ,
        train_start=None,
        train_until=ISSUE,
        version="a",
        config=small_config,
    )
    rows_a = a.table[a.table["issue_date"] == pd.Timestamp(ISSUE)]
    rows_b = b.table[b.table["issue_date"] == pd.Timestamp(ISSUE)]
    pa, pb = predict_table(bundle, rows_a), predict_table(bundle, rows_b)
    cols = ["q10", "q50", "q90", "p_exceed"]
    np.testing.assert_allclose(pa[cols].to_numpy(float), pb[cols].to_numpy(float))


def test_stored_forecast_ignores_observations_ingested_after_issue_time(
    network, store_bundle, sqlite_url
):
    bundle = store_bundle
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
    before = make_forecast(engine, ISSUE, met="stored", bundle=bundle)

    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    late = hourly[hourly["time"] >= cutoff]
    altered = _altered(late, cutoff, list(POLLUTANTS))
    ingest_frame(engine, altered, source="test", file_label="late", refresh_daily=False, tz=TZ)
    after = make_forecast(engine, ISSUE, met="stored", bundle=bundle)

    pd.testing.assert_frame_equal(before.values, after.values)
    pd.testing.assert_frame_equal(before.critical, after.critical)
    assert before.met_mode == "stored"
    # No stored weather forecasts: the models lack inputs and the baselines answer.
    assert before.method.startswith("fallback:")
    assert "target-day weather" in before.missing_inputs


def test_stored_weather_forecasts_issued_after_issue_time_are_ignored(
    network, store_bundle, sqlite_url
):
    bundle = store_bundle
    from aqcast.service.ingest import ingest_frame, ingest_met_forecasts
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    hourly = network.hourly[network.hourly["time"] >= pd.Timestamp("2013-04-01", tz="UTC")]
    ingest_frame(
        engine,
        hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    window = (hourly["time"] >= cutoff - pd.Timedelta(days=2)) & (
        hourly["time"] < cutoff + pd.Timedelta(days=5)
    )
    weather = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]
    met = hourly.loc[window, ["station", "time", *weather]].rename(columns={"time": "valid_at"})
    met["issued_at"] = cutoff - pd.Timedelta(hours=7)
    ingest_met_forecasts(engine, met, source="test", file_label="met-early")
    first = make_forecast(engine, ISSUE, met="stored", bundle=bundle)
    assert first.method == "model" and first.missing_inputs == []

    late = met.copy()
    late["issued_at"] = cutoff  # issued at the issue time: not known before it
    late[weather] = late[weather] * 1.5 + 3.0
    ingest_met_forecasts(engine, late, source="test", file_label="met-late")
    second = make_forecast(engine, ISSUE, met="stored", bundle=bundle)
    pd.testing.assert_frame_equal(first.values, second.values)
