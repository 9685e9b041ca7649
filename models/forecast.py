"""The forecast of one issue date (pure; the store half is service/forecasts.py).

``forecast_from_table`` turns an issue date's feature-table rows and a model bundle into
a ``Forecast``: the daily values, the hourly O3 profile, the ozone critical value and the
risk of adverse conditions. Without a usable model or without target-day weather the
values fall back to the best baseline, and ``method``/``notes`` say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from aqcast.features.critical_value import critical_value_ugm3
from aqcast.features.places import AREA_PREFIX
from aqcast.models.predict import missing_weather, predict_table
from aqcast.models.profile import hourly_profile_ugm3, shape_for
from aqcast.models.risk import RiskConfig, load_risk_config, stagnation_index
from aqcast.models.train import ModelBundle

VALUE_COLUMNS = [
    "issue_date",
    "target_date",
    "lead_days",
    "area",
    "station",
    "variable",
    "q10",
    "q50",
    "q90",
    "p_exceed",
    "threshold",
    "method",
]
PERFECT_PROGNOSIS_NOTE = (
    "perfect prognosis: the observed weather of the target days stands in for a weather "
    "forecast; skill is higher than a real forecast can reach"
)


@dataclass
class Forecast:
    issue_date: date
    issued_at: datetime  # UTC, naive
    model_version: str | None
    met_mode: str  # stored | observed | none
    method: str  # model | fallback:<baseline>
    missing_inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    values: pd.DataFrame = field(default_factory=pd.DataFrame)
    hourly_o3: pd.DataFrame = field(default_factory=pd.DataFrame)
    critical: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk: pd.DataFrame = field(default_factory=pd.DataFrame)
    # What the intraday update needs from the hourly model (models.hourly.intraday_payload).
    intraday: dict = field(default_factory=dict)


def _split_entity(entity: pd.Series) -> tuple[pd.Series, pd.Series]:
    e = entity.astype(str)
    is_area = e.str.startswith(AREA_PREFIX)
    area = e.str.slice(len(AREA_PREFIX)).where(is_area, "")
    station = e.where(~is_area, "")
    return area, station


def values_frame(pred: pd.DataFrame) -> pd.DataFrame:
    """predict_table output in the Forecast.values layout."""
    out = pred.copy()
    out["area"], out["station"] = _split_entity(out["entity"])
    for c in ("issue_date", "target_date"):
        out[c] = pd.to_datetime(out[c]).dt.date
    return out[VALUE_COLUMNS].reset_index(drop=True)


def profiles_and_critical(
    bundle: ModelBundle, pred: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly O3 profiles (q10/q50/q90, local hours 0-23) and critical values per entity
    and target day, from the climatological shape scaled to the o3_1h_max forecast."""
    o3 = pred[pred["variable"] == "o3_1h_max"]
    prof_rows, crit_rows = [], []
    hours = np.arange(24)
    for r in o3.itertuples(index=False):
        if not np.isfinite(r.q50) or r.q50 <= 0:
            continue
        target = pd.Timestamp(r.target_date)
        shape = shape_for(bundle.diurnal, r.entity, target.month)
        area, station = _split_entity(pd.Series([r.entity]))
        q = {k: hourly_profile_ugm3(shape, getattr(r, k)) for k in ("q10", "q50", "q90")}
        prof_rows.append(
            pd.DataFrame(
                {
                    "area": area.iloc[0],
                    "station": station.iloc[0],
                    "target_date": target.date(),
                    "hour": hours,
                    **q,
                }
            )
        )
        cv = critical_value_ugm3(q["q50"])
        crit_rows.append(
            {
                "area": area.iloc[0],
                "station": station.iloc[0],
                "target_date": target.date(),
                "critical_value_ugm3": cv.critical_value_ugm3,
                "peak_hour": cv.peak_hour,
                "likely_hours": list(cv.likely_hours),
                "possible_hours": [],
                "capped": cv.capped,
            }
        )
    prof = (
        pd.concat(prof_rows, ignore_index=True)
        if prof_rows
        else pd.DataFrame(columns=["area", "station", "target_date", "hour", "q10", "q50", "q90"])
    )
    crit = pd.DataFrame(
        crit_rows,
        columns=[
            "area",
            "station",
            "target_date",
            "critical_value_ugm3",
            "peak_hour",
            "likely_hours",
            "possible_hours",
            "capped",
        ],
    )
    return prof, crit


def hourly_profiles_and_critical(
    hourly_model, rows: pd.DataFrame, pred: pd.DataFrame, weather_hourly, observed_hourly, tz
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Profiles and critical values from the hourly O3 model (models/hourly.py): the
    day's own forecast shape, reconciled with the daily o3_mda8 forecast."""
    from aqcast.models.hourly import (
        critical_table,
        hourly_weather_frame,
        load_hourly_config,
        observed_o3_frame,
        predict_hourly,
    )

    wx = hourly_weather_frame(weather_hourly, tz, load_hourly_config())
    obs = observed_o3_frame(observed_hourly, tz) if observed_hourly is not None else None
    hp = predict_hourly(hourly_model, rows, wx, pred, obs)
    hp = hp[np.isfinite(hp["q50"].to_numpy(dtype=float))]
    crit = critical_table(hp)
    hp = hp.assign(**dict(zip(("area", "station"), _split_entity(hp["entity"]), strict=True)))
    crit = crit.assign(**dict(zip(("area", "station"), _split_entity(crit["entity"]), strict=True)))
    for f in (hp, crit):
        f["target_date"] = pd.to_datetime(f["target_date"]).dt.date
    # One profile per entity and target day (the feature table has one row per lead).
    prof = hp[["area", "station", "target_date", "hour", "q10", "q50", "q90"]]
    crit = crit[
        [
            "area",
            "station",
            "target_date",
            "critical_value_ugm3",
            "peak_hour",
            "likely_hours",
            "possible_hours",
            "capped",
        ]
    ]
    return prof.reset_index(drop=True), crit.reset_index(drop=True)


def risk_frame(table: pd.DataFrame, pred: pd.DataFrame, config: RiskConfig) -> pd.DataFrame:
    """Per area and target day: P(AQI > 200), the stagnation index and flag."""
    areas = table[table["entity"].str.startswith(AREA_PREFIX)]
    idx = stagnation_index(areas, config)
    aqi = pred[(pred["variable"] == "aqi")].set_index(["entity", "target_date"])["p_heavy"]
    aqi = aqi[~aqi.index.duplicated()]
    p_heavy = aqi.reindex(pd.MultiIndex.from_frame(areas[["entity", "target_date"]])).to_numpy()
    return pd.DataFrame(
        {
            "area": areas["entity"].str.slice(len(AREA_PREFIX)).to_numpy(),
            "target_date": pd.to_datetime(areas["target_date"]).dt.date.to_numpy(),
            "p_heavy": p_heavy,
            "stagnation_index": idx.to_numpy(),
            "stagnation": (idx.to_numpy() >= config.stagnant_at),
        }
    )


def forecast_from_table(
    bundle: ModelBundle,
    table: pd.DataFrame,
    *,
    issue_date: date,
    issued_at: datetime,
    met_mode: str,
    notes: list[str] | None = None,
    risk_config: RiskConfig | None = None,
    weather_hourly: pd.DataFrame | None = None,
    observed_hourly: pd.DataFrame | None = None,
    tz: str = "Asia/Shanghai",
) -> Forecast:
    """The Forecast of one issue date from its feature-table rows (pure; no store).

    With an hourly O3 model in the bundle (``bundle.hourly``) and the target days' hourly
    weather, the profiles and critical values come from it; otherwise from the monthly
    climatological shape scaled to the o3_1h_max forecast (and a note says so)."""
    rows = table[table["issue_date"] == pd.Timestamp(issue_date)]
    notes = list(notes or [])
    missing: list[str] = []
    no_wx = missing_weather(rows) if len(rows) else np.array([], dtype=bool)
    if len(rows) and no_wx.any():
        missing.append("target-day weather")
    lag_cols = [c for c in rows.columns if c.endswith("_lag1")]
    if len(rows) and rows[lag_cols].isna().all(axis=None):
        missing.append("observations of the day before the issue date")
    pred = predict_table(bundle, rows)
    methods = sorted(set(pred["method"])) if len(pred) else []
    method = "model" if "model" in methods else (methods[0] if methods else "fallback:none")
    if not bundle.models:
        notes.append("no usable model: every value is the best baseline of its lead")
    elif any(m.startswith("fallback:") for m in methods):
        notes.append("some values fall back to a baseline (see the method column)")
    if met_mode == "observed":
        notes.append(PERFECT_PROGNOSIS_NOTE)
    hourly_model = getattr(bundle, "hourly", None)
    intraday: dict = {}
    if hourly_model is not None and weather_hourly is not None and len(rows) and len(pred):
        from aqcast.models.hourly import intraday_payload

        prof, crit = hourly_profiles_and_critical(
            hourly_model, rows, pred, weather_hourly, observed_hourly, tz
        )
        intraday = intraday_payload(hourly_model)
    else:
        prof, crit = profiles_and_critical(bundle, pred)
        if len(pred):
            notes.append(
                "no hourly O3 model or no hourly weather: the hourly profile is the monthly "
                "climatological shape scaled to the o3_1h_max forecast"
            )
    risk = risk_frame(rows, pred, risk_config or load_risk_config())
    return Forecast(
        issue_date=issue_date,
        issued_at=issued_at,
        model_version=bundle.version if bundle.models else None,
        met_mode=met_mode,
        method=method,
        missing_inputs=missing,
        notes=notes,
        values=values_frame(pred),
        hourly_o3=prof,
        critical=crit,
        risk=risk,
        intraday=intraday,
    )
