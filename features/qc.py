"""Quality flags for hourly observations, and daily completeness.

Flags (docs/nomenclature.md): 0 valid, 1 out of physical range, 2 stuck sensor, 3 spike,
9 missing. A flagged value is kept with its flag; statistics use only flag 0.

The flags are causal: the flag of hour t depends only on the values up to t + 1 h, so
data that arrives later never re-flags older hours and a replay sees the flags it would
have seen in operation. The spike test needs the next hour (a spike differs from both
neighbours): until that hour arrives an hour cannot be a spike, and its flag may be
revised once when it does. A stuck run is flagged from the hour that completes it on
(the earlier hours of the run were valid when they arrived). The robust scale of the
spike test comes from a trailing window of hourly changes (SPIKE_SCALE_WINDOW_HOURS).

The limits below are data, one row per variable, in the nomenclature's units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.nomenclature import HOURLY

VALID, OUT_OF_RANGE, STUCK, SPIKE, MISSING = 0, 1, 2, 3, 9
FLAG_NAMES = {
    VALID: "valid",
    OUT_OF_RANGE: "out_of_range",
    STUCK: "stuck",
    SPIKE: "spike",
    MISSING: "missing",
}

# Physically possible values [min, max] in the nomenclature's units. Pollutant maxima sit
# above the highest hourly values ever reported in Chinese networks (PM2.5 ~1000 ug/m3).
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "pm25": (0.0, 2000.0),
    "pm10": (0.0, 3000.0),
    "so2": (0.0, 3000.0),
    "no2": (0.0, 1500.0),
    "co": (0.0, 60.0),  # mg/m3
    "o3": (0.0, 1200.0),
    "temp_air": (-50.0, 55.0),
    "dewpoint": (-70.0, 40.0),
    "relative_humidity": (0.0, 100.0),
    "pressure": (500.0, 1100.0),  # station pressure, hPa
    "precipitation": (0.0, 200.0),  # mm in one hour
    "wind_speed": (0.0, 75.0),
    "wind_direction": (0.0, 360.0),
    "shortwave_radiation": (0.0, 1400.0),
    "cloud_cover": (0.0, 100.0),
    "boundary_layer_height": (0.0, 6000.0),
}

# Hours of identical non-zero values (consecutive hours) from which a sensor is taken as
# stuck. Coarsely reported values (CO to 0.1 mg/m3, wind direction to 16 compass points,
# integer ug/m3 at low concentrations) repeat legitimately, so they get longer runs.
# Zero is never "stuck": no rain and calm wind repeat for days; nor is a pollutant value
# at or below its detection floor (STUCK_FLOOR): clean night air reads 1-2 ug/m3 for hours.
STUCK_RUN_HOURS: dict[str, int] = {
    "pm25": 12,
    "pm10": 12,
    "so2": 24,
    "no2": 12,
    "co": 24,
    "o3": 12,
    "temp_air": 12,
    "dewpoint": 12,
    "relative_humidity": 24,
    "pressure": 12,
    "precipitation": 12,
    "wind_speed": 12,
    "wind_direction": 36,
    "shortwave_radiation": 6,
    "cloud_cover": 48,
    "boundary_layer_height": 12,
}

STUCK_FLOOR: dict[str, float] = {
    "pm25": 3.0,
    "pm10": 5.0,
    "so2": 5.0,
    "no2": 3.0,
    "co": 0.2,
    "o3": 5.0,
}

# A spike is a value that stands away from BOTH neighbouring hours, in the same
# direction, by more than SPIKE_FACTOR robust scales (1.4826 * median absolute hourly
# change of that station and variable) and by at least SPIKE_MIN_JUMP (units of the
# variable), and whose neighbours agree with each other.
SPIKE_FACTOR = 10.0
# Trailing window of the robust scale [h] and the changes it needs before it is used
# (until then only SPIKE_MIN_JUMP applies). 30 days hold every diurnal and weekly cycle.
SPIKE_SCALE_WINDOW_HOURS = 720
SPIKE_SCALE_MIN_CHANGES = 48
SPIKE_MIN_JUMP: dict[str, float] = {
    "pm25": 150.0,
    "pm10": 250.0,
    "so2": 100.0,
    "no2": 100.0,
    "co": 3.0,
    "o3": 120.0,
    "temp_air": 8.0,
    "dewpoint": 10.0,
    "relative_humidity": 40.0,
    "pressure": 8.0,
    "wind_speed": 10.0,
    "shortwave_radiation": 600.0,
    "boundary_layer_height": 2000.0,
}
# Precipitation, wind direction and cloud cover jump legitimately: no spike test.


def variable_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a canonical frame that are nomenclature variables, in frame order."""
    return [c for c in frame.columns if c in HOURLY]


def _ordered(hourly: pd.DataFrame) -> np.ndarray:
    """Row order that sorts by station then time (stable), for run and neighbour tests."""
    times = pd.DatetimeIndex(hourly["time"]).as_unit("ns").asi8
    return np.lexsort((times, hourly["station"].astype(str).to_numpy()))


def _stuck(
    values: np.ndarray, contiguous: np.ndarray, min_run: int, floor: float = 0.0
) -> np.ndarray:
    """True where a value completes or continues a run of >= ``min_run`` identical
    non-zero values above ``floor`` (negative values always count: a temperature of
    -5 degC can stick). Causal: the hours before the run reaches ``min_run`` stay valid.

    ``contiguous[i]`` says row i directly follows row i-1 (same station, one hour later).
    """
    same = np.zeros(len(values), dtype=bool)
    same[1:] = contiguous[1:] & (values[1:] == values[:-1])
    run_id = np.cumsum(~same)
    first = np.flatnonzero(~same)  # first row of each run, in run_id order (1-based ids)
    position = np.arange(len(values)) - first[run_id - 1] + 1
    with np.errstate(invalid="ignore"):
        counted = (values != 0) & ((values > floor) | (values < 0))
    return (position >= min_run) & np.isfinite(values) & counted


def trailing_scale(
    changes: np.ndarray,
    times_ns: np.ndarray,
    groups: np.ndarray,
    window_hours: int = SPIKE_SCALE_WINDOW_HOURS,
    min_changes: int = SPIKE_SCALE_MIN_CHANGES,
) -> np.ndarray:
    """1.4826 x the median of |hourly change| over the trailing ``window_hours`` (the
    changes stamped in (t - window, t]) of each row's group; NaN with fewer than
    ``min_changes`` changes. Rows must be sorted by group then time."""
    out = np.full(len(changes), np.nan)
    bounds = np.flatnonzero(np.diff(groups)) + 1
    for sl in np.split(np.arange(len(changes)), bounds):
        if not len(sl):
            continue
        s = pd.Series(np.abs(changes[sl]), index=pd.DatetimeIndex(times_ns[sl]))
        med = s.rolling(f"{window_hours}h", min_periods=min_changes).median()
        out[sl] = 1.4826 * med.to_numpy()
    return out


def _spikes(
    values: np.ndarray,
    contiguous: np.ndarray,
    groups: np.ndarray,
    times_ns: np.ndarray,
    factor: float,
    min_jump: float,
) -> np.ndarray:
    n = len(values)
    prev = np.full(n, np.nan)
    nxt = np.full(n, np.nan)
    prev[1:] = np.where(contiguous[1:], values[:-1], np.nan)
    nxt[:-1] = np.where(contiguous[1:], values[1:], np.nan)
    up, down = values - prev, values - nxt
    # Robust scale of the hourly change from the station's trailing window (causal).
    scale = trailing_scale(up, times_ns, groups)
    limit = np.maximum(factor * np.nan_to_num(scale, nan=0.0), min_jump)
    with np.errstate(invalid="ignore"):
        same_side = np.sign(up) == np.sign(down)
        far = np.minimum(np.abs(up), np.abs(down)) > limit
        neighbours_agree = np.abs(prev - nxt) < limit
    return same_side & far & neighbours_agree


def quality_flags(
    hourly: pd.DataFrame,
    *,
    ranges: dict[str, tuple[float, float]] | None = None,
    stuck_run_hours: dict[str, int] | None = None,
    stuck_floor: dict[str, float] | None = None,
    spike_factor: float = SPIKE_FACTOR,
    spike_min_jump: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Quality flag of every value of a canonical hourly frame.

    Parameters
    ----------
    hourly : canonical frame (``station``, ``time`` tz-aware UTC, one column per variable).

    Returns
    -------
    DataFrame of small ints with the same index and variable columns as ``hourly``:
    9 missing, 1 out of range, 2 stuck, 3 spike, 0 valid (first match wins in that order).
    Runs and neighbours are taken per station along consecutive hours; a gap breaks them.
    The flag of hour t depends only on the rows up to t + 1 h (module docstring).
    """
    ranges = PHYSICAL_RANGE if ranges is None else ranges
    stuck_run_hours = STUCK_RUN_HOURS if stuck_run_hours is None else stuck_run_hours
    spike_min_jump = SPIKE_MIN_JUMP if spike_min_jump is None else spike_min_jump
    stuck_floor = STUCK_FLOOR if stuck_floor is None else stuck_floor
    cols = variable_columns(hourly)
    out = pd.DataFrame(index=hourly.index, columns=cols, dtype="int16")
    if hourly.empty:
        return out
    order = _ordered(hourly)
    stations = hourly["station"].astype(str).to_numpy()[order]
    times = pd.DatetimeIndex(hourly["time"]).as_unit("ns").asi8[order]
    contiguous = np.zeros(len(order), dtype=bool)
    hour_ns = 3_600_000_000_000
    contiguous[1:] = (stations[1:] == stations[:-1]) & (np.diff(times) == hour_ns)
    groups = pd.factorize(stations)[0]

    for col in cols:
        v = hourly[col].to_numpy(dtype=float)[order]
        flags = np.zeros(len(v), dtype=np.int16)
        lo, hi = ranges.get(col, (-np.inf, np.inf))
        with np.errstate(invalid="ignore"):
            bad_range = (v < lo) | (v > hi)
        # Out-of-range values take no part in run and neighbour tests.
        clean = np.where(bad_range, np.nan, v)
        if col in stuck_run_hours:
            run = _stuck(clean, contiguous, stuck_run_hours[col], stuck_floor.get(col, 0.0))
            flags[run] = STUCK
        if col in spike_min_jump:
            spikes = _spikes(clean, contiguous, groups, times, spike_factor, spike_min_jump[col])
            flags[spikes & (flags == VALID)] = SPIKE
        flags[bad_range] = OUT_OF_RANGE
        flags[~np.isfinite(v)] = MISSING
        result = np.empty_like(flags)
        result[order] = flags
        out[col] = result
    return out


def completeness(
    hourly: pd.DataFrame,
    tz: str = "Asia/Shanghai",
    flags: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Valid hours per station, local day and variable.

    Returns a long frame ``station, day, variable, n_valid, n_hours, fraction`` where
    ``n_hours`` is the number of hours of the local day (24; 23 or 25 on a DST change)
    and ``fraction = n_valid / n_hours``. Days with no row at all are not listed.
    """
    cols = variable_columns(hourly)
    flags = quality_flags(hourly) if flags is None else flags
    local = pd.DatetimeIndex(hourly["time"]).tz_convert(tz)
    days = local.normalize()
    valid = (flags[cols] == VALID).astype(int)
    valid["station"] = hourly["station"].astype(str).to_numpy()
    valid["day"] = days.date
    counted = valid.groupby(["station", "day"], sort=True)[cols].sum()
    long = counted.reset_index().melt(
        id_vars=["station", "day"], var_name="variable", value_name="n_valid"
    )
    unique_days = days.unique().sort_values()
    next_days = (unique_days.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(tz)
    hours = dict(
        zip(
            unique_days.date,
            ((next_days - unique_days) / pd.Timedelta(hours=1)).astype(int),
            strict=True,
        )
    )
    long["n_hours"] = long["day"].map(hours).astype(int)
    long["n_valid"] = long["n_valid"].astype(int)
    long["fraction"] = long["n_valid"] / long["n_hours"]
    return long.sort_values(["station", "day", "variable"], ignore_index=True)
