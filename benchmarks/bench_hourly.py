"""The year's hindcast with the hourly O3 model: time, and the skill of docs/skill.md
("Hourly O3, critical value and intraday probability").

In memory from the PRSA files, like bench_hindcast.py: trains from 2013-03-01, replays
2015-03-01..2016-02-29 (daily models retrained monthly, the hourly model trained once
before the first replayed day) with the observed weather of the target days (perfect
prognosis). Then, over June-September 2015:

- lead-0 hourly O3 RMSE over 10-19 h (12 stations pooled) of the hourly model beside the
  old method (the monthly climatological shape, fitted on the hours before the replay,
  scaled to the o3_1h_max forecast), and the MDA8 / 1-h max of the raw hourly profile
  beside the daily models (the reconciliation choice);
- the district critical value per month: mean, day-to-day standard deviation, range;
- Brier score of the intraday P(MDA8 > 160) at hours observed 8..20 against the morning
  P(MDA8 > 160) of the daily model (stations and district pooled), and the reliability
  table at hours observed 12;
- the district's June 2015 days (for docs/critical_value.md) and the windows of a week.

    .venv/bin/python benchmarks/bench_hourly.py [--start 2015-03-01 --end 2016-02-29]
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from aqcast.features.critical_value import critical_value_ugm3
from aqcast.features.daily import mda8_ugm3
from aqcast.features.feature_table import load_feature_spec
from aqcast.features.places import is_area_entities
from aqcast.models.hindcast import replay
from aqcast.models.hourly import intraday_table, observed_o3_frame
from aqcast.models.hourly_hindcast import replay_hourly
from aqcast.models.inputs import frames_to_table
from aqcast.models.profile import fit_diurnal_shape, shape_for
from aqcast.service.settings import Settings
from aqcast.service.sources.prsa import prsa_files, read_prsa

TZ = "Asia/Shanghai"
SUMMER = ("2015-06-01", "2015-09-30")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", default="2015-03-01")
    ap.add_argument("--end", default="2016-02-29")
    ap.add_argument("--train-from", default="2013-03-01")
    ap.add_argument("--cache", default=None, help="pickle of the replay, reused if present")
    ap.add_argument(
        "--met",
        default="observed",
        choices=["observed", "perturbed"],
        help="weather of the replayed days; training always sees the observed weather",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--rerun-hourly",
        action="store_true",
        help="with --cache: keep the cached daily replay, train and replay the hourly model again",
    )
    ap.add_argument(
        "--intraday-profile",
        default="reconciled",
        choices=["reconciled", "raw"],
        help="profile the intraday probability starts from (raw: a diagnostic only)",
    )
    args = ap.parse_args()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)

    files = prsa_files([Settings().beijing_dir])
    spec = load_feature_spec()
    if args.cache and Path(args.cache).is_file():
        with open(args.cache, "rb") as fh:
            inputs, daily, hh = pickle.load(fh)[:3]
        if args.rerun_hourly:
            # The cached daily replay, the hourly model trained and replayed again.
            hourly = pd.concat([read_prsa(f) for f in files], ignore_index=True)
            pert = perturbed_inputs(args, hourly, spec, files, start, end)
            t2, c2 = time.perf_counter(), cpu_s()
            hh = hourly_replay(args, inputs, pert, daily, start, end)
            t3, c3 = time.perf_counter(), cpu_s()
            print(f"weather of the replayed days: {args.met} (seed {args.seed})")
            print(f"load average {os.getloadavg()}")
            print(
                f"hourly model+replay wall {t3 - t2:6.1f} s  cpu {c3 - c2:6.1f} s  "
                f"(rows {len(hh.hourly)}, intraday rows {len(hh.intraday)})"
            )
            print("hourly model", hh.model.metrics, flush=True)
        report(inputs, daily, hh, start, args.intraday_profile)
        return
    hourly = pd.concat([read_prsa(f) for f in files], ignore_index=True)
    t0, c0 = time.perf_counter(), cpu_s()
    inputs = frames_to_table(
        hourly,
        {"district": sorted(hourly["station"].unique())},
        spec=spec,
        tz=TZ,
        issue_dates=None,
        met="observed",
    )
    pert = perturbed_inputs(args, hourly, spec, files, start, end)
    t1, c1 = time.perf_counter(), cpu_s()
    daily = replay(
        inputs.table,
        inputs.hourly,
        spec=spec,
        tz=TZ,
        start=start,
        end=end,
        retrain="monthly",
        train_from=date.fromisoformat(args.train_from),
        predict_rows=None if pert is None else pert.table,
    ).predictions
    t2, c2 = time.perf_counter(), cpu_s()
    hh = hourly_replay(args, inputs, pert, daily, start, end)
    t3, c3 = time.perf_counter(), cpu_s()
    print(f"weather of the replayed days: {args.met} (seed {args.seed}); training: observed")
    print(f"load average {os.getloadavg()}")
    print(f"feature table       wall {t1 - t0:6.1f} s  cpu {c1 - c0:6.1f} s")
    print(f"daily replay        wall {t2 - t1:6.1f} s  cpu {c2 - c1:6.1f} s")
    print(
        f"hourly model+replay wall {t3 - t2:6.1f} s  cpu {c3 - c2:6.1f} s  "
        f"(rows {len(hh.hourly)}, intraday rows {len(hh.intraday)})"
    )
    print(f"total (no I/O)      wall {t3 - t0:6.1f} s  cpu {c3 - c0:6.1f} s")
    print("peak RSS MB", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print("hourly model", hh.model.metrics, flush=True)
    if args.cache:
        with open(args.cache, "wb") as fh:
            pickle.dump((inputs, daily, hh), fh)
    report(inputs, daily, hh, start, args.intraday_profile)


def perturbed_inputs(args, hourly, spec, files, start: date, end: date):
    """The replayed days' rows with perturbed weather (None with ``--met observed``)."""
    if args.met != "perturbed":
        return None
    from aqcast.models.inputs import perturbed_frames_to_table
    from aqcast.models.met_error import load_met_error_model
    from aqcast.service.sources.prsa import read_prsa_stations

    return perturbed_frames_to_table(
        hourly,
        {"district": sorted(hourly["station"].unique())},
        spec=spec,
        tz=TZ,
        issue_time=Settings().issue_time,
        issue_dates=list(pd.date_range(start, end, freq="D").date),
        error_model=load_met_error_model(None),
        seed=args.seed,
        coords=read_prsa_stations(files[0].parent / "stations.csv"),
    )


def hourly_replay(args, inputs, pert, daily: pd.DataFrame, start: date, end: date):
    return replay_hourly(
        inputs.table,
        inputs.weather_hourly,
        inputs.hourly,
        daily,
        tz=TZ,
        start=start,
        end=end,
        train_from=date.fromisoformat(args.train_from),
        predict_table=None if pert is None else pert.table,
        predict_weather_hourly=None if pert is None else pert.weather_hourly,
    )


def report(inputs, daily: pd.DataFrame, hh, start: date, intraday_profile: str) -> None:

    obs = observed_o3_frame(inputs.hourly, TZ)
    prof = hh.hourly
    s0, s1 = pd.Timestamp(SUMMER[0]), pd.Timestamp(SUMMER[1])
    summer = prof[(prof["target_date"] >= s0) & (prof["target_date"] <= s1)]
    o = obs.reindex(
        pd.MultiIndex.from_frame(
            summer[["entity", "target_date", "hour"]].set_axis(["entity", "day", "hour"], axis=1)
        )
    ).to_numpy()
    cut = pd.Timestamp(start).tz_localize(TZ).tz_convert("UTC")
    diurnal = fit_diurnal_shape(inputs.hourly[inputs.hourly["time"] < cut], TZ)
    mx = daily[daily["variable"] == "o3_1h_max"].set_index(["entity", "issue_date", "target_date"])
    mx = mx["q50"]
    md = daily[daily["variable"] == "o3_mda8"].set_index(["entity", "issue_date", "target_date"])
    keys = summer.iloc[::24][["entity", "issue_date", "target_date", "lead_days"]]
    kidx = pd.MultiIndex.from_frame(keys[["entity", "issue_date", "target_date"]])
    old = (
        np.vstack(
            [
                shape_for(diurnal, e, td.month) / shape_for(diurnal, e, td.month).max()
                for e, td in zip(keys["entity"], keys["target_date"], strict=True)
            ]
        )
        * mx.reindex(kidx).to_numpy()[:, None]
    )
    q50 = summer["q50"].to_numpy().reshape(-1, 24)
    raw = summer["raw"].to_numpy().reshape(-1, 24)
    obs_day = o.reshape(-1, 24)
    station = ~is_area_entities(keys["entity"]).to_numpy()
    lead = keys["lead_days"].to_numpy()
    print("\nJune-September 2015, 12 stations pooled, hourly O3 RMSE over 10-19 h [ug/m3]")
    print("lead  hourly(reconciled)  hourly(raw)  old method  ratio")
    for ld in range(4):
        sel = station & (lead == ld)

        def rmse(x, sel=sel):
            e = (x - obs_day)[sel][:, 10:20]
            return float(np.sqrt(np.nanmean(e**2)))

        a, b, c = rmse(q50), rmse(raw), rmse(old)
        print(f"{ld:4d}  {a:18.1f}  {b:11.1f}  {c:10.1f}  {a / c:5.2f}")
    obs_mda8 = mda8_ugm3(obs_day)
    obs_max = np.max(np.where(np.isnan(obs_day), -np.inf, obs_day), axis=1)
    obs_max = np.where(np.isfinite(obs_max), obs_max, np.nan)
    print("\nagreement: RMSE of daily statistics [ug/m3], stations, by lead")
    print("lead  MDA8 daily  MDA8 of raw hourly  1h-max daily  1h-max raw hourly  reconciled")
    for ld in range(4):
        sel = station & (lead == ld)

        def r(x, y, sel=sel):
            return float(np.sqrt(np.nanmean((x[sel] - y[sel]) ** 2)))

        d_mda8, d_max = md["q50"].reindex(kidx).to_numpy(), mx.reindex(kidx).to_numpy()
        print(
            f"{ld:4d}  {r(d_mda8, obs_mda8):10.1f}"
            f"  {r(mda8_ugm3(raw), obs_mda8):18.1f}  {r(d_max, obs_max):12.1f}"
            f"  {r(raw.max(axis=1), obs_max):17.1f}  {r(q50.max(axis=1), obs_max):17.1f}"
        )

    crit = hh.critical
    dist = crit[(crit["entity"] == "area:district") & (crit["lead_days"] == 0)].copy()
    dist["month"] = pd.to_datetime(dist["target_date"]).dt.to_period("M")
    print("\ndistrict critical value, lead 0, per month [ug/m3]")
    print("month    n  mean  day-to-day sd  min  max  capped  days with likely hours")
    for m, g in dist.groupby("month"):
        v = g["critical_value_ugm3"]
        print(
            f"{m}  {len(g):3d}  {v.mean():5.1f}  {v.diff().abs().mean():13.1f}  {v.min():4.0f}"
            f"  {v.max():4.0f}  {int(g['capped'].sum()):6d}"
            f"  {int((g['likely_hours'].str.len() > 0).sum()):3d}"
        )
    print("(day-to-day = mean absolute change from one day to the next)")

    # Old method's critical value (constant within a month) for June.
    june = dist[(dist["target_date"] >= "2015-06-01") & (dist["target_date"] <= "2015-06-30")]
    old_cv = critical_value_ugm3(shape_for(diurnal, "area:district", 6)).critical_value_ugm3
    print(f"\nold method, June 2015 district: {old_cv:.0f} every day")
    dm = md.reset_index()
    dm = dm[(dm["entity"] == "area:district") & (dm["lead_days"] == 0)].set_index("target_date")
    od = obs.xs("area:district", level="entity").unstack("hour").reindex(columns=range(24))
    od_mda8 = pd.Series(mda8_ugm3(od.to_numpy()), index=pd.to_datetime(od.index))
    print("date        MDA8 q50  P(>160)  critical  peak  likely hours  observed MDA8")
    for r in june.itertuples():
        td = pd.Timestamp(r.target_date)
        hours = ",".join(str(h) for h in r.likely_hours) or "none"
        print(
            f"{td.date()}  {dm.loc[td, 'q50']:8.0f}  {dm.loc[td, 'p_exceed']:7.2f}"
            f"  {r.critical_value_ugm3:8.0f}  {r.peak_hour:4d}  {hours:12s}"
            f"  {od_mda8.get(td, np.nan):13.0f}"
        )

    # Staggered windows of a week (alerts/advisories.py, campaign.yaml rules).
    from aqcast.alerts.advisories import avoid_window, formation_window
    from aqcast.alerts.campaign import load_campaign

    rule = load_campaign().plan("district", 2015).window
    week = summer[
        (summer["entity"] == "area:district")
        & (summer["lead_days"] == 0)
        & (summer["target_date"] >= "2015-06-14")
        & (summer["target_date"] <= "2015-06-20")
    ]
    print("\ndistrict windows to avoid, 14-20 June 2015 (lead 0 q50 profile)")
    print("date        peak  q50 peak  formation  coating (default 9-16)  fuel (default 10-18)")
    for td, g in week.groupby("target_date"):
        q = g.sort_values("hour")["q50"].to_numpy()
        fw = formation_window(list(q), rule)
        print(
            f"{pd.Timestamp(td).date()}  {int(np.argmax(q)):4d}  {q.max():8.0f}  {fw}"
            f"  {avoid_window(fw, (9, 16), rule)}  {avoid_window(fw, (10, 18), rule)}"
        )
    # Old windows: the climatological June shape (the old building-hours rule).
    old_shape = shape_for(diurnal, "area:district", 6)
    print("old method's June shape, formation window:", formation_window(list(old_shape), rule))

    # Intraday, all entities (the hindcast file holds the areas only).
    lead0 = summer[summer["lead_days"] == 0]
    t4 = time.perf_counter()
    if intraday_profile == "raw":
        # Diagnostic: the classifier fed the hourly model's own profile (as in training).
        lead0 = lead0.assign(q50=lead0["raw"])
        print("intraday from the raw (unreconciled) profile")
    intra = intraday_table(hh.model, lead0, obs)
    print(f"\nintraday for {lead0['entity'].nunique()} entities: {time.perf_counter() - t4:.1f} s")
    day_obs = obs.unstack("hour").reindex(columns=range(24))
    om = pd.Series(mda8_ugm3(day_obs.to_numpy()), index=day_obs.index)
    intra["td"] = pd.to_datetime(intra["target_date"])
    k = pd.MultiIndex.from_arrays([intra["entity"], intra["td"]])
    intra["y"] = om.reindex(k).to_numpy()
    intra = intra[intra["y"].notna()].copy()
    intra["ex"] = (intra["y"] > 160).astype(float)
    mp = daily[(daily["variable"] == "o3_mda8") & (daily["lead_days"] == 0)]
    mp = mp.set_index(["entity", "target_date"])["p_exceed"]
    intra["morning"] = mp.reindex(k[intra.index]).to_numpy()
    print("Brier of P(MDA8 > 160), June-September 2015, 12 stations + district")
    print("hours_observed  intraday  morning  ratio  n")
    for h in range(8, 21):
        s = intra[intra["hours_observed"] == h]
        bi = float(((s["p_mda8_exceed"] - s["ex"]) ** 2).mean())
        bm = float(((s["morning"] - s["ex"]) ** 2).mean())
        print(f"{h:14d}  {bi:8.4f}  {bm:7.4f}  {bi / bm:5.2f}  {len(s)}")
    s = intra[intra["hours_observed"] == 12].copy()
    bins = [-0.001, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0]
    for name, col in (("intraday", "p_mda8_exceed"), ("morning", "morning")):
        s["bin"] = pd.cut(s[col], bins)
        t = s.groupby("bin", observed=True).agg(n=("ex", "size"), p=(col, "mean"), o=("ex", "mean"))
        print(f"\nreliability at hours_observed 12, {name}")
        print(t.to_string(float_format=lambda x: f"{x:.2f}"))
    print("\nstatus counts at hours_observed 12:", s["status"].value_counts().to_dict())


if __name__ == "__main__":
    main()
