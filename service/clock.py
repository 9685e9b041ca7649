"""Clocks: the one source of "now" for scheduled work.

Jobs never call ``datetime.now()``; they ask the clock they are given. The service runs on
:class:`SystemClock`; ``aqcast demo`` replays past days on a :class:`SimulatedClock` that it
moves from one scheduled fire time to the next. All clocks return aware UTC datetimes
(the time rule and its converters: features/timeutil.py).
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aqcast.features.timeutil import aware_utc


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
        self._now = aware_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        when = aware_utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"simulated clock cannot go back from {self._now} to {when}")
            self._now = when

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
