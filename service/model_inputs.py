"""Assembling a feature table from the store (the I/O side of forecasts and hindcasts).

``models.inputs.issue_time_utc`` is the only clock: observations stamped at or after an
issue time are never read for that issue, and stored weather forecasts are only used
when issued before it.
"""

from __future__ import annotations

from datetime import date, time, timedelta

import pandas as pd
from sqlalchemy import Engine

from aqcast.configuration import AreasFile
from aqcast.features.feature_table import FeatureSpec, daily_weather, with_area_entities
from aqcast.features.nomenclature import OBS_WEATHER
from aqcast.features.places import areas_of_entities, is_area_entities
from aqcast.models.inputs import (
    OUTLOOK_DAYS,
    Inputs,
    MetMode,
    NoObservationsError,
    _forecast_entities,
    area_map,
    as_known_at_issue,
    frames_to_table,
    issue_time_utc,
    local_midnight_utc,
    perturbed_frames_to_table,
)
from aqcast.service.observations import (
    list_stations,
    load_hourly,
    load_met_forecasts,
    load_spike_flagged,
)


def load_inputs(
    engine: Engine,
    issue_dates: list[date],
    *,
    spec: FeatureSpec,
    tz: str,
    issue_time: time,
    areas: AreasFile,
    met: MetMode,
    history_days: int = 30,
    history_start: date | None = None,
) -> Inputs:
    """Feature table for ``issue_dates`` (and, via ``history_start``, the training rows
    before them) from the stored observations and weather forecasts.

    Observations are read up to the last issue time; with ``met="observed"`` the weather
    of the target days is read too (perfect prognosis), and only the weather columns of
    those later hours are kept."""
    first, last = min(issue_dates), max(issue_dates)
    start = history_start or (first - timedelta(days=history_days))
    cutoff = issue_time_utc(last, tz, issue_time)
    hourly = load_hourly(engine, local_midnight_utc(start, tz), cutoff)
    if hourly.empty:
        raise NoObservationsError(
            f"no observations stored from {start} to the issue time of {last}: "
            "ingest observations for those days first (`aqcast ingest`)"
        )
    if met == "observed":
        horizon = local_midnight_utc(last + timedelta(days=max(spec.leads) + 1), tz)
        later = load_hourly(engine, cutoff, horizon, variables=OBS_WEATHER)
        hourly = pd.concat([hourly, later], ignore_index=True)
    codes = list_stations(engine)["station"].tolist()
    amap = area_map(areas, codes)
    met_frames = None
    if met == "stored":
        frames = []
        # With a history (training rows), every day from it has its own forecasts.
        met_dates = list(issue_dates)
        if history_start is not None:
            met_dates = list(pd.date_range(history_start + timedelta(days=1), last).date)
        for d in met_dates:
            f = load_met_forecasts(
                engine,
                issue_time_utc(d, tz, issue_time),
                local_midnight_utc(d - timedelta(days=1), tz),
                local_midnight_utc(d + timedelta(days=max(spec.leads) + 1), tz),
            )
            frames.append(f.assign(issue_date=pd.Timestamp(d)))
        met_frames = pd.concat(frames, ignore_index=True) if frames else None
    table_dates = None if history_start is not None else list(issue_dates)
    spikes = load_spike_flagged(engine, local_midnight_utc(start, tz), cutoff)
    inputs = frames_to_table(
        hourly,
        amap,
        spec=spec,
        tz=tz,
        issue_dates=table_dates,
        met=met,
        met_forecasts=met_frames,
        morning_hourly=as_known_at_issue(hourly, spikes, tz, issue_time),
    )
    # Hours at or after an issue time are in `hourly` only for target-day weather; the
    # daily statistics of those days are targets (y_*), never features of that issue.
    return inputs


def outlook_weather(
    engine: Engine,
    issue_date: date,
    *,
    spec: FeatureSpec,
    tz: str,
    issue_time: time,
    areas: AreasFile,
    met: MetMode,
    days: int = OUTLOOK_DAYS,
) -> pd.DataFrame:
    """Daily weather aggregates per area for ``issue_date .. issue_date + days - 1`` (the
    outlook, beyond the pollutant leads): ``area, target_date, wx_<aggregate>...``, from
    the weather forecasts issued before the issue time (``met="stored"``) or the observed
    weather (``met="observed"``, perfect prognosis). Empty for ``met="none"``."""
    start = local_midnight_utc(issue_date, tz)
    end = local_midnight_utc(issue_date + timedelta(days=days), tz)
    codes = list_stations(engine)["station"].tolist()
    amap = area_map(areas, codes)
    if met == "stored":
        mf = load_met_forecasts(engine, issue_time_utc(issue_date, tz, issue_time), start, end)
        if mf.empty:
            return pd.DataFrame(columns=["area", "target_date"])
        mf = mf.assign(issue_date=pd.Timestamp(issue_date))
        w = daily_weather(_forecast_entities(mf, amap), spec, tz)
    elif met == "observed":
        hourly = load_hourly(engine, start, end, variables=OBS_WEATHER)
        if hourly.empty:
            return pd.DataFrame(columns=["area", "target_date"])
        he = with_area_entities(hourly, amap)
        w = daily_weather(he[["entity", "time", *[c for c in OBS_WEATHER if c in he]]], spec, tz)
    else:
        return pd.DataFrame(columns=["area", "target_date"])
    w = w.reset_index()
    w = w[is_area_entities(w["entity"])]
    out = w.drop(columns=[c for c in ("issue_date",) if c in w.columns]).rename(
        columns={"day": "target_date"}
    )
    out.insert(0, "area", areas_of_entities(out.pop("entity")))
    out["target_date"] = pd.to_datetime(out["target_date"]).dt.date
    agg = [c for c in out.columns if c not in ("area", "target_date")]
    out = out.rename(columns={c: f"wx_{c}" for c in agg})
    return out.sort_values(["area", "target_date"]).reset_index(drop=True)


def load_perturbed_inputs(
    engine: Engine,
    issue_dates: list[date],
    *,
    spec: FeatureSpec,
    tz: str,
    issue_time: time,
    areas: AreasFile,
    error_model,
    seed: int,
    history_days: int = 30,
    history_start: date | None = None,
) -> Inputs:
    """Feature table for ``issue_dates`` (and, via ``history_start``, every day from it:
    training rows with forecast-like weather) whose target-day weather is the observed
    weather plus errors from ``error_model``; everything else as with stored forecasts."""
    first, last = min(issue_dates), max(issue_dates)
    start = history_start or (first - timedelta(days=history_days))
    cutoff = issue_time_utc(last, tz, issue_time)
    hourly = load_hourly(engine, local_midnight_utc(start, tz), cutoff)
    horizon = local_midnight_utc(last + timedelta(days=max(spec.leads) + 1), tz)
    later = load_hourly(engine, cutoff, horizon, variables=OBS_WEATHER)
    stations = list_stations(engine)
    spikes = load_spike_flagged(engine, local_midnight_utc(start, tz), cutoff)
    dates = list(issue_dates)
    if history_start is not None:
        dates = list(pd.date_range(history_start + timedelta(days=1), last, freq="D").date)
    return perturbed_frames_to_table(
        pd.concat([hourly, later], ignore_index=True),
        area_map(areas, stations["station"].tolist()),
        spec=spec,
        tz=tz,
        issue_time=issue_time,
        issue_dates=dates,
        error_model=error_model,
        seed=seed,
        coords=stations[["station", "lat", "lon"]],
        morning_hourly=as_known_at_issue(hourly, spikes, tz, issue_time),
    )
