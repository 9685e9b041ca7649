"""Staggered-operation advisories (错峰生产/作业): alert events of type ``advisory``,
one per sector and day, with the window to avoid in the payload."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from aqcast.features.places import DEFAULT_AREA
from aqcast.service.acknowledgements import AckError, ack_public, acknowledge, advisory_event
from aqcast.service.acknowledgements import coverage as day_coverage
from aqcast.service.api.caching import wants_csv
from aqcast.service.api.deps import NowDep, ReaderKey, SessionDep, require_role
from aqcast.service.api.enterprises import AckPublic
from aqcast.service.api.errors import ApiError, error_responses
from aqcast.service.api.events import EventPublic, event_public, filter_events
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.tables import AlertEvent, ApiKey, Enterprise

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


# --- acknowledgements and coverage -----------------------------------------------------------

AckKey = Annotated[ApiKey, Depends(require_role("enterprise", "officer", "dispatcher", "admin"))]
Hours = Annotated[list[int], Field(min_length=2, max_length=2)]


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enterprise_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="With an officer, dispatcher or admin key: the enterprise that "
        "confirmed by telephone (recorded `via: phone`). An enterprise key leaves it out.",
    )
    moved_to: list[Hours] | None = Field(
        default=None,
        max_length=8,
        description="The hours the work was moved to: `[[start, end], ...]` local clock "
        "hours (end exclusive; start > end wraps midnight).",
        examples=[[[5, 9], [16, 20]]],
    )


class SectorCoverage(BaseModel):
    registered: int
    notified: int = Field(description="A message to them was queued.")
    delivered: int = Field(description="Their receiver or robot accepted it.")
    acknowledged: int
    pending: list[dict] = Field(description="Not yet confirmed: `{id, name, contact}` each.")


class Coverage(BaseModel):
    date: date
    area: str
    sectors: dict[str, SectorCoverage]


@router.get(
    "/coverage",
    response_model=Coverage,
    summary="Who was told, who confirmed",
    description=(
        "Per sector, for the advisories of issue date `date` in `area`: the registered "
        "enterprises, those notified, those whose message was delivered, those that "
        "acknowledged, and the ones not yet confirmed (to call). Sectors without an "
        "advisory that day list nobody as pending."
    ),
    responses=error_responses(401, 403, 422),
)
def coverage(
    session: SessionDep,
    _key: ReaderKey,
    date: Annotated[date, Query(description="Issue date.")],
    area: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] = DEFAULT_AREA,
) -> dict:
    from aqcast.service.configured import current_campaign

    return day_coverage(session, date, area, list(current_campaign().sectors))


@router.post(
    "/{event_id}/ack",
    response_model=AckPublic,
    status_code=201,
    summary="Acknowledge an advisory",
    description=(
        "For the enterprise the key is bound to, or (officer, dispatcher, admin keys) for "
        "`enterprise_id`, confirmed by telephone; optionally with the hours the work was "
        "moved to. Idempotent: again answers 200 with the first acknowledgement (new "
        "hours, when given, replace the old)."
    ),
    responses={
        200: {"description": "Already acknowledged."},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def ack(
    response: Response,
    session: SessionDep,
    key: AckKey,
    now: NowDep,
    event_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")],
    body: Annotated[AckBody | None, Body()] = None,
) -> dict:
    asked = body.enterprise_id if body is not None else None
    if key.role == "enterprise":
        if key.enterprise_id is None:
            raise ApiError(403, "this key is not bound to an enterprise")
        if asked is not None and asked != key.enterprise_id:
            raise ApiError(403, "an enterprise key acknowledges for its own enterprise only")
        enterprise, via = session.get(Enterprise, key.enterprise_id), "api"
    else:  # the dispatch team records a confirmation it got on the telephone
        if asked is None:
            raise ApiError(
                422,
                "enterprise_id: name the enterprise that confirmed",
                detail=[{"field": "enterprise_id", "message": "required with this role"}],
            )
        enterprise, via = session.get(Enterprise, asked), "phone"
        if enterprise is None:
            raise ApiError(404, f"enterprise {asked} not found")
    if enterprise is None:
        raise ApiError(403, "this key is not bound to an enterprise")
    try:
        event = advisory_event(session, event_id)
        row, created = acknowledge(
            session,
            event,
            enterprise,
            now=now,
            via=via,
            key_id=key.id,
            moved_to=body.moved_to if body is not None else None,
        )
    except AckError as exc:
        raise ApiError(exc.status, str(exc)) from None
    if not created:
        response.status_code = 200
    return ack_public(row, event)
