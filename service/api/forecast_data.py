"""Reading stored forecasts for the API and the page.

A forecast issue is a ``forecast_runs`` row and its ``forecast_values``; when an issue date
was forecast more than once, the latest run (highest id) is the one shown. The run's
``payload`` holds the hourly O3 profile (``hourly_o3``), the ozone critical value
(``critical``) and the risk of adverse conditions (``risk``) as lists of records with the
columns of ``models.forecast.Forecast`` (a column-oriented dict of lists is read too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aqcast.features.nomenclature import DAILY
from aqcast.service.tables import ForecastRun, ForecastValue

# The daily variables of the nomenclature, as an enum of the API: an hourly name such as
# ``pm25`` is refused with 422 naming these (its daily forecast is ``pm25_24h``).
DailyVariable = Literal[tuple(DAILY)]  # type: ignore[valid-type]


@dataclass(frozen=True)
class RunRef:
    """What names a stored run for caching: its id and creation time (a run never
    changes once stored; the creation time guards against an id reused after a delete)."""

    id: int
    issue_date: date
    created_at: datetime


def latest_run_ref(session: Session, issue_date: date | None = None) -> RunRef | None:
    """The run shown for ``issue_date`` (the latest issue date when None): the highest id
    of that date. One indexed query of three columns; the payload is not read."""
    stmt = select(ForecastRun.id, ForecastRun.issue_date, ForecastRun.created_at)
    if issue_date is not None:
        stmt = stmt.where(ForecastRun.issue_date == issue_date)
    row = session.execute(
        stmt.order_by(ForecastRun.issue_date.desc(), ForecastRun.id.desc()).limit(1)
    ).first()
    return None if row is None else RunRef(int(row.id), row.issue_date, row.created_at)


def latest_issue_date(session: Session, on_or_before: date | None = None) -> date | None:
    stmt = select(func.max(ForecastRun.issue_date))
    if on_or_before is not None:
        stmt = stmt.where(ForecastRun.issue_date <= on_or_before)
    return session.scalar(stmt)


def run_values(
    session: Session,
    run_id: int,
    *,
    area: str | None = None,
    station: str | None = None,
    variable: str | None = None,
    lead_days: int | None = None,
) -> list[ForecastValue]:
    stmt = select(ForecastValue).where(ForecastValue.run_id == run_id)
    if area is not None:
        stmt = stmt.where(ForecastValue.area == area)
    if station is not None:
        stmt = stmt.where(ForecastValue.station == station)
    if variable is not None:
        stmt = stmt.where(ForecastValue.variable == variable)
    if lead_days is not None:
        stmt = stmt.where(ForecastValue.lead_days == lead_days)
    stmt = stmt.order_by(
        ForecastValue.area,
        ForecastValue.station,
        ForecastValue.variable,
        ForecastValue.lead_days,
        ForecastValue.id,
    )
    return list(session.scalars(stmt))


def payload_records(run: ForecastRun, key: str) -> list[dict[str, Any]]:
    """The records stored under ``key`` in the run's payload (empty when absent)."""
    raw = (run.payload or {}).get(key)
    if not raw:
        return []
    if isinstance(raw, list):
        return [r for r in raw if isinstance(r, dict)]
    if isinstance(raw, dict):  # column-oriented
        cols = {k: v for k, v in raw.items() if isinstance(v, list)}
        n = min((len(v) for v in cols.values()), default=0)
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]
    return []


def select_records(records: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """Records whose fields equal ``match``; None matches anything, dates match ISO text."""

    def same(value: Any, wanted: Any) -> bool:
        if isinstance(wanted, date):
            return str(value)[:10] == wanted.isoformat()
        return value == wanted

    return [
        r
        for r in records
        if all(wanted is None or same(r.get(k), wanted) for k, wanted in match.items())
    ]
