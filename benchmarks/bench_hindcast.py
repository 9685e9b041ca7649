"""A year's hindcast of the Beijing stations: time and skill (docs/skill.md).

Trains on 2013-03-01..2015-02-28 and replays 2015-03-01..2016-02-29 with monthly
retraining, in memory from the PRSA files (the same core the `aqcast hindcast` command
runs on stored data; the values flagged by quality control are left out, as in the
store). Weather of the target days: observed (perfect prognosis) or, with
`--met perturbed`, observed plus errors from the weather-error model
(models/met_error.yaml); `--train-met` says which weather the training rows see
(default: the same as --met).

    .venv/bin/python benchmarks/bench_hindcast.py [--start 2015-03-01 --end 2016-02-29]
        [--retrain monthly|none] [--met observed|perturbed] [--train-met observed|perturbed]
        [--seed N] [--out hindcast.csv] [--risk-out risk.csv] [--spread-holdout-days N]
        [--features FILE.yaml]

Prints wall and CPU seconds per stage, then lead-by-lead RMSE, CSI and 10-90 % coverage
of the pooled stations beside persistence.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import date
from pathlib import Path

import pandas as pd

from aqcast.features.feature_table import load_feature_spec
from aqcast.features.places import is_area_entities
from aqcast.features.qc import VALID, quality_flags, variable_columns
from aqcast.models.hindcast import hindcast_rows, replay
from aqcast.models.inputs import frames_to_table, perturbed_frames_to_table
from aqcast.models.met_error import load_met_error_model
from aqcast.models.risk import hindcast_risk
from aqcast.models.skill import categorical_scores, continuous_scores, coverage
from aqcast.models.train import load_training_config
from aqcast.service.settings import Settings
from aqcast.service.sources.prsa import prsa_files, read_prsa, read_prsa_stations

TZ = "Asia/Shanghai"
CSI_AT = {
    "o3_mda8": [160.0],
    "o3_1h_max": [200.0],
    "pm25_24h": [75.0, 150.0],
    "pm10_24h": [150.0],
    "aqi": [200.0],
}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", default="2015-03-01")
    ap.add_argument("--end", default="2016-02-29")
    ap.add_argument("--train-from", default="2013-03-01")
    ap.add_argument("--retrain", default="monthly")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--risk-out",
        default=None,
        help="P(AQI>200) and adverse-weather flags CSV of the replayed weather",
    )
    ap.add_argument("--met", default="observed", choices=["observed", "perturbed"])
    ap.add_argument("--train-met", default=None, choices=["observed", "perturbed"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--met-error", default=None)
    ap.add_argument(
        "--ensemble", type=int, default=None, help="ensemble size (default: models.yaml)"
    )
    ap.add_argument("--features", default=None, help="feature spec (default: features.yaml)")
    ap.add_argument(
        "--spread-holdout-days",
        type=int,
        default=None,
        help="spread calibration holdout in days (0: off; default: models.yaml)",
    )
    ap.add_argument(
        "--train-copies",
        type=int,
        default=1,
        help="perturbed training: copies of the training rows, each with its own errors",
    )
    args = ap.parse_args()
    train_met = args.train_met or args.met

    config = load_training_config()
    if args.ensemble is not None:
        config = config.model_copy(update={"ensemble_size": args.ensemble})
    if args.spread_holdout_days is not None:
        config = config.model_copy(update={"spread_holdout_days": args.spread_holdout_days})
    t0, c0 = time.perf_counter(), cpu_s()
    files = prsa_files([Settings().beijing_dir])
    hourly = pd.concat([read_prsa(f) for f in files], ignore_index=True)
    flags = quality_flags(hourly)
    for c in variable_columns(hourly):
        hourly[c] = hourly[c].where(flags[c] == VALID)
    coords = read_prsa_stations(files[0].parent / "stations.csv")
    t1, c1 = time.perf_counter(), cpu_s()
    spec = load_feature_spec(Path(args.features) if args.features else None)
    areas = {"district": sorted(hourly["station"].unique())}
    inputs = frames_to_table(hourly, areas, spec=spec, tz=TZ, issue_dates=None, met="observed")
    predict_rows = None
    if "perturbed" in (args.met, train_met):
        model = load_met_error_model(Path(args.met_error) if args.met_error else None)
        first = date.fromisoformat(args.train_from) if train_met == "perturbed" else None
        first = first or date.fromisoformat(args.start)
        days = list(pd.date_range(first, args.end, freq="D").date)
        pert = perturbed_frames_to_table(
            hourly,
            areas,
            spec=spec,
            tz=TZ,
            issue_time=Settings().issue_time,
            issue_dates=days,
            error_model=model,
            seed=args.seed,
            coords=coords,
        )
        if train_met == "perturbed":
            train_table = pert.table
            extra = []
            for k in range(1, args.train_copies):
                copy = perturbed_frames_to_table(
                    hourly,
                    areas,
                    spec=spec,
                    tz=TZ,
                    issue_time=Settings().issue_time,
                    issue_dates=days,
                    error_model=model,
                    seed=args.seed + 1000 * k,
                    coords=coords,
                ).table
                # Only training rows are copied; the replayed days keep seed --seed.
                extra.append(copy[copy["issue_date"] < pd.Timestamp(args.start)])
            if extra:
                train_table = pd.concat([train_table, *extra], ignore_index=True)
            if args.met == "observed":
                predict_rows = inputs.table
        else:
            train_table = inputs.table
            predict_rows = pert.table
    else:
        train_table = inputs.table
    t2, c2 = time.perf_counter(), cpu_s()
    res = replay(
        train_table,
        inputs.hourly,
        spec=spec,
        tz=TZ,
        start=date.fromisoformat(args.start),
        end=date.fromisoformat(args.end),
        retrain=args.retrain,
        train_from=date.fromisoformat(args.train_from),
        predict_rows=predict_rows,
        config=config,
    )
    t3, c3 = time.perf_counter(), cpu_s()
    print(
        f"weather: target days {args.met}, training {train_met}, seed {args.seed}; "
        f"ensemble {config.ensemble_size}; spread holdout {config.spread_holdout_days} d; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"read PRSA + QC  wall {t1 - t0:6.1f} s  cpu {c1 - c0:6.1f} s")
    print(f"feature table   wall {t2 - t1:6.1f} s  cpu {c2 - c1:6.1f} s  rows {len(inputs.table)}")
    print(
        f"replay+retrain  wall {t3 - t2:6.1f} s  cpu {c3 - c2:6.1f} s  "
        f"trainings {len(res.trainings)}"
    )
    print(f"total (no I/O)  wall {t3 - t1:6.1f} s  cpu {c3 - c1:6.1f} s")
    if args.out or args.risk_out:
        rows = hindcast_rows(res.predictions)
    if args.out:
        rows.to_csv(Path(args.out), index=False, float_format="%.4g")
    if args.risk_out:
        # The flags come from the weather the replayed days saw (perturbed or observed).
        seen = predict_rows if predict_rows is not None else train_table
        hindcast_risk(seen, rows).to_csv(Path(args.risk_out), index=False, float_format="%.4g")

    p = res.predictions
    p = p[~is_area_entities(p["entity"])]
    obs = inputs.table.set_index(["entity", "issue_date", "lead_days"])
    print("variable   lead  rmse  pers_rmse  csi@thr(s)  coverage_10_90  n")
    for var in ("o3_mda8", "o3_1h_max", "pm25_24h", "pm10_24h"):
        for lead in sorted(p["lead_days"].unique()):
            s = p[(p["variable"] == var) & (p["lead_days"] == lead)]
            k = pd.MultiIndex.from_frame(s[["entity", "issue_date", "lead_days"]])
            o = obs[f"y_{var}"].reindex(k).to_numpy()
            f = s["q50"].to_numpy()
            pers = obs[f"{var}_lag1"].reindex(k).to_numpy()
            sc = continuous_scores(f, o)
            csi = " ".join(f"{categorical_scores(f, o, t)['csi']:.2f}@{t:g}" for t in CSI_AT[var])
            cov = coverage(s["q10"].to_numpy(), s["q90"].to_numpy(), o)
            print(
                f"{var:10s} {lead:4d} {sc['rmse']:5.1f} {continuous_scores(pers, o)['rmse']:9.1f}"
                f"  {csi:>16s}  {cov:14.2f}  {sc['n']}"
            )
    print("peak RSS MB", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
