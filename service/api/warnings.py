"""Heavy-pollution warnings: the level in force per area, and the history of changes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from aqcast.features.places import DEFAULT_AREA
from aqcast.service.api.deps import NowDep, ReaderKey, SessionDep, SettingsDep, require_role
from aqcast.service.api.errors import ApiError, error_responses
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


class OfficialPublic(BaseModel):
    id: int
    area: str
    level: str = Field(description="The city's level: blue, yellow, orange or red.")
    response: str = Field(description="Emergency response grade: III, II or I.")
    start: str = Field(description="Start, local time with offset.")
    start_hour: str = Field(description="Start hour, local (YYYY-MM-DD HH:00).")
    end: str | None
    document: str
    issued_by: str
    cleared_at: str | None


class ActiveWarnings(BaseModel):
    items: list[WarningStatePublic]
    official: list[OfficialPublic] = Field(
        default_factory=list,
        description="The city's warnings in force, which the district carries out; the "
        "items above are then the district's consultation suggestion (会商建议).",
    )


AREA_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class OfficialCreate(BaseModel):
    area: str = Field(DEFAULT_AREA, max_length=64, pattern=AREA_PATTERN)
    level: Literal["blue", "yellow", "orange", "red"]
    response: Literal["III", "II", "I"]
    start: datetime = Field(description="Start; local time when no offset is given.")
    end: datetime | None = Field(None, description="End; unset: until cleared.")
    document: str = Field("", max_length=2000, description="The city's notice (文号).")


OfficerKey = Annotated[Any, Depends(require_role("officer", "admin"))]


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
    now: NowDep,
    area: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    from aqcast.service.official import official_dict, officials_in_force
    from aqcast.service.settings import get_settings

    tz = get_settings().tz
    return {
        "items": [warning_public(r) for r in active_warnings(session, area)],
        "official": [official_dict(o, tz) for o in officials_in_force(session, now, area)],
    }


@router.post(
    "/official",
    response_model=OfficialPublic,
    status_code=201,
    summary="Record the city's warning",
    description="The heavy-pollution warning the city (or region) issued and the district "
    "carries out (按照区域应急联动要求): level, response grade, start and end, the notice. "
    "It supersedes the area's earlier one and is sent to webhook subscribers of `warning` "
    "events (payload `source: official`, with a CAP 1.2 message). Officers and admins. "
    "An end that is not after the start conflicts with it (409).",
    responses=error_responses(401, 403, 409, 422),
)
def set_official_warning(
    body: OfficialCreate, session: SessionDep, key: OfficerKey, settings: SettingsDep, now: NowDep
) -> dict:
    from aqcast.service.official import (
        OfficialPeriodError,
        OfficialWarningError,
        cap_context,
        official_dict,
        set_official,
    )

    try:
        row = set_official(
            session,
            **body.model_dump(),
            issued_by=f"api:{key.name}",
            now=now,
            cap=cap_context(session, body.area),
        )
    except OfficialPeriodError as exc:
        raise ApiError(409, str(exc)) from None
    except OfficialWarningError as exc:
        raise ApiError(422, str(exc)) from None
    return official_dict(row, settings.tz)


@router.delete(
    "/official",
    response_model=OfficialPublic,
    summary="Lift the city's warning",
    description="Records that the city lifted its warning for the area; sent to webhook "
    "subscribers like the warning itself (CAP Cancel). Officers and admins.",
    responses=error_responses(401, 403, 404, 422),
)
def clear_official_warning(
    session: SessionDep,
    key: OfficerKey,
    settings: SettingsDep,
    now: NowDep,
    area: Annotated[str, Query(max_length=64, pattern=AREA_PATTERN)] = DEFAULT_AREA,
) -> dict:
    from aqcast.service.official import cap_context, clear_official, official_dict

    row = clear_official(
        session, area=area, cleared_by=f"api:{key.name}", now=now, cap=cap_context(session, area)
    )
    if row is None:
        raise ApiError(404, f"no official warning recorded for area {area!r}")
    return official_dict(row, settings.tz)


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
