"""Liveness, readiness and the Prometheus metrics endpoint (no API key needed)."""

from __future__ import annotations

from datetime import datetime

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from aqcast.service.api.deps import NowDep, SessionDep
from aqcast.service.metrics import CONTENT_TYPE, exposition, set_data_age
from aqcast.service.store import alembic_config
from aqcast.service.tables import FeedStatus, Observation

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str


class ReadinessCheck(BaseModel):
    name: str
    ok: bool
    message: str


class Readiness(BaseModel):
    status: str
    checks: list[ReadinessCheck]


@router.get("/healthz", response_model=Liveness, summary="Liveness")
def healthz() -> dict:
    """The process answers; says nothing about the database."""
    return {"status": "ok"}


def _head_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


def readiness_checks(session: Session) -> list[ReadinessCheck]:
    checks = []
    try:
        session.execute(text("SELECT 1"))
        checks.append(ReadinessCheck(name="database", ok=True, message="reachable"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        session.rollback()
        msg = f"unreachable: {type(exc).__name__}"
        checks.append(ReadinessCheck(name="database", ok=False, message=msg))
        checks.append(ReadinessCheck(name="migrations", ok=False, message="database unreachable"))
        return checks
    try:
        current = set(MigrationContext.configure(session.connection()).get_current_heads())
        heads = _head_revisions()
        ok = current == heads
        message = (
            "at head " + ", ".join(sorted(heads))
            if ok
            else f"at {sorted(current) or 'no revision'}, expected {sorted(heads)}: run "
            "`aqcast migrate`"
        )
        checks.append(ReadinessCheck(name="migrations", ok=ok, message=message))
    except Exception as exc:  # noqa: BLE001
        checks.append(ReadinessCheck(name="migrations", ok=False, message=type(exc).__name__))
    return checks


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    description=(
        "200 when the database answers and its schema is at the latest migration, else 503 "
        "with the failing checks."
    ),
    responses={503: {"model": Readiness, "description": "Not ready."}},
)
def readyz(session: SessionDep) -> JSONResponse:
    checks = readiness_checks(session)
    ok = all(c.ok for c in checks)
    body = Readiness(status="ready" if ok else "not ready", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


def refresh_data_age(session: Session, now: datetime) -> None:
    """Update the data age gauges from the store, so that a scrape sees current ages."""
    try:
        for feed in session.scalars(select(FeedStatus)):
            set_data_age(feed.feed, feed.latest_data_time, now)
        latest_obs = session.scalar(select(func.max(Observation.time)))
        set_data_age("observations_stored", latest_obs, now)
    except Exception:  # noqa: BLE001 - metrics must still answer when the store does not
        session.rollback()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Metrics in the Prometheus text format (see service/metrics.py for names).",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    response_model=None,
)
def metrics(session: SessionDep, now: NowDep) -> Response:
    refresh_data_age(session, now)
    return Response(exposition(), media_type=CONTENT_TYPE)
