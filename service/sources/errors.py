"""Errors raised by data sources.

InputError      a file or body that cannot be read as the source's format
                (names the file, line and field and the bad value)
FeedError       an outside service that failed (timeout, 5xx, 429 past retries,
                malformed body); the caller degrades, never crashes
"""

from __future__ import annotations


class InputError(ValueError):
    def __init__(
        self,
        source: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.source, self.line, self.field, self.value = source, line, field, value
        where = source
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        text = f"{where}: {message}"
        if value is not None:
            text += f" (value {value!r})"
        super().__init__(text)


def require_columns(source: str, columns: object, required: list[str] | tuple[str, ...]) -> None:
    """The one column check of every file reader: an InputError naming the header line and
    the first missing column when any of ``required`` is not among ``columns``."""
    have = set(columns)  # type: ignore[call-overload]
    missing = [c for c in required if c not in have]
    if missing:
        raise InputError(source, f"missing column(s) {missing}", line=1, field=missing[0])


class FeedError(RuntimeError):
    def __init__(self, feed: str, message: str) -> None:
        self.feed = feed
        super().__init__(f"{feed}: {message}")
