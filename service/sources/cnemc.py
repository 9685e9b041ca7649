"""The national real-time publishing platform's hourly format (全国城市空气质量实时发布平台).

One file (or API response) per hour, one row per station::

    timepoint,stationcode,longitude,latitude,area,positionname,primarypollutant,aqi,
    pm10,pm10_24h,pm2_5,pm2_5_24h,o3,o3_24h,o3_8h,o3_8h_24h,no2,no2_24h,so2,so2_24h,co,co_24h

- ``timepoint`` is Beijing time (UTC+8, no daylight saving) and **hour-ending**: the row
  stamped 16:00 holds the mean of 15:00-16:00. aqcast stamps an hour by its start, so the
  reader moves every time back by one hour (16:00 -> the hour starting 15:00); a day's
  "24:00" row (stamped 00:00 of the next day, or 24:00) is its last hour, 23:00-24:00.
- ``stationcode`` (1015A), ``area`` the city (天津市), ``positionname`` the station's name
  (勤俭道); ``(对照点)`` after the name marks a background station (the marker is taken off
  the stored name). Longitude and latitude in degrees.
- Concentrations in ug/m3, CO in mg/m3 (the nomenclature's units). ``x`` is the hour's
  value; ``x_24h`` the mean of the last 24 hours; for ozone ``o3_24h`` is the highest hour
  of the last 24, ``o3_8h`` the latest 8-hour mean and ``o3_8h_24h`` the day's highest
  8-hour mean so far (features/rolling.py computes the same).
- Empty cells (and the dashes of cnemc.yaml) are missing; ``primarypollutant`` may list
  two, quoted. ``aqi`` (the hour's real-time AQI) and the primary pollutant are read past.

Files are CSV in UTF-8 (with or without BOM) or GB18030 (detected: a file that is not
valid UTF-8 is decoded as GB18030). API bodies may also be JSON: a list of objects with
the same keys (or ``{"data": [...]}``); "line" n of a JSON body is its n-th object.

Only the hourly values become observations. The published rolling statistics are kept in
``CnemcTable.published`` for comparison with aqcast's own (service/cnemc_ingest.py), and
checked against each other on the way in: public archives of this feed exist with the
ozone columns in another order, which would otherwise be stored as nonsense. A row that
breaks a relationship of cnemc.yaml is refused, naming the file, line, field and value;
``ozone_columns`` maps a known other order (``parse_ozone_columns``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from aqcast.configuration import load_yaml_model
from aqcast.service.sources.errors import InputError

FORMAT_FILE = Path(__file__).with_name("cnemc.yaml")
SOURCE_TZ = "Etc/GMT-8"  # Beijing time: fixed UTC+8
COLUMNS = [
    "timepoint",
    "stationcode",
    "longitude",
    "latitude",
    "area",
    "positionname",
    "primarypollutant",
    "aqi",
    "pm10",
    "pm10_24h",
    "pm2_5",
    "pm2_5_24h",
    "o3",
    "o3_24h",
    "o3_8h",
    "o3_8h_24h",
    "no2",
    "no2_24h",
    "so2",
    "so2_24h",
    "co",
    "co_24h",
]
REQUIRED = ["timepoint", "stationcode", "pm2_5", "pm10", "so2", "no2", "co", "o3"]
# The platform's column -> the nomenclature's hourly variable.
HOURLY = {"pm2_5": "pm25", "pm10": "pm10", "so2": "so2", "no2": "no2", "co": "co", "o3": "o3"}
# The platform's column -> the rolling statistic of features/rolling.py.
PUBLISHED = {
    "pm2_5_24h": "pm25_24h",
    "pm10_24h": "pm10_24h",
    "so2_24h": "so2_24h",
    "no2_24h": "no2_24h",
    "co_24h": "co_24h",
    "o3_24h": "o3_24h",
    "o3_8h": "o3_8h",
    "o3_8h_24h": "o3_8h_24h",
}
OZONE_COLUMNS = ("o3", "o3_24h", "o3_8h", "o3_8h_24h")
READ_PAST = ["primarypollutant", "aqi"]
_TIME = re.compile(
    r"^(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})[ T](?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2}))?$"
)


class Relationship(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greater: Literal["o3", "o3_24h", "o3_8h", "o3_8h_24h"]
    lesser: Literal["o3", "o3_24h", "o3_8h", "o3_8h_24h"]
    hours: Literal["all", "in_day"] = "all"


class CnemcFormat(BaseModel):
    """Schema of service/sources/cnemc.yaml."""

    model_config = ConfigDict(extra="forbid")
    missing_values: list[str]
    background_markers: list[str] = Field(min_length=1)
    publication_step: dict[Literal["pm25", "pm10", "so2", "no2", "o3", "co"], float]
    relationships: list[Relationship]
    relationship_tolerance_steps: float = Field(ge=0)
    comparison_tolerance_steps: float = Field(ge=0)

    def step(self, statistic: str) -> float:
        """Publication step of an hourly variable or rolling statistic (``co_24h`` -> co)."""
        base = statistic.split("_")[0]
        return float(self.publication_step.get(base, 1.0))


@lru_cache(maxsize=1)
def cnemc_format() -> CnemcFormat:
    return load_yaml_model(FORMAT_FILE, CnemcFormat)


def parse_ozone_columns(text: str | None) -> dict[str, str] | None:
    """``--ozone-columns`` -> {column as headed: what it holds}, or None for "as named".

    The text lists what the columns headed ``o3,o3_24h,o3_8h,o3_8h_24h`` really hold, in
    that order: ``o3,o3_8h,o3_24h,o3_8h_24h`` says the columns headed o3_24h and o3_8h
    are swapped. It must name each of the four once.
    """
    if text is None or text.strip() in ("", "as-named"):
        return None
    names = [t.strip() for t in text.split(",")]
    if sorted(names) != sorted(OZONE_COLUMNS):
        raise ValueError(
            f"--ozone-columns must list {','.join(OZONE_COLUMNS)} in some order, "
            f"each once (got {text!r})"
        )
    mapping = dict(zip(OZONE_COLUMNS, names, strict=True))
    return None if all(k == v for k, v in mapping.items()) else mapping


@dataclass
class CnemcTable:
    """One file or response of the format, read and checked.

    ``frame``: one row per station-hour with ``line`` (of the file), ``station``,
    ``time`` (UTC start of the hour), ``timepoint`` (the text as published), station
    metadata ``name_zh, lat, lon, city, background``, the hourly variables (``pm25 ...
    o3``) and the published statistics (``pm25_24h ... o3_8h_24h``; NaN when absent).
    """

    label: str
    frame: pd.DataFrame
    encoding: str = "utf-8"
    ignored_columns: list[str] = field(default_factory=list)
    rows_read: int = -1  # rows of the file before any selection (-1: len(frame))
    cities: list[str] = field(default_factory=list)  # the cities (area) in the file

    def __post_init__(self) -> None:
        if self.rows_read < 0:
            self.rows_read = len(self.frame)
        if not self.cities and len(self.frame):
            self.cities = sorted(self.frame["city"].dropna().unique().tolist())

    @property
    def hourly(self) -> pd.DataFrame:
        """The canonical hourly frame (station, time, pollutants)."""
        return self.frame[["station", "time", *HOURLY.values()]].reset_index(drop=True)

    @property
    def stations(self) -> pd.DataFrame:
        """Station metadata ``station, name_zh, lat, lon, city, background`` (last row wins)."""
        cols = ["station", "name_zh", "lat", "lon", "city", "background"]
        return self.frame[cols].drop_duplicates("station", keep="last").reset_index(drop=True)

    @property
    def published(self) -> pd.DataFrame:
        """``line, station, time, timepoint`` and the published rolling statistics."""
        cols = ["line", "station", "time", "timepoint", *PUBLISHED.values()]
        return self.frame[cols].reset_index(drop=True)

    def select(self, *, area: str | None = None, stations: list[str] | None = None):
        """Only the rows of city ``area`` and/or of the listed station codes (both: both)."""
        keep = np.ones(len(self.frame), dtype=bool)
        if area is not None:
            keep &= (self.frame["city"].fillna("") == area).to_numpy()
        if stations is not None:
            keep &= self.frame["station"].isin(stations).to_numpy()
        return CnemcTable(
            self.label,
            self.frame[keep],
            self.encoding,
            self.ignored_columns,
            rows_read=self.rows_read,
            cities=self.cities,
        )


def decode(data: bytes, label: str) -> tuple[str, str]:
    """Text and encoding of a file: UTF-8 (BOM allowed) or else GB18030."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(
            label, f"neither UTF-8 nor GB18030 text (byte {exc.start} cannot be decoded)"
        ) from None


def read_cnemc(
    path: Path,
    *,
    ozone_columns: dict[str, str] | None = None,
    area: str | None = None,
    stations: list[str] | None = None,
) -> CnemcTable:
    """Read one CSV file of the format (only the rows of ``area``/``stations`` if given:
    see ``parse_cnemc_csv``)."""
    path = Path(path)
    label = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(label, "file not found") from None
    except OSError as exc:
        raise InputError(label, f"cannot read: {exc.strerror or exc}") from None
    text, encoding = decode(data, label)
    table = parse_cnemc_csv(text, label, ozone_columns=ozone_columns, area=area, stations=stations)
    table.encoding = encoding
    return table


def cnemc_files(paths: list[Path]) -> list[Path]:
    """Expand directories into their ``*.csv`` files (recursively, sorted by path)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() == ".csv"))
        else:
            files.append(p)
    return files


def parse_cnemc_csv(
    text: str,
    label: str,
    *,
    ozone_columns: dict[str, str] | None = None,
    area: str | None = None,
    stations: list[str] | None = None,
) -> CnemcTable:
    """Parse the CSV text of one file or response.

    With ``area`` and/or ``stations`` only those rows are read and checked past the
    layout (a national file's broken row of another city does not stop a district).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(label, "empty file: no header line", line=1)
        rows: list[tuple[int, list[str]]] = []
        for cells in reader:
            if not cells or not "".join(cells).strip():
                continue
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise InputError(label, f"not CSV: {exc}", line=reader.line_num) from None
    names = [h.strip().lower() for h in header]
    for line, cells in rows:
        if len(cells) != len(names):
            raise InputError(
                label,
                f"{len(cells)} fields where the header has {len(names)}",
                line=line,
            )
    return _parse(names, rows, label, ozone_columns, area, stations)


def parse_cnemc_json(
    body: object,
    label: str,
    *,
    ozone_columns: dict[str, str] | None = None,
    area: str | None = None,
    stations: list[str] | None = None,
) -> CnemcTable:
    """Parse a JSON body: a list of row objects keyed by the format's column names."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        body = body["data"]
    if not isinstance(body, list):
        raise InputError(label, "JSON body is not a list of rows")
    names: list[str] = []
    for i, item in enumerate(body, start=1):
        if not isinstance(item, dict):
            raise InputError(label, "row is not an object", line=i)
        for k in item:
            if str(k).strip().lower() not in names:
                names.append(str(k).strip().lower())
    if not body:
        names = list(COLUMNS)
    rows = []
    for i, item in enumerate(body, start=1):
        lower = {str(k).strip().lower(): v for k, v in item.items()}
        rows.append((i, ["" if lower.get(n) is None else str(lower.get(n)) for n in names]))
    return _parse(names, rows, label, ozone_columns, area, stations)


def _parse(
    names: list[str],
    rows: list[tuple[int, list[str]]],
    label: str,
    ozone_columns: dict[str, str] | None,
    area: str | None = None,
    stations: list[str] | None = None,
) -> CnemcTable:
    fmt = cnemc_format()
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InputError(
            label,
            f"missing column(s) {missing}; the format is {','.join(COLUMNS)}",
            line=1,
            field=missing[0],
        )
    dup = [n for n in names if names.count(n) > 1]
    if dup:
        raise InputError(label, "column named twice", line=1, field=dup[0])
    ignored = [n for n in names if n not in COLUMNS]
    width = len(names)
    missing_text = set(fmt.missing_values)
    rows_read = len(rows)
    i_area = names.index("area") if "area" in names else None
    if i_area is not None:
        cities = sorted({cells[i_area].strip() for _, cells in rows} - missing_text)
    else:
        cities = []
    # Select before anything else is read: a national file has some 1,600 rows.
    if area is not None:
        rows = [r for r in rows if i_area is not None and r[1][i_area].strip() == area]
    if stations is not None:
        wanted, i_code = set(stations), names.index("stationcode")
        rows = [r for r in rows if r[1][i_code].strip() in wanted]
    # Stripped cells, None where missing (plain Python: the frames are small and many).
    cleaned = [[c.strip() for c in cells] for _, cells in rows]
    raw = pd.DataFrame(
        cleaned if cleaned else np.empty((0, width), dtype=object),
        columns=names,
        dtype=object,
    )
    values_only = pd.DataFrame(
        [[None if c in missing_text else c for c in cells] for cells in cleaned]
        if cleaned
        else np.empty((0, width), dtype=object),
        columns=names,
        dtype=object,
    )
    lines = np.array([line for line, _ in rows], dtype=int)

    def line_of(mask: np.ndarray) -> int:
        return int(lines[np.flatnonzero(mask)[0]])

    def text(col: str) -> pd.Series:
        if col not in raw.columns:
            return pd.Series([None] * len(raw), dtype=object)
        return values_only[col]

    def number(col: str, *, shown: str | None = None) -> np.ndarray:
        s = text(col)
        num = pd.to_numeric(s, errors="coerce")
        bad = (num.isna() & s.notna()).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                label,
                "not a number",
                line=int(lines[i]),
                field=shown or col,
                value=raw[col].iloc[i],
            )
        values = num.to_numpy(dtype=float)
        negative = values < 0
        if negative.any():
            i = int(np.flatnonzero(negative)[0])
            raise InputError(
                label,
                "a concentration cannot be negative",
                line=int(lines[i]),
                field=shown or col,
                value=raw[col].iloc[i],
            )
        return values

    station = text("stationcode")
    empty = station.isna().to_numpy()
    if empty.any():
        raise InputError(label, "empty station code", line=line_of(empty), field="stationcode")
    time = _hour_starts(text("timepoint"), lines, label)

    out = pd.DataFrame({"line": lines, "station": station.astype(str).to_numpy()})
    out["time"] = time
    out["timepoint"] = raw["timepoint"].to_numpy()
    names_zh = text("positionname")
    background = np.zeros(len(raw), dtype=bool)
    plain_names = []
    for value in names_zh:
        if value is None:
            plain_names.append(None)
            continue
        for marker in fmt.background_markers:
            if marker in value:
                value = value.replace(marker, "").strip()
        plain_names.append(value or None)
    for marker in fmt.background_markers:
        background |= names_zh.fillna("").str.contains(marker, regex=False).to_numpy()
    out["name_zh"] = pd.Series(plain_names, dtype=object).to_numpy()
    for col, name, limit in (("latitude", "lat", 90.0), ("longitude", "lon", 180.0)):
        s = text(col)
        num = pd.to_numeric(s, errors="coerce")
        bad = ((num.isna() & s.notna()) | (num.abs() > limit)).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                label,
                f"{col} must be a number within +-{limit:g} degrees",
                line=int(lines[i]),
                field=col,
                value=raw[col].iloc[i],
            )
        out[name] = num.to_numpy(dtype=float)
    out["city"] = text("area").to_numpy()
    out["background"] = pd.Series([bool(b) for b in background], dtype=object).to_numpy()

    # What each column headed o3... really holds (the mapped archives).
    holds = {c: c for c in OZONE_COLUMNS}
    if ozone_columns:
        holds.update(ozone_columns)
    headed = {v: k for k, v in holds.items()}  # statistic -> column headed
    for col, variable in HOURLY.items():
        source = headed.get(col, col)
        out[variable] = number(source, shown=source)
    for col, stat in PUBLISHED.items():
        source = headed.get(col, col)
        if source in raw.columns:
            out[stat] = number(source, shown=source)
        else:
            out[stat] = np.nan

    dup = out.duplicated(["station", "time"], keep=False).to_numpy()
    if dup.any():
        where = np.flatnonzero(dup)
        first = int(where[0])
        again = next(
            int(j)
            for j in where[1:]
            if out["station"].iloc[j] == out["station"].iloc[first]
            and out["time"].iloc[j] == out["time"].iloc[first]
        )
        raise InputError(
            label,
            f"the same station and hour appear twice (also line {lines[first]})",
            line=int(lines[again]),
            field="stationcode",
            value=f"{out['station'].iloc[again]} {out['timepoint'].iloc[again]}",
        )
    _check_relationships(out, label, headed, ozone_columns is not None)
    return CnemcTable(
        label,
        out.reset_index(drop=True),
        ignored_columns=ignored,
        rows_read=rows_read,
        cities=cities,
    )


def _hour_starts(raw: pd.Series, lines: np.ndarray, label: str) -> pd.Series:
    """Hour-ending Beijing times -> UTC starts of the hours (``24:00`` accepted)."""
    parsed: dict[object, pd.Timestamp] = {}
    for i, t in enumerate(raw):
        if t in parsed:
            continue
        m = _TIME.match(t) if isinstance(t, str) else None
        problem = None
        if m is None:
            problem = "not a time (expected Beijing time like 2024-07-01 16:00:00)"
        elif int(m["mi"]) != 0 or int(m["s"] or 0) != 0:
            problem = "time is not on the hour"
        elif int(m["h"]) > 24:
            problem = "hour beyond 24"
        if problem is None:
            try:
                day = pd.Timestamp(int(m["y"]), int(m["m"]), int(m["d"]))
            except ValueError:
                problem = "not a valid date"
        if problem is not None:
            raise InputError(label, problem, line=int(lines[i]), field="timepoint", value=t)
        # hour-ending h -> the hour starting h - 1 (24:00 is the day's last hour)
        parsed[t] = day + pd.Timedelta(hours=int(m["h"]) - 1)
    values = [parsed[t] for t in raw]
    local = pd.DatetimeIndex(values, dtype="datetime64[ns]") if values else pd.DatetimeIndex([])
    utc = local.tz_localize(SOURCE_TZ).tz_convert("UTC").as_unit("ns")
    return pd.Series(utc)


def _check_relationships(
    out: pd.DataFrame, label: str, headed: dict[str, str], mapped: bool
) -> None:
    fmt = cnemc_format()
    tol = fmt.relationship_tolerance_steps * fmt.step("o3")
    # rows stamped 08:00..24:00 Beijing time: hour starts 07:00..23:00
    start_hour = out["time"].dt.tz_convert(SOURCE_TZ).dt.hour.to_numpy()
    in_day = start_hour >= 7
    for rule in fmt.relationships:
        g = out[rule.greater].to_numpy(dtype=float)
        lesser = out[rule.lesser].to_numpy(dtype=float)
        bad = g < lesser - tol
        if rule.hours == "in_day":
            bad &= in_day
        if not bad.any():
            continue
        i = int(np.flatnonzero(bad)[0])
        hint = (
            "check the --ozone-columns mapping given"
            if mapped
            else "the ozone columns may be in another order: see --ozone-columns "
            "(docs/nomenclature.md)"
        )
        raise InputError(
            label,
            f"{rule.greater} ({g[i]:g}) is below {rule.lesser} ({lesser[i]:g}), which the "
            f"format's definitions rule out; {hint}",
            line=int(out["line"].iloc[i]),
            field=headed.get(rule.greater, rule.greater),
            value=g[i],
        )
