"""Subscriptions and their deliveries: the operations behind ``/v1/subscriptions``.

Who sees what: a key with role ``admin`` sees every subscription; any other key sees only
the subscriptions it created. Another owner's subscription is reported as absent
(``NotFoundError``), never as forbidden, so ids reveal nothing.

Secrets: a subscription's signing secret is returned by ``create_subscription`` and
``rotate_secret`` only. After a rotation, messages are signed with the new and the old
secret until the grace period ends, so a receiver can switch at its own pace.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from aqcast.features.timeutil import as_utc, store_to_local
from aqcast.service.events import delivery_id, event_id
from aqcast.service.settings import Settings
from aqcast.service.tables import AlertEvent, ApiKey, Delivery, DeliveryAttempt, Subscription
from aqcast.service.webhooks import (
    ConflictError,
    NotFoundError,
    RateLimitedError,
    SubscriptionError,
)
from aqcast.service.webhooks.payload import LANGUAGES
from aqcast.service.webhooks.signing import new_secret
from aqcast.service.webhooks.url_guard import Resolver, check_url, system_resolver

# Event types a subscription may ask for; alerts.engine emits all but "test".
EVENT_TYPES: tuple[str, ...] = (
    "prompt",
    "advisory",
    "warning",
    "critical_value_crossed",
    "ozone_exceedance_risk",
    "test",
)
STATUSES = ("active", "paused", "disabled")
# standard: Standard Webhooks; wecom / dingtalk: work-chat group robots (webhooks.robots)
FORMATS: tuple[str, ...] = ("standard", "wecom", "dingtalk")


def _check_event_types(event_types: Sequence[str]) -> list[str]:
    types = list(dict.fromkeys(event_types))
    if not types:
        raise SubscriptionError("event_types: give at least one event type")
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise SubscriptionError(
            f"event_types: unknown {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}"
        )
    return types


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise SubscriptionError(f"language: {language!r} is not one of {', '.join(LANGUAGES)}")
    return language


def _clean_list(name: str, values: Iterable[str]) -> list[str]:
    out = [v.strip() for v in values]
    if any(not v for v in out):
        raise SubscriptionError(f"{name}: empty entries are not allowed")
    return list(dict.fromkeys(out))


def check_target(url: str, settings: Settings, resolver: Resolver = system_resolver) -> str:
    """The URL as given, once it passes the URL check (UnsafeURLError otherwise)."""
    check_url(
        url,
        require_https=bool(settings.webhook_require_https),
        allow_private=settings.webhook_allow_private,
        resolver=resolver,
    )
    return url.strip()


def check_format(
    fmt: str, url: str, robot_secret: str | None, settings: Settings
) -> tuple[str, str | None]:
    """The format and robot secret to store; SubscriptionError naming what does not fit.

    A robot subscription's URL must be its platform's send address (the configured base
    URL) with the robot's key in the query: the robot URL as the platform shows it.
    """
    from urllib.parse import parse_qs, urlsplit

    if fmt not in FORMATS:
        raise SubscriptionError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "standard":
        if robot_secret:
            raise SubscriptionError("robot_secret: only a dingtalk subscription has one")
        return fmt, None
    base, path, param = (
        (settings.wecom_robot_base_url, "/cgi-bin/webhook/send", "key")
        if fmt == "wecom"
        else (settings.dingtalk_robot_base_url, "/robot/send", "access_token")
    )
    want, got = urlsplit(base.rstrip("/")), urlsplit(url.strip())
    same_host = (got.scheme, got.netloc.lower()) == (want.scheme, want.netloc.lower())
    if not same_host or got.path != want.path + path:
        raise SubscriptionError(
            f"url: a {fmt} robot's address starts with {base.rstrip('/')}{path}"
        )
    if not (parse_qs(got.query).get(param) or [""])[0]:
        raise SubscriptionError(f"url: the {fmt} robot's address has no {param} parameter")
    if fmt == "wecom":
        if robot_secret:
            raise SubscriptionError("robot_secret: a wecom robot has none (its key is in the url)")
        return fmt, None
    if not robot_secret or not robot_secret.strip().startswith("SEC"):
        raise SubscriptionError(
            "robot_secret: a dingtalk robot needs its signing secret (SEC...), set under "
            "the robot's security settings (加签)"
        )
    return fmt, robot_secret.strip()


def enterprise_defaults(
    session: Session, key: ApiKey, areas: Sequence[str] | None, sectors: Sequence[str] | None
) -> tuple[Sequence[str], Sequence[str]]:
    """Areas and sectors left out by a key bound to an enterprise default to its area and
    sectors; otherwise to every area and sector."""
    from aqcast.service.tables import Enterprise

    ent = session.get(Enterprise, key.enterprise_id) if key.enterprise_id is not None else None
    if areas is None:
        areas = [ent.area] if ent is not None else []
    if sectors is None:
        sectors = list(ent.sectors or []) if ent is not None else []
    return areas, sectors


def visible(stmt: Select, key: ApiKey) -> Select:
    """``stmt`` over subscriptions restricted to what ``key`` may see."""
    if key.role == "admin":
        return stmt
    return stmt.where(Subscription.owner_key_id == key.id)


def create_subscription(
    session: Session,
    key: ApiKey,
    *,
    url: str,
    event_types: Sequence[str],
    areas: Sequence[str] | None = None,
    sectors: Sequence[str] | None = None,
    language: str = "zh",
    settings: Settings,
    now: datetime,
    resolver: Resolver = system_resolver,
    format: str = "standard",  # noqa: A002 - the API's field name
    robot_secret: str | None = None,
) -> tuple[Subscription, str]:
    """A new active subscription owned by ``key``; returns it and its secret.

    ``areas``/``sectors`` None: the bound enterprise's (see ``enterprise_defaults``).
    """
    fmt, robot = check_format(format, url, robot_secret, settings)
    areas, sectors = enterprise_defaults(session, key, areas, sectors)
    secret = new_secret()
    sub = Subscription(
        id="sub_" + uuid.uuid4().hex[:20],
        owner_key_id=key.id,
        url=check_target(url, settings, resolver),
        event_types=_check_event_types(event_types),
        areas=_clean_list("areas", areas),
        sectors=_clean_list("sectors", sectors),
        language=_check_language(language),
        secret=secret,
        previous_secret=None,
        previous_secret_expires=None,
        status="active",
        failing_since=None,
        flagged=False,
        created_at=now,
        updated_at=now,
        format=fmt,
        robot_secret=robot,
    )
    session.add(sub)
    session.flush()
    return sub, secret


def list_subscriptions(
    session: Session, key: ApiKey, *, limit: int = 100, offset: int = 0
) -> tuple[list[Subscription], int]:
    """A page of the subscriptions ``key`` may see (oldest first) and their total."""
    total = session.scalar(visible(select(func.count()).select_from(Subscription), key)) or 0
    rows = session.scalars(
        visible(select(Subscription), key)
        .order_by(Subscription.created_at, Subscription.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def get_subscription(session: Session, key: ApiKey, subscription_id: str) -> Subscription:
    sub = session.scalar(
        visible(select(Subscription), key).where(Subscription.id == subscription_id)
    )
    if sub is None:
        raise NotFoundError(f"subscription {subscription_id!r} not found")
    return sub


def update_subscription(
    session: Session,
    sub: Subscription,
    *,
    settings: Settings,
    now: datetime,
    resolver: Resolver = system_resolver,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    sectors: Sequence[str] | None = None,
    language: str | None = None,
    robot_secret: str | None = None,
) -> Subscription:
    """Change the given fields (None leaves a field as it is)."""
    if url is not None or robot_secret is not None:
        fmt = sub.format or "standard"
        secret = robot_secret if robot_secret is not None else sub.robot_secret
        _, sub.robot_secret = check_format(fmt, url or sub.url, secret, settings)
    if url is not None:
        sub.url = check_target(url, settings, resolver)
    if event_types is not None:
        sub.event_types = _check_event_types(event_types)
    if areas is not None:
        sub.areas = _clean_list("areas", areas)
    if sectors is not None:
        sub.sectors = _clean_list("sectors", sectors)
    if language is not None:
        sub.language = _check_language(language)
    sub.updated_at = now
    return sub


def pause_subscription(sub: Subscription, now: datetime) -> Subscription:
    """Stop sending; new events still queue up and go out on resume."""
    if sub.status == "disabled":
        raise ConflictError(f"subscription {sub.id} is disabled; resume it instead")
    sub.status = "paused"
    sub.updated_at = now
    return sub


def resume_subscription(
    sub: Subscription, now: datetime, settings: Settings, resolver: Resolver = system_resolver
) -> Subscription:
    """Send again (also after the service disabled it): queued deliveries go out now.
    The URL is checked again, since a disabled endpoint may have moved."""
    check_target(sub.url, settings, resolver)
    sub.status = "active"
    sub.failing_since = None
    sub.updated_at = now
    return sub


def delete_subscription(session: Session, sub: Subscription) -> None:
    """Remove the subscription with its deliveries and their attempts."""
    ids = select(Delivery.id).where(Delivery.subscription_id == sub.id)
    session.execute(DeliveryAttempt.__table__.delete().where(DeliveryAttempt.delivery_id.in_(ids)))
    session.execute(Delivery.__table__.delete().where(Delivery.subscription_id == sub.id))
    session.delete(sub)
    session.flush()


def rotate_secret(sub: Subscription, now: datetime, grace_hours: float) -> str:
    """A new secret; the current one stays valid (messages carry both signatures) for
    ``grace_hours``. Returns the new secret."""
    secret = new_secret()
    sub.previous_secret = sub.secret
    sub.previous_secret_expires = now + timedelta(hours=grace_hours)
    sub.secret = secret
    sub.updated_at = now
    return secret


TEST_WINDOW = timedelta(hours=1)


def _test_cap(eid: str, now: datetime, tz: ZoneInfo | None) -> str:
    from aqcast.alerts.cap import cap_test_message
    from aqcast.service.configured import current_campaign

    cap = current_campaign().cap
    return cap_test_message(
        identifier=f"aqcast-{eid}",
        sent=as_utc(now),
        tz=tz or ZoneInfo("UTC"),
        sender=cap.sender,
        sender_name=cap.sender_name,
    ).decode()


def send_test_event(
    session: Session,
    sub: Subscription,
    now: datetime,
    *,
    tz: ZoneInfo | None = None,
    per_hour: int = 6,
) -> Delivery:
    """Queue a ``test`` event for this subscription only; the dispatcher sends it.

    A test event is marked ``status: Test`` (as CAP's status), names no area, carries the
    local day (``tz``) as its issue date, is never fanned out to other subscriptions and
    never shown in the public feeds (/v1/events, /v1/cap). At most ``per_hour`` test
    events per subscription an hour (RateLimitedError beyond)."""
    if sub.status != "active":
        raise ConflictError(f"subscription {sub.id} is {sub.status}; resume it first")
    since = now - TEST_WINDOW
    recent = list(
        session.scalars(
            select(Delivery.created_at)
            .join(AlertEvent, AlertEvent.id == Delivery.event_id)
            .where(
                Delivery.subscription_id == sub.id,
                AlertEvent.type == "test",
                Delivery.created_at > since,
            )
            .order_by(Delivery.created_at)
        )
    )
    if len(recent) >= per_hour:
        wait = max(1, int((recent[0] + TEST_WINDOW - now).total_seconds()) + 1)
        raise RateLimitedError(
            f"subscription {sub.id}: at most {per_hour} test events an hour; try again in {wait} s",
            retry_after_s=wait,
        )
    eid = event_id(f"test|{sub.id}|{uuid.uuid4().hex}")
    local = store_to_local(now, tz) if tz is not None else now
    today: date = local.date()
    event = AlertEvent(
        id=eid,
        type="test",
        area="",
        level="",
        issue_date=today,
        start_date=today,
        end_date=today,
        created_at=now,
        payload={
            "status": "Test",
            "subscription_id": sub.id,
            "cap_xml": _test_cap(eid, now, tz),
            "message": {
                "zh": "这是一条测试消息，用于检查接收端和签名。",
                "en": "A test message to check the receiver and its signature check.",
            },
        },
    )
    session.add(event)
    session.flush()
    delivery = Delivery(
        id=delivery_id(eid, sub.id),
        event_id=eid,
        subscription_id=sub.id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


# --- deliveries -----------------------------------------------------------------------


def list_deliveries(
    session: Session,
    sub: Subscription,
    *,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Delivery], int]:
    """A page of the subscription's deliveries, newest first, and their total."""
    where = [Delivery.subscription_id == sub.id]
    if status is not None:
        where.append(Delivery.status == status)
    total = session.scalar(select(func.count()).select_from(Delivery).where(*where)) or 0
    rows = session.scalars(
        select(Delivery)
        .where(*where)
        .order_by(Delivery.created_at.desc(), Delivery.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def get_delivery(session: Session, key: ApiKey, delivery_id_: str) -> Delivery:
    stmt = (
        select(Delivery)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Delivery.id == delivery_id_)
    )
    delivery = session.scalar(visible(stmt, key))
    if delivery is None:
        raise NotFoundError(f"delivery {delivery_id_!r} not found")
    return delivery


def list_attempts(session: Session, delivery: Delivery) -> list[DeliveryAttempt]:
    return list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery.id)
            .order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)
        )
    )


def replay_delivery(session: Session, delivery: Delivery, now: datetime) -> Delivery:
    """Send a dead letter again from the start of the retry schedule (same webhook-id)."""
    if delivery.status != "dead":
        raise ConflictError(
            f"delivery {delivery.id} is {delivery.status}; only dead letters are replayed"
        )
    _requeue(delivery, now)
    _clear_flag_if_no_dead(session, delivery.subscription_id)
    return delivery


def replay_dead_letters(session: Session, sub: Subscription, now: datetime) -> int:
    """Replay every dead letter of ``sub``; returns how many."""
    n = session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, locked_until=None)
    ).rowcount
    sub.flagged = False
    return int(n or 0)


def _requeue(delivery: Delivery, now: datetime) -> None:
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.locked_until = None


def _clear_flag_if_no_dead(session: Session, subscription_id: str) -> None:
    session.flush()
    left = session.scalar(
        select(func.count()).where(
            Delivery.subscription_id == subscription_id, Delivery.status == "dead"
        )
    )
    if not left:
        session.execute(
            update(Subscription).where(Subscription.id == subscription_id).values(flagged=False)
        )
