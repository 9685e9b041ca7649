"""One error body for every failure of the API.

Every non-2xx response carries ``{"error": {"code": ..., "message": ..., "detail": ...}}``:
``code`` is a stable machine word (``unauthorized``, ``forbidden``, ``not_found``,
``validation_error``, ``conflict``, ``internal_error``, ...), ``message`` a sentence for
people, ``detail`` optional structure (for 422: one entry per bad field with its location).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class FieldError(BaseModel):
    """One bad input field of a 422 response."""

    loc: list[str | int]
    field: str
    message: str
    type: str
    input: Any = None


class ApiError(Exception):
    """Raise in a handler to answer with the error body."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code or _CODES.get(status_code, "error")
        self.message = message
        self.detail = detail
        self.headers = headers


def not_found(what: str, detail: Any = None) -> ApiError:
    return ApiError(404, f"{what} not found", detail=detail)


def error_response(
    status_code: int,
    message: str,
    *,
    code: str | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorDetail(
            code=code or _CODES.get(status_code, "error"), message=message, detail=detail
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _jsonable_input(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)[:200]


def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        field = ".".join(str(p) for p in loc[1:]) if len(loc) > 1 else ".".join(map(str, loc))
        out.append(
            FieldError(
                loc=loc,
                field=field,
                message=str(err.get("msg", "")),
                type=str(err.get("type", "")),
                input=_jsonable_input(err.get("input")),
            ).model_dump(mode="json")
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status_code, exc.message, code=exc.code, detail=exc.detail, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc)
        # Each bad field with what is wrong (an enum names its valid values).
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return error_response(422, f"invalid input: {fields}", detail=errors)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        from aqcast.service.store import is_unavailable

        if is_unavailable(exc):
            # One line in the log, not a traceback per request while the database is down.
            log.error(
                "database unavailable on %s %s: %s",
                request.method,
                request.url.path,
                str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
            )
            return error_response(
                503,
                "the database is unavailable; try again shortly",
                headers={"Retry-After": "30"},
            )
        log.exception("database error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the operators have been told")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the operators have been told")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error body for ``codes``."""
    described = {
        401: "No API key, or an unknown or revoked one.",
        403: "The key's role may not use this endpoint.",
        404: "Not found.",
        409: "Conflicts with the current state.",
        413: "The request body is larger than settings.api_max_body_bytes.",
        429: "Too many requests of this kind; see Retry-After.",
        422: "Invalid input; `detail` lists the bad fields.",
        503: "Not ready.",
    }
    return {c: {"model": ErrorBody, "description": described.get(c, "Error.")} for c in codes}
