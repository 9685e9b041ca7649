"""Model hindcast of the warnings over a past winter, scored against the real alerts.

    python -m aqcast.alerts.hindcast_check [--data DIR] [--start 2015-11-01] [--end 2015-12-31]
        [--out FILE.jsonl]

Reads the PRSA files, builds the feature table with observed weather of the target day
(perfect prognosis: the forecasts are better than an operational run with weather
forecasts would be), trains on every target day before ``--start`` and forecasts each
issue date, then replays the warning rules (``hindcast_events``) and prints, for each
real alert of the domain brief, when the hindcast first warned and at which level, and
the warnings that covered no real alert day.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

from aqcast.features.places import DEFAULT_AREA

# Real Beijing alerts (domain brief): (first day, last day, level).
REAL_ALERTS_2015 = [
    (date(2015, 11, 27), date(2015, 12, 1), "orange"),
    (date(2015, 12, 8), date(2015, 12, 10), "red"),
    (date(2015, 12, 19), date(2015, 12, 22), "red"),
]


def warned_periods(lines: list[dict]) -> list[dict]:
    """Each warning from issue to lift: first issue date, the highest level, the days it
    was in force (issue dates with a warning after that issue's decision)."""
    periods: list[dict] = []
    current: dict | None = None
    by_day: dict[date, str] = {}
    for line in lines:
        d = date.fromisoformat(line["issue_date"])
        if line["type"] == "warning":
            if line["action"] == "issued":
                current = {"issued_on": d, "levels": [line["to_level"]], "days": set()}
                periods.append(current)
            elif line["action"] == "lifted":
                current = None
            elif current is not None:
                current["levels"].append(line["to_level"])
        if line["type"] == "prompt":
            by_day[d] = "on" if current is not None else "off"
            if current is not None:
                current["days"].add(d)
    for p in periods:
        # The warned period also covers the target days announced ahead.
        last = max(p["days"]) if p["days"] else p["issued_on"]
        ends = [
            date.fromisoformat(x["end_date"])
            for x in lines
            if x["type"] == "warning"
            and x["action"] != "lifted"
            and p["issued_on"] <= date.fromisoformat(x["issue_date"]) <= last
        ]
        p["first_day"] = min(
            [
                date.fromisoformat(x["start_date"])
                for x in lines
                if x["type"] == "warning" and date.fromisoformat(x["issue_date"]) == p["issued_on"]
            ]
        )
        p["last_day"] = max(ends) if ends else last
    return periods


def score(lines: list[dict], real: list[tuple[date, date, str]]) -> dict:
    """Which real alerts were caught (a warning covering one of their days), how many days
    ahead of the alert's first day, at which level; and the false alarms."""
    order = ["none", "blue", "yellow", "orange", "red"]
    periods = warned_periods(lines)
    caught, used = [], set()
    for first, last, level in real:
        hits = [
            i for i, p in enumerate(periods) if p["first_day"] <= last and p["last_day"] >= first
        ]
        if not hits:
            caught.append({"alert": f"{level} {first}..{last}", "caught": False})
            continue
        used.update(hits)
        p = periods[hits[0]]
        top = max((lv for i in hits for lv in periods[i]["levels"]), key=order.index)
        caught.append(
            {
                "alert": f"{level} {first}..{last}",
                "caught": True,
                "first_warned_on": str(p["issued_on"]),
                "days_ahead": (first - p["issued_on"]).days,
                "highest_level": top,
                "warned": f"{p['first_day']}..{p['last_day']}",
            }
        )
    false = [
        {
            "issued_on": str(p["issued_on"]),
            "warned": f"{p['first_day']}..{p['last_day']}",
            "highest_level": max(p["levels"], key=order.index),
        }
        for i, p in enumerate(periods)
        if i not in used
    ]
    return {"real_alerts": caught, "false_alarms": false}


def model_hindcast_rows(data_dir: Path, start: date, end: date):  # noqa: ANN201
    import pandas as pd

    from aqcast.features.feature_table import load_feature_spec
    from aqcast.models.hindcast import hindcast_rows, replay
    from aqcast.service.sources.prsa import prsa_files, read_prsa
    from aqcast.synthetic import synthetic_feature_table

    hourly = pd.concat([read_prsa(f) for f in prsa_files([data_dir])], ignore_index=True)
    hourly = hourly[hourly["time"] < pd.Timestamp(end + timedelta(days=5), tz="UTC")]
    table, with_entities = synthetic_feature_table(hourly, tz="Asia/Shanghai")
    result = replay(
        table,
        with_entities,
        spec=load_feature_spec(),
        tz="Asia/Shanghai",
        start=start,
        end=end,
        retrain="none",
    )
    return hindcast_rows(result.predictions)


def main(argv: list[str] | None = None) -> None:
    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.engine import hindcast_events
    from aqcast.service.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=get_settings().beijing_dir)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2015, 11, 1))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2015, 12, 31))
    ap.add_argument("--out", type=Path, default=None, help="Write the event lines here.")
    ap.add_argument("--rows", type=Path, default=None, help="Reuse a hindcast CSV.")
    args = ap.parse_args(argv)
    import pandas as pd

    if args.rows and args.rows.is_file():
        rows = pd.read_csv(args.rows)
    else:
        rows = model_hindcast_rows(args.data, args.start, args.end)
        if args.rows:
            rows.to_csv(args.rows, index=False)
    lines = hindcast_events(rows, load_campaign(), areas=[DEFAULT_AREA])
    if args.out:
        args.out.write_text("".join(json.dumps(x, default=str) + "\n" for x in lines))
    for x in lines:
        if x["type"] == "warning":
            print(
                x["issue_date"],
                x["action"],
                x["from_level"],
                "->",
                x["to_level"],
                x["start_date"],
                x["end_date"],
            )
    print(json.dumps(score(lines, REAL_ALERTS_2015), indent=2))


if __name__ == "__main__":
    main()
