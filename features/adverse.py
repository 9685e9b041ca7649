"""Adverse meteorological conditions (不利气象条件) from daily weather aggregates.

Pure functions: the thresholds come in as an ``AdverseConfig`` (aqcast/config/adverse.yaml,
loaded by models/risk.py), the weather as a frame of daily aggregates named as in
features/features.yaml (``wind_speed_mean`` or ``wx_wind_speed_mean``).

Winter (pollution accumulation): the ventilation coefficient, boundary-layer height x
mean wind speed [m2/s], is below ``ventilation.max_m2s``; when the weather source has no
boundary-layer height (the PRSA data, many station feeds) the coefficient is not
computed (NaN) and the weak-wind condition stands in for it (documented fallback, since
surface wind is the factor of the coefficient that the source does give). The required
conditions (ventilation or its fallback, no precipitation) must all hold, and at least
``min_supporting`` of the supporting ones (high humidity, static stability where the
source has it) among those available. An episode is at least ``min_consecutive_days``
consecutive flagged days: a single flagged day is not an episode.

Summer (ozone-favourable): high maximum temperature, low humidity, strong radiation or
little cloud, weak wind; conditions whose input is missing are skipped, but at least
``min_available`` of them must be known.

Each flagged day names the conditions that hold (``conditions``).
"""

from __future__ import annotations

import operator
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Strict):
    """``aggregate op value``; or, with ``any_of``, any of the listed conditions."""

    name: str
    aggregate: str | None = None
    op: Literal["<", "<=", ">", ">="] | None = None
    value: float | None = None
    any_of: list[Condition] = Field(default_factory=list)


class Ventilation(_Strict):
    blh_aggregate: str = "boundary_layer_height_max"  # m
    wind_aggregate: str = "wind_speed_mean"  # m/s
    max_m2s: float = Field(gt=0)
    fallback: str = "weak_wind"  # the supporting/required condition standing in without BLH


class Winter(_Strict):
    months: list[int] = Field(min_length=1)
    ventilation: Ventilation
    required: list[Condition] = Field(default_factory=list)
    supporting: list[Condition] = Field(default_factory=list)
    min_supporting: int = Field(1, ge=0)
    min_consecutive_days: int = Field(2, ge=1)


class Summer(_Strict):
    months: list[int] = Field(min_length=1)
    conditions: list[Condition] = Field(min_length=1)
    min_available: int = Field(2, ge=1)


class AdverseConfig(_Strict):
    winter: Winter
    summer: Summer


def _column(weather: pd.DataFrame, aggregate: str) -> np.ndarray | None:
    for c in (f"wx_{aggregate}", aggregate):
        if c in weather.columns:
            return weather[c].to_numpy(dtype=float)
    return None


def _evaluate(c: Condition, weather: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(holds, available) per row."""
    n = len(weather)
    if c.any_of:
        holds, avail = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for sub in c.any_of:
            h, a = _evaluate(sub, weather)
            holds |= h
            avail |= a
        return holds, avail
    v = _column(weather, c.aggregate or "")
    if v is None or c.op is None or c.value is None:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    ok = ~np.isnan(v)
    return ok & _OPS[c.op](np.where(ok, v, 0.0), c.value), ok


def ventilation_index(weather: pd.DataFrame, config: AdverseConfig) -> np.ndarray:
    """Boundary-layer height x mean wind speed [m2/s]; NaN without either input."""
    v = config.winter.ventilation
    blh, wind = _column(weather, v.blh_aggregate), _column(weather, v.wind_aggregate)
    if blh is None or wind is None:
        return np.full(len(weather), np.nan)
    return blh * wind


def _runs_at_least(flag: np.ndarray, groups: np.ndarray, days: np.ndarray, n: int) -> np.ndarray:
    """Keep flags that belong to a run of at least ``n`` consecutive days (per group)."""
    if n <= 1:
        return flag
    keep = np.zeros(len(flag), dtype=bool)
    order = np.lexsort((days, groups))
    run: list[int] = []

    def close() -> None:
        if len(run) >= n:
            keep[run] = True
        run.clear()

    prev_g, prev_d = None, None
    for i in order:
        g, d = groups[i], days[i]
        contiguous = prev_g == g and prev_d is not None and (d - prev_d) == np.timedelta64(1, "D")
        if not flag[i] or not contiguous:
            close()
        if flag[i]:
            run.append(int(i))
        prev_g, prev_d = g, d
    close()
    return keep


def adverse_flags(
    weather: pd.DataFrame,
    config: AdverseConfig,
    *,
    day_column: str = "target_date",
    group_columns: tuple[str, ...] = ("area",),
) -> pd.DataFrame:
    """Per row of daily weather aggregates: ``ventilation_index`` [m2/s], ``adverse``
    (bool), ``adverse_kind`` (``winter`` / ``summer_ozone`` / ""), ``adverse_conditions``
    (the names of the conditions that hold, joined by "+"). Rows of one group (e.g. area
    and issue date) and consecutive days form the winter episodes."""
    n = len(weather)
    days = pd.to_datetime(weather[day_column]).to_numpy(dtype="datetime64[D]")
    months = pd.to_datetime(weather[day_column]).dt.month.to_numpy()
    w = config.winter
    vi = ventilation_index(weather, config)
    names: list[list[str]] = [[] for _ in range(n)]

    def note(mask: np.ndarray, name: str) -> None:
        for i in np.flatnonzero(mask):
            names[i].append(name)

    # Winter.
    has_vi = ~np.isnan(vi)
    vent_ok = has_vi & (np.where(has_vi, vi, np.inf) < w.ventilation.max_m2s)
    conds = {c.name: _evaluate(c, weather) for c in [*w.required, *w.supporting]}
    required_ok = np.where(has_vi, vent_ok, False)
    fb = conds.get(w.ventilation.fallback)
    if fb is not None:
        required_ok = np.where(has_vi, vent_ok, fb[0])
    note(vent_ok, "low_ventilation")
    for c in w.required:
        if c.name == w.ventilation.fallback:
            continue  # stands in for the ventilation only without a boundary layer
        h, a = conds[c.name]
        required_ok &= h & a
    supporting = np.zeros(n, dtype=int)
    for c in w.supporting:
        h, _ = conds[c.name]
        supporting += h
    for name, (h, _) in conds.items():
        note(h, name)
    winter_day = required_ok & (supporting >= w.min_supporting) & np.isin(months, w.months)
    groups = (
        weather[list(group_columns)].astype(str).agg("|".join, axis=1).to_numpy()
        if group_columns
        else np.zeros(n, dtype=object)
    )
    winter_flag = _runs_at_least(winter_day, groups, days, w.min_consecutive_days)

    # Summer, ozone-favourable.
    s = config.summer
    holds_all = np.ones(n, dtype=bool)
    available = np.zeros(n, dtype=int)
    summer_names: list[tuple[str, np.ndarray]] = []
    for c in s.conditions:
        h, a = _evaluate(c, weather)
        holds_all &= h | ~a
        available += a
        summer_names.append((c.name, h))
    summer_flag = holds_all & (available >= s.min_available) & np.isin(months, s.months)

    kind = np.where(winter_flag, "winter", np.where(summer_flag, "summer_ozone", ""))
    out_names = []
    for i in range(n):
        if winter_flag[i]:
            out_names.append("+".join(names[i]))
        elif summer_flag[i]:
            out_names.append("+".join(nm for nm, h in summer_names if h[i]))
        else:
            out_names.append("")
    return pd.DataFrame(
        {
            "ventilation_index": vi,
            "adverse": winter_flag | summer_flag,
            "adverse_kind": kind,
            "adverse_conditions": out_names,
        },
        index=weather.index,
    )
