"""ETag and Cache-Control for reads whose content changes only when a new run is stored."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

FORECAST_CACHE_CONTROL = "private, max-age=300, must-revalidate"


def etag_for(body: bytes, media_type: str) -> str:
    return '"' + hashlib.sha256(media_type.encode() + b"\0" + body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


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
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "Vary": "Accept, Authorization, X-API-Key",
        **(extra_headers or {}),
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept
