"""HTTP for the live feeds: explicit timeouts, bounded retries, errors as FeedError.

The client is passed in (tests give it an ``httpx.MockTransport``); so is ``sleep``, so
that waiting for a retry costs a test nothing. Retried: timeouts, connection errors, 5xx
(exponential backoff) and 429 (the server's ``Retry-After``, capped). Not retried: other
4xx. Headers are never put into messages: they may carry an API key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from aqcast.service.sources.errors import FeedError


def retry_after_s(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def get_json(
    client: httpx.Client,
    url: str,
    *,
    feed: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 20.0,
    retries: int = 3,
    backoff_s: float = 1.0,
    max_wait_s: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """GET ``url`` and return its decoded JSON body, retrying at most ``retries`` times."""
    problem = "no attempt made"
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            resp = client.get(url, params=params, headers=headers, timeout=timeout_s)
        except httpx.TimeoutException:
            problem = f"timed out after {timeout_s:g} s"
            wait = backoff_s * 2**attempt
        except httpx.TransportError as exc:
            problem = f"connection failed: {type(exc).__name__}"
            wait = backoff_s * 2**attempt
        else:
            if resp.status_code == 429:
                problem = "rate limited (HTTP 429)"
                wait = retry_after_s(resp.headers.get("Retry-After"), backoff_s * 2**attempt)
                if wait > max_wait_s:
                    raise FeedError(feed, f"{problem}; Retry-After {wait:.0f} s is too long")
            elif resp.status_code >= 500:
                problem = f"server error HTTP {resp.status_code}"
                wait = backoff_s * 2**attempt
            elif resp.status_code >= 400:
                raise FeedError(feed, f"HTTP {resp.status_code} for {url}: {resp.text[:200]}")
            else:
                try:
                    return resp.json()
                except ValueError as exc:
                    raise FeedError(feed, f"malformed JSON from {url}: {exc}") from None
        if last:
            break
        sleep(min(wait, max_wait_s))
    raise FeedError(feed, f"{problem} ({retries + 1} attempts) for {url}")


def shape_error(feed: str, what: str) -> FeedError:
    return FeedError(feed, f"unexpected response shape: {what}")
