"""API key management (admin only). The plain key is returned once, on creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.api.deps import AdminKey, NowDep, SessionDep
from aqcast.service.api.errors import ApiError, error_responses, not_found
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.auth import KeyBindingError, create_key, revoke_key
from aqcast.service.tables import ApiKey, Enterprise

router = APIRouter(prefix="/v1/keys", tags=["keys"])
Role = Literal["officer", "dispatcher", "enterprise", "admin"]
KeyName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: KeyName = Field(description="Who holds the key (a person, a team, an enterprise).")
    role: Role
    enterprise_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Binds an `enterprise` key to this registered enterprise.",
    )


class KeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: KeyName


class KeyPublic(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="First characters of the key, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None
    enterprise_id: int | None = None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself. Shown only in this response: store it now.")


def key_public(row: ApiKey) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": as_utc_or_none(row.created_at),
        "revoked_at": as_utc_or_none(row.revoked_at),
        "enterprise_id": row.enterprise_id,
    }


KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _get(session: SessionDep, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise not_found(f"key {key_id}")
    return row


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    summary="Create a key",
    description="`enterprise_id` binds an enterprise key: 404 for an unknown enterprise, "
    "409 for another role.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def create(body: KeyCreate, session: SessionDep, _admin: AdminKey, now: NowDep) -> dict:
    if body.enterprise_id is not None and session.get(Enterprise, body.enterprise_id) is None:
        raise not_found(f"enterprise {body.enterprise_id}")
    try:
        row, key = create_key(
            session, name=body.name, role=body.role, now=now, enterprise_id=body.enterprise_id
        )
    except KeyBindingError as exc:  # a role other than enterprise
        raise ApiError(409, str(exc)) from None
    return {**key_public(row), "key": key}


@router.get(
    "",
    response_model=Page[KeyPublic],
    summary="List keys",
    description="Keys by id (never the keys themselves). " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_(
    session: SessionDep,
    _admin: AdminKey,
    page: PageDep,
    include_revoked: Annotated[bool, Query()] = True,
) -> dict:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    rows, total = paginate(session, stmt, page)
    return make_page([key_public(r) for r in rows], total, page)


@router.get(
    "/{key_id}",
    response_model=KeyPublic,
    summary="One key",
    responses=error_responses(401, 403, 404, 422),
)
def get(key_id: KeyId, session: SessionDep, _admin: AdminKey) -> dict:
    return key_public(_get(session, key_id))


@router.patch(
    "/{key_id}",
    response_model=KeyPublic,
    summary="Rename a key",
    responses=error_responses(401, 403, 404, 422),
)
def update(key_id: KeyId, body: KeyUpdate, session: SessionDep, _admin: AdminKey) -> dict:
    row = _get(session, key_id)
    row.name = body.name
    return key_public(row)


@router.delete(
    "/{key_id}",
    response_model=KeyPublic,
    summary="Revoke a key",
    description="Revokes the key at once (idempotent). An admin cannot revoke its own key.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def revoke(key_id: KeyId, session: SessionDep, admin: AdminKey, now: NowDep) -> dict:
    if key_id == admin.id:
        raise ApiError(409, "an admin cannot revoke the key it is using")
    row = revoke_key(session, key_id, now=now)
    if row is None:
        raise not_found(f"key {key_id}")
    return key_public(row)
