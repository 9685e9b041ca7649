"""The UCI Beijing multi-site (PRSA) hourly CSV files.

Columns: No, year, month, day, hour (local Beijing time, UTC+8), PM2.5, PM10, SO2, NO2,
CO (ug/m3 here; converted to mg/m3), O3, TEMP, PRES, DEWP, RAIN, wd (16-point compass),
WSPM, station. Missing values are the literal ``NA``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from aqcast.features.nomenclature import COMPASS_DEG
from aqcast.service.sources.csv_lines import line_of, record_lines
from aqcast.service.sources.errors import InputError, require_columns

COLUMNS = {
    "PM2.5": "pm25",
    "PM10": "pm10",
    "SO2": "so2",
    "NO2": "no2",
    "CO": "co",
    "O3": "o3",
    "TEMP": "temp_air",
    "PRES": "pressure",
    "DEWP": "dewpoint",
    "RAIN": "precipitation",
    "WSPM": "wind_speed",
}
REQUIRED = ["year", "month", "day", "hour", "station", "wd", *COLUMNS]
SOURCE_UTC_OFFSET_TZ = "Etc/GMT-8"  # fixed UTC+8, no DST: what the PRSA files use


PRSA_FILE = re.compile(r"PRSA_Data_(?P<station>[^_]+)_\d{8}-\d{8}\.csv$")


def prsa_station(path: Path) -> str | None:
    """The station named in a PRSA file name (``PRSA_Data_<station>_<from>-<to>.csv``)."""
    m = PRSA_FILE.search(Path(path).name)
    return m.group("station") if m else None


def prsa_files(paths: list[Path]) -> list[Path]:
    """Expand directories into their ``PRSA_Data_*.csv`` files, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.glob("PRSA_Data_*.csv")))
        else:
            files.append(p)
    return files


def _numeric(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            str(path), "not a number", line=line_of(df, i), field=col, value=raw.iloc[i]
        )
    return num.astype(float)


def read_prsa(path: Path) -> pd.DataFrame:
    """Read one PRSA file into the canonical hourly frame (station, time UTC, variables)."""
    path = Path(path)
    lines = record_lines(path)  # a cut-off or short line fails here, naming line and field
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["NA", ""])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read as CSV: {exc}") from exc
    df.attrs["lines"] = lines
    require_columns(str(path), df.columns, REQUIRED)
    parts = {c: _numeric(df, c, path) for c in ("year", "month", "day", "hour")}
    try:
        local = pd.to_datetime(
            pd.DataFrame({k: parts[k].astype("Int64") for k in parts}), errors="raise"
        )
    except (ValueError, TypeError):
        ok = pd.to_datetime(pd.DataFrame({k: parts[k] for k in parts}), errors="coerce")
        i = int(np.flatnonzero(ok.isna().to_numpy())[0])
        raise InputError(
            str(path),
            "not a valid date",
            line=line_of(df, i),
            field="year/month/day/hour",
            value="-".join(str(df[k].iloc[i]) for k in ("year", "month", "day", "hour")),
        ) from None
    out = pd.DataFrame(
        {
            "station": df["station"].astype(str),
            "time": local.dt.tz_localize(SOURCE_UTC_OFFSET_TZ).dt.tz_convert("UTC"),
        }
    )
    for src, name in COLUMNS.items():
        out[name] = _numeric(df, src, path)
    out["co"] = out["co"] / 1000.0  # ug/m3 -> mg/m3
    wd = df["wd"]
    deg = wd.map(COMPASS_DEG)
    bad = deg.isna() & wd.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            str(path), "unknown compass point", line=line_of(df, i), field="wd", value=wd.iloc[i]
        )
    out["wind_direction"] = deg.astype(float)
    if out["station"].eq("").any():
        i = int(np.flatnonzero(out["station"].eq("").to_numpy())[0])
        raise InputError(str(path), "empty station", line=line_of(df, i), field="station")
    return out


def read_prsa_stations(path: Path) -> pd.DataFrame:
    """stations.csv beside the PRSA files: station, name_zh, lat, lon."""
    df = pd.read_csv(path, dtype=str)
    require_columns(str(path), df.columns, ("station", "lat", "lon"))
    out = pd.DataFrame({"station": df["station"], "name": df["station"]})
    out["name_zh"] = df.get("name_zh")
    out["lat"] = _numeric(df, "lat", path)
    out["lon"] = _numeric(df, "lon", path)
    return out
