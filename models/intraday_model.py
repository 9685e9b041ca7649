"""The calibrated intraday P(MDA8 > 160 | hours 0..H-1 observed): a classifier on what the
morning forecast said and what the hours observed so far say.

The conditional-Gaussian update of ``features.intraday`` completes the day from the
hour-to-hour error correlation alone; at noon it is over-confident (docs/skill.md). Here
that update supplies features, and a LightGBM classifier, trained on training-period
entity-days only (the hourly model's out-of-fold profiles and the observed hours of the
same days), maps them to the probability:

- the forecast: the profile's MDA8 and maximum [ug/m3];
- the observed hours: running maximum, last hour, its anomaly against the profile, the
  mean anomaly of the last three hours and of the whole observed part, the change over
  the last hour, the best complete observed 8-hour window and the mean of the current one;
- the conditional-Gaussian completion: MDA8 of the day with the observed hours as
  observed and the remaining ones at their conditional mean, the standard deviation of
  that MDA8's window mean, and their z-score against the limit;
- the hours observed ``H`` itself (one model for every H).

A row uses only the observations stamped before hour H and that morning's profile.
Days already decided by the observed hours (``certain``) are left to the caller (P = 1)
and are not training rows. Pure numpy/pandas/LightGBM; the booster travels as its text
model (``to_payload`` / ``from_payload``), so a stored forecast run can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from aqcast.features.critical_value import O3_MDA8_LIMIT_UGM3
from aqcast.features.daily import MDA8_WINDOW_HOURS, mda8_ugm3
from aqcast.features.intraday import _mda8_fast

FEATURES = [
    "hours_observed",
    "fc_mda8_ugm3",
    "fc_max_ugm3",
    "obs_max_ugm3",
    "obs_last_ugm3",
    "anom_last_ugm3",
    "anom_last3_ugm3",
    "anom_mean_ugm3",
    "obs_change_ugm3",
    "obs_window_max_ugm3",
    "obs_window_now_ugm3",
    "cond_mda8_ugm3",
    "cond_sd_ugm3",
    "cond_z",
]
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "verbose": -1,
    "num_threads": 1,
    "seed": 11,
}


def _nan_reduce(fn, a: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(a, axis=1)


def intraday_features(
    observed_ugm3: np.ndarray,
    hours_observed: int,
    q50_ugm3: np.ndarray,
    sd_ugm3: np.ndarray,
    correlation: np.ndarray,
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
) -> pd.DataFrame:
    """Feature rows (``FEATURES``) of n days sharing ``hours_observed`` = H.

    observed_ugm3 : (n, 24) observed O3 [ug/m3], NaN missing; hours from H on are ignored
    q50_ugm3, sd_ugm3 : (n, 24) the morning profile and its error spread [ug/m3]
    correlation : (24, 24) hour-to-hour error correlation
    """
    h = int(hours_observed)
    obs = np.asarray(observed_ugm3, dtype=float).copy()
    obs[:, h:] = np.nan
    q50 = np.asarray(q50_ugm3, dtype=float)
    sd = np.asarray(sd_ugm3, dtype=float)
    n = obs.shape[0]
    seen = obs[:, :h]
    anom = seen - q50[:, :h]
    f = {
        "hours_observed": np.full(n, h, dtype=float),
        "fc_mda8_ugm3": mda8_ugm3(q50),
        "fc_max_ugm3": q50.max(axis=1),
        "obs_max_ugm3": _nan_reduce(np.nanmax, seen),
        "obs_last_ugm3": seen[:, -1],
        "anom_last_ugm3": anom[:, -1],
        "anom_last3_ugm3": _nan_reduce(np.nanmean, anom[:, -3:]),
        "anom_mean_ugm3": _nan_reduce(np.nanmean, anom),
        "obs_change_ugm3": seen[:, -1] - seen[:, -2],
    }
    # Complete observed 8-hour windows, and the mean of the window ending at H-1.
    w = MDA8_WINDOW_HOURS
    done = [_nan_reduce(np.nanmean, seen[:, s : s + w]) for s in range(0, h - w + 1)]
    f["obs_window_max_ugm3"] = (
        _nan_reduce(np.nanmax, np.column_stack(done)) if done else np.full(n, np.nan)
    )
    f["obs_window_now_ugm3"] = _nan_reduce(np.nanmean, seen[:, max(0, h - w) :])

    # Conditional-Gaussian completion (missing observed hours carry no information).
    r = np.arange(h, 24)
    o = np.arange(h)
    z = np.nan_to_num((seen - q50[:, :h]) / sd[:, :h], nan=0.0)
    c_oo, c_or = correlation[np.ix_(o, o)], correlation[np.ix_(o, r)]
    gain = np.linalg.solve(c_oo, c_or).T  # (R, H)
    cond_cov = correlation[np.ix_(r, r)] - gain @ c_or
    day = np.where(np.isnan(obs), q50, obs)
    day[:, r] = np.clip(q50[:, r] + sd[:, r] * (z @ gain.T), 0.0, None)
    cond_mda8 = _mda8_fast(day)
    # The spread of the best completed window's mean from its remaining hours.
    means = np.column_stack([day[:, s : s + w].mean(axis=1) for s in range(24 - w + 1)])
    best = np.argmax(means, axis=1)
    var = np.zeros(n)
    sd_r = sd[:, r]
    for s in np.unique(best):
        rows = np.flatnonzero(best == s)
        m = ((r >= s) & (r < s + w)).astype(float)
        v = sd_r[rows] * m[None, :]
        var[rows] = np.einsum("ni,ij,nj->n", v, cond_cov, v) / w**2
    cond_sd = np.sqrt(np.clip(var, 0.0, None))
    f["cond_mda8_ugm3"] = cond_mda8
    f["cond_sd_ugm3"] = cond_sd
    f["cond_z"] = (cond_mda8 - limit_ugm3) / np.maximum(cond_sd, 1.0)
    return pd.DataFrame(f)[FEATURES]


@dataclass
class IntradayClassifier:
    booster: lgb.Booster
    hours: list[int]
    metrics: dict

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        p = self.booster.predict(features[FEATURES], num_threads=1)
        return np.clip(np.asarray(p, dtype=float), 0.0, 1.0)

    def to_payload(self) -> dict:
        return {"model": self.booster.model_to_string(), "hours": list(self.hours)}

    @classmethod
    def from_payload(cls, payload: dict) -> IntradayClassifier:
        return cls(lgb.Booster(model_str=payload["model"]), list(payload["hours"]), {})


def certain_days(
    observed_ugm3: np.ndarray, hours_observed: int, limit_ugm3: float = O3_MDA8_LIMIT_UGM3
) -> np.ndarray:
    """Per day (n, 24): MDA8 exceeds the limit whatever the hours from H on do (even at
    zero); this covers a complete observed window already above it. Vectorised form of
    ``features.intraday.cannot_stay_below``."""
    filled = np.asarray(observed_ugm3, dtype=float).copy()
    filled[:, int(hours_observed) :] = 0.0
    return _mda8_fast(filled) > limit_ugm3 + 1e-9


def training_rows(
    pred_ugm3: np.ndarray,
    obs_ugm3: np.ndarray,
    sd_ugm3: np.ndarray,
    correlation: np.ndarray,
    hours: list[int],
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, label, day index) over training days x hours observed, the days already
    decided by their observed hours (:func:`certain_days`) left out. Each row sees only
    the day's hours before its H; the label is the whole day's observed MDA8."""
    exceed = (mda8_ugm3(obs_ugm3) > limit_ugm3).astype(float)
    parts, labels, day_idx = [], [], []
    for h in hours:
        cut = obs_ugm3.copy()
        cut[:, h:] = np.nan
        idx = np.flatnonzero(~certain_days(cut, h, limit_ugm3))
        parts.append(
            intraday_features(cut[idx], h, pred_ugm3[idx], sd_ugm3[idx], correlation, limit_ugm3)
        )
        labels.append(exceed[idx])
        day_idx.append(idx)
    return (
        pd.concat(parts, ignore_index=True),
        np.concatenate(labels),
        np.concatenate(day_idx),
    )


def train_intraday_classifier(
    x: pd.DataFrame,
    y: np.ndarray,
    fold: np.ndarray,
    hours: list[int],
    rounds: int = 400,
    early_stopping_rounds: int = 30,
) -> IntradayClassifier:
    """Two folds (``fold`` 0/1, e.g. alternate months of the target days) choose the
    number of rounds by early stopping on log loss; the model used is then fitted on every
    row with that number. Returns the out-of-fold Brier score in ``metrics``."""
    if len(y) == 0:
        raise ValueError("intraday classifier: no training rows")
    data = lgb.Dataset(x[FEATURES], y, params=PARAMS, free_raw_data=False).construct()
    best, oof = [], np.full(len(y), np.nan)
    # With one fold empty (a short training period) there is nothing to stop on: a fixed
    # number of rounds, a quarter of the maximum.
    folds = (0, 1) if ((fold == 0).any() and (fold == 1).any()) else ()
    for k in folds:
        tr, va = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        b = lgb.train(
            PARAMS,
            data.subset(tr),
            num_boost_round=rounds,
            valid_sets=[data.subset(va)],
            callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
        )
        best.append(b.best_iteration or rounds)
        oof[va] = b.predict(x[FEATURES].iloc[va], num_iteration=b.best_iteration, num_threads=1)
    n_rounds = max(20, int(np.mean(best))) if best else max(20, rounds // 4)
    booster = lgb.train(PARAMS, data, num_boost_round=n_rounds)
    metrics = {
        "rows": int(len(y)),
        "rounds": n_rounds,
        "oof_brier": round(float(np.mean((oof - y) ** 2)), 4) if best else None,
    }
    return IntradayClassifier(booster, list(hours), metrics)
