"""Loading the PRSA (Beijing multi-site) files: stations first, then each file's
observations, daily statistics once at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
from sqlalchemy import (
    Engine,
    select,
)

from aqcast.service.ingest import IngestReport, ingest_frame
from aqcast.service.ingest.daily import refresh_daily_stats
from aqcast.service.tables import Observation, Station


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
