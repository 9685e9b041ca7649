"""The hourly O3 forecast of a target day: q10/q50/q90 for each local hour, lead 0-3.

One LightGBM model over hour-rows (one row per entity, target day and local hour, the
hour of day a feature), driven by that hour's weather (the forecast, or the observed
weather in a perfect-prognosis replay), the day's weather aggregates, the morning
observations of the issue day and the calendar (inputs declared in models/hourly.yaml).
Two variants: ``morning`` (lead 0: the target day's own hours 00-06 are known at issue)
and ``weather`` (leads 1-3: no same-day observations), both trained on lead-0 rows.

The profile is then reconciled with the daily forecast: the model's q50 profile is scaled
so that its MDA8 equals the daily o3_mda8 q50 (``reconcile: mda8``), so that the two
forecasts never disagree on the day's number; its shape, and so the peak-to-MDA8 ratio
that sets the critical value, comes from the hourly model. The choice was measured
(docs/critical_value.md, "Agreement with the daily forecast").

q10/q90: residual quantiles of out-of-fold predictions by hour and level
(``models.distribution.ResidualModel`` with the hour in the place of the lead), applied
to the reconciled q50. The residual correlation between hours (``correlation``, 24 x 24,
from the same out-of-fold residuals standardised hour by hour) is what the intraday
probability (``features.intraday``) conditions on.

Pure: frames in, frames out; the caller reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.isotonic import IsotonicRegression

from aqcast.configuration import load_yaml_model
from aqcast.features.critical_value import O3_MDA8_LIMIT_UGM3
from aqcast.features.daily import mda8_ugm3
from aqcast.features.feature_table import local_day_hour, with_derived_weather
from aqcast.features.intraday import (
    cannot_stay_below,
    observed_windows_max_ugm3,
    raw_exceedance,
    standard_normal_draws,
    status_for,
)
from aqcast.models.distribution import ResidualModel
from aqcast.models.intraday_model import (
    IntradayClassifier,
    certain_days,
    intraday_features,
    train_intraday_classifier,
    training_rows,
)
from aqcast.models.train import lgb_predict

CONFIG_PATH = Path(__file__).resolve().parent / "hourly.yaml"
HOUR_KEYS = ["entity", "issue_date", "lead_days", "target_date", "hour"]
LIMIT = O3_MDA8_LIMIT_UGM3
Z90 = 1.2815515655446004  # standard normal 90 % quantile


class HourlyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lightgbm: dict
    rounds: int = 200
    early_stopping_rounds: int = 20
    hourly_weather: list[str]
    trailing_hours: int = 3
    trailing_weather: list[str] = []
    daily_inputs: list[str]
    morning_inputs: list[str]
    reconcile: Literal["none", "mda8", "o3_1h_max"] = "mda8"
    variants: list[Literal["morning", "weather"]] = ["morning"]
    residual_bins: int = 4
    residual_quantiles: int = 49
    intraday_hours: list[int] = list(range(8, 21))
    intraday_samples: int = 300
    calibration_days: int = 1500
    # "classifier": models.intraday_model (LightGBM on the morning profile and the hours
    # observed so far); "isotonic": the conditional-Gaussian probability, isotonic-calibrated.
    intraday_model: Literal["classifier", "isotonic"] = "classifier"
    # Calendar months of the training days the classifier learns from (empty: all).
    intraday_months: list[int] = []


def load_hourly_config(path: Path | None = None) -> HourlyConfig:
    return load_yaml_model(path or CONFIG_PATH, HourlyConfig)


@dataclass
class HourlyModel:
    """A trained hourly O3 model: boosters of the two variants and their residuals."""

    boosters: dict[str, lgb.Booster]  # "morning" (lead 0) and "weather" (leads 1-3)
    features: dict[str, list[str]]
    entities: list[str]
    residuals: ResidualModel  # by hour (in the lead slot) and predicted level
    correlation: np.ndarray  # (24, 24) correlation of standardised lead-0 residuals
    reconcile: str
    train_end: str
    metrics: dict = field(default_factory=dict)
    calibrators: dict[int, IsotonicRegression] = field(default_factory=dict)
    intraday_samples: int = 300
    # Hour-by-hour spreads with the estimated correlation underrate the spread of the
    # day's MDA8 error; this factor (fitted in training) makes the simulated MDA8 spread
    # match the out-of-fold one on the days that matter (forecast MDA8 >= 100 ug/m3).
    spread_scale: float = 1.0
    classifier: IntradayClassifier | None = None

    def spread(self, q50: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """Error spread [ug/m3] of each hour at its forecast level, times ``spread_scale``."""
        return self.spread_scale * hour_spread(self.residuals, q50, hour)

    def calibrate(self, p_raw, hours_observed: int):
        """The calibrated intraday probability (isotonic per hours observed; outside the
        probabilities seen in calibration, and for an hour without one, the raw value)."""
        p = np.asarray(p_raw, dtype=float)
        iso = self.calibrators.get(int(hours_observed))
        if iso is None:
            return p
        inside = (p >= iso.X_min_) & (p <= iso.X_max_)
        out = np.where(inside, iso.predict(np.clip(p, iso.X_min_, iso.X_max_)), p)
        # No simulated day exceeding stays 0: the calibration's lowest step is fitted on
        # days of concern and would otherwise put a floor under clean days.
        return np.where(p > 0, out, 0.0)

    def draws(self) -> np.ndarray:
        return standard_normal_draws(self.intraday_samples)


# --- hour rows ---------------------------------------------------------------------------


def hourly_weather_frame(hourly: pd.DataFrame, tz: str, config: HourlyConfig) -> pd.DataFrame:
    """Hourly weather per ``entity``, local ``day`` and ``hour`` (and ``issue_date`` for
    stored forecasts, whose time column is ``valid_at``), with derived humidity and wind
    components and trailing means over the last ``trailing_hours`` hours (ozone builds up
    over hours, so the recent past of the weather matters as much as the hour itself)."""
    h = with_derived_weather(hourly)
    tcol = "valid_at" if "valid_at" in h.columns else "time"
    per_issue = "issue_date" in h.columns
    cols = [c for c in config.hourly_weather if c in h.columns]
    keys = ["entity", *(["issue_date"] if per_issue else [])]
    h = h[[*keys, tcol, *cols]].sort_values([*keys, tcol])
    out = h.copy()
    trail = [c for c in config.trailing_weather if c in cols]
    if trail:
        roll = (
            h.groupby(keys, sort=False)[trail]
            .rolling(config.trailing_hours, min_periods=1)
            .mean()
            .reset_index(level=list(range(len(keys))), drop=True)
        )
        for c in trail:
            out[f"{c}_trail{config.trailing_hours}h"] = roll[c]
    day, hour = local_day_hour(out[tcol], tz)
    out["day"], out["hour"] = day.to_numpy(), hour.to_numpy()
    out = out.drop(columns=[tcol])
    idx = ["entity", "day", "hour", *(["issue_date"] if per_issue else [])]
    if per_issue:
        out["issue_date"] = pd.to_datetime(out["issue_date"])
    return out.groupby(idx, sort=False).mean(numeric_only=True)


def observed_o3_frame(hourly: pd.DataFrame, tz: str) -> pd.Series:
    """Observed hourly O3 [ug/m3], index ``(entity, day, hour)``."""
    day, hour = local_day_hour(hourly["time"], tz)
    f = pd.DataFrame({"entity": hourly["entity"].to_numpy(), "day": day, "hour": hour})
    f["o3"] = hourly["o3"].to_numpy(dtype=float)
    return f.groupby(["entity", "day", "hour"])["o3"].mean()


def hour_rows(
    table: pd.DataFrame,
    weather: pd.DataFrame,
    config: HourlyConfig,
    observed_o3: pd.Series | None = None,
    with_target: bool = True,
) -> pd.DataFrame:
    """Feature-table rows expanded to one row per local hour 0..23, with that hour's
    weather of the target day joined (``weather`` from :func:`hourly_weather_frame`) and,
    from ``observed_o3``, the O3 of the same hour of the day before the issue date
    (``o3_prev_day``) and, with ``with_target``, the observed O3 of the hour (``y_o3``)."""
    daily = [c for c in dict.fromkeys([*config.daily_inputs, *config.morning_inputs])]
    base = table.reindex(columns=["entity", "issue_date", "lead_days", "target_date", *daily])
    n = len(base)
    rep = base.loc[base.index.repeat(24)].reset_index(drop=True)
    rep["hour"] = np.tile(np.arange(24), n)
    w = weather.reset_index().rename(columns={"day": "target_date"})
    w["target_date"] = pd.to_datetime(w["target_date"])
    keys = ["entity", "target_date", "hour", *(["issue_date"] if "issue_date" in w else [])]
    rep = rep.merge(w, on=keys, how="left")
    if observed_o3 is not None:
        # The same hour of the day before the issue date: complete before the issue time.
        prev = observed_o3.rename("o3_prev_day").reset_index()
        prev["issue_date"] = pd.to_datetime(prev.pop("day")) + pd.Timedelta(days=1)
        rep = rep.merge(prev, on=["entity", "issue_date", "hour"], how="left")
    if observed_o3 is not None and with_target:
        y = observed_o3.rename("y_o3").reset_index().rename(columns={"day": "target_date"})
        y["target_date"] = pd.to_datetime(y["target_date"])
        rep = rep.merge(y, on=["entity", "target_date", "hour"], how="left")
    return rep


def _features(rows: pd.DataFrame, config: HourlyConfig, variant: str) -> list[str]:
    wx = [c for c in rows.columns if any(c.startswith(v) for v in config.hourly_weather)]
    wx = [c for c in wx if not c.startswith("wx_")]
    daily = [c for c in config.daily_inputs if c in rows.columns]
    if variant == "morning":
        daily += [c for c in config.morning_inputs if c in rows.columns]
    cols = ["entity", "hour", *wx, *daily, "o3_prev_day"]
    return [c for c in dict.fromkeys(cols) if c == "entity" or rows[c].notna().any()]


def _x(rows: pd.DataFrame, features: list[str], entities: list[str]) -> pd.DataFrame:
    x = rows.reindex(columns=features)
    x["entity"] = pd.Categorical(rows["entity"].astype(str), categories=entities)
    return x


# --- training ----------------------------------------------------------------------------


def train_hourly(
    table: pd.DataFrame,
    weather: pd.DataFrame,
    observed_o3: pd.Series,
    *,
    train_until: pd.Timestamp,
    train_start: pd.Timestamp | None = None,
    config: HourlyConfig | None = None,
) -> HourlyModel:
    """Train on the lead-0 rows whose target day lies in [train_start, train_until).

    Two fold models on alternate calendar months (early stopping on the other half) give
    out-of-fold predictions for the residual distribution and the hour-to-hour error
    correlation; the model used is the mean of the two fold models (no third fit: the
    fold models already saw half the data each, and this keeps a replay fast)."""
    config = config or load_hourly_config()
    sel = (table["lead_days"] == 0) & (table["target_date"] < train_until)
    if train_start is not None:
        sel &= table["target_date"] >= train_start
    rows = hour_rows(table[sel], weather, config, observed_o3)
    rows = rows[rows["y_o3"].notna()].reset_index(drop=True)
    if len(rows) < 500:
        raise ValueError(f"hourly model: only {len(rows)} observed hours before {train_until}")
    entities = sorted(table["entity"].astype(str).unique())
    y = rows["y_o3"].to_numpy(dtype=float)
    month = rows["target_date"].dt.year * 12 + rows["target_date"].dt.month
    fold = (month % 2).to_numpy()
    params = {**config.lightgbm}
    boosters: dict[str, lgb.Booster] = {}
    features: dict[str, list[str]] = {}
    oof_morning = np.full(len(rows), np.nan)
    for variant in config.variants:
        feats = _features(rows, config, variant)
        x = _x(rows, feats, entities)
        data = lgb.Dataset(
            x, y, categorical_feature=["entity"], params=params, free_raw_data=False
        ).construct()
        models = []
        oof = np.full(len(rows), np.nan)
        for k in (0, 1):
            tr, va = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            b = lgb.train(
                params,
                data.subset(tr),
                num_boost_round=config.rounds,
                valid_sets=[data.subset(va)],
                callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
            )
            oof[va] = lgb_predict(b, x.iloc[va], num_iteration=b.best_iteration)
            models.append(b)
        boosters[variant] = _Mean(models)
        features[variant] = feats
        if variant == "morning":
            oof_morning = oof
    hour = rows["hour"].to_numpy()
    residuals = ResidualModel.fit(
        oof_morning,
        y,
        hour,
        transform="none",
        n_bins=config.residual_bins,
        n_levels=config.residual_quantiles,
    )
    corr = residual_correlation(rows, oof_morning, residuals)
    rmse = float(np.sqrt(np.nanmean((oof_morning - y) ** 2)))
    model = HourlyModel(
        boosters=boosters,
        features=features,
        entities=entities,
        residuals=residuals,
        correlation=corr,
        reconcile=config.reconcile,
        train_end=str((train_until - pd.Timedelta(days=1)).date()),
        metrics={"oof_rmse_lead0_ugm3": round(rmse, 2), "rows": int(len(rows))},
        intraday_samples=config.intraday_samples,
    )
    model.calibrators = fit_intraday_calibration(model, rows, oof_morning, config)
    if config.intraday_model == "classifier":
        model.classifier = fit_intraday_classifier(model, rows, oof_morning, config)
        model.metrics["intraday"] = model.classifier.metrics
    return model


def fit_intraday_classifier(
    model: HourlyModel, rows: pd.DataFrame, oof: np.ndarray, config: HourlyConfig
) -> IntradayClassifier:
    """The intraday classifier (models.intraday_model) on every training entity-day with a
    complete out-of-fold profile and a valid observed MDA8, at each hours observed of
    ``intraday_hours``; folds on alternate calendar months choose its rounds."""
    keys, pred = _day_matrix(rows, oof)
    _, obs = _day_matrix(rows, rows["y_o3"].to_numpy(dtype=float))
    complete = ~np.isnan(pred).any(axis=1) & (np.isnan(obs).sum(axis=1) <= 6)
    td = pd.to_datetime(keys["k"].str.split("|", n=1).str[1])
    in_months = td.dt.month.isin(config.intraday_months).to_numpy()
    if config.intraday_months and (complete & in_months).sum() >= MIN_CLASSIFIER_DAYS:
        complete &= in_months  # else too few days in those months: every month
    pred, obs = np.clip(pred[complete], 0.0, None), obs[complete]
    sd = model.spread(pred.ravel(), np.tile(np.arange(24), len(pred))).reshape(pred.shape)
    x, y, day = training_rows(pred, obs, sd, model.correlation, config.intraday_hours)
    td = td[complete].reset_index(drop=True)
    fold = ((td.dt.year * 12 + td.dt.month) % 2).to_numpy()[day]
    return train_intraday_classifier(x, y, fold, config.intraday_hours)


def _day_matrix(rows: pd.DataFrame, values: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """(entity-days, 24) matrix of ``values`` over hour rows (NaN where an hour lacks)."""
    key = rows["entity"].astype(str) + "|" + rows["target_date"].dt.strftime("%Y-%m-%d")
    wide = (
        pd.DataFrame({"k": key.to_numpy(), "h": rows["hour"].to_numpy(), "v": values})
        .pivot_table(index="k", columns="h", values="v", aggfunc="first", dropna=False)
        .reindex(columns=range(24))
    )
    return wide.index.to_frame(index=False), wide.to_numpy(dtype=float)


def fit_intraday_calibration(
    model: HourlyModel, rows: pd.DataFrame, oof: np.ndarray, config: HourlyConfig
) -> dict[int, IsotonicRegression]:
    """Isotonic maps from the raw intraday probability to the observed exceedance rate,
    per hours observed, fitted on up to ``calibration_days`` training entity-days (drawn
    at random among those with every hour forecast) from their out-of-fold profiles."""
    _, pred = _day_matrix(rows, oof)
    _, obs = _day_matrix(rows, rows["y_o3"].to_numpy(dtype=float))
    complete = ~np.isnan(pred).any(axis=1) & (np.isnan(obs).sum(axis=1) <= 6)
    # Only days whose forecast MDA8 is of concern: elsewhere the probability is ~0 anyway
    # and would swamp the calibration.
    with np.errstate(invalid="ignore"):
        relevant = complete & (mda8_ugm3(np.clip(pred, 0.0, None)) >= CALIBRATION_MIN_MDA8_UGM3)
    ok = np.flatnonzero(relevant if relevant.sum() >= 50 else complete)
    if len(ok) > config.calibration_days:
        ok = np.sort(np.random.default_rng(0).choice(ok, config.calibration_days, replace=False))
    pred, obs = np.clip(pred[ok], 0.0, None), obs[ok]
    exceed = mda8_ugm3(obs) > LIMIT
    draws = model.draws()
    model.spread_scale = 1.0
    sd = model.spread(pred.ravel(), np.tile(np.arange(24), len(pred))).reshape(pred.shape)
    model.spread_scale = mda8_spread_scale(pred, obs, sd, model.correlation, draws)
    sd = sd * model.spread_scale
    out: dict[int, IsotonicRegression] = {}
    for h_obs in config.intraday_hours:
        p = raw_exceedance(obs, h_obs, pred, sd, model.correlation, draws)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(p, exceed.astype(float))
        out[int(h_obs)] = iso
    return out


CALIBRATION_MIN_MDA8_UGM3 = 100.0
MIN_CLASSIFIER_DAYS = 100


def mda8_spread_scale(
    pred: np.ndarray, obs: np.ndarray, sd: np.ndarray, correlation: np.ndarray, draws
) -> float:
    """sqrt(mean squared MDA8 error / mean simulated MDA8 variance) over days (n, 24):
    the factor that makes the Monte Carlo days as spread in MDA8 as the errors are."""
    w, v = np.linalg.eigh(correlation)
    z = draws @ (v * np.sqrt(np.clip(w, 0.0, None))).T  # (m, 24) correlated errors
    sims = np.clip(pred[:, None, :] + sd[:, None, :] * z[None, :, :], 0.0, None)
    sim_var = np.var(np.asarray(mda8_ugm3(sims)), axis=1)
    err = mda8_ugm3(obs) - mda8_ugm3(pred)
    ok = np.isfinite(err) & (sim_var > 0)
    if ok.sum() < 20:
        return 1.0
    return float(np.clip(np.sqrt(np.mean(err[ok] ** 2) / np.mean(sim_var[ok])), 0.5, 3.0))


class _Mean:
    """The mean prediction of several boosters (the fold models)."""

    def __init__(self, boosters: list[lgb.Booster]):
        self.boosters = boosters

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.mean(
            [lgb_predict(b, x, num_iteration=b.best_iteration or None) for b in self.boosters],
            axis=0,
        )


def hour_spread(residuals: ResidualModel, pred: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Per row: the residual standard deviation equivalent (q90 - q10) / (2 z90) of its
    hour and predicted level [ug/m3]."""
    q10, q90 = residuals.quantiles(pred, hour, [0.1, 0.9])
    return np.maximum((q90 - q10) / (2 * Z90), 1.0)


def residual_correlation(
    rows: pd.DataFrame, pred: np.ndarray, residuals: ResidualModel
) -> np.ndarray:
    """Correlation (24 x 24) of out-of-fold residuals standardised by their hour's and
    level's spread, over the days with both hours observed."""
    hour = rows["hour"].to_numpy()
    z = (rows["y_o3"].to_numpy(dtype=float) - pred) / hour_spread(residuals, pred, hour)
    wide = (
        pd.DataFrame({"k": rows["entity"].astype(str) + rows["target_date"].astype(str), "h": hour})
        .assign(z=z)
        .pivot_table(index="k", columns="h", values="z", aggfunc="first")
        .reindex(columns=range(24))
    )
    c = wide.corr(min_periods=30).to_numpy()
    c = np.where(np.isfinite(c), c, 0.0)
    np.fill_diagonal(c, 1.0)
    return nearest_correlation(c)


def nearest_correlation(c: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """A positive-definite correlation matrix near ``c`` (eigenvalues clipped, unit
    diagonal restored): pairwise estimates need not be jointly consistent."""
    c = (c + c.T) / 2
    w, v = np.linalg.eigh(c)
    c = (v * np.maximum(w, floor)) @ v.T
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


# --- prediction --------------------------------------------------------------------------


def predict_hourly(
    model: HourlyModel,
    table: pd.DataFrame,
    weather: pd.DataFrame,
    daily_pred: pd.DataFrame | None = None,
    observed_o3: pd.Series | None = None,
) -> pd.DataFrame:
    """Hourly q10/q50/q90 [ug/m3] for every feature-table row and local hour.

    ``daily_pred``: the ``predict_table`` output of the same rows; with ``reconcile``
    ``mda8`` (or ``o3_1h_max``) each profile's q50 is scaled so that its MDA8 (or its
    maximum) equals that daily q50. Returns ``HOUR_KEYS`` + ``raw, q10, q50, q90``."""
    wanted = {c for f in model.features.values() for c in f}
    daily_cols = wanted & set(table.columns) - set(HOUR_KEYS)
    rows = hour_rows(table, weather, _cfg_for(daily_cols), observed_o3, with_target=False)
    lead = rows["lead_days"].to_numpy()
    raw = np.full(len(rows), np.nan)
    later = "weather" if "weather" in model.boosters else "morning"
    for variant, sel in (("morning", lead == 0), (later, lead != 0)):
        if sel.any():
            x = _x(rows[sel], model.features[variant], model.entities)
            raw[sel] = model.boosters[variant].predict(x)
    raw = np.clip(raw, 0.0, None)
    out = rows[HOUR_KEYS].copy()
    out["raw"] = raw
    q50 = reconcile_profiles(out, daily_pred, model.reconcile)
    hour = out["hour"].to_numpy()
    q10, q90 = model.residuals.quantiles(q50, hour, [0.1, 0.9])
    out["q50"] = q50
    out["q10"] = np.clip(np.minimum(q10, q50), 0.0, None)
    out["q90"] = np.maximum(q90, q50)
    return out


def _cfg_for(columns: set[str]) -> HourlyConfig:
    # hour_rows needs only the daily columns to carry; the weather comes from the frame.
    return HourlyConfig(
        lightgbm={}, hourly_weather=[], daily_inputs=sorted(columns), morning_inputs=[]
    )


def reconcile_profiles(
    hourly: pd.DataFrame, daily_pred: pd.DataFrame | None, how: str
) -> np.ndarray:
    """The ``raw`` hourly profiles scaled per (entity, issue_date, target_date) so that
    their MDA8 (``how="mda8"``) or maximum (``"o3_1h_max"``) equals the daily q50; with
    ``"none"``, no daily forecast, or a profile without a valid MDA8, ``raw`` as is."""
    raw = hourly["raw"].to_numpy(dtype=float)
    if how == "none" or daily_pred is None or daily_pred.empty:
        return raw
    var = "o3_mda8" if how == "mda8" else "o3_1h_max"
    d = daily_pred[daily_pred["variable"] == var]
    key = ["entity", "issue_date", "target_date"]
    d = d.assign(
        issue_date=pd.to_datetime(d["issue_date"]), target_date=pd.to_datetime(d["target_date"])
    ).drop_duplicates(key)
    prof = raw.reshape(-1, 24)
    first = hourly.iloc[::24][key].reset_index(drop=True)
    first = first.assign(
        issue_date=pd.to_datetime(first["issue_date"]),
        target_date=pd.to_datetime(first["target_date"]),
    )
    target = first.merge(d[[*key, "q50"]], on=key, how="left")["q50"].to_numpy(dtype=float)
    stat = mda8_ugm3(prof) if how == "mda8" else np.max(prof, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where((stat > 0) & np.isfinite(target), target / stat, 1.0)
    return (prof * k[:, None]).ravel()


def hourly_rows_frame(hourly: pd.DataFrame, area_label: pd.Series) -> pd.DataFrame:
    """The hindcast H.csv layout: ``issue_date,target_date,lead_days,area,hour,q10,q50,q90``."""
    out = hourly.assign(area=area_label.to_numpy())
    for c in ("issue_date", "target_date"):
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    cols = ["issue_date", "target_date", "lead_days", "area", "hour", "q10", "q50", "q90"]
    return out[cols].sort_values(["issue_date", "lead_days", "area", "hour"]).reset_index(drop=True)


def intraday_table(
    model: HourlyModel,
    hourly_pred: pd.DataFrame,
    observed_o3: pd.Series,
    *,
    hours: list[int] | None = None,
    near_certain: float = 0.9,
    no_risk: float = 0.02,
) -> pd.DataFrame:
    """P(MDA8 > 160 | hours 0..H-1 observed) for every lead-0 profile of ``hourly_pred``
    (:func:`predict_hourly` output) and every H in ``hours``: columns ``entity,
    target_date, hours_observed, p_mda8_exceed, status``. Each row uses only the observed
    hours stamped before H of its target day (and the morning's lead-0 forecast)."""
    lead0 = hourly_pred[hourly_pred["lead_days"] == 0]
    if lead0.empty:
        return pd.DataFrame(
            columns=["entity", "target_date", "hours_observed", "p_mda8_exceed", "status"]
        )
    keys, q50 = _day_matrix(lead0, lead0["q50"].to_numpy(dtype=float))
    ok = ~np.isnan(q50).any(axis=1)
    keys, q50 = keys[ok].reset_index(drop=True), q50[ok]
    ent_day = keys["k"].str.split("|", n=1, expand=True)
    days = pd.to_datetime(ent_day[1])
    obs_idx = pd.MultiIndex.from_arrays(
        [
            np.repeat(ent_day[0].to_numpy(), 24),
            np.repeat(days.to_numpy(), 24),
            np.tile(np.arange(24), len(keys)),
        ],
        names=["entity", "day", "hour"],
    )
    obs_all = observed_o3.reindex(obs_idx).to_numpy(dtype=float).reshape(-1, 24)
    sd = model.spread(q50.ravel(), np.tile(np.arange(24), len(q50))).reshape(q50.shape)
    draws = model.draws()
    parts = []
    for h_obs in hours or list(range(8, 21)):
        obs = obs_all.copy()
        obs[:, h_obs:] = np.nan  # only the hours stamped before H
        if getattr(model, "classifier", None) is not None:
            certain = certain_days(obs, h_obs, LIMIT)
            p = model.classifier.predict(intraday_features(obs, h_obs, q50, sd, model.correlation))
        else:
            raw = raw_exceedance(obs, h_obs, q50, sd, model.correlation, draws)
            p = model.calibrate(raw, h_obs)
            certain = np.array(
                [
                    observed_windows_max_ugm3(o, h_obs) > LIMIT + 1e-9
                    or cannot_stay_below(o, h_obs, LIMIT)
                    for o in obs
                ]
            )
        p = np.where(certain, 1.0, p)
        parts.append(
            pd.DataFrame(
                {
                    "entity": ent_day[0].to_numpy(),
                    "target_date": days.dt.strftime("%Y-%m-%d").to_numpy(),
                    "hours_observed": h_obs,
                    "p_mda8_exceed": p,
                    "status": [
                        status_for(float(pi), bool(c), near_certain, no_risk)
                        for pi, c in zip(p, certain, strict=True)
                    ],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def critical_table(hourly_pred: pd.DataFrame) -> pd.DataFrame:
    """The critical value (features.critical_value) of every profile of ``hourly_pred``:
    per ``entity, issue_date, lead_days, target_date``: ``critical_value_ugm3, peak_hour,
    likely_hours`` (q50 reaching it), ``possible_hours`` (q90 reaching it), ``capped``.
    A profile that is incomplete or all zero gets NaN, -1 and no hours."""
    from aqcast.features.critical_value import critical_value_ugm3

    keys = ["entity", "issue_date", "lead_days", "target_date"]
    q50 = hourly_pred["q50"].to_numpy(dtype=float).reshape(-1, 24)
    q90 = hourly_pred["q90"].to_numpy(dtype=float).reshape(-1, 24)
    first = hourly_pred.iloc[::24][keys].reset_index(drop=True)
    rows = []
    for p, u in zip(q50, q90, strict=True):
        try:
            cv = critical_value_ugm3(p, upper_profile_ugm3=u)
        except ValueError:
            rows.append((np.nan, -1, [], [], False))
            continue
        rows.append(
            (
                cv.critical_value_ugm3,
                cv.peak_hour,
                list(cv.likely_hours),
                list(cv.possible_hours),
                cv.capped,
            )
        )
    cols = ["critical_value_ugm3", "peak_hour", "likely_hours", "possible_hours", "capped"]
    return pd.concat([first, pd.DataFrame(rows, columns=cols)], axis=1)


# --- what a stored forecast run keeps for the intraday update ----------------------------


def intraday_payload(model: HourlyModel) -> dict:
    """JSON-able parts of the model the intraday update needs: the hour-to-hour error
    correlation and the calibration maps (isotonic steps, per hours observed). The error
    spread of each hour is recovered from the stored band: (q90 - q10) / (2 z90)."""
    return {
        "correlation": [[round(float(x), 5) for x in row] for row in model.correlation],
        "calibration": {
            str(h): {
                "x": [float(x) for x in iso.X_thresholds_],
                "y": [float(y) for y in iso.y_thresholds_],
            }
            for h, iso in model.calibrators.items()
        },
        "samples": model.intraday_samples,
        "spread_scale": model.spread_scale,
        **({"classifier": model.classifier.to_payload()} if model.classifier is not None else {}),
    }


def calibrator_from_payload(payload: dict):
    """``f(p_raw, hours_observed) -> p`` from :func:`intraday_payload`'s calibration (the
    raw value outside the calibrated range and for an hour without a map; a raw 0 stays
    0, as in :meth:`HourlyModel.calibrate`)."""
    maps = {int(h): (np.asarray(m["x"]), np.asarray(m["y"])) for h, m in payload.items()}

    def calibrate(p_raw, hours_observed: int):
        m = maps.get(int(hours_observed))
        p = np.asarray(p_raw, dtype=float)
        if m is None or not len(m[0]):
            return p
        x, y = m
        inside = (p >= x[0]) & (p <= x[-1])
        return np.where(p > 0, np.where(inside, np.interp(p, x, y), p), 0.0)

    return calibrate


def spread_from_band(q10: np.ndarray, q90: np.ndarray) -> np.ndarray:
    """Error spread [ug/m3] of each hour from its stored q10/q90 band."""
    return np.maximum((np.asarray(q90, float) - np.asarray(q10, float)) / (2 * Z90), 1.0)


@dataclass(frozen=True)
class IntradayUpdate:
    hours_observed: int
    p_mda8_exceed: float | None  # None without a usable stored profile and payload
    status: str | None  # features.intraday.Status
    remaining_hour_limits_ugm3: dict[int, float | None]


def intraday_update(
    observed_ugm3: list[float],
    profile: pd.DataFrame,
    payload: dict,
    *,
    near_certain: float = 0.9,
    no_risk: float = 0.02,
) -> IntradayUpdate:
    """The intraday update of one area and day from a stored run: the observed hours
    0..H-1 (H = len(observed_ugm3), NaN missing), the morning's lead-0 profile
    (``hour, q10, q50, q90``, 24 rows) and :func:`intraday_payload`. Without a payload
    (a run made without the hourly model) the probability is None; the per-hour limits
    are given either way."""
    from aqcast.features.intraday import exceedance_probability, remaining_hour_limits_ugm3

    h_obs = len(observed_ugm3)
    prof = profile.sort_values("hour")
    q50 = prof["q50"].to_numpy(dtype=float)
    limits = remaining_hour_limits_ugm3(observed_ugm3, h_obs, q50)
    if not payload or "correlation" not in payload or len(prof) != 24:
        return IntradayUpdate(h_obs, None, None, limits)
    sd = spread_from_band(prof["q10"].to_numpy(), prof["q90"].to_numpy())
    sd = sd * float(payload.get("spread_scale", 1.0))
    corr = np.asarray(payload["correlation"], dtype=float)
    if payload.get("classifier") and 0 < h_obs < 24:
        from aqcast.features.intraday import status_for

        if np.any(np.asarray(observed_ugm3[:h_obs], dtype=float) < 0):
            raise ValueError("observed_ugm3: negative concentration")
        day = np.full((1, 24), np.nan)
        day[0, :h_obs] = np.asarray(observed_ugm3[:h_obs], dtype=float)
        certain = bool(certain_days(day, h_obs, LIMIT)[0])
        clf = IntradayClassifier.from_payload(payload["classifier"])
        p = (
            1.0
            if certain
            else float(clf.predict(intraday_features(day, h_obs, q50[None], sd[None], corr))[0])
        )
        return IntradayUpdate(h_obs, p, status_for(p, certain, near_certain, no_risk), limits)
    res = exceedance_probability(
        observed_ugm3,
        h_obs,
        q50,
        sd,
        corr,
        near_certain=near_certain,
        no_risk=no_risk,
        calibrate=calibrator_from_payload(payload.get("calibration", {})),
        draws=standard_normal_draws(int(payload.get("samples", 300))),
    )
    return IntradayUpdate(h_obs, res.p_exceed, res.status, limits)
