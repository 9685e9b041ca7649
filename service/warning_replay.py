"""Replaying a winter's warnings under each rule set, scored against the observed air and
the real Beijing alerts; and measuring the rolling 24-hour approximation.

    python -m aqcast.service.warning_replay --rows winter.csv [--risk risk.csv]
        [--data DIR] [--start 2015-11-01] [--end 2016-02-29] [--rules mee-2024 ...]

``--rows`` is an ``aqcast hindcast`` CSV (its meta file says which weather it used);
``--risk`` the ``--risk-out`` CSV of the same run. The observed area values are the mean
over the PRSA stations (the area ``district``). Prints one JSON object: the rolling
approximation measured on the observed hours, then per rule set (and statistic) the
counts of docs/alerts.md. The replay and scoring are alerts/warning_replay.py.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from aqcast.alerts.warning_replay import (
    measure_rolling,
    observed_area,
    score_replay,
    score_risk,
)
from aqcast.features.places import DEFAULT_AREA


def main(argv: list[str] | None = None) -> None:
    from aqcast.alerts.engine import hindcast_events
    from aqcast.service.configured import current_campaign
    from aqcast.service.settings import get_settings
    from aqcast.service.sources.prsa import prsa_files, read_prsa

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=Path, required=True)
    ap.add_argument("--risk", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=get_settings().beijing_dir)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2015, 11, 1))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2016, 2, 29))
    ap.add_argument(
        "--rules", nargs="*", default=["bth-2016", "tianjin-2018", "mee-2017", "mee-2024"]
    )
    args = ap.parse_args(argv)
    tz = "Asia/Shanghai"
    hourly = pd.concat([read_prsa(f) for f in prsa_files([args.data])], ignore_index=True)
    lo = pd.Timestamp(args.start - timedelta(days=3), tz="UTC")
    hi = pd.Timestamp(args.end + timedelta(days=3), tz="UTC")
    hourly = hourly[(hourly["time"] >= lo) & (hourly["time"] < hi)]
    daily, area_h = observed_area(hourly, tz)
    report: dict = {"rolling_approximation": measure_rolling(daily, area_h, args.start, args.end)}
    rows = pd.read_csv(args.rows)
    rows = rows[rows["area"] == DEFAULT_AREA]
    rows = rows[
        (pd.to_datetime(rows["issue_date"]).dt.date >= args.start)
        & (pd.to_datetime(rows["issue_date"]).dt.date <= args.end)
    ]
    cfg = current_campaign()
    report["replay"] = {}
    for name in args.rules:
        base = cfg.rule_set(name)
        # The rule set's own statistic first (mee-2024: q30), then the median and q90.
        for stat in dict.fromkeys([base.statistic, "q50", "q90"]):
            rules = base.model_copy(update={"statistic": stat})
            lines = hindcast_events(rows, cfg, areas=[DEFAULT_AREA], rules=rules)
            report["replay"][f"{name}/{stat}"] = score_replay(lines, daily, args.start, args.end)
    if args.risk is not None:
        risk = pd.read_csv(args.risk)
        risk = risk[risk["area"] == DEFAULT_AREA]
        issued = pd.to_datetime(risk["issue_date"]).dt.date
        risk = risk[(issued >= args.start) & (issued <= args.end)]
        report["adverse_flags"] = score_risk(risk, daily)
    print(json.dumps(report, indent=1, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
