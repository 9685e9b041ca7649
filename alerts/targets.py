"""Annual targets: the year to date against the plan, and what the rest of the year may spend.

Days are local days. A day is *good* when its AQI <= 100 (excellent or good) and *heavy*
when its AQI > 200. The annual PM2.5 mean is the mean of the valid daily means; the
allowances assume the remaining days of the year will all have valid data.

Targets are judged as bureaus judge them, after official rounding: the annual PM2.5 mean
to an integer (half up: 38.4 meets 38, 38.5 does not) and the good-day ratio to one
decimal (70.95 % meets 71 %).
"""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

import pandas as pd

from aqcast.alerts.campaign import Targets

GOOD_AQI_MAX = 100.0
HEAVY_AQI_ABOVE = 200.0


def year_to_date(daily: pd.DataFrame, year: int, before: date) -> dict:
    """Observed days of ``year`` before ``before``.

    ``daily``: one row per local day, columns ``day`` (date), ``aqi`` and ``pm25_24h``
    [ug/m3] (NaN where invalid). Returns counts and the PM2.5 sum and mean [ug/m3].
    """
    if daily.empty:
        days = pd.Series([], dtype=object)
    else:
        days = pd.to_datetime(daily["day"]).dt.date
    sel = daily[(days >= date(year, 1, 1)) & (days < before)] if len(daily) else daily
    aqi = pd.to_numeric(sel.get("aqi", pd.Series(dtype=float)), errors="coerce").dropna()
    pm = pd.to_numeric(sel.get("pm25_24h", pd.Series(dtype=float)), errors="coerce").dropna()
    return {
        "year": year,
        "through": None if sel.empty else max(days[sel.index]).isoformat(),
        "n_aqi_days": int(aqi.size),
        "n_good_days": int((aqi <= GOOD_AQI_MAX).sum()),
        "n_non_good_days": int((aqi > GOOD_AQI_MAX).sum()),
        "n_heavy_days": int((aqi > HEAVY_AQI_ABOVE).sum()),
        "n_pm25_days": int(pm.size),
        "pm25_sum_ugm3": float(pm.sum()),
        "pm25_mean_ugm3": float(pm.mean()) if pm.size else None,
        "good_day_ratio_pct": 100.0 * float((aqi <= GOOD_AQI_MAX).mean()) if aqi.size else None,
    }


def remaining_allowance(ytd: dict, targets: Targets, today: date) -> dict:
    """What the days from ``today`` to 31 December may still spend to meet the targets.

    - ``pm25_max_mean_ugm3``: the highest mean PM2.5 the remaining days may average, as an
      integer, so that the annual mean rounds to the target or below (None when no day
      remains; negative when even clean air all year round cannot meet it);
    - ``good_days_needed`` / ``good_ratio_needed_pct``: the good days the remaining days
      need, and that as a share of them (rounded up to one decimal, so never understated);
      more than the remaining days means the target can no longer be met;
    - ``non_good_days_left``: how many more days may have AQI > 100;
    - ``heavy_days_left``: how many more days may have AQI > 200.
    A count below zero means the target is already missed by that many days.
    """
    year = ytd["year"]
    remaining = (date(year, 12, 31) - today).days + 1
    # Exact fractions: the judgement sits on a rounding boundary (38.5, 70.95).
    pm_limit = Fraction(str(targets.pm25_annual_mean_ugm3)) + Fraction(1, 2)  # mean < this
    n_pm = ytd["n_pm25_days"] + remaining
    pm_max = None
    if remaining > 0:
        bound = (pm_limit * n_pm - Fraction(str(round(ytd["pm25_sum_ugm3"], 6)))) / remaining
        pm_max = math.ceil(bound) - 1  # the largest integer mean strictly below the bound
    ratio_limit = Fraction(str(targets.good_day_ratio_pct)) - Fraction(1, 20)  # ratio >= this
    n_aqi = ytd["n_aqi_days"] + remaining
    good_total_needed = math.ceil(ratio_limit * n_aqi / 100)
    good_needed = max(0, good_total_needed - ytd["n_good_days"])
    ratio_needed = (
        math.ceil(Fraction(1000 * good_needed, remaining)) / 10 if remaining > 0 else None
    )
    non_good_allowed = n_aqi - good_total_needed
    return {
        "remaining_days": remaining,
        "pm25_max_mean_ugm3": pm_max,
        "pm25_target_met_possible": pm_max is None or pm_max >= 0,
        "good_days_needed": good_needed,
        "good_ratio_needed_pct": ratio_needed,
        "good_target_met_possible": good_needed <= remaining,
        "non_good_days_allowed": non_good_allowed,
        "non_good_days_left": non_good_allowed - ytd["n_non_good_days"],
        "heavy_days_left": targets.heavy_days_max - ytd["n_heavy_days"],
    }


def target_status(daily: pd.DataFrame, targets: Targets, today: date) -> dict:
    """Year to date, targets and allowances for the prompt (days before ``today``)."""
    ytd = year_to_date(daily, today.year, today)
    return {
        "targets": targets.model_dump(),
        "year_to_date": ytd,
        "allowance": remaining_allowance(ytd, targets, today),
    }
