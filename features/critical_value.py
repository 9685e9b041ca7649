"""The ozone critical value (臭氧临界值): the one place it is computed.

No public formula exists; aqcast defines it as follows. docs/critical_value.md is the one
place it is explained for readers; this docstring is the same definition for the code.

Morning value, from the day's own forecast hourly O3 profile p(h) [ug/m3] of the local day,
h = 0..23 (the q50 of ``models.hourly``): the hourly concentration that, reached at the
forecast peak with the forecast diurnal shape, makes the day's MDA8 equal the limit
(160 ug/m3, GB 3095-2012 grade II). MDA8 is linear in a scale factor, MDA8(k p) =
k MDA8(p), so with k = limit / MDA8(p) the critical value is k max(p), the peak of the
scaled profile, and never above the 1-hour limit (200 ug/m3: the daily AQI counts O3 1-h
too; ``capped`` says when that bound set the value). A flat profile gives exactly the
limit; a sharp afternoon peak gives a value above it (one peak hour can be high while the
8-hour mean stays at 160). ``likely_hours`` are the hours at which the forecast reaches
the critical value (p(h) >= critical value), empty when no hour is expected to reach it;
``possible_hours`` the same for an upper (q90) profile when one is given. MDA8 follows
``aqcast.features.daily`` (in-day windows starting 00..16 h, each needing 6 valid hours).

Intraday update, after hours 0..H-1 have been observed (``hours_observed = H``): the
remaining hours H..23 are unknown. Two readings of "the highest concentration the
remaining hours may average for MDA8 to stay at or below the limit" are returned:

- ``remaining_level_ugm3``: the largest constant level c such that, with every remaining
  hour at c and the observed hours as observed (missing observed hours left out of their
  windows), every valid in-day 8-hour window has a mean <= limit. Shape-free.
- ``critical_value_ugm3``: with a forecast profile for the remaining hours, the largest
  scale k of that profile keeping every window <= limit, reported as the scaled peak
  k max(p(H..23)) and its hour, as in the morning. With no hour observed this equals the
  morning value. Without a profile it equals ``remaining_level_ugm3``.

Both are None when the limit can no longer be kept: ``status`` then says why,
``already_exceeded`` (a window of observed hours only is above the limit) or
``unavoidable`` (not yet above, but even zero ozone in the remaining hours leaves some
window above the limit, e.g. seven observed hours averaging 200 ug/m3). After the last
hour ``status`` is ``day_complete``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from aqcast.features.daily import (
    MDA8_MIN_VALID_HOURS,
    MDA8_WINDOW_HOURS,
    mda8_ugm3,
    mda8_windows_ugm3,
)

O3_MDA8_LIMIT_UGM3 = 160.0
O3_1H_LIMIT_UGM3 = 200.0  # GB 3095-2012 grade II 1-hour limit
# Tolerance for comparing a window mean with the limit, against rounding noise [ug/m3].
_TOLERANCE_UGM3 = 1e-9

Status = Literal["open", "already_exceeded", "unavoidable", "day_complete"]


@dataclass(frozen=True)
class CriticalValue:
    """The morning ozone critical value of one day."""

    critical_value_ugm3: float  # hourly O3 at the peak hour that makes MDA8 = limit, <= 1-h limit
    peak_hour: int  # local hour (0..23) of the profile's peak (first one on ties)
    likely_hours: tuple[int, ...]  # hours where the profile reaches the critical value
    scale: float  # k: scaled profile = k * profile
    profile_mda8_ugm3: float  # MDA8 of the unscaled profile
    limit_ugm3: float
    scaled_profile_ugm3: tuple[float, ...]  # k * profile, 24 values, MDA8 = limit
    capped: bool = False  # the 1-hour limit set the value (k max(p) was above it)
    uncapped_ugm3: float = float("nan")  # k max(p) before the 1-hour cap
    possible_hours: tuple[int, ...] = ()  # hours where the upper profile reaches it


@dataclass(frozen=True)
class IntradayCriticalValue:
    """The critical value updated from the hours of the day observed so far."""

    hours_observed: int  # H: hours 0..H-1 are observed
    limit_ugm3: float
    status: Status
    already_exceeded: bool
    observed_mda8_ugm3: float  # largest valid window made of observed hours only (NaN if none)
    remaining_level_ugm3: float | None  # largest constant level for hours H..23
    critical_value_ugm3: float | None  # scaled forecast peak over H..23 (or the level)
    peak_hour: int | None
    likely_hours: tuple[int, ...]


def _profile(values: npt.ArrayLike, name: str) -> np.ndarray:
    p = np.asarray(values, dtype=float)
    if p.shape != (24,):
        raise ValueError(f"{name}: expected 24 hourly values, got shape {p.shape}")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0))
    if bad.size:
        h = int(bad[0])
        raise ValueError(
            f"{name}: hour {h} is {float(p[h])!r}; a forecast profile needs finite values >= 0"
        )
    return p


def _windows(a: np.ndarray) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(a, MDA8_WINDOW_HOURS)


def _reaching(p: np.ndarray, hours: np.ndarray, value: float) -> tuple[int, ...]:
    """The hours whose forecast reaches ``value`` (within rounding noise)."""
    return tuple(int(h) for h in hours if p[h] >= value - 1e-6)


def critical_value_ugm3(
    profile_ugm3: npt.ArrayLike,
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
    one_hour_limit_ugm3: float = O3_1H_LIMIT_UGM3,
    *,
    upper_profile_ugm3: npt.ArrayLike | None = None,
) -> CriticalValue:
    """The ozone critical value of a day from its forecast hourly O3 profile.

    profile_ugm3 : 24 values
        Forecast O3 (q50) for local hours 0..23 [ug/m3], finite and >= 0, not all zero.
    limit_ugm3 : float
        MDA8 limit [ug/m3], 160 by default.
    one_hour_limit_ugm3 : float
        The critical value is never above this (O3 1-hour limit, 200 ug/m3).
    upper_profile_ugm3 : 24 values, optional
        An upper forecast (q90) [ug/m3]; its hours that reach the value are
        ``possible_hours``.
    """
    p = _profile(profile_ugm3, "profile_ugm3")
    mda8 = float(mda8_ugm3(p))
    if not mda8 > 0:
        raise ValueError("profile_ugm3: all zero; the critical value is undefined")
    k = limit_ugm3 / mda8
    hours = np.arange(24)
    peak_hour = int(np.argmax(p))
    uncapped = float(k * p[peak_hour])
    value = min(uncapped, float(one_hour_limit_ugm3))
    possible: tuple[int, ...] = ()
    if upper_profile_ugm3 is not None:
        possible = _reaching(_profile(upper_profile_ugm3, "upper_profile_ugm3"), hours, value)
    return CriticalValue(
        critical_value_ugm3=value,
        peak_hour=peak_hour,
        likely_hours=_reaching(p, hours, value),
        scale=float(k),
        profile_mda8_ugm3=mda8,
        limit_ugm3=float(limit_ugm3),
        scaled_profile_ugm3=tuple(float(x) for x in k * p),
        capped=uncapped > one_hour_limit_ugm3,
        uncapped_ugm3=uncapped,
        possible_hours=possible,
    )


def _max_scale(
    observed: np.ndarray, hours_observed: int, shape: np.ndarray, limit: float
) -> tuple[Status, float | None]:
    """Largest k with every valid in-day window of [observed, k*shape] at or below limit.

    ``observed`` holds hours 0..H-1 (NaN missing), ``shape`` hours H..23 (finite).
    """
    hour = np.arange(24)
    obs_valid = (hour < hours_observed) & ~np.isnan(observed)
    remaining = hour >= hours_observed
    obs_sum = _windows(np.where(obs_valid, observed, 0.0)).sum(axis=1)
    n_obs = _windows(obs_valid).sum(axis=1)
    shape_sum = _windows(np.where(remaining, shape, 0.0)).sum(axis=1)
    n_rem = _windows(remaining).sum(axis=1)
    valid = n_obs + n_rem >= MDA8_MIN_VALID_HOURS
    # window mean (obs_sum + k shape_sum) / (n_obs + n_rem) <= limit  <=>  k shape_sum <= slack
    slack = limit * (n_obs + n_rem) - obs_sum
    over = slack < -_TOLERANCE_UGM3 * np.maximum(n_obs + n_rem, 1)
    if np.any(valid & (n_rem == 0) & over):
        return "already_exceeded", None
    if np.any(valid & (n_rem > 0) & over):
        return "unavoidable", None
    bounded = valid & (n_rem > 0) & (shape_sum > 0)
    if not bounded.any():
        raise ValueError("forecast profile is zero over the remaining hours; no scale is defined")
    k = np.min(np.maximum(slack[bounded], 0.0) / shape_sum[bounded])
    return "open", float(k)


def intraday_critical_value_ugm3(
    observed_ugm3: npt.ArrayLike,
    hours_observed: int | None = None,
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
    *,
    forecast_profile_ugm3: npt.ArrayLike | None = None,
    one_hour_limit_ugm3: float = O3_1H_LIMIT_UGM3,
) -> IntradayCriticalValue:
    """The critical value updated from the hours observed so far today (module docstring).

    observed_ugm3 : array
        Observed O3 of the local day [ug/m3] from hour 0; NaN marks a missing hour. Only
        the first ``hours_observed`` values are used; it may be shorter than 24.
    hours_observed : int, optional
        H: hours 0..H-1 are observed (the current local hour); default len(observed_ugm3).
    forecast_profile_ugm3 : 24 values, optional
        The forecast shape of the day [ug/m3]; only hours H..23 are used.
    """
    obs_in = np.asarray(observed_ugm3, dtype=float).ravel()
    h_obs = len(obs_in) if hours_observed is None else int(hours_observed)
    if not 0 <= h_obs <= 24:
        raise ValueError(f"hours_observed must lie in 0..24, got {h_obs}")
    if len(obs_in) < h_obs:
        raise ValueError(f"observed_ugm3 has {len(obs_in)} values but hours_observed={h_obs}")
    if np.any(obs_in[:h_obs] < 0):
        raise ValueError("observed_ugm3: negative concentration")
    observed = np.full(24, np.nan)
    observed[:h_obs] = obs_in[:h_obs]

    # Windows made of observed hours only: those ending at or before hour H.
    means, _ = mda8_windows_ugm3(observed)
    complete = np.arange(means.size) + MDA8_WINDOW_HOURS <= h_obs
    done = means[complete & ~np.isnan(means)]
    observed_mda8 = float(done.max()) if done.size else np.nan
    exceeded = bool(observed_mda8 > limit_ugm3 + _TOLERANCE_UGM3)

    def result(status: Status, level=None, critical=None, peak=None, likely=()):
        return IntradayCriticalValue(
            hours_observed=h_obs,
            limit_ugm3=float(limit_ugm3),
            status=status,
            already_exceeded=exceeded,
            observed_mda8_ugm3=observed_mda8,
            remaining_level_ugm3=level,
            critical_value_ugm3=critical,
            peak_hour=peak,
            likely_hours=tuple(likely),
        )

    if h_obs == 24:
        return result("day_complete")
    status, level = _max_scale(observed, h_obs, np.ones(24), limit_ugm3)
    if status != "open":
        return result(status)
    if forecast_profile_ugm3 is None:
        return result("open", level, level)
    p = _profile(forecast_profile_ugm3, "forecast_profile_ugm3")
    status, k = _max_scale(observed, h_obs, p, limit_ugm3)
    if status != "open" or k is None:
        return result(status, level)
    rest = np.arange(h_obs, 24)
    peak_hour = int(rest[np.argmax(p[rest])])
    value = min(float(k * p[peak_hour]), float(one_hour_limit_ugm3))
    return result("open", level, value, peak_hour, _reaching(p, rest, value))


def critical_value_frame(
    hourly_o3: pd.DataFrame,
    value_column: str = "q50",
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
    one_hour_limit_ugm3: float = O3_1H_LIMIT_UGM3,
) -> pd.DataFrame:
    """Morning critical values of many forecast profiles.

    ``hourly_o3`` has key columns (any of ``area, station, target_date``), ``hour``
    (0..23) and ``value_column`` [ug/m3]: the ``Forecast.hourly_o3`` frame. Returns the key
    columns with ``critical_value_ugm3, peak_hour, likely_hours`` (a list of hours); a
    profile that is incomplete or all zero gets NaN, -1 and an empty list.
    """
    keys = [c for c in ("area", "station", "target_date") if c in hourly_o3.columns]
    if not keys:
        raise ValueError("hourly_o3: needs at least one of the columns area, station, target_date")
    rows = []
    for key, part in hourly_o3.groupby(keys, sort=True, dropna=False):
        profile = np.full(24, np.nan)
        profile[part["hour"].to_numpy(dtype=int)] = part[value_column].to_numpy(dtype=float)
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        try:
            cv = critical_value_ugm3(profile, limit_ugm3, one_hour_limit_ugm3)
        except ValueError:
            row.update(critical_value_ugm3=np.nan, peak_hour=-1, likely_hours=[])
        else:
            row.update(
                critical_value_ugm3=cv.critical_value_ugm3,
                peak_hour=cv.peak_hour,
                likely_hours=list(cv.likely_hours),
            )
        rows.append(row)
    cols = [*keys, "critical_value_ugm3", "peak_hour", "likely_hours"]
    return pd.DataFrame(rows, columns=cols)
