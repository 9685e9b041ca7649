"""The two baselines every forecast is judged against, and falls back to.

- persistence: the target day equals yesterday (the last complete day before the issue
  date), at every lead;
- climatology: the day-of-year mean per entity over the training years, smoothed with a
  centred circular window of +-N days so that a few years give a stable curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aqcast.models.distribution import ResidualModel, to_model_space

BASELINES = ("persistence", "climatology")


def persistence(table: pd.DataFrame, variable: str) -> pd.Series:
    """Yesterday's daily value of ``variable`` for each feature-table row [variable unit]."""
    return table[f"{variable}_lag1"].astype(float)


def fit_climatology(
    table: pd.DataFrame, variables: list[str], half_window_days: int = 15
) -> pd.DataFrame:
    """Smoothed day-of-year means of the observed target values of ``table`` (one row per
    entity and target date is used: lead 0). Returns index ``(entity, doy)`` (doy 1..366),
    one column per variable; NaN where an entity has no data at all."""
    lead0 = table[table["lead_days"] == table["lead_days"].min()]
    doy = lead0["target_date"].dt.day_of_year.to_numpy()
    out = {}
    entities = sorted(lead0["entity"].unique())
    ent_idx = pd.Index(entities).get_indexer(lead0["entity"])
    kernel = np.ones(2 * half_window_days + 1)
    for v in variables:
        y = lead0[f"y_{v}"].to_numpy(dtype=float)
        ok = ~np.isnan(y)
        sums = np.zeros((len(entities), 366))
        counts = np.zeros((len(entities), 366))
        np.add.at(sums, (ent_idx[ok], doy[ok] - 1), y[ok])
        np.add.at(counts, (ent_idx[ok], doy[ok] - 1), 1.0)
        pad = half_window_days
        s = np.concatenate([sums[:, -pad:], sums, sums[:, :pad]], axis=1)
        c = np.concatenate([counts[:, -pad:], counts, counts[:, :pad]], axis=1)
        ss = np.apply_along_axis(np.convolve, 1, s, kernel, mode="valid")
        cc = np.apply_along_axis(np.convolve, 1, c, kernel, mode="valid")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[v] = np.where(cc > 0, ss / np.where(cc > 0, cc, 1), np.nan).ravel()
    index = pd.MultiIndex.from_product([entities, range(1, 367)], names=["entity", "doy"])
    return pd.DataFrame(out, index=index)


def climatology(table: pd.DataFrame, clim: pd.DataFrame, variable: str) -> pd.Series:
    """The climatological value of ``variable`` on each row's target day [variable unit];
    NaN for entities the climatology does not know."""
    if variable not in clim.columns:
        return pd.Series(np.nan, index=table.index)
    key = pd.MultiIndex.from_arrays([table["entity"], table["target_date"].dt.day_of_year])
    return pd.Series(clim[variable].reindex(key).to_numpy(), index=table.index)


def baseline(table: pd.DataFrame, name: str, variable: str, clim: pd.DataFrame) -> pd.Series:
    if name == "persistence":
        return persistence(table, variable)
    if name == "climatology":
        return climatology(table, clim, variable)
    raise ValueError(f"unknown baseline {name!r}; known: {BASELINES}")


@dataclass
class BaselineModel:
    """A variable's baselines with their predictive distributions, and which one scored
    best per lead on the training rows (the fallback when the model cannot be used)."""

    variable: str
    transform: str
    best_by_lead: dict[int, str]
    residuals: dict[str, ResidualModel]
    metrics: dict[str, dict[str, float]]

    def best(self, lead: int) -> str:
        if lead in self.best_by_lead:
            return self.best_by_lead[lead]
        return self.best_by_lead[max(self.best_by_lead)] if self.best_by_lead else "climatology"


def fit_baseline_model(
    rows: pd.DataFrame,
    variable: str,
    transform: str,
    clim: pd.DataFrame,
    thresholds: list[float],
    n_bins: int = 5,
    n_levels: int = 99,
) -> BaselineModel:
    obs = rows[f"y_{variable}"].to_numpy(dtype=float)
    lead = rows["lead_days"].to_numpy()
    residuals: dict[str, ResidualModel] = {}
    rmse: dict[str, dict[int, float]] = {}
    for name in BASELINES:
        pred = baseline(rows, name, variable, clim).to_numpy(dtype=float)
        ok = ~(np.isnan(pred) | np.isnan(obs))
        if ok.sum() < 30:
            continue
        pt = to_model_space(pred, transform)
        res = ResidualModel.fit(
            pt[ok],
            to_model_space(obs[ok], transform),
            lead[ok],
            transform=transform,
            n_bins=n_bins,
            n_levels=n_levels,
        )
        for thr in thresholds:
            res.fit_calibration(pt[ok], obs[ok], lead[ok], thr)
        residuals[name] = res
        rmse[name] = {
            int(ld): float(
                np.sqrt(np.mean((pred[ok & (lead == ld)] - obs[ok & (lead == ld)]) ** 2))
            )
            for ld in np.unique(lead[ok])
        }
    best: dict[int, str] = {}
    for ld in sorted({ld for r in rmse.values() for ld in r}):
        scored = {n: r[ld] for n, r in rmse.items() if ld in r}
        best[ld] = min(scored, key=scored.get)
    metrics = {n: {f"lead{ld}": v for ld, v in r.items()} for n, r in rmse.items()}
    return BaselineModel(variable, transform, best, residuals, metrics)
