"""The rolling 24-hour AQI of a warning rule set, built from daily values.

The 2017 national revision counts a "day" as any 24 consecutive hours (可跨自然日): the
daily AQI is the mean over a rolling 24-hour window. Forecasts are daily, so the rolling
series is approximated from the daily values (docs/alerts.md measures the error):

- each day's hourly values are taken flat at the day's value (a step profile), so the
  window ending at hour ``k`` (0..23, the window covering the 24 hours up to the end of
  hour ``k``) of day ``i`` mixes ``23 - k`` hours of day ``i - 1`` with ``k + 1`` hours of
  day ``i``: ``R = ((23 - k) * A[i-1] + (k + 1) * A[i]) / 24``. The window ending at
  midnight is the calendar day itself, so every calendar day above a threshold gives at
  least one window above it.
- The duration a clause counts is the number of hours covered by the 24-hour windows
  above the threshold (the union of their hours): one calendar day above 200 with clean
  neighbours is exactly 24 h, and a day at 190 before a day at 250 adds the evening hours
  whose windows already pass 200.

Index convention: hour ``j = 24 * i + k`` is local hour ``k`` of day ``i`` of the series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WINDOW_HOURS = 24


def rolling_from_daily(daily: Sequence[float]) -> np.ndarray:
    """Rolling 24-hour values, one per hour (the window ending with that hour), from daily
    values of consecutive days (step profile; the first day has no earlier day and is
    taken flat). NaN days stay NaN in the windows that touch them."""
    a = np.asarray(daily, dtype=float)
    n = len(a)
    if n == 0:
        return np.zeros(0)
    prev = np.concatenate([a[:1], a[:-1]])
    k = np.arange(WINDOW_HOURS, dtype=float)
    w_today = (k + 1) / WINDOW_HOURS
    out = prev[:, None] * (1 - w_today)[None, :] + a[:, None] * w_today[None, :]
    return out.reshape(-1)


def rolling_mean_hourly(hourly: Sequence[float], min_valid: int = 20) -> np.ndarray:
    """The trailing 24-hour mean of an hourly series (window ending with each hour), NaN
    where fewer than ``min_valid`` hours are valid (HJ 663: 20 of 24)."""
    x = np.asarray(hourly, dtype=float)
    ok = ~np.isnan(x)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    cnt = np.concatenate([[0], np.cumsum(ok)])
    j = np.arange(len(x))
    lo = np.maximum(j - WINDOW_HOURS + 1, 0)
    s = csum[j + 1] - csum[lo]
    c = cnt[j + 1] - cnt[lo]
    full = (j - lo + 1) == WINDOW_HOURS
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / c
    return np.where(full & (c >= min_valid), mean, np.nan)


def covered(
    rolling: np.ndarray, *, above: float | None = None, at_least: float | None = None
) -> np.ndarray:
    """Hours covered by a 24-hour window whose value is above ``above`` (or at least
    ``at_least``): hour ``h`` is covered when a window ending in ``h..h+23`` qualifies."""
    r = np.asarray(rolling, dtype=float)
    with np.errstate(invalid="ignore"):
        hit = (r > above) if above is not None else (r >= at_least)
    hit = np.where(np.isnan(r), False, hit)
    out = np.zeros(len(r), dtype=bool)
    for t in np.flatnonzero(hit):
        out[max(0, t - WINDOW_HOURS + 1) : t + 1] = True
    return out


def runs(mask: np.ndarray, merge_gap_hours: int = 0) -> list[tuple[int, int]]:
    """Runs of True hours as ``(first, last)`` (inclusive); two runs separated by fewer
    than ``merge_gap_hours`` False hours count as one (the gap was too short to clear)."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if len(idx) == 0:
        return []
    out: list[list[int]] = [[int(idx[0]), int(idx[0])]]
    for h in idx[1:]:
        gap = int(h) - out[-1][1] - 1
        if gap == 0 or gap < merge_gap_hours:
            out[-1][1] = int(h)
        else:
            out.append([int(h), int(h)])
    return [(a, b) for a, b in out]
