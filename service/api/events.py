"""Alert events: every prompt, advisory, warning change and critical-value crossing issued."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, select

from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.api.deps import ReaderKey, SessionDep
from aqcast.service.api.errors import error_responses, not_found
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.tables import AlertEvent

router = APIRouter(prefix="/v1/events", tags=["events"])
EVENT_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
# Test events (POST /v1/subscriptions/{id}/test) belong to one subscriber: never public.
PRIVATE_TYPES = ("test",)


def public_events() -> Select:
    return select(AlertEvent).where(AlertEvent.type.not_in(PRIVATE_TYPES))


class EventPublic(BaseModel):
    id: str = Field(description="Stable id; the same alert decided twice has one id.")
    type: str = Field(description="e.g. prompt, advisory, warning, critical_value.")
    area: str
    level: str
    issue_date: date
    start_date: date
    end_date: date
    created_at: datetime
    payload: dict[str, Any]


def event_public(row: AlertEvent) -> dict:
    return {
        "id": row.id,
        "type": row.type,
        "area": row.area,
        "level": row.level or "",
        "issue_date": row.issue_date,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "created_at": as_utc_or_none(row.created_at),
        "payload": row.payload or {},
    }


def filter_events(
    stmt: Select,
    *,
    type: str | None = None,  # noqa: A002
    area: str | None = None,
    issue_date: date | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Select:
    if type is not None:
        stmt = stmt.where(AlertEvent.type == type)
    if area is not None:
        stmt = stmt.where(AlertEvent.area == area)
    if issue_date is not None:
        stmt = stmt.where(AlertEvent.issue_date == issue_date)
    if start is not None:
        stmt = stmt.where(AlertEvent.issue_date >= start)
    if end is not None:
        stmt = stmt.where(AlertEvent.issue_date <= end)
    return stmt.order_by(AlertEvent.issue_date.desc(), AlertEvent.created_at.desc(), AlertEvent.id)


@router.get(
    "",
    response_model=Page[EventPublic],
    summary="Alert events",
    description="Alert events, newest issue date first, filtered by type, area and date. "
    + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_events(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    type: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,  # noqa: A002
    area: Annotated[str | None, Query(max_length=64)] = None,
    issue_date: Annotated[date | None, Query(description="Exactly this issue date.")] = None,
    start: Annotated[date | None, Query(description="Issue dates from.")] = None,
    end: Annotated[date | None, Query(description="Issue dates until.")] = None,
) -> dict:
    stmt = filter_events(
        public_events(), type=type, area=area, issue_date=issue_date, start=start, end=end
    )
    rows, total = paginate(session, stmt, page)
    return make_page([event_public(r) for r in rows], total, page)


@router.get(
    "/{event_id}",
    response_model=EventPublic,
    summary="One alert event",
    responses=error_responses(401, 403, 404, 422),
)
def get_event(
    session: SessionDep,
    _key: ReaderKey,
    event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)],
) -> dict:
    row = session.get(AlertEvent, event_id)
    if row is None or row.type in PRIVATE_TYPES:
        raise not_found(f"event {event_id}")
    return event_public(row)
