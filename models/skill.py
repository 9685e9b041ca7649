"""Scoring a hindcast against observations, beside persistence and climatology.

Input: the hindcast rows (``issue_date,target_date,lead_days,area,variable,q10,q50,q90,
p_exceed,threshold``; ``area`` is an area name or ``station:<code>``) and the observed
daily values of the same labels. The point forecast is q50.

Groups: ``stations`` (all station rows pooled), each area, each station. Per group,
variable, lead and season (DJF, MAM, JJA, SON and ``all``, by target day) and source
(``model``, ``persistence``, ``climatology``):
- rmse, mae, r (Pearson), nmb = sum(F - O) / sum(O), nme = sum|F - O| / sum(O);
- pod, far, csi of "above the threshold" (F > t vs O > t), at the row's threshold, and
  for PM2.5 also at 150 ug/m3 (heavy-pollution level, ``*_150``);
- brier score of p_exceed, coverage of the q10..q90 band (model only);
- for the AQI: level accuracy (same HJ 633 level), range accuracy (0.75 F <= O <= 1.25 F)
  and primary-pollutant accuracy (forecast and observed primary pollutants share one,
  over days with observed AQI > 50).
Persistence is the observed value of the day before the issue date; climatology the
smoothed day-of-year mean per label of the observations before the first issue date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.aqi import aqi_frame, aqi_level_numbers
from aqcast.features.places import is_station_labels

SEASONS = {
    12: "DJF",
    1: "DJF",
    2: "DJF",
    3: "MAM",
    4: "MAM",
    5: "MAM",
    6: "JJA",
    7: "JJA",
    8: "JJA",
    9: "SON",
    10: "SON",
    11: "SON",
}
EXTRA_THRESHOLDS = {"pm25_24h": [150.0]}
RELIABILITY_BINS = np.linspace(0.0, 1.0, 11)


def continuous_scores(f: np.ndarray, o: np.ndarray) -> dict[str, float]:
    """RMSE, MAE [unit], Pearson r, NMB and NME [fraction] over pairs with both values."""
    ok = ~(np.isnan(f) | np.isnan(o))
    f, o = f[ok], o[ok]
    if len(f) < 2:
        return {
            "n": int(len(f)),
            "rmse": np.nan,
            "mae": np.nan,
            "r": np.nan,
            "nmb": np.nan,
            "nme": np.nan,
        }
    e = f - o
    so = o.sum()
    r = float(np.corrcoef(f, o)[0, 1]) if f.std() > 0 and o.std() > 0 else np.nan
    return {
        "n": int(len(f)),
        "rmse": float(np.sqrt(np.mean(e**2))),
        "mae": float(np.mean(np.abs(e))),
        "r": r,
        "nmb": float(e.sum() / so) if so else np.nan,
        "nme": float(np.abs(e).sum() / so) if so else np.nan,
    }


def categorical_scores(f: np.ndarray, o: np.ndarray, threshold: float) -> dict[str, float]:
    """POD, FAR, CSI of the event value > threshold; NaN when undefined (no events)."""
    ok = ~(np.isnan(f) | np.isnan(o))
    fe, oe = f[ok] > threshold, o[ok] > threshold
    hits = int((fe & oe).sum())
    misses = int((~fe & oe).sum())
    false = int((fe & ~oe).sum())
    return {
        "hits": hits,
        "misses": misses,
        "false_alarms": false,
        "pod": hits / (hits + misses) if hits + misses else np.nan,
        "far": false / (hits + false) if hits + false else np.nan,
        "csi": hits / (hits + misses + false) if hits + misses + false else np.nan,
    }


def brier_score(p: np.ndarray, o: np.ndarray, threshold: float) -> float:
    ok = ~(np.isnan(p) | np.isnan(o))
    if not ok.any():
        return np.nan
    return float(np.mean((p[ok] - (o[ok] > threshold)) ** 2))


def reliability_table(p: np.ndarray, o: np.ndarray, threshold: float) -> list[dict]:
    """Per probability bin (tenths): forecast mean probability, observed frequency, n."""
    ok = ~(np.isnan(p) | np.isnan(o))
    p, event = p[ok], (o[ok] > threshold).astype(float)
    idx = np.clip(np.digitize(p, RELIABILITY_BINS[1:-1]), 0, len(RELIABILITY_BINS) - 2)
    rows = []
    for b in range(len(RELIABILITY_BINS) - 1):
        s = idx == b
        rows.append(
            {
                "bin": f"{RELIABILITY_BINS[b]:.1f}-{RELIABILITY_BINS[b + 1]:.1f}",
                "n": int(s.sum()),
                "forecast": float(p[s].mean()) if s.any() else None,
                "observed": float(event[s].mean()) if s.any() else None,
            }
        )
    return rows


def coverage(q10: np.ndarray, q90: np.ndarray, o: np.ndarray) -> float:
    ok = ~(np.isnan(q10) | np.isnan(q90) | np.isnan(o))
    return float(np.mean((o[ok] >= q10[ok]) & (o[ok] <= q90[ok]))) if ok.any() else np.nan


def aqi_scores(f_aqi, o_aqi, f_primary, o_primary) -> dict[str, float]:
    """Level accuracy, range accuracy (0.75 F <= O <= 1.25 F) and primary accuracy."""
    f_aqi, o_aqi = np.asarray(f_aqi, float), np.asarray(o_aqi, float)
    ok = ~(np.isnan(f_aqi) | np.isnan(o_aqi))
    if not ok.any():
        return {"level_accuracy": np.nan, "range_accuracy": np.nan, "primary_accuracy": np.nan}
    lf, lo = aqi_level_numbers(f_aqi[ok]), aqi_level_numbers(o_aqi[ok])
    in_range = (o_aqi[ok] >= 0.75 * f_aqi[ok]) & (o_aqi[ok] <= 1.25 * f_aqi[ok])
    fp = np.asarray(f_primary, dtype=object)[ok]
    op = np.asarray(o_primary, dtype=object)[ok]
    polluted = o_aqi[ok] > 50
    same = [
        bool(set(str(a).split(",")) & set(str(b).split(",")))
        for a, b in zip(fp[polluted], op[polluted], strict=True)
    ]
    return {
        "level_accuracy": float(np.mean(lf == lo)),
        "range_accuracy": float(np.mean(in_range)),
        "primary_accuracy": float(np.mean(same)) if same else np.nan,
    }


def fit_label_climatology(observed: pd.DataFrame, before: pd.Timestamp, half_window: int = 15):
    """Smoothed day-of-year means per label and variable from observations before ``before``.
    ``observed``: columns label, day, variable, value. Returns index (label, variable, doy)."""
    hist = observed[pd.to_datetime(observed["day"]) < before].copy()
    hist["doy"] = pd.to_datetime(hist["day"]).dt.day_of_year
    g = hist.groupby(["label", "variable", "doy"])["value"].agg(["sum", "count"])
    out = []
    kernel = np.ones(2 * half_window + 1)
    for (label, var), sub in g.groupby(level=["label", "variable"]):
        s = sub["sum"].droplevel([0, 1]).reindex(range(1, 367), fill_value=0.0).to_numpy()
        c = sub["count"].droplevel([0, 1]).reindex(range(1, 367), fill_value=0).to_numpy()
        s = np.convolve(np.concatenate([s[-half_window:], s, s[:half_window]]), kernel, "valid")
        c = np.convolve(np.concatenate([c[-half_window:], c, c[:half_window]]), kernel, "valid")
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.where(c > 0, s / np.where(c > 0, c, 1), np.nan)
        out.append(
            pd.DataFrame({"label": label, "variable": var, "doy": range(1, 367), "clim": vals})
        )
    if not out:
        return pd.Series(dtype=float)
    return pd.concat(out).set_index(["label", "variable", "doy"])["clim"]


def verification_frame(hindcast: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """Hindcast rows joined with the observation, persistence and climatology.

    observed: long ``label, day, variable, value`` (label as in the hindcast ``area``),
    daily statistics and ``aqi`` and ``primary`` handled by the caller via
    :func:`observed_with_aqi`."""
    h = hindcast.copy()
    h["issue_date"] = pd.to_datetime(h["issue_date"])
    h["target_date"] = pd.to_datetime(h["target_date"])
    obs = observed.copy()
    obs["day"] = pd.to_datetime(obs["day"])
    key = obs.set_index(["label", "variable", "day"])["value"]
    key = key[~key.index.duplicated()]
    h["obs"] = key.reindex(
        pd.MultiIndex.from_arrays([h["area"], h["variable"], h["target_date"]])
    ).to_numpy()
    h["persistence"] = key.reindex(
        pd.MultiIndex.from_arrays(
            [h["area"], h["variable"], h["issue_date"] - pd.Timedelta(days=1)]
        )
    ).to_numpy()
    clim = fit_label_climatology(obs, h["issue_date"].min())
    if len(clim):
        h["climatology"] = clim.reindex(
            pd.MultiIndex.from_arrays([h["area"], h["variable"], h["target_date"].dt.day_of_year])
        ).to_numpy()
    else:
        h["climatology"] = np.nan
    h["season"] = h["target_date"].dt.month.map(SEASONS)
    return h


def observed_with_aqi(daily_long: pd.DataFrame) -> pd.DataFrame:
    """Add each label-day's observed AQI to a long ``label, day, variable, value`` frame."""
    wide = daily_long.pivot_table(index=["label", "day"], columns="variable", values="value")
    aqi = aqi_frame(wide)["aqi"].rename("value").reset_index()
    aqi["variable"] = "aqi"
    base = daily_long[daily_long["variable"] != "aqi"]
    return pd.concat([base, aqi[["label", "day", "variable", "value"]]], ignore_index=True)


def _primary(frame: pd.DataFrame, col: str) -> pd.Series:
    """Primary pollutants per (area, issue_date, target_date) from the variable rows."""
    wide = frame[frame["variable"] != "aqi"].pivot_table(
        index=["area", "issue_date", "target_date"], columns="variable", values=col
    )
    return aqi_frame(wide)["primary_pollutants"]


def score(vf: pd.DataFrame, groups: str = "all") -> pd.DataFrame:
    """Scores of a verification frame, one row per group, variable, lead, season, source."""
    vf = vf.copy()
    prim = {c: _primary(vf, c) for c in ("q50", "obs", "persistence", "climatology")}
    is_station = is_station_labels(vf["area"])
    labels = [("stations", is_station)]
    for a in sorted(vf.loc[~is_station, "area"].unique()):
        labels.append((a, vf["area"] == a))
    if groups == "all":
        for a in sorted(vf.loc[is_station, "area"].unique()):
            labels.append((a, vf["area"] == a))
    out = []
    for gname, gmask in labels:
        g = vf[gmask]
        for (var, lead), sub in g.groupby(["variable", "lead_days"]):
            for season in ["all", "DJF", "MAM", "JJA", "SON"]:
                s = sub if season == "all" else sub[sub["season"] == season]
                if s.empty:
                    continue
                out.extend(_score_subset(s, gname, var, int(lead), season, prim))
    return pd.DataFrame(out)


def _score_subset(s, gname, var, lead, season, prim) -> list[dict]:
    o = s["obs"].to_numpy(float)
    thr = float(s["threshold"].iloc[0])
    rows = []
    for source, col in (
        ("model", "q50"),
        ("persistence", "persistence"),
        ("climatology", "climatology"),
    ):
        f = s[col].to_numpy(float)
        row = {
            "group": gname,
            "variable": var,
            "lead_days": lead,
            "season": season,
            "source": source,
            "threshold": thr,
        }
        row.update(continuous_scores(f, o))
        row.update(categorical_scores(f, o, thr))
        for extra in EXTRA_THRESHOLDS.get(var, []):
            c = categorical_scores(f, o, extra)
            row.update({f"{k}_{int(extra)}": c[k] for k in ("pod", "far", "csi")})
        if source == "model":
            row["brier"] = brier_score(s["p_exceed"].to_numpy(float), o, thr)
            row["coverage_10_90"] = coverage(s["q10"].to_numpy(float), s["q90"].to_numpy(float), o)
            row["reliability"] = reliability_table(s["p_exceed"].to_numpy(float), o, thr)
        if var == "aqi":
            k = pd.MultiIndex.from_frame(s[["area", "issue_date", "target_date"]])
            fp = prim[col].reindex(k).to_numpy()
            op = prim["obs"].reindex(k).to_numpy()
            row.update(aqi_scores(f, o, fp, op))
        rows.append(row)
    return rows


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Whole-period scores of the pooled stations and the areas, model beside baselines."""
    s = scores[(scores["season"] == "all") & ~is_station_labels(scores["group"])]
    wide = s.pivot_table(
        index=["group", "variable", "lead_days"],
        columns="source",
        values=["rmse", "csi"],
        aggfunc="first",
    )
    short = {"model": "model", "persistence": "pers", "climatology": "clim"}
    wide.columns = [f"{m}_{short.get(src, src)}" for m, src in wide.columns]
    model = s[s["source"] == "model"].set_index(["group", "variable", "lead_days"])
    for col in (
        "mae",
        "r",
        "nmb",
        "nme",
        "pod",
        "far",
        "brier",
        "coverage_10_90",
        "csi_150",
        "level_accuracy",
        "range_accuracy",
        "primary_accuracy",
    ):
        if col in model.columns:
            wide[col] = model[col]
    return wide.reset_index()


def side_by_side(
    scores_a: pd.DataFrame, scores_b: pd.DataFrame, label_a: str, label_b: str
) -> pd.DataFrame:
    """Two hindcasts' whole-period scores of the same issue dates side by side (e.g.
    perfect prognosis and perturbed weather): per group (pooled stations, areas),
    variable and lead, the model's RMSE, Brier score and 10-90 % coverage of each, the
    change of RMSE from the first to the second [%], and persistence's RMSE."""
    cols = ["rmse", "brier", "coverage_10_90"]
    keys = ["group", "variable", "lead_days"]

    def model_rows(s: pd.DataFrame, label: str) -> pd.DataFrame:
        s = s[(s["season"] == "all") & ~is_station_labels(s["group"])]
        m = s[s["source"] == "model"].set_index(keys)
        return m.reindex(columns=cols).add_suffix(f"_{label}")

    a, b = model_rows(scores_a, label_a), model_rows(scores_b, label_b)
    out = a.join(b, how="outer")
    out["rmse_change_pct"] = 100.0 * (out[f"rmse_{label_b}"] / out[f"rmse_{label_a}"] - 1.0)
    s = scores_a[(scores_a["season"] == "all") & (scores_a["source"] == "persistence")]
    out["rmse_pers"] = s.set_index(keys)["rmse"].reindex(out.index)
    order = [f"{c}_{lab}" for c in cols for lab in (label_a, label_b)]
    return out[[*order[:2], "rmse_change_pct", *order[2:], "rmse_pers"]].reset_index()
