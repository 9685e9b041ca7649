"""Trained model versions (the registry), newest first; one is the active one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.api.deps import ReaderKey, SessionDep
from aqcast.service.api.errors import error_responses, not_found
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.tables import ModelVersion

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelVersionPublic(BaseModel):
    version: str
    created_at: datetime
    train_start: date = Field(description="First day of the training data.")
    train_end: date = Field(description="Last day of the training data.")
    active: bool
    features: list[Any]
    params: dict[str, Any]
    metrics: dict[str, Any] = Field(description="Validation metrics.")
    importance: dict[str, Any]


def model_public(row: ModelVersion) -> dict:
    return {
        "version": row.version,
        "created_at": as_utc_or_none(row.created_at),
        "train_start": row.train_start,
        "train_end": row.train_end,
        "active": bool(row.active),
        "features": list(row.features or []),
        "params": row.params or {},
        "metrics": row.metrics or {},
        "importance": row.importance or {},
    }


@router.get(
    "",
    response_model=Page[ModelVersionPublic],
    summary="Model versions",
    description="Trained model versions, newest first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_models(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    active: Annotated[bool | None, Query(description="Only the active (or inactive) ones.")] = None,
) -> dict:
    stmt = select(ModelVersion)
    if active is not None:
        stmt = stmt.where(ModelVersion.active.is_(active))
    stmt = stmt.order_by(ModelVersion.created_at.desc(), ModelVersion.version)
    rows, total = paginate(session, stmt, page)
    return make_page([model_public(r) for r in rows], total, page)


@router.get(
    "/{version}",
    response_model=ModelVersionPublic,
    summary="One model version",
    responses=error_responses(401, 403, 404, 422),
)
def get_model(
    session: SessionDep,
    _key: ReaderKey,
    version: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")],
) -> dict:
    row = session.get(ModelVersion, version)
    if row is None:
        raise not_found(f"model version {version}")
    return model_public(row)
