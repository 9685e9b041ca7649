"""Scoring a hindcast of the warnings over a past winter against the real alerts.

For each real alert of the domain brief: when the hindcast first warned and at which
level, and the warnings that covered no real alert day. The command that reads the PRSA
files and runs the hindcast is ``python -m aqcast.service.hindcast_check``.
"""

from __future__ import annotations

from datetime import date

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
