"""Forecast values are coherent wherever they are produced: q10 <= q50 <= q90, and the O3
MDA8 never above the O3 1-hour maximum (8 Dec 2015 once gave MDA8 1.3 over a 1-h max of
0.0), for model rows and fallback rows alike."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from aqcast.models.forecast import forecast_from_table
from aqcast.models.predict import make_coherent
from tests.models.test_models_forecast import ISSUE, trained  # noqa: F401 - the module fixture


def test_make_coherent_sorts_crossed_quantiles_and_caps_mda8_by_the_1h_max():
    per_var = {
        "o3_mda8": {
            "q10": np.array([1.3, 50.0, np.nan]),
            "q50": np.array([1.3, 40.0, 5.0]),
            "q90": np.array([2.0, 60.0, 9.0]),
        },
        "o3_1h_max": {
            "q10": np.array([0.0, 70.0, 1.0]),
            "q50": np.array([0.0, 80.0, 2.0]),
            "q90": np.array([0.0, 90.0, 3.0]),
        },
        "pm25_24h": {
            "q10": np.array([30.0, 1.0, 1.0]),
            "q50": np.array([20.0, 2.0, 2.0]),
            "q90": np.array([25.0, 3.0, 3.0]),
        },
    }
    make_coherent(per_var)
    m, h, p = per_var["o3_mda8"], per_var["o3_1h_max"], per_var["pm25_24h"]
    assert (m["q10"][1], m["q50"][1], m["q90"][1]) == (40.0, 50.0, 60.0)
    assert (p["q10"][0], p["q50"][0], p["q90"][0]) == (20.0, 25.0, 30.0)
    for q in ("q10", "q50", "q90"):  # the 8 Dec case: 1-h max raised to the MDA8
        assert h[q][0] >= m[q][0]
    assert np.isnan(m["q10"][2]) and m["q50"][2] == 5.0  # a missing quantile stays missing
    assert h["q50"][2] == 5.0 >= m["q50"][2]


@pytest.mark.slow
@pytest.mark.parametrize("weather", ["observed", "none"])
def test_every_produced_forecast_is_coherent(trained, weather):  # noqa: F811
    bundle, inputs = trained
    table = inputs.table.copy()
    if weather == "none":  # fallback rows
        table[[c for c in table.columns if c.startswith("wx_")]] = np.nan
    fc = forecast_from_table(
        bundle, table, issue_date=ISSUE, issued_at=datetime(2013, 5, 19, 23), met_mode=weather
    )
    v = fc.values.dropna(subset=["q10", "q50", "q90"])
    assert len(v) and (v["q10"] <= v["q50"]).all() and (v["q50"] <= v["q90"]).all()
    wide = fc.values.pivot_table(
        index=["area", "station", "target_date"], columns="variable", values=["q10", "q50", "q90"]
    )
    for q in ("q10", "q50", "q90"):
        pair = wide[q][["o3_mda8", "o3_1h_max"]].dropna()
        assert len(pair) and (pair["o3_mda8"] <= pair["o3_1h_max"] + 1e-9).all()
    h = fc.hourly_o3
    assert (h["q10"] <= h["q50"] + 1e-9).all() and (h["q50"] <= h["q90"] + 1e-9).all()
