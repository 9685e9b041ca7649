"""Storing the national publishing platform's hourly tables (files and the live feed).

One path for both: ``ingest_cnemc_tables`` takes tables read by
``aqcast.service.sources.cnemc`` (from files or from HTTP responses) and

1. keeps the rows of the selected city (``area``) and/or stations;
2. stores the stations with code, name (name_zh), coordinates, city and background flag,
   and the hourly values only, through ``aqcast.service.ingest.ingest_frame``: one
   transaction for everything passed in (an error stores nothing), idempotent, a changed
   value recorded as a correction in ``observation_revisions``, quality flags and daily
   statistics refreshed;
3. compares the published rolling statistics with aqcast's own, computed from the stored
   valid hours: at a day's 24:00 row with the daily statistics of features/daily.py
   (``pm2_5_24h`` with ``pm25_24h``, ``o3_24h`` with ``o3_1h_max``, ``o3_8h_24h`` with
   ``o3_mda8`` ...), at the other rows with features/rolling.py. A difference of more than
   ``comparison_tolerance_steps`` publication steps (cnemc.yaml) is a disagreement: it is
   reported (counted, and the first ones listed with file and line), never stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from aqcast.features.daily import daily_statistics
from aqcast.features.rolling import rolling_statistics
from aqcast.service.ingest import IngestReport, ingest_frame
from aqcast.service.observations import STATIONS, load_hourly
from aqcast.service.sources.cnemc import HOURLY, PUBLISHED, SOURCE_TZ, CnemcTable, cnemc_format
from aqcast.service.sources.errors import InputError

SOURCE = "cnemc"
# The published statistic -> aqcast's daily statistic, compared at a day's 24:00 row.
AT_MIDNIGHT = {
    "pm25_24h": "pm25_24h",
    "pm10_24h": "pm10_24h",
    "so2_24h": "so2_24h",
    "no2_24h": "no2_24h",
    "co_24h": "co_24h",
    "o3_24h": "o3_1h_max",
    "o3_8h_24h": "o3_mda8",
}
COLUMN_OF = {stat: col for col, stat in PUBLISHED.items()}  # back to the platform's names


@dataclass(frozen=True)
class Disagreement:
    file: str
    line: int
    station: str
    timepoint: str
    column: str  # the platform's column (pm2_5_24h ...)
    published: float
    aqcast: float
    against: str  # what it was compared with: rolling o3_8h, daily o3_mda8 ...

    def text(self) -> str:
        return (
            f"{self.file}, line {self.line}: {self.station} {self.timepoint} {self.column} "
            f"published {self.published:g}, aqcast {self.against} {self.aqcast:.2f}"
        )


@dataclass
class CnemcIngestReport:
    label: str
    tables: int = 0
    rows_read: int = 0
    rows_kept: int = 0
    stations: list[str] = field(default_factory=list)
    missing_stations: list[str] = field(default_factory=list)  # asked for, not in the data
    cities: list[str] = field(default_factory=list)  # cities (area) seen in the tables
    encodings: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    ingest: IngestReport | None = None
    compared: dict[str, int] = field(default_factory=dict)  # column -> values compared
    disagreements: list[Disagreement] = field(default_factory=list)

    def disagreement_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.disagreements:
            counts[d.column] = counts.get(d.column, 0) + 1
        return counts

    def summary_lines(self, max_listed: int = 10) -> list[str]:
        enc = ", ".join(f"{n} {e}" for e, n in sorted(self.encodings.items()))
        lines = [
            f"{self.label}: {self.tables} table(s) ({enc or 'none'}), {self.rows_read} rows "
            f"read, {self.rows_kept} kept for {len(self.stations)} station(s)"
            + (
                f"; not in the data: {', '.join(self.missing_stations)}"
                if self.missing_stations
                else ""
            )
        ]
        if self.ignored_columns:
            lines.append(f"columns not read: {', '.join(self.ignored_columns)}")
        if self.ingest is not None:
            lines.append(self.ingest.summary())
        n_compared = sum(self.compared.values())
        counts = self.disagreement_counts()
        if n_compared:
            text = (
                f"published statistics compared with aqcast's: {n_compared} values, "
                f"{len(self.disagreements)} disagree beyond rounding"
            )
            if counts:
                text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"
            lines.append(text)
            for d in self.disagreements[:max_listed]:
                lines.append(f"  {d.text()}")
            if len(self.disagreements) > max_listed:
                lines.append(f"  ... and {len(self.disagreements) - max_listed} more")
        return lines


def _combine(tables: Sequence[CnemcTable]) -> pd.DataFrame:
    """All rows, one per station-hour. The same station-hour in two tables is kept once
    when its hourly values agree and refused when they differ (which file is right is
    for the user to say: ingest them in separate calls to record the later as a
    correction)."""
    frames = []
    for t in tables:
        f = t.frame.copy()
        f["file"] = t.label
        frames.append(f)
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    dup = rows.duplicated(["station", "time"], keep=False).to_numpy()
    if not dup.any():
        return rows
    variables = list(HOURLY.values())
    for _, g in rows[dup].groupby(["station", "time"], sort=False):
        values = g[variables].to_numpy(dtype=float)
        same = ((values == values[0]) | (np.isnan(values) & np.isnan(values[0]))).all()
        if not same:
            first, again = g.iloc[0], g.iloc[1]
            raise InputError(
                str(again["file"]),
                f"the same station and hour is in {first['file']} (line {first['line']}) "
                "with other values; load the files in separate calls to store the later "
                "as a correction",
                line=int(again["line"]),
                field="stationcode",
                value=f"{again['station']} {again['timepoint']}",
            )
    return rows.drop_duplicates(["station", "time"], keep="last").reset_index(drop=True)


def _station_metadata(engine: Engine, rows: pd.DataFrame) -> pd.DataFrame:
    meta = (
        rows[["station", "name_zh", "lat", "lon", "city", "background"]]
        .drop_duplicates("station", keep="last")
        .reset_index(drop=True)
    )
    # The platform has no English names: keep a stored one, else the code.
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(STATIONS.c.code, STATIONS.c.name).where(
                    STATIONS.c.code.in_(meta["station"].tolist())
                )
            ).all()
        )
    meta.insert(1, "name", [stored.get(c, c) for c in meta["station"]])
    meta["background"] = pd.Series([bool(b) for b in meta["background"]], dtype=object)
    return meta


def ingest_cnemc_tables(
    engine: Engine,
    tables: Iterable[CnemcTable],
    *,
    area: str | None = None,
    stations: Sequence[str] | None = None,
    label: str = "cnemc",
    source: str = SOURCE,
    tz: str | None = None,
    now: datetime | None = None,
) -> CnemcIngestReport:
    """Select, store and compare (see the module docstring); one transaction."""
    tables = list(tables)
    report = CnemcIngestReport(label=label, tables=len(tables))
    kept = []
    for t in tables:
        report.rows_read += t.rows_read
        report.cities += [c for c in t.cities if c not in report.cities]
        report.encodings[t.encoding] = report.encodings.get(t.encoding, 0) + 1
        report.ignored_columns += [c for c in t.ignored_columns if c not in report.ignored_columns]
        kept.append(t.select(area=area, stations=list(stations) if stations else None))
    rows = _combine(kept)
    report.rows_kept = len(rows)
    found = sorted(rows["station"].unique()) if len(rows) else []
    report.stations = found
    if stations:
        report.missing_stations = [s for s in stations if s not in set(found)]
    if rows.empty:
        return report
    zone = tz or _default_tz()
    hourly = rows[["station", "time", *HOURLY.values()]].reset_index(drop=True)
    report.ingest = ingest_frame(
        engine,
        hourly,
        source=source,
        file_label=label,
        stations=_station_metadata(engine, rows),
        require_station_metadata=True,
        tz=zone,
        now=now,
    )
    report.compared, report.disagreements = compare_published(engine, rows, tz=zone)
    return report


def compare_published(
    engine: Engine, rows: pd.DataFrame, *, tz: str
) -> tuple[dict[str, int], list[Disagreement]]:
    """Compare the published statistics of ``rows`` (a combined frame with ``file``) with
    aqcast's, from the stored valid hours. Returns (values compared per column,
    disagreements in file and line order)."""
    fmt = cnemc_format()
    stats = list(PUBLISHED.values())
    if rows[stats].isna().all().all():
        return {}, []
    t0 = rows["time"].min() - pd.Timedelta(hours=23)
    t1 = rows["time"].max() + pd.Timedelta(hours=1)
    codes = sorted(rows["station"].unique())
    hourly = load_hourly(
        engine, t0, t1, stations=codes, valid_only=True, variables=list(HOURLY.values())
    )
    if hourly.empty:
        return {}, []
    rolling = rolling_statistics(hourly, tz).set_index(["station", "time"])
    daily = daily_statistics(hourly, tz)
    daily = daily.pivot_table(index=["station", "day"], columns="variable", values="value")
    local = rows["time"].dt.tz_convert(tz)
    last_hour = (local.dt.hour == 23).to_numpy()
    days = local.dt.date.to_numpy()
    compared: dict[str, int] = {}
    found: list[Disagreement] = []
    keys = pd.MultiIndex.from_arrays([rows["station"], rows["time"]])
    for stat in stats:
        published = rows[stat].to_numpy(dtype=float)
        ours = rolling[stat].reindex(keys).to_numpy(dtype=float)
        against = np.full(len(rows), f"rolling {stat}", dtype=object)
        if stat in AT_MIDNIGHT:
            var = AT_MIDNIGHT[stat]
            day_keys = pd.MultiIndex.from_arrays([rows["station"], days])
            if var in daily.columns:
                day_values = daily[var].reindex(day_keys).to_numpy(dtype=float)
            else:
                day_values = np.full(len(rows), np.nan)
            ours = np.where(last_hour, day_values, ours)
            against = np.where(last_hour, f"daily {var}", against)
        # Compared where both exist: aqcast has no value with too few valid hours (a
        # first file of a series, or hours its quality control flagged).
        both = ~np.isnan(published) & ~np.isnan(ours)
        tol = fmt.comparison_tolerance_steps * fmt.step(stat) + 1e-9
        bad = both & (np.abs(published - ours) > tol)
        if both.any():
            compared[COLUMN_OF[stat]] = int(both.sum())
        for i in np.flatnonzero(bad):
            found.append(
                Disagreement(
                    file=str(rows["file"].iloc[i]),
                    line=int(rows["line"].iloc[i]),
                    station=str(rows["station"].iloc[i]),
                    timepoint=str(rows["timepoint"].iloc[i]),
                    column=COLUMN_OF[stat],
                    published=float(published[i]),
                    aqcast=float(ours[i]),
                    against=str(against[i]),
                )
            )
    found.sort(key=lambda d: (d.file, d.line, d.column))
    return compared, found


def _default_tz() -> str:
    from aqcast.service.settings import get_settings

    return get_settings().timezone


__all__ = ["SOURCE", "SOURCE_TZ", "CnemcIngestReport", "Disagreement", "ingest_cnemc_tables"]
