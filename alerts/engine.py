"""The pure decisions behind the alert events, shared by publishing and the hindcast.

Publishing (service/publishing.py) stores, per area and issue date, the warning decided
here, the sector advisories and the prompt. ``hindcast_events`` is the pure replay of the
same decisions over many issue dates; ``critical_crossing`` is the intraday test of
observed O3 against the morning critical value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from aqcast.alerts import forecast_view as fv
from aqcast.alerts.advisories import advisories_for_day
from aqcast.alerts.campaign import CampaignFile, district_for_area
from aqcast.alerts.warnings import RuleSet, WarningStatus, next_state
from aqcast.features.aqi import aqi_level
from aqcast.features.critical_value import intraday_critical_value_ugm3
from aqcast.features.places import is_station_labels

# --- warning state <-> JSON ------------------------------------------------------------


def status_to_json(s: WarningStatus) -> dict:
    return {
        "level": s.level,
        "since": s.since.isoformat() if s.since else None,
        "until": s.until.isoformat() if s.until else None,
        "updated_on": s.updated_on.isoformat() if s.updated_on else None,
        "pending": s.pending,
        "memory": s.memory,
    }


def status_from_json(d: Mapping[str, Any]) -> WarningStatus:
    def day(v: str | None) -> date | None:
        return date.fromisoformat(v) if v else None

    return WarningStatus(
        d.get("level", "none"),
        day(d.get("since")),
        day(d.get("until")),
        day(d.get("updated_on")),
        d.get("pending"),
        d.get("memory") or {},
    )


def transition_json(t: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in t.items()}


# --- pure decisions shared by the engine and the hindcast -------------------------------


def today_level(forecast: Any, area: str, day: date) -> str:
    """The English AQI level name of the day's forecast q50 ("" when unknown)."""
    v = fv.value(forecast, area, "aqi", day)
    lv = aqi_level(v["q50"]) if v else None
    return lv.en if lv else ""


def day_advisories(forecast: Any, area: str, cfg: CampaignFile, day: date) -> list[dict]:
    district = district_for_area(cfg, area)
    o3 = fv.value(forecast, area, "o3_mda8", day) or {}
    crit = fv.critical(forecast, area, day)
    return advisories_for_day(
        cfg,
        district,
        area,
        day,
        o3_mda8_q50_ugm3=o3.get("q50"),
        p_exceed=o3.get("p_exceed"),
        profile_ugm3=fv.hourly_profile(forecast, area, day),
        critical_value_ugm3=crit["critical_value_ugm3"] if crit else None,
        peak_hour=crit["peak_hour"] if crit else None,
    )


def rules_for(cfg: CampaignFile, area: str, day: date) -> RuleSet:
    return cfg.rule_set(cfg.plan(district_for_area(cfg, area), day.year).warning_rules)


@dataclass
class RowsForecast:
    """A forecast made only of daily value rows (a hindcast's): no hourly profile, so
    advisories use the sectors' default windows and the prompt has no critical value."""

    issue_date: date
    values: pd.DataFrame
    met_mode: str = "observed"
    method: str = "model"
    hourly_o3: pd.DataFrame | None = None
    critical: pd.DataFrame | None = None
    risk: pd.DataFrame | None = None


def forecasts_from_rows(rows: pd.DataFrame) -> list[RowsForecast]:
    """Split hindcast rows (``issue_date, target_date, lead_days, area, variable, q10, q50,
    q90, p_exceed, threshold``) into one forecast per issue date; station rows (``station``
    set, or an area labelled ``station:<code>``) are left out."""
    rows = rows.copy()
    if "station" not in rows.columns:
        rows["station"] = ""
    rows["station"] = rows["station"].fillna("")
    rows = rows[(rows["station"] == "") & ~is_station_labels(rows["area"])]
    return [
        RowsForecast(issue_date=fv._as_date(d), values=part.reset_index(drop=True))
        for d, part in rows.groupby("issue_date", sort=True)
    ]


def hindcast_events(
    forecasts_by_issue_date: Mapping[date, Any] | Iterable[Any] | pd.DataFrame,
    config: CampaignFile,
    *,
    areas: Sequence[str] | None = None,
    rules: RuleSet | None = None,
) -> list[dict]:
    """The alert events a sequence of forecasts would have raised, oldest issue first.

    ``forecasts_by_issue_date``: Forecast objects (a mapping issue date -> Forecast, or
    any iterable), or a hindcast rows frame (see ``forecasts_from_rows``).
    Each line: ``issue_date, type, area, level, start_date, end_date`` (ISO dates) plus
    ``action, from_level, to_level, rule_set`` for warnings and ``sector, avoid_hours``
    for advisories. The warning state starts empty and runs through the issues in order.
    ``rules``: replay under this rule set instead of each district's configured one.
    """
    cfg = config
    if isinstance(forecasts_by_issue_date, pd.DataFrame):
        items: list[Any] = list(forecasts_from_rows(forecasts_by_issue_date))
    elif isinstance(forecasts_by_issue_date, Mapping):
        items = list(forecasts_by_issue_date.values())
    else:
        items = list(forecasts_by_issue_date)
    items.sort(key=lambda f: fv._as_date(f.issue_date))
    states: dict[str, WarningStatus] = {}
    lines: list[dict] = []
    for fc in items:
        d = fv._as_date(fc.issue_date)
        for area in areas or fv.forecast_areas(fc):
            area_rules = rules or rules_for(cfg, area, d)
            before = states.get(area, WarningStatus())
            states[area], transitions = next_state(
                before, fv.daily_aqi_forecasts(fc, area), area_rules, d
            )
            iso = d.isoformat()
            lines.append(
                {
                    "issue_date": iso,
                    "type": "prompt",
                    "area": area,
                    "level": today_level(fc, area, d),
                    "start_date": iso,
                    "end_date": iso,
                }
            )
            for t in transitions:
                tj = transition_json(t)
                lines.append(
                    {
                        "issue_date": iso,
                        "type": "warning",
                        "area": area,
                        "level": t["level"],
                        "start_date": tj["start_date"],
                        "end_date": tj["end_date"],
                        "action": t["action"],
                        "from_level": t["from_level"],
                        "to_level": t["to_level"],
                        "rule_set": area_rules.name,
                    }
                )
            for adv in day_advisories(fc, area, cfg, d):
                lines.append(
                    {
                        "issue_date": iso,
                        "type": "advisory",
                        "area": area,
                        "level": "advisory",
                        "start_date": iso,
                        "end_date": iso,
                        "sector": adv["sector"],
                        "avoid_hours": adv["avoid_hours"],
                    }
                )
    return lines


def critical_crossing(
    observed_ugm3: Sequence[float],
    critical_value_ugm3: float,
    forecast_profile_ugm3: Sequence[float] | None = None,
) -> dict | None:
    """Whether the day's observed O3 has reached the morning critical value.

    observed_ugm3 : hourly O3 [ug/m3] of local hours 0..H-1 (NaN = missing).
    Crossed when an observed hour reaches the critical value, or when the observed hours
    alone already make an MDA8 above 160 unavoidable. Returns None when not crossed,
    else the first hour, its value and the intraday update.
    """
    obs = [float(v) if v is not None else math.nan for v in observed_ugm3]
    first = next(
        (h for h, v in enumerate(obs) if not math.isnan(v) and v >= critical_value_ugm3), None
    )
    intraday = intraday_critical_value_ugm3(
        obs, len(obs), forecast_profile_ugm3=forecast_profile_ugm3
    )
    certain = intraday.status in ("already_exceeded", "unavoidable")
    if first is None and not certain:
        return None
    return {
        "hour": first if first is not None else len(obs) - 1,
        "observed_ugm3": None if first is None else round(obs[first]),
        "critical_value_ugm3": round(critical_value_ugm3),
        "hours_observed": len(obs),
        "intraday_status": intraday.status,
        "remaining_level_ugm3": None
        if intraday.remaining_level_ugm3 is None
        else round(intraday.remaining_level_ugm3),
    }
