"""Heavy-pollution warnings: the level in force per area, and the history of changes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from aqcast.service.api.deps import ReaderKey, SessionDep
from aqcast.service.api.errors import error_responses
from aqcast.service.api.events import EventPublic, event_public, filter_events
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.tables import AlertEvent, WarningState

router = APIRouter(prefix="/v1/warnings", tags=["warnings"])
NO_WARNING = "none"


class WarningStatePublic(BaseModel):
    area: str
    level: str = Field(description="blue, yellow, orange or red (as the rule set defines).")
    since: date | None
    until: date | None
    updated_on: date | None
    detail: dict[str, Any]


class ActiveWarnings(BaseModel):
    items: list[WarningStatePublic]


def active_warnings(session, area: str | None = None) -> list[WarningState]:  # noqa: ANN001
    stmt = select(WarningState).where(WarningState.level != NO_WARNING, WarningState.level != "")
    if area is not None:
        stmt = stmt.where(WarningState.area == area)
    return list(session.scalars(stmt.order_by(WarningState.area)))


def warning_public(row: WarningState) -> dict:
    return {
        "area": row.area,
        "level": row.level,
        "since": row.since,
        "until": row.until,
        "updated_on": row.updated_on,
        "detail": row.detail or {},
    }


@router.get(
    "",
    response_model=ActiveWarnings,
    summary="Warnings in force",
    description="The heavy-pollution warning in force per area (areas without one are left "
    "out). Not paginated: one row per configured area at most.",
    responses=error_responses(401, 403, 422),
)
def list_active(
    session: SessionDep,
    _key: ReaderKey,
    area: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    return {"items": [warning_public(r) for r in active_warnings(session, area)]}


@router.get(
    "/history",
    response_model=Page[EventPublic],
    summary="Warning history",
    description="Every warning issued, changed or lifted (alert events whose type starts with "
    "`warning`), newest first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def history(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    area: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[date | None, Query(description="Issue dates from.")] = None,
    end: Annotated[date | None, Query(description="Issue dates until.")] = None,
) -> dict:
    stmt = filter_events(
        select(AlertEvent).where(AlertEvent.type.startswith("warning")),
        area=area,
        start=start,
        end=end,
    )
    rows, total = paginate(session, stmt, page)
    return make_page([event_public(r) for r in rows], total, page)
