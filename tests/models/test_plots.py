"""The skill figures: drawn from small built frames, written as PNG and SVG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aqcast.models import plots


def _vf(n_days: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2015-05-01", periods=n_days, freq="D")
    rows = []
    for area in ("district", "station:A"):
        for var, base in (("o3_mda8", 150.0), ("pm25_24h", 70.0), ("aqi", 120.0)):
            for lead in range(4):
                obs = np.clip(
                    base + 40 * np.sin(np.arange(n_days) / 9) + rng.normal(0, 15, n_days), 1, None
                )
                q50 = np.clip(obs + rng.normal(0, 10 + 5 * lead, n_days), 1, None)
                thr = {"o3_mda8": 160.0, "pm25_24h": 75.0, "aqi": 200.0}[var]
                p = 1 / (1 + np.exp(-(q50 - thr) / 10))
                rows.append(
                    pd.DataFrame(
                        {
                            "issue_date": days - pd.Timedelta(days=lead),
                            "target_date": days,
                            "lead_days": lead,
                            "area": area,
                            "variable": var,
                            "q10": np.clip(q50 - 20, 0, None),
                            "q50": q50,
                            "q90": q50 + 20,
                            "p_exceed": p,
                            "threshold": thr,
                            "obs": obs,
                            "persistence": np.roll(obs, 1 + lead),
                            "climatology": np.full(n_days, base),
                            "season": "JJA",
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def test_reliability_points_are_observed_frequencies_per_bin():
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.95, 0.5])
    ev = np.array([0.0, 1.0, 1.0, 1.0, 0.0, np.nan])
    pts = plots.reliability_points(p, ev)
    assert list(pts["n"]) == [2, 3]
    assert pts["observed_freq"].tolist() == pytest.approx([0.5, 2 / 3])


def test_aqi_confusion_counts_levels():
    vf = pd.DataFrame(
        {
            "area": "district",
            "variable": "aqi",
            "lead_days": 0,
            "q50": [40.0, 120.0, 260.0, 90.0],
            "obs": [45.0, 160.0, 240.0, np.nan],
        }
    )
    m = plots.aqi_confusion(vf, "district")
    assert m.loc["excellent", "excellent"] == 1
    assert m.loc["moderate", "light"] == 1  # observed 160 (moderate), forecast 120 (light)
    assert m.loc["heavy", "heavy"] == 1
    assert int(m.to_numpy().sum()) == 3  # the missing observation is left out


def test_importance_table_ranks_by_mean_abs_shap():
    t = plots.importance_table({"a": 10.0, "b": 2.0, "c": 1.0}, {"a": 1.0, "b": 2.0})
    assert t["feature"].tolist() == ["b", "a", "c"]
    assert t["mean_abs_shap"].tolist() == pytest.approx([2.0, 1.0, 0.0])
    assert t["gain"].tolist() == [2.0, 10.0, 1.0]


def test_mean_abs_shap_matches_lightgbm_contributions():
    import lightgbm as lgb

    from aqcast.models.train import mean_abs_shap

    rng = np.random.default_rng(1)
    x = pd.DataFrame({"strong": rng.normal(size=400), "weak": rng.normal(size=400)})
    y = 5 * x["strong"] + 0.2 * x["weak"]
    booster = lgb.train({"verbose": -1, "num_threads": 1}, lgb.Dataset(x, y), 30)
    shap = mean_abs_shap(booster, x)
    assert list(shap) == ["strong", "weak"]
    assert shap["strong"] > 10 * shap["weak"]
    # SHAP values plus the bias add up to the prediction (TreeSHAP's local accuracy).
    contrib = booster.predict(x, pred_contrib=True)
    assert np.allclose(contrib.sum(axis=1), booster.predict(x))


@pytest.mark.slow
def test_write_skill_plots_writes_png_and_svg(tmp_path):
    vf = _vf()
    from aqcast.models.skill import score

    scores = score(vf)
    files = plots.write_skill_plots(vf, scores, tmp_path)
    names = {f.name for f in files}
    assert "reliability.png" in names and "reliability.svg" in names
    assert "skill_by_lead_o3_mda8.svg" in names
    assert "aqi_confusion_district.png" in names
    assert any(n.startswith("timeseries_district_o3_mda8_ozone-2015") for n in names)
    for f in files:
        assert f.stat().st_size > 1000
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert b"<svg" in f.read_bytes()[:2000]


def test_svg_output_is_reproducible(tmp_path):
    vf = _vf(60)
    a = plots.save_figure(
        plots.plot_timeseries(vf, "district", "o3_mda8", "2015-05-01", "2015-06-29"),
        tmp_path / "a",
        "x",
    )
    b = plots.save_figure(
        plots.plot_timeseries(vf, "district", "o3_mda8", "2015-05-01", "2015-06-29"),
        tmp_path / "b",
        "x",
    )
    assert a[1].read_bytes() == b[1].read_bytes()


def test_hourly_o3_plot_draws_the_critical_value(tmp_path):
    prof = pd.DataFrame({"hour": range(24), "q50": 60 + 80 * np.sin(np.linspace(0, np.pi, 24))})
    prof["q10"], prof["q90"] = prof["q50"] - 15, prof["q50"] + 15
    obs = pd.Series(prof["q50"].to_numpy()[:12] + 5, index=range(12))
    fig = plots.plot_hourly_o3(prof, 171.0, obs, "district 2015-06-10")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("critical value 171" in t for t in texts)
    files = plots.save_figure(fig, tmp_path, "hourly")
    assert all(f.exists() for f in files)
