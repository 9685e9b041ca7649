"""The city's heavy-pollution warning as an input (按照区域应急联动要求).

The city (or the region) issues the warning and its response grade; the district
carries it out. ``set_official`` records one (superseding the area's earlier one),
``clear_official`` lifts it, each storing a ``warning`` event (payload ``source:
official``, with its CAP message) so that webhooks and the warning history carry it.
``official_for_day`` is what the morning prompt reads: the warning in force at the issue
time or starting later that day. Times are naive UTC in the store, local for people.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from aqcast.features.timeutil import as_utc, local_to_store, store_to_local
from aqcast.service.tables import OfficialWarning

if TYPE_CHECKING:
    from aqcast.service.settings import Settings

LEVELS = ("blue", "yellow", "orange", "red")
RESPONSES = ("III", "II", "I")


class OfficialWarningError(ValueError):
    """A bad official warning (unknown level or grade, end before start)."""


class OfficialPeriodError(OfficialWarningError):
    """The end is not after the start."""


def _local(t: datetime | None, tz: ZoneInfo) -> datetime | None:
    return None if t is None else store_to_local(t, tz)


def official_dict(row: OfficialWarning, tz: ZoneInfo) -> dict:
    """JSON-ready: times local with offset, plus the local start hour."""
    start = _local(row.start_at, tz)
    end = _local(row.end_at, tz)
    assert start is not None
    return {
        "id": row.id,
        "area": row.area,
        "level": row.level,
        "response": row.response,
        "start": start.isoformat(),
        "start_hour": start.strftime("%Y-%m-%d %H:00"),
        "end": end.isoformat() if end else None,
        "document": row.document,
        "issued_by": row.issued_by,
        "cleared_at": _local(row.cleared_at, tz).isoformat() if row.cleared_at else None,
    }


def active_official(session: Session, area: str, at: datetime) -> OfficialWarning | None:
    """The area's official warning not cleared and not ended at ``at`` (naive UTC); the
    latest recorded when several are."""
    stmt = (
        select(OfficialWarning)
        .where(OfficialWarning.area == area, OfficialWarning.cleared_at.is_(None))
        .order_by(OfficialWarning.id.desc())
    )
    for row in session.scalars(stmt):
        if row.end_at is None or row.end_at > at:
            return row
    return None


def officials_in_force(
    session: Session, at: datetime, area: str | None = None
) -> list[OfficialWarning]:
    """Official warnings not cleared and not ended at ``at`` (naive UTC), one per area."""
    stmt = select(OfficialWarning).where(OfficialWarning.cleared_at.is_(None))
    if area is not None:
        stmt = stmt.where(OfficialWarning.area == area)
    out: dict[str, OfficialWarning] = {}
    for row in session.scalars(stmt.order_by(OfficialWarning.id.desc())):
        if row.area not in out and (row.end_at is None or row.end_at > at):
            out[row.area] = row
    return [out[a] for a in sorted(out)]


def official_for_day(
    session: Session, area: str, day: date, issued_at: datetime, tz: ZoneInfo
) -> dict | None:
    """The official warning the prompt of ``day`` carries: in force at the issue time
    (naive UTC) or starting before the end of the local day."""
    row = active_official(session, area, issued_at)
    if row is None:
        return None
    day_end = local_to_store(datetime.combine(day + timedelta(days=1), datetime.min.time()), tz)
    if row.start_at >= day_end:
        return None
    return official_dict(row, tz)


def _event(session: Session, row: OfficialWarning, action: str, now: datetime, cap: dict) -> None:
    from aqcast.alerts.cap import official_cap
    from aqcast.service.events import event_id, record_event

    tz: ZoneInfo = cap["tz"]
    rules = cap.get("rules")
    measures = {lang: rules.measures(row.level, lang) for lang in ("zh", "en")} if rules else None
    key = f"official|{row.area}|{row.id}|{action}"
    eid = event_id(key)
    data = official_dict(row, tz)
    xml = official_cap(
        data,
        action=action,
        identifier=f"aqcast-{eid}",
        sent=as_utc(now),
        web=f"{cap['base_url']}/v1/events/{eid}",
        measures=measures,
        **{k: v for k, v in cap.items() if k not in ("base_url", "rules")},
    ).decode()
    start_day = _local(row.start_at, tz).date()  # type: ignore[union-attr]
    end_day = _local(row.end_at, tz).date() if row.end_at else start_day  # type: ignore[union-attr]
    record_event(
        session,
        type="warning",
        area=row.area,
        issue_date=_local(now, tz).date(),  # type: ignore[union-attr]
        start_date=start_day,
        end_date=max(end_day, start_day),
        payload={"source": "official", "action": f"official_{action}", **data, "cap_xml": xml},
        dedup_key=key,
        level=row.level,
        now=now,
    )


def set_official(
    session: Session,
    *,
    area: str,
    level: str,
    response: str,
    start: datetime,
    end: datetime | None,
    document: str,
    issued_by: str,
    now: datetime,
    cap: dict,
) -> OfficialWarning:
    """Record the city's warning for ``area`` (``start``/``end`` local when naive); the
    area's earlier official warning, if any, is superseded (cleared now)."""
    tz: ZoneInfo = cap["tz"]
    if any(ord(ch) < 32 for ch in area):
        raise OfficialWarningError("area: control characters are not allowed")
    if level not in LEVELS:
        raise OfficialWarningError(f"level: expected one of {', '.join(LEVELS)}, got {level!r}")
    if response not in RESPONSES:
        raise OfficialWarningError(
            f"response: expected one of {', '.join(RESPONSES)}, got {response!r}"
        )
    try:
        start_utc = local_to_store(start, tz)
        end_utc = local_to_store(end, tz) if end is not None else None
    except OverflowError:
        raise OfficialWarningError("start/end: outside the range of dates") from None
    if end_utc is not None and end_utc <= start_utc:
        raise OfficialPeriodError(f"end: {end} is not after the start {start}")
    for old in session.scalars(
        select(OfficialWarning).where(
            OfficialWarning.area == area, OfficialWarning.cleared_at.is_(None)
        )
    ):
        old.cleared_at, old.cleared_by = now, f"superseded by {issued_by}"
    row = OfficialWarning(
        area=area,
        level=level,
        response=response,
        start_at=start_utc,
        end_at=end_utc,
        document=document,
        issued_by=issued_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _event(session, row, "issued", now, cap)
    return row


def clear_official(
    session: Session, *, area: str, cleared_by: str, now: datetime, cap: dict
) -> OfficialWarning | None:
    """Lift the area's official warning; None when none is recorded."""
    row = session.scalars(
        select(OfficialWarning)
        .where(OfficialWarning.area == area, OfficialWarning.cleared_at.is_(None))
        .order_by(OfficialWarning.id.desc())
    ).first()
    if row is None:
        return None
    row.cleared_at, row.cleared_by = now, cleared_by
    session.flush()
    _event(session, row, "cleared", now, cap)
    return row


def cap_area_context(
    session: Session, area: str, settings: Settings, *, unknown_area_named: bool = False
) -> dict:
    """The sender, zone, area name and area shape every CAP message of ``area`` carries
    (the keyword arguments of the alerts.cap builders). An area no district of the
    campaign names is a KeyError, or with ``unknown_area_named`` is named by itself (a
    stored event is served whatever the configuration says now)."""
    from aqcast.alerts.campaign import district_for_area
    from aqcast.alerts.cap import area_shape
    from aqcast.alerts.texts import Text
    from aqcast.service.configured import current_campaign
    from aqcast.service.publishing import area_points

    cfg = current_campaign()
    try:
        area_name = cfg.districts[district_for_area(cfg, area)].name
    except KeyError:
        if not unknown_area_named:
            raise
        area_name = Text(zh=area, en=area)
    points = area_points(session, area)
    return {
        "tz": settings.tz,
        "sender": cfg.cap.sender,
        "sender_name": cfg.cap.sender_name,
        "area_name": area_name,
        "shape": area_shape(points, cfg.cap.margin_km) if points else {},
    }


def cap_context(session: Session, area: str) -> dict:
    """What a CAP message of ``area`` needs from the configuration and the store."""
    from aqcast.alerts.engine import rules_for
    from aqcast.service.configured import current_campaign
    from aqcast.service.settings import get_settings

    settings = get_settings()
    today = datetime.now(settings.tz).date()
    return {
        **cap_area_context(session, area, settings),
        "base_url": settings.public_base_url.rstrip("/"),
        "rules": rules_for(current_campaign(), area, today),
    }
