"""Predicting from a trained bundle over feature-table rows: quantiles, calibrated
exceedance, the AQI derived from the pollutant forecasts, and the fallback to the best
baseline for rows whose inputs are missing (or when there is no model at all).

The AQI forecast: the sub-indices (HJ 633-2012) of the pollutant forecasts, O3 MDA8 and
1-hour max, PM2.5 and PM10 from the models, SO2/NO2/CO by their best baseline; q10/q50/q90 of
the AQI are the AQI of the pollutants' q10/q50/q90 (the AQI is monotone in each
concentration). P(AQI > 200) is the largest of the pollutants' calibrated probabilities
of crossing their IAQI-200 concentration: a lower bound that is exact when one
pollutant dominates, as PM2.5 does on Beijing's heavy days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.aqi import aqi_frame
from aqcast.features.nomenclature import THRESHOLDS
from aqcast.models.baselines import baseline
from aqcast.models.distribution import to_model_space
from aqcast.models.train import HEAVY_BREAKPOINTS, ModelBundle, model_inputs, predict_boosters

OUT_COLUMNS = [
    "entity",
    "issue_date",
    "target_date",
    "lead_days",
    "variable",
    "q10",
    "q50",
    "q90",
    "p_exceed",
    "threshold",
    "p_heavy",
    "method",
]


def missing_weather(table: pd.DataFrame) -> np.ndarray:
    """Rows with no target-day weather at all (the models need it)."""
    wx = [c for c in table.columns if c.startswith("wx_") and not c.startswith("wx_prev_")]
    wx = [c for c in wx if not c.startswith("wx_d_")]
    if not wx:
        return np.ones(len(table), dtype=bool)
    return table[wx].isna().all(axis=1).to_numpy()


def _baseline_rows(bundle: ModelBundle, table: pd.DataFrame, variable: str) -> dict:
    bm = bundle.baselines[variable]
    lead = table["lead_days"].to_numpy()
    n = len(table)
    out = {k: np.full(n, np.nan) for k in ("q10", "q50", "q90", "p_exceed", "p_heavy")}
    method = np.full(n, "", dtype=object)
    for ld in np.unique(lead):
        order = [bm.best(int(ld)), *[b for b in bm.residuals if b != bm.best(int(ld))]]
        remaining = lead == ld
        for name in order:
            if name not in bm.residuals or not remaining.any():
                continue
            pred = baseline(table[remaining], name, variable, bundle.climatology).to_numpy()
            ok = ~np.isnan(pred)
            idx = np.flatnonzero(remaining)[ok]
            if not len(idx):
                continue
            res = bm.residuals[name]
            pt = to_model_space(pred[ok], bm.transform)
            ll = lead[idx]
            q = res.quantiles(pt, ll, [0.1, 0.5, 0.9])
            out["q10"][idx], out["q50"][idx], out["q90"][idx] = q
            out["p_exceed"][idx] = res.exceedance(pt, ll, THRESHOLDS[variable])
            heavy = HEAVY_BREAKPOINTS.get(variable)
            if heavy is not None:
                out["p_heavy"][idx] = res.exceedance(pt, ll, heavy)
            method[idx] = f"fallback:{name}"
            remaining[idx] = False
    out["method"] = method
    return out


def _model_rows(bundle: ModelBundle, table: pd.DataFrame, variable: str) -> dict:
    vm = bundle.models[variable]
    x = model_inputs(table, vm.features, bundle.entities)
    lead = table["lead_days"].to_numpy()
    pt = predict_boosters(vm.boosters, x, lead)
    q10, q50, q90 = vm.residuals.quantiles(pt, lead, [0.1, 0.5, 0.9])
    heavy = HEAVY_BREAKPOINTS.get(variable)
    return {
        "q10": q10,
        "q50": q50,
        "q90": q90,
        "p_exceed": vm.residuals.exceedance(pt, lead, THRESHOLDS[variable]),
        "p_heavy": vm.residuals.exceedance(pt, lead, heavy) if heavy else np.full(len(pt), np.nan),
        "method": np.full(len(pt), "model", dtype=object),
    }


def predict_table(bundle: ModelBundle, table: pd.DataFrame) -> pd.DataFrame:
    """Long frame of forecasts (columns ``OUT_COLUMNS``) for every row of ``table`` and
    every variable, the AQI included. ``method`` is ``model`` or ``fallback:<baseline>``
    per row; rows without target-day weather, and variables without a model, use the
    baseline that scored best at that lead in training."""
    if table.empty:
        return pd.DataFrame(columns=OUT_COLUMNS)
    no_wx = missing_weather(table)
    per_var: dict[str, dict] = {}
    variables = list(dict.fromkeys([*bundle.models, *bundle.baselines]))
    for v in variables:
        fb = _baseline_rows(bundle, table, v) if v in bundle.baselines else None
        if v in bundle.models:
            res = _model_rows(bundle, table, v)
            if fb is not None and no_wx.any():
                for k in res:
                    res[k] = np.where(no_wx, fb[k], res[k])
        else:
            res = fb
        per_var[v] = res

    make_coherent(per_var)
    keys = table[["entity", "issue_date", "target_date", "lead_days"]].reset_index(drop=True)
    frames = []
    for v, res in per_var.items():
        f = keys.copy()
        f["variable"] = v
        for k in ("q10", "q50", "q90", "p_exceed", "p_heavy", "method"):
            f[k] = res[k]
        f["threshold"] = THRESHOLDS.get(v, np.nan)
        frames.append(f)
    frames.append(_aqi_rows(keys, per_var))
    out = pd.concat(frames, ignore_index=True)
    return out[OUT_COLUMNS]


QUANTILES = ("q10", "q50", "q90")


def make_coherent(per_var: dict[str, dict]) -> None:
    """Make each row's forecasts physically and statistically coherent, in place:
    q10 <= q50 <= q90 for every variable (separately fitted residual quantiles and the
    fallback mixing can cross), and the O3 MDA8 never above the O3 1-hour maximum at the
    same quantile (an 8-hour mean cannot exceed the day's largest hourly value): where it
    would be, the 1-hour maximum is raised to the MDA8, the better forecast of the two."""
    for res in per_var.values():
        _sort_quantiles(res)
    mda8, max1h = per_var.get("o3_mda8"), per_var.get("o3_1h_max")
    if mda8 is not None and max1h is not None:
        for q in QUANTILES:
            lo, hi = np.asarray(mda8[q], dtype=float), np.asarray(max1h[q], dtype=float)
            with np.errstate(invalid="ignore"):
                above = np.isfinite(lo) & np.isfinite(hi) & (lo > hi)
            max1h[q] = np.where(above, lo, hi)
        _sort_quantiles(max1h)


def _sort_quantiles(res: dict) -> None:
    stacked = np.vstack([np.asarray(res[q], dtype=float) for q in QUANTILES])
    whole = np.isfinite(stacked).all(axis=0)
    stacked[:, whole] = np.sort(stacked[:, whole], axis=0)
    for i, q in enumerate(QUANTILES):
        res[q] = stacked[i]


def _aqi_rows(keys: pd.DataFrame, per_var: dict[str, dict]) -> pd.DataFrame:
    f = keys.copy()
    f["variable"] = "aqi"
    for q in ("q10", "q50", "q90"):
        wide = pd.DataFrame({v: res[q] for v, res in per_var.items()})
        f[q] = aqi_frame(wide)["aqi"].to_numpy()
    heavy = np.vstack([res["p_heavy"] for res in per_var.values()])
    with np.errstate(all="ignore"):
        p_heavy = np.where(
            np.isnan(heavy).all(axis=0),
            np.nan,
            np.nanmax(np.where(np.isnan(heavy), -1, heavy), axis=0),
        )
    f["p_exceed"] = p_heavy
    f["p_heavy"] = p_heavy
    f["threshold"] = THRESHOLDS["aqi"]
    methods = np.vstack([res["method"] for res in per_var.values()])
    f["method"] = [
        "model" if (col == "model").any() else (col[0] if len(col) else "") for col in methods.T
    ]
    return f


def primary_pollutants(values: pd.DataFrame) -> pd.Series:
    """Primary pollutant(s) per row of a wide frame of daily concentrations."""
    return aqi_frame(values)["primary_pollutants"]
