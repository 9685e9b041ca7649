"""Year to date against the annual targets, and what the rest of the year may spend."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from aqcast.alerts.campaign import Targets
from aqcast.alerts.targets import remaining_allowance, target_status, year_to_date

TARGETS = Targets(pm25_annual_mean_ugm3=38, good_day_ratio_pct=71, heavy_days_max=3)


def frame(start: date, aqi: list[float], pm25: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"day": [start + timedelta(days=i) for i in range(len(aqi))], "aqi": aqi, "pm25_24h": pm25}
    )


def test_year_to_date_counts_only_days_of_the_year_before_today():
    df = frame(date(2014, 12, 30), [250, 60, 120, 220, 80], [200, 30, 90, 170, 50])
    ytd = year_to_date(df, 2015, date(2015, 1, 3))
    assert ytd["n_aqi_days"] == 2  # 1 and 2 January
    assert ytd["n_good_days"] == 0 and ytd["n_heavy_days"] == 1
    assert ytd["pm25_mean_ugm3"] == pytest.approx(130.0)


def test_allowances_by_hand():
    # 100 days observed, mean 50, 40 non-good, 2 heavy; today 11 April 2015 (265 days left).
    aqi = [60] * 58 + [120] * 40 + [250] * 2
    df = frame(date(2015, 1, 1), aqi, [50.0] * 100)
    today = date(2015, 4, 11)
    status = target_status(df, TARGETS, today)
    al = status["allowance"]
    assert al["remaining_days"] == 265
    # Judged after rounding: the annual mean must stay below 38.5, so the remaining days
    # may average at most the largest integer below (38.5 * 365 - 50 * 100) / 265 = 34.2.
    assert al["pm25_max_mean_ugm3"] == 34
    assert round((5000 + 34 * 265) / 365) == 38 and round((5000 + 35 * 265) / 365) == 39
    # 70.95 % of 365 is 258.97: 259 good days in all (70.96 % -> 71.0 %), 201 of them still
    # to come in 265 days (75.85 %, given rounded up as 75.9 %); 106 non-good days allowed.
    assert al["good_days_needed"] == 201 and al["good_ratio_needed_pct"] == 75.9
    assert al["non_good_days_allowed"] == 106 and al["non_good_days_left"] == 64
    assert al["heavy_days_left"] == 1


def test_missed_targets_show_as_negative():
    df = frame(date(2015, 1, 1), [260] * 5, [300.0] * 5)
    al = remaining_allowance(
        year_to_date(df, 2015, date(2015, 12, 31)), TARGETS, date(2015, 12, 31)
    )
    assert al["heavy_days_left"] == -2
    assert al["remaining_days"] == 1
    # 6 days in total: (38.5 * 6 - 1500) / 1 < 0: the PM2.5 target can no longer be met
    assert al["pm25_max_mean_ugm3"] < 0 and not al["pm25_target_met_possible"]
    assert not al["good_target_met_possible"]  # 5 good days needed of 1 remaining


def test_missing_values_are_left_out():
    df = frame(date(2015, 1, 1), [60, float("nan"), 120], [30.0, 40.0, float("nan")])
    ytd = year_to_date(df, 2015, date(2015, 2, 1))
    assert ytd["n_aqi_days"] == 2 and ytd["n_pm25_days"] == 2
    assert ytd["pm25_mean_ugm3"] == pytest.approx(35.0)
    assert ytd["good_day_ratio_pct"] == pytest.approx(50.0)
