"""Staggered-operation advisories (错峰生产/作业): alert events of type ``advisory``,
one per sector and day, with the window to avoid in the payload."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from aqcast.service.api.deps import ReaderKey, SessionDep
from aqcast.service.api.errors import error_responses
from aqcast.service.api.events import EventPublic, event_public, filter_events
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.tables import AlertEvent

router = APIRouter(prefix="/v1/advisories", tags=["advisories"])
ADVISORY_TYPE = "advisory"


class AdvisoryPublic(EventPublic):
    """An advisory event; ``payload.sector`` names the sector, the window is in the payload."""


@router.get(
    "",
    response_model=Page[AdvisoryPublic],
    summary="Staggered-operation advisories",
    description="Advisories by issue date, sector and area, newest first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_advisories(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    date: Annotated[date | None, Query(description="Issue date.")] = None,
    sector: Annotated[str | None, Query(pattern=r"^[a-z0-9_\-]{1,64}$")] = None,
    area: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    stmt = filter_events(select(AlertEvent), type=ADVISORY_TYPE, area=area, issue_date=date)
    if sector is not None:
        stmt = stmt.where(AlertEvent.payload["sector"].as_string() == sector)
    rows, total = paginate(session, stmt, page)
    return make_page([event_public(r) for r in rows], total, page)
