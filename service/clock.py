"""Clocks: the one source of "now" for scheduled work.

Jobs never call ``datetime.now()``; they ask the clock they are given. The service runs on
:class:`SystemClock`; ``aqcast demo`` replays past days on a :class:`SimulatedClock` that it
moves from one scheduled fire time to the next. All clocks return aware UTC datetimes.
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, tz-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        _time.sleep(seconds)


class SimulatedClock:
    """A clock that stands still until it is moved; it never moves backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        when = as_utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"simulated clock cannot go back from {self._now} to {when}")
            self._now = when

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


def as_utc(when: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (it could be any zone)."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: give a time zone")
    return when.astimezone(UTC)


def store_time(when: datetime) -> datetime:
    """The store's form of a time: naive UTC."""
    return as_utc(when).replace(tzinfo=None)
