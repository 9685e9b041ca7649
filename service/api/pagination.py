"""Limit/offset pagination shared by every list endpoint.

Lists answer ``{"items": [...], "total": N, "limit": L, "offset": O, "next_offset": O+L|null}``
in a stable order; ``limit`` is at most ``MAX_LIMIT``.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGINATION_DOC = (
    f"Paginated with `limit` (1-{MAX_LIMIT}, default {DEFAULT_LIMIT}) and `offset`; "
    "`next_offset` is null on the last page."
)


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (max {MAX_LIMIT}).")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Items matching the filters, over all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


def make_page(items: list[T], total: int, page: PageParams) -> dict:
    nxt = page.offset + page.limit
    return {
        "items": items,
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "next_offset": nxt if nxt < total else None,
    }


def paginate(session: Session, stmt: Select, page: PageParams) -> tuple[list, int]:
    """Rows of one page of ``stmt`` (already ordered) and the total count."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(session.scalars(stmt.limit(page.limit).offset(page.offset)))
    return rows, int(total or 0)
