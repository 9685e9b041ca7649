"""Model hindcast of the warnings over a past winter, scored against the real alerts.

    python -m aqcast.service.hindcast_check [--data DIR] [--start 2015-11-01]
        [--end 2015-12-31] [--out FILE.jsonl]

Reads the PRSA files, builds the feature table with observed weather of the target day
(perfect prognosis: the forecasts are better than an operational run with weather
forecasts would be), trains on every target day before ``--start`` and forecasts each
issue date, then replays the warning rules (``hindcast_events``) and prints, for each
real alert of the domain brief, when the hindcast first warned and at which level, and
the warnings that covered no real alert day. The scoring is alerts/hindcast_check.py.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

from aqcast.alerts.hindcast_check import REAL_ALERTS_2015, score
from aqcast.features.places import DEFAULT_AREA


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
    from aqcast.alerts.engine import hindcast_events
    from aqcast.service.configured import current_campaign
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
    lines = hindcast_events(rows, current_campaign(), areas=[DEFAULT_AREA])
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
