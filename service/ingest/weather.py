"""Storing weather forecasts: one row per station, issue time and valid time; one
transaction per file, idempotent like the observations."""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import (
    Engine,
    bindparam,
    select,
    update,
)

from aqcast.features.nomenclature import (
    MET_FORECAST_VARIABLES,
)
from aqcast.service.ingest.bulk import bulk_insert, records
from aqcast.service.ingest.checks import check_columns, check_duplicates, line_of, store_times
from aqcast.service.observations import (
    MET,
    fetch_tuples,
    station_ids,
    store_times_utc,
)
from aqcast.service.sources.errors import InputError


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
    variables, report.ignored_columns = check_columns(
        frame, keys, MET_FORECAST_VARIABLES, file_label
    )
    frame = frame.reset_index(drop=True)
    frame["station"] = frame["station"].astype(str)
    issued = store_times(frame, "issued_at", file_label)
    valid = store_times(frame, "valid_at", file_label)
    check_duplicates(frame, keys, file_label)
    if frame.empty:
        return report
    with engine.begin() as conn:
        ids = station_ids(conn, frame["station"].unique())
        unknown = ~frame["station"].isin(list(ids)).to_numpy()
        if unknown.any():
            i = line_of(frame, unknown)
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
            conn.execute(stmt, records(payload))
    report.elapsed_s = clock.perf_counter() - started
    return report
