"""Every LightGBM prediction names its booster's thread count: LightGBM 4 keeps the count
of its latest call in one process-wide variable, and a call without one (all cores) while
another thread builds a one-thread Dataset crashes the process (variables train side by
side in models/train.py)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from aqcast.models.train import SeedEnsemble, lgb_predict, predict_boosters


@pytest.fixture()
def booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = 2 * x["a"] - x["b"] + rng.normal(scale=0.1, size=200)
    params = {"objective": "regression", "num_threads": 1, "verbose": -1, "seed": 1}
    return lgb.train(params, lgb.Dataset(x, y, params=params), num_boost_round=5)


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    seen: list[dict] = []
    original = lgb.Booster.predict

    def spy(self, data, *args, **kwargs):
        seen.append(dict(kwargs))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", spy)
    return seen


def test_predictions_name_the_boosters_thread_count(booster, calls) -> None:
    x = pd.DataFrame({"a": [0.0, 1.0, -1.0], "b": [0.0, 0.5, 2.0]})
    direct = booster.predict(x, num_threads=1)
    calls.clear()
    assert np.allclose(lgb_predict(booster, x), direct)
    assert np.allclose(predict_boosters({0: booster}, x, np.zeros(3, dtype=int)), direct)
    assert np.allclose(SeedEnsemble([booster, booster]).predict(x), direct)
    assert len(calls) == 4
    assert all(c.get("num_threads") == 1 for c in calls), calls


def test_a_booster_without_thread_count_predicts_on_one_thread(booster, calls) -> None:
    loaded = lgb.Booster(model_str=booster.model_to_string())
    loaded.params = {}
    lgb_predict(loaded, pd.DataFrame({"a": [0.0], "b": [0.0]}))
    assert calls[-1]["num_threads"] == 1
