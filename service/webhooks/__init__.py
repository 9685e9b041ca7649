"""Webhook subscriptions and their signed, dependable delivery.

Modules:
- ``signing``: secrets (``whsec_`` + base64) and Standard Webhooks headers.
- ``url_guard``: which target URLs may be called (https, no private addresses).
- ``policy``: the retry schedule, Retry-After and what each response means (pure).
- ``subscriptions``: the domain operations behind the API (create, rotate, replay, ...).
- ``dispatcher``: claims due deliveries from the outbox with a lease and sends them.
- ``robots``: the WeCom and DingTalk group-robot formats (message, signature, answers).
- ``loopback``: a small verifying receiver on 127.0.0.1 for tests and benchmarks.

Errors raised by this package:

    WebhookError
    ├── UnsafeURLError        a target URL is refused (scheme, credentials, address)
    └── SubscriptionError     a request about a subscription cannot be honoured
        ├── NotFoundError     no such subscription/delivery visible to the caller
        ├── ConflictError     not possible in the current state (replay a delivered one, ...)
        └── RateLimitedError  too many requests of this kind (test events); retry later
"""

from __future__ import annotations


class WebhookError(Exception):
    """Base class of every error raised by ``aqcast.service.webhooks``."""


class UnsafeURLError(WebhookError):
    """A target URL that the service refuses to call."""


class SubscriptionError(WebhookError):
    """A subscription request that cannot be honoured as asked."""


class NotFoundError(SubscriptionError):
    """Nothing by that id that the caller may see (others' ids look absent, not forbidden)."""


class ConflictError(SubscriptionError):
    """Not possible in the current state (pause a disabled subscription, replay a sent one)."""


class RateLimitedError(SubscriptionError):
    """Too many requests of one kind in a window; ``retry_after_s`` says when to retry."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
