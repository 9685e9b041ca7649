"""Storing canonical frames, one transaction per file. This module stores observations
(with quality flags and corrections): ``ingest_frame``. The rest of the package, by what
it ingests: weather.py (weather forecasts), daily.py (the daily statistics recomputed
from stored hours), stations.py (station metadata), prsa.py (the PRSA files), with the
frame checks (checks.py) and the bulk writes (bulk.py) they share.

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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    select,
    update,
)

from aqcast.features.nomenclature import (
    OBS_VARIABLES,
)
from aqcast.features.qc import (
    FLAG_NAMES,
    SPIKE_SCALE_WINDOW_HOURS,
    STUCK_RUN_HOURS,
    quality_flags,
)
from aqcast.features.timeutil import store_now
from aqcast.service.ingest.bulk import bulk_insert, records
from aqcast.service.ingest.checks import check_columns, check_duplicates, line_of, store_times
from aqcast.service.ingest.daily import default_tz, refresh_daily_stats
from aqcast.service.ingest.stations import upsert_stations
from aqcast.service.observations import (
    OBS,
    fetch_tuples,
    raw_time,
    store_times_utc,
)
from aqcast.service.sources.errors import InputError
from aqcast.service.tables import ObservationRevision

REVISIONS = ObservationRevision.__table__
# Causal flags: new hours [t_min, t_max] can change the flags of stored hours from
# t_min - 1 h (the spike test's next hour) to t_max + REFLAG_AFTER_HOURS (the trailing
# scale window and stuck runs reach that far forward). The stored context read around
# the new hours also covers the trailing window and longest run of the first of them.
REFLAG_AFTER_HOURS = max(SPIKE_SCALE_WINDOW_HOURS, max(STUCK_RUN_HOURS.values()))
CONTEXT_BEFORE_HOURS = SPIKE_SCALE_WINDOW_HOURS + max(STUCK_RUN_HOURS.values()) + 2
CONTEXT_AFTER_HOURS = REFLAG_AFTER_HOURS + 1


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
    now = now or store_now()
    report = IngestReport(source=source, file_label=file_label, rows_in=len(frame))
    frame, variables, report.ignored_columns, times = _checked_frame(frame, file_label)
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
        m = _merge(incoming, existing, variables, ids, t_min, t_max)
        report.new = len(m.new_pos)
        report.changed = len(m.value_pos)
        report.reflagged = len(m.reflag_pos)
        report.unchanged = len(m.common) - len(m.value_pos) - m.incoming_reflagged
        report.flags = m.flag_counts
        report.revisions, report.flag_revisions = _write(
            conn, m, variables, source=source, label=f"{source}:{file_label}"[-128:], now=now
        )
        touched_pos = np.concatenate([m.new_pos, m.value_pos, m.reflag_pos])
        if len(touched_pos):
            zone = tz or default_tz()
            local = pd.DatetimeIndex(m.index[touched_pos].get_level_values("time"))
            local = local.tz_localize("UTC")
            local = local.tz_convert(zone)
            report.first_day, report.last_day = local.min().date(), local.max().date()
            if refresh_daily:
                report.daily_rows, report.daily_note = refresh_daily_stats(
                    conn, report.first_day, report.last_day, tz=zone
                )
    report.elapsed_s = clock.perf_counter() - started
    return report


def _checked_frame(
    frame: pd.DataFrame, file_label: str
) -> tuple[pd.DataFrame, list[str], list[str], pd.Series]:
    """The file's frame checked (columns, whole hours, one row per station and hour):
    ``(frame, variables stored, columns ignored, times as stored naive UTC)``."""
    variables, ignored = check_columns(frame, ["station", "time"], OBS_VARIABLES, file_label)
    frame = frame.reset_index(drop=True)
    frame["station"] = frame["station"].astype(str)
    times = store_times(frame, "time", file_label)
    off_hour = (times != times.dt.floor("h")).to_numpy()
    if off_hour.any():
        i = line_of(frame, off_hour)
        raise InputError(
            file_label, "time is not on the hour", line=i, field="time", value=str(times[i - 2])
        )
    check_duplicates(frame, ["station", "time"], file_label)
    return frame, variables, ignored, times


@dataclass
class _Merged:
    """Stored hours around a file's hours merged with them, re-flagged, and which rows the
    file adds (``new_pos``), revises (``value_pos``) or only re-flags (``reflag_pos``):
    positions in ``index``/``values``/``flags``; the stored rows come first."""

    index: pd.MultiIndex
    values: np.ndarray
    flags: np.ndarray
    old_flags: np.ndarray
    common: pd.MultiIndex
    differs: np.ndarray
    old_arr: np.ndarray
    inc_arr: np.ndarray
    new_pos: np.ndarray
    value_pos: np.ndarray
    reflag_pos: np.ndarray
    incoming_reflagged: int
    flag_counts: dict[str, int]


def _merge(
    incoming: pd.DataFrame,
    existing: pd.DataFrame,
    variables: list[str],
    ids: dict[str, int],
    t_min: pd.Timestamp,
    t_max: pd.Timestamp,
) -> _Merged:
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

    # Flag counts over the values this file carries (its rows and columns).
    carried = np.concatenate([pos_old, new_pos])
    counts = pd.Series(flags[np.ix_(carried, var_pos)].ravel()).value_counts()
    return _Merged(
        index=merged_index,
        values=merged_arr,
        flags=flags,
        old_flags=old_flags,
        common=common,
        differs=differs,
        old_arr=old_arr,
        inc_arr=inc_arr,
        new_pos=new_pos,
        value_pos=value_pos,
        reflag_pos=reflag_pos,
        incoming_reflagged=int(is_incoming[reflag_pos].sum()),
        flag_counts={FLAG_NAMES[int(k)]: int(n) for k, n in sorted(counts.items())},
    )


def _write(
    conn: Connection, m: _Merged, variables: list[str], *, source: str, label: str, now: datetime
) -> tuple[int, int]:
    """Insert the new rows, update the revised and re-flagged ones, and record their
    revisions (``label``: the revision's source). Returns (value revisions, flag revisions)."""
    flag_cols = [f"{v}_qc" for v in OBS_VARIABLES]

    def rows_at(pos: np.ndarray, *, values: bool) -> pd.DataFrame:
        keys = m.index[pos]
        out = pd.DataFrame(
            {
                "station_id": keys.get_level_values(0).astype(int),
                "time": keys.get_level_values(1),
            }
        )
        if values:
            out[OBS_VARIABLES] = m.values[pos]
        out[flag_cols] = m.flags[pos].astype(int)
        out["updated_at"] = now
        if values:
            out["source"] = source
        return out

    def revisions(keys: pd.MultiIndex, names: np.ndarray, old, new) -> int:  # noqa: ANN001
        rev = pd.DataFrame(
            {
                "station_id": keys.get_level_values(0).astype(int),
                "time": keys.get_level_values(1),
                "variable": names,
                "old_value": old,
                "new_value": new,
            }
        )
        rev["source"] = label
        rev["changed_at"] = now
        bulk_insert(conn, REVISIONS, rev)
        return len(rev)

    n_values = n_flags = 0
    if len(m.new_pos):
        bulk_insert(conn, OBS, rows_at(m.new_pos, values=True))
    if len(m.value_pos):
        rows = rows_at(m.value_pos, values=True)
        _update_rows(conn, rows, [*OBS_VARIABLES, *flag_cols, "source", "updated_at"])
        r, c = np.nonzero(m.differs)
        n_values = revisions(
            m.common[r],
            np.asarray(variables, dtype=object)[c],
            m.old_arr[r, c],
            m.inc_arr[r, c],
        )
    if len(m.reflag_pos):
        _update_rows(conn, rows_at(m.reflag_pos, values=False), [*flag_cols, "updated_at"])
        pos = m.reflag_pos
        r, c = np.nonzero(m.flags[pos] != m.old_flags[pos])
        n_flags = revisions(
            m.index[pos[r]],
            np.asarray(flag_cols, dtype=object)[c],
            m.old_flags[pos[r], c].astype(float),
            m.flags[pos[r], c].astype(float),
        )
    return n_values, n_flags


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
    conn.execute(stmt, records(payload))
