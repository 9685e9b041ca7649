"""Assembling a feature table from observation frames (pure; reading the frames from the
store is service/model_inputs.py).

``issue_time_utc`` is the only clock: observations stamped at or after an issue time
are never read for that issue, and stored weather forecasts are only used when issued
before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd

from aqcast.configuration import AreasFile, area_stations
from aqcast.features.daily import area_daily_statistics, daily_statistics
from aqcast.features.feature_table import (
    FeatureSpec,
    build_feature_table,
    daily_weather,
    entity_daily,
    with_area_entities,
)
from aqcast.features.nomenclature import OBS_WEATHER
from aqcast.features.places import area_entity

MetMode = Literal["stored", "observed", "none"]


def issue_time_utc(issue_date: date, tz: str, issue_time: time) -> pd.Timestamp:
    local = datetime.combine(issue_date, issue_time, tzinfo=ZoneInfo(tz))
    return pd.Timestamp(local).tz_convert("UTC")


def local_midnight_utc(day: date, tz: str) -> pd.Timestamp:
    return issue_time_utc(day, tz, time(0, 0))


def area_map(areas: AreasFile, codes: list[str]) -> dict[str, list[str]]:
    return {name: area_stations(name, codes, areas) for name in areas.areas}


class NoObservationsError(RuntimeError):
    """The store holds no observations to forecast from, replay or verify against."""


@dataclass
class Inputs:
    table: pd.DataFrame  # the feature table
    hourly: pd.DataFrame  # hourly frame with entities (areas included)
    observed_weather: pd.DataFrame  # daily observed weather per entity and day
    # Hourly weather of the target days per entity: the observed hours (``time``) with
    # met="observed", each issue's stored forecasts (``valid_at``, ``issue_date``) with
    # met="stored"; the hourly O3 model reads it (models/hourly.py).
    weather_hourly: pd.DataFrame | None = None


def frames_to_table(
    hourly: pd.DataFrame,
    areas: dict[str, list[str]],
    *,
    spec: FeatureSpec,
    tz: str,
    issue_dates: list[date] | None,
    met: MetMode,
    met_forecasts: pd.DataFrame | None = None,
    morning_hourly: pd.DataFrame | None = None,
) -> Inputs:
    """Feature table from an hourly observation frame (and, for ``met="stored"``, the
    weather forecasts with an ``issue_date`` column, each issue's own forecasts).

    ``morning_hourly`` (default ``hourly``) gives the hours of the issue day before the
    issue time as they were known then (see :func:`as_known_at_issue`)."""
    daily_st = daily_statistics(hourly, tz)
    daily_ar = (
        pd.concat(
            [area_daily_statistics(hourly, st, tz, area=a) for a, st in areas.items() if st],
            ignore_index=True,
        )
        if areas
        else None
    )
    wide = entity_daily(daily_st, daily_ar)
    he = with_area_entities(hourly, areas)
    weather_obs = daily_weather(
        he[["entity", "time", *[c for c in OBS_WEATHER if c in he]]], spec, tz
    )
    weather_hourly = None
    if met == "observed":
        weather = weather_obs
        weather_hourly = he.drop(columns=[c for c in ("o3",) if c in he.columns])
    elif met == "stored" and met_forecasts is not None and len(met_forecasts):
        mf = met_forecasts.rename(columns={"station": "station"})
        mfe = _forecast_entities(mf, areas)
        weather = daily_weather(mfe, spec, tz)
        weather_hourly = mfe
    else:
        weather = weather_obs.iloc[0:0]
    he_morning = (
        he
        if morning_hourly is None or morning_hourly is hourly
        else with_area_entities(morning_hourly, areas)
    )
    table = build_feature_table(
        wide,
        he_morning,
        weather,
        spec=spec,
        tz=tz,
        issue_dates=issue_dates,
        weather_before_issue=weather_obs,
    )
    return Inputs(
        table=table, hourly=he, observed_weather=weather_obs, weather_hourly=weather_hourly
    )


def as_known_at_issue(
    hourly: pd.DataFrame, spikes: pd.DataFrame, tz: str, issue_time: time
) -> pd.DataFrame:
    """The hourly frame as a forecast issued at ``issue_time`` (local, every day) saw its
    last hour: a spike is judged when the next hour arrives (features/qc.py), so a value
    of the hour just before the issue time that was later flagged as a spike was valid
    then. ``spikes``: ``station, time, variable, value`` (service.observations)."""
    if spikes.empty:
        return hourly
    local = pd.to_datetime(spikes["time"], utc=True).dt.tz_convert(tz)
    last = (datetime.combine(date(2000, 1, 1), issue_time) - timedelta(hours=1)).time()
    at_edge = spikes[(local.dt.hour == last.hour) & (local.dt.minute == last.minute)]
    at_edge = at_edge[at_edge["variable"].isin(hourly.columns)]
    if at_edge.empty:
        return hourly
    out = hourly.copy()
    pos = pd.MultiIndex.from_frame(out[["station", "time"]])
    for v, g in at_edge.groupby("variable"):
        idx = pos.get_indexer(pd.MultiIndex.from_frame(g[["station", "time"]]))
        ok = idx >= 0
        col = out[v].to_numpy(dtype=float, copy=True)
        col[idx[ok]] = g["value"].to_numpy(dtype=float)[ok]
        out[v] = col
    return out


def _forecast_entities(mf: pd.DataFrame, areas: dict[str, list[str]]) -> pd.DataFrame:
    parts = [mf.assign(entity=mf["station"].astype(str))]
    cols = [c for c in mf.columns if c not in ("station", "issued_at", "valid_at", "issue_date")]
    for name, stations in areas.items():
        sub = mf[mf["station"].isin(stations)]
        if sub.empty:
            continue
        mean = sub.groupby(["issue_date", "valid_at"])[cols].mean().reset_index()
        parts.append(mean.assign(entity=area_entity(name), station=area_entity(name)))
    return pd.concat(parts, ignore_index=True)


OUTLOOK_DAYS = 7  # the adverse-weather outlook covers D..D+6


def perturbed_issues(issue_dates: list[date], *, tz: str, issue_time: time, max_lead: int):
    """The issues of a perturbed-weather replay: each forecast covers the local days
    D-1..D+max_lead (like a stored forecast read for D), issued at D's issue time."""
    return pd.DataFrame(
        {
            "issue_date": [pd.Timestamp(d) for d in issue_dates],
            "issue_time": [issue_time_utc(d, tz, issue_time) for d in issue_dates],
            "valid_from": [local_midnight_utc(d - timedelta(days=1), tz) for d in issue_dates],
            "valid_to": [
                local_midnight_utc(d + timedelta(days=max_lead + 1), tz) for d in issue_dates
            ],
        }
    )


def perturbed_frames_to_table(
    hourly: pd.DataFrame,
    areas: dict[str, list[str]],
    *,
    spec: FeatureSpec,
    tz: str,
    issue_time: time,
    issue_dates: list[date],
    error_model,
    seed: int,
    coords: pd.DataFrame | None = None,
    morning_hourly: pd.DataFrame | None = None,
) -> Inputs:
    """Feature table whose target-day weather, for each issue date, is a forecast made
    from the observed weather in ``hourly`` with forecast-like errors
    (``models.met_error.perturbed_forecasts``). ``hourly`` holds the observations
    before the issue times plus the observed weather of the target days; the latter
    reaches the table only through the perturbed forecasts."""
    from aqcast.models.met_error import perturbed_forecasts

    weather_cols = [c for c in OBS_WEATHER if c in hourly.columns]
    first = min(issue_dates)
    observed = hourly.loc[
        hourly["time"] >= local_midnight_utc(first - timedelta(days=1), tz),
        ["station", "time", *weather_cols],
    ]
    issues = perturbed_issues(issue_dates, tz=tz, issue_time=issue_time, max_lead=max(spec.leads))
    forecasts = perturbed_forecasts(
        observed, issues, error_model, seed=seed, coords=coords, tz=tz
    ).drop(columns=["issued_at"])
    # Observations at or after the last issue time (the weather of the target days) are
    # not inputs: keep only what precedes each issue for lags and morning hours.
    cutoff = issue_time_utc(max(issue_dates), tz, issue_time)
    known = hourly[hourly["time"] < cutoff]
    if morning_hourly is not None:
        morning_hourly = morning_hourly[morning_hourly["time"] < cutoff]
    return frames_to_table(
        known,
        areas,
        spec=spec,
        tz=tz,
        issue_dates=list(issue_dates),
        met="stored",
        met_forecasts=forecasts,
        morning_hourly=morning_hourly,
    )
