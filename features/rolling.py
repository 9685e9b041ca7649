"""Rolling statistics as the national real-time publishing platform publishes them hourly.

Each hourly row of the platform (全国城市空气质量实时发布平台) carries, beside the hour's
values, statistics over the hours up to and including it. This module computes the same
statistics from a canonical hourly frame so that a reader can compare them with what was
published (they are not stored: the store keeps hourly values and computes its own daily
statistics, features/daily.py).

For the hour stamped ``t`` (its start; the platform stamps it ``t + 1 h``), per station:

- ``pm25_24h``, ``pm10_24h``, ``so2_24h``, ``no2_24h``, ``co_24h``: the mean of the valid
  hours ``t - 23 h .. t``, NaN unless at least 20 of the 24 are valid (the daily rule of
  features/daily.py). At the last hour of a local day (the platform's 24:00 row) this is
  the day's 24-hour mean.
- ``o3_24h``: the highest valid hour of ``t - 23 h .. t`` (same 20-hour rule, so that a
  gap in the series does not look like a disagreement). At 24:00: the day's 1-hour max.
- ``o3_8h``: the mean of the valid hours ``t - 7 h .. t``, NaN with fewer than 6 valid.
- ``o3_8h_24h``: the day's highest 8-hour mean so far: the largest ``o3_8h`` of the
  windows that lie inside the local day and end at or before ``t`` (windows starting
  00..16 h, as MDA8 in features/daily.py). NaN before 07:00-08:00, the first such window;
  at 24:00 it is the day's MDA8.

Concentrations in ug/m3, CO in mg/m3. Values are not rounded (the platform publishes
integers, CO to 0.1 mg/m3; a comparison allows for that rounding).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.daily import (
    MDA8_MIN_VALID_HOURS,
    MDA8_WINDOW_HOURS,
    MDA8_WINDOW_STARTS,
    MEAN_24H_MIN_VALID_HOURS,
    MEANS_24H,
)

ROLLING_VARIABLES: list[str] = [*MEANS_24H, "o3_24h", "o3_8h", "o3_8h_24h"]
# The first in-day 8-hour window ends with the hour starting at 07:00.
FIRST_WINDOW_END_HOUR = MDA8_WINDOW_HOURS - 1


def _series(frame: pd.DataFrame, col: str) -> pd.Series:
    if col in frame.columns:
        return frame[col].astype(float)
    return pd.Series(np.nan, index=frame.index)


def rolling_statistics(hourly: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The platform's rolling statistics for every station-hour of ``hourly``.

    hourly : DataFrame
        Canonical hourly frame: ``station``, ``time`` (tz-aware, start of the hour) and
        any of ``pm25, pm10, so2, no2, co, o3``; NaN is missing.
    tz : str
        IANA zone of the local day (for ``o3_8h_24h``), e.g. ``"Asia/Shanghai"``.

    Returns ``station, time`` and the columns of ``ROLLING_VARIABLES``, one row per
    station and hour from its first to its last hour in ``hourly`` (hours missing in
    between are rows too), sorted by station and time.
    """
    if not isinstance(hourly["time"].dtype, pd.DatetimeTZDtype):
        raise ValueError("hourly frame: column 'time' must be tz-aware (UTC)")
    parts = []
    for station, g in hourly.groupby(hourly["station"].astype(str), sort=True):
        g = g.set_index("time").sort_index()
        if g.index.has_duplicates:
            raise ValueError(f"hourly frame: duplicate time for station {station!r}")
        full = pd.date_range(g.index.min(), g.index.max(), freq="h")
        g = g.reindex(full)
        out = pd.DataFrame(index=full)
        for stat, variable in MEANS_24H.items():
            out[stat] = (
                _series(g, variable).rolling(24, min_periods=MEAN_24H_MIN_VALID_HOURS).mean()
            )
        o3 = _series(g, "o3")
        out["o3_24h"] = o3.rolling(24, min_periods=MEAN_24H_MIN_VALID_HOURS).max()
        eight = o3.rolling(MDA8_WINDOW_HOURS, min_periods=MDA8_MIN_VALID_HOURS).mean()
        out["o3_8h"] = eight
        local = full.tz_convert(tz)
        hour = np.asarray(local.hour)
        in_day = (hour >= FIRST_WINDOW_END_HOUR) & (
            hour < FIRST_WINDOW_END_HOUR + MDA8_WINDOW_STARTS
        )
        day = pd.Series(local.tz_localize(None).normalize(), index=full)
        inside = eight.where(in_day)
        out["o3_8h_24h"] = inside.groupby(day.to_numpy()).cummax()
        # cummax leaves NaN at a missing window; the day's maximum so far still stands.
        out["o3_8h_24h"] = out["o3_8h_24h"].groupby(day.to_numpy()).ffill()
        out.loc[hour < FIRST_WINDOW_END_HOUR, "o3_8h_24h"] = np.nan
        out.index.name = "time"
        out = out.reset_index()
        out.insert(0, "station", station)
        parts.append(out)
    if not parts:
        return pd.DataFrame(columns=["station", "time", *ROLLING_VARIABLES])
    return pd.concat(parts, ignore_index=True)[["station", "time", *ROLLING_VARIABLES]]
