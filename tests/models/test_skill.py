"""Verification scores: hand-computed values, the baselines beside the model, AQI scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aqcast.models.skill import (
    aqi_scores,
    brier_score,
    categorical_scores,
    continuous_scores,
    coverage,
    observed_with_aqi,
    reliability_table,
    score,
    verification_frame,
)


def test_continuous_scores_by_hand():
    f = np.array([10.0, 20.0, 30.0, np.nan])
    o = np.array([12.0, 18.0, 33.0, 5.0])
    s = continuous_scores(f, o)
    assert s["n"] == 3
    assert s["rmse"] == pytest.approx(np.sqrt((4 + 4 + 9) / 3))
    assert s["mae"] == pytest.approx(7 / 3)
    assert s["nmb"] == pytest.approx((-2 + 2 - 3) / 63)
    assert s["nme"] == pytest.approx(7 / 63)
    assert s["r"] == pytest.approx(np.corrcoef([10, 20, 30], [12, 18, 33])[0, 1])


def test_categorical_scores_by_hand():
    f = np.array([170, 150, 180, 100, 200.0])
    o = np.array([165, 170, 150, 90, 161.0])
    s = categorical_scores(f, o, 160.0)
    assert (s["hits"], s["misses"], s["false_alarms"]) == (2, 1, 1)
    assert s["pod"] == pytest.approx(2 / 3)
    assert s["far"] == pytest.approx(1 / 3)
    assert s["csi"] == pytest.approx(2 / 4)
    assert np.isnan(categorical_scores(np.array([1.0]), np.array([1.0]), 160)["csi"])


def test_probability_scores_by_hand():
    p = np.array([0.0, 0.25, 0.95, 1.0])
    o = np.array([100.0, 170.0, 170.0, 150.0])
    assert brier_score(p, o, 160) == pytest.approx((0 + 0.5625 + 0.0025 + 1) / 4)
    rel = reliability_table(p, o, 160)
    assert len(rel) == 10 and sum(r["n"] for r in rel) == 4
    top = rel[-1]
    assert top["n"] == 2 and top["observed"] == pytest.approx(0.5)
    assert coverage(np.array([0, 10.0]), np.array([5, 20.0]), np.array([3, 25.0])) == 0.5


def test_aqi_scores_by_hand():
    f = [100, 210, 40, 160]
    o = [120, 140, 45, 190]
    s = aqi_scores(
        f, o, ["pm25_24h", "pm25_24h", "", "o3_8h"], ["pm25_24h", "pm10_24h", "", "o3_8h"]
    )
    # levels: 2/3, 5/3, 1/1, 4/4 -> 2 of 4; range: 120 in [75,125], 140 no, 45 in, 190 in.
    assert s["level_accuracy"] == pytest.approx(0.5)
    assert s["range_accuracy"] == pytest.approx(0.75)
    assert s["primary_accuracy"] == pytest.approx(2 / 3)


def _tiny_hindcast():
    rows = []
    for i, day in enumerate(pd.date_range("2015-07-01", "2015-07-10")):
        for var, thr, fval in (("pm25_24h", 75, 60.0 + i), ("o3_mda8", 160, 150.0 + 3 * i)):
            rows.append(
                {
                    "issue_date": day.strftime("%Y-%m-%d"),
                    "target_date": day.strftime("%Y-%m-%d"),
                    "lead_days": 0,
                    "area": "station:A",
                    "variable": var,
                    "q10": fval - 20,
                    "q50": fval,
                    "q90": fval + 20,
                    "p_exceed": 0.3,
                    "threshold": thr,
                }
            )
    return pd.DataFrame(rows)


def test_verification_puts_model_beside_persistence_and_climatology():
    hc = _tiny_hindcast()
    obs = []
    for day in pd.date_range("2014-06-01", "2015-07-10"):
        obs.append(
            {
                "label": "station:A",
                "day": day.date(),
                "variable": "pm25_24h",
                "value": 70.0 + (day.day % 5),
            }
        )
        obs.append(
            {
                "label": "station:A",
                "day": day.date(),
                "variable": "o3_mda8",
                "value": 155.0 + day.day,
            }
        )
    observed = observed_with_aqi(pd.DataFrame(obs))
    assert "aqi" in set(observed["variable"])
    vf = verification_frame(hc, observed)
    first = vf[(vf["variable"] == "o3_mda8")].iloc[0]
    assert first["obs"] == 156.0 and first["persistence"] == 185.0  # 30 June
    assert np.isfinite(first["climatology"])  # from the year before the first issue date
    s = score(vf)
    got = s[(s["group"] == "stations") & (s["variable"] == "o3_mda8") & (s["season"] == "all")]
    assert set(got["source"]) == {"model", "persistence", "climatology"}
    model = got[got["source"] == "model"].iloc[0]
    assert model["n"] == 10 and model["coverage_10_90"] == pytest.approx(
        np.mean([(150 + 3 * i - 20) <= 156 + i <= (150 + 3 * i + 20) for i in range(10)])
    )
    assert set(s["season"]) == {"all", "JJA"}
    assert "station:A" in set(s["group"])
