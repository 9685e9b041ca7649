"""The FastAPI application: the /v1 resources, health, metrics and the duty officers' page.

``create_app(settings, clock=...)`` builds an app bound to one database (from settings);
the clock gives "now" (a demo replays days with a simulated clock).

Authentication: every /v1 resource needs an API key (``Authorization: Bearer <key>`` or
``X-API-Key``). The page ``/`` is public read-only when ``settings.env`` is ``development``
or ``test``; in ``production`` it asks for a key once (a form at ``/login``) and keeps it in
an HttpOnly, SameSite=Strict cookie. See service/api/page.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from aqcast.service.api import (
    ack_links,
    advisories,
    cap,
    docs,
    enterprises,
    events,
    forecasts,
    health,
    keys,
    models,
    page,
    prompts,
    stations,
    subscriptions,
    verification,
    warnings,
)
from aqcast.service.api.errors import install_error_handlers
from aqcast.service.api.limits import BodyLimitMiddleware
from aqcast.service.metrics import HTTP_REQUEST_SECONDS
from aqcast.service.settings import Settings, get_settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Every router of the app, in the order their paths are matched; each module of
# service/api exposes ``router``. A new resource is imported above and listed here.
ROUTERS = [
    health.router,
    forecasts.router,
    prompts.router,
    advisories.router,
    warnings.router,
    events.router,
    verification.router,
    stations.router,
    models.router,
    cap.router,
    keys.router,
    subscriptions.router,
    enterprises.router,
    ack_links.router,
    page.router,
    docs.router,
]

TAGS = [
    {"name": "forecasts", "description": "Daily forecasts, hourly O3 and critical values."},
    {"name": "prompts", "description": "The morning work prompt (工作提示)."},
    {"name": "advisories", "description": "Staggered-operation advisories by sector."},
    {"name": "warnings", "description": "Heavy-pollution warnings: active and history."},
    {"name": "events", "description": "Every alert event issued."},
    {"name": "verification", "description": "Recent forecast skill against observations."},
    {"name": "stations", "description": "Stations and their hourly observations."},
    {"name": "models", "description": "Trained model versions."},
    {"name": "cap", "description": "Common Alerting Protocol 1.2 messages and their index."},
    {"name": "keys", "description": "API key management (admin)."},
    {"name": "subscriptions", "description": "Webhook subscriptions, deliveries, replay."},
    {"name": "enterprises", "description": "The enterprise registry and acknowledgements."},
    {"name": "acknowledgement links", "description": "One-click links in advisory messages."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
    {"name": "page", "description": "The duty officers' page (HTML)."},
]


def utc_clock() -> datetime:
    return datetime.now(UTC)


class MetricsMiddleware:
    """Observe each request's latency under its route template (bounded label values)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUEST_SECONDS.labels(
                method=scope.get("method", ""), route=template, status=str(status["code"])
            ).observe(time.perf_counter() - start)


def create_app(settings: Settings | None = None, *, clock: object | None = None) -> FastAPI:
    """The app on ``settings`` (default: the environment's). ``clock`` is a callable
    returning now, or an object with ``now()`` (service.clock); default the wall clock."""
    settings = settings or get_settings()
    app = FastAPI(
        title="aqcast",
        version="1",
        summary="Daily ozone and PM2.5 forecasts, work prompts, advisories and warnings.",
        description=(
            "Versioned under `/v1`. Authenticate with an API key: `Authorization: Bearer "
            "<key>` or `X-API-Key: <key>`. Roles: `officer` and `dispatcher` read, "
            "`enterprise` manages its own webhook subscriptions, `admin` manages keys (and "
            'reads). Errors always answer `{"error": {"code", "message", "detail"}}`. '
            "Lists use limit/offset pagination (max limit 1000)."
        ),
        openapi_tags=TAGS,
        # /docs is served with local Swagger UI assets (service/api/docs.py): no CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock or utc_clock
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(docs.ASSETS, StaticFiles(directory=docs.assets_dir()), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
