"""Figures a forecaster judges a model by (matplotlib, written as PNG and SVG).

Every function takes frames already computed by :mod:`aqcast.models.skill` (the
verification frame ``vf`` of hindcast rows joined with observations and baselines, and
the ``scores`` table) or by :mod:`aqcast.models.forecast`, draws one figure and returns it;
:func:`save_figure` writes it in both formats. Nothing here reads the store or trains.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aqcast.features.aqi import aqi_level_numbers
from aqcast.features.nomenclature import DAILY, THRESHOLDS
from aqcast.features.places import is_station_label, is_station_labels

SOURCE_STYLE = {
    "model": {"color": "#1f5fa8", "marker": "o", "label": "aqcast (LightGBM)"},
    "persistence": {"color": "#c0392b", "marker": "s", "label": "persistence"},
    "climatology": {"color": "#7f8c8d", "marker": "^", "label": "climatology"},
}
LEVEL_NAMES = ["excellent", "good", "light", "moderate", "heavy", "severe"]
SEASON_MONTHS = {"JJA": (6, 8), "MJJAS": (5, 9), "NDJF": (11, 2), "DJF": (12, 2)}


def _subplots(nrows: int = 1, ncols: int = 1, **kw):
    """A figure outside pyplot's registry: nothing global to close, safe in a server
    thread, and shown once in a notebook (as the cell's value or with ``display``)."""
    figsize = kw.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def save_figure(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` as ``name.png`` and ``name.svg`` under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    # No date and a fixed id salt: the same data gives the same SVG bytes.
    with matplotlib.rc_context({"svg.hashsalt": "aqcast"}):
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    return paths


def _unit(variable: str) -> str:
    unit = DAILY.get(variable, "")
    return "" if unit in ("", "-") else f" [{unit}]"


def plot_timeseries(
    vf: pd.DataFrame, area: str, variable: str, start, end, lead_days: int = 0
) -> Figure:
    """Forecast median against observed over ``start..end`` with the 10-90 % band."""
    s = vf[
        (vf["area"] == area)
        & (vf["variable"] == variable)
        & (vf["lead_days"] == lead_days)
        & (vf["target_date"] >= pd.Timestamp(start))
        & (vf["target_date"] <= pd.Timestamp(end))
    ].sort_values("target_date")
    fig, ax = _subplots(figsize=(10, 3.6))
    if s.empty:
        ax.text(0.5, 0.5, "no hindcast rows in this period", ha="center", transform=ax.transAxes)
    else:
        t = s["target_date"]
        ax.fill_between(t, s["q10"], s["q90"], color="#1f5fa8", alpha=0.2, label="10-90 %")
        ax.plot(t, s["q50"], color="#1f5fa8", lw=1.4, label="forecast median")
        ax.plot(t, s["obs"], color="black", lw=1.0, marker=".", ms=3, label="observed")
        thr = THRESHOLDS.get(variable)
        if thr is not None:
            ax.axhline(thr, color="#c0392b", ls="--", lw=0.9, label=f"limit {thr:g}")
    ax.set_title(f"{area}: {variable}, lead {lead_days} d, {start} to {end}")
    ax.set_ylabel(variable + _unit(variable))
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def reliability_points(p: np.ndarray, event: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Observed frequency of the event per forecast-probability bin (pure)."""
    ok = ~(np.isnan(p) | np.isnan(event))
    p, event = p[ok], event[ok]
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append(
                {
                    "bin_low": edges[b],
                    "bin_high": edges[b + 1],
                    "mean_p": float(p[m].mean()),
                    "observed_freq": float(event[m].mean()),
                    "n": int(m.sum()),
                }
            )
    return pd.DataFrame(rows)


def plot_reliability(vf: pd.DataFrame, variables: Iterable[str], leads=(0, 1, 2, 3)) -> Figure:
    """Reliability diagram of the exceedance probabilities, pooled over station rows."""
    variables = list(variables)
    fig, axes = _subplots(1, len(variables), figsize=(4.2 * len(variables), 4), squeeze=False)
    stations = vf[is_station_labels(vf["area"])]
    base = stations if not stations.empty else vf
    for ax, var in zip(axes[0], variables, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for lead in leads:
            s = base[(base["variable"] == var) & (base["lead_days"] == lead)]
            if s.empty:
                continue
            event = np.where(s["obs"].isna(), np.nan, (s["obs"] > s["threshold"]).astype(float))
            pts = reliability_points(s["p_exceed"].to_numpy(float), event)
            if not pts.empty:
                ax.plot(pts["mean_p"], pts["observed_freq"], marker="o", label=f"lead {lead}")
        ax.set_title(f"{var} > {THRESHOLDS.get(var, float('nan')):g}")
        ax.set_xlabel("forecast probability")
        ax.set_ylabel("observed frequency")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def plot_scores_by_lead(scores: pd.DataFrame, variable: str, group: str = "stations") -> Figure:
    """RMSE and CSI by lead for the model beside persistence and climatology."""
    s = scores[
        (scores["group"] == group) & (scores["variable"] == variable) & (scores["season"] == "all")
    ]
    fig, (a1, a2) = _subplots(1, 2, figsize=(9, 3.6))
    for source, style in SOURCE_STYLE.items():
        r = s[s["source"] == source].sort_values("lead_days")
        if r.empty:
            continue
        a1.plot(r["lead_days"], r["rmse"], **style)
        a2.plot(r["lead_days"], r["csi"], **style)
    a1.set_title(f"{variable}: RMSE{_unit(variable)}")
    a2.set_title(f"{variable}: CSI at {THRESHOLDS.get(variable, float('nan')):g}")
    for ax in (a1, a2):
        ax.set_xlabel("lead [days]")
        ax.set_xticks(sorted(s["lead_days"].unique()) if not s.empty else [0, 1, 2, 3])
        ax.grid(alpha=0.3)
    a1.legend(fontsize=8)
    fig.suptitle(f"{group}: skill by lead", fontsize=10)
    return fig


def aqi_confusion(vf: pd.DataFrame, area: str, lead_days: int = 0) -> pd.DataFrame:
    """Counts of (observed level, forecast level) of the daily AQI (HJ 633 levels 1-6)."""
    s = vf[(vf["area"] == area) & (vf["variable"] == "aqi") & (vf["lead_days"] == lead_days)]
    s = s.dropna(subset=["obs", "q50"])
    f = aqi_level_numbers(s["q50"].to_numpy(float))
    o = aqi_level_numbers(s["obs"].to_numpy(float))
    m = np.zeros((6, 6), dtype=int)
    for oi, fi in zip(o, f, strict=True):
        m[int(oi) - 1, int(fi) - 1] += 1
    return pd.DataFrame(m, index=LEVEL_NAMES, columns=LEVEL_NAMES)


def plot_aqi_confusion(vf: pd.DataFrame, area: str, lead_days: int = 0) -> Figure:
    m = aqi_confusion(vf, area, lead_days)
    fig, ax = _subplots(figsize=(5.2, 4.6))
    ax.imshow(m.to_numpy(), cmap="Blues")
    for i in range(6):
        for j in range(6):
            v = m.iat[i, j]
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(6), LEVEL_NAMES, rotation=45, ha="right")
    ax.set_yticks(range(6), LEVEL_NAMES)
    ax.set_xlabel("forecast level")
    ax.set_ylabel("observed level")
    total = int(m.to_numpy().sum())
    acc = float(np.trace(m.to_numpy()) / total) if total else float("nan")
    ax.set_title(f"{area}: AQI level, lead {lead_days} d (accuracy {acc:.0%}, n={total})")
    return fig


def plot_hourly_o3(
    profile: pd.DataFrame,
    critical_value_ugm3: float | None,
    observed: pd.Series | None,
    title: str,
) -> Figure:
    """The hourly O3 forecast of one day (``hour, q10, q50, q90``) against the critical value."""
    p = profile.sort_values("hour")
    fig, ax = _subplots(figsize=(7, 3.6))
    ax.fill_between(p["hour"], p["q10"], p["q90"], color="#e67e22", alpha=0.2, label="10-90 %")
    ax.plot(p["hour"], p["q50"], color="#e67e22", lw=1.6, label="forecast O3")
    if observed is not None and len(observed):
        ax.plot(observed.index, observed.to_numpy(), "k.-", lw=0.9, ms=4, label="observed O3")
    if critical_value_ugm3 is not None and np.isfinite(critical_value_ugm3):
        ax.axhline(critical_value_ugm3, color="#c0392b", ls="--", lw=1.0)
        ax.text(
            0.3,
            critical_value_ugm3,
            f" critical value {critical_value_ugm3:.0f}",
            color="#c0392b",
            va="bottom",
            fontsize=8,
        )
    ax.set_xlim(0, 23)
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlabel("local hour")
    ax.set_ylabel("O3 [ug/m3]")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def plot_forecast_day(forecast, area: str, day, observed: pd.Series | None = None) -> Figure:
    """The hourly O3 forecast of ``area`` for target ``day`` from a
    :class:`~aqcast.models.forecast.Forecast`, against its critical value."""
    day = pd.Timestamp(day).date()
    prof = forecast.hourly_o3
    prof = prof[(prof["area"] == area) & (prof["station"] == "")]
    prof = prof[pd.to_datetime(prof["target_date"]).dt.date == day]
    crit = forecast.critical
    crit = crit[(crit["area"] == area) & (crit["station"] == "")]
    crit = crit[pd.to_datetime(crit["target_date"]).dt.date == day]
    cv = float(crit["critical_value_ugm3"].iloc[0]) if len(crit) else None
    lead = (day - forecast.issue_date).days
    title = f"{area} {day}: hourly O3, issued {forecast.issue_date} (lead {lead} d)"
    if forecast.met_mode == "observed":
        title += ", perfect prognosis"
    return plot_hourly_o3(prof, cv, observed, title)


def importance_table(gain: dict[str, float], mean_abs_shap: dict[str, float]) -> pd.DataFrame:
    """One row per feature: mean |SHAP| and total gain, ranked by SHAP (then gain)."""
    feats = list(dict.fromkeys([*mean_abs_shap, *gain]))
    t = pd.DataFrame(
        {
            "feature": feats,
            "mean_abs_shap": [float(mean_abs_shap.get(f, 0.0)) for f in feats],
            "gain": [float(gain.get(f, 0.0)) for f in feats],
        }
    )
    return t.sort_values(["mean_abs_shap", "gain"], ascending=False, ignore_index=True)


def plot_importance(table: pd.DataFrame, variable: str, top: int = 15) -> Figure:
    t = table.head(top).iloc[::-1]
    fig, (a1, a2) = _subplots(1, 2, figsize=(10, 0.3 * len(t) + 1.5), sharey=True)
    a1.barh(t["feature"], t["mean_abs_shap"], color="#1f5fa8")
    a1.set_title(f"{variable}: mean |SHAP| (model space)")
    a2.barh(t["feature"], t["gain"] / max(t["gain"].sum(), 1e-12), color="#7f8c8d")
    a2.set_title("share of total gain")
    for ax in (a1, a2):
        ax.grid(alpha=0.3, axis="x")
    return fig


def season_windows(vf: pd.DataFrame) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """The ozone seasons (May-Sep) and winters (Nov-Feb) the hindcast covers."""
    t = vf["target_date"]
    out = []
    for year in sorted(t.dt.year.unique()):
        o3 = (pd.Timestamp(year, 5, 1), pd.Timestamp(year, 9, 30))
        winter = (pd.Timestamp(year, 11, 1), pd.Timestamp(year + 1, 2, 28))
        for name, (a, b) in (("ozone", o3), ("winter", winter)):
            if ((t >= a) & (t <= b)).sum() >= 14:
                out.append((f"{name}-{year}", a, b))
    return out


def write_skill_plots(
    vf: pd.DataFrame, scores: pd.DataFrame, out_dir: Path, caption: str = ""
) -> list[Path]:
    """All the skill figures of a hindcast into ``out_dir``; returns the files written.
    ``caption`` (e.g. the weather input: perfect prognosis or forecast) goes under each."""
    written: list[Path] = []

    def save(fig: Figure, out: Path, name: str) -> list[Path]:
        if caption:
            fig.text(0.01, -0.02, caption, fontsize=8, color="#555555", ha="left", va="top")
        return save_figure(fig, out, name)

    areas = sorted(a for a in vf["area"].unique() if not is_station_label(a))
    windows = season_windows(vf)
    for area in areas:
        for name, a, b in windows:
            var = "o3_mda8" if name.startswith("ozone") else "pm25_24h"
            for v in dict.fromkeys([var, "o3_mda8", "pm25_24h"]):
                fig = plot_timeseries(vf, area, v, a.date(), b.date())
                written += save(fig, out_dir, f"timeseries_{area}_{v}_{name}")
        if (vf["variable"] == "aqi").any():
            written += save(plot_aqi_confusion(vf, area), out_dir, f"aqi_confusion_{area}")
    present = [v for v in ("o3_mda8", "pm25_24h") if (vf["variable"] == v).any()]
    if present:
        written += save(plot_reliability(vf, present), out_dir, "reliability")
    for v in present:
        group = "stations" if (scores["group"] == "stations").any() else areas[0]
        written += save(plot_scores_by_lead(scores, v, group), out_dir, f"skill_by_lead_{v}")
    return written
