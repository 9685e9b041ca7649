"""GET /v1/forecasts/{date}/ozone/intraday: the probability that today's MDA8 exceeds 160
given the hours observed so far, its status words, and the highest concentration each
remaining hour may reach."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from aqcast.features.intraday import remaining_hour_limits_ugm3
from aqcast.models.hourly import intraday_update
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import ForecastRun
from tests.support.api_seed import DAY, auth, make_client, o3_profile, seed

# hours 0-7 as the seed stores them for the district at 08:30 local (see test_api_forecasts)
OBSERVED = [math.nan, math.nan, 10.0, 11.0, math.nan, 13.0, 14.0, 15.0]
PROFILE = pd.DataFrame(
    {
        "hour": range(24),
        "q10": [o3_profile(h) * 0.8 for h in range(24)],
        "q50": [o3_profile(h) for h in range(24)],
        "q90": [o3_profile(h) * 1.2 for h in range(24)],
    }
)
PAYLOAD = {
    "correlation": (0.6 * np.ones((24, 24)) + 0.4 * np.eye(24)).tolist(),
    "calibration": {"8": {"x": [0.0, 1.0], "y": [0.0, 0.5]}},
    "samples": 200,
}


@pytest.fixture
def client_and_key(db_url):
    keys = seed(db_url)
    with make_client(db_url) as client:
        yield client, auth(keys.officer), db_url


def test_without_the_hourly_model_only_the_hour_limits(client_and_key):
    client, h, _ = client_and_key
    body = client.get(f"/v1/forecasts/{DAY}/ozone/intraday?area=district", headers=h).json()
    assert body["p_mda8_exceed"] is None and body["exceedance_status"] is None
    limits = {r["hour"]: r["max_ugm3"] for r in body["remaining_hour_limits"]}
    want = remaining_hour_limits_ugm3(OBSERVED, 8, PROFILE["q50"].to_numpy())
    assert sorted(limits) == list(range(8, 24))
    for hour, value in want.items():
        assert limits[hour] == pytest.approx(value, abs=0.1)


def test_probability_from_the_stored_run(client_and_key):
    client, h, url = client_and_key
    with session_scope(engine_for(url)) as s:
        run = s.scalars(
            select(ForecastRun).where(ForecastRun.issue_date == DAY).order_by(ForecastRun.id.desc())
        ).first()
        run.payload = {**run.payload, "intraday": PAYLOAD}
    body = client.get(f"/v1/forecasts/{DAY}/ozone/intraday?area=district", headers=h).json()
    want = intraday_update(OBSERVED, PROFILE, PAYLOAD, near_certain=0.9, no_risk=0.02)
    assert body["p_mda8_exceed"] == pytest.approx(want.p_mda8_exceed, abs=1e-3)
    # a quiet morning far below a forecast peaking at 190: calibrated down to half
    assert 0 <= body["p_mda8_exceed"] <= 0.5
    assert body["exceedance_status"] == want.status
    words = {"exceeded": "已超标", "near_certain": "基本确定超标", "controllable": "仍可控"}
    words["no_risk"] = "已无超标风险"
    assert body["exceedance_status_zh"] == words[want.status]
