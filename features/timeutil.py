"""Times: the one rule every module follows, and the converters that apply it.

The rule:

- The store holds naive UTC (every DateTime column). A naive datetime in this code base is
  therefore UTC, and only values read from the store (or about to be written to it) may
  be naive.
- Every other time is aware: a clock's now, an issue time, a query parameter, a file's
  time column. Where a caller hands in a time whose zone cannot be guessed (a clock, the
  scheduler), :func:`aware_utc` refuses a naive one instead of assuming.
- A local wall time (a warning's start hour, a day's midnight) is converted with the
  area's zone given explicitly: :func:`local_to_store`, :func:`store_to_local`.

Pure functions (no I/O), so the domain and the service use the same ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

import pandas as pd


def as_utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime; a naive one is stored UTC (the rule above)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def as_utc_or_none(when: datetime | None) -> datetime | None:
    """:func:`as_utc`, passing None through (a stored time that may be empty)."""
    return None if when is None else as_utc(when)


def aware_utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime; a naive one is refused (it could be any zone)."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: give a time zone")
    return when.astimezone(UTC)


def to_store(when: datetime | pd.Timestamp | str) -> datetime:
    """The store's form of a time: naive UTC. A naive input is taken as UTC already."""
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def to_store_or_none(when: datetime | None) -> datetime | None:
    """:func:`to_store` for an optional datetime (kept a ``datetime``, never a Timestamp)."""
    if when is None:
        return None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def aware_to_store(when: datetime) -> datetime:
    """An aware time (naive refused, see :func:`aware_utc`) in the store's naive UTC form."""
    return aware_utc(when).replace(tzinfo=None)


def store_now() -> datetime:
    """The wall clock's now in the store's form (naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_to_store(when: datetime, tz: tzinfo) -> datetime:
    """A local wall time in ``tz`` (naive, or aware in any zone) as stored naive UTC."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=tz)
    return aware.astimezone(UTC).replace(tzinfo=None)


def store_to_local(when: datetime, tz: tzinfo) -> datetime:
    """A time (naive = stored UTC, or aware) as an aware time in the local zone ``tz``."""
    return as_utc(when).astimezone(tz)


def series_to_store(times: pd.Series) -> pd.Series:
    """A tz-aware time column as stored naive UTC (nanoseconds). The caller checks that
    the column carries a zone (a file's column without one is an input error there)."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")
