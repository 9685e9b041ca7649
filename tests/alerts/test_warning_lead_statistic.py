"""Which forecast number a rule set counts (qNN interpolated from q10/q50/q90), and how
sure a PM2.5 lead must be before a mee-2024 episode gets emergency measures; on
hand-made days, each clause at its boundary."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from pydantic import ValidationError

from aqcast.alerts import forecast_view as fv
from aqcast.alerts.warnings import (
    DayAqi,
    RuleSet,
    WarningStatus,
    assess,
    day_lead,
    day_value,
    load_rule_set,
    next_state,
    quantile_value,
)

D0 = date(2015, 12, 1)
M24 = load_rule_set("mee-2024")
BTH = load_rule_set("bth-2016")


def test_quantile_value_interpolates_between_the_forecast_quantiles():
    assert quantile_value(100.0, 150.0, 250.0, 0.5) == 150.0
    assert quantile_value(100.0, 150.0, 250.0, 0.9) == 250.0
    assert quantile_value(100.0, 150.0, 250.0, 0.1) == 100.0
    assert quantile_value(100.0, 150.0, 250.0, 0.4) == pytest.approx(137.5)
    assert quantile_value(100.0, 150.0, 250.0, 0.7) == pytest.approx(200.0)
    # Without the outer quantile the median stands.
    assert quantile_value(None, 150.0, 250.0, 0.4) == 150.0
    assert quantile_value(100.0, 150.0, None, 0.8) == 150.0


def test_a_lower_quantile_statistic_needs_more_certainty_to_warn():
    med = M24.model_copy(update={"statistic": "q50"})
    q40 = M24.model_copy(update={"statistic": "q40"})
    # q50 151 on two days: yellow by the median; q40 = 151 - 0.25 * (151 - q10).
    fc = [
        DayAqi(D0 + timedelta(days=i), v, q90=v + 60, q10=q10, primary="pm25")
        for i, (v, q10) in enumerate([(0, 0), (151, 147), (151, 147), (0, 0)])
    ]
    assert assess(fc, med, D0).level == "yellow"
    assert day_value(fc[1], q40) == pytest.approx(150.0)  # not above 150
    assert assess(fc, q40, D0).level == "none"
    fc2 = [DayAqi(d.day, d.q50, q90=d.q90, q10=(d.q10 or 0) + 4.1, primary="pm25") for d in fc]
    assert day_value(fc2[1], q40) > 150
    assert assess(fc2, q40, D0).level == "yellow"


@pytest.mark.parametrize("stat", ["q5", "q95", "p40", "q100", "q0"])
def test_a_statistic_outside_q10_q90_is_refused(stat):
    with pytest.raises(ValidationError, match="statistic"):
        RuleSet.model_validate({**M24.model_dump(), "statistic": stat})


def _day(i: int, aqi: float, pm25: float, o3_q50: float, o3_q90: float, pm10=(50.0, 60.0)):
    return DayAqi(
        D0 + timedelta(days=i),
        aqi,
        q90=aqi + 50,
        primary="pm25",
        sub_index={
            "pm25": (pm25 - 40, pm25, pm25 + 50),
            "o3": (o3_q50 - 40, o3_q50, o3_q90),
            "pm10": (pm10[0] - 20, pm10[0], pm10[1]),
        },
    )


def test_mee_2024_ships_the_replay_choice():
    assert (M24.statistic, M24.lead_rival_statistic) == ("q30", "q90")
    assert BTH.lead_rival_statistic == "q50"


def test_the_lead_must_hold_against_the_rivals_upper_forecast():
    M24 = load_rule_set("mee-2024").model_copy(update={"lead_rival_statistic": "q50"})
    sure = M24.model_copy(update={"lead_rival_statistic": "q90"})
    d = _day(0, 180, pm25=180, o3_q50=150, o3_q90=180)
    assert day_lead(d, M24) == "pm25"
    assert day_lead(d, sure) == "pm25"  # a tie keeps PM2.5 (the pollutant acted on)
    d = _day(0, 180, pm25=180, o3_q50=150, o3_q90=180.5)
    assert day_lead(d, M24) == "pm25"  # the medians alone: PM2.5
    assert day_lead(d, sure) == "o3"  # ozone may well lead: no emergency measures
    d = _day(0, 180, pm25=180, o3_q50=50, o3_q90=60, pm10=(150, 181))
    assert day_lead(d, sure) == "pm10"


def test_an_uncertain_pm25_lead_gets_advice_instead_of_a_warning():
    M24 = load_rule_set("mee-2024").model_copy(
        update={"lead_rival_statistic": "q50", "statistic": "q50"}
    )
    sure = M24.model_copy(update={"lead_rival_statistic": "q90"})
    clean = _day(0, 0, pm25=0, o3_q50=0, o3_q90=0)
    fc = [clean] + [_day(i, 180, pm25=180, o3_q50=150, o3_q90=190) for i in (1, 2)]
    fc.append(_day(3, 0, pm25=0, o3_q50=0, o3_q90=0))
    assert assess(fc, M24, D0).level == "yellow"
    got = assess(fc, sure, D0)
    assert (got.level, got.reached, got.advice) == ("none", "yellow", "ozone")
    state, t = next_state(WarningStatus(), fc, sure, D0)
    assert state.level == "none" and t == []
    # A winter haze day: ozone far below, PM2.5 leads with any statistic.
    haze = [clean] + [_day(i, 280, pm25=280, o3_q50=20, o3_q90=40) for i in (1, 2)]
    assert assess(haze, sure, D0).level == "orange"


def test_rule_sets_without_emergency_pollutants_keep_the_forecast_primary():
    sure = BTH.model_copy(update={"lead_rival_statistic": "q90"})
    d = _day(0, 250, pm25=250, o3_q50=240, o3_q90=300)
    assert day_lead(d, sure) == "pm25"


def test_sub_indices_from_forecast_rows_take_the_larger_ozone_index():
    rows = []
    for var, q10, q50, q90 in [
        ("aqi", 150, 180, 220),
        ("pm25_24h", 100, 136, 160),  # IAQI 180 at q50
        ("o3_mda8", 150, 200, 240),  # IAQI 100 .. 175
        ("o3_1h_max", 200, 300, 410),  # IAQI 100 .. 203
        ("pm10_24h", 100, 150, 200),
    ]:
        rows.append(
            {
                "area": "d",
                "station": "",
                "variable": var,
                "target_date": D0,
                "q10": q10,
                "q50": q50,
                "q90": q90,
                "p_exceed": None,
                "threshold": None,
            }
        )
    fc = SimpleNamespace(values=pd.DataFrame(rows))
    subs = fv.sub_indices(fc, "d", D0)
    assert subs["pm25"][1] == pytest.approx(180.0, abs=0.5)
    assert subs["o3"][2] == pytest.approx(203.0, abs=0.5)  # 1-hour 203 > 8-hour 175
    assert subs["o3"][1] == pytest.approx(150.0, abs=0.5)  # 8-hour 200 -> 150 = 1-hour 300
    (day,) = fv.daily_aqi_forecasts(fc, "d")
    assert day.q10 == 150 and day.primary == "pm25" and day.sub_index == subs
    sure = M24.model_copy(update={"lead_rival_statistic": "q90"})
    assert day_lead(day, sure) == "o3"
