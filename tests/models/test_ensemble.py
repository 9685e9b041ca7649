"""Seed-bagged ensembles of the final models: what they predict, that they are saved
and loaded with a version, and that they cut the variance a changed training value adds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.feature_table import load_feature_spec
from aqcast.models.inputs import frames_to_table
from aqcast.models.predict import predict_table
from aqcast.models.train import SeedEnsemble, load_training_config, train_bundle
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"
CUT = date(2013, 5, 1)
TARGETS = {"o3_mda8": "none", "pm25_24h": "log1p"}


@pytest.fixture(scope="module")
def inputs():
    net = synthetic_network(3, "2013-01-01", "2013-05-20", seed=9, quirks=QuirkRates(0, 0, 0, 0, 0))
    spec = load_feature_spec().model_copy(update={"targets": TARGETS})
    inp = frames_to_table(
        net.hourly,
        {"district": net.stations["station"].tolist()},
        spec=spec,
        tz=TZ,
        issue_dates=None,
        met="observed",
    )
    return spec, inp


def _train(spec, table, hourly, size: int):
    cfg = load_training_config().model_copy(
        update={"max_rounds": 40, "min_rounds": 20, "ensemble_size": size}
    )
    return train_bundle(
        table,
        hourly,
        spec=spec,
        tz=TZ,
        train_start=None,
        train_until=CUT,
        version=f"e{size}",
        config=cfg,
    )


@pytest.mark.slow
def test_ensemble_predicts_the_mean_of_its_seeded_members(inputs):
    spec, inp = inputs
    bundle = _train(spec, inp.table, inp.hourly, 3)
    model = bundle.models["o3_mda8"].boosters[0]
    assert isinstance(model, SeedEnsemble) and len(model.members) == 3
    rows = inp.table[inp.table["issue_date"] >= pd.Timestamp(CUT)]
    from aqcast.models.train import model_inputs

    x = model_inputs(rows, bundle.models["o3_mda8"].features, bundle.entities)
    each = np.vstack([m.predict(x) for m in model.members])
    assert not np.allclose(each[0], each[1])  # different seeds, different models
    np.testing.assert_allclose(model.predict(x), each.mean(axis=0))
    assert model.feature_importance("gain").shape == (x.shape[1],)


@pytest.mark.slow
def test_ensemble_bundle_is_saved_and_loaded(inputs, sqlite_url, tmp_path):
    from datetime import datetime

    from aqcast.service import registry
    from aqcast.service.store import engine_for

    spec, inp = inputs
    bundle = _train(spec, inp.table, inp.hourly, 2)
    engine = engine_for(sqlite_url)
    registry.save_bundle(engine, bundle, tmp_path, now=datetime(2013, 5, 1), activate=True)
    loaded = registry.load_bundle(engine)
    rows = inp.table[inp.table["issue_date"] >= pd.Timestamp(CUT)]
    pd.testing.assert_frame_equal(predict_table(bundle, rows), predict_table(loaded, rows))


@pytest.mark.slow
def test_ensemble_moves_less_when_training_values_change(inputs):
    """Three training targets tripled: the mean forecast change of a 5-member ensemble
    is smaller than that of a single model."""
    spec, inp = inputs
    table = inp.table
    train = table[table["target_date"] < pd.Timestamp(CUT)]
    keys = train[["entity", "target_date"]].drop_duplicates().iloc[[40, 200, 333]]
    hit = table.set_index(["entity", "target_date"]).index.isin(pd.MultiIndex.from_frame(keys))
    changed = table.copy()
    for v in TARGETS:
        changed.loc[hit, f"y_{v}"] *= 3.0
    rows = table[table["issue_date"] >= pd.Timestamp(CUT)]
    change = {}
    for size in (1, 5):
        a = predict_table(_train(spec, table, inp.hourly, size), rows)
        b = predict_table(_train(spec, changed, inp.hourly, size), rows)
        change[size] = float(np.mean(np.abs(a["q50"].to_numpy() - b["q50"].to_numpy())))
    assert change[5] < change[1]
