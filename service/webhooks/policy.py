"""What a delivery attempt's result means, and when to try again. Pure functions.

Decisions, per attempt result:
- 2xx: delivered.
- 410 Gone: the receiver says the endpoint is gone: dead-letter and disable the
  subscription at once.
- timeouts, connection errors, 429 and 5xx: retried along ``schedule_s`` (the delay before
  the 2nd, 3rd, ... attempt), each delay jittered by +-``jitter`` of itself; a 429's
  ``Retry-After`` (seconds or an HTTP date) is honoured when it asks for longer (capped at
  ``max_retry_after_s``). After ``1 + len(schedule_s)`` attempts: dead-lettered.
- other 3xx/4xx (redirects are not followed; 400, 401, 403, 404, 413, ...): usually a
  receiver misconfiguration that a retry minutes later will not fix, but a deploy or a
  secret rotation on their side can. Retried along the same schedule for at most
  ``client_error_attempts`` attempts in all, then dead-lettered.
- a target refused by the URL check at delivery time (its host now resolves to a
  private address): treated like a client error.
- a work-chat robot's error code: a rate limit is retried like a 429 (its wait as
  Retry-After), an unknown robot is treated like 410 Gone, any other code is a dead
  letter at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from aqcast.features.timeutil import as_utc

OK = "ok"
HTTP_ERROR = "http_error"
TIMEOUT = "timeout"
CONNECT_ERROR = "connect_error"
REFUSED = "refused"
# A work-chat robot's answers (HTTP 200 with an error code, see webhooks.robots):
RATE_LIMITED = "rate_limited"  # retried like a 429, after the platform's wait
REJECTED = "rejected"  # a permanent error: dead letter at once
ROBOT_GONE = "robot_gone"  # the robot no longer exists: like 410 Gone

DELIVERED = "delivered"
RETRY = "retry"
DEAD = "dead"
GONE = "gone"


@dataclass(frozen=True)
class RetryPolicy:
    schedule_s: tuple[float, ...]
    jitter: float = 0.2
    client_error_attempts: int = 3
    max_retry_after_s: float = 86400.0

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.schedule_s)


@dataclass(frozen=True)
class Decision:
    action: str  # delivered | retry | dead | gone
    next_attempt_at: datetime | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date);
    None when absent or unreadable. ``now`` is naive UTC."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (as_utc(when) - as_utc(now)).total_seconds())


def retry_delay_s(attempts_made: int, policy: RetryPolicy, rng: random.Random) -> float:
    """The jittered wait after the ``attempts_made``-th attempt (1-based) failed [s]."""
    base = policy.schedule_s[min(attempts_made, len(policy.schedule_s)) - 1]
    return base * rng.uniform(1.0 - policy.jitter, 1.0 + policy.jitter)


def is_retryable(outcome: str, status_code: int | None) -> bool:
    if outcome in {TIMEOUT, CONNECT_ERROR, RATE_LIMITED}:
        return True
    return status_code is not None and (status_code == 429 or status_code >= 500)


def decide(
    *,
    outcome: str,
    status_code: int | None,
    attempts_made: int,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    retry_after: str | None = None,
) -> Decision:
    """What to do after an attempt; ``attempts_made`` counts this attempt."""
    if outcome == OK and status_code is not None and 200 <= status_code < 300:
        return Decision(DELIVERED)
    if status_code == 410 or outcome == ROBOT_GONE:
        return Decision(GONE)
    if outcome == REJECTED:
        return Decision(DEAD)
    limit = (
        policy.max_attempts
        if is_retryable(outcome, status_code)
        else min(policy.max_attempts, policy.client_error_attempts)
    )
    if attempts_made >= limit:
        return Decision(DEAD)
    delay = retry_delay_s(attempts_made, policy, rng)
    if status_code == 429 or outcome == RATE_LIMITED:
        asked = parse_retry_after(retry_after, now)
        if asked is not None:
            delay = max(delay, min(asked, policy.max_retry_after_s))
    return Decision(RETRY, now + timedelta(seconds=delay))
