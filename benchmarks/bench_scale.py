"""Training and forecast cost against the number of stations (synthetic networks).

For each network size the whole chain runs in a fresh process (so that peak memory is
that size's own): synthetic hourly data -> quality flags, daily statistics and the
feature table (features/feature_table.py) -> LightGBM training of one target with the
trainer's parameters (models/models.yaml) with one thread, on one machine and, with --dask, on a
two-worker LocalCluster (models/distributed.py) -> the forecast of one issue date for
every station (inputs and prediction).

    .venv/bin/python benchmarks/bench_scale.py --stations 12 120 1200 --days 180 --dask
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import pandas as pd

ROUNDS = 100


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _one(n_stations: int, days: int, use_dask: bool) -> dict:
    warnings.simplefilter("ignore")
    import lightgbm as lgb

    from aqcast.features.feature_table import feature_columns
    from aqcast.models.distributed import dask_client, train_variable_distributed, training_rows
    from aqcast.models.train import CATEGORICAL, load_training_config, model_inputs
    from aqcast.synthetic import synthetic_feature_table, synthetic_network

    out: dict = {"stations": n_stations, "days": days}
    start = pd.Timestamp("2015-01-01")
    t = time.perf_counter()
    net = synthetic_network(n_stations, start, start + pd.Timedelta(days=days), seed=1)
    out["hourly_rows"] = len(net.hourly)
    out["generate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    table, _ = synthetic_feature_table(net.hourly)
    del net
    out["feature_rows"] = len(table)
    out["features_s"] = time.perf_counter() - t

    last = table["issue_date"].max()
    train = table[table["target_date"] < last]
    entities = sorted(table["entity"].unique())
    features = ["entity", *[f for f in feature_columns(train) if f != "entity"]]
    config = load_training_config()
    t, c = time.perf_counter(), _cpu_s()
    rows, y = training_rows(train, "pm25_24h", "log1p")
    x = model_inputs(rows, features, entities)
    # One thread: on a shared machine OpenMP threads wait on each other (see docs/deploy.md).
    params = {**config.lightgbm, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, y, categorical_feature=CATEGORICAL), ROUNDS)
    out["train_rows"] = len(rows)
    out["train_s"] = time.perf_counter() - t
    out["train_cpu_s"] = _cpu_s() - c

    t = time.perf_counter()
    today = table[table["issue_date"] == last]
    booster.predict(model_inputs(today, features, entities))
    out["forecast_rows"] = len(today)
    out["forecast_s"] = time.perf_counter() - t
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    if use_dask:
        c0 = _cpu_s() + _cpu_s(resource.RUSAGE_CHILDREN)
        with dask_client(None, n_workers=2) as client:
            t, c = time.perf_counter(), _cpu_s()
            train_variable_distributed(
                client,
                train,
                "pm25_24h",
                transform="log1p",
                features=features,
                entities=entities,
                num_boost_round=ROUNDS,
                config=config,
            )
            out["dask_train_s"] = time.perf_counter() - t
            out["dask_client_cpu_s"] = _cpu_s() - c
        # the workers' CPU is counted once the cluster's processes have ended
        out["dask_all_cpu_s"] = _cpu_s() + _cpu_s(resource.RUSAGE_CHILDREN) - c0
    out["load_avg_1m"] = os.getloadavg()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, nargs="+", default=[12, 120, 1200])
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--dask", action="store_true", help="also train on a 2-worker LocalCluster")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.days, args.dask)))
        return
    results = []
    for n in args.stations:
        cmd = [sys.executable, __file__, "--one", str(n), "--days", str(args.days)]
        cmd += ["--dask"] if args.dask else []
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    table = pd.DataFrame(results).set_index("stations").round(2)
    print(table.to_string())


if __name__ == "__main__":
    main()
