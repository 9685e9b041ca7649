"""Alerts: campaign configuration, the morning work prompt, staggered-operation advisories,
heavy-pollution warnings, alert events and CAP 1.2 messages (docs/alerts.md)."""

from __future__ import annotations

from typing import Any

__all__ = ["hindcast_events", "forecasts_from_rows"]


def __getattr__(name: str) -> Any:
    # Lazy: the engine imports the whole package, which would be circular at import time.
    if name in __all__:
        from aqcast.alerts import engine

        return getattr(engine, name)
    raise AttributeError(name)
