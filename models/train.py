"""Training: one LightGBM model per forecast variable and lead, with the variable's
predictive distribution.

Per variable and lead, over the training rows of the feature table (one global model
across stations and areas; a pooled model with lead as a feature was tried and was far
worse at lead 0, where the morning's observations matter most):
1. two fold models on alternate calendar months (early stopping on the other half) give
   out-of-fold predictions for every training row;
2. their residuals by lead and predicted level make the predictive distribution, and an
   isotonic calibration of the exceedance probabilities is fitted on them;
3. the final model is trained on all rows for the folds' mean best number of rounds.
The out-of-fold scores beside persistence and climatology are the validation metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from aqcast.configuration import load_yaml_model
from aqcast.features.feature_table import FeatureSpec, feature_columns
from aqcast.features.nomenclature import THRESHOLDS
from aqcast.models.baselines import (
    BaselineModel,
    climatology,
    fit_baseline_model,
    fit_climatology,
    persistence,
)
from aqcast.models.distribution import ResidualModel, to_model_space
from aqcast.models.profile import fit_diurnal_shape

CONFIG_PATH = Path(__file__).resolve().parent / "models.yaml"
CATEGORICAL = ["entity"]
# AQI 200 (heavy pollution) is crossed at these concentrations (HJ 633-2012, IAQI 200).
HEAVY_BREAKPOINTS: dict[str, float] = {
    "pm25_24h": 150.0,
    "pm10_24h": 350.0,
    "o3_mda8": 265.0,
    "o3_1h_max": 400.0,
}


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lightgbm: dict
    max_rounds: int = 600
    min_rounds: int = 50
    early_stopping_rounds: int = 40
    final_rounds_factor: float = 1.1
    residual_bins: int = 5
    residual_quantiles: int = 99
    climatology_half_window_days: int = 15
    parallel_models: int = 2  # variables trained at once (threads; LightGBM frees the GIL)
    ensemble_size: int = 1  # final models per variable and lead, bagged with different seeds
    # Spread calibration: the last days of the training window, forecast by a model
    # trained on the days before them, scale the 10-90 % offsets (0 = off).
    spread_holdout_days: int = 0
    spread_coverage: float = 0.8
    spread_scale_bounds: tuple[float, float] = (0.7, 1.3)
    spread_min_rows: int = 300


def load_training_config(path: Path | None = None) -> TrainingConfig:
    return load_yaml_model(path or CONFIG_PATH, TrainingConfig)


class SeedEnsemble:
    """Final models of one variable and lead trained with different seeds (row bagging
    and feature sampling); predicts their mean. Averaging cuts the variance a single
    model's random sampling adds: one changed training value moves its forecasts less."""

    def __init__(self, members: list[lgb.Booster]):
        self.members = members

    def predict(self, x, **kwargs) -> np.ndarray:
        return np.mean([lgb_predict(m, x, **kwargs) for m in self.members], axis=0)

    def feature_importance(self, importance_type: str = "split") -> np.ndarray:
        return np.mean(
            [m.feature_importance(importance_type=importance_type) for m in self.members], 0
        )

    def num_trees(self) -> int:
        return sum(m.num_trees() for m in self.members)


# LightGBM 4 keeps the thread count of its latest call in one process-wide variable and
# sizes its per-thread buffers by it. A prediction that names no thread count resets it to
# every core while another thread builds a Dataset with one thread, whose loop then runs
# on more threads than it has buffers (a segfault when variables train side by side).
# Every LightGBM call therefore names the thread count its booster was trained with.
def lgb_predict(booster: lgb.Booster, x, **kwargs) -> np.ndarray:
    """``booster.predict`` with the booster's own ``num_threads`` (1 when unset)."""
    threads = int((getattr(booster, "params", None) or {}).get("num_threads", 1) or 1)
    return booster.predict(x, num_threads=threads, **kwargs)


def _predict_any(model, x, **kwargs) -> np.ndarray:
    """A booster's or a seed ensemble's prediction, each with its thread count."""
    if isinstance(model, lgb.Booster):
        return lgb_predict(model, x, **kwargs)
    return model.predict(x, **kwargs)


# The fitter of the final models, shared by the trainer's threads: None fits here with
# lgb.train; models/distributed.py's ``training_on(client)`` sets one that fits on a Dask
# cluster (``aqcast train --dask``, ``aqcast hindcast --dask``).
FINAL_FITTER: dict[str, Callable[[dict, lgb.Dataset, int], lgb.Booster] | None] = {"fit": None}


def train_final(params: dict, data: lgb.Dataset, rounds: int, size: int):
    """The final model of a variable and lead: one booster, or a seed ensemble of
    ``size`` boosters (seeds ``seed``, ``seed + 1``, ...)."""
    fit = FINAL_FITTER["fit"] or (lambda p, d, r: lgb.train(p, d, num_boost_round=r))
    if size <= 1:
        return fit(params, data, rounds)
    base = int(params.get("seed", 0))
    return SeedEnsemble([fit({**params, "seed": base + k}, data, rounds) for k in range(size)])


@dataclass
class VariableModel:
    variable: str
    transform: str
    boosters: dict[int, lgb.Booster]  # one model per lead
    features: list[str]
    residuals: ResidualModel
    rounds: dict[int, int]
    metrics: dict
    importance: dict[str, float]  # total gain per feature
    shap: dict[str, float] = field(default_factory=dict)  # mean |SHAP| per feature, lead 0


@dataclass
class ModelBundle:
    """Everything a forecast needs from training, saved as one file per version."""

    version: str
    train_start: date
    train_end: date  # last target day used (inclusive)
    spec: dict
    params: dict
    entities: list[str]
    models: dict[str, VariableModel]
    climatology: pd.DataFrame
    diurnal: pd.DataFrame
    baselines: dict[str, BaselineModel] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def importance(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per variable: total gain and mean |SHAP| (model space) of each feature."""
        return {v: {"gain": m.importance, "mean_abs_shap": m.shap} for v, m in self.models.items()}


def _dataset(x: pd.DataFrame, y: np.ndarray, entities: list[str]) -> pd.DataFrame:
    x = x.copy()
    x["entity"] = pd.Categorical(x["entity"], categories=entities)
    return x


def model_inputs(table: pd.DataFrame, features: list[str], entities: list[str]) -> pd.DataFrame:
    """The feature matrix in the column order and categories the model was trained with."""
    x = table.reindex(columns=features)
    if "entity" in features:
        x["entity"] = pd.Categorical(table["entity"], categories=entities)
    return x


def _scores(obs: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    ok = ~(np.isnan(obs) | np.isnan(pred))
    if not ok.any():
        return {"rmse": float("nan"), "mae": float("nan"), "n": 0}
    e = pred[ok] - obs[ok]
    return {
        "rmse": float(np.sqrt(np.mean(e**2))),
        "mae": float(np.mean(np.abs(e))),
        "n": int(ok.sum()),
    }


def train_variable(
    rows: pd.DataFrame,
    variable: str,
    transform: str,
    features: list[str],
    entities: list[str],
    config: TrainingConfig,
    clim: pd.DataFrame,
    previous: VariableModel | None = None,
) -> VariableModel:
    y = to_model_space(rows[f"y_{variable}"].to_numpy(), transform)
    ok = ~np.isnan(y)
    rows, y = rows[ok], y[ok]
    x = model_inputs(rows, features, entities)
    params = {**config.lightgbm}
    lead = rows["lead_days"].to_numpy()
    fold = (rows["target_date"].dt.year * 12 + rows["target_date"].dt.month).to_numpy() % 2
    boosters: dict[int, lgb.Booster] = {}
    rounds: dict[int, int] = {}
    oof = np.full(len(rows), np.nan)
    fwd = np.full(len(rows), np.nan)  # forward holdout predictions (spread calibration)
    hold_from = rows["target_date"].max() - pd.Timedelta(days=config.spread_holdout_days - 1)
    in_hold = (rows["target_date"] >= hold_from).to_numpy() & (config.spread_holdout_days > 0)
    for ld in sorted(np.unique(lead)):
        sel = np.flatnonzero(lead == ld)
        full = lgb.Dataset(
            x.iloc[sel],
            y[sel],
            categorical_feature=CATEGORICAL,
            params=params,
            free_raw_data=False,
        )
        full.construct()
        if previous is not None and int(ld) in previous.rounds:
            rounds[int(ld)] = previous.rounds[int(ld)]
        else:
            best: list[int] = []
            for k in (0, 1):
                tr, va = np.flatnonzero(fold[sel] != k), np.flatnonzero(fold[sel] == k)
                if len(tr) < 50 or len(va) < 50:
                    continue
                booster = lgb.train(
                    params,
                    full.subset(tr),
                    num_boost_round=config.max_rounds,
                    valid_sets=[full.subset(va)],
                    callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
                )
                best.append(booster.best_iteration or config.max_rounds)
                oof[sel[va]] = lgb_predict(
                    booster, x.iloc[sel[va]], num_iteration=booster.best_iteration
                )
            rounds[int(ld)] = int(
                np.clip(
                    np.mean(best) * config.final_rounds_factor if best else config.max_rounds // 2,
                    config.min_rounds,
                    config.max_rounds,
                )
            )
            h = sel[in_hold[sel]]
            if len(h) >= config.spread_min_rows and (~in_hold[sel]).sum() >= 50:
                booster = lgb.train(
                    params, full.subset(np.flatnonzero(~in_hold[sel])), rounds[int(ld)]
                )
                fwd[h] = lgb_predict(booster, x.iloc[h])
        boosters[int(ld)] = train_final(params, full, rounds[int(ld)], config.ensemble_size)
    if previous is not None:
        return _variable_model(
            variable,
            transform,
            boosters,
            features,
            previous.residuals,
            rounds,
            previous.metrics,
            retrained=True,
            shap=previous.shap,
        )
    have = ~np.isnan(oof)
    pred_src = np.where(have, oof, predict_boosters(boosters, x, lead))
    residuals = ResidualModel.fit(
        pred_src[have] if have.any() else pred_src,
        y[have] if have.any() else y,
        lead[have] if have.any() else lead,
        transform=transform,
        n_bins=config.residual_bins,
        n_levels=config.residual_quantiles,
    )
    spread = spread_scale(residuals, fwd, y, lead, config)
    residuals.scale_spread(spread)
    obs = rows[f"y_{variable}"].to_numpy(dtype=float)
    for thr in {THRESHOLDS[variable], HEAVY_BREAKPOINTS.get(variable, THRESHOLDS[variable])}:
        residuals.fit_calibration(pred_src, obs, lead, thr)

    metrics: dict = {"spread_scale": {f"lead{k}": round(v, 3) for k, v in spread.items()}}
    point = residuals.quantiles(pred_src, lead, [0.5])[0]
    pers = persistence(rows, variable).to_numpy()
    clm = climatology(rows, clim, variable).to_numpy()
    for ld in sorted(np.unique(lead)):
        s = lead == ld
        metrics[f"lead{int(ld)}"] = {
            "model": _scores(obs[s], point[s]),
            "persistence": _scores(obs[s], pers[s]),
            "climatology": _scores(obs[s], clm[s]),
        }
    first = min(boosters)
    shap = mean_abs_shap(boosters[first], x.iloc[np.flatnonzero(lead == first)])
    return _variable_model(
        variable, transform, boosters, features, residuals, rounds, metrics, shap=shap
    )


def spread_scale(
    residuals: ResidualModel,
    fwd_t: np.ndarray,
    obs_t: np.ndarray,
    lead: np.ndarray,
    config: TrainingConfig,
) -> dict[int, float]:
    """Per lead, the factor for the predictive distribution's offsets from its median
    (model space) that makes its 10-90 % band hold ``spread_coverage`` of the forward
    holdout: the last days of the training window forecast by a model trained only on the
    days before them, as the final model forecasts the days after its training. (The
    out-of-fold residuals come from fold models trained on half the rows, whose errors
    are a little larger than the final model's; the holdout measures by how much, with
    the weather the training rows saw.) A split-conformal quantile of the needed scale,
    kept within ``spread_scale_bounds``; 1 where the holdout has too few rows."""
    out: dict[int, float] = {}
    lo, hi = config.spread_scale_bounds
    for ld in sorted(np.unique(lead)):
        sel = (lead == ld) & ~np.isnan(fwd_t) & ~np.isnan(obs_t)
        if sel.sum() < config.spread_min_rows:
            out[int(ld)] = 1.0
            continue
        need = residuals.needed_scale(fwd_t[sel], obs_t[sel], lead[sel])
        out[int(ld)] = float(np.clip(np.quantile(need, config.spread_coverage), lo, hi))
    return out


def predict_boosters(
    boosters: dict[int, lgb.Booster], x: pd.DataFrame, lead: np.ndarray
) -> np.ndarray:
    """Model-space predictions, each row by the model of its lead (a lead beyond the
    trained ones uses the farthest trained lead)."""
    out = np.full(len(x), np.nan)
    known = sorted(boosters)
    for ld in np.unique(lead):
        sel = np.flatnonzero(lead == ld)
        use = int(ld) if int(ld) in boosters else known[-1]
        out[sel] = _predict_any(boosters[use], x.iloc[sel])
    return out


def mean_abs_shap(
    booster: lgb.Booster, x: pd.DataFrame, max_rows: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean absolute SHAP value per feature (TreeSHAP through LightGBM's ``pred_contrib``),
    in the model's target space, over at most ``max_rows`` rows drawn at random."""
    if len(x) > max_rows:
        x = x.sample(max_rows, random_state=seed)
    contrib = _predict_any(booster, x, pred_contrib=True)
    values = np.abs(np.asarray(contrib)[:, : x.shape[1]]).mean(axis=0)
    ranked = sorted(zip(x.columns, values, strict=True), key=lambda t: -t[1])
    return {str(f): round(float(v), 4) for f, v in ranked}


def _variable_model(
    variable,
    transform,
    boosters,
    features,
    residuals,
    rounds,
    metrics,
    retrained=False,
    shap=None,
) -> VariableModel:
    gain = np.sum([b.feature_importance(importance_type="gain") for b in boosters.values()], 0)
    ranked = sorted(zip(features, gain, strict=True), key=lambda t: -t[1])
    metrics = {**metrics, "distribution_from_earlier_training": retrained}
    return VariableModel(
        variable=variable,
        transform=transform,
        boosters=boosters,
        features=features,
        residuals=residuals,
        rounds=rounds,
        metrics=metrics,
        importance={f: round(float(g), 2) for f, g in ranked},
        shap=shap or {},
    )


def train_bundle(
    table: pd.DataFrame,
    hourly: pd.DataFrame,
    *,
    spec: FeatureSpec,
    tz: str,
    train_start: date | None,
    train_until: date,
    version: str,
    config: TrainingConfig | None = None,
    with_models: bool = True,
    previous: ModelBundle | None = None,
) -> ModelBundle:
    """Train every target variable on the feature-table rows whose target day lies in
    [train_start, train_until) (so everything used is known before ``train_until``).

    ``hourly`` (entity column) gives the diurnal O3 shape; only its hours before
    ``train_until`` are used. ``with_models=False`` fits the baselines only (what a
    forecast falls back to when no model is available). With ``previous`` (a bundle
    trained on an earlier cut-off of the same replay), the point models are refitted
    and the predictive distributions and round counts are taken over from it.
    """
    config = config or load_training_config()
    until = pd.Timestamp(train_until)
    sel = table["target_date"] < until
    if train_start is not None:
        sel &= table["issue_date"] >= pd.Timestamp(train_start)
    rows = table[sel]
    if rows.empty:
        raise ValueError(f"no training rows before {train_until} (from {train_start})")
    entities = sorted(table["entity"].unique())
    clim, baselines = _fit_baselines(rows, spec, config, previous)
    models: dict[str, VariableModel] = {}
    if with_models:
        features = [c for c in feature_columns(rows) if rows[c].notna().any() and c != "lead_days"]
        features = ["entity", *[f for f in features if f != "entity"]]
        if previous is not None and previous.models:
            features = next(iter(previous.models.values())).features
        # Each variable's models are independent (own data, seed, one LightGBM thread), so
        # training them side by side changes no result, only the wall time.
        with ThreadPoolExecutor(max_workers=max(1, config.parallel_models)) as pool:
            futures = {
                v: pool.submit(
                    train_variable,
                    rows,
                    v,
                    transform,
                    features,
                    entities,
                    config,
                    clim,
                    previous.models.get(v) if previous is not None else None,
                )
                for v, transform in spec.targets.items()
            }
            models = {v: f.result() for v, f in futures.items()}
    h = hourly[hourly["time"] < until.tz_localize(tz).tz_convert("UTC")]
    if train_start is not None:
        h = h[h["time"] >= pd.Timestamp(train_start).tz_localize(tz).tz_convert("UTC")]
    diurnal = fit_diurnal_shape(h, tz)
    start = rows["issue_date"].min().date()
    end = rows["target_date"].max().date()
    return ModelBundle(
        version=version,
        train_start=start,
        train_end=end,
        spec=spec.model_dump(mode="json"),
        params={**config.model_dump(mode="json")},
        entities=entities,
        models=models,
        climatology=clim,
        diurnal=diurnal,
        baselines=baselines,
        metrics={v: m.metrics for v, m in models.items()},
    )


def _fit_baselines(
    rows: pd.DataFrame,
    spec: FeatureSpec,
    config: TrainingConfig,
    previous: ModelBundle | None = None,
) -> tuple[pd.DataFrame, dict[str, BaselineModel]]:
    """Climatology from ``rows``; the baselines' predictive distributions too, unless a
    ``previous`` bundle of the same replay gives them (as for the point models)."""
    variables = list(dict.fromkeys([*spec.targets, *spec.persistence_only]))
    clim = fit_climatology(rows, variables, config.climatology_half_window_days)
    if previous is not None and set(variables) <= set(previous.baselines):
        return clim, {v: previous.baselines[v] for v in variables}
    baselines = {}
    for v in variables:
        thresholds = sorted({THRESHOLDS[v], HEAVY_BREAKPOINTS.get(v, THRESHOLDS[v])})
        baselines[v] = fit_baseline_model(
            rows,
            v,
            spec.targets.get(v, "log1p"),
            clim,
            thresholds,
            config.residual_bins,
            config.residual_quantiles,
        )
    return clim, baselines
