"""The intraday classifier (models/intraday_model.py): its features read only the hours
before H, its certainty rule is the one of features.intraday, it learns from the observed
hours, and a stored run's payload gives the hindcast's probability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.daily import mda8_ugm3
from aqcast.features.intraday import cannot_stay_below, observed_windows_max_ugm3
from aqcast.models.intraday_model import (
    FEATURES,
    IntradayClassifier,
    certain_days,
    intraday_features,
    train_intraday_classifier,
    training_rows,
)

HOURS = np.arange(24)
SHAPE = np.exp(-0.5 * ((HOURS - 15) / 3.5) ** 2)


def _corr(length_h: float = 4.0) -> np.ndarray:
    return np.exp(-np.abs(HOURS[:, None] - HOURS[None, :]) / length_h)


def _days(n: int, seed: int):
    """Forecast profiles peaking near 15 h and days whose error is one shared level shift
    plus hour noise: the morning's anomaly tells much about the afternoon."""
    rng = np.random.default_rng(seed)
    peak = rng.uniform(80, 260, n)
    q50 = 30 + peak[:, None] * SHAPE[None, :]
    shift = rng.normal(0, 35, n)
    obs = np.clip(
        q50 + shift[:, None] * (0.3 + SHAPE)[None, :] + rng.normal(0, 8, (n, 24)), 0, None
    )
    sd = np.full((n, 24), 30.0)
    return q50, obs, sd


def test_features_use_only_the_hours_before_h() -> None:
    q50, obs, sd = _days(50, 1)
    for h in (8, 12, 16):
        base = intraday_features(obs, h, q50, sd, _corr())
        later = obs.copy()
        later[:, h:] = 999.0
        pd.testing.assert_frame_equal(intraday_features(later, h, q50, sd, _corr()), base)
        # the test can fail: the last observed hour does move the features
        earlier = obs.copy()
        earlier[:, h - 1] += 80.0
        moved = intraday_features(earlier, h, q50, sd, _corr())
        assert (moved["anom_last_ugm3"] - base["anom_last_ugm3"]).abs().min() > 79
        assert (moved["cond_mda8_ugm3"] > base["cond_mda8_ugm3"]).all()
    assert list(base.columns) == FEATURES


def test_certain_days_is_the_rule_of_features_intraday() -> None:
    rng = np.random.default_rng(2)
    obs = rng.uniform(60, 260, (300, 24))
    obs[rng.random((300, 24)) < 0.1] = np.nan
    for h in (8, 11, 14, 20):
        cut = obs.copy()
        cut[:, h:] = np.nan
        want = [
            observed_windows_max_ugm3(o, h) > 160 + 1e-9 or cannot_stay_below(o, h, 160.0)
            for o in cut
        ]
        assert certain_days(cut, h).tolist() == want
    assert certain_days(cut, 20).any() and not certain_days(cut, 20).all()


def test_classifier_learns_from_the_observed_morning() -> None:
    q50, obs, sd = _days(3000, 3)
    x, y, day = training_rows(q50, obs, sd, _corr(), [10, 12, 14])
    fold = day % 2
    clf = train_intraday_classifier(x, y, fold, [10, 12, 14], rounds=150)
    # Out of sample: the same forecast, mornings above against below it.
    q50t, obst, sdt = _days(1500, 4)
    exceed = mda8_ugm3(obst) > 160
    xt = intraday_features(obst, 12, q50t, sdt, _corr())
    p = clf.predict(xt)
    brier = np.mean((p - exceed) ** 2)
    brier_clim = np.mean((exceed.mean() - exceed) ** 2)
    assert brier < 0.5 * brier_clim, (brier, brier_clim)
    # Holding the forecast, a morning 40 ug/m3 above it raises P on the undecided days.
    high = obst.copy()
    high[:, :12] = q50t[:, :12] + 40
    low = obst.copy()
    low[:, :12] = np.clip(q50t[:, :12] - 40, 0, None)
    p_hi = clf.predict(intraday_features(high, 12, q50t, sdt, _corr()))
    p_lo = clf.predict(intraday_features(low, 12, q50t, sdt, _corr()))
    assert np.mean(p_hi) > np.mean(p_lo) + 0.2
    # The stored form predicts the same.
    again = IntradayClassifier.from_payload(clf.to_payload())
    np.testing.assert_allclose(again.predict(xt), p)
