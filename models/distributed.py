"""Training and hindcast scoring on a Dask cluster (``lightgbm.dask``).

The single-machine trainer (models/train.py) stays the reference: these functions take
the same feature table, the same inputs (``train.model_inputs``), the same target
transform and the same LightGBM parameters (models/models.yaml), and fit the model with
``DaskLGBMRegressor`` data-parallel over the workers, so a network of thousands of
stations trains where its rows live. Without a scheduler address (the service passes
``settings.dask_scheduler``) a ``LocalCluster`` is started (two worker processes by
default: what the tests use);
with an address (``tcp://scheduler:8786``) the same code runs on that cluster.

The distributed model is not bit-identical to the single-machine one: each worker finds
feature bin boundaries on its share of the rows and bagging draws per worker. The tests
hold it to the single-machine model on held-out days (correlation of predictions > 0.98,
RMSE within 5 %).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, wait
from lightgbm.dask import DaskLGBMRegressor

from aqcast.models import train as _train
from aqcast.models.distribution import to_model_space
from aqcast.models.train import CATEGORICAL, TrainingConfig, load_training_config, model_inputs

# Parameters that set threads or the parallel mode: the cluster decides these.
_THREAD_ALIASES = {"num_threads", "num_thread", "nthread", "nthreads", "n_jobs"}
_PARALLEL_ALIASES = {"tree_learner", "tree", "tree_type", "tree_learner_type"}


@contextmanager
def dask_client(
    scheduler: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1
) -> Iterator[Client]:
    """A client of the cluster at ``scheduler`` (an address, ``tcp://host:8786``), or of a
    ``LocalCluster`` of ``n_workers`` processes started here (and stopped on exit) when
    it is empty."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=":0",  # a free port: several clusters may share a host
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def n_workers(client: Client) -> int:
    """The number of workers of the cluster (an error when there are none)."""
    count = len(client.scheduler_info(n_workers=-1)["workers"])
    if count == 0:
        raise RuntimeError(f"the Dask cluster at {client.scheduler.address} has no workers")
    return count


def distributed_params(params: dict) -> dict:
    """The trainer's LightGBM parameters for data-parallel training: thread settings are
    dropped (each worker uses its own thread count) and the parallel mode is "data"."""
    kept = {
        k: v for k, v in params.items() if k not in _THREAD_ALIASES and k not in _PARALLEL_ALIASES
    }
    return {**kept, "tree_learner": "data"}


def _partitioned(client: Client, x: pd.DataFrame, y: np.ndarray | None, npartitions: int):
    frame = x.reset_index(drop=True)
    if y is not None:
        frame = frame.assign(__target=np.asarray(y, dtype=float))
    ddf = dd.from_pandas(frame, npartitions=npartitions, sort=False)
    ddf = client.persist(ddf)  # spread the partitions over the workers before fitting
    wait(ddf)
    if y is None:
        return ddf, None
    return ddf.drop(columns="__target"), ddf["__target"]


def fit_booster(
    client: Client,
    x: pd.DataFrame,
    y: np.ndarray,
    params: dict,
    num_boost_round: int,
    *,
    categorical: list[str] | None = None,
    npartitions: int | None = None,
) -> lgb.Booster:
    """Fit LightGBM on the cluster (rows split into ``npartitions``, by default one per
    worker) and return the booster, ready to use and save like a single-machine one."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    xd, yd = _partitioned(client, x, y, npartitions or n_workers(client))
    model = DaskLGBMRegressor(
        client=client,
        n_estimators=int(num_boost_round),
        **distributed_params(params),
    )
    cats = [c for c in (categorical if categorical is not None else CATEGORICAL) if c in x.columns]
    with warnings.catch_warnings():
        # The sklearn wrapper always carries n_jobs; lightgbm.dask replaces it with each
        # worker's thread count and says so: expected here, not a problem.
        warnings.filterwarnings("ignore", message="Parameter (n_jobs|num_threads) will be ignored")
        model.fit(xd, yd, categorical_feature=cats or "auto")
    return model.to_local().booster_


def training_rows(
    table: pd.DataFrame, variable: str, transform: str, *, train_until: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows the trainer learns ``variable`` from: target day before ``train_until``
    and a known target, with the target in model space (``transform``)."""
    rows = table if train_until is None else table[table["target_date"] < train_until]
    y = to_model_space(rows[f"y_{variable}"].to_numpy(dtype=float), transform)
    ok = ~np.isnan(y)
    return rows[ok], y[ok]


def train_variable_distributed(
    client: Client,
    table: pd.DataFrame,
    variable: str,
    *,
    transform: str,
    features: list[str],
    entities: list[str],
    num_boost_round: int | None = None,
    config: TrainingConfig | None = None,
    train_until: pd.Timestamp | None = None,
    npartitions: int | None = None,
) -> lgb.Booster:
    """The model ``train.train_variable`` ends with (all training rows, ``num_boost_round``
    rounds), fitted on the cluster. ``num_boost_round`` defaults to what the trainer uses
    without folds (half of ``max_rounds``); pass the rounds the single-machine folds found
    to reproduce its final model."""
    config = config or load_training_config()
    rows, y = training_rows(table, variable, transform, train_until=train_until)
    if rows.empty:
        raise ValueError(f"no training rows with a known {variable}")
    x = model_inputs(rows, features, entities)
    rounds = num_boost_round or max(config.min_rounds, config.max_rounds // 2)
    return fit_booster(client, x, y, dict(config.lightgbm), rounds, npartitions=npartitions)


def predict_distributed(
    client: Client, booster: lgb.Booster, x: pd.DataFrame, *, npartitions: int | None = None
) -> np.ndarray:
    """Predictions of ``booster`` for the rows of ``x`` (in model space), computed on the
    workers partition by partition: the hindcast of a large network in parallel."""
    xd, _ = _partitioned(client, x, None, npartitions or 2 * n_workers(client))
    model_str = booster.model_to_string()

    def _predict(part: pd.DataFrame, model: str = model_str) -> pd.Series:
        local = lgb.Booster(model_str=model)
        return pd.Series(local.predict(part), index=part.index, dtype=float)

    out = xd.map_partitions(_predict, meta=pd.Series(dtype=float))
    return client.compute(out).result().to_numpy()


@contextmanager
def training_on(client: Client) -> Iterator[Client]:
    """Within this block every final model the trainer fits (models/train.py
    ``train_final``: ``aqcast train``, the retrainings of ``aqcast hindcast``) is fitted on
    the cluster of ``client``, data-parallel over its workers. The early-stopping folds
    that choose the number of rounds stay on this machine (they fit on half the rows)."""

    def fit(params: dict, data: lgb.Dataset, rounds: int) -> lgb.Booster:
        x, y = data.get_data(), np.asarray(data.get_label(), dtype=float)
        return fit_booster(client, x, y, params, rounds)

    previous = _train.FINAL_FITTER["fit"]
    _train.FINAL_FITTER["fit"] = fit
    try:
        yield client
    finally:
        _train.FINAL_FITTER["fit"] = previous


@contextmanager
def cluster_training(address: str) -> Iterator[Client]:
    """``training_on`` the cluster at ``address`` ("local": a ``LocalCluster`` of two
    worker processes started here, stopped on exit), for the commands' ``--dask``."""
    with dask_client(None if address == "local" else address) as client, training_on(client):
        yield client
