"""Recent forecast skill against observations: stored forecasts (latest run of each issue
date, median ``q50``) paired with the observed daily statistics of their target days."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aqcast.features.places import DEFAULT_AREA
from aqcast.service.api.deps import ReaderKey, SessionDep
from aqcast.service.api.errors import error_responses
from aqcast.service.api.forecast_data import DailyVariable
from aqcast.service.forecasts import latest_run_ids
from aqcast.service.tables import DailyStat, ForecastValue, Station

router = APIRouter(prefix="/v1/verification", tags=["verification"])


class SkillPublic(BaseModel):
    variable: str
    lead_days: int
    n: int = Field(description="Forecast-observation pairs.")
    rmse: float | None = Field(description="Root mean square error, in the variable's unit.")
    mae: float | None = Field(description="Mean absolute error, in the variable's unit.")
    bias: float | None = Field(description="Mean of forecast minus observed.")
    r: float | None = Field(description="Pearson correlation (null below 2 pairs).")
    nmb: float | None = Field(description="Normalised mean bias (fraction).")
    nme: float | None = Field(description="Normalised mean error (fraction).")
    brier: float | None = Field(description="Brier score of the exceedance probability.")
    threshold: float | None
    hits: int
    misses: int
    false_alarms: int
    pod: float | None = Field(description="Hit rate: observed exceedances forecast (0-1).")
    far: float | None = Field(description="False alarm ratio (0-1).")
    csi: float | None = Field(description="Critical success index (0-1).")
    coverage_10_90: float | None = Field(description="Share of observations in the q10-q90 band.")


class VerificationPublic(BaseModel):
    start: date | None = Field(description="First target day scored.")
    end: date | None = Field(description="Last target day scored.")
    area: str | None
    station: str | None
    scores: list[SkillPublic]


def _none_if_nan(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def skill_scores(
    forecast: Sequence[float],
    observed: Sequence[float],
    threshold: float | None = None,
    q10: Sequence[float | None] | None = None,
    q90: Sequence[float | None] | None = None,
    p_exceed: Sequence[float | None] | None = None,
) -> dict:
    """Scores of ``forecast`` against ``observed`` (same unit) with the formulas of
    models.skill (as ``aqcast skill`` reports them), plus the mean error (bias)."""
    from aqcast.models.skill import brier_score, categorical_scores, continuous_scores, coverage

    def arr(values: Sequence[float | None] | None) -> np.ndarray:
        if values is None:
            return np.full(len(forecast), np.nan)
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    f, o = arr(forecast), arr(observed)
    out: dict = {"threshold": threshold}
    out.update(continuous_scores(f, o))
    ok = ~(np.isnan(f) | np.isnan(o))
    out["bias"] = float(np.mean(f[ok] - o[ok])) if ok.any() else None
    if threshold is not None:
        out.update(categorical_scores(f, o, threshold))
        out["brier"] = brier_score(arr(p_exceed), o, threshold)
    else:
        out.update(hits=0, misses=0, false_alarms=0, pod=None, far=None, csi=None, brier=None)
    out["coverage_10_90"] = coverage(arr(q10), arr(q90), o)
    for k in (
        "rmse",
        "mae",
        "r",
        "nmb",
        "nme",
        "bias",
        "pod",
        "far",
        "csi",
        "brier",
        "coverage_10_90",
    ):
        out[k] = _none_if_nan(out.get(k))
    return out


def window_start(end: date, days: int) -> date:
    """First day of the ``days``-day window ending on ``end`` (clamped at the calendar start)."""
    return end - timedelta(days=days - 1) if end.toordinal() > days else date.min


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def recent_skill(
    session: Session,
    *,
    end: date,
    days: int,
    area: str | None,
    station: str | None,
    variable: str | None,
) -> list[dict]:
    start = window_start(end, days)
    latest_runs = latest_run_ids().subquery()
    stmt = select(ForecastValue).where(
        ForecastValue.run_id.in_(select(latest_runs.c.run_id)),
        ForecastValue.target_date >= start,
        ForecastValue.target_date <= end,
    )
    if station is not None:
        stmt = stmt.where(ForecastValue.station == station)
    else:
        stmt = stmt.where(ForecastValue.area == (area or DEFAULT_AREA), ForecastValue.station == "")
    if variable is not None:
        stmt = stmt.where(ForecastValue.variable == variable)
    forecasts = list(session.scalars(stmt))

    obs_stmt = select(DailyStat.day, DailyStat.variable, DailyStat.value).where(
        DailyStat.day >= start, DailyStat.day <= end
    )
    if station is not None:
        obs_stmt = obs_stmt.join(Station, Station.id == DailyStat.station_id).where(
            Station.code == station
        )
    else:
        obs_stmt = obs_stmt.where(
            DailyStat.area == (area or DEFAULT_AREA), DailyStat.station_id.is_(None)
        )
    observed = {(d, v): val for d, v, val in session.execute(obs_stmt) if _finite(val)}

    groups: dict[tuple[str, int], list[ForecastValue]] = defaultdict(list)
    for fv in forecasts:
        if _finite(fv.q50) and (fv.target_date, fv.variable) in observed:
            groups[(fv.variable, fv.lead_days)].append(fv)
    scores = []
    for (var, lead), rows in sorted(groups.items()):
        thresholds = {r.threshold for r in rows if r.threshold is not None}
        scores.append(
            {
                "variable": var,
                "lead_days": lead,
                **skill_scores(
                    [r.q50 for r in rows],
                    [observed[(r.target_date, r.variable)] for r in rows],
                    threshold=thresholds.pop() if len(thresholds) == 1 else None,
                    q10=[r.q10 for r in rows],
                    q90=[r.q90 for r in rows],
                    p_exceed=[r.p_exceed for r in rows],
                ),
            }
        )
    return scores


@router.get(
    "",
    response_model=VerificationPublic,
    summary="Recent skill",
    description=(
        "Skill of the stored forecasts over the last `days` target days up to `end` (default: "
        "the latest day with both an observation and a forecast), for an area (default "
        "`district`) or one station: RMSE, "
        "MAE, bias, correlation, NMB/NME, POD/FAR/CSI and Brier score at each variable's "
        "threshold, and 10-90 % coverage, per variable and lead (formulas of models.skill)."
    ),
    responses=error_responses(401, 403, 422),
)
def get_verification(
    session: SessionDep,
    _key: ReaderKey,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    end: Annotated[date | None, Query(description="Last target day.")] = None,
    area: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] = None,
    station: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] = None,
    variable: Annotated[
        DailyVariable | None, Query(description="A daily variable (docs/nomenclature.md).")
    ] = None,
) -> dict:
    if end is None:
        # The latest day that has both an observation and a forecast: the store may hold
        # years of observations past the last forecast (a replayed demo month).
        last_obs = session.scalar(select(func.max(DailyStat.day)))
        last_fc = session.scalar(select(func.max(ForecastValue.target_date)))
        end = min(last_obs, last_fc) if last_obs and last_fc else last_obs
    if end is None:
        return {"start": None, "end": None, "area": area, "station": station, "scores": []}
    scores = recent_skill(
        session, end=end, days=days, area=area, station=station, variable=variable
    )
    return {
        "start": window_start(end, days),
        "end": end,
        "area": None if station else (area or DEFAULT_AREA),
        "station": station,
        "scores": scores,
    }


# Exceedance days the page scores: AQI above 100 (not good), O3 MDA8 above 160, PM2.5
# above 75 (GB 3095-2012 Grade II daily limits).
PAGE_EXCEEDANCES: tuple[tuple[str, float], ...] = (
    ("aqi", 100.0),
    ("o3_mda8", 160.0),
    ("pm25_24h", 75.0),
)


def recent_verification(session: Session, *, area: str, end: date, days: int = 30) -> dict:
    """The duty officers' verification of the last ``days`` target days up to ``end``, for
    the area and the forecasts issued on the day itself (lead 0): level accuracy (the
    observed AQI level among the levels the prompt named, see ``alerts.rounding.level_span``)
    and hits, misses and false alarms of exceedance days."""
    from aqcast.alerts.rounding import level_span
    from aqcast.features.aqi import aqi_level_numbers

    start = window_start(end, days)
    latest_runs = latest_run_ids().subquery()
    rows = session.scalars(
        select(ForecastValue).where(
            ForecastValue.run_id.in_(select(latest_runs.c.run_id)),
            ForecastValue.target_date >= start,
            ForecastValue.target_date <= end,
            ForecastValue.lead_days == 0,
            ForecastValue.area == area,
            ForecastValue.station == "",
            ForecastValue.variable.in_([v for v, _ in PAGE_EXCEEDANCES]),
        )
    )
    forecast = {(r.target_date, r.variable): r for r in rows if _finite(r.q50)}
    observed = {
        (d, v): val
        for d, v, val in session.execute(
            select(DailyStat.day, DailyStat.variable, DailyStat.value).where(
                DailyStat.day >= start,
                DailyStat.day <= end,
                DailyStat.area == area,
                DailyStat.station_id.is_(None),
            )
        )
        if _finite(val)
    }
    right = n_level = 0
    for (d, v), r in forecast.items():
        if v != "aqi" or (d, v) not in observed:
            continue
        q10 = r.q10 if _finite(r.q10) else r.q50
        q90 = r.q90 if _finite(r.q90) else r.q50
        lo, hi = level_span(q10, r.q50, q90)
        got = int(aqi_level_numbers([observed[(d, v)]])[0])
        n_level += 1
        right += int(lo <= got <= hi)
    exceed = []
    for variable, threshold in PAGE_EXCEEDANCES:
        pairs = [
            (forecast[(d, v)].q50, observed[(d, v)])
            for (d, v) in forecast
            if v == variable and (d, v) in observed
        ]
        exceed.append(
            {
                "variable": variable,
                "threshold": threshold,
                "n": len(pairs),
                "hits": sum(f > threshold and o > threshold for f, o in pairs),
                "misses": sum(f <= threshold < o for f, o in pairs),
                "false_alarms": sum(o <= threshold < f for f, o in pairs),
                "observed": sum(o > threshold for _, o in pairs),
            }
        )
    return {
        "start": start,
        "end": end,
        "days": days,
        "level_n": n_level,
        "level_right": right,
        "level_accuracy_pct": round(100.0 * right / n_level) if n_level else None,
        "exceedances": exceed,
    }
