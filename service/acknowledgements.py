"""Enterprises confirming advisories, the one-click links that let them, and coverage.

An acknowledgement is one row per (advisory event, enterprise): recording it again keeps
the first time (idempotent) and only updates the hours the work was moved to when new
ones are given. It comes from an enterprise key (``via="api"``) or from the link in an
advisory message (``via="link"``).

The link carries a token signed with ``settings.ack_link_secret`` (itsdangerous, HMAC):
event id, enterprise id and expiry; no key is needed, a changed token fails the signature,
an expired one is refused, and using it twice records nothing new.

Coverage of a day and area, per sector: the registered enterprises, those notified (a
message to them was queued through a subscription of a key bound to them), those whose
message was delivered, those that acknowledged, and the ones not yet confirmed (to call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from aqcast.features.timeutil import as_utc
from aqcast.service.tables import (
    Acknowledgement,
    AlertEvent,
    ApiKey,
    Delivery,
    Enterprise,
    Subscription,
)

ADVISORY = "advisory"
TOKEN_SALT = "aqcast.ack.v1"  # noqa: S105 - a namespace for the signature, not a secret


class AckError(ValueError):
    """An acknowledgement that cannot be recorded; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


# --- recording -----------------------------------------------------------------------------


def check_moved_to(hours: Sequence[Sequence[int]] | None) -> list[list[int]]:
    """``[[start, end], ...]`` local clock hours (0..24; start > end wraps midnight)."""
    out: list[list[int]] = []
    for pair in hours or []:
        if len(pair) != 2:
            raise AckError("moved_to: each entry is [start, end]", 422)
        start, end = int(pair[0]), int(pair[1])
        if not (0 <= start <= 24 and 0 <= end <= 24) or start == end:
            raise AckError(f"moved_to: [{start}, {end}] is not a span of clock hours", 422)
        out.append([start, end])
    return out


def advisory_event(session: Session, event_id: str) -> AlertEvent:
    event = session.get(AlertEvent, event_id)
    if event is None or event.type != ADVISORY:
        raise AckError(f"advisory {event_id} not found", 404)
    return event


def acknowledge(
    session: Session,
    event: AlertEvent,
    enterprise: Enterprise,
    *,
    now: datetime,
    via: str,
    key_id: int | None = None,
    moved_to: Sequence[Sequence[int]] | None = None,
) -> tuple[Acknowledgement, bool]:
    """Record that ``enterprise`` confirmed ``event``; returns the row and whether it is new."""
    sector = (event.payload or {}).get("sector")
    if sector is not None and sector not in (enterprise.sectors or []):
        raise AckError(
            f"advisory {event.id} is for sector {sector}, which enterprise {enterprise.id} "
            "is not registered in"
        )
    hours = check_moved_to(moved_to) if moved_to is not None else None
    row = session.scalar(
        select(Acknowledgement).where(
            Acknowledgement.event_id == event.id, Acknowledgement.enterprise_id == enterprise.id
        )
    )
    if row is not None:
        if hours is not None and hours != list(row.moved_to or []):
            row.moved_to = hours
            row.updated_at = now
        return row, False
    row = Acknowledgement(
        event_id=event.id,
        enterprise_id=enterprise.id,
        acknowledged_at=now,
        updated_at=now,
        via=via,
        key_id=key_id,
        moved_to=hours or [],
    )
    session.add(row)
    session.flush()
    return row, True


def ack_public(row: Acknowledgement, event: AlertEvent | None = None) -> dict:
    return {
        "event_id": row.event_id,
        "enterprise_id": row.enterprise_id,
        "sector": ((event.payload or {}).get("sector") if event is not None else None),
        "issue_date": event.issue_date if event is not None else None,
        "acknowledged_at": as_utc(row.acknowledged_at),
        "updated_at": as_utc(row.updated_at),
        "via": row.via,
        "moved_to": [list(p) for p in row.moved_to or []],
    }


def enterprise_acks(
    session: Session, enterprise_id: int
) -> list[tuple[Acknowledgement, AlertEvent]]:
    """An enterprise's acknowledgements with their advisories, newest first."""
    return list(
        session.execute(
            select(Acknowledgement, AlertEvent)
            .join(AlertEvent, AlertEvent.id == Acknowledgement.event_id)
            .where(Acknowledgement.enterprise_id == enterprise_id)
            .order_by(Acknowledgement.acknowledged_at.desc(), Acknowledgement.id.desc())
        ).all()
    )


# --- link tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkClaim:
    event_id: str
    enterprise_id: int
    expires_at: datetime  # naive UTC


class ForgedTokenError(AckError):
    def __init__(self) -> None:
        super().__init__("this acknowledgement link is not valid", 403)


class ExpiredTokenError(AckError):
    def __init__(self, expires_at: datetime) -> None:
        super().__init__(
            f"this acknowledgement link expired at {expires_at:%Y-%m-%d %H:%M} UTC", 410
        )
        self.expires_at = expires_at


def link_expiry(event: AlertEvent, valid_hours: float) -> datetime:
    """Fixed by the event (not by the send time) so that every retry sends the same body."""
    return event.created_at + timedelta(hours=valid_hours)


def make_token(secret: str, event_id: str, enterprise_id: int, expires_at: datetime) -> str:
    stamp = int(as_utc(expires_at).timestamp())
    return URLSafeSerializer(secret, salt=TOKEN_SALT).dumps([event_id, enterprise_id, stamp])


def read_token(secret: str, token: str, now: datetime) -> LinkClaim:
    """The token's claim; ForgedTokenError (bad signature or shape), ExpiredTokenError."""
    try:
        data = URLSafeSerializer(secret, salt=TOKEN_SALT).loads(token)
        event_id, enterprise_id, stamp = data
        claim = LinkClaim(
            str(event_id),
            int(enterprise_id),
            datetime.fromtimestamp(int(stamp), UTC).replace(tzinfo=None),
        )
    except (BadSignature, ValueError, TypeError):
        raise ForgedTokenError() from None
    if now >= claim.expires_at:
        raise ExpiredTokenError(claim.expires_at)
    return claim


def ack_url(
    base_url: str, secret: str, event: AlertEvent, enterprise_id: int, valid_hours: float, lang: str
) -> str:
    token = make_token(secret, event.id, enterprise_id, link_expiry(event, valid_hours))
    return f"{base_url.rstrip('/')}/ack/{token}?lang={lang}"


# --- coverage --------------------------------------------------------------------------------


@dataclass
class _DayState:
    events: dict[str, str]  # sector -> advisory event id
    enterprises: list[Enterprise]
    notified: dict[str, set[int]]  # event id -> enterprise ids
    delivered: dict[str, set[int]]
    acked: dict[str, set[int]]


def _day_state(session: Session, day: date, area: str) -> _DayState:
    events: dict[str, str] = {}
    for e in session.scalars(
        select(AlertEvent).where(
            AlertEvent.type == ADVISORY, AlertEvent.issue_date == day, AlertEvent.area == area
        )
    ):
        sector = (e.payload or {}).get("sector")
        if sector is not None:
            events[sector] = e.id
    enterprises = list(
        session.scalars(select(Enterprise).where(Enterprise.area == area).order_by(Enterprise.id))
    )
    state = _DayState(events, enterprises, {}, {}, {})
    ids = list(events.values())
    if not ids:
        return state
    for event_id, status, ent in session.execute(
        select(Delivery.event_id, Delivery.status, ApiKey.enterprise_id)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(ApiKey, ApiKey.id == Subscription.owner_key_id)
        .where(Delivery.event_id.in_(ids), ApiKey.enterprise_id.is_not(None))
    ):
        state.notified.setdefault(event_id, set()).add(ent)
        if status == "delivered":
            state.delivered.setdefault(event_id, set()).add(ent)
    for event_id, ent in session.execute(
        select(Acknowledgement.event_id, Acknowledgement.enterprise_id).where(
            Acknowledgement.event_id.in_(ids)
        )
    ):
        state.acked.setdefault(event_id, set()).add(ent)
    return state


def coverage(session: Session, day: date, area: str, sector_keys: Sequence[str]) -> dict:
    """The coverage of ``day``'s advisories in ``area`` (the API's JSON shape).

    Sectors: the campaign's, then any other sector an advisory of the day names. An
    enterprise counts in each of its sectors; ``pending`` lists, for sectors with an
    advisory that day, the registered enterprises that have not acknowledged it (notified
    or not: both need a call).
    """
    st = _day_state(session, day, area)
    out: dict[str, dict] = {}
    for sector in dict.fromkeys([*sector_keys, *sorted(st.events)]):
        registered = [e for e in st.enterprises if sector in (e.sectors or [])]
        reg = {e.id for e in registered}
        eid = st.events.get(sector)
        done = st.acked.get(eid, set()) & reg if eid else set()
        out[sector] = {
            "registered": len(registered),
            "notified": len(st.notified.get(eid, set()) & reg) if eid else 0,
            "delivered": len(st.delivered.get(eid, set()) & reg) if eid else 0,
            "acknowledged": len(done),
            "pending": [
                {"id": e.id, "name": e.name, "contact": e.contact}
                for e in registered
                if eid and e.id not in done
            ],
        }
    return {"date": day.isoformat(), "area": area, "sectors": out}


def coverage_totals(session: Session, day: date, area: str) -> dict:
    """Distinct enterprises over the sectors with an advisory that day: ``concerned``
    (registered in one), ``notified``, ``acknowledged`` (every advisory of theirs
    confirmed) and ``pending`` (the rest: to call)."""
    st = _day_state(session, day, area)
    concerned: set[int] = set()
    notified: set[int] = set()
    pending: set[int] = set()
    for sector, eid in st.events.items():
        reg = {e.id for e in st.enterprises if sector in (e.sectors or [])}
        concerned |= reg
        notified |= st.notified.get(eid, set()) & reg
        pending |= reg - st.acked.get(eid, set())
    return {
        "concerned": len(concerned),
        "notified": len(notified),
        "acknowledged": len(concerned - pending),
        "pending": len(pending),
    }


def live_prompt_payload(session: Session, event: AlertEvent) -> dict:
    """A published prompt's payload with its dispatch sentence brought up to date (who has
    confirmed since it was issued); unchanged when no registered enterprise is concerned."""
    from aqcast.alerts.prompt import add_dispatch

    payload = dict(event.payload or {})
    totals = coverage_totals(session, event.issue_date, event.area)
    if not totals["concerned"]:
        return payload
    inner = payload.get("prompt")
    if isinstance(inner, dict) and any(isinstance(v, dict) for v in inner.values()):
        payload["prompt"] = {
            lang: add_dispatch(p, totals) if isinstance(p, dict) else p for lang, p in inner.items()
        }
    return payload
