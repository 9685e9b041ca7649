"""Staggered-operation advisories (错峰生产/作业): alert events of type ``advisory``,
one per sector and day, with the window to avoid in the payload."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from aqcast.service.api.caching import wants_csv
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
    description="Advisories by issue date, sector and area, newest first; CSV with "
    "`format=csv` or `Accept: text/csv` (one line per advisory). " + PAGINATION_DOC,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 422),
    },
)
def list_advisories(
    request: Request,
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    date: Annotated[date | None, Query(description="Issue date.")] = None,
    sector: Annotated[str | None, Query(pattern=r"^[a-z0-9_\-]{1,64}$")] = None,
    area: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,  # noqa: A002
) -> dict | Response:
    stmt = filter_events(select(AlertEvent), type=ADVISORY_TYPE, area=area, issue_date=date)
    if sector is not None:
        stmt = stmt.where(AlertEvent.payload["sector"].as_string() == sector)
    rows, total = paginate(session, stmt, page)
    if wants_csv(request, format):
        return Response(
            advisories_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"X-Total-Count": str(total)},
        )
    return make_page([event_public(r) for r in rows], total, page)


CSV_COLUMNS = [
    "id",
    "issue_date",
    "area",
    "sector",
    "sector_name_zh",
    "sector_name_en",
    "avoid_from_hour",
    "avoid_to_hour",
    "move_to",
    "o3_mda8_q50_ugm3",
    "p_exceed",
]


def advisories_csv(rows: list[AlertEvent]) -> bytes:
    """One line per advisory: the sector, the local hours to avoid and where to move."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        p = r.payload or {}
        name = p.get("name") if isinstance(p.get("name"), dict) else {}
        avoid = list(p.get("avoid_hours") or [None, None])[:2]
        moves = " ".join(
            "{}-{}".format(*m["hours"]) for m in p.get("move_to") or [] if m.get("hours")
        )
        writer.writerow(
            [
                r.id,
                r.issue_date.isoformat(),
                r.area,
                p.get("sector", ""),
                name.get("zh", ""),
                name.get("en", ""),
                *avoid,
                moves,
                p.get("o3_mda8_q50_ugm3", ""),
                p.get("p_exceed", ""),
            ]
        )
    return buf.getvalue().encode("utf-8")
