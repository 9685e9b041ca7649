"""The canonical observation table (docs/nomenclature.md) and station metadata files.

Observations: CSV or Parquet, one row per station and hour: ``station``, ``time`` (ISO 8601
with a UTC offset, e.g. ``2015-06-01T14:00:00+08:00``), then any of the nomenclature's
hourly variables in its units; an empty cell is a missing value. Station metadata: CSV
``station,name,lat,lon`` and optionally ``name_zh``.

Line numbers in errors are the file's lines (the header is line 1); for Parquet, where
there are no lines, "line" n means row n - 1 of the table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aqcast.features.nomenclature import HOURLY
from aqcast.service.sources.csv_lines import line_of, record_lines
from aqcast.service.sources.errors import InputError, require_columns

KEYS = ["station", "time"]
PARQUET_SUFFIXES = {".parquet", ".pq"}
# ISO 8601 date and time with an explicit offset (Z or +hh:mm / +hhmm / +hh).
_ISO_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"


def _first(mask: np.ndarray | pd.Series, df: pd.DataFrame) -> tuple[int, int]:
    """(file line, row position) of the first True of ``mask``."""
    pos = int(np.flatnonzero(np.asarray(mask))[0])
    return line_of(df, pos), pos


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        lines = record_lines(path)
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        df.attrs["lines"] = lines
        return df
    except InputError:
        raise
    except FileNotFoundError as exc:
        raise InputError(str(path), "file not found") from exc
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read the table: {exc}") from exc


def parse_numbers(df: pd.DataFrame, col: str, label: str) -> pd.Series:
    """A column as floats; the first cell that is not a number is an error naming it."""
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(float)
    num = pd.to_numeric(raw, errors="coerce")
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    bad = num.isna() & (text != "")
    if bad.any():
        i, pos = _first(bad, df)
        raise InputError(label, "not a number", line=i, field=col, value=raw.iloc[pos])
    return num.astype(float)


def parse_times(df: pd.DataFrame, col: str, label: str) -> pd.Series:
    """ISO 8601 times with an offset -> tz-aware UTC. A time without offset is an error:
    guessing the zone of a bureau's export would shift every value by hours."""
    raw = df[col]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        raise InputError(label, "time has no UTC offset (time zone)", line=2, field=col)
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        raise InputError(label, "missing time", line=_first(empty, df)[0], field=col)
    no_offset = ~text.str.match(_ISO_WITH_OFFSET).to_numpy()
    if no_offset.any():
        i, pos = _first(no_offset, df)
        raise InputError(
            label,
            "not an ISO 8601 time with UTC offset (e.g. 2015-06-01T14:00:00+08:00)",
            line=i,
            field=col,
            value=text.iloc[pos],
        )
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i, pos = _first(bad, df)
        raise InputError(
            label, "not a valid date and time", line=i, field=col, value=text.iloc[pos]
        )
    return parsed.dt.as_unit("ns")


def read_observations(path: Path) -> pd.DataFrame:
    """Read a canonical observation table into the canonical hourly frame."""
    path = Path(path)
    label = str(path)
    df = _read_table(path)
    require_columns(label, df.columns, KEYS)
    unknown = [c for c in df.columns if c not in KEYS and c not in HOURLY]
    if unknown:
        raise InputError(
            label,
            f"unknown column(s) {unknown}; variables are named as in docs/nomenclature.md "
            f"({', '.join(HOURLY)})",
            line=1,
            field=unknown[0],
        )
    station = df["station"].astype(object).where(df["station"].notna(), "").astype(str)
    station = station.str.strip()
    empty = (station == "").to_numpy()
    if empty.any():
        raise InputError(label, "empty station", line=_first(empty, df)[0], field="station")
    time = parse_times(df, "time", label)
    off_hour = (time != time.dt.floor("h")).to_numpy()
    if off_hour.any():
        i, pos = _first(off_hour, df)
        raise InputError(
            label,
            "time is not the start of an hour",
            line=i,
            field="time",
            value=str(df["time"].iloc[pos]),
        )
    out = pd.DataFrame({"station": station.to_numpy()})
    out["time"] = time.reset_index(drop=True)
    for col in [c for c in df.columns if c in HOURLY]:
        out[col] = parse_numbers(df, col, label).to_numpy()
    dup = out.duplicated(KEYS).to_numpy()
    if dup.any():
        i, pos = _first(dup, df)
        raise InputError(
            label,
            "the same station and time appear twice",
            line=i,
            field="time",
            value=f"{out['station'].iloc[pos]} {df['time'].iloc[pos]}",
        )
    return out


def read_station_metadata(path: Path) -> pd.DataFrame:
    """Station metadata CSV -> ``station, name, name_zh, lat, lon`` (degrees north/east)."""
    path = Path(path)
    label = str(path)
    lines = record_lines(path, label)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError as exc:
        raise InputError(label, "file not found") from exc
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(label, f"cannot read as CSV: {exc}") from exc
    df.attrs["lines"] = lines
    require_columns(label, df.columns, ("station", "lat", "lon"))
    station = df["station"].fillna("").astype(str).str.strip()
    empty = (station == "").to_numpy()
    if empty.any():
        raise InputError(label, "empty station", line=_first(empty, df)[0], field="station")
    dup = station.duplicated().to_numpy()
    if dup.any():
        i, pos = _first(dup, df)
        raise InputError(
            label, "station listed twice", line=i, field="station", value=station.iloc[pos]
        )
    out = pd.DataFrame({"station": station})
    out["name"] = df["name"].fillna(station) if "name" in df.columns else station
    out["name_zh"] = df["name_zh"] if "name_zh" in df.columns else None
    for col, limit in (("lat", 90.0), ("lon", 180.0)):
        values = parse_numbers(df, col, label)
        bad = (values.isna() | (values.abs() > limit)).to_numpy()
        if bad.any():
            i, pos = _first(bad, df)
            raise InputError(
                label,
                f"{col} must be a number within +-{limit:g} degrees",
                line=i,
                field=col,
                value=df[col].iloc[pos],
            )
        out[col] = values
    return out
