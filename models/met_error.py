"""Forecast-like weather from observed weather: a documented error model for replays.

``perturbed_forecasts(observed, issues, model, seed=...)`` turns the observed hourly
weather of the stations into one weather forecast per issue: hours before the issue time
keep their observed values (known then); later hours get errors whose RMSE grows with the
forecast step, correlated in time (AR(1)) and between stations (exponential in distance);
precipitation is mistimed, scaled, missed or invented per local day. The sizes live in
models/met_error.yaml (with their sources). Pure: frames and a seed in, a frame out; the
same seed gives the same forecasts, and each issue's errors depend only on the seed and
its issue date (not on which other issue dates are replayed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aqcast.configuration import load_yaml_model

ERROR_MODEL_PATH = Path(__file__).resolve().parent / "met_error.yaml"
EARTH_RADIUS_KM = 6371.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariableError(_Strict):
    rmse: list[float] = Field(min_length=1)  # at MetErrorModel.step_hours, in the variable's unit
    correlation_hours: float = Field(gt=0)  # e-folding time of the AR(1) error
    correlation_km: float = Field(gt=0)  # e-folding distance between stations
    kind: Literal["additive", "multiplicative", "angle"] = "additive"
    clip: tuple[float | None, float | None] = (None, None)


class PrecipitationError(_Strict):
    wet_day_mm: float = Field(ge=0)
    miss_probability: list[float]
    false_alarm_probability: list[float]
    false_alarm_mm: float = Field(ge=0)
    timing_sd_hours: list[float]
    amount_log_sd: list[float]


class MetErrorModel(_Strict):
    source: str
    run_age_hours: float = Field(ge=0)
    step_hours: list[float] = Field(min_length=1)
    variables: dict[str, VariableError]
    default_station_correlation: float = Field(ge=0, le=1)
    precipitation: PrecipitationError | None = None

    @model_validator(mode="after")
    def _lengths(self) -> MetErrorModel:
        n = len(self.step_hours)
        if any(b <= a for a, b in zip(self.step_hours, self.step_hours[1:], strict=False)):
            raise ValueError("step_hours must increase")
        for name, v in self.variables.items():
            if len(v.rmse) != n:
                raise ValueError(f"variables.{name}.rmse needs {n} values (one per step_hours)")
        if self.precipitation is not None:
            p = self.precipitation
            for f in ("miss_probability", "false_alarm_probability"):
                if len(getattr(p, f)) != n or not all(0 <= x <= 1 for x in getattr(p, f)):
                    raise ValueError(f"precipitation.{f} needs {n} probabilities")
            for f in ("timing_sd_hours", "amount_log_sd"):
                if len(getattr(p, f)) != n:
                    raise ValueError(f"precipitation.{f} needs {n} values")
        return self


def load_met_error_model(path: Path | None = None) -> MetErrorModel:
    return load_yaml_model(path or ERROR_MODEL_PATH, MetErrorModel)


def station_correlation(
    stations: Sequence[str],
    coords: pd.DataFrame | None,
    length_km: float,
    default: float,
) -> np.ndarray:
    """Correlation matrix of errors between stations: exp(-distance / length_km) from
    ``coords`` (``station, lat, lon`` [deg]); ``default`` between stations lacking them."""
    n = len(stations)
    corr = np.full((n, n), default)
    np.fill_diagonal(corr, 1.0)
    if coords is None or coords.empty:
        return corr
    c = coords.drop_duplicates("station").set_index("station").reindex(list(stations))
    lat = np.deg2rad(c["lat"].to_numpy(dtype=float))
    lon = np.deg2rad(c["lon"].to_numpy(dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    known = np.isfinite(dist)
    corr = np.where(known, np.exp(-dist / length_km), corr)
    np.fill_diagonal(corr, 1.0)
    return corr


def _chol(corr: np.ndarray) -> np.ndarray:
    # A tiny ridge keeps nearly identical stations (distance ~0) positive definite.
    return np.linalg.cholesky(corr + 1e-9 * np.eye(len(corr)))


def ar1_errors(
    rng: np.random.Generator, n_hours: int, chol: np.ndarray, correlation_hours: float
) -> np.ndarray:
    """(n_hours, n_stations) standard normal errors, AR(1) in time with e-folding time
    ``correlation_hours``, spatially correlated through the Cholesky factor ``chol``;
    stationary from the first hour (unit variance everywhere)."""
    phi = float(np.exp(-1.0 / correlation_hours))
    eps = rng.standard_normal((n_hours, chol.shape[0])) @ chol.T
    z = np.empty_like(eps)
    if n_hours:
        z[0] = eps[0]
    k = np.sqrt(1.0 - phi * phi)
    for t in range(1, n_hours):
        z[t] = phi * z[t - 1] + k * eps[t]
    return z


def _wide(observed: pd.DataFrame, variables: list[str]) -> tuple[pd.DatetimeIndex, list, dict]:
    times = pd.date_range(observed["time"].min(), observed["time"].max(), freq="h")
    stations = sorted(observed["station"].astype(str).unique())
    index = pd.MultiIndex.from_product([stations, times], names=["station", "time"])
    full = observed.assign(station=observed["station"].astype(str)).set_index(["station", "time"])
    full = full[~full.index.duplicated()].reindex(index)
    arrays = {
        v: full[v].to_numpy(dtype=float).reshape(len(stations), len(times)).T for v in variables
    }
    return times, stations, arrays


def perturbed_forecasts(
    observed: pd.DataFrame,
    issues: pd.DataFrame,
    model: MetErrorModel,
    *,
    seed: int,
    coords: pd.DataFrame | None = None,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """One forecast per issue from the observed hourly weather.

    observed: canonical station frame (``station``, ``time`` tz-aware UTC, weather
        columns); the variables of ``model`` found in it are perturbed, the others are
        passed through unchanged.
    issues: ``issue_date`` (date or Timestamp), ``issue_time`` (tz-aware UTC),
        ``valid_from`` and ``valid_to`` (tz-aware UTC, hours valid_from <= t < valid_to).
    Returns ``station, issue_date, issued_at, valid_at, <variables>``: ``issued_at`` is the
    issue time (the forecast as held then); values before it are the observed ones.
    """
    weather = [c for c in observed.columns if c not in ("station", "time")]
    perturbed = [v for v in weather if v in model.variables]
    times, stations, arrays = _wide(observed, weather)
    steps = np.asarray(model.step_hours, dtype=float)
    t0 = times[0]
    chols = {
        v: _chol(
            station_correlation(
                stations,
                coords,
                model.variables[v].correlation_km,
                model.default_station_correlation,
            )
        )
        for v in perturbed
    }
    n_st = len(stations)
    local_days = pd.DatetimeIndex(times).tz_convert(tz).tz_localize(None).normalize()
    frames = []
    for issue in issues.itertuples(index=False):
        issue_day = pd.Timestamp(issue.issue_date)
        a = int((pd.Timestamp(issue.valid_from) - t0) / pd.Timedelta(hours=1))
        b = int((pd.Timestamp(issue.valid_to) - t0) / pd.Timedelta(hours=1))
        a, b = max(a, 0), min(b, len(times))
        if b <= a:
            continue
        first_fc = int(np.ceil((pd.Timestamp(issue.issue_time) - t0) / pd.Timedelta(hours=1)))
        k0 = min(max(first_fc, a), b)  # first perturbed row
        n_fc = b - k0
        step = model.run_age_hours + (np.arange(k0, b) - first_fc)  # h after the run's base
        # One generator per issue, from the seed and the issue date only.
        rng = np.random.default_rng([int(seed), issue_day.toordinal()])
        out = {}
        for vi, v in enumerate(weather):
            block = arrays[v][a:b].copy()
            if v in perturbed and n_fc:
                err = model.variables[v]
                sigma = np.interp(step, steps, np.asarray(err.rmse, dtype=float))[:, None]
                sub = np.random.default_rng([int(seed), issue_day.toordinal(), vi + 1])
                z = ar1_errors(sub, n_fc, chols[v], err.correlation_hours)
                fc = block[k0 - a :]
                if err.kind == "multiplicative":
                    fc = fc * np.exp(sigma * z - 0.5 * sigma**2)
                elif err.kind == "angle":
                    fc = np.mod(fc + sigma * z, 360.0)
                else:
                    fc = fc + sigma * z
                lo, hi = err.clip
                fc = np.clip(fc, -np.inf if lo is None else lo, np.inf if hi is None else hi)
                block[k0 - a :] = fc
            out[v] = block
        if "precipitation" in out and model.precipitation is not None and n_fc:
            out["precipitation"] = _precipitation(
                arrays["precipitation"], a, b, k0, first_fc, local_days, model, rng
            )
        if "dewpoint" in out and "temp_air" in out:
            out["dewpoint"] = np.minimum(out["dewpoint"], out["temp_air"])
        valid = times[a:b]
        frame = pd.DataFrame(
            {
                "station": np.tile(np.asarray(stations, dtype=object), b - a),
                "valid_at": valid.repeat(n_st),
            }
        )
        for v in weather:
            frame[v] = out[v].reshape(-1)
        frame.insert(1, "issue_date", issue_day)
        frame.insert(2, "issued_at", pd.Timestamp(issue.issue_time))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["station", "issue_date", "issued_at", "valid_at", *weather])
    return pd.concat(frames, ignore_index=True)


def _precipitation(
    obs: np.ndarray,
    a: int,
    b: int,
    k0: int,
    first_fc: int,
    local_days: pd.DatetimeIndex,
    model: MetErrorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Precipitation [mm/h] of one issue: observed before the issue time; after it, per
    local day and shared by the stations, missed, invented, shifted and scaled."""
    p = model.precipitation
    assert p is not None
    steps = np.asarray(model.step_hours, dtype=float)
    out = obs[a:b].copy()
    n = obs.shape[0]
    days = local_days[k0:b]
    for day in days.unique():
        rows = np.flatnonzero(local_days[a:b] == day) + a
        rows = rows[rows >= k0]
        step = model.run_age_hours + float(np.mean(rows - first_fc))
        miss = np.interp(step, steps, p.miss_probability)
        false = np.interp(step, steps, p.false_alarm_probability)
        sd_t = np.interp(step, steps, p.timing_sd_hours)
        sd_a = np.interp(step, steps, p.amount_log_sd)
        u, shift, factor, start = rng.random(), rng.normal(0, sd_t), rng.normal(), rng.random()
        day_rows = np.flatnonzero(local_days == day)
        vals = obs[day_rows]
        count = np.isfinite(vals).sum(axis=1)
        # Area mean per hour over the stations that report (hours no one reports: 0).
        area_total = float(np.sum(np.nansum(vals, axis=1) / np.maximum(count, 1)))
        if area_total >= p.wet_day_mm:
            if u < miss:
                out[rows - a] = np.where(np.isnan(out[rows - a]), np.nan, 0.0)
                continue
            src = np.clip(rows - int(round(shift)), 0, n - 1)
            amount = np.exp(sd_a * factor - 0.5 * sd_a**2)
            out[rows - a] = obs[src] * amount
        elif u < false and len(rows) >= 3:
            first = int(start * (len(rows) - 2))
            hit = rows[first : first + 3] - a
            out[hit] = np.where(np.isnan(out[hit]), np.nan, out[hit] + p.false_alarm_mm / 3.0)
    return out
