"""Daily statistics of hourly pollutants on local calendar days (HJ 663-2013 rules).

Concentrations in ug/m3 (CO mg/m3). An hour is stamped with its start; a local day holds
the hours stamped 00:00..23:00 local time.

Rules and the choices made where the standard leaves room:

- ``o3_mda8``: 8-hour means over windows that lie inside the local day, i.e. the windows
  starting at 00..16 h (ending 08..24 h, as HJ 663 reports them). A window is valid with
  at least 6 valid hours and is the mean of its valid hours. MDA8 is the largest valid
  window mean. The day's MDA8 needs at least 14 valid windows (HJ 663), except that a day
  whose largest window already exceeds the limit of 160 counts with fewer (the exceedance
  is certain whatever the missing windows held); otherwise it is NaN. ``n_valid`` is the
  number of valid windows (0..17). ``mda8_ugm3`` gives the plain largest window mean.
  Windows reaching into the next day are not used: a day's MDA8 depends on that day only.
- ``o3_1h_max``: the largest valid hour; NaN when none. ``n_valid`` is the number of valid
  hours, for callers that need a completeness rule.
- ``*_24h``: the mean of the valid hours when at least 20 of the 24 are valid, else NaN;
  ``n_valid`` is the number of valid hours.
- ``aqi``: HJ 633 daily AQI (``aqcast.features.aqi``) from the sub-indices of the day
  that are valid (24-h means, MDA8, 1-hour max); ``n_valid`` is how many of the seven
  sub-indices it was computed from (0 -> NaN). A day with PM2.5 missing can still have an
  AQI from the others; callers that need a complete AQI check ``n_valid == 7``.
- Values are rounded as bureaus report them (HJ 663): CO to 0.1 mg/m3, the others to
  integers, half up; the AQI is computed from the rounded values (``features.aqi``).

Areas use the mean concentration over the area's stations hour by hour (the mean over
the stations that have a valid value in that hour), then the same daily rules: an area
hour is valid when at least one of its stations is. Area AQI is the AQI of the area's
concentrations, never the mean of station AQIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from aqcast.features.aqi import aqi_frame, round_daily
from aqcast.features.nomenclature import DAILY, POLLUTANTS
from aqcast.features.places import DEFAULT_AREA

MDA8_WINDOW_HOURS = 8
MDA8_MIN_VALID_HOURS = 6
MDA8_WINDOW_STARTS = 17  # windows starting 00..16 h lie inside the day
MEAN_24H_MIN_VALID_HOURS = 20
MDA8_MIN_VALID_WINDOWS = 14  # HJ 663: a day's MDA8 needs 14 valid 8-hour windows...
O3_8H_LIMIT_UGM3 = 160.0  # ...unless it exceeds the Grade II limit with fewer

# Daily 24-h mean statistic -> the hourly variable it averages.
MEANS_24H: dict[str, str] = {
    "pm25_24h": "pm25",
    "pm10_24h": "pm10",
    "so2_24h": "so2",
    "no2_24h": "no2",
    "co_24h": "co",
}
DAILY_VARIABLES: list[str] = list(DAILY)  # o3_mda8, o3_1h_max, *_24h, aqi


# --- one day (or many days as rows of a (days, 24) array) ---------------------------------


def _as_days(hourly: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(hourly, dtype=float)
    if a.shape[-1] != 24:
        raise ValueError(f"expected 24 hourly values per day, got shape {a.shape}")
    return a


def mda8_windows_ugm3(hourly_o3_ugm3: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The 17 in-day 8-hour window means [ug/m3] and their valid-hour counts.

    Input (..., 24) hourly O3, NaN missing. Returns (means, counts), each (..., 17); a
    window with fewer than 6 valid hours has mean NaN.
    """
    a = _as_days(hourly_o3_ugm3)
    valid = ~np.isnan(a)
    view = np.lib.stride_tricks.sliding_window_view
    sums = view(np.where(valid, a, 0.0), MDA8_WINDOW_HOURS, axis=-1).sum(axis=-1)
    counts = view(valid, MDA8_WINDOW_HOURS, axis=-1).sum(axis=-1)
    ok = counts >= MDA8_MIN_VALID_HOURS
    means = np.where(ok, sums / np.maximum(counts, 1), np.nan)
    return means, counts


def mda8_ugm3(hourly_o3_ugm3: npt.ArrayLike) -> np.ndarray | float:
    """Maximum daily 8-hour mean O3 [ug/m3] of one day (24 values) or of rows (n, 24).

    Windows start at 00..16 h local, each needs >= 6 valid hours; NaN if none is valid.
    """
    means, _ = mda8_windows_ugm3(hourly_o3_ugm3)
    out = _nanmax_last(means)
    return float(out) if out.ndim == 0 else out


def mda8_day_ugm3(max_window_ugm3: npt.ArrayLike, n_valid_windows: npt.ArrayLike) -> np.ndarray:
    """The day's MDA8 under HJ 663's completeness rule: the largest window mean when at
    least 14 windows are valid, or when fewer are but the largest already exceeds 160;
    else NaN."""
    m = np.asarray(max_window_ugm3, dtype=float)
    n = np.asarray(n_valid_windows)
    ok = (n >= MDA8_MIN_VALID_WINDOWS) | (m > O3_8H_LIMIT_UGM3)
    return np.where(ok, m, np.nan)


def o3_1h_max_ugm3(hourly_o3_ugm3: npt.ArrayLike) -> np.ndarray | float:
    """Daily maximum 1-hour O3 [ug/m3]; NaN when no hour is valid."""
    out = _nanmax_last(_as_days(hourly_o3_ugm3))
    return float(out) if out.ndim == 0 else out


def mean_24h(
    hourly: npt.ArrayLike, min_valid: int = MEAN_24H_MIN_VALID_HOURS
) -> np.ndarray | float:
    """24-hour mean of one day (24 values) or rows (n, 24) [unit of the input].

    NaN unless at least ``min_valid`` (20) hours are valid.
    """
    a = _as_days(hourly)
    valid = ~np.isnan(a)
    n = valid.sum(axis=-1)
    out = np.where(n >= min_valid, np.where(valid, a, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)
    return float(out) if out.ndim == 0 else out


def _nanmax_last(a: np.ndarray) -> np.ndarray:
    # np.nanmax warns on all-NaN rows, and warnings are errors in this project.
    valid = ~np.isnan(a)
    m = np.max(np.where(valid, a, -np.inf), axis=-1)
    return np.where(valid.any(axis=-1), m, np.nan)


# --- frames -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    """(key, local day) cells: sorted labels and, for every input row, its cell and hour."""

    keys: np.ndarray  # label of each cell (object array of str)
    days: np.ndarray  # local day of each cell (datetime64[D])
    row_cell: np.ndarray  # cell index of each input row
    row_hour: np.ndarray  # local hour (0..23) of each input row

    def __len__(self) -> int:
        return len(self.keys)


def _day_grid(hourly: pd.DataFrame, key: str, tz: str) -> _Cells:
    for col in (key, "time"):
        if col not in hourly.columns:
            raise ValueError(f"hourly frame: missing column {col!r}")
    time = hourly["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"hourly frame: column 'time' must be tz-aware (UTC), got dtype {time.dtype}"
        )
    dup = hourly.duplicated([key, "time"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(
            f"hourly frame: duplicate {key}/time {hourly[key].iloc[i]!r} {time.iloc[i]}"
        )
    local = time.dt.tz_convert(tz)
    # In zones with daylight saving the repeated autumn hour keeps the later value and
    # the skipped spring hour stays missing.
    hour = local.dt.hour.to_numpy()
    day = local.dt.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    key_code, key_labels = pd.factorize(hourly[key].astype(str).to_numpy(dtype=object), sort=True)
    first = int(day.min())
    span = int(day.max()) - first + 1
    cell_id, row_cell = np.unique(key_code * span + (day - first), return_inverse=True)
    return _Cells(
        keys=np.asarray(key_labels, dtype=object)[cell_id // span],
        days=(cell_id % span + first).astype("datetime64[D]"),
        row_cell=row_cell.ravel(),
        row_hour=hour,
    )


def _stats_for_cells(
    hourly: pd.DataFrame, cells: _Cells
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Values and n_valid counts of every daily variable, one array entry per cell."""
    n = len(cells)

    def grid(variable: str) -> np.ndarray:
        g = np.full((n, 24), np.nan)
        if variable in hourly.columns:
            g[cells.row_cell, cells.row_hour] = hourly[variable].to_numpy(dtype=float)
        return g

    values: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    o3 = grid("o3")
    means, wcounts = mda8_windows_ugm3(o3)
    n_windows = (wcounts >= MDA8_MIN_VALID_HOURS).sum(axis=1)
    values["o3_mda8"] = mda8_day_ugm3(_nanmax_last(means), n_windows)
    counts["o3_mda8"] = n_windows
    values["o3_1h_max"] = _nanmax_last(o3)
    counts["o3_1h_max"] = (~np.isnan(o3)).sum(axis=1)
    for stat, variable in MEANS_24H.items():
        g = grid(variable)
        values[stat] = mean_24h(g)
        counts[stat] = (~np.isnan(g)).sum(axis=1)
    values = {k: round_daily(k, v) for k, v in values.items()}
    aqi = aqi_frame(pd.DataFrame(values))
    values["aqi"] = aqi["aqi"].to_numpy()
    counts["aqi"] = aqi["n_subindices"].to_numpy()
    return values, counts


def _long(key: str, cells: _Cells, values: dict, counts: dict) -> pd.DataFrame:
    # Cells are sorted by key and day; variables go in name order inside each cell.
    variables = sorted(DAILY_VARIABLES)
    k = len(variables)
    return pd.DataFrame(
        {
            key: np.repeat(cells.keys, k),
            "day": np.repeat(cells.days.astype(object), k),
            "variable": np.tile(np.array(variables, dtype=object), len(cells)),
            "value": np.column_stack([values[v] for v in variables]).astype(float).ravel(),
            "n_valid": np.column_stack([counts[v] for v in variables]).astype(int).ravel(),
        }
    )


def _empty(key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=object if c != "value" else float)
            for c in [key, "day", "variable", "value", "n_valid"]
        }
    ).astype({"n_valid": int})


def daily_statistics(hourly: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Daily statistics of every station and local day present in ``hourly``.

    hourly : DataFrame
        Canonical hourly frame: ``station``, ``time`` (tz-aware, start of hour), and
        pollutant columns ``o3, pm25, pm10, so2, no2, co`` [ug/m3; CO mg/m3]; NaN is
        missing, absent columns count as all missing.
    tz : str
        IANA time zone of the local day, e.g. ``"Asia/Shanghai"``.

    Returns the long frame ``station, day, variable, value, n_valid`` (``day`` a
    ``datetime.date``), one row per station, day and daily variable of the nomenclature,
    sorted by station, day, variable. The module docstring gives the rules.
    """
    if hourly.empty:
        return _empty("station")
    cells = _day_grid(hourly, "station", tz)
    values, counts = _stats_for_cells(hourly, cells)
    return _long("station", cells, values, counts)


def area_hourly_mean(hourly: pd.DataFrame, stations: Sequence[str]) -> pd.DataFrame:
    """Hour-by-hour mean concentration over ``stations`` (those with a value that hour).

    Returns ``time`` and one column per pollutant of the nomenclature present in
    ``hourly`` [ug/m3; CO mg/m3]; an area hour is valid for a pollutant when at least one
    station has a valid value. Weather columns are not averaged (a mean wind direction in
    degrees would be meaningless).
    """
    wanted = {str(s) for s in stations}
    station = hourly["station"].astype(str)
    present = wanted & set(station.unique())
    if not present:
        raise ValueError(f"none of the area's stations {sorted(wanted)} is in the hourly frame")
    sub = hourly[station.isin(sorted(present)).to_numpy()]
    pollutants = [c for c in POLLUTANTS if c in sub.columns]
    # groupby mean skips NaN: the mean over the stations valid in that hour.
    return sub.groupby("time", sort=True)[pollutants].mean().reset_index()


def area_daily_statistics(
    hourly: pd.DataFrame, stations: Sequence[str], tz: str, area: str = DEFAULT_AREA
) -> pd.DataFrame:
    """Daily statistics of an area from the mean concentration over its stations.

    Each hour's area concentration is the mean over the listed stations that have a valid
    value in that hour (stations missing that hour, or absent from ``hourly``, are left
    out); the daily rules then apply as for a station. Returns the long frame
    ``area, day, variable, value, n_valid``. Raises ValueError when none of ``stations``
    appears in ``hourly``.
    """
    if hourly.empty:
        return _empty("area")
    mean = area_hourly_mean(hourly, stations)
    mean.insert(0, "area", area)
    cells = _day_grid(mean, "area", tz)
    values, counts = _stats_for_cells(mean, cells)
    return _long("area", cells, values, counts)


def daily_wide(long: pd.DataFrame) -> pd.DataFrame:
    """The long daily frame pivoted: index (station or area, day), one column per variable."""
    key = "station" if "station" in long.columns else "area"
    wide = long.pivot(index=[key, "day"], columns="variable", values="value")
    wide.columns.name = None
    return wide[[v for v in DAILY_VARIABLES if v in wide.columns]]
