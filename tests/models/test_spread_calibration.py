"""Spread calibration of the predictive distribution: the 10-90 % offsets scaled so the
band holds 80 % of a forward holdout (the last days of the training window forecast by a
model trained on the days before them)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from aqcast.features.feature_table import load_feature_spec
from aqcast.models.distribution import ResidualModel
from aqcast.models.inputs import frames_to_table
from aqcast.models.train import load_training_config, spread_scale, train_bundle
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"


def _residuals(sd: float, n: int = 4000, seed: int = 1) -> ResidualModel:
    rng = np.random.default_rng(seed)
    pred = rng.uniform(50, 150, n)
    obs = pred + rng.normal(0, sd, n)
    return ResidualModel.fit(
        pred, obs, np.zeros(n, dtype=int), transform="none", n_bins=3, n_levels=99
    )


def _sample(sd: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred = rng.uniform(50, 150, n)
    return pred, pred + rng.normal(0, sd, n), np.zeros(n, dtype=int)


def _coverage(res: ResidualModel, pred, obs, lead) -> float:
    q10, _, q90 = res.quantiles(pred, lead, [0.1, 0.5, 0.9])
    return float(((obs >= q10) & (obs <= q90)).mean())


def test_a_narrower_holdout_narrows_the_band_to_80_percent_and_keeps_the_median():
    res = _residuals(20.0)
    pred, obs, lead = _sample(14.0, 3000, seed=2)
    assert _coverage(res, pred, obs, lead) > 0.9  # too wide before
    before = res.quantiles(pred, lead, [0.5])[0]
    cfg = load_training_config().model_copy(update={"spread_scale_bounds": (0.5, 1.5)})
    scale = spread_scale(res, pred, obs, lead, cfg)
    assert scale[0] == pytest.approx(0.7, abs=0.05)
    res.scale_spread(scale)
    np.testing.assert_array_equal(res.quantiles(pred, lead, [0.5])[0], before)
    # on a fresh sample of the same errors the band now holds about 80 %
    p2, o2, l2 = _sample(14.0, 20000, seed=3)
    assert _coverage(res, p2, o2, l2) == pytest.approx(0.80, abs=0.015)


def test_a_wider_holdout_widens_the_band_within_the_bounds():
    res = _residuals(20.0)
    pred, obs, lead = _sample(24.0, 3000, seed=4)
    cfg = load_training_config().model_copy(update={"spread_scale_bounds": (0.7, 1.3)})
    assert spread_scale(res, pred, obs, lead, cfg)[0] == pytest.approx(1.2, abs=0.05)
    pred, obs, lead = _sample(60.0, 3000, seed=5)
    assert spread_scale(res, pred, obs, lead, cfg)[0] == 1.3  # bounded


def test_too_few_holdout_rows_or_none_leave_the_spread_alone():
    res = _residuals(20.0)
    q_before = res.residual_q[0].copy()
    cfg = load_training_config().model_copy(update={"spread_min_rows": 300})
    pred, obs, lead = _sample(10.0, 299, seed=6)
    assert spread_scale(res, pred, obs, lead, cfg) == {0: 1.0}
    none = np.full(1000, np.nan)
    assert spread_scale(res, none, none, np.zeros(1000, dtype=int), cfg) == {0: 1.0}
    res.scale_spread({0: 1.0})
    np.testing.assert_array_equal(res.residual_q[0], q_before)


@pytest.mark.slow
def test_training_fits_the_scale_per_lead_on_its_last_days_only():
    net = synthetic_network(3, "2013-01-01", "2013-09-01", seed=5, quirks=QuirkRates(0, 0, 0, 0, 0))
    spec = load_feature_spec()
    inputs = frames_to_table(
        net.hourly,
        {"district": net.stations["station"].tolist()},
        spec=spec,
        tz=TZ,
        issue_dates=None,
        met="observed",
    )
    base = load_training_config().model_copy(
        update={"max_rounds": 30, "min_rounds": 10, "spread_min_rows": 100}
    )

    def train(days: int):
        return train_bundle(
            inputs.table,
            inputs.hourly,
            spec=spec,
            tz=TZ,
            train_start=None,
            train_until=date(2013, 8, 20),
            version=f"v-{days}",
            config=base.model_copy(update={"spread_holdout_days": days}),
        )

    off, on = train(0), train(60)
    lo, hi = base.spread_scale_bounds
    for var in ("o3_mda8", "pm25_24h"):
        assert off.metrics[var]["spread_scale"] == {f"lead{k}": 1.0 for k in range(4)}
        scales = on.metrics[var]["spread_scale"]
        assert set(scales) == {f"lead{k}" for k in range(4)}
        assert all(lo <= s <= hi for s in scales.values())
        assert any(s != 1.0 for s in scales.values())
        r_off, r_on = off.models[var].residuals, on.models[var].residuals
        mid = 49  # level 0.5 of 99
        for k in range(4):
            a, b = r_off.residual_q[k], r_on.residual_q[k]
            # the point model and the median are those of the uncalibrated training
            np.testing.assert_allclose(b[:, mid], a[:, mid])
            # the offsets scaled by the recorded factor (rounded to 3 decimals there)
            np.testing.assert_allclose(
                b - b[:, mid : mid + 1], scales[f"lead{k}"] * (a - a[:, mid : mid + 1]), rtol=1e-3
            )
