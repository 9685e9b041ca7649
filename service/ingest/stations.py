"""Stations of an ingested file: new ones added, changed metadata updated."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import (
    Connection,
    insert,
    select,
    update,
)

from aqcast.service.ingest.checks import line_of
from aqcast.service.observations import (
    STATIONS,
    station_ids,
)
from aqcast.service.sources.errors import InputError

STATION_FIELDS = ["name", "name_zh", "lat", "lon", "city", "background"]


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
                where = line_of(frame, (frame["station"] == code).to_numpy())
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
