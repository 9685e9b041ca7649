"""Webhook subscriptions, their deliveries and delivery attempts (roles enterprise, admin).

An enterprise key sees and changes only the subscriptions it created; others' ids answer
404 exactly like ids that do not exist. An admin key sees all. The signing secret is in
the responses of create and rotate-secret only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.api.deps import NowDep, SessionDep, SettingsDep, require_role
from aqcast.service.api.errors import ApiError, error_responses
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page
from aqcast.service.tables import ApiKey, Delivery, DeliveryAttempt, Subscription
from aqcast.service.webhooks import (
    ConflictError,
    NotFoundError,
    RateLimitedError,
    SubscriptionError,
    UnsafeURLError,
    WebhookError,
)
from aqcast.service.webhooks import subscriptions as ops

router = APIRouter(tags=["subscriptions"])

EnterpriseKey = Annotated[ApiKey, Depends(require_role("enterprise", "admin"))]
EventType = Literal[
    "prompt", "advisory", "warning", "critical_value_crossed", "ozone_exceedance_risk", "test"
]
Language = Literal["zh", "en"]
Format = Literal["standard", "wecom", "dingtalk"]
RobotSecret = Annotated[str, Field(min_length=4, max_length=256, pattern=r"^[\x21-\x7e]+$")]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryId = Annotated[str, Path(min_length=1, max_length=64)]
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2048,
        # Any absolute URL: the URL guard then names what is wrong with its scheme or host.
        pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+[^\s]*$",
        examples=["https://example.com/hook"],
    ),
]


# Per-field list limits: far above any real subscription, far below a flood.
MAX_EVENT_TYPES = 5
MAX_AREAS = 50
MAX_SECTORS = 50


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url = Field(description="Where to POST; https in production, no private addresses.")
    event_types: list[EventType] = Field(min_length=1, max_length=MAX_EVENT_TYPES)
    areas: list[Name] = Field(
        default_factory=list, max_length=MAX_AREAS, description="Empty: every area."
    )
    sectors: list[Name] = Field(
        default_factory=list,
        max_length=MAX_SECTORS,
        description="Advisories only for these sectors; empty: all.",
    )
    language: Language = "zh"
    format: Format = Field(
        default="standard",
        description="`standard` (Standard Webhooks, signed), `wecom` (企业微信群机器人: url is "
        "the robot's address with its key) or `dingtalk` (钉钉自定义机器人: url with its "
        "access_token, and `robot_secret`). Areas and sectors left out default to the "
        "bound enterprise's area and sectors.",
    )
    robot_secret: RobotSecret | None = Field(
        default=None, description="The DingTalk robot's signing secret (SEC...). Never shown."
    )


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    event_types: list[EventType] | None = Field(
        default=None, min_length=1, max_length=MAX_EVENT_TYPES
    )
    areas: list[Name] | None = Field(default=None, max_length=MAX_AREAS)
    sectors: list[Name] | None = Field(default=None, max_length=MAX_SECTORS)
    language: Language | None = None
    robot_secret: RobotSecret | None = None


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    areas: list[str]
    sectors: list[str]
    language: str
    format: str = "standard"
    status: Literal["active", "paused", "disabled"]
    flagged: bool = Field(description="Has dead letters, or was disabled by the service.")
    failing_since: datetime | None
    secret_rotating_until: datetime | None = Field(
        description="Until then messages carry a signature with the previous secret too."
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="The signing secret (`whsec_...`). Shown only here.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret. Shown only here.")
    previous_valid_until: datetime


class DeliveryPublic(BaseModel):
    id: str = Field(description="Also the `webhook-id` header: stable across retries.")
    event_id: str
    subscription_id: str
    status: Literal["pending", "sending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None


class AttemptPublic(BaseModel):
    id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float | None
    outcome: str = Field(description="ok, http_error, timeout, connect_error or refused.")
    error: str | None


class Replayed(BaseModel):
    replayed: int


def subscription_public(sub: Subscription, now: datetime | None = None) -> dict:
    rotating = sub.previous_secret_expires
    if rotating is not None and now is not None and rotating <= now:
        rotating = None
    return {
        "id": sub.id,
        "url": sub.url,
        "event_types": list(sub.event_types),
        "areas": list(sub.areas or []),
        "sectors": list(sub.sectors or []),
        "language": sub.language,
        "format": sub.format or "standard",
        "status": sub.status,
        "flagged": bool(sub.flagged),
        "failing_since": as_utc_or_none(sub.failing_since),
        "secret_rotating_until": as_utc_or_none(rotating),
        "created_at": as_utc_or_none(sub.created_at),
        "updated_at": as_utc_or_none(sub.updated_at),
    }


def delivery_public(d: Delivery) -> dict:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "subscription_id": d.subscription_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": as_utc_or_none(d.next_attempt_at),
        "created_at": as_utc_or_none(d.created_at),
        "delivered_at": as_utc_or_none(d.delivered_at),
        "last_error": d.last_error,
    }


def attempt_public(a: DeliveryAttempt) -> dict:
    return {
        "id": a.id,
        "attempted_at": as_utc_or_none(a.attempted_at),
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "outcome": a.outcome,
        "error": a.error,
    }


def _api_error(exc: Exception) -> ApiError:
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc))
    if isinstance(exc, ConflictError):
        return ApiError(409, str(exc))
    if isinstance(exc, RateLimitedError):
        return ApiError(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, UnsafeURLError):
        return ApiError(422, str(exc), detail=[{"field": "url", "message": str(exc)}])
    field = str(exc).split(":", 1)[0] if ":" in str(exc) else ""
    return ApiError(422, str(exc), detail=[{"field": field, "message": str(exc)}])


def _sub(session: SessionDep, key: ApiKey, subscription_id: str) -> Subscription:
    try:
        return ops.get_subscription(session, key, subscription_id)
    except NotFoundError as exc:
        raise _api_error(exc) from None


def _delivery(session: SessionDep, key: ApiKey, delivery_id: str) -> Delivery:
    try:
        return ops.get_delivery(session, key, delivery_id)
    except NotFoundError as exc:
        raise _api_error(exc) from None


@router.post(
    "/v1/subscriptions",
    response_model=SubscriptionCreated,
    status_code=201,
    summary="Subscribe to alerts",
    description="The response carries the signing secret; it is not shown again.",
    responses=error_responses(401, 403, 413, 422),
)
def create(
    body: SubscriptionCreate,
    session: SessionDep,
    key: EnterpriseKey,
    settings: SettingsDep,
    now: NowDep,
) -> dict:
    try:
        sub, secret = ops.create_subscription(
            session, key, **body.model_dump(exclude_unset=True), settings=settings, now=now
        )
    except WebhookError as exc:
        raise _api_error(exc) from None
    return {**subscription_public(sub, now), "secret": secret}


@router.get(
    "/v1/subscriptions",
    response_model=Page[SubscriptionPublic],
    summary="List subscriptions",
    description="Your subscriptions (all of them for an admin), oldest first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_(session: SessionDep, key: EnterpriseKey, page: PageDep, now: NowDep) -> dict:
    rows, total = ops.list_subscriptions(session, key, limit=page.limit, offset=page.offset)
    return make_page([subscription_public(r, now) for r in rows], total, page)


@router.get(
    "/v1/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    summary="One subscription",
    responses=error_responses(401, 403, 404),
)
def get(subscription_id: SubscriptionId, session: SessionDep, key: EnterpriseKey, now: NowDep):
    return subscription_public(_sub(session, key, subscription_id), now)


@router.patch(
    "/v1/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    summary="Change a subscription",
    description="Only the fields given change; a new URL is checked like on creation.",
    responses=error_responses(401, 403, 404, 422),
)
def update(
    subscription_id: SubscriptionId,
    body: SubscriptionUpdate,
    session: SessionDep,
    key: EnterpriseKey,
    settings: SettingsDep,
    now: NowDep,
) -> dict:
    sub = _sub(session, key, subscription_id)
    try:
        ops.update_subscription(
            session, sub, settings=settings, now=now, **body.model_dump(exclude_unset=True)
        )
    except WebhookError as exc:
        raise _api_error(exc) from None
    return subscription_public(sub, now)


@router.post(
    "/v1/subscriptions/{subscription_id}/pause",
    response_model=SubscriptionPublic,
    summary="Pause sending",
    description="New events still queue up; they are sent after resume.",
    responses=error_responses(401, 403, 404, 409),
)
def pause(subscription_id: SubscriptionId, session: SessionDep, key: EnterpriseKey, now: NowDep):
    sub = _sub(session, key, subscription_id)
    try:
        ops.pause_subscription(sub, now)
    except SubscriptionError as exc:
        raise _api_error(exc) from None
    return subscription_public(sub, now)


@router.post(
    "/v1/subscriptions/{subscription_id}/resume",
    response_model=SubscriptionPublic,
    summary="Resume sending",
    description="Also re-enables a subscription the service disabled; the URL is re-checked.",
    responses=error_responses(401, 403, 404, 422),
)
def resume(
    subscription_id: SubscriptionId,
    session: SessionDep,
    key: EnterpriseKey,
    settings: SettingsDep,
    now: NowDep,
) -> dict:
    sub = _sub(session, key, subscription_id)
    try:
        ops.resume_subscription(sub, now, settings)
    except WebhookError as exc:
        raise _api_error(exc) from None
    return subscription_public(sub, now)


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    status_code=204,
    summary="Delete a subscription",
    description="Removes it with its deliveries and their attempts.",
    responses=error_responses(401, 403, 404),
)
def delete(subscription_id: SubscriptionId, session: SessionDep, key: EnterpriseKey) -> Response:
    ops.delete_subscription(session, _sub(session, key, subscription_id))
    return Response(status_code=204)


@router.post(
    "/v1/subscriptions/{subscription_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Rotate the signing secret",
    description=(
        "A new secret; messages also carry a signature with the previous one until "
        "`previous_valid_until` (settings.webhook_secret_grace_hours)."
    ),
    responses=error_responses(401, 403, 404),
)
def rotate(
    subscription_id: SubscriptionId,
    session: SessionDep,
    key: EnterpriseKey,
    settings: SettingsDep,
    now: NowDep,
) -> dict:
    sub = _sub(session, key, subscription_id)
    secret = ops.rotate_secret(sub, now, settings.webhook_secret_grace_hours)
    return {"secret": secret, "previous_valid_until": as_utc_or_none(sub.previous_secret_expires)}


@router.post(
    "/v1/subscriptions/{subscription_id}/test",
    response_model=DeliveryPublic,
    status_code=202,
    summary="Send a test event",
    description=(
        "Queues a `test` event (status `Test`) for this subscription only; follow the "
        "delivery. Test events never appear in /v1/events or /v1/cap; at most "
        "settings.webhook_test_events_per_hour per subscription (429 beyond)."
    ),
    responses=error_responses(401, 403, 404, 409, 429),
)
def send_test(
    subscription_id: SubscriptionId,
    session: SessionDep,
    key: EnterpriseKey,
    settings: SettingsDep,
    now: NowDep,
) -> dict:
    sub = _sub(session, key, subscription_id)
    try:
        return delivery_public(
            ops.send_test_event(
                session, sub, now, tz=settings.tz, per_hour=settings.webhook_test_events_per_hour
            )
        )
    except SubscriptionError as exc:
        raise _api_error(exc) from None


@router.get(
    "/v1/subscriptions/{subscription_id}/deliveries",
    response_model=Page[DeliveryPublic],
    summary="A subscription's deliveries",
    description="Newest first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 404, 422),
)
def deliveries(
    subscription_id: SubscriptionId,
    session: SessionDep,
    key: EnterpriseKey,
    page: PageDep,
    status: Annotated[Literal["pending", "sending", "delivered", "dead"] | None, Query()] = None,
) -> dict:
    sub = _sub(session, key, subscription_id)
    rows, total = ops.list_deliveries(
        session, sub, status=status, limit=page.limit, offset=page.offset
    )
    return make_page([delivery_public(d) for d in rows], total, page)


@router.post(
    "/v1/subscriptions/{subscription_id}/replay",
    response_model=Replayed,
    summary="Replay every dead letter",
    responses=error_responses(401, 403, 404),
)
def replay_all(
    subscription_id: SubscriptionId, session: SessionDep, key: EnterpriseKey, now: NowDep
) -> dict:
    sub = _sub(session, key, subscription_id)
    return {"replayed": ops.replay_dead_letters(session, sub, now)}


@router.get(
    "/v1/deliveries/{delivery_id}",
    response_model=DeliveryPublic,
    summary="One delivery",
    responses=error_responses(401, 403, 404),
)
def delivery(delivery_id: DeliveryId, session: SessionDep, key: EnterpriseKey) -> dict:
    return delivery_public(_delivery(session, key, delivery_id))


@router.get(
    "/v1/deliveries/{delivery_id}/attempts",
    response_model=Page[AttemptPublic],
    summary="A delivery's attempts",
    description="Oldest first: time, status code, latency and outcome. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 404, 422),
)
def attempts(
    delivery_id: DeliveryId, session: SessionDep, key: EnterpriseKey, page: PageDep
) -> dict:
    rows = ops.list_attempts(session, _delivery(session, key, delivery_id))
    chunk = rows[page.offset : page.offset + page.limit]
    return make_page([attempt_public(a) for a in chunk], len(rows), page)


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    response_model=DeliveryPublic,
    summary="Replay a dead letter",
    description="Sends it again from the start of the retry schedule, with the same id.",
    responses=error_responses(401, 403, 404, 409),
)
def replay(delivery_id: DeliveryId, session: SessionDep, key: EnterpriseKey, now: NowDep):
    d = _delivery(session, key, delivery_id)
    try:
        ops.replay_delivery(session, d, now)
    except SubscriptionError as exc:
        raise _api_error(exc) from None
    return delivery_public(d)
