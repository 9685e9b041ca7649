"""Stations and their stored hourly observations (values with quality flags)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from aqcast.features.nomenclature import HOURLY, OBS_VARIABLES
from aqcast.features.timeutil import as_utc_or_none, to_store_or_none
from aqcast.service.api.deps import ReaderKey, SessionDep
from aqcast.service.api.errors import ApiError, error_responses, not_found
from aqcast.service.api.pagination import (
    PAGINATION_DOC,
    Page,
    PageDep,
    make_page,
    paginate,
)
from aqcast.service.tables import Observation, Station

router = APIRouter(tags=["stations"])
CODE_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class StationPublic(BaseModel):
    code: str
    name: str
    name_zh: str | None
    lat: float | None = Field(description="[deg north]")
    lon: float | None = Field(description="[deg east]")
    source: str
    city: str | None = Field(None, description="The city it reports under (e.g. 天津市).")
    background: bool | None = Field(
        None, description="A background station (对照点); null where the source does not say."
    )


class ObservationPublic(BaseModel):
    station: str
    time: datetime = Field(description="Start of the hour, UTC.")
    values: dict[str, float | None] = Field(
        description="Value per variable in its unit: "
        + ", ".join(f"{k} [{HOURLY[k]}]" for k in OBS_VARIABLES)
    )
    qc: dict[str, int] = Field(
        description="Quality flag per variable: 0 valid, 1 out of range, 2 stuck, 3 spike, "
        "9 missing."
    )


def station_public(row: Station) -> dict:
    return {
        "code": row.code,
        "name": row.name,
        "name_zh": row.name_zh,
        "lat": row.lat,
        "lon": row.lon,
        "source": row.source or "",
        "city": row.city,
        "background": row.background,
    }


def _finite(v: float | None) -> float | None:
    return None if v is None or v != v else float(v)


@router.get(
    "/v1/stations",
    response_model=Page[StationPublic],
    summary="Stations",
    description="Monitoring stations by code. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_stations(session: SessionDep, _key: ReaderKey, page: PageDep) -> dict:
    rows, total = paginate(session, select(Station).order_by(Station.code), page)
    return make_page([station_public(r) for r in rows], total, page)


@router.get(
    "/v1/stations/{code}",
    response_model=StationPublic,
    summary="One station",
    responses=error_responses(401, 403, 404, 422),
)
def get_station(
    session: SessionDep, _key: ReaderKey, code: Annotated[str, Path(pattern=CODE_PATTERN)]
) -> dict:
    row = session.scalars(select(Station).where(Station.code == code)).first()
    if row is None:
        raise not_found(f"station {code}")
    return station_public(row)


@router.get(
    "/v1/observations",
    response_model=Page[ObservationPublic],
    summary="Hourly observations",
    description=(
        "Stored hourly observations by station and time range (`start` inclusive, `end` "
        "exclusive; ISO 8601, with an offset or meaning UTC), oldest first. " + PAGINATION_DOC
    ),
    responses=error_responses(401, 403, 404, 422),
)
def list_observations(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    station: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> dict:
    start_utc, end_utc = to_store_or_none(start), to_store_or_none(end)
    if start_utc is not None and end_utc is not None and end_utc <= start_utc:
        raise ApiError(
            422,
            "invalid input: end",
            detail=[
                {
                    "loc": ["query", "end"],
                    "field": "end",
                    "message": "end must be after start",
                    "type": "value_error",
                    "input": str(end),
                }
            ],
        )
    stmt = select(Observation, Station.code).join(Station, Station.id == Observation.station_id)
    if station is not None:
        if session.scalars(select(Station.id).where(Station.code == station)).first() is None:
            raise not_found(f"station {station}")
        stmt = stmt.where(Station.code == station)
    if start_utc is not None:
        stmt = stmt.where(Observation.time >= start_utc)
    if end_utc is not None:
        stmt = stmt.where(Observation.time < end_utc)
    stmt = stmt.order_by(Observation.time, Station.code)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.execute(stmt.limit(page.limit).offset(page.offset)).all()
    items = [
        {
            "station": code,
            "time": as_utc_or_none(obs.time),
            "values": {v: _finite(getattr(obs, v)) for v in OBS_VARIABLES},
            "qc": {v: int(getattr(obs, f"{v}_qc")) for v in OBS_VARIABLES},
        }
        for obs, code in rows
    ]
    return make_page(items, int(total or 0), page)
