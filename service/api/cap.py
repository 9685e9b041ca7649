"""CAP 1.2 (Common Alerting Protocol) messages: one per alert event (warnings, advisories,
critical-value crossings; prompts are not alerts), and a JSON index of them.

Warnings and advisories carry the message the alerts engine made and validated when it
issued them (``payload.cap_xml``, alerts/cap.py); it is served as stored, so what a
subscriber got and what the feed shows are the same bytes. An event stored without one
gets a message from the same builder (alerts.cap.stored_event_cap: the same sender,
area name and area shape as the engine's), validated against the CAP 1.2 schema before
it is served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.api.deps import ReaderKey, SessionDep, SettingsDep
from aqcast.service.api.errors import error_responses, not_found
from aqcast.service.api.events import EVENT_ID_PATTERN, PRIVATE_TYPES, filter_events
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.settings import Settings
from aqcast.service.tables import AlertEvent

router = APIRouter(prefix="/v1/cap", tags=["cap"])
CAP_MEDIA_TYPE = "application/cap+xml"
NOT_ALERTS = ("prompt", *PRIVATE_TYPES)


class CapEntry(BaseModel):
    id: str
    type: str
    area: str
    level: str
    issue_date: str
    sent: datetime
    url: str = Field(description="Where the CAP message is (application/cap+xml).")


def _texts(event: AlertEvent) -> tuple[dict[str, str], dict[str, str]]:
    """The headline and description the event's payload holds, per language."""
    p = event.payload or {}

    def pick(v: object, lang: str) -> str:
        if isinstance(v, dict):
            return str(v.get(lang) or v.get("zh") or v.get("en") or "").strip()
        return str(v or "").strip()

    headline, description = {}, {}
    for lang in ("zh", "en"):
        headline[lang] = pick(p.get("headline"), lang) or pick(p.get("name"), lang)
        description[lang] = (
            pick(p.get("description"), lang)
            or pick(p.get("reason"), lang)
            or pick(p.get("avoid_text"), lang)
        )
    return headline, description


def cap_message(session: Session, event: AlertEvent, settings: Settings) -> bytes:
    """The CAP 1.2 XML of one alert event stored without a message, schema-validated."""
    from aqcast.alerts.cap import stored_event_cap, validate_cap
    from aqcast.service.official import cap_area_context

    headline, description = _texts(event)
    xml = stored_event_cap(
        {
            "type": event.type,
            "level": event.level,
            "action": (event.payload or {}).get("action"),
            "start_date": event.start_date,
            "end_date": event.end_date,
            "headline": headline,
            "description": description,
        },
        identifier=f"aqcast-{event.id}",
        sent=event.created_at,
        web=f"{settings.public_base_url.rstrip('/')}/prompt/{event.issue_date}",
        **cap_area_context(session, event.area, settings, unknown_area_named=True),
    )
    validate_cap(xml)
    return xml


def _alerts():
    return select(AlertEvent).where(AlertEvent.type.not_in(NOT_ALERTS))


@router.get(
    "",
    response_model=Page[CapEntry],
    summary="CAP index",
    description="The alerts that have a CAP message, newest first, with their URLs. "
    + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def cap_index(
    session: SessionDep,
    settings: SettingsDep,
    _key: ReaderKey,
    page: PageDep,
    area: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    rows, total = paginate(session, filter_events(_alerts(), area=area), page)
    base = settings.public_base_url.rstrip("/")
    items = [
        {
            "id": r.id,
            "type": r.type,
            "area": r.area,
            "level": r.level or "",
            "issue_date": r.issue_date.isoformat(),
            "sent": as_utc_or_none(r.created_at),
            "url": f"{base}/v1/cap/{r.id}",
        }
        for r in rows
    ]
    return make_page(items, total, page)


@router.get(
    "/{event_id}",
    summary="One CAP message",
    description="The CAP 1.2 message of one alert (application/cap+xml).",
    response_class=Response,
    response_model=None,
    responses={
        200: {"content": {CAP_MEDIA_TYPE: {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 404, 422),
    },
)
def cap_one(
    session: SessionDep,
    settings: SettingsDep,
    _key: ReaderKey,
    event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)],
) -> Response:
    event = session.get(AlertEvent, event_id)
    if event is None or event.type in NOT_ALERTS:
        raise not_found(f"alert {event_id}")
    stored = (event.payload or {}).get("cap_xml")
    if isinstance(stored, str) and stored.strip():
        return Response(stored.encode("utf-8"), media_type=CAP_MEDIA_TYPE)
    return Response(cap_message(session, event, settings), media_type=CAP_MEDIA_TYPE)
