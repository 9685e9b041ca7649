"""The JSON body of a webhook message, built from a stored alert event.

Standard Webhooks envelope: ``{"type": ..., "timestamp": ..., "data": {...}}``. Texts that
the event keeps in several languages (a mapping with keys ``zh``/``en``) are reduced to
the subscription's language. The body is serialised once and signed as sent.
"""

from __future__ import annotations

import json
from typing import Any

from aqcast.service.tables import AlertEvent

LANGUAGES = ("zh", "en")


def localise(value: Any, language: str) -> Any:
    """``value`` with every ``{"zh": ..., "en": ...}`` mapping reduced to ``language``."""
    if isinstance(value, dict):
        if value and set(value) <= set(LANGUAGES):
            if language in value:
                return localise(value[language], language)
            return localise(next(iter(value.values())), language)
        return {k: localise(v, language) for k, v in value.items()}
    if isinstance(value, list):
        return [localise(v, language) for v in value]
    return value


def event_body(event: AlertEvent, language: str, ack_url: str | None = None) -> str:
    """The message body for ``event`` in ``language`` (compact JSON, UTF-8 text).

    ``ack_url``: an advisory's one-click acknowledgement link, as ``data.ack_url``.
    """
    envelope = {
        "type": event.type,
        "timestamp": event.created_at.isoformat(timespec="seconds") + "Z",
        "data": {
            "event_id": event.id,
            "area": event.area,
            "level": event.level,
            "issue_date": event.issue_date.isoformat(),
            "start_date": event.start_date.isoformat(),
            "end_date": event.end_date.isoformat(),
            "language": language,
            "details": localise(event.payload or {}, language),
        },
    }
    if ack_url:
        envelope["data"]["ack_url"] = ack_url
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str)
