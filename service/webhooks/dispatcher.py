"""The outbox dispatcher: claims due deliveries with a lease and sends them, signed.

How a delivery moves: ``pending`` -> (claimed) ``sending`` -> ``delivered`` | ``pending``
(retry later) | ``dead`` (dead letter). A claim sets ``locked_until`` (the lease) in a short
transaction of its own; the result is written in another, only if the lease is still the
one this dispatcher took (results are written in group commits: the accepted ones of a
batch together, the others one by one). So:

- killing a dispatcher at any moment loses nothing: its claimed rows stay ``sending`` until
  the lease expires, then any dispatcher claims them again. A message whose answer was not
  recorded is sent again with the same ``webhook-id`` (= ``deliveries.id``): at-least-once,
  receivers drop duplicates by that id;
- two dispatchers never send the same attempt: on PostgreSQL rows are selected with
  ``FOR UPDATE SKIP LOCKED`` and claimed by a conditional update (lease expired); on SQLite
  the database has a single writer, and the same conditional update makes a second
  dispatcher's claim of a leased row a no-op. Run one dispatcher per SQLite file anyway:
  SQLite is for development and small installations.

Every attempt is stored in ``delivery_attempts`` and counted in the
``aqcast_alert_deliveries_total`` metric. Secrets and message headers are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

import httpx
from sqlalchemy import Engine, bindparam, func, insert, or_, select, update

from aqcast.features.timeutil import store_now, to_store_or_none
from aqcast.service import metrics
from aqcast.service.settings import Settings, get_settings
from aqcast.service.store import session_scope
from aqcast.service.tables import (
    AlertEvent,
    ApiKey,
    Delivery,
    DeliveryAttempt,
    OperatorAlert,
    Subscription,
)
from aqcast.service.webhooks import UnsafeURLError, robots
from aqcast.service.webhooks.payload import event_body
from aqcast.service.webhooks.policy import (
    CONNECT_ERROR,
    DEAD,
    DELIVERED,
    GONE,
    HTTP_ERROR,
    OK,
    RATE_LIMITED,
    REFUSED,
    REJECTED,
    RETRY,
    ROBOT_GONE,
    TIMEOUT,
    RetryPolicy,
    decide,
)
from aqcast.service.webhooks.signing import signing_secrets, webhook_headers
from aqcast.service.webhooks.url_guard import (
    AsyncResolver,
    async_system_resolver,
    check_url_async,
    pinned_request,
)

log = logging.getLogger("aqcast.webhooks")

USER_AGENT = "aqcast-webhooks/1"


@dataclass(frozen=True)
class DispatchConfig:
    """Everything the dispatcher needs to know, fixed for one run."""

    retry: RetryPolicy
    timeout_s: float = 10.0
    max_in_flight: int = 16
    require_https: bool = True
    allow_private: tuple[str, ...] = ()
    lease_s: float = 60.0  # plus the time the claimed batch may take to send
    max_response_bytes: int = 4096
    disable_after_hours: float = 24.0
    disable_after_dead_letters: int = 5
    # advisory acknowledgement links (none without a secret) and work-chat robots
    ack_secret: str | None = field(default=None, repr=False)
    ack_valid_hours: float = 36.0
    public_base_url: str = ""
    wecom_rate_limit_retry_s: float = 60.0
    dingtalk_rate_limit_retry_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: object) -> DispatchConfig:
        s = settings or get_settings()
        cfg = cls(
            retry=RetryPolicy(
                schedule_s=tuple(float(x) for x in s.webhook_retry_schedule_s),
                jitter=s.webhook_jitter,
                client_error_attempts=s.webhook_client_error_attempts,
            ),
            timeout_s=s.webhook_timeout_s,
            max_in_flight=s.webhook_max_in_flight,
            require_https=bool(s.webhook_require_https),
            allow_private=tuple(s.webhook_allow_private),
            lease_s=s.webhook_lease_s,
            max_response_bytes=s.webhook_max_response_bytes,
            disable_after_hours=s.webhook_disable_after_hours,
            disable_after_dead_letters=s.webhook_disable_after_dead_letters,
            ack_secret=s.ack_link_secret.get_secret_value() if s.ack_link_secret else None,
            ack_valid_hours=s.ack_link_valid_hours,
            public_base_url=s.public_base_url,
            wecom_rate_limit_retry_s=s.wecom_rate_limit_retry_s,
            dingtalk_rate_limit_retry_s=s.dingtalk_rate_limit_retry_s,
        )
        return replace(cfg, **overrides) if overrides else cfg  # type: ignore[arg-type]


@dataclass
class DispatchStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    disabled: int = 0
    lost_lease: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, other: DispatchStats) -> None:
        for name in ("claimed", "delivered", "retried", "dead", "disabled", "lost_lease"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v


@dataclass(frozen=True)
class Claim:
    """A claimed delivery with what is needed to send it (read in the claim transaction)."""

    delivery_id: str
    lease: datetime  # the locked_until this dispatcher set: its proof of ownership
    subscription_id: str
    url: str
    secrets: tuple[str, ...] = field(repr=False)
    body: str = field(repr=False)
    format: str = "standard"  # standard | wecom | dingtalk
    robot_secret: str | None = field(default=None, repr=False)

    @cached_property
    def content(self) -> bytes:
        """The body as sent (UTF-8), encoded once however often it is sent."""
        return self.body.encode("utf-8")


@dataclass(frozen=True)
class AttemptResult:
    outcome: str
    status_code: int | None = None
    latency_ms: float | None = None
    retry_after: str | None = None
    error: str | None = None


# --- claiming -------------------------------------------------------------------------


def _ack_link(session, config: DispatchConfig, event: AlertEvent, sub: Subscription) -> str | None:  # noqa: ANN001
    """An advisory's acknowledgement link for the enterprise the subscription's key is
    bound to (None: not an advisory, no bound enterprise, or no link secret)."""
    if event.type != "advisory" or not config.ack_secret:
        return None
    from aqcast.service.acknowledgements import ack_url
    from aqcast.service.tables import ApiKey

    key = session.get(ApiKey, sub.owner_key_id)
    if key is None or key.enterprise_id is None:
        return None
    return ack_url(
        config.public_base_url,
        config.ack_secret,
        event,
        key.enterprise_id,
        config.ack_valid_hours,
        sub.language,
    )


def _body(session, config: DispatchConfig, event: AlertEvent, sub: Subscription) -> str:  # noqa: ANN001
    link = _ack_link(session, config, event, sub)
    fmt = sub.format or "standard"
    if fmt in robots.ROBOT_FORMATS:
        return robots.robot_body(fmt, event, sub.language, link)
    return event_body(event, sub.language, link)


def claim_due(
    engine: Engine,
    now: datetime,
    limit: int,
    lease_s: float,
    config: DispatchConfig | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries of active subscriptions until ``now + lease_s``."""
    config = config or DispatchConfig(retry=RetryPolicy(schedule_s=()))
    now = to_store_or_none(now)
    lease = now + timedelta(seconds=lease_s)
    due = (
        Delivery.status.in_(("pending", "sending")),
        Delivery.next_attempt_at <= now,
        or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
    )
    with session_scope(engine) as session:
        stmt = (
            select(Delivery.id)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            # a revoked owner key stops its subscriptions' deliveries at once
            .join(ApiKey, ApiKey.id == Subscription.owner_key_id)
            .where(*due, Subscription.status == "active", ApiKey.revoked_at.is_(None))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=Delivery, skip_locked=True)
        ids = list(session.scalars(stmt))
        if not ids:
            return []
        claimed = list(
            session.scalars(
                update(Delivery)
                .where(Delivery.id.in_(ids), *due)
                .values(status="sending", locked_until=lease)
                .returning(Delivery.id)
            )
        )
        rows = session.execute(
            select(Delivery.id, Subscription, AlertEvent)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .join(AlertEvent, AlertEvent.id == Delivery.event_id)
            .where(Delivery.id.in_(claimed))
            .order_by(Delivery.next_attempt_at, Delivery.id)
        ).all()
        return [
            Claim(
                delivery_id=did,
                lease=lease,
                subscription_id=sub.id,
                url=sub.url,
                secrets=tuple(
                    signing_secrets(
                        sub.secret, sub.previous_secret, sub.previous_secret_expires, now
                    )
                ),
                body=_body(session, config, event, sub),
                format=sub.format or "standard",
                robot_secret=sub.robot_secret,
            )
            for did, sub, event in rows
        ]


# --- sending --------------------------------------------------------------------------


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body; the rest is never read (the stream is closed)."""
    buf = bytearray()
    async for chunk in response.aiter_raw():
        buf += chunk
        if len(buf) >= limit:
            break
    return bytes(buf[:limit])


async def send_one(
    client: httpx.AsyncClient,
    claim: Claim,
    config: DispatchConfig,
    *,
    resolver: AsyncResolver = async_system_resolver,
    wall_clock: Callable[[], datetime] = store_now,
) -> AttemptResult:
    """One POST of ``claim``: URL re-checked and pinned, signed, bounded in time and size."""
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return round((time.perf_counter() - started) * 1000.0, 3)

    robot = claim.format in robots.ROBOT_FORMATS
    url_to_call = claim.url
    if claim.format == robots.DINGTALK and claim.robot_secret:
        # signed per attempt: DingTalk refuses a timestamp an hour away from its clock
        url_to_call = robots.dingtalk_url(claim.url, claim.robot_secret, wall_clock())
    try:
        target = await check_url_async(
            url_to_call,
            require_https=config.require_https,
            allow_private=config.allow_private,
            resolver=resolver,
        )
    except UnsafeURLError as exc:
        return AttemptResult(REFUSED, latency_ms=elapsed_ms(), error=str(exc))
    url, host_header, extensions = pinned_request(target)
    if robot:  # the robot's key (and DingTalk's signature) are in the URL
        headers = {"content-type": "application/json; charset=utf-8"}
    else:
        headers = webhook_headers(claim.delivery_id, wall_clock(), claim.body, claim.secrets)
    headers.update(host_header)
    headers["user-agent"] = USER_AGENT
    timeout = httpx.Timeout(config.timeout_s)
    try:
        # httpx times each phase; the outer deadline bounds a receiver that trickles bytes
        async with asyncio.timeout(config.timeout_s * 2):
            async with client.stream(
                "POST",
                url,
                content=claim.content,
                headers=headers,
                extensions=extensions,
                follow_redirects=False,
                timeout=timeout,
            ) as response:
                head = await _read_limited(response, config.max_response_bytes)
                status = response.status_code
                retry_after = response.headers.get("retry-after")
    except (httpx.TimeoutException, TimeoutError):
        return AttemptResult(TIMEOUT, latency_ms=elapsed_ms(), error="timed out")
    except (httpx.TransportError, httpx.InvalidURL, OSError) as exc:
        return AttemptResult(
            CONNECT_ERROR, latency_ms=elapsed_ms(), error=f"{type(exc).__name__}: {exc}"[:500]
        )
    outcome = OK if 200 <= status < 300 else HTTP_ERROR
    error = None
    if outcome == OK and robot:
        # robots answer 200 and say in the body whether they took the message
        retry_s = (
            config.wecom_rate_limit_retry_s
            if claim.format == robots.WECOM
            else config.dingtalk_rate_limit_retry_s
        )
        outcome, error, robot_wait = robots.interpret(claim.format, head, retry_s)
        retry_after = robot_wait or retry_after
    elif outcome != OK:
        error = head[:500].decode("utf-8", "replace") or None
    return AttemptResult(outcome, status, elapsed_ms(), retry_after, error)


# --- recording ------------------------------------------------------------------------


def _consecutive_dead_letters(session, subscription_id: str) -> int:  # noqa: ANN001
    last_ok = session.scalar(
        select(func.max(Delivery.delivered_at)).where(
            Delivery.subscription_id == subscription_id, Delivery.status == "delivered"
        )
    )
    stmt = select(func.count()).where(
        Delivery.subscription_id == subscription_id, Delivery.status == "dead"
    )
    if last_ok is not None:
        stmt = stmt.where(Delivery.created_at > last_ok)
    return int(session.scalar(stmt) or 0)


def disable_subscription(session, sub: Subscription, reason: str, now: datetime) -> None:  # noqa: ANN001
    """Disable ``sub`` and raise an operator alert (host only: paths may hold tokens)."""
    if sub.status == "disabled":
        return
    sub.status = "disabled"
    sub.flagged = True
    sub.updated_at = now
    host = httpx.URL(sub.url).host
    session.add(
        OperatorAlert(
            kind="webhook_disabled",
            subject=sub.id,
            message=f"webhook subscription {sub.id} to host {host} disabled: {reason}",
            raised_at=now,
            resolved_at=None,
        )
    )
    log.warning("subscription %s to host %s disabled: %s", sub.id, host, reason)


def record_result(
    engine: Engine,
    claim: Claim,
    result: AttemptResult,
    now: datetime,
    config: DispatchConfig,
    rng: random.Random,
) -> str:
    """Store the attempt and move the delivery on; returns the action taken
    (``delivered|retry|dead|gone``) or ``lost`` when the lease was no longer ours."""
    with session_scope(engine) as session:
        sub_id = session.scalar(
            select(Delivery.subscription_id).where(Delivery.id == claim.delivery_id)
        )
        if sub_id is None:
            return "lost"  # deleted with its subscription while the request was out
        if engine.dialect.name == "postgresql":
            # One subscription's results are recorded one at a time (subscription row
            # first, then the delivery): the failure counts (dead letters in a row) of
            # concurrent sends must see each other.
            session.scalar(
                select(Subscription.id).where(Subscription.id == sub_id).with_for_update()
            )
        session.add(
            DeliveryAttempt(
                delivery_id=claim.delivery_id,
                attempted_at=now,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                outcome=result.outcome,
                error=result.error,
            )
        )
        stmt = select(Delivery).where(
            Delivery.id == claim.delivery_id,
            Delivery.status == "sending",
            Delivery.locked_until == claim.lease,
        )
        if engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        delivery = session.scalar(stmt.execution_options(populate_existing=True))
        if delivery is None:
            return "lost"
        delivery.attempts = (delivery.attempts or 0) + 1
        decision = decide(
            outcome=result.outcome,
            status_code=result.status_code,
            attempts_made=delivery.attempts,
            now=now,
            policy=config.retry,
            rng=rng,
            retry_after=result.retry_after,
        )
        delivery.locked_until = None
        delivery.last_error = None if decision.action == DELIVERED else _describe(result)
        sub = session.get(Subscription, delivery.subscription_id)
        if decision.action == DELIVERED:
            delivery.status = "delivered"
            delivery.delivered_at = now
            if sub is not None and sub.failing_since is not None:
                sub.failing_since = None
            return DELIVERED
        if decision.action == RETRY:
            delivery.status = "pending"
            delivery.next_attempt_at = decision.next_attempt_at
        else:
            delivery.status = "dead"
        if sub is None:
            return decision.action
        if sub.failing_since is None:
            sub.failing_since = now
        if decision.action in (DEAD, GONE):
            sub.flagged = True
        reason = None
        if decision.action == GONE:
            reason = (
                "the endpoint answered 410 Gone"
                if result.status_code == 410
                else f"the robot does not exist ({result.error})"
            )
        elif now - sub.failing_since >= timedelta(hours=config.disable_after_hours):
            reason = f"failing since {sub.failing_since:%Y-%m-%d %H:%M} UTC"
        elif decision.action == DEAD:
            session.flush()
            n = _consecutive_dead_letters(session, sub.id)
            if n >= config.disable_after_dead_letters:
                reason = f"{n} dead letters in a row"
        if reason is not None and sub.status != "disabled":
            disable_subscription(session, sub, reason, now)
            return GONE if decision.action == GONE else f"{decision.action}+disabled"
        return decision.action


def _accepted(result: AttemptResult) -> bool:
    """A 2xx that needs no further decision (the policy delivers it on the first try)."""
    return (
        result.outcome == OK and result.status_code is not None and 200 <= result.status_code < 300
    )


def record_results(
    engine: Engine,
    items: list[tuple[Claim, AttemptResult, datetime]],
    config: DispatchConfig,
    rng: random.Random,
) -> list[str]:
    """Store many attempts at once; returns each one's action as ``record_result`` does.

    Accepted messages (2xx) are written together in one transaction: the attempts in one
    multi-row insert, the deliveries in one executemany update, and only the rows whose
    lease is still the one this dispatcher took. Every other result (retry, dead letter,
    disabling the subscription) goes through ``record_result`` one by one, because each
    depends on the failures recorded before it.
    """
    actions: list[str | None] = [None] * len(items)
    accepted = [i for i, (_c, r, _at) in enumerate(items) if _accepted(r)]
    if accepted:
        done = _record_delivered(engine, [items[i] for i in accepted])
        for i, action in zip(accepted, done, strict=True):
            actions[i] = action
    for i, (claim, result, at) in enumerate(items):
        if actions[i] is None:
            actions[i] = record_result(engine, claim, result, at, config, rng)
    return [a or "lost" for a in actions]


def _record_delivered(
    engine: Engine, items: list[tuple[Claim, AttemptResult, datetime]]
) -> list[str]:
    """The batched path of ``record_results`` for accepted messages."""
    ids = [c.delivery_id for c, _r, _at in items]
    deliveries, subscriptions = Delivery.__table__, Subscription.__table__
    # Core on one connection, not an ORM session: no objects are needed, and the session
    # machinery was most of the cost of a batch
    with engine.begin() as conn:
        found = select(
            deliveries.c.id,
            deliveries.c.subscription_id,
            deliveries.c.status,
            deliveries.c.locked_until,
        ).where(deliveries.c.id.in_(ids))
        if engine.dialect.name == "postgresql":
            # the same lock order as record_result (subscriptions first, in id order so
            # that two dispatchers' batches cannot deadlock), then the deliveries
            owners = select(deliveries.c.subscription_id).where(deliveries.c.id.in_(ids))
            conn.execute(
                select(subscriptions.c.id)
                .where(subscriptions.c.id.in_(owners))
                .order_by(subscriptions.c.id)
                .with_for_update()
            )
            found = found.with_for_update()
        rows = {r.id: r for r in conn.execute(found)}
        attempts = []
        delivered = []
        actions = []
        for claim, result, at in items:
            row = rows.get(claim.delivery_id)
            if row is None:  # deleted with its subscription while the request was out
                actions.append("lost")
                continue
            attempts.append(
                {
                    "delivery_id": claim.delivery_id,
                    "attempted_at": at,
                    "status_code": result.status_code,
                    "latency_ms": result.latency_ms,
                    "outcome": result.outcome,
                    "error": result.error,
                }
            )
            if row.status != "sending" or row.locked_until != claim.lease:
                actions.append("lost")  # the lease ran out and another dispatcher took it
                continue
            delivered.append({"b_id": claim.delivery_id, "b_at": at})
            actions.append(DELIVERED)
        if attempts:
            conn.execute(insert(DeliveryAttempt.__table__), attempts)
        if delivered:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == bindparam("b_id"))
                .values(
                    status="delivered",
                    delivered_at=bindparam("b_at"),
                    attempts=func.coalesce(deliveries.c.attempts, 0) + 1,
                    locked_until=None,
                    last_error=None,
                ),
                delivered,
            )
            sub_ids = sorted({rows[d["b_id"]].subscription_id for d in delivered})
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id.in_(sub_ids), subscriptions.c.failing_since.is_not(None))
                .values(failing_since=None)
            )
    return actions


def _describe(result: AttemptResult) -> str:
    if result.status_code is not None and result.outcome in (RATE_LIMITED, REJECTED, ROBOT_GONE):
        return f"HTTP {result.status_code}, {result.error}"[:500]  # a robot's error code
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return f"{result.outcome}: {result.error or ''}".strip()[:500]


# --- the batch and the loop -----------------------------------------------------------


def _batch_resolver(resolver: AsyncResolver) -> AsyncResolver:
    """``resolver`` asked once per host and port for one batch: a burst to one receiver
    resolves its name once, and every request still goes to an address checked moments
    before (the check itself runs per request on the answer)."""
    answers: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def resolve(host: str, port: int) -> list[str]:
        key = (host, port)
        if key not in answers:
            answers[key] = asyncio.ensure_future(resolver(host, port))
        return list(await asyncio.shield(answers[key]))

    return resolve


async def dispatch_due(
    engine: Engine,
    client: httpx.AsyncClient,
    now: datetime,
    limit: int = 100,
    *,
    config: DispatchConfig | None = None,
    resolver: AsyncResolver = async_system_resolver,
    wall_clock: Callable[[], datetime] = store_now,
    rng: random.Random | None = None,
) -> DispatchStats:
    """Claim up to ``limit`` deliveries due at ``now`` (naive UTC) and send them with at most
    ``config.max_in_flight`` requests in flight, oldest due first.

    Results are stored as they arrive, in group commits: while one transaction writes the
    results that have come in, the next ones gather for the following transaction, so a
    fast receiver costs a few transactions per batch instead of one per message.
    Nothing is acknowledged to anyone before its transaction commits.

    ``now`` drives scheduling (due times, leases, retries); ``wall_clock`` stamps the
    signature, which receivers compare with their own clock.
    """
    config = config or DispatchConfig.from_settings()
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    now = to_store_or_none(now)
    rounds = math.ceil(max(limit, 1) / max(config.max_in_flight, 1))
    lease_s = config.lease_s + rounds * config.timeout_s * 2
    claims = await asyncio.to_thread(claim_due, engine, now, limit, lease_s, config)
    stats = DispatchStats(claimed=len(claims))
    if not claims:
        return stats
    resolve = _batch_resolver(resolver)
    started = time.monotonic()
    results: list[tuple[Claim, AttemptResult, datetime]] = []
    arrived = asyncio.Event()
    sending_done = False

    def count(claim: Claim, result: AttemptResult, action: str) -> None:
        metrics.record_delivery(result.outcome)
        stats.outcomes[result.outcome] = stats.outcomes.get(result.outcome, 0) + 1
        if action == "lost":
            stats.lost_lease += 1
            return
        if action.endswith("+disabled") or action == GONE:
            stats.disabled += 1
        if action.startswith(DELIVERED):
            stats.delivered += 1
        elif action.startswith(RETRY):
            stats.retried += 1
        else:
            stats.dead += 1
            metrics.record_delivery("dead")
        log.info(
            "delivery %s: %s (%s)", claim.delivery_id, action, result.status_code or result.outcome
        )

    async def recorder() -> None:
        while True:
            if not results:
                if sending_done:
                    return
                arrived.clear()
                await arrived.wait()
                continue
            batch = results[:]
            results.clear()
            try:
                actions = await asyncio.to_thread(record_results, engine, batch, config, rng)
            except Exception:  # the leases run out and the deliveries go again: nothing lost
                log.exception("could not record %d attempts", len(batch))
                actions = ["lost"] * len(batch)
            for (claim, result, _at), action in zip(batch, actions, strict=True):
                count(claim, result, action)

    async def sender(queue: asyncio.Queue[Claim]) -> None:
        while True:
            try:
                claim = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await send_one(client, claim, config, resolver=resolve, wall_clock=wall_clock)
            results.append((claim, result, now + timedelta(seconds=time.monotonic() - started)))
            arrived.set()

    # a fixed pool of senders taking claims in order: bounded concurrency without a task
    # (and its body) per claim waiting on a semaphore
    queue: asyncio.Queue[Claim] = asyncio.Queue()
    for claim in claims:
        queue.put_nowait(claim)
    writing = asyncio.create_task(recorder())
    try:
        await asyncio.gather(
            *(sender(queue) for _ in range(min(config.max_in_flight, len(claims))))
        )
    finally:
        sending_done = True
        arrived.set()
        await writing
    return stats


def make_client(config: DispatchConfig) -> httpx.AsyncClient:
    """The HTTP client for deliveries: no redirects, no proxies from the environment
    (a proxy would bypass the address pinning), explicit timeouts, bounded connections."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout_s),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(
            max_connections=config.max_in_flight, max_keepalive_connections=config.max_in_flight
        ),
        headers={"user-agent": USER_AGENT},
    )


async def run_dispatcher(
    engine: Engine,
    *,
    config: DispatchConfig | None = None,
    clock: Callable[[], datetime] = store_now,
    batch_size: int = 100,
    poll_interval_s: float = 1.0,
    once: bool = False,
    stop: asyncio.Event | None = None,
    client: httpx.AsyncClient | None = None,
    resolver: AsyncResolver = async_system_resolver,
) -> DispatchStats:
    """Send due deliveries until ``stop`` is set (or, with ``once``, until nothing is due).

    ``clock`` gives "now" (naive or aware UTC); between empty polls it waits
    ``poll_interval_s`` of real time.
    """
    config = config or DispatchConfig.from_settings()
    stop = stop or asyncio.Event()
    total = DispatchStats()
    own_client = client is None
    client = client or make_client(config)
    try:
        while not stop.is_set():
            try:
                stats = await dispatch_due(
                    engine, client, clock(), batch_size, config=config, resolver=resolver
                )
            except Exception:
                if once:
                    raise
                # e.g. the database restarting: claimed rows wait for their lease to expire
                log.exception("dispatch failed; trying again in %.1f s", poll_interval_s)
                stats = DispatchStats()
            total.add(stats)
            if stats.claimed:
                continue
            if once:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_interval_s)
            except TimeoutError:
                pass
    finally:
        if own_client:
            await client.aclose()
    return total
