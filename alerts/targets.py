"""Annual targets: the year to date against the plan, and what the rest of the year may spend.

Days are local days. A day is *good* when its AQI <= 100 (excellent or good) and *heavy*
when its AQI > 200. The annual PM2.5 mean is the mean of the valid daily means; the
allowances assume the remaining days of the year will all have valid data.
"""

from __future__ import annotations

import math
from datetime import date

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

    - ``pm25_max_mean_ugm3``: the highest mean PM2.5 the remaining days may average
      (negative means the target can no longer be met);
    - ``non_good_days_left``: how many more days may have AQI > 100;
    - ``heavy_days_left``: how many more days may have AQI > 200.
    A count below zero means the target is already missed by that many days.
    """
    year = ytd["year"]
    remaining = (date(year, 12, 31) - today).days + 1
    n_pm = ytd["n_pm25_days"] + remaining
    pm_max = (
        (targets.pm25_annual_mean_ugm3 * n_pm - ytd["pm25_sum_ugm3"]) / remaining
        if remaining > 0
        else None
    )
    n_aqi = ytd["n_aqi_days"] + remaining
    non_good_allowed = math.floor(n_aqi * (1 - targets.good_day_ratio_pct / 100.0) + 1e-9)
    return {
        "remaining_days": remaining,
        "pm25_max_mean_ugm3": pm_max,
        "pm25_target_met_possible": pm_max is None or pm_max >= 0,
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
