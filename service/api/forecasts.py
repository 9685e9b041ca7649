"""Forecast reads: the values of an issue (JSON or CSV), the hourly O3 profile with the
ozone critical value, the risk of adverse conditions, and the list of stored issues."""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from aqcast.features.places import DEFAULT_AREA
from aqcast.features.timeutil import as_utc_or_none
from aqcast.models.forecast import VALUE_COLUMNS
from aqcast.service.api.caching import run_cached_response, wants_csv
from aqcast.service.api.deps import NowDep, ReaderKey, SessionDep
from aqcast.service.api.errors import ApiError, error_responses
from aqcast.service.api.forecast_data import (
    DailyVariable,
    RunRef,
    latest_issue_date,
    latest_run_ref,
    payload_records,
    run_values,
    select_records,
)
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.forecasts import latest_run
from aqcast.service.tables import ForecastRun

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])

CSV_COLUMNS = VALUE_COLUMNS  # the stored forecast values, column for column
NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class ForecastValuePublic(BaseModel):
    issue_date: date
    target_date: date
    lead_days: int = Field(description="Days from the issue date to the target date (0-3).")
    area: str = Field(description="Area code; empty on station rows.")
    station: str = Field(description="Station code; empty on area rows.")
    variable: str = Field(description="Daily variable (docs/nomenclature.md), e.g. o3_mda8.")
    q10: float | None = Field(description="10 % quantile, in the variable's unit.")
    q50: float | None = Field(description="Median, in the variable's unit.")
    q90: float | None = Field(description="90 % quantile, in the variable's unit.")
    p_exceed: float | None = Field(description="Probability of exceeding `threshold` (0-1).")
    threshold: float | None
    method: str = Field(description="`model` or `fallback:<baseline>`.")


class ForecastRunPublic(BaseModel):
    run_id: int
    issue_date: date
    issued_at: datetime
    model_version: str | None
    met_mode: str = Field(description="Weather input: `stored`, `observed` or `none`.")
    method: str
    missing_inputs: list[str]
    notes: list[str]


class ForecastIssuePublic(ForecastRunPublic):
    values: list[ForecastValuePublic]


class HourlyO3Public(BaseModel):
    area: str
    station: str
    target_date: date
    hour: int = Field(description="Local hour 0-23 (start of the hour).")
    q10: float | None = Field(description="[ug/m3]")
    q50: float | None = Field(description="[ug/m3]")
    q90: float | None = Field(description="[ug/m3]")


class CriticalValuePublic(BaseModel):
    area: str
    station: str
    target_date: date
    critical_value_ugm3: float | None = Field(
        description="Hourly O3 that, reached at the forecast peak, makes MDA8 equal 160. [ug/m3]"
    )
    peak_hour: int | None
    likely_hours: list[int]


class RemainingHourLimitPublic(BaseModel):
    hour: int = Field(description="Local hour (start of the hour).")
    max_ugm3: float | None = Field(description="[ug/m3]")


class IntradayCriticalValuePublic(BaseModel):
    area: str
    day: date
    as_of: datetime = Field(description="UTC; hours before this local hour are complete.")
    hours_observed: int = Field(description="Complete local hours with an observed value.")
    morning_critical_value_ugm3: float | None = Field(
        description="The critical value published in the morning. [ug/m3]"
    )
    status: Literal["open", "already_exceeded", "unavoidable", "day_complete"]
    observed_mda8_ugm3: float | None = Field(
        description="MDA8 of the windows already complete. [ug/m3]"
    )
    remaining_level_ugm3: float | None = Field(
        description="Highest level the remaining hours may average for MDA8 to stay at or "
        "below 160. [ug/m3]"
    )
    critical_value_ugm3: float | None = Field(
        description="The updated critical value: the forecast shape of the remaining hours "
        "scaled to keep MDA8 at 160, at its peak. [ug/m3]"
    )
    peak_hour: int | None
    likely_hours: list[int]
    p_mda8_exceed: float | None = Field(
        None,
        description="P(MDA8 > 160 | the hours observed so far), calibrated; null for a run "
        "made without the hourly O3 model. docs/critical_value.md.",
    )
    exceedance_status: Literal["exceeded", "near_certain", "controllable", "no_risk"] | None = (
        Field(
            None,
            description="exceeded 已超标, near_certain 基本确定超标, controllable 仍可控, "
            "no_risk 已无超标风险 (thresholds in campaign.yaml `intraday`).",
        )
    )
    exceedance_status_zh: str | None = None
    remaining_hour_limits: list[RemainingHourLimitPublic] = Field(
        default_factory=list,
        description="Per remaining hour: the highest O3 it may reach with MDA8 still at or "
        "below 160, the other remaining hours at their forecast (null: none keeps it).",
    )


class OzoneOutlookPublic(BaseModel):
    issue_date: date
    run_id: int
    hourly_o3: list[HourlyO3Public]
    critical: list[CriticalValuePublic]


class RiskPublic(BaseModel):
    area: str
    target_date: date
    p_heavy: float | None = Field(description="Probability of a heavy-pollution day (AQI>200).")
    stagnation_index: float | None
    stagnation: bool | None
    ventilation_index: float | None = Field(
        None,
        description="Boundary-layer height x mean wind [m2/s]; null when the weather source "
        "has no boundary-layer height.",
    )
    adverse: bool | None = Field(
        None, description="Adverse meteorological conditions (不利气象条件) from the weather."
    )
    adverse_kind: str = Field("", description="winter, summer_ozone or empty.")
    adverse_conditions: list[str] = Field(
        default_factory=list, description="The conditions that hold (e.g. weak_wind)."
    )


class RiskOutlookPublic(BaseModel):
    issue_date: date
    run_id: int
    risk: list[RiskPublic]


def run_public(run: ForecastRun) -> dict:
    return {
        "run_id": run.id,
        "issue_date": run.issue_date,
        "issued_at": as_utc_or_none(run.issued_at),
        "model_version": run.model_version,
        "met_mode": run.met_mode,
        "method": run.method,
        "missing_inputs": [str(x) for x in run.missing_inputs or []],
        "notes": [str(x) for x in run.notes or []],
    }


def _not_found(session: SessionDep, issue_date: date | None) -> ApiError:
    latest = latest_issue_date(session)
    return ApiError(
        404,
        f"no forecast for issue date {issue_date}" if issue_date else "no forecast stored",
        detail={"latest_issue_date": latest.isoformat() if latest else None},
    )


def _run_or_404(session: SessionDep, issue_date: date | None) -> ForecastRun:
    day = issue_date or latest_issue_date(session)
    run = latest_run(session, day) if day is not None else None
    if run is None:
        raise _not_found(session, issue_date)
    return run


def _ref_or_404(session: SessionDep, issue_date: date | None) -> RunRef:
    """The run to show, named without reading its payload or values."""
    ref = latest_run_ref(session, issue_date)
    if ref is None:
        raise _not_found(session, issue_date)
    return ref


def _stored_run(session: SessionDep, ref: RunRef) -> ForecastRun:
    run = session.get(ForecastRun, ref.id)
    if run is None:  # deleted between the two reads
        raise ApiError(404, f"forecast run {ref.id} is no longer stored")
    return run


def _json_bytes(model: BaseModel) -> bytes:
    # NaN and infinities become null (JSON has no NaN)
    return model.model_dump_json().encode("utf-8")


@router.get(
    "",
    response_model=ForecastIssuePublic,
    summary="Forecast values of an issue date",
    description=(
        "Daily forecasts (quantiles and exceedance probability) of one issue date, by area, "
        "station, variable and lead. Without `issue_date`, the latest issue. Answers CSV with "
        "`format=csv` or `Accept: text/csv` (columns: " + ",".join(CSV_COLUMNS) + "). "
        "Carries an ETag; send it back in `If-None-Match` to get 304 when nothing changed. "
        "Not paginated: one issue holds at most a few hundred values."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        304: {"description": "Not modified."},
        **error_responses(401, 403, 404, 422),
    },
)
def get_forecasts(
    request: Request,
    session: SessionDep,
    _key: ReaderKey,
    issue_date: Annotated[date | None, Query(description="Issue date (local).")] = None,
    area: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    variable: Annotated[
        DailyVariable | None, Query(description="A daily variable (docs/nomenclature.md).")
    ] = None,
    lead_days: Annotated[int | None, Query(ge=0, le=10)] = None,
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,  # noqa: A002
) -> Response:
    ref = _ref_or_404(session, issue_date)
    as_csv = wants_csv(request, format)
    # the ETag and the cache key: the run and every validated query value
    key = ("forecasts", ref.id, ref.created_at, area, station, variable, lead_days)

    def build() -> bytes:
        run = _stored_run(session, ref)
        rows = run_values(
            session, run.id, area=area, station=station, variable=variable, lead_days=lead_days
        )
        values = [ForecastValuePublic.model_validate(r, from_attributes=True) for r in rows]
        if as_csv:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for v in values:
                d = v.model_dump(mode="json")
                writer.writerow([_csv_cell(d[c]) for c in CSV_COLUMNS])
            return buf.getvalue().encode("utf-8")
        return _json_bytes(ForecastIssuePublic(**run_public(run), values=values))

    if as_csv:
        return run_cached_response(
            request,
            key,
            "text/csv; charset=utf-8",
            build,
            extra_headers={
                "Content-Disposition": f'attachment; filename="forecast-{ref.issue_date}.csv"'
            },
        )
    return run_cached_response(request, key, "application/json", build)


@router.get(
    "/runs",
    response_model=Page[ForecastRunPublic],
    summary="Stored forecast issues",
    description="Forecast runs, newest issue date first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_runs(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    start: Annotated[date | None, Query(description="First issue date.")] = None,
    end: Annotated[date | None, Query(description="Last issue date.")] = None,
) -> dict:
    stmt = select(ForecastRun)
    if start is not None:
        stmt = stmt.where(ForecastRun.issue_date >= start)
    if end is not None:
        stmt = stmt.where(ForecastRun.issue_date <= end)
    stmt = stmt.order_by(ForecastRun.issue_date.desc(), ForecastRun.id.desc())
    rows, total = paginate(session, stmt, page)
    return make_page([run_public(r) for r in rows], total, page)


@router.get(
    "/{issue_date}/ozone",
    response_model=OzoneOutlookPublic,
    summary="Hourly O3 profile and ozone critical value",
    description=(
        "The forecast hourly O3 (local hours, quantiles) and the ozone critical value of each "
        "target day of the issue. Carries an ETag like the forecast values."
    ),
    responses={304: {"description": "Not modified."}, **error_responses(401, 403, 404, 422)},
)
def get_ozone(
    request: Request,
    session: SessionDep,
    _key: ReaderKey,
    issue_date: Annotated[date, Path(description="Issue date (local).")],
    area: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    target_date: Annotated[date | None, Query()] = None,
) -> Response:
    ref = _ref_or_404(session, issue_date)
    key = ("ozone", ref.id, ref.created_at, area, station, target_date)

    def build() -> bytes:
        run = _stored_run(session, ref)
        match = {"area": area, "station": station, "target_date": target_date}
        hourly = select_records(payload_records(run, "hourly_o3"), **match)
        critical = select_records(payload_records(run, "critical"), **match)
        body = OzoneOutlookPublic(
            issue_date=run.issue_date,
            run_id=run.id,
            hourly_o3=[HourlyO3Public.model_validate(_defaults(r)) for r in hourly],
            critical=[CriticalValuePublic.model_validate(_defaults(r)) for r in critical],
        )
        return _json_bytes(body)

    return run_cached_response(request, key, "application/json", build)


@router.get(
    "/{issue_date}/ozone/intraday",
    response_model=IntradayCriticalValuePublic,
    summary="The ozone critical value updated from the hours observed so far",
    description=(
        "For the issue date's own day: the stored observations of the area's stations up to "
        "now (the app's clock) against the morning forecast shape. `status` says whether the "
        "day can still stay at or below MDA8 160 (`open`), no longer can (`unavoidable`), or "
        "already has not (`already_exceeded`). See features/critical_value.py."
    ),
    responses=error_responses(401, 403, 404, 422),
)
def get_intraday(
    session: SessionDep,
    _key: ReaderKey,
    now: NowDep,
    issue_date: Annotated[date, Path(description="Issue date (local), the day updated.")],
    area: Annotated[str, Query(pattern=NAME_PATTERN)] = DEFAULT_AREA,
) -> IntradayCriticalValuePublic:
    from zoneinfo import ZoneInfo

    from aqcast.features.critical_value import intraday_critical_value_ugm3
    from aqcast.service.observations import observed_area_o3_hours
    from aqcast.service.settings import get_settings

    run = _run_or_404(session, issue_date)
    match = {"area": area, "station": "", "target_date": issue_date}
    crit = select_records(payload_records(run, "critical"), **match)
    profile = sorted(select_records(payload_records(run, "hourly_o3"), **match), key=_hour)
    if not crit or len(profile) != 24:
        raise ApiError(404, f"no ozone forecast for area {area!r} on {issue_date}")
    settings = get_settings()
    as_of = now.replace(tzinfo=ZoneInfo("UTC"))
    try:
        observed = observed_area_o3_hours(
            session.connection(), area, issue_date, settings.timezone, until=as_of
        )
    except KeyError as exc:
        raise ApiError(404, str(exc).strip("'\"")) from None
    shape = [float(r.get("q50") or 0.0) for r in profile]
    upd = intraday_critical_value_ugm3(observed, len(observed), forecast_profile_ugm3=shape)
    prob = _intraday_probability(run, observed, profile)
    return IntradayCriticalValuePublic(
        area=area,
        day=issue_date,
        as_of=as_of,  # aware: serialised with its offset
        hours_observed=sum(1 for v in observed if v == v),  # NaN != NaN
        morning_critical_value_ugm3=crit[0].get("critical_value_ugm3"),
        status=upd.status,
        observed_mda8_ugm3=_finite(upd.observed_mda8_ugm3),
        remaining_level_ugm3=_finite(upd.remaining_level_ugm3),
        critical_value_ugm3=_finite(upd.critical_value_ugm3),
        peak_hour=upd.peak_hour,
        likely_hours=[int(h) for h in upd.likely_hours or []],
        **prob,
    )


def _intraday_probability(run: ForecastRun, observed: list[float], profile: list[dict]) -> dict:
    from aqcast.features.intraday import STATUS_ZH
    from aqcast.models.hourly import intraday_update
    from aqcast.service.configured import current_campaign

    levels = current_campaign().intraday
    frame = pd.DataFrame(profile).reindex(columns=["hour", "q10", "q50", "q90"]).astype(float)
    upd = intraday_update(
        observed,
        frame,
        (run.payload or {}).get("intraday") or {},
        near_certain=levels.near_certain,
        no_risk=levels.no_risk,
    )
    return {
        "p_mda8_exceed": None if upd.p_mda8_exceed is None else round(upd.p_mda8_exceed, 3),
        "exceedance_status": upd.status,
        "exceedance_status_zh": STATUS_ZH.get(upd.status) if upd.status else None,
        "remaining_hour_limits": [
            RemainingHourLimitPublic(hour=h, max_ugm3=_finite(v))
            for h, v in sorted(upd.remaining_hour_limits_ugm3.items())
        ],
    }


def _hour(record: dict) -> int:
    return int(record.get("hour", 0))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 1)


@router.get(
    "/{issue_date}/risk",
    response_model=RiskOutlookPublic,
    summary="Risk of adverse conditions",
    description="Probability of heavy pollution and the stagnation indicator per target day, "
    "and the adverse-weather outlook from the weather forecast for D..D+6 (beyond the "
    "pollutant leads, where `p_heavy` is null).",
    responses={304: {"description": "Not modified."}, **error_responses(401, 403, 404, 422)},
)
def get_risk(
    request: Request,
    session: SessionDep,
    _key: ReaderKey,
    issue_date: Annotated[date, Path(description="Issue date (local).")],
    area: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
) -> Response:
    ref = _ref_or_404(session, issue_date)
    key = ("risk", ref.id, ref.created_at, area)

    def build() -> bytes:
        run = _stored_run(session, ref)
        risk = select_records(payload_records(run, "risk"), area=area)
        body = RiskOutlookPublic(
            issue_date=run.issue_date,
            run_id=run.id,
            risk=[RiskPublic.model_validate(_risk_defaults(r)) for r in risk],
        )
        return _json_bytes(body)

    return run_cached_response(request, key, "application/json", build)


def _csv_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def _risk_defaults(record: dict) -> dict:
    """A risk record with the adverse-weather fields in their public shape."""
    out = _defaults(record)
    for k in ("ventilation_index", "p_heavy", "stagnation_index"):
        v = out.get(k)
        out[k] = None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v
    adverse = out.get("adverse")
    out["adverse"] = None if adverse is None or adverse != adverse else bool(adverse)
    out["adverse_kind"] = out.get("adverse_kind") or ""
    conds = out.get("adverse_conditions") or ""
    out["adverse_conditions"] = [c for c in str(conds).split("+") if c]
    return out


def _defaults(record: dict) -> dict:
    """Fill the optional columns a payload record may lack."""
    out = {"area": "", "station": "", "likely_hours": [], **record}
    for k in ("area", "station"):
        out[k] = out[k] or ""
    out["target_date"] = str(out.get("target_date", ""))[:10]
    out["likely_hours"] = [int(h) for h in out.get("likely_hours") or []]
    out.setdefault("peak_hour", None)
    for k in ("critical_value_ugm3", "p_heavy", "stagnation_index", "stagnation"):
        out.setdefault(k, None)
    return out
