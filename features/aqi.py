"""Individual and daily air quality index (IAQI, AQI) per HJ 633-2012.

Concentrations are in ug/m3 except CO in mg/m3 (docs/nomenclature.md).

Rules taken from the standard, and the choices made where it leaves room:

- IAQI is interpolated linearly inside the breakpoint segment holding the concentration,
  then rounded UP to an integer (HJ 633: IAQI and AQI are "进位取整"). 35.1 ug/m3 of
  PM2.5 is IAQI 50.1 -> 51, which is "good", not "excellent".
- Above the top breakpoint the IAQI is capped at 500 (the standard has no segment
  there; 500 is the end of the scale).
- O3 8-hour has no breakpoints above 800 ug/m3: ``iaqi("o3_8h", c > 800)`` is NaN, and
  the daily AQI reports O3 by its 1-hour IAQI instead (HJ 633 note). When the day's
  1-hour maximum is unknown, the 1-hour IAQI of the 8-hour value is used: the 1-hour
  maximum is never below the MDA8, so this is a lower bound of the standard's value.
- NaN concentration -> NaN IAQI; a negative concentration is an error (ValueError).
- Daily AQI = the largest IAQI among the sub-indices that are available; the primary
  pollutant(s) are those whose IAQI equals the AQI, named only when AQI > 50. Ozone is
  named once: ``o3_8h`` when its 8-hour and 1-hour indices tie.
- A daily AQI needs at least one sub-index; the frame version reports how many it used.
- Daily concentrations are rounded before the index, as bureaus compute it (HJ 663):
  CO to 0.1 mg/m3, the others to integers, half up (``round_daily``). So a PM2.5 daily
  mean of 35.4 is reported as 35 and is "excellent" (``iaqi`` itself takes the value as
  given: 35.1 -> 50.125 -> 51).

Daily sub-indices (HJ 633 section 5.1): the 24-hour means of SO2, NO2, PM10, PM2.5 and
CO, the daily maximum 1-hour O3 and the daily maximum 8-hour O3 (MDA8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

IAQI_BREAKPOINTS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)

# Concentration at each IAQI breakpoint above. O3 8h stops at 800 (IAQI 300).
CONC_BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),  # mg/m3
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}
POLLUTANT_KEYS: tuple[str, ...] = tuple(CONC_BREAKPOINTS)

# Daily statistic (docs/nomenclature.md) -> the IAQI key it is indexed with.
DAILY_TO_IAQI: dict[str, str] = {
    "so2_24h": "so2_24h",
    "no2_24h": "no2_24h",
    "pm10_24h": "pm10_24h",
    "co_24h": "co_24h",
    "o3_1h_max": "o3_1h",
    "o3_mda8": "o3_8h",
    "pm25_24h": "pm25_24h",
}

O3_8H_TOP_UGM3 = 800.0
IAQI_MAX = 500

# Rounding noise of the interpolation (75 ug/m3 PM2.5 giving 100.00000000000001) must not
# push an IAQI that sits exactly on a breakpoint up by one.
_CEIL_DECIMALS = 9


@dataclass(frozen=True)
class AqiLevel:
    """One of the six AQI levels of HJ 633 (级别), with its AQI range and colour."""

    number: int
    en: str
    zh: str
    aqi_min: int
    aqi_max: int | None  # None: open above
    colour: str


AQI_LEVELS: tuple[AqiLevel, ...] = (
    AqiLevel(1, "excellent", "优", 0, 50, "green"),
    AqiLevel(2, "good", "良", 51, 100, "yellow"),
    AqiLevel(3, "light", "轻度污染", 101, 150, "orange"),
    AqiLevel(4, "moderate", "中度污染", 151, 200, "red"),
    AqiLevel(5, "heavy", "重度污染", 201, 300, "purple"),
    AqiLevel(6, "severe", "严重污染", 301, None, "maroon"),
)
_LEVEL_UPPER = np.array([50, 100, 150, 200, 300], dtype=float)


def _breakpoints(pollutant: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        conc = np.asarray(CONC_BREAKPOINTS[pollutant], dtype=float)
    except KeyError:
        raise ValueError(
            f"unknown pollutant key {pollutant!r}; known: {', '.join(POLLUTANT_KEYS)}"
        ) from None
    return conc, np.asarray(IAQI_BREAKPOINTS[: len(conc)], dtype=float)


def _ceil(x: np.ndarray) -> np.ndarray:
    return np.ceil(np.round(x, _CEIL_DECIMALS))


def iaqi(pollutant: str, conc: npt.ArrayLike) -> np.ndarray | float:
    """Individual AQI of ``conc`` for one pollutant key (see ``POLLUTANT_KEYS``).

    conc : numeric or array
        Concentration [ug/m3; CO mg/m3] averaged as the key says (24 h, 1 h, 8 h).

    Returns the integer-valued IAQI (as float, NaN where conc is NaN or O3 8h > 800),
    with the same shape as ``conc``; a scalar in gives a float out.
    """
    c_bp, i_bp = _breakpoints(pollutant)
    c = np.asarray(conc, dtype=float)
    if np.any(c < 0):
        bad = float(c[c < 0].flat[0])
        raise ValueError(f"negative concentration for {pollutant}: {bad!r}")
    out = _ceil(np.interp(c, c_bp, i_bp))
    top = c > c_bp[-1]
    if pollutant == "o3_8h":
        out = np.where(top, np.nan, out)
    else:
        out = np.where(top, float(IAQI_MAX), out)
    out = np.where(np.isnan(c), np.nan, out)
    return float(out) if out.ndim == 0 else out


def conc_for_iaqi(pollutant: str, value: npt.ArrayLike) -> np.ndarray | float:
    """Concentration [ug/m3; CO mg/m3] at which the unrounded IAQI equals ``value``.

    The inverse of the linear interpolation: ``conc_for_iaqi("pm25_24h", 200)`` is 150,
    the highest PM2.5 24-h mean whose AQI is still 200 (any higher is 201 after
    rounding up). ``value`` must lie in 0..500 (0..300 for O3 8h).
    """
    c_bp, i_bp = _breakpoints(pollutant)
    v = np.asarray(value, dtype=float)
    outside = (v < 0) | (v > i_bp[-1])
    if np.any(outside):
        raise ValueError(
            f"IAQI {float(v[outside].flat[0])!r} outside 0..{int(i_bp[-1])} for {pollutant}"
        )
    out = np.interp(v, i_bp, c_bp)
    return float(out) if out.ndim == 0 else out


def aqi_level(aqi: float | None) -> AqiLevel | None:
    """The level of an AQI value (rounded up first, as HJ 633 reports integers)."""
    if aqi is None or not np.isfinite(aqi):
        return None
    if aqi < 0:
        raise ValueError(f"negative AQI: {aqi!r}")
    return AQI_LEVELS[int(aqi_level_numbers(np.array([aqi]))[0]) - 1]


def aqi_level_numbers(aqi: npt.ArrayLike) -> np.ndarray:
    """Level numbers 1..6 for an array of AQI values (0 where AQI is NaN)."""
    a = _ceil(np.asarray(aqi, dtype=float))
    n = np.searchsorted(_LEVEL_UPPER, a, side="left") + 1
    return np.where(np.isnan(a), 0, n).astype(int)


def _o3_8h_or_1h(o3_8h: np.ndarray, o3_1h_conc: np.ndarray | None) -> np.ndarray:
    """The O3 8-hour sub-index, with the 1-hour IAQI where the 8-hour mean is above 800."""
    sub = iaqi("o3_8h", o3_8h)
    above = o3_8h > O3_8H_TOP_UGM3
    if np.any(above):
        stand_in = (
            o3_8h if o3_1h_conc is None else np.where(np.isnan(o3_1h_conc), o3_8h, o3_1h_conc)
        )
        sub = np.where(above, iaqi("o3_1h", stand_in), sub)
    return sub


def daily_aqi(values: Mapping[str, float | None]) -> tuple[float, list[str], AqiLevel | None]:
    """Daily AQI, primary pollutants and level from one day's statistics.

    values : mapping
        Daily statistics by their nomenclature names (``pm25_24h``, ``o3_mda8``,
        ``o3_1h_max``, ...) or by IAQI keys (``o3_8h``, ``o3_1h``); missing or NaN entries
        are left out. Concentrations [ug/m3; CO mg/m3].

    Returns ``(aqi, primary, level)``: aqi NaN and level None when no sub-index is
    available; ``primary`` lists IAQI keys (e.g. ``["pm25_24h"]``), empty when AQI <= 50.
    """
    frame = pd.DataFrame({k: [np.nan if v is None else v] for k, v in values.items()})
    row = aqi_frame(frame).iloc[0]
    primary = row["primary_pollutants"].split(",") if row["primary_pollutants"] else []
    return float(row["aqi"]), primary, aqi_level(row["aqi"])


# Decimals daily concentrations are reported with (HJ 663): CO [mg/m3] one, others none.
DAILY_DECIMALS: dict[str, int] = {"co_24h": 1}


def round_daily(name: str, conc: npt.ArrayLike) -> np.ndarray:
    """A daily statistic rounded half up as reported: ``co_24h`` to 0.1 mg/m3, the other
    concentrations to integers; ``aqi`` and unknown names are returned unchanged."""
    a = np.asarray(conc, dtype=float)
    if name not in DAILY_TO_IAQI and name not in CONC_BREAKPOINTS:
        return a
    scale = 10.0 ** DAILY_DECIMALS.get(name, 0)
    # The rounding noise of a mean (0.15 * 10 = 1.4999999999999998) must not round down.
    return np.floor(np.round(a * scale, 6) + 0.5) / scale


def iaqi_frame(daily: pd.DataFrame) -> pd.DataFrame:
    """IAQI of every available daily statistic: one column per IAQI key, same index.

    ``daily`` holds columns named as daily statistics or IAQI keys; absent ones are NaN.
    Concentrations are rounded as reported (``round_daily``) before they are indexed.
    """
    cols: dict[str, np.ndarray] = {}
    n = len(daily)

    def column(*names: str) -> np.ndarray | None:
        for name in names:
            if name in daily.columns:
                key = DAILY_TO_IAQI.get(name, name)
                return round_daily("co_24h" if key == "co_24h" else name, daily[name])
        return None

    o3_1h = column("o3_1h_max", "o3_1h")
    for stat, key in DAILY_TO_IAQI.items():
        conc = column(stat, key)
        if conc is None:
            cols[key] = np.full(n, np.nan)
        elif key == "o3_8h":
            cols[key] = _o3_8h_or_1h(conc, o3_1h)
        else:
            cols[key] = np.asarray(iaqi(key, conc), dtype=float).reshape(n)
    return pd.DataFrame(cols, index=daily.index)


def aqi_frame(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily AQI for many days at once.

    ``daily`` is a wide frame with daily statistics as columns (see ``iaqi_frame``).
    Returns, on the same index: ``aqi`` (NaN when no sub-index), ``level`` (1..6, 0 when
    NaN), ``primary_pollutants`` (IAQI keys joined by "," in table order, "" when
    AQI <= 50 or NaN) and ``n_subindices`` (how many sub-indices were available).
    """
    subs = iaqi_frame(daily)
    arr = subs.to_numpy(dtype=float)
    avail = ~np.isnan(arr)
    n_sub = avail.sum(axis=1)
    aqi = np.where(n_sub > 0, np.max(np.where(avail, arr, -np.inf), axis=1), np.nan)
    is_primary = avail & (arr == aqi[:, None]) & (aqi[:, None] > 50)
    keys = np.array(subs.columns)
    # Ozone is named once: when its 1-hour and 8-hour indices tie, it is "o3_8h".
    i_1h, i_8h = list(keys).index("o3_1h"), list(keys).index("o3_8h")
    is_primary[:, i_1h] &= ~is_primary[:, i_8h]
    primary = [",".join(keys[m]) for m in is_primary] if len(arr) else []
    return pd.DataFrame(
        {
            "aqi": aqi,
            "level": aqi_level_numbers(aqi),
            "primary_pollutants": pd.Series(primary, index=daily.index, dtype=object),
            "n_subindices": n_sub.astype(int),
        },
        index=daily.index,
    )
