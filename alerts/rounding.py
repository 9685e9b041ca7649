"""Numbers as a bureau writes them in a prompt.

Concentrations and AQI to integers (half up); ranges widened outwards to multiples of 5
below 100 and of 10 from 100 on; probabilities in steps of 10 %.
"""

from __future__ import annotations

import math


def half_up(x: float) -> int:
    """Round half up (Python's round() is half-to-even: 72.5 -> 72)."""
    return int(math.floor(x + 0.5))


def range_step(upper: float) -> int:
    return 5 if upper < 100 else 10


def rounded_range(low: float, high: float) -> tuple[int, int]:
    """``(q10, q90)`` widened outwards to the bureau's step; never a zero-width range."""
    low, high = min(low, high), max(low, high)
    step = range_step(high)
    lo = int(math.floor(low / step) * step)
    hi = int(math.ceil(high / step) * step)
    if hi <= lo:
        hi = lo + step
    return max(lo, 0), hi


def percent_step(p: float) -> str:
    """A probability [0..1] as a percentage in steps of 10: ``"<10%"``, ``"70%"``, ``">90%"``."""
    pct = half_up(p * 10) * 10
    if pct <= 0:
        return "<10%"
    if pct >= 100:
        return ">90%"
    return f"{pct}%"


def hour_ranges(hours: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of local hours, as ``(start, end)`` with end exclusive."""
    out: list[tuple[int, int]] = []
    for h in sorted(set(int(h) for h in hours)):
        if out and h == out[-1][1]:
            out[-1] = (out[-1][0], h + 1)
        else:
            out.append((h, h + 1))
    return out


def half_up_1(x: float) -> float:
    """Round half up to one decimal (a ratio in per cent as bulletins give it)."""
    return math.floor(x * 10 + 0.5 + 1e-9) / 10


def level_span(q10: float, q50: float, q90: float) -> tuple[int, int]:
    """The AQI levels (numbers 1..6) a prompt names for a forecast band: one level, or two
    adjacent ones, never more ("良至轻度污染").

    The median's level is always named; when the 10-90 % band reaches other levels, the
    neighbour on the side whose level boundary is nearer the median is added (the numbers
    of the prompt still give the whole band).
    """
    from aqcast.features.aqi import aqi_level_numbers

    lo, mid, hi = (int(n) for n in aqi_level_numbers([min(q10, q50), q50, max(q90, q50)]))
    if lo == hi:
        return mid, mid
    uppers = (50, 100, 150, 200, 300)  # the top AQI of levels 1..5
    candidates = []
    if lo < mid:
        candidates.append((q50 - uppers[mid - 2], (mid - 1, mid)))
    if hi > mid:
        candidates.append((uppers[mid - 1] - q50, (mid, mid + 1)))
    return min(candidates)[1]
