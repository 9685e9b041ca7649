"""Storing canonical frames: observations (with quality flags and corrections) and weather
forecasts, one transaction per file.

Rules
- Idempotent: a row already stored with the same values is left alone and counted
  ``unchanged``; ingesting the same file twice stores nothing twice.
- A different value for a stored station-hour replaces it and the old value is kept in
  ``observation_revisions``. A blank (NaN) in the incoming frame never erases a stored
  value: partial exports (one pollutant, a late hour) must not wipe other columns.
- Quality flags are computed over the merged series of each station (stored hours around
  the new ones plus the new ones), so a stuck run or spike across two files is seen. The
  flags are causal (features/qc.py): new hours can change the flag of the stored hour just
  before them (its spike test waited for the next hour) and of stored hours after them
  (a backfilled gap), never of older hours. Such a stored hour's new flag is updated
  ("reflagged") and recorded in ``observation_revisions`` as variable ``<var>_qc``
  (old and new flag).
- Any error rolls the whole file back: the store is left exactly as it was.
- Daily statistics of the affected local days are refreshed in the same transaction
  (``refresh_daily=False`` lets a multi-file load refresh once at the end instead).

Line numbers in errors count a header line: row i of a frame is line i + 2 of its file,
which holds for every reader in aqcast.service.sources.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from aqcast.features.nomenclature import (
    HOURLY,
    MET_FORECAST_VARIABLES,
    OBS_VARIABLES,
    POLLUTANTS,
)
from aqcast.features.qc import (
    FLAG_NAMES,
    SPIKE_SCALE_WINDOW_HOURS,
    STUCK_RUN_HOURS,
    quality_flags,
)
from aqcast.service.observations import (
    DAILY_STATS,
    MET,
    OBS,
    STATIONS,
    fetch_tuples,
    load_hourly,
    raw_time,
    station_ids,
    store_times_utc,
)
from aqcast.service.sources.errors import InputError
from aqcast.service.tables import Observation, ObservationRevision, Station

REVISIONS = ObservationRevision.__table__
# Causal flags: new hours [t_min, t_max] can change the flags of stored hours from
# t_min - 1 h (the spike test's next hour) to t_max + REFLAG_AFTER_HOURS (the trailing
# scale window and stuck runs reach that far forward). The stored context read around
# the new hours also covers the trailing window and longest run of the first of them.
REFLAG_AFTER_HOURS = max(SPIKE_SCALE_WINDOW_HOURS, max(STUCK_RUN_HOURS.values()))
CONTEXT_BEFORE_HOURS = SPIKE_SCALE_WINDOW_HOURS + max(STUCK_RUN_HOURS.values()) + 2
CONTEXT_AFTER_HOURS = REFLAG_AFTER_HOURS + 1
STATION_FIELDS = ["name", "name_zh", "lat", "lon", "city", "background"]


@dataclass
class IngestReport:
    source: str
    file_label: str
    rows_in: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    reflagged: int = 0
    revisions: int = 0
    flag_revisions: int = 0  # stored flags revised (recorded as <var>_qc revisions)
    flags: dict[str, int] = field(default_factory=dict)  # flag name -> values so flagged
    stations_added: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    first_day: date | None = None  # local days whose hourly data changed
    last_day: date | None = None
    daily_rows: int = 0
    daily_note: str = ""
    elapsed_s: float = 0.0

    def summary(self) -> str:
        flagged = ", ".join(f"{k} {v}" for k, v in self.flags.items() if k != "valid") or "none"
        text = (
            f"{self.file_label}: {self.rows_in} rows: {self.new} new, {self.changed} changed, "
            f"{self.unchanged} unchanged; {self.revisions} corrections recorded; "
            f"{self.reflagged} stored rows reflagged; flagged values: {flagged}; "
            f"{self.elapsed_s:.1f} s"
        )
        if self.stations_added:
            text += f"; new stations: {', '.join(self.stations_added)}"
        if self.ignored_columns:
            text += f"; not stored (no observation column): {', '.join(self.ignored_columns)}"
        if self.daily_note:
            text += f"; {self.daily_note}"
        return text


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _line_of(frame: pd.DataFrame, mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 2


def _naive_utc_times(frame: pd.DataFrame, col: str, label: str) -> pd.Series:
    t = frame[col]
    if not isinstance(t.dtype, pd.DatetimeTZDtype):
        raise InputError(label, "times must carry a time zone (UTC offset)", field=col)
    return t.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")


def _check_columns(frame: pd.DataFrame, keys: list[str], allowed: list[str], label: str):
    missing = [c for c in keys if c not in frame.columns]
    if missing:
        raise InputError(label, f"missing column(s) {missing}", line=1, field=missing[0])
    unknown = [c for c in frame.columns if c not in keys and c not in HOURLY and c not in allowed]
    if unknown:
        raise InputError(
            label,
            f"unknown column(s) {unknown}; variables are named as in docs/nomenclature.md",
            line=1,
            field=unknown[0],
        )
    used = [c for c in allowed if c in frame.columns]
    ignored = [c for c in frame.columns if c in HOURLY and c not in allowed]
    return used, ignored


def _check_duplicates(frame: pd.DataFrame, keys: list[str], label: str) -> None:
    dup = frame.duplicated(keys, keep="first").to_numpy()
    if dup.any():
        i = _line_of(frame, dup)
        row = frame.iloc[i - 2]
        raise InputError(
            label,
            "the same station and time appear twice",
            line=i,
            field=keys[-1],
            value=f"{row[keys[0]]} {row[keys[-1]]}",
        )


def _columns(df: pd.DataFrame, sqlite: bool) -> dict[str, list]:
    """Column values ready for the driver: NaN/NaT as None, Python scalars, and on SQLite
    times as the text SQLAlchemy itself stores there (so comparisons stay consistent)."""
    columns: dict[str, list] = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            if sqlite:
                columns[c] = s.dt.strftime(SQLITE_DATETIME).tolist()
            else:
                columns[c] = list(s.dt.to_pydatetime())
        elif pd.api.types.is_float_dtype(s.dtype):
            columns[c] = [None if x != x else x for x in s.tolist()]
        else:
            values = [None if x is None or x != x else x for x in s.tolist()]
            if sqlite:
                values = [x.isoformat() if isinstance(x, date) else x for x in values]
            columns[c] = values
    return columns


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts for a Core executemany."""
    columns = _columns(df, sqlite=False)
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def bulk_insert(conn: Connection, table: Table, df: pd.DataFrame) -> None:
    """Insert a frame's rows in one driver-level executemany (Core's per-row parameter
    processing costs more than the database work on a few hundred thousand rows)."""
    if df.empty:
        return
    sqlite = conn.dialect.name == "sqlite"
    columns = _columns(df, sqlite=sqlite)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_rows(conn, table, columns)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    # Table and column names come from the schema; every value is a bound parameter.
    sql = f"INSERT INTO {prep.format_table(table)} ({names}) VALUES ({marks})"  # noqa: S608
    conn.exec_driver_sql(sql, list(zip(*columns.values(), strict=True)))


def _copy_rows(conn: Connection, table: Table, columns: dict[str, list]) -> None:
    """PostgreSQL COPY on the connection's own transaction (rolled back with it)."""
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:
        with cur.copy(f"COPY {prep.format_table(table)} ({names}) FROM STDIN") as copy:
            for row in zip(*columns.values(), strict=True):
                copy.write_row(row)


def upsert_stations(
    conn: Connection,
    codes: list[str],
    metadata: pd.DataFrame | None,
    *,
    source: str,
    label: str,
    frame: pd.DataFrame | None = None,
    require_metadata: bool = False,
) -> tuple[dict[str, int], list[str]]:
    """Make sure every code is stored; returns (code -> id, codes added).

    Metadata (``station, name, name_zh, lat, lon``) inserts new stations and updates the
    stored fields it carries. A code neither in the metadata nor stored is an error when
    ``require_metadata`` (naming the first line of ``frame`` that uses it); otherwise it is
    stored with its code as name and no coordinates.
    """
    ids = station_ids(conn, codes)
    meta = None
    if metadata is not None and len(metadata):
        meta = metadata.drop_duplicates("station", keep="last").set_index("station")
    added: list[str] = []
    for code in codes:
        known = meta is not None and code in meta.index
        if code not in ids and not known and require_metadata:
            where = None
            if frame is not None:
                where = _line_of(frame, (frame["station"] == code).to_numpy())
            raise InputError(
                label,
                "unknown station: not in the station metadata and not stored",
                line=where,
                field="station",
                value=code,
            )
    if meta is not None:
        stored = {
            r.code: r
            for r in conn.execute(select(STATIONS).where(STATIONS.c.code.in_(list(meta.index))))
        }
        for code, row in meta.iterrows():
            values = {
                k: (None if pd.isna(row.get(k)) else row.get(k))
                for k in STATION_FIELDS
                if k in meta.columns
            }
            if values.get("name") is None:
                values["name"] = code
            values = {
                k: (float(v) if k in ("lat", "lon") and v is not None else v)
                for k, v in values.items()
            }
            if code in stored:
                old = stored[code]
                diff = {k: v for k, v in values.items() if getattr(old, k) != v}
                if diff:
                    conn.execute(update(STATIONS).where(STATIONS.c.code == code).values(diff))
            else:
                conn.execute(insert(STATIONS).values(code=code, source=source, **values))
                added.append(str(code))
    for code in codes:
        if code not in ids and code not in added and (meta is None or code not in meta.index):
            conn.execute(insert(STATIONS).values(code=code, name=code, source=source))
            added.append(code)
    return station_ids(conn, codes), added


def _existing_observations(
    conn: Connection, ids: list[int], start: datetime, end: datetime, variables: list[str]
) -> pd.DataFrame:
    cols = [OBS.c.station_id, raw_time(OBS.c.time)]
    for v in variables:
        cols += [OBS.c[v], OBS.c[f"{v}_qc"]]
    stmt = select(*cols).where(OBS.c.station_id.in_(ids), OBS.c.time >= start, OBS.c.time <= end)
    rows = fetch_tuples(conn, stmt)
    names = ["station_id", "time"] + [c for v in variables for c in (v, f"{v}_qc")]
    df = pd.DataFrame(rows, columns=names)
    df["time"] = store_times_utc(df["time"]).dt.tz_localize(None)
    for v in variables:
        df[v] = df[v].astype(float)
        df[f"{v}_qc"] = df[f"{v}_qc"].astype("int16")
    return df.set_index(["station_id", "time"]).sort_index()


def ingest_frame(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    source: str,
    file_label: str,
    stations: pd.DataFrame | None = None,
    require_station_metadata: bool = False,
    refresh_daily: bool = True,
    tz: str | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Store one file's canonical hourly frame (see the module docstring for the rules).

    ``stations`` is the station metadata that came with the file (``station, name,
    name_zh, lat, lon``); with ``require_station_metadata`` a station found neither there
    nor in the store is an error. ``now`` stamps ``updated_at`` and revisions.
    """
    started = clock.perf_counter()
    now = now or _utcnow()
    report = IngestReport(source=source, file_label=file_label, rows_in=len(frame))
    variables, report.ignored_columns = _check_columns(
        frame, ["station", "time"], OBS_VARIABLES, file_label
    )
    frame = frame.reset_index(drop=True)
    frame["station"] = frame["station"].astype(str)
    times = _naive_utc_times(frame, "time", file_label)
    off_hour = (times != times.dt.floor("h")).to_numpy()
    if off_hour.any():
        i = _line_of(frame, off_hour)
        raise InputError(
            file_label, "time is not on the hour", line=i, field="time", value=str(times[i - 2])
        )
    _check_duplicates(frame, ["station", "time"], file_label)
    if frame.empty:
        report.elapsed_s = clock.perf_counter() - started
        return report
    codes = sorted(frame["station"].unique())

    with engine.begin() as conn:
        ids, report.stations_added = upsert_stations(
            conn,
            codes,
            stations,
            source=source,
            label=file_label,
            frame=frame,
            require_metadata=require_station_metadata,
        )
        incoming = pd.DataFrame(
            {"station_id": frame["station"].map(ids).to_numpy(), "time": times.to_numpy()}
        )
        for v in variables:
            incoming[v] = frame[v].astype(float).to_numpy()
        incoming = incoming.set_index(["station_id", "time"]).sort_index()
        t_min, t_max = times.min(), times.max()
        existing = _existing_observations(
            conn,
            sorted(ids.values()),
            t_min - timedelta(hours=CONTEXT_BEFORE_HOURS),
            t_max + timedelta(hours=CONTEXT_AFTER_HOURS),
            OBS_VARIABLES,
        )

        # Positional work on arrays: label alignment on a (station, time) index is slow.
        common = incoming.index.intersection(existing.index)
        new_keys = incoming.index.difference(existing.index)
        pos_old = existing.index.get_indexer(common)
        pos_inc = incoming.index.get_indexer(common)
        var_pos = [OBS_VARIABLES.index(v) for v in variables]
        inc_values = incoming[variables].to_numpy(dtype=float)
        stored_values = existing[OBS_VARIABLES].to_numpy(dtype=float)
        old_arr = stored_values[np.ix_(pos_old, var_pos)]
        inc_arr = inc_values[pos_inc]
        differs = ~np.isnan(inc_arr) & (old_arr != inc_arr)
        revised_rows = differs.any(axis=1)

        # The merged series: stored values, overwritten where the new file has a value.
        merged_values = stored_values.copy()
        merged_values[np.ix_(pos_old, var_pos)] = np.where(np.isnan(inc_arr), old_arr, inc_arr)
        added = np.full((len(new_keys), len(OBS_VARIABLES)), np.nan)
        added[:, var_pos] = inc_values[incoming.index.get_indexer(new_keys)]
        merged_index = existing.index.append(new_keys)
        merged_arr = np.vstack([merged_values, added])

        code_of = {i: c for c, i in ids.items()}
        canonical = pd.DataFrame(merged_arr, columns=OBS_VARIABLES)
        canonical.insert(0, "station", merged_index.get_level_values(0).map(code_of))
        canonical.insert(1, "time", merged_index.get_level_values(1).tz_localize("UTC"))
        flags = quality_flags(canonical).to_numpy(dtype=np.int16)

        flag_cols = [f"{v}_qc" for v in OBS_VARIABLES]
        n_stored = len(existing)
        old_flags = existing[flag_cols].to_numpy()
        flag_moved = (flags[:n_stored] != old_flags).any(axis=1)
        stored_times = existing.index.get_level_values("time")
        near = (stored_times >= t_min - timedelta(hours=1)) & (
            stored_times <= t_max + timedelta(hours=REFLAG_AFTER_HOURS)
        )
        value_pos = pos_old[revised_rows]
        is_value_row = np.zeros(n_stored, dtype=bool)
        is_value_row[value_pos] = True
        reflag_pos = np.flatnonzero(flag_moved & near & ~is_value_row)
        new_pos = np.arange(n_stored, n_stored + len(new_keys))
        is_incoming = np.zeros(n_stored, dtype=bool)
        is_incoming[pos_old] = True
        report.new = len(new_keys)
        report.changed = len(value_pos)
        report.reflagged = len(reflag_pos)
        report.unchanged = len(common) - len(value_pos) - int(is_incoming[reflag_pos].sum())

        # Flag counts over the values this file carries (its rows and columns).
        carried = np.concatenate([pos_old, new_pos])
        counts = pd.Series(flags[np.ix_(carried, var_pos)].ravel()).value_counts()
        report.flags = {FLAG_NAMES[int(k)]: int(n) for k, n in sorted(counts.items())}

        def rows_at(pos: np.ndarray, *, values: bool) -> pd.DataFrame:
            keys = merged_index[pos]
            out = pd.DataFrame(
                {
                    "station_id": keys.get_level_values(0).astype(int),
                    "time": keys.get_level_values(1),
                }
            )
            if values:
                out[OBS_VARIABLES] = merged_arr[pos]
            out[flag_cols] = flags[pos].astype(int)
            out["updated_at"] = now
            if values:
                out["source"] = source
            return out

        if len(new_pos):
            bulk_insert(conn, OBS, rows_at(new_pos, values=True))
        if len(value_pos):
            rows = rows_at(value_pos, values=True)
            _update_rows(conn, rows, [*OBS_VARIABLES, *flag_cols, "source", "updated_at"])
            r, c = np.nonzero(differs)
            keys = common[r]
            rev = pd.DataFrame(
                {
                    "station_id": keys.get_level_values(0).astype(int),
                    "time": keys.get_level_values(1),
                    "variable": np.asarray(variables, dtype=object)[c],
                    "old_value": old_arr[r, c],
                    "new_value": inc_arr[r, c],
                }
            )
            rev["source"] = f"{source}:{file_label}"[-128:]
            rev["changed_at"] = now
            bulk_insert(conn, REVISIONS, rev)
            report.revisions = len(rev)
        if len(reflag_pos):
            _update_rows(conn, rows_at(reflag_pos, values=False), [*flag_cols, "updated_at"])
            r, c = np.nonzero(flags[reflag_pos] != old_flags[reflag_pos])
            keys = merged_index[reflag_pos[r]]
            rev = pd.DataFrame(
                {
                    "station_id": keys.get_level_values(0).astype(int),
                    "time": keys.get_level_values(1),
                    "variable": np.asarray(flag_cols, dtype=object)[c],
                    "old_value": old_flags[reflag_pos[r], c].astype(float),
                    "new_value": flags[reflag_pos[r], c].astype(float),
                }
            )
            rev["source"] = f"{source}:{file_label}"[-128:]
            rev["changed_at"] = now
            bulk_insert(conn, REVISIONS, rev)
            report.flag_revisions = len(rev)

        touched_pos = np.concatenate([new_pos, value_pos, reflag_pos])
        if len(touched_pos):
            zone = tz or _default_tz()
            local = pd.DatetimeIndex(merged_index[touched_pos].get_level_values("time"))
            local = local.tz_localize("UTC")
            local = local.tz_convert(zone)
            report.first_day, report.last_day = local.min().date(), local.max().date()
            if refresh_daily:
                report.daily_rows, report.daily_note = refresh_daily_stats(
                    conn, report.first_day, report.last_day, tz=zone
                )
    report.elapsed_s = clock.perf_counter() - started
    return report


def _update_rows(conn: Connection, rows: pd.DataFrame, columns: list[str]) -> None:
    stmt = (
        update(OBS)
        .where(
            and_(OBS.c.station_id == bindparam("k_station_id"), OBS.c.time == bindparam("k_time"))
        )
        .values({c: bindparam(c) for c in columns})
    )
    payload = rows[["station_id", "time", *columns]].rename(
        columns={"station_id": "k_station_id", "time": "k_time"}
    )
    conn.execute(stmt, _records(payload))


def _default_tz() -> str:
    from aqcast.service.settings import get_settings

    return get_settings().timezone


def refresh_daily_stats(
    bind: Engine | Connection, first_day: date, last_day: date, *, tz: str | None = None
) -> tuple[int, str]:
    """Recompute the stored daily statistics of local days ``first_day..last_day`` for
    every station and every configured area from the stored valid hourly values.

    Returns (rows written, note). The note is non-empty when nothing could be computed.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return refresh_daily_stats(conn, first_day, last_day, tz=tz)
    conn = bind
    try:
        from aqcast.features.daily import area_daily_statistics, daily_statistics
    except ImportError:
        return 0, "daily statistics not refreshed: aqcast.features.daily is not installed"
    from aqcast.configuration import area_stations
    from aqcast.service.configured import configured_areas

    zone = tz or _default_tz()
    start = pd.Timestamp(first_day).tz_localize(zone).tz_convert("UTC")
    end = (pd.Timestamp(last_day) + pd.Timedelta(days=1)).tz_localize(zone).tz_convert("UTC")
    hourly = load_hourly(conn, start, end, valid_only=True, variables=list(POLLUTANTS))
    ids = station_ids(conn)
    parts = []
    if len(hourly):
        per_station = daily_statistics(hourly, zone)
        per_station["area"] = ""
        parts.append(per_station)
        areas = configured_areas()
        codes = sorted(hourly["station"].unique())
        for area in areas.areas:
            members = area_stations(area, codes, areas)
            if not members:
                continue
            stats = area_daily_statistics(hourly, members, zone, area=area)
            stats["station"] = None
            parts.append(stats)
    conn.execute(
        delete(DAILY_STATS).where(DAILY_STATS.c.day >= first_day, DAILY_STATS.c.day <= last_day)
    )
    if not parts:
        return 0, ""
    daily = pd.concat(parts, ignore_index=True)
    daily = daily[(daily["day"] >= first_day) & (daily["day"] <= last_day)]
    rows = pd.DataFrame(
        {
            "area": daily["area"].astype(str).to_numpy(),
            "station_id": pd.Series(
                [ids.get(s) if isinstance(s, str) else None for s in daily["station"]],
                dtype=object,
            ).to_numpy(),
            "day": pd.to_datetime(daily["day"]).dt.date.to_numpy(),
            "variable": daily["variable"].astype(str).to_numpy(),
            "value": daily["value"].astype(float).to_numpy(),
            "n_valid": daily["n_valid"].fillna(0).astype(int).to_numpy(),
        }
    )
    bulk_insert(conn, DAILY_STATS, rows)
    return len(rows), ""


# --- weather forecasts ---------------------------------------------------------------


@dataclass
class MetIngestReport:
    source: str
    file_label: str
    rows_in: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.file_label}: {self.rows_in} forecast rows: {self.new} new, "
            f"{self.changed} changed, {self.unchanged} unchanged; {self.elapsed_s:.1f} s"
        )


def ingest_met_forecasts(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    source: str,
    file_label: str,
) -> MetIngestReport:
    """Store weather forecasts ``station, issued_at, valid_at, <weather vars>``.

    Stations must already be stored (a forecast is for a known place). Idempotent; a
    changed value replaces the stored one. One transaction: an error stores nothing.
    """
    started = clock.perf_counter()
    report = MetIngestReport(source=source, file_label=file_label, rows_in=len(frame))
    keys = ["station", "issued_at", "valid_at"]
    variables, report.ignored_columns = _check_columns(
        frame, keys, MET_FORECAST_VARIABLES, file_label
    )
    frame = frame.reset_index(drop=True)
    frame["station"] = frame["station"].astype(str)
    issued = _naive_utc_times(frame, "issued_at", file_label)
    valid = _naive_utc_times(frame, "valid_at", file_label)
    _check_duplicates(frame, keys, file_label)
    if frame.empty:
        return report
    with engine.begin() as conn:
        ids = station_ids(conn, frame["station"].unique())
        unknown = ~frame["station"].isin(list(ids)).to_numpy()
        if unknown.any():
            i = _line_of(frame, unknown)
            raise InputError(
                file_label,
                "unknown station: load its metadata (aqcast ingest obs --stations) first",
                line=i,
                field="station",
                value=frame["station"].iloc[i - 2],
            )
        incoming = pd.DataFrame(
            {
                "station_id": frame["station"].map(ids).to_numpy(),
                "issued_at": issued.to_numpy(),
                "valid_at": valid.to_numpy(),
            }
        )
        for v in variables:
            incoming[v] = frame[v].astype(float).to_numpy()
        incoming = incoming.set_index(["station_id", "issued_at", "valid_at"]).sort_index()
        stmt = select(
            MET.c.station_id, MET.c.issued_at, MET.c.valid_at, *[MET.c[v] for v in variables]
        ).where(
            MET.c.source == source,
            MET.c.station_id.in_(sorted(set(ids.values()))),
            MET.c.issued_at >= issued.min(),
            MET.c.issued_at <= issued.max(),
        )
        stored = pd.DataFrame(
            fetch_tuples(conn, stmt),
            columns=["station_id", "issued_at", "valid_at", *variables],
        )
        for c in ("issued_at", "valid_at"):
            stored[c] = store_times_utc(stored[c]).dt.tz_localize(None)
        stored = stored.set_index(["station_id", "issued_at", "valid_at"]).astype(float)
        common = incoming.index.intersection(stored.index)
        new_keys = incoming.index.difference(stored.index)
        inc, old = incoming.loc[common], stored.loc[common]
        differs = (inc.notna() & ~old.eq(inc)).any(axis=1).to_numpy()
        changed = common[differs]
        report.new, report.changed = len(new_keys), len(changed)
        report.unchanged = len(common) - len(changed)
        if len(new_keys):
            rows = incoming.loc[new_keys].reset_index()
            rows["source"] = source
            bulk_insert(conn, MET, rows)
        if len(changed):
            rows = inc.where(inc.notna(), old).loc[changed].reset_index()
            stmt = (
                update(MET)
                .where(
                    MET.c.station_id == bindparam("k_station_id"),
                    MET.c.issued_at == bindparam("k_issued_at"),
                    MET.c.valid_at == bindparam("k_valid_at"),
                    MET.c.source == source,
                )
                .values({v: bindparam(v) for v in variables})
            )
            payload = rows.rename(
                columns={k: f"k_{k}" for k in ("station_id", "issued_at", "valid_at")}
            )
            conn.execute(stmt, _records(payload))
    report.elapsed_s = clock.perf_counter() - started
    return report


def ingest_prsa_files(
    engine: Engine,
    files: Iterable[Path],
    *,
    skip_loaded: bool = False,
    on_report: Callable[[IngestReport], None] | None = None,
) -> list[IngestReport]:
    """Ingest PRSA files (coordinates from the ``stations.csv`` beside them), each in its
    own transaction, then refresh the daily statistics of the days that changed.

    ``skip_loaded`` passes over files whose station already has stored observations (the
    demo's fast path on a second start). On an :class:`InputError` the files before the
    bad one stay stored, their daily statistics refreshed, and the error is raised.
    """
    from aqcast.service.sources.prsa import prsa_station, read_prsa, read_prsa_stations

    loaded: set[str] = set()
    if skip_loaded:
        with engine.connect() as conn:
            has_obs = select(Observation.station_id).where(Observation.station_id == Station.id)
            loaded = set(conn.execute(select(Station.code).where(has_obs.exists())).scalars())
    metadata: dict[Path, pd.DataFrame | None] = {}
    reports: list[IngestReport] = []
    try:
        for f in map(Path, files):
            if skip_loaded and prsa_station(f) in loaded:
                continue
            if f.parent not in metadata:
                meta_path = f.parent / "stations.csv"
                metadata[f.parent] = read_prsa_stations(meta_path) if meta_path.is_file() else None
            meta = metadata[f.parent]
            report = ingest_frame(
                engine,
                read_prsa(f),
                source="prsa",
                file_label=str(f),
                stations=meta,
                require_station_metadata=meta is not None,
                refresh_daily=False,
            )
            reports.append(report)
            if on_report is not None:
                on_report(report)
    finally:
        days = [(r.first_day, r.last_day) for r in reports if r.first_day is not None]
        if days:
            refresh_daily_stats(engine, min(d[0] for d in days), max(d[1] for d in days))
    return reports
