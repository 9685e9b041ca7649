"""Models trained once per test session on one synthetic network, shared by the test
modules that only need *a* small trained model (training is the costly part of them).

Three stations, 2013-01-01 to 2013-06-01, seed 5, no sensor quirks; observed weather
(perfect prognosis); a daily bundle of at most 30 boosting rounds trained on the target
days before ``ISSUE``. Fixtures are read-only: a test that changes a bundle copies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

TZ = "Asia/Shanghai"
ISSUE = date(2013, 5, 20)


@dataclass(frozen=True)
class SyntheticWorld:
    network: object  # aqcast.synthetic.SyntheticNetwork
    spec: object  # the feature spec
    inputs: object  # models.inputs.frames_to_table output, observed weather
    areas: dict[str, list[str]]


@pytest.fixture(scope="session")
def synthetic_world() -> SyntheticWorld:
    from aqcast.features.feature_table import load_feature_spec
    from aqcast.models.inputs import frames_to_table
    from aqcast.synthetic import QuirkRates, synthetic_network

    net = synthetic_network(3, "2013-01-01", "2013-06-01", seed=5, quirks=QuirkRates(0, 0, 0, 0, 0))
    spec = load_feature_spec()
    areas = {"district": net.stations["station"].tolist()}
    inputs = frames_to_table(net.hourly, areas, spec=spec, tz=TZ, issue_dates=None, met="observed")
    return SyntheticWorld(net, spec, inputs, areas)


@pytest.fixture(scope="session")
def small_training_config():  # noqa: ANN201 - a TrainingConfig
    from aqcast.models.train import load_training_config

    return load_training_config().model_copy(update={"max_rounds": 30, "min_rounds": 10})


@pytest.fixture(scope="session")
def daily_bundle(synthetic_world, small_training_config):  # noqa: ANN001, ANN201
    """The daily model of :func:`synthetic_world`, trained on target days before ISSUE."""
    from aqcast.models.train import train_bundle

    return train_bundle(
        synthetic_world.inputs.table,
        synthetic_world.inputs.hourly,
        spec=synthetic_world.spec,
        tz=TZ,
        train_start=None,
        train_until=ISSUE,
        version="v-test",
        config=small_training_config,
    )
