"""Hindcast and verification against the store: the steps behind ``aqcast hindcast``,
``aqcast skill`` and notebooks/evaluation.ipynb, in one place.

``run_hindcast`` replays issue dates with only what was known at each issue time
(models/hindcast.py); ``verify`` joins the rows with the stored observations, persistence
and climatology and scores them (models/skill.py). Both say which data, which years,
which baselines and which weather (observed = perfect prognosis, or stored forecasts).
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Engine

from aqcast.configuration import area_stations
from aqcast.features.daily import area_daily_statistics, daily_statistics
from aqcast.features.feature_table import load_feature_spec
from aqcast.features.places import STATION_PREFIX, is_area_entities
from aqcast.models.forecast import PERFECT_PROGNOSIS_NOTE
from aqcast.models.hindcast import hindcast_rows, replay
from aqcast.models.inputs import local_midnight_utc
from aqcast.models.met_error import ERROR_MODEL_PATH, load_met_error_model
from aqcast.models.skill import observed_with_aqi, score, verification_frame
from aqcast.service.configured import configured_areas
from aqcast.service.model_inputs import load_inputs, load_perturbed_inputs
from aqcast.service.observations import first_observation_day, load_hourly, observed_area_o3_hours
from aqcast.service.settings import get_settings

PERTURBED_NOTE = (
    "weather of the target days: observed weather plus forecast-like errors from the "
    "weather-error model (seed {seed}), not real weather forecasts"
)


TRAIN_MET_NOTE = {
    "observed": "observed weather of the past target days (perfect-prognosis training)",
    "perturbed": "observed weather of the past target days plus forecast-like errors "
    "(weather-error model, same seed)",
    "stored": "stored weather forecasts issued before each past issue time",
}


@dataclass
class Hindcast:
    rows: pd.DataFrame  # exactly models.hindcast.HINDCAST_COLUMNS
    meta: dict  # what the sidecar FILE.csv.meta.json holds
    # exactly models.risk.RISK_COLUMNS: P(AQI > 200) and the adverse-weather flags
    risk: pd.DataFrame | None = None
    hourly: Any = None  # models.hourly_hindcast.HourlyHindcast with ``hourly=True``


def run_hindcast(
    engine: Engine,
    start: date,
    end: date,
    *,
    met: Literal["observed", "stored", "perturbed"] = "observed",
    retrain: Literal["monthly", "none"] = "monthly",
    train_from: date | None = None,
    met_error: Path | None = None,
    seed: int = 0,
    train_met: Literal["observed", "stored", "perturbed"] | None = None,
    hourly: bool = False,
) -> Hindcast:
    """Replay every issue date in ``start..end`` from the store.

    ``met="perturbed"``: the replayed days see the observed weather plus errors from the
    weather-error model (``met_error`` file, default models/met_error.yaml; ``seed``).
    ``train_met``: the weather of the training rows' target days (default: perturbed for
    a perturbed replay, observed otherwise): ``observed`` (perfect-prognosis training),
    ``perturbed`` (forecast-like errors from the same model and seed) or ``stored``
    (the archived forecasts issued before each past issue time); the predictive
    distributions come from the training, so they fit the weather they were trained on.

    ``hourly``: also the hourly O3 forecast, critical values and intraday
    probabilities (models/hourly_hindcast.py)."""
    if end < start:
        raise ValueError(f"hindcast end {end} is before its start {start}")
    settings = get_settings()
    d0 = train_from or first_observation_day(engine, settings.timezone)
    spec = load_feature_spec()
    areas = configured_areas()
    t0 = clock.perf_counter()
    issue_dates = list(pd.date_range(start, end, freq="D").date)
    common = dict(spec=spec, tz=settings.timezone, issue_time=settings.issue_time, areas=areas)
    train_met = train_met or ("perturbed" if met == "perturbed" else "observed")
    error_model = None
    error_meta = None
    if "perturbed" in (met, train_met):
        error_model = load_met_error_model(met_error)
        error_meta = {
            "file": str(met_error or ERROR_MODEL_PATH),
            "seed": seed,
            "source": error_model.source,
        }

    def inputs_for(mode: str, history: date | None):
        if mode == "perturbed":
            return load_perturbed_inputs(
                engine,
                issue_dates,
                error_model=error_model,
                seed=seed,
                history_start=history,
                **common,
            )
        return load_inputs(engine, issue_dates, met=mode, history_start=history, **common)

    train_inputs = inputs_for(train_met, d0)
    # The replayed days see their own weather mode; with the training's mode they are
    # rows of the training table already.
    predict_inputs = None if met == train_met else inputs_for(met, None)
    predict_rows = None if predict_inputs is None else predict_inputs.table
    notes = {
        "observed": [PERFECT_PROGNOSIS_NOTE],
        "perturbed": [PERTURBED_NOTE.format(seed=seed)],
    }.get(met, [])
    notes.append(f"training weather: {TRAIN_MET_NOTE[train_met]}")
    pool = future = None
    if hourly:
        # The hourly model needs no daily forecast: it trains beside the daily replay
        # (LightGBM releases the GIL), which keeps the year's replay near its old time.
        from concurrent.futures import ThreadPoolExecutor

        from aqcast.models.hourly_hindcast import train_for_replay

        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(
            train_for_replay,
            train_inputs.table,
            train_inputs.weather_hourly,
            train_inputs.hourly,
            tz=settings.timezone,
            start=start,
            train_from=d0,
        )
    result = replay(
        train_inputs.table,
        train_inputs.hourly,
        spec=spec,
        tz=settings.timezone,
        start=start,
        end=end,
        retrain=retrain,
        train_from=d0,
        predict_rows=predict_rows,
    )
    rows = hindcast_rows(result.predictions)
    hourly_result = None
    if future is not None and pool is not None:
        model = future.result()
        pool.shutdown()
        hourly_result = _hourly_replay(
            engine, train_inputs, predict_inputs, result.predictions, start, end, d0, areas, model
        )
    from aqcast.models.risk import hindcast_risk

    risk = hindcast_risk(predict_rows if predict_rows is not None else train_inputs.table, rows)
    entities = train_inputs.hourly["entity"]
    stations = sorted(entities[~is_area_entities(entities)].unique())
    meta = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "train_from": d0.isoformat(),
        "met_mode": met,
        "perfect_prognosis": met == "observed",
        "train_met": train_met,
        "notes": notes,
        **({"met_error": error_meta} if error_meta else {}),
        "retrain": retrain,
        "stations": stations,
        "areas": sorted(areas.areas),
        "trainings": result.trainings,
        "rows": len(rows),
        "seconds": round(clock.perf_counter() - t0, 1),
        "database": settings.database_url.split("@")[-1],
    }
    if hourly_result is not None:
        meta["hourly_model"] = {
            "trained_until": hourly_result.model.train_end,
            "reconcile": hourly_result.model.reconcile,
            **hourly_result.model.metrics,
        }
    return Hindcast(rows=rows, meta=meta, risk=risk, hourly=hourly_result)


def _hourly_replay(engine, train_inputs, predict_inputs, predictions, start, end, d0, areas, model):
    from aqcast.features.feature_table import with_area_entities
    from aqcast.models.hourly_hindcast import replay_hourly
    from aqcast.models.inputs import area_map
    from aqcast.service.configured import current_campaign
    from aqcast.service.observations import list_stations

    tz = get_settings().timezone
    # The replayed days' own hours, for the intraday rows (each row reads only the hours
    # stamped before its hours_observed; models.hourly.intraday_table).
    day_obs = load_hourly(
        engine,
        local_midnight_utc(start, tz),
        local_midnight_utc(end + timedelta(days=1), tz),
        variables=["o3"],
    )
    amap = area_map(areas, list_stations(engine)["station"].tolist())
    levels = current_campaign().intraday
    return replay_hourly(
        train_inputs.table,
        train_inputs.weather_hourly,
        train_inputs.hourly,
        predictions,
        tz=tz,
        start=start,
        end=end,
        train_from=d0,
        predict_table=None if predict_inputs is None else predict_inputs.table,
        predict_weather_hourly=None if predict_inputs is None else predict_inputs.weather_hourly,
        intraday_observed=with_area_entities(day_obs, amap),
        near_certain=levels.near_certain,
        no_risk=levels.no_risk,
        model=model,
    )


def observed_daily(engine: Engine, labels: set[str], first: date, last: date) -> pd.DataFrame:
    """Observed daily values (``label, day, variable, value``, AQI included) of the
    hindcast labels: ``station:<code>`` rows and the configured areas."""
    tz = get_settings().timezone
    hourly = load_hourly(
        engine, local_midnight_utc(first, tz), local_midnight_utc(last + timedelta(days=1), tz)
    )
    st = daily_statistics(hourly, tz)
    parts = [st.assign(label=STATION_PREFIX + st["station"].astype(str))]
    areas = configured_areas()
    codes = sorted(hourly["station"].unique())
    for a in areas.areas:
        if a in labels:
            ad = area_daily_statistics(hourly, area_stations(a, codes, areas), tz, area=a)
            parts.append(ad.assign(label=a))
    observed = pd.concat(parts, ignore_index=True)[["label", "day", "variable", "value"]]
    return observed_with_aqi(observed)


@dataclass
class Verification:
    frame: pd.DataFrame  # hindcast rows with obs, persistence, climatology, season
    scores: pd.DataFrame  # models.skill.score
    header: dict = field(default_factory=dict)


def verify(engine: Engine, rows: pd.DataFrame, meta: dict | None = None) -> Verification:
    """Score hindcast rows against the stored observations, beside the baselines."""
    meta = meta or {}
    first = first_observation_day(engine, get_settings().timezone)
    last = pd.to_datetime(rows["target_date"]).max().date()
    observed = observed_daily(engine, set(rows["area"]), first, last)
    vf = verification_frame(rows, observed)
    stations = sorted(a for a in rows["area"].unique() if a.startswith(STATION_PREFIX))
    header = {
        "met_mode": meta.get("met_mode", "unknown (no .meta.json beside the CSV)"),
        "perfect_prognosis": meta.get("perfect_prognosis"),
        "issue_dates": f"{rows['issue_date'].min()}..{rows['issue_date'].max()}",
        "observations": f"stored observations {first}..{last}, {len(stations)} stations",
        "baselines": "persistence (the day before the issue date), climatology "
        "(smoothed day-of-year mean of the observations before the first issue date)",
        "climatology_years": f"{first}..{pd.Timestamp(rows['issue_date'].min()).date()}",
        "train_from": meta.get("train_from"),
        "retrain": meta.get("retrain"),
        "notes": meta.get("notes", []),
    }
    return Verification(frame=vf, scores=score(vf), header=header)


def observed_hourly_o3(engine: Engine, area: str, day: date) -> pd.Series:
    """The observed hourly O3 of an area on a local day [ug/m3], indexed by local hour
    (the mean concentration over the area's stations, hour by hour)."""
    values = observed_area_o3_hours(engine, area, day, get_settings().timezone)
    return pd.Series(values, index=range(len(values)), name="o3").dropna()
