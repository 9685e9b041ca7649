"""The national publishing platform's hourly tables over HTTP (a bureau's data interface).

The endpoint (``AQCAST_CNEMC_URL``) answers one hour per request, in the format of
``aqcast.service.sources.cnemc``: CSV (UTF-8 or GB18030) or JSON rows with the same keys.
Which hour: the URL may hold ``{timepoint:...}`` with a strftime format (for example
``https://bureau.example/aq/{timepoint:%Y%m%d%H}.csv``); otherwise the hour is sent as the
query parameter ``timepoint=YYYY-MM-DD HH:00:00``. Times are the platform's: Beijing time,
hour-ending (the hour 15:00-16:00 is ``16:00:00``).

Each pull asks for the last ``lookback_hours`` hours, so that late, partial (some stations
not yet in) and republished hours arrive: storing is idempotent, a blank never erases a
stored value, and a value published again with a correction replaces the stored one and
is recorded in ``observation_revisions``, as with every other reader.

Per hour: 404 (or a body with no rows) means "not published yet" and is no error;
timeouts, connection errors, 5xx and 429 are retried with backoff, then reported; a body
that cannot be read, or rows stamped with another hour, are reported for that hour. The
hours that came are stored together in one transaction; the others are retried at the
next pull.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
from sqlalchemy import Engine

from aqcast.service.cnemc_ingest import CnemcIngestReport, ingest_cnemc_tables
from aqcast.service.sources.cnemc import (
    SOURCE_TZ,
    CnemcTable,
    decode,
    parse_cnemc_csv,
    parse_cnemc_json,
)
from aqcast.service.sources.errors import FeedError, InputError
from aqcast.service.sources.feeds import retry_after_s

FEED = "cnemc"
BEIJING = ZoneInfo(SOURCE_TZ)
TIMEPOINT_FORMAT = "%Y-%m-%d %H:%M:%S"


def hour_url(url: str, hour_end: datetime) -> tuple[str, dict[str, str]]:
    """The request for the hour ending at ``hour_end`` (aware): ``(url, query params)``."""
    local = hour_end.astimezone(BEIJING).replace(tzinfo=None)
    if "{timepoint" in url:
        return url.format(timepoint=local), {}
    return url, {"timepoint": local.strftime(TIMEPOINT_FORMAT)}


def _get(
    client: httpx.Client,
    url: str,
    params: dict[str, str],
    *,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    max_wait_s: float,
    sleep: Callable[[float], None],
) -> httpx.Response | None:
    """The response, or None for 404; FeedError after ``retries`` retries."""
    problem = "no attempt made"
    for attempt in range(retries + 1):
        wait = backoff_s * 2**attempt
        try:
            resp = client.get(url, params=params, timeout=timeout_s)
        except httpx.TimeoutException:
            problem = f"timed out after {timeout_s:g} s"
        except httpx.TransportError as exc:
            problem = f"connection failed: {type(exc).__name__}"
        else:
            if resp.status_code == 404:
                return None
            if resp.status_code == 429:
                problem = "rate limited (HTTP 429)"
                wait = retry_after_s(resp.headers.get("Retry-After"), wait)
            elif resp.status_code >= 500:
                problem = f"server error HTTP {resp.status_code}"
            elif resp.status_code >= 400:
                raise FeedError(FEED, f"HTTP {resp.status_code} for {url}: {resp.text[:200]}")
            else:
                return resp
        if attempt == retries:
            break
        sleep(min(wait, max_wait_s))
    raise FeedError(FEED, f"{problem} ({retries + 1} attempts) for {url}")


def fetch_cnemc_hour(
    client: httpx.Client,
    url: str,
    hour_end: datetime,
    *,
    ozone_columns: dict[str, str] | None = None,
    area: str | None = None,
    stations: Sequence[str] | None = None,
    timeout_s: float = 20.0,
    retries: int = 3,
    backoff_s: float = 1.0,
    max_wait_s: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> CnemcTable | None:
    """One published hour (ending at ``hour_end``), or None when it is not published yet.
    Only the rows of ``area``/``stations`` are read when given.

    Raises FeedError when the service fails and InputError when the body is not the
    format (naming the hour, the line and the field).
    """
    request_url, params = hour_url(url, hour_end)
    stamp = hour_end.astimezone(BEIJING).strftime(TIMEPOINT_FORMAT)
    label = f"{FEED} {stamp}"
    resp = _get(
        client,
        request_url,
        params,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=backoff_s,
        max_wait_s=max_wait_s,
        sleep=sleep,
    )
    if resp is None or not resp.content.strip():
        return None
    only = {"area": area, "stations": list(stations) if stations else None}
    if "json" in resp.headers.get("content-type", "").lower():
        try:
            body = resp.json()
        except ValueError as exc:
            raise InputError(label, f"malformed JSON: {exc}") from None
        table = parse_cnemc_json(body, label, ozone_columns=ozone_columns, **only)
    else:
        text, encoding = decode(resp.content, label)
        table = parse_cnemc_csv(text, label, ozone_columns=ozone_columns, **only)
        table.encoding = encoding
    if table.frame.empty:
        return None
    expected = pd.Timestamp(hour_end).tz_convert("UTC") - pd.Timedelta(hours=1)
    other = (table.frame["time"] != expected).to_numpy()
    if other.any():
        i = int(other.argmax())
        raise InputError(
            label,
            "a row of another hour in the response for this hour",
            line=int(table.frame["line"].iloc[i]),
            field="timepoint",
            value=table.frame["timepoint"].iloc[i],
        )
    return table


@dataclass
class CnemcPull:
    """What one pull did: per hour ``stored``, ``not published`` or the error."""

    hours: dict[str, str] = field(default_factory=dict)
    report: CnemcIngestReport | None = None
    latest: datetime | None = None  # start (aware UTC) of the latest hour stored

    @property
    def errors(self) -> dict[str, str]:
        return {h: s for h, s in self.hours.items() if s not in ("stored", "not published")}

    def detail(self) -> dict:
        out: dict = {"hours": dict(self.hours)}
        if self.report is not None:
            out["summary"] = " | ".join(self.report.summary_lines(max_listed=3))[:2000]
            out["disagreements"] = len(self.report.disagreements)
        return out


def pull_cnemc(
    engine: Engine,
    client: httpx.Client,
    url: str,
    *,
    now: datetime,
    lookback_hours: int = 6,
    area: str | None = None,
    stations: Sequence[str] | None = None,
    ozone_columns: dict[str, str] | None = None,
    timeout_s: float = 20.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    tz: str | None = None,
) -> CnemcPull:
    """Fetch the hours ending in the last ``lookback_hours`` before ``now`` (aware) and
    store what came through the ingest path of ``aqcast ingest cnemc``."""
    last_end = pd.Timestamp(now).tz_convert("UTC").floor("h")
    pull = CnemcPull()
    tables = []
    for k in range(lookback_hours - 1, -1, -1):
        hour_end = (last_end - timedelta(hours=k)).to_pydatetime()
        stamp = hour_end.astimezone(BEIJING).strftime(TIMEPOINT_FORMAT)
        try:
            table = fetch_cnemc_hour(
                client,
                url,
                hour_end,
                ozone_columns=ozone_columns,
                area=area,
                stations=stations,
                timeout_s=timeout_s,
                retries=retries,
                sleep=sleep,
            )
        except (FeedError, InputError) as exc:
            pull.hours[stamp] = f"error: {exc}"
            continue
        if table is None:
            pull.hours[stamp] = "not published"
            continue
        pull.hours[stamp] = "stored"
        tables.append(table)
    if tables:
        pull.report = ingest_cnemc_tables(
            engine,
            tables,
            area=area,
            stations=stations,
            label=f"{FEED}@{last_end:%Y-%m-%dT%H:%MZ}",
            tz=tz,
            now=pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_pydatetime(),
        )
        if pull.report.rows_kept:
            pull.latest = max(t.frame["time"].max() for t in tables).to_pydatetime()
    return pull
