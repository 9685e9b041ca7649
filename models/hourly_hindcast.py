"""The hourly O3 forecast, critical value and intraday probability in a hindcast.

The hourly model (models/hourly.py) is trained once per replay, on the lead-0 rows whose
target day lies before the first replayed issue date (like the predictive distributions
of the daily models, which monthly retraining keeps from the first training): a year's
replay stays cheap, and nothing after the first replayed day is used. Its profiles are
reconciled with the replayed daily forecasts of the same rows.

Outputs, in the exact layouts of ``aqcast hindcast --hourly-out/--critical-out/
--intraday-out`` (columns ``HOURLY_COLUMNS``, ``CRITICAL_COLUMNS``, ``INTRADAY_COLUMNS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from aqcast.features.places import is_area_entities
from aqcast.models.hindcast import entity_area_label
from aqcast.models.hourly import (
    HourlyConfig,
    HourlyModel,
    critical_table,
    hourly_weather_frame,
    intraday_table,
    load_hourly_config,
    observed_o3_frame,
    predict_hourly,
    train_hourly,
)

HOURLY_COLUMNS = ["issue_date", "target_date", "lead_days", "area", "hour", "q10", "q50", "q90"]
CRITICAL_COLUMNS = [
    "issue_date",
    "target_date",
    "lead_days",
    "area",
    "critical_value_ugm3",
    "peak_hour",
    "likely_hours",
]
INTRADAY_COLUMNS = ["target_date", "area", "hours_observed", "p_mda8_exceed", "status"]


@dataclass
class HourlyHindcast:
    model: HourlyModel
    hourly: pd.DataFrame  # predict_hourly output (entity keys)
    critical: pd.DataFrame  # critical_table output
    intraday: pd.DataFrame  # intraday_table output (areas only)


def train_for_replay(
    train_table: pd.DataFrame,
    train_weather_hourly: pd.DataFrame,
    observed_hourly: pd.DataFrame,
    *,
    tz: str,
    start: date,
    train_from: date | None = None,
    config: HourlyConfig | None = None,
) -> HourlyModel:
    """The replay's hourly model: trained on the lead-0 rows before ``start``. It needs
    no daily forecast, so a caller may train it while the daily replay runs."""
    config = config or load_hourly_config()
    return train_hourly(
        train_table,
        hourly_weather_frame(train_weather_hourly, tz, config),
        observed_o3_frame(observed_hourly, tz),
        train_until=pd.Timestamp(start),
        train_start=pd.Timestamp(train_from) if train_from else None,
        config=config,
    )


def replay_hourly(
    train_table: pd.DataFrame,
    train_weather_hourly: pd.DataFrame,
    observed_hourly: pd.DataFrame,
    daily_predictions: pd.DataFrame,
    *,
    tz: str,
    start: date,
    end: date,
    train_from: date | None = None,
    predict_table: pd.DataFrame | None = None,
    predict_weather_hourly: pd.DataFrame | None = None,
    intraday_observed: pd.DataFrame | None = None,
    config: HourlyConfig | None = None,
    near_certain: float = 0.9,
    no_risk: float = 0.02,
    model: HourlyModel | None = None,
) -> HourlyHindcast:
    """Train the hourly model before ``start``, forecast every issue date in
    ``start..end`` and derive critical values and (for area entities) the intraday
    probabilities at hours observed 8..20.

    ``observed_hourly``: hourly observations with ``entity`` (areas included), for the
    training targets and the day-before O3; ``intraday_observed`` (same layout) gives the
    replayed days' own hours for the intraday rows (default ``observed_hourly``);
    ``model``: one :func:`train_for_replay` already trained (else it is trained here)."""
    config = config or load_hourly_config()
    obs_o3 = observed_o3_frame(observed_hourly, tz)
    wx_train = hourly_weather_frame(train_weather_hourly, tz, config)
    if model is None:
        model = train_hourly(
            train_table,
            wx_train,
            obs_o3,
            train_until=pd.Timestamp(start),
            train_start=pd.Timestamp(train_from) if train_from else None,
            config=config,
        )
    rows_src = train_table if predict_table is None else predict_table
    rows = rows_src[
        (rows_src["issue_date"] >= pd.Timestamp(start))
        & (rows_src["issue_date"] <= pd.Timestamp(end))
    ]
    wx_pred = (
        wx_train
        if predict_weather_hourly is None
        else hourly_weather_frame(predict_weather_hourly, tz, config)
    )
    hourly = predict_hourly(model, rows, wx_pred, daily_predictions, obs_o3)
    critical = critical_table(hourly)
    intra_obs = obs_o3 if intraday_observed is None else observed_o3_frame(intraday_observed, tz)
    areas = hourly[is_area_entities(hourly["entity"])]
    intraday = intraday_table(
        model,
        areas,
        intra_obs,
        hours=config.intraday_hours,
        near_certain=near_certain,
        no_risk=no_risk,
    )
    return HourlyHindcast(model=model, hourly=hourly, critical=critical, intraday=intraday)


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in ("issue_date", "target_date"):
        if c in out.columns:
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    return out


def hourly_csv_rows(hh: HourlyHindcast) -> pd.DataFrame:
    out = _dates(hh.hourly.assign(area=entity_area_label(hh.hourly["entity"]).to_numpy()))
    out = out[HOURLY_COLUMNS].sort_values(["issue_date", "lead_days", "area", "hour"])
    return out.reset_index(drop=True)


def critical_csv_rows(hh: HourlyHindcast) -> pd.DataFrame:
    c = hh.critical.assign(area=entity_area_label(hh.critical["entity"]).to_numpy())
    c["likely_hours"] = [";".join(str(h) for h in hs) for hs in c["likely_hours"]]
    out = _dates(c)[CRITICAL_COLUMNS].sort_values(["issue_date", "lead_days", "area"])
    return out.reset_index(drop=True)


def intraday_csv_rows(hh: HourlyHindcast) -> pd.DataFrame:
    i = hh.intraday.assign(area=entity_area_label(hh.intraday["entity"]).to_numpy())
    out = i[INTRADAY_COLUMNS].sort_values(["target_date", "area", "hours_observed"])
    return out.reset_index(drop=True)
