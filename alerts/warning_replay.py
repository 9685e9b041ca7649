"""Replaying a winter's warnings under each rule set, scored against the observed air and
the real Beijing alerts; and measuring the rolling 24-hour approximation.

Pure: the observed hours come in as a frame. The command that reads the PRSA files and
a hindcast CSV is ``python -m aqcast.service.warning_replay`` (docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from aqcast.features.rolling_aqi import covered, rolling_from_daily, rolling_mean_hourly

# The real alerts the goals speak of (domain brief): orange 29 Nov-1 Dec (from yellow on
# 27 Nov), red 8-10 Dec and 19-22 Dec 2015.
GOAL_ALERTS = [
    (date(2015, 11, 29), date(2015, 12, 1), "orange"),
    (date(2015, 12, 8), date(2015, 12, 10), "red"),
    (date(2015, 12, 19), date(2015, 12, 22), "red"),
]
ROLLING_POLLUTANTS = ("pm25", "pm10", "no2", "so2", "co")
_IAQI_KEY = {p: f"{p}_24h" for p in ROLLING_POLLUTANTS}
_PRIMARY_SHORT = {
    "pm25_24h": "pm25",
    "pm10_24h": "pm10",
    "o3_8h": "o3",
    "o3_1h": "o3",
    "no2_24h": "no2",
    "so2_24h": "so2",
    "co_24h": "co",
}


# --- observed --------------------------------------------------------------------------


def observed_area(hourly: pd.DataFrame, tz: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Area (mean over the stations) daily values ``day, aqi, primary`` and hourly means
    ``time_local, <pollutant>`` from a canonical hourly frame."""
    from aqcast.features.aqi import aqi_frame
    from aqcast.features.daily import area_daily_statistics, daily_wide

    stations = sorted(hourly["station"].unique())
    wide = daily_wide(area_daily_statistics(hourly, stations, tz)).reset_index()
    a = aqi_frame(wide)
    first = a["primary_pollutants"].fillna("").str.split(",").str[0]
    daily = pd.DataFrame(
        {
            "day": pd.to_datetime(wide["day"]).dt.date,
            "aqi": a["aqi"].to_numpy(),
            "primary": [_PRIMARY_SHORT.get(p) for p in first],
        }
    )
    cols = [c for c in ROLLING_POLLUTANTS if c in hourly.columns]
    h = hourly.assign(time_local=hourly["time"].dt.tz_convert(tz).dt.tz_localize(None))
    area_h = h.groupby("time_local")[cols].mean().sort_index()
    full = pd.date_range(
        area_h.index.min().normalize(),
        area_h.index.max().normalize() + pd.Timedelta(hours=23),
        freq="h",
    )
    return daily, area_h.reindex(full).rename_axis("time_local").reset_index()


def true_rolling_aqi(area_hourly: pd.DataFrame) -> np.ndarray:
    """The rolling 24-hour AQI of observed hours: the largest IAQI of the trailing 24-hour
    means of PM2.5, PM10, NO2, SO2 and CO (each needing 20 valid hours). O3 has no 24-hour
    index (its daily indices are the 1-hour and 8-hour maxima) and is left out: in winter
    it is never the primary pollutant of a heavy day."""
    from aqcast.features.aqi import iaqi

    subs = []
    for p in ROLLING_POLLUTANTS:
        if p in area_hourly.columns:
            m = rolling_mean_hourly(area_hourly[p].to_numpy(dtype=float))
            subs.append(np.asarray(iaqi(_IAQI_KEY[p], np.where(np.isnan(m), np.nan, m))))
    arr = np.vstack(subs)
    with np.errstate(invalid="ignore"):
        out = np.nanmax(np.where(np.isnan(arr), -np.inf, arr), axis=0)
    return np.where(np.isinf(out), np.nan, out)


def measure_rolling(
    daily: pd.DataFrame,
    area_hourly: pd.DataFrame,
    start: date,
    end: date,
    thresholds: Sequence[float] = (150, 200, 300),
) -> dict:
    """Hours covered by 24-hour windows above each threshold: from the observed hours
    (truth), from the daily AQI by the step-profile approximation, and by whole calendar
    days; with the hours where approximation and truth disagree."""
    days = pd.date_range(start, end, freq="D").date
    by_day = dict(zip(daily["day"], daily["aqi"], strict=True))
    a = np.array([by_day.get(d, np.nan) for d in days], dtype=float)
    t0 = pd.Timestamp(start)
    h = area_hourly.set_index("time_local")
    hours = pd.date_range(t0, pd.Timestamp(end) + pd.Timedelta(hours=23), freq="h")
    # The truth needs the 23 hours before the first window; take them from the frame.
    ext = h.reindex(pd.date_range(t0 - pd.Timedelta(hours=23), hours[-1], freq="h"))
    truth = true_rolling_aqi(ext.reset_index(drop=True))[23:]
    approx = rolling_from_daily(np.nan_to_num(a, nan=0.0))
    out = {}
    for x in thresholds:
        t = covered(truth, above=x)
        p = covered(approx, above=x)
        cal = np.repeat(a > x, 24)
        out[f"above_{x:g}"] = {
            "truth_hours": int(t.sum()),
            "step_profile_hours": int(p.sum()),
            "calendar_day_hours": int(cal.sum()),
            "step_profile_disagree_hours": int((t != p).sum()),
            "calendar_day_disagree_hours": int((t != cal).sum()),
        }
    return {"days": f"{start}..{end}", "hours": len(hours), "thresholds": out}


# --- scoring a replay -----------------------------------------------------------------


def warned_days(lines: Iterable[dict]) -> dict[date, str]:
    """The level in force on each issue date after that issue's decision, counted only
    from the warned period's first day on (a warning issued ahead covers its days, not
    the days before them); the day of a lift is not under a warning."""
    level, since = "none", None
    by_issue: dict[date, list[dict]] = {}
    for line in lines:
        by_issue.setdefault(date.fromisoformat(line["issue_date"]), []).append(line)
    out: dict[date, str] = {}
    for d in sorted(by_issue):
        for line in by_issue[d]:
            if line["type"] != "warning":
                continue
            if line["action"] == "lifted":
                level, since = "none", None
            else:
                level = line["to_level"]
                start = date.fromisoformat(line["start_date"])
                since = start if since is None else min(since, start)
        out[d] = level if level != "none" and since is not None and since <= d else "none"
    return out


def first_warning(lines: list[dict], first: date, last: date) -> str | None:
    """The issue date of the first warning whose period reached the alert's days."""
    for line in lines:
        if line["type"] != "warning" or line["action"] == "lifted":
            continue
        s, e = date.fromisoformat(line["start_date"]), date.fromisoformat(line["end_date"])
        if s <= last and e >= first:
            return line["issue_date"]
    return None


def score_replay(lines: list[dict], daily: pd.DataFrame, start: date, end: date) -> dict:
    by_day = {
        d: (a, p) for d, a, p in zip(daily["day"], daily["aqi"], daily["primary"], strict=True)
    }
    levels = warned_days(lines)
    days = [d for d in pd.date_range(start, end, freq="D").date if d in by_day]

    def heavy(d: date) -> bool:
        v = by_day.get(d, (np.nan, None))[0]
        return bool(v == v and v > 200)

    warned = [d for d in days if levels.get(d, "none") != "none"]
    heavy_days = [d for d in days if heavy(d)]
    false = [
        d
        for d in warned
        if by_day[d][0] <= 150 and not heavy(d - timedelta(days=1)) and not heavy(d + timedelta(1))
    ]
    o3_dust = [d for d in warned if by_day[d][1] in ("o3", "pm10")]
    alerts = []
    for first, last, lvl in GOAL_ALERTS:
        span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        on = [levels.get(d, "none") for d in span]
        fw = first_warning(lines, first, last)
        alerts.append(
            {
                "alert": f"{lvl} {first}..{last}",
                "first_warned_on": fw,
                "no_later_than_first_day": fw is not None and date.fromisoformat(fw) <= first,
                "days_in_force": f"{sum(x != 'none' for x in on)}/{len(span)}",
                "levels": on,
            }
        )
    n_days = len(days)
    return {
        "issue_dates": f"{start}..{end} ({n_days} days)",
        "days_under_warning": len(warned),
        "heavy_days": len(heavy_days),
        "heavy_days_warned": sum(d in set(warned) for d in heavy_days),
        "false_warned_days": len(false),
        "false_warned_days_list": [str(d) for d in false],
        "warned_ozone_or_dust_led_days": [str(d) for d in o3_dust],
        "real_alerts": alerts,
    }


def score_risk(risk: pd.DataFrame, daily: pd.DataFrame, leads: Sequence[int] = (1, 2, 3)) -> dict:
    """Adverse-weather flags against observed heavy days (AQI > 200), per lead."""
    by_day = dict(zip(daily["day"], daily["aqi"], strict=True))
    r = risk.copy()
    r["target_date"] = pd.to_datetime(r["target_date"]).dt.date
    r = r[r["target_date"].isin(set(by_day))]
    r["heavy"] = [bool((v := by_day.get(d, np.nan)) == v and v > 200) for d in r["target_date"]]
    out = {}
    for lead in leads:
        x = r[r["lead_days"] == lead]
        flag = x["adverse"].astype(str).str.lower().isin(["true", "1"])
        out[f"lead_{lead}"] = {
            "days": len(x),
            "hits": int((flag & x["heavy"]).sum()),
            "misses": int((~flag & x["heavy"]).sum()),
            "false_flags": int((flag & ~x["heavy"]).sum()),
        }
    return out
