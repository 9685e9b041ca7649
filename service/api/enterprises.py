"""The enterprise registry (``/v1/enterprises``) and each enterprise's acknowledgements.

Officer and admin keys write; officer, dispatcher and admin keys read every enterprise.
An enterprise key reads only the enterprise it is bound to: every other id answers 404
exactly like an id that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.acknowledgements import ack_public, enterprise_acks
from aqcast.service.api.deps import NowDep, SessionDep, SettingsDep, require_role
from aqcast.service.api.errors import ApiError, error_responses, not_found
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page
from aqcast.service.auth import READ_ROLES
from aqcast.service.enterprises import (
    FIELD_LIMITS,
    AreaLocator,
    EnterpriseError,
    check_credit_code,
    check_sectors,
    enterprise_public,
    list_enterprises,
)
from aqcast.service.tables import ApiKey, Enterprise

router = APIRouter(prefix="/v1/enterprises", tags=["enterprises"])

ViewerKey = Annotated[ApiKey, Depends(require_role(*READ_ROLES, "enterprise"))]
WriterKey = Annotated[ApiKey, Depends(require_role("officer", "admin"))]
EnterpriseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SectorKey = Annotated[str, Field(pattern=r"^[a-z0-9_\-]{1,64}$")]
NoControl = r"^[^\x00-\x1f]+$"


class EnterpriseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=FIELD_LIMITS["name"], pattern=NoControl)
    credit_code: str | None = Field(
        default=None, description="统一社会信用代码 (18 characters, GB 32100-2015)."
    )
    sectors: list[SectorKey] = Field(min_length=1, description="The campaign's sector keys.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    street: str = Field(min_length=1, max_length=FIELD_LIMITS["street"], pattern=NoControl)
    contact: str = Field(min_length=1, max_length=FIELD_LIMITS["contact"], pattern=NoControl)


class EnterpriseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(
        default=None, min_length=1, max_length=FIELD_LIMITS["name"], pattern=NoControl
    )
    credit_code: str | None = None
    sectors: list[SectorKey] | None = Field(default=None, min_length=1)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    street: str | None = Field(
        default=None, min_length=1, max_length=FIELD_LIMITS["street"], pattern=NoControl
    )
    contact: str | None = Field(
        default=None, min_length=1, max_length=FIELD_LIMITS["contact"], pattern=NoControl
    )


class EnterprisePublic(BaseModel):
    id: int
    name: str
    credit_code: str | None
    sectors: list[str]
    lat: float
    lon: float
    street: str
    contact: str
    area: str = Field(description="The area whose advisories it follows (from its location).")
    created_at: datetime
    updated_at: datetime


class AckPublic(BaseModel):
    event_id: str
    enterprise_id: int
    sector: str | None
    issue_date: date | None
    acknowledged_at: datetime
    updated_at: datetime
    via: str = Field(
        description="`api` (an enterprise key), `link` (the message's link) or `phone` "
        "(recorded by the dispatch team)."
    )
    moved_to: list[list[int]] = Field(description="Hours the work was moved to, [start, end].")


def _public(row: Enterprise) -> dict:
    out = enterprise_public(row)
    out["created_at"], out["updated_at"] = (
        as_utc_or_none(row.created_at),
        as_utc_or_none(row.updated_at),
    )
    return out


def _visible(session: SessionDep, key: ApiKey, enterprise_id: int) -> Enterprise:
    row = session.get(Enterprise, enterprise_id)
    if row is None or (key.role == "enterprise" and key.enterprise_id != row.id):
        raise not_found(f"enterprise {enterprise_id}")
    return row


def _unprocessable(field: str, message: str) -> ApiError:
    return ApiError(422, f"{field}: {message}", detail=[{"field": field, "message": message}])


def _checked(session: SessionDep, settings: SettingsDep, values: dict, own_id: int | None):
    from aqcast.service.configured import current_campaign

    if values.get("sectors") is not None:
        try:
            values["sectors"] = check_sectors(values["sectors"], list(current_campaign().sectors))
        except EnterpriseError as exc:
            raise _unprocessable("sectors", f"{values['sectors']} {exc}") from None
    code = values.get("credit_code")
    if code is not None:
        code = code.strip() or None
        if code is not None:
            try:
                code = check_credit_code(code)
            except EnterpriseError as exc:
                raise _unprocessable("credit_code", f"{values['credit_code']!r} {exc}") from None
            other = session.scalar(select(Enterprise).where(Enterprise.credit_code == code))
            if other is not None and other.id != own_id:
                raise ApiError(409, f"credit code {code} is already enterprise {other.id}")
        values["credit_code"] = code
    for name in ("name", "street", "contact"):
        if values.get(name) is not None:
            values[name] = values[name].strip()
            if not values[name]:
                raise _unprocessable(name, "is empty")
    return values


@router.get(
    "",
    response_model=Page[EnterprisePublic],
    summary="Registered enterprises",
    description="By id; an enterprise key sees only its own. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_(
    session: SessionDep,
    key: ViewerKey,
    page: PageDep,
    sector: Annotated[str | None, Query(pattern=r"^[a-z0-9_\-]{1,64}$")] = None,
    area: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    only = None
    if key.role == "enterprise":
        only = key.enterprise_id if key.enterprise_id is not None else -1
    rows, total = list_enterprises(
        session, sector=sector, area=area, only_id=only, limit=page.limit, offset=page.offset
    )
    return make_page([_public(r) for r in rows], total, page)


@router.post(
    "",
    response_model=EnterprisePublic,
    status_code=201,
    summary="Register an enterprise",
    description="Officer and admin keys. Its area follows from its location.",
    responses=error_responses(401, 403, 409, 422),
)
def create(
    body: EnterpriseCreate,
    session: SessionDep,
    settings: SettingsDep,
    _key: WriterKey,
    now: NowDep,
) -> dict:
    values = _checked(session, settings, body.model_dump(), None)
    locate = AreaLocator(session, settings.areas_file)
    row = Enterprise(
        **values, area=locate(values["lat"], values["lon"]), created_at=now, updated_at=now
    )
    session.add(row)
    session.flush()
    return _public(row)


@router.get(
    "/{enterprise_id}",
    response_model=EnterprisePublic,
    summary="One enterprise",
    responses=error_responses(401, 403, 404, 422),
)
def get(enterprise_id: EnterpriseId, session: SessionDep, key: ViewerKey) -> dict:
    return _public(_visible(session, key, enterprise_id))


@router.patch(
    "/{enterprise_id}",
    response_model=EnterprisePublic,
    summary="Change an enterprise",
    description="Only the fields given change; a new location recomputes its area.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def update(
    enterprise_id: EnterpriseId,
    body: EnterpriseUpdate,
    session: SessionDep,
    settings: SettingsDep,
    _key: WriterKey,
    now: NowDep,
) -> dict:
    row = session.get(Enterprise, enterprise_id)
    if row is None:
        raise not_found(f"enterprise {enterprise_id}")
    values = _checked(session, settings, body.model_dump(exclude_unset=True), row.id)
    for k, v in values.items():
        if v is None and k != "credit_code":
            continue
        setattr(row, k, v)
    if "lat" in values or "lon" in values:
        row.area = AreaLocator(session, settings.areas_file)(row.lat, row.lon)
    row.updated_at = now
    return _public(row)


@router.get(
    "/{enterprise_id}/acknowledgements",
    response_model=Page[AckPublic],
    summary="An enterprise's acknowledgements",
    description="Newest first; an enterprise key sees only its own. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 404, 422),
)
def acknowledgements(
    enterprise_id: EnterpriseId, session: SessionDep, key: ViewerKey, page: PageDep
) -> dict:
    row = _visible(session, key, enterprise_id)
    pairs = enterprise_acks(session, row.id)
    chunk = pairs[page.offset : page.offset + page.limit]
    return make_page([ack_public(a, e) for a, e in chunk], len(pairs), page)
