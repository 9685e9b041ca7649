"""Storing alert events, and fanning each one out into webhook deliveries.

Both happen in the caller's session, so an event and its outbox rows commit together
(or not at all): no alert is stored without its deliveries, none is delivered unstored.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aqcast.features.timeutil import store_now
from aqcast.service.tables import AlertEvent, ApiKey, Delivery, Subscription


def event_id(dedup_key: str) -> str:
    """A stable id: the same alert decided twice (a rerun, a second replica) is one event."""
    return "evt_" + hashlib.sha256(dedup_key.encode()).hexdigest()[:24]


def delivery_id(event_id_: str, subscription_id: str) -> str:
    """The outbox row's id, sent as ``webhook-id``: one per (event, subscription), stable
    across retries and reruns so that receivers can drop duplicates."""
    return "msg_" + hashlib.sha256(f"{event_id_}|{subscription_id}".encode()).hexdigest()[:24]


def subscription_matches(sub: Subscription, event: AlertEvent) -> bool:
    if sub.status != "active":
        return False
    if sub.event_types and event.type not in sub.event_types:
        return False
    if sub.areas and event.area not in sub.areas:
        return False
    if sub.sectors and event.type == "advisory":
        sector = (event.payload or {}).get("sector")
        if sector is not None and sector not in sub.sectors:
            return False
    return True


def fan_out(session: Session, event: AlertEvent, now: datetime | None = None) -> int:
    """Create one pending delivery per matching subscription; returns how many."""
    now = now or store_now()
    n = 0
    if event.type == "test":
        return 0  # a test event goes to the subscription that asked for it, and no other
    active = (
        select(Subscription)
        .join(ApiKey, ApiKey.id == Subscription.owner_key_id)
        .where(Subscription.status == "active", ApiKey.revoked_at.is_(None))
    )
    for sub in session.scalars(active):
        if not subscription_matches(sub, event):
            continue
        did = delivery_id(event.id, sub.id)
        if session.get(Delivery, did) is not None:
            continue
        session.add(
            Delivery(
                id=did,
                event_id=event.id,
                subscription_id=sub.id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        n += 1
    return n


def record_event(
    session: Session,
    *,
    type: str,  # noqa: A002 - the event's type, as in the API
    area: str,
    issue_date: date,
    start_date: date,
    end_date: date,
    payload: dict[str, Any],
    dedup_key: str,
    level: str = "",
    now: datetime | None = None,
) -> tuple[AlertEvent, bool]:
    """Store an alert event once (by ``dedup_key``) and fan it out.

    Returns ``(event, created)``; an event already stored is returned unchanged.
    """
    eid = event_id(dedup_key)
    existing = session.get(AlertEvent, eid)
    if existing is not None:
        return existing, False
    event = AlertEvent(
        id=eid,
        type=type,
        area=area,
        level=level,
        issue_date=issue_date,
        start_date=start_date,
        end_date=end_date,
        created_at=now or store_now(),
        payload=payload,
    )
    session.add(event)
    session.flush()
    fan_out(session, event, now)
    return event, True
