"""The forecast builder of the alerts tests (tests/support/forecasts.py) makes the real
``Forecast`` with the engine's columns, so a change of the real type breaks the tests."""

from __future__ import annotations

from datetime import date

from aqcast.models.forecast import VALUE_COLUMNS, Forecast
from tests.support.forecasts import bare_forecast, make_forecast


def test_fake_forecast_has_the_contract_columns():
    f = make_forecast(date(2015, 7, 1), [120, 90, 80], o3_mda8=[190, 150, 120])
    assert isinstance(f, Forecast)
    assert list(f.values.columns) == VALUE_COLUMNS
    assert list(f.hourly_o3.columns) == [
        "area",
        "station",
        "target_date",
        "hour",
        "q10",
        "q50",
        "q90",
    ]
    assert list(f.critical.columns) == [
        "area",
        "station",
        "target_date",
        "critical_value_ugm3",
        "peak_hour",
        "likely_hours",
        "possible_hours",
        "capped",
    ]
    assert list(f.risk.columns) == [
        "area",
        "target_date",
        "p_heavy",
        "stagnation_index",
        "stagnation",
    ]
    assert len(f.hourly_o3) == 3 * 24
    assert f.critical["critical_value_ugm3"].notna().all()
    empty = bare_forecast(date(2015, 7, 1), met_mode="observed")
    assert isinstance(empty, Forecast) and empty.values.empty and empty.met_mode == "observed"
