"""One line for a failure that reaches the user: the command line and the API both say
what went wrong without a traceback (the traceback goes to the log, or to the terminal
with ``aqcast --debug``)."""

from __future__ import annotations

from aqcast.service.settings import get_settings
from aqcast.service.store import describe_unavailable, is_unavailable


def describe_failure(exc: BaseException, database_url: str | None = None) -> str:
    """A one-line account of ``exc`` for people: an unreachable database names the
    database (password hidden); the project's own errors their message; anything else
    its type and first line."""
    if is_unavailable(exc):
        return describe_unavailable(database_url or get_settings().database_url, exc)
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if first and type(exc).__module__.startswith("aqcast."):
        return first  # the project's own errors are written for people
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
