"""A limit on request bodies: larger than ``settings.api_max_body_bytes`` answers 413
before the body is read into memory (a declared Content-Length is checked first; a
chunked body is counted as it arrives)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException

from aqcast.service.api.errors import error_response


def _message(max_bytes: int) -> str:
    return (
        f"request body larger than {max_bytes} bytes "
        "(settings.api_max_body_bytes, AQCAST_API_MAX_BODY_BYTES)"
    )


class BodyTooLargeError(HTTPException):
    """Raised while the body streams in; an HTTPException so that the request handler's
    body parsing passes it on (it turns other errors into 400) and it answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _message(max_bytes))


class BodyLimitMiddleware:
    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: dict, receive: Callable, send: Callable) -> None:
        response = error_response(413, _message(self.max_bytes), code="payload_too_large")
        await response(scope, receive, send)
