"""ETag and Cache-Control for reads whose content changes only when a new run is stored,
and the cache of the bodies built from a stored run.

A stored forecast run never changes: a new forecast of the same issue date is a new run
with a higher id. So a read of a run (``GET /v1/forecasts`` and the ozone and risk reads)
is fully named by the run (its id and creation time), the validated query and the media
type. ``run_cached_response`` derives the ETag from that name alone, so a matching
``If-None-Match`` is answered 304 before any body is built, and keeps the built body in a
per-app LRU cache so the JSON of a run is built once, not once per request. A new run
changes the name (and so the ETag and the cache key) of every read that shows it; old
entries age out of the LRU.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from fastapi import Request, Response

from aqcast import __version__

FORECAST_CACHE_CONTROL = "private, max-age=300, must-revalidate"
VARY = "Accept, Authorization, X-API-Key"
# Part of every run-derived ETag: a release that serialises a run differently must not
# answer 304 to a client holding the old bytes. Bump the suffix when the body changes.
BODY_REVISION = f"{__version__}+1"
# Bytes of built bodies kept per app (a forecast body is about 100 KB).
BODY_CACHE_MAX_BYTES = 64 * 1024 * 1024


def etag_for(body: bytes, media_type: str) -> str:
    return '"' + hashlib.sha256(media_type.encode() + b"\0" + body).hexdigest()[:32] + '"'


def run_etag(key: tuple, media_type: str) -> str:
    """The ETag of a body named by ``key`` (route, run id, run creation time, query)."""
    name = repr((BODY_REVISION, media_type, *key)).encode("utf-8")
    return '"' + hashlib.sha256(name).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


class BodyCache:
    """A thread-safe LRU of built response bodies, bounded in total bytes (route handlers
    run in the server's thread pool)."""

    def __init__(self, max_bytes: int = BODY_CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


_STATE_LOCK = threading.Lock()


def body_cache(request: Request) -> BodyCache:
    """The app's body cache (made on first use: one per app, so per database)."""
    state = request.app.state
    cache = getattr(state, "body_cache", None)
    if cache is None:
        with _STATE_LOCK:
            cache = getattr(state, "body_cache", None)
            if cache is None:
                cache = state.body_cache = BodyCache()
    return cache


def cached_response(
    request: Request,
    body: bytes,
    media_type: str,
    *,
    cache_control: str = FORECAST_CACHE_CONTROL,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """200 with ETag and Cache-Control, or 304 when the client holds this exact body."""
    etag = etag_for(body, media_type)
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": VARY, **(extra_headers or {})}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


def run_cached_response(
    request: Request,
    key: tuple,
    media_type: str,
    build: Callable[[], bytes],
    *,
    cache_control: str = FORECAST_CACHE_CONTROL,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The read named by ``key`` (it must hold the run's id and creation time and every
    query value the body depends on): 304 when ``If-None-Match`` holds its ETag, without
    calling ``build``; else the body from the cache, built by ``build()`` on a miss."""
    etag = run_etag(key, media_type)
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": VARY, **(extra_headers or {})}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    cache = body_cache(request)
    body = cache.get((media_type, key))
    if body is None:
        body = build()
        cache.put((media_type, key), body)
    return Response(content=body, media_type=media_type, headers=headers)


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept
