"""The warning rules on the real Beijing winter of 2015 with perfect foresight.

Each issue date D gets the observed area AQI of D, D+1 and D+2 as its forecast (q10 =
q50 = q90): this checks the rule set and the warning life against the real episodes,
independently of forecast skill (docs/alerts.md has the model hindcast).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from aqcast.alerts import hindcast_events
from aqcast.alerts.campaign import load_campaign
from aqcast.alerts.warnings import RANK

pytestmark = pytest.mark.realdata

# Real Beijing alerts (domain brief): (first day, last day, level)
EPISODES = [
    (date(2015, 11, 27), date(2015, 12, 1), "orange"),
    (date(2015, 12, 8), date(2015, 12, 10), "red"),
    (date(2015, 12, 19), date(2015, 12, 22), "red"),
]


@pytest.fixture(scope="module")
def observed_aqi(beijing_dir) -> pd.DataFrame:
    return observed_area_aqi(beijing_dir)


def observed_area_aqi(beijing_dir) -> pd.DataFrame:
    """Daily AQI and O3 MDA8 of the mean over the 12 stations, 31 May 2015 - 3 Jan 2016."""
    from aqcast.features.aqi import aqi_frame
    from aqcast.features.daily import area_daily_statistics, daily_wide
    from aqcast.service.sources.prsa import prsa_files, read_prsa

    hourly = pd.concat([read_prsa(f) for f in prsa_files([beijing_dir])], ignore_index=True)
    hourly = hourly[(hourly["time"] >= "2015-05-31") & (hourly["time"] < "2016-01-04")]
    wide = daily_wide(
        area_daily_statistics(hourly, sorted(hourly["station"].unique()), "Asia/Shanghai")
    ).reset_index()
    wide["aqi"] = aqi_frame(wide)["aqi"].to_numpy()
    return wide[["day", "aqi", "o3_mda8"]]


def perfect_rows(
    obs: pd.DataFrame, start: date, end: date, horizon: int = 3, variable: str = "aqi"
) -> pd.DataFrame:
    """Observed values as the forecast of every issue date (q10 = q50 = q90)."""
    threshold = {"aqi": 200.0, "o3_mda8": 160.0}[variable]
    by_day = {pd.Timestamp(d).date(): v for d, v in zip(obs["day"], obs[variable], strict=True)}
    rows = []
    d = start
    while d <= end:
        for lead in range(horizon):
            v = by_day.get(d + timedelta(days=lead))
            if v is not None and v == v:
                rows.append(
                    {
                        "issue_date": d,
                        "target_date": d + timedelta(days=lead),
                        "lead_days": lead,
                        "area": "district",
                        "variable": variable,
                        "q10": v,
                        "q50": v,
                        "q90": v,
                        "p_exceed": float(v > threshold),
                        "threshold": threshold,
                    }
                )
        d += timedelta(days=1)
    return pd.DataFrame(rows)


def level_by_day(lines: list[dict]) -> dict[date, str]:
    """The warning level in force on each issue date after that issue's decision."""
    level, out = "none", {}
    for line in lines:
        d = date.fromisoformat(line["issue_date"])
        if line["type"] == "warning":
            level = "none" if line["action"] == "lifted" else line["to_level"]
        out[d] = level
    return out


def test_perfect_foresight_warns_through_every_real_episode(observed_aqi):
    lines = hindcast_events(
        perfect_rows(observed_aqi, date(2015, 11, 1), date(2015, 12, 31)), load_campaign()
    )
    warnings = [x for x in lines if x["type"] == "warning"]
    levels = level_by_day(lines)
    for first, last, _real in EPISODES:
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        in_force = [levels.get(d, "none") for d in days]
        assert sum(lv != "none" for lv in in_force) >= len(days) - 1, (first, in_force)
        # Issued ahead: a warning was already in force the day before the episode began.
        assert levels.get(first - timedelta(days=1), "none") != "none", first
    # The longest, most severe episode reaches red under bth-2016 (4 days > 200, 2 > 300).
    assert (
        max(RANK[levels[date(2015, 12, 19) + timedelta(days=i)]] for i in range(5)) == RANK["red"]
    )
    # No flapping: a lift followed by an issue the next day is a new episode ahead, not
    # the same one coming back.
    for a, b in zip(warnings, warnings[1:], strict=False):
        if a["action"] == "lifted" and b["action"] == "issued":
            lifted_on = date.fromisoformat(a["issue_date"])
            if date.fromisoformat(b["issue_date"]) - lifted_on <= timedelta(days=1):
                assert date.fromisoformat(b["start_date"]) > lifted_on + timedelta(days=1), (a, b)


def test_summer_2015_advises_every_sector_on_each_ozone_day(observed_aqi):
    start, end = date(2015, 6, 1), date(2015, 9, 30)
    rows = pd.concat(
        [perfect_rows(observed_aqi, start, end, variable=v) for v in ("aqi", "o3_mda8")]
    )
    lines = hindcast_events(rows, load_campaign())
    o3 = {
        pd.Timestamp(d).date(): v
        for d, v in zip(observed_aqi["day"], observed_aqi["o3_mda8"], strict=True)
    }
    ozone_days = {d for d, v in o3.items() if start <= d <= end and v >= 160}
    advised = {}
    for x in lines:
        if x["type"] == "advisory":
            advised.setdefault(date.fromisoformat(x["issue_date"]), set()).add(x["sector"])
    prompts = {date.fromisoformat(x["issue_date"]) for x in lines if x["type"] == "prompt"}
    assert len(ozone_days) > 20  # Beijing summer 2015 had many ozone days
    assert set(advised) == ozone_days
    assert all(s == set(load_campaign().sectors) for s in advised.values())
    assert ozone_days <= prompts
