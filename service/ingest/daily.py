"""Daily statistics recomputed from the stored valid hourly values (per station and per
configured area)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    delete,
)

from aqcast.features.nomenclature import (
    POLLUTANTS,
)
from aqcast.service.ingest.bulk import bulk_insert
from aqcast.service.observations import (
    DAILY_STATS,
    load_hourly,
    station_ids,
)


def default_tz() -> str:
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

    zone = tz or default_tz()
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
