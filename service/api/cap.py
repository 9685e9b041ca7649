"""CAP 1.2 (Common Alerting Protocol) messages: one per alert event (warnings, advisories,
critical-value crossings; prompts are not alerts), and a JSON index of them.

Warnings and advisories carry the message the alerts engine made and validated when it
issued them (``payload.cap_xml``, alerts/cap.py); it is served as stored, so what a
subscriber got and what the feed shows are the same bytes. Other alerts get a message made
here, whose area is the circle around the area's stations (centre: their mean position;
radius: the farthest station plus 5 km).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from aqcast.service.api.deps import ReaderKey, SessionDep, SettingsDep
from aqcast.service.api.errors import error_responses, not_found
from aqcast.service.api.events import EVENT_ID_PATTERN, PRIVATE_TYPES, filter_events
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, as_utc, make_page, paginate
from aqcast.service.settings import Settings
from aqcast.service.tables import AlertEvent, Station

router = APIRouter(prefix="/v1/cap", tags=["cap"])
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"
NOT_ALERTS = ("prompt", *PRIVATE_TYPES)
SEVERITY = {"red": "Extreme", "orange": "Severe", "yellow": "Moderate", "blue": "Minor"}
EARTH_RADIUS_KM = 6371.0


class CapEntry(BaseModel):
    id: str
    type: str
    area: str
    level: str
    issue_date: str
    sent: datetime
    url: str = Field(description="Where the CAP message is (application/cap+xml).")


def cap_time(value: datetime, tz: ZoneInfo | None = None) -> str:
    """CAP's date-time form: seconds precision with an explicit offset (the local one with
    ``tz``, as the engine's messages have; naive values are UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.astimezone(tz or UTC).replace(microsecond=0).isoformat()


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in degrees. [km]"""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def stations_circle(points: list[tuple[float, float]]) -> str | None:
    """CAP circle ``"lat,lon radius_km"`` around ``points`` (lat, lon in degrees)."""
    if not points:
        return None
    lat = sum(p[0] for p in points) / len(points)
    lon = sum(p[1] for p in points) / len(points)
    radius = max(distance_km(lat, lon, p[0], p[1]) for p in points) + 5.0
    return f"{lat:.4f},{lon:.4f} {radius:.1f}"


def _area_points(session: Session, area: str) -> list[tuple[float, float]]:
    from aqcast.configuration import area_stations
    from aqcast.service.configured import configured_areas

    rows = session.execute(select(Station.code, Station.lat, Station.lon)).all()
    try:
        codes = set(area_stations(area, [r.code for r in rows], configured_areas()))
    except (KeyError, ValueError):
        codes = set()
    return [
        (r.lat, r.lon) for r in rows if r.code in codes and r.lat is not None and r.lon is not None
    ]


def _text(event: AlertEvent, lang: str) -> tuple[str, str]:
    p = event.payload or {}

    def pick(v: object) -> str:
        if isinstance(v, dict):
            return str(v.get(lang) or v.get("zh") or v.get("en") or "")
        return str(v or "")

    headline = pick(p.get("headline")) or pick(p.get("name")) or f"{event.type} {event.level}"
    description = pick(p.get("description")) or pick(p.get("reason")) or pick(p.get("avoid_text"))
    return headline.strip(), (description or headline).strip()


def cap_message(event: AlertEvent, settings: Settings, circle: str | None) -> bytes:
    """The CAP 1.2 XML of one alert event."""
    ET.register_namespace("", CAP_NS)

    def sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        el.text = text
        return el

    from aqcast.service.configured import current_campaign

    cap_cfg = current_campaign().cap  # the sender the engine's own messages carry
    action = (event.payload or {}).get("action")
    msg_type = {
        "lifted": "Cancel",
        "upgraded": "Update",
        "downgraded": "Update",
        "extended": "Update",
    }.get(str(action), "Alert")
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    tz = settings.tz
    sub(alert, "identifier", f"aqcast-{event.id}")
    sub(alert, "sender", cap_cfg.sender)
    sub(alert, "sent", cap_time(event.created_at, tz))
    sub(alert, "status", "Actual")
    sub(alert, "msgType", msg_type)
    sub(alert, "scope", "Public")
    effective = datetime.combine(event.start_date, time(0), tz)
    expires = datetime.combine(event.end_date + timedelta(days=1), time(0), tz)
    for lang, code in (("zh", "zh-CN"), ("en", "en-US")):
        headline, description = _text(event, lang)
        info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
        sub(info, "language", code)
        sub(info, "category", "Env")
        sub(info, "event", {"zh": "空气污染", "en": "Air pollution"}[lang] + f" ({event.type})")
        sub(info, "urgency", "Expected")
        sub(info, "severity", SEVERITY.get(event.level, "Minor" if event.level else "Unknown"))
        sub(info, "certainty", "Likely")
        sub(info, "effective", effective.isoformat())
        sub(info, "expires", expires.isoformat())
        sub(info, "senderName", cap_cfg.sender_name(lang))
        sub(info, "headline", headline[:160])
        sub(info, "description", description)
        sub(info, "web", f"{settings.public_base_url.rstrip('/')}/prompt/{event.issue_date}")
        area = ET.SubElement(info, f"{{{CAP_NS}}}area")
        sub(area, "areaDesc", event.area)
        if circle:
            sub(area, "circle", circle)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


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
            "sent": as_utc(r.created_at),
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
    circle = stations_circle(_area_points(session, event.area))
    return Response(cap_message(event, settings, circle), media_type=CAP_MEDIA_TYPE)
