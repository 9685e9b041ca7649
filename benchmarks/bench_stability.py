"""Model variance: how far forecasts move when three training values change.

Trains O3 MDA8 and PM2.5 models on the Beijing stations' target days 2013-03-01 ..
2015-02-28 (observed weather, quality-flagged values left out), then again after
tripling the target values of three random (entity, day) pairs of the training period,
and compares the q50 forecasts of the issue dates 2015-03-01..2015-05-31, for each
ensemble size given (seed-bagged final models, models/models.yaml ``ensemble_size``).

    .venv/bin/python benchmarks/bench_stability.py [--sizes 1 3] [--seed 0]

Prints, per ensemble size and variable, the median and 95th percentile of
|q50 change| / q50 [%] and the training wall time.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from aqcast.features.feature_table import load_feature_spec
from aqcast.features.qc import VALID, quality_flags, variable_columns
from aqcast.models.inputs import frames_to_table
from aqcast.models.predict import predict_table
from aqcast.models.train import load_training_config, train_bundle
from aqcast.service.settings import Settings
from aqcast.service.sources.prsa import prsa_files, read_prsa

TZ = "Asia/Shanghai"
TARGETS = {"o3_mda8": "none", "pm25_24h": "log1p"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    files = prsa_files([Settings().beijing_dir])
    hourly = pd.concat([read_prsa(f) for f in files], ignore_index=True)
    flags = quality_flags(hourly)
    for c in variable_columns(hourly):
        hourly[c] = hourly[c].where(flags[c] == VALID)
    spec = load_feature_spec()
    spec = spec.model_copy(update={"targets": TARGETS, "persistence_only": []})
    areas = {"district": sorted(hourly["station"].unique())}
    inputs = frames_to_table(hourly, areas, spec=spec, tz=TZ, issue_dates=None, met="observed")
    table = inputs.table
    cut = pd.Timestamp("2015-03-01")
    rng = np.random.default_rng(args.seed)
    train_keys = table.loc[table["target_date"] < cut, ["entity", "target_date"]]
    train_keys = train_keys.drop_duplicates()
    picked = train_keys.iloc[rng.choice(len(train_keys), 3, replace=False)]
    changed = table.copy()
    hit = changed.set_index(["entity", "target_date"]).index.isin(pd.MultiIndex.from_frame(picked))
    for v in TARGETS:
        changed.loc[hit, f"y_{v}"] = changed.loc[hit, f"y_{v}"] * 3.0
    print("changed training values:", picked.astype(str).values.tolist())
    rows = table[(table["issue_date"] >= cut) & (table["issue_date"] < "2015-06-01")]
    base_cfg = load_training_config()
    for size in args.sizes:
        cfg = base_cfg.model_copy(update={"ensemble_size": size})
        preds = []
        t0 = time.perf_counter()
        for tab in (table, changed):
            bundle = train_bundle(
                tab,
                inputs.hourly,
                spec=spec,
                tz=TZ,
                train_start=date(2013, 3, 1),
                train_until=cut.date(),
                version=f"stability-{size}",
                config=cfg,
            )
            preds.append(predict_table(bundle, rows))
        wall = (time.perf_counter() - t0) / 2
        a, b = preds
        for v in TARGETS:
            sa = a[a["variable"] == v]["q50"].to_numpy()
            sb = b[b["variable"] == v]["q50"].to_numpy()
            rel = 100 * np.abs(sb - sa) / np.maximum(np.abs(sa), 1.0)
            print(
                f"ensemble {size}  {v:9s} median change {np.median(rel):5.2f} %  "
                f"p95 {np.percentile(rel, 95):5.2f} %  max {rel.max():6.1f} %  "
                f"training {wall:5.1f} s"
            )


if __name__ == "__main__":
    main()
