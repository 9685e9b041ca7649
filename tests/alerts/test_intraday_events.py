"""The hourly job's exceedance-risk events: one per configured level and day, and one
when exceedance is certain."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import func, select

from aqcast.alerts.campaign import IntradayLevels
from aqcast.service.publishing import EXCEEDANCE_RISK_EVENT, check_exceedance_probability
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import AlertEvent
from tests.support.forecasts import make_forecast

DAY = date(2015, 7, 1)
PAYLOAD = {
    "correlation": (0.7 * np.ones((24, 24)) + 0.3 * np.eye(24)).tolist(),
    "calibration": {},
    "samples": 300,
}


def _events(engine) -> list[AlertEvent]:
    with session_scope(engine) as s:
        rows = s.scalars(select(AlertEvent).where(AlertEvent.type == EXCEEDANCE_RISK_EVENT))
        return [(e.payload["level_reached"], e.payload["hours_observed"]) for e in rows]


@pytest.mark.slow
def test_one_event_per_level_and_day(db_url):
    engine = engine_for(db_url)
    fc = make_forecast(DAY, [120], o3_mda8=[150.0])
    fc.intraday = PAYLOAD
    prof = fc.hourly_o3["q50"].to_numpy()
    now = datetime(2015, 7, 1, 4, tzinfo=UTC)
    levels = IntradayLevels(event_levels=[0.5, 0.9])
    # a morning well below the forecast: no level reached, nothing stored
    low = list(prof[:10] * 0.5)
    assert check_exceedance_probability(engine, "district", DAY, low, fc, now, levels) == []
    # a morning 30 % above the forecast: both levels at once, once each
    high = list(prof[:12] * 1.3)
    first = check_exceedance_probability(engine, "district", DAY, high, fc, now, levels)
    assert [e.payload["level_reached"] for e in first] == ["0.5", "0.9"]
    assert first[0].payload["status"] in ("near_certain", "controllable")
    again = check_exceedance_probability(engine, "district", DAY, high + [190.0], fc, now, levels)
    assert {e.id for e in again} == {e.id for e in first}
    assert sorted(_events(engine)) == [("0.5", 12), ("0.9", 12)]
    # eight hours of 200: certain, one more event, and the text says so
    lost = list(prof[:8]) + [200.0] * 8
    last = check_exceedance_probability(engine, "district", DAY, lost, fc, now, levels)
    certain = [e for e in last if e.payload["level_reached"] == "certain"]
    assert len(certain) == 1 and certain[0].payload["status_zh"] == "已超标"
    assert "已超标" in certain[0].payload["headline"]["zh"]
    with session_scope(engine) as s:
        n = s.scalar(select(func.count()).select_from(AlertEvent))
    assert n == 3


@pytest.mark.slow
def test_no_event_without_the_hourly_model(db_url):
    engine = engine_for(db_url)
    fc = make_forecast(DAY, [120], o3_mda8=[150.0])  # a run without intraday payload
    out = check_exceedance_probability(
        engine, "district", DAY, [200.0] * 16, fc, datetime(2015, 7, 1, 9, tzinfo=UTC)
    )
    assert out == []
