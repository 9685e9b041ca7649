"""Reading stored observations, weather forecasts, stations and daily statistics.

Every loader returns the project's frames (docs/architecture.md): times tz-aware UTC,
variables under the nomenclature's names. They accept an Engine, or a Connection so that
code inside an open transaction (ingest refreshing daily statistics) sees its own writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Column, Connection, Engine, String, case, func, select, type_coerce

from aqcast.features.nomenclature import (
    AQ_FORECAST,
    DAILY,
    MET_FORECAST_VARIABLES,
    OBS_VARIABLES,
)
from aqcast.features.qc import SPIKE, VALID
from aqcast.features.timeutil import to_store
from aqcast.models.inputs import NoObservationsError
from aqcast.service.tables import DailyStat, MetForecast, Observation, Station

OBS = Observation.__table__
MET = MetForecast.__table__
STATIONS = Station.__table__
DAILY_STATS = DailyStat.__table__


def fetch_tuples(conn: Connection, stmt) -> list[tuple]:
    """All rows as the driver's plain tuples: building pandas frames from SQLAlchemy Row
    objects costs more than the query on a few hundred thousand rows. Only for columns
    whose driver values need no conversion (numbers, text, raw_time)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def raw_time(column: Column):
    """A DateTime column read without per-row conversion (SQLite hands back text, which
    pandas parses in one vectorised call; PostgreSQL hands back datetimes)."""
    return type_coerce(column, String).label(column.name)


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def store_times_utc(values: pd.Series) -> pd.Series:
    """Stored naive-UTC times (text on SQLite, datetimes on PostgreSQL) -> tz-aware UTC."""
    if len(values) and isinstance(values.iloc[0], str):
        parsed = pd.to_datetime(values, format=SQLITE_DATETIME, errors="coerce")
        if parsed.isna().any():  # written by another client in another text form
            parsed = pd.to_datetime(values, format="ISO8601")
    else:
        parsed = pd.to_datetime(values)
    return parsed.astype("datetime64[ns]").dt.tz_localize("UTC")


def _utc_column(values: pd.Series) -> pd.Series:
    return store_times_utc(values.reset_index(drop=True))


def list_stations(bind: Engine | Connection) -> pd.DataFrame:
    """All stored stations: ``station_id, station, name, name_zh, lat, lon, source``."""
    with connected(bind) as conn:
        cols = [STATIONS.c[c] for c in ("id", "code", "name", "name_zh", "lat", "lon", "source")]
        rows = [tuple(r) for r in conn.execute(select(*cols).order_by(STATIONS.c.code))]
    df = pd.DataFrame(
        rows, columns=["station_id", "station", "name", "name_zh", "lat", "lon", "source"]
    )
    return df.astype({"lat": float, "lon": float})


def station_ids(bind: Engine | Connection, codes: Iterable[str] | None = None) -> dict[str, int]:
    """Code -> id of the stored stations (all, or the given codes that exist)."""
    stmt = select(STATIONS.c.code, STATIONS.c.id)
    if codes is not None:
        stmt = stmt.where(STATIONS.c.code.in_(list(codes)))
    with connected(bind) as conn:
        return {code: sid for code, sid in conn.execute(stmt)}


def load_hourly(
    bind: Engine | Connection,
    start: datetime | pd.Timestamp | str,
    end: datetime | pd.Timestamp | str,
    stations: Iterable[str] | None = None,
    valid_only: bool = True,
    *,
    variables: Iterable[str] | None = None,
    with_flags: bool = False,
) -> pd.DataFrame:
    """Stored hourly observations with ``start <= time < end`` as a canonical frame.

    ``valid_only`` sets every value whose quality flag is not 0 to NaN. ``with_flags``
    adds the ``<var>_qc`` columns. Rows come sorted by station then time.
    """
    names = list(OBS_VARIABLES if variables is None else variables)
    unknown = [v for v in names if v not in OBS_VARIABLES]
    if unknown:
        raise KeyError(f"not stored hourly variables: {unknown}")
    # Flagged values become NULL in the query itself: half the columns to fetch and convert.
    filtered = valid_only and not with_flags
    cols = [OBS.c.station_id, raw_time(OBS.c.time)]
    for v in names:
        if filtered:
            cols.append(case((OBS.c[f"{v}_qc"] == VALID, OBS.c[v]), else_=None).label(v))
        else:
            cols += [OBS.c[v], OBS.c[f"{v}_qc"]]
    with connected(bind) as conn:
        ids = station_ids(conn, stations)
        stmt = (
            select(*cols)
            .where(OBS.c.time >= to_store(start), OBS.c.time < to_store(end))
            .order_by(OBS.c.station_id, OBS.c.time)
        )
        if stations is not None:
            stmt = stmt.where(OBS.c.station_id.in_(list(ids.values())))
        rows = fetch_tuples(conn, stmt)
    raw_cols = ["station_id", "time"] + (
        names if filtered else [c for v in names for c in (v, f"{v}_qc")]
    )
    raw = pd.DataFrame.from_records(rows, columns=raw_cols, coerce_float=True)
    code_of = {i: c for c, i in ids.items()}
    out = pd.DataFrame(
        {
            "station": raw["station_id"].map(code_of).astype(str),
            "time": store_times_utc(raw["time"]),
        }
    )
    for v in names:
        values = raw[v].to_numpy(dtype=float, na_value=np.nan)
        if filtered:
            out[v] = values
            continue
        flags = raw[f"{v}_qc"].to_numpy(dtype=np.int16) if len(raw) else np.zeros(0, np.int16)
        out[v] = np.where(flags == VALID, values, np.nan) if valid_only else values
        if with_flags:
            out[f"{v}_qc"] = flags
    order = np.lexsort((pd.DatetimeIndex(out["time"]).asi8, out["station"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    return out


def load_spike_flagged(
    bind: Engine | Connection,
    start: datetime | pd.Timestamp | str,
    end: datetime | pd.Timestamp | str,
) -> pd.DataFrame:
    """Stored values flagged as spikes with ``start <= time < end``: long frame
    ``station, time, variable, value`` (few rows). A spike is judged on the next hour,
    so a forecast issued before that hour arrived saw the value as valid."""
    from sqlalchemy import or_

    cols = [OBS.c.station_id, raw_time(OBS.c.time)]
    for v in OBS_VARIABLES:
        cols += [OBS.c[v], OBS.c[f"{v}_qc"]]
    with connected(bind) as conn:
        ids = station_ids(conn)
        stmt = select(*cols).where(
            OBS.c.time >= to_store(start),
            OBS.c.time < to_store(end),
            or_(*[OBS.c[f"{v}_qc"] == SPIKE for v in OBS_VARIABLES]),
        )
        rows = fetch_tuples(conn, stmt)
    names = ["station_id", "time"] + [c for v in OBS_VARIABLES for c in (v, f"{v}_qc")]
    raw = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    code_of = {i: c for c, i in ids.items()}
    parts = []
    for v in OBS_VARIABLES:
        sel = raw[raw[f"{v}_qc"] == SPIKE]
        parts.append(
            pd.DataFrame(
                {
                    "station": sel["station_id"].map(code_of).astype(str),
                    "time": store_times_utc(sel["time"]),
                    "variable": v,
                    "value": sel[v].astype(float),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def load_met_forecasts(
    bind: Engine | Connection,
    issued_before: datetime | pd.Timestamp | str,
    valid_from: datetime | pd.Timestamp | str,
    valid_to: datetime | pd.Timestamp | str,
    stations: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Stored weather forecasts valid in ``[valid_from, valid_to)``, keeping per station and
    valid time only the latest issue with ``issued_at < issued_before``.

    Returns ``station, issued_at, valid_at, <weather vars>`` (times tz-aware UTC).
    """
    names = MET_FORECAST_VARIABLES
    stmt = (
        select(
            STATIONS.c.code,
            raw_time(MET.c.issued_at),
            raw_time(MET.c.valid_at),
            *[MET.c[v] for v in names],
        )
        .join(STATIONS, STATIONS.c.id == MET.c.station_id)
        .where(
            MET.c.issued_at < to_store(issued_before),
            MET.c.valid_at >= to_store(valid_from),
            MET.c.valid_at < to_store(valid_to),
        )
    )
    if stations is not None:
        stmt = stmt.where(STATIONS.c.code.in_(list(stations)))
    with connected(bind) as conn:
        rows = fetch_tuples(conn, stmt)
    raw = pd.DataFrame(rows, columns=["station", "issued_at", "valid_at", *names])
    out = pd.DataFrame(
        {
            "station": raw["station"].astype(str),
            "issued_at": _utc_column(raw["issued_at"]),
            "valid_at": _utc_column(raw["valid_at"]),
        }
    )
    for v in names:
        out[v] = raw[v].to_numpy(dtype=float, na_value=np.nan)
    out = out.sort_values(["station", "valid_at", "issued_at"])
    # Weather and air-quality forecasts come from different runs and feeds (rows of their
    # own): each group takes the latest issue that has it.
    weather = [v for v in names if v not in AQ_FORECAST]
    aq = [v for v in names if v in AQ_FORECAST]
    keys = ["station", "valid_at"]
    has_wx = out[weather].notna().any(axis=1)
    has_aq = out[aq].notna().any(axis=1)
    latest_wx = out[has_wx | ~has_aq].drop_duplicates(keys, keep="last").drop(columns=aq)
    latest_aq = out[has_aq].drop_duplicates(keys, keep="last")[[*keys, *aq]]
    if latest_aq.empty:
        merged = latest_wx.assign(**{v: np.nan for v in aq})
    else:
        merged = latest_wx.merge(latest_aq, on=keys, how="outer")
        only_aq = merged["issued_at"].isna()
        if only_aq.any():
            aq_issue = out[has_aq].drop_duplicates(keys, keep="last").set_index(keys)["issued_at"]
            idx = pd.MultiIndex.from_frame(merged.loc[only_aq, keys])
            merged.loc[only_aq, "issued_at"] = aq_issue.reindex(idx).to_numpy()
    merged = merged[["station", "issued_at", "valid_at", *names]]
    return merged.sort_values(["station", "valid_at"]).reset_index(drop=True)


def load_daily(
    bind: Engine | Connection,
    start: date,
    end: date,
    *,
    area: str | None = None,
    stations: Iterable[str] | None = None,
    variables: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Stored daily statistics for local days ``start <= day <= end``.

    With ``area`` the area's rows; with ``stations`` those stations' rows; with neither,
    all rows. Returns ``area, station, day, variable, value, n_valid`` (``station`` is ""
    on area rows, ``area`` is "" on station rows).
    """
    names = list(DAILY if variables is None else variables)
    stmt = (
        select(
            DAILY_STATS.c.area,
            STATIONS.c.code,
            DAILY_STATS.c.day,
            DAILY_STATS.c.variable,
            DAILY_STATS.c.value,
            DAILY_STATS.c.n_valid,
        )
        .outerjoin(STATIONS, STATIONS.c.id == DAILY_STATS.c.station_id)
        .where(
            DAILY_STATS.c.day >= start,
            DAILY_STATS.c.day <= end,
            DAILY_STATS.c.variable.in_(names),
        )
        .order_by(DAILY_STATS.c.area, STATIONS.c.code, DAILY_STATS.c.day)
    )
    if area is not None:
        stmt = stmt.where(DAILY_STATS.c.area == area, DAILY_STATS.c.station_id.is_(None))
    if stations is not None:
        stmt = stmt.where(STATIONS.c.code.in_(list(stations)))
    with connected(bind) as conn:
        rows = fetch_tuples(conn, stmt)
    out = pd.DataFrame(rows, columns=["area", "station", "day", "variable", "value", "n_valid"])
    out["station"] = out["station"].fillna("").astype(str)
    out["area"] = out["area"].fillna("").astype(str)
    out["value"] = out["value"].astype(float)
    # SQLite hands dates back as text through the driver.
    out["day"] = pd.to_datetime(out["day"].astype(str), format="%Y-%m-%d").dt.date
    return out


def first_observation_day(bind: Engine | Connection, tz: str) -> date:
    """The local day (in ``tz``) of the earliest stored observation; raises
    NoObservationsError when nothing is stored."""
    with connected(bind) as conn:
        first = conn.execute(select(func.min(Observation.time))).scalar()
    if first is None:
        raise NoObservationsError("no observations stored (run `aqcast ingest` first)")
    return pd.Timestamp(first).tz_localize("UTC").tz_convert(tz).date()


def observed_area_o3_hours(
    bind: Engine | Connection,
    area: str,
    day: date,
    tz: str,
    *,
    until: datetime | None = None,
    areas_file=None,
) -> list[float]:
    """The area's observed O3 [ug/m3] of local ``day``, one value per complete local hour
    from 0 (NaN where no station measured), up to ``until`` (aware; default: the whole
    day). The area's value is the mean concentration over its stations, hour by hour."""
    from zoneinfo import ZoneInfo

    from aqcast.configuration import area_stations, load_areas
    from aqcast.features.daily import area_hourly_mean
    from aqcast.service.configured import configured_areas

    zone = ZoneInfo(tz)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = start + pd.Timedelta(days=1)
    if until is not None:
        end = min(end, pd.Timestamp(until).floor("h").to_pydatetime())
    n_hours = max(0, int((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() // 3600))
    if n_hours == 0:
        return []
    hourly = load_hourly(bind, start, end, variables=["o3"])
    if hourly.empty:
        return [float("nan")] * n_hours
    areas = load_areas(areas_file) if areas_file is not None else configured_areas()
    members = area_stations(area, sorted(hourly["station"].unique()), areas)
    if not members:
        return [float("nan")] * n_hours
    mean = area_hourly_mean(hourly, members)
    local_hour = pd.to_datetime(mean["time"]).dt.tz_convert(zone).dt.hour.to_numpy()
    by_hour = dict(zip(local_hour, mean["o3"].to_numpy(dtype=float), strict=True))
    return [float(by_hour.get(h, float("nan"))) for h in range(n_hours)]
