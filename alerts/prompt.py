"""The morning work prompt (工作提示): one dict per issue date, area and language,
rendered to text and HTML by Jinja2 templates (alerts/templates) and to JSON as is.

The dict holds only sections that have something to say; every sentence comes from
alerts/templates/phrases.yaml with numbers rounded as in alerts/rounding.py.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from aqcast.alerts import forecast_view as fv
from aqcast.alerts.advisories import advisories_for_day
from aqcast.alerts.campaign import CampaignFile, district_for_area
from aqcast.alerts.rounding import half_up, percent_step, rounded_range
from aqcast.alerts.texts import Say, Text
from aqcast.alerts.warnings import WarningStatus
from aqcast.features.aqi import aqi_level, daily_aqi

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
FORMATS = ("text", "html", "json")
POLLUTANT_NAMES = {
    "pm25_24h": Text(zh="PM2.5", en="PM2.5"),
    "pm10_24h": Text(zh="PM10", en="PM10"),
    "o3_8h": Text(zh="臭氧", en="O3"),
    "o3_1h": Text(zh="臭氧", en="O3"),
    "no2_24h": Text(zh="二氧化氮", en="NO2"),
    "so2_24h": Text(zh="二氧化硫", en="SO2"),
    "co_24h": Text(zh="一氧化碳", en="CO"),
}
# The critical value is worth a sentence about hours only when the forecast peak gets
# within this share of it; below, the prompt says plainly that exceedance is unlikely.
CRITICAL_NEAR_FRACTION = 0.85


def _level_name(aqi: float, lang: str) -> tuple[str, int]:
    lv = aqi_level(aqi)
    if lv is None:
        return "", 0
    return (lv.zh if lang == "zh" else lv.en), lv.number


def _concentration(say: Say, key: str, v: dict | None) -> tuple[dict, str] | None:
    if v is None:
        return None
    lo, hi = rounded_range(v["q10"] if v["q10"] is not None else v["q50"], v["q90"] or v["q50"])
    data = {"q50": half_up(v["q50"]), "range": [lo, hi]}
    p = v.get("p_exceed")
    data["p_exceed_pct"] = percent_step(p) if p is not None else None
    chance = ""  # say nothing about a chance that was not forecast
    if p is not None and v.get("threshold") is not None:
        chance = say("chance", limit=half_up(v["threshold"]), p=data["p_exceed_pct"])
    return data, say(key, q50=data["q50"], lo=lo, hi=hi, chance=chance)


def _day_aqi(forecast: Any, area: str, d: date) -> dict | None:
    v = fv.value(forecast, area, "aqi", d)
    subs = {
        var: (fv.value(forecast, area, var, d) or {}).get("q50")
        for var in ("pm25_24h", "pm10_24h", "o3_mda8", "o3_1h_max", "no2_24h", "so2_24h", "co_24h")
    }
    subs = {k: x for k, x in subs.items() if x is not None}
    computed, primary, _ = daily_aqi(subs) if subs else (math.nan, [], None)
    if v is None:
        if math.isnan(computed):
            return None
        v = {"q10": computed, "q50": computed, "q90": computed, "p_exceed": None}
    lo, hi = rounded_range(v["q10"] if v["q10"] is not None else v["q50"], v["q90"] or v["q50"])
    return {"q50": v["q50"], "range": [lo, hi], "primary": primary if v["q50"] > 50 else []}


def build_prompt(
    forecast: Any,
    area: str,
    cfg: CampaignFile,
    *,
    lang: str = "zh",
    warning: WarningStatus | None = None,
    transitions: list[dict] | None = None,
    targets: dict | None = None,
    advisories: list[dict] | None = None,
    warning_rules: Any = None,
) -> dict:
    """The prompt for ``forecast.issue_date`` and ``area`` in ``lang`` (``zh`` or ``en``).

    ``warning``: the area's warning after this issue; ``transitions``: what this issue
    changed; ``targets``: ``alerts.targets.target_status``; ``advisories``: computed
    from the forecast when not given.
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    say = Say(lang)
    today: date = fv._as_date(forecast.issue_date)
    district = district_for_area(cfg, area)
    plan = cfg.plan(district, today.year)
    rules = warning_rules or cfg.rule_set(plan.warning_rules)
    area_name = cfg.districts[district].name(lang)
    issued_at = getattr(forecast, "issued_at", None)

    out: dict[str, Any] = {
        "lang": lang,
        "area": area,
        "area_name": area_name,
        "issue_date": today.isoformat(),
        "issued_at": issued_at.isoformat() if isinstance(issued_at, datetime) else None,
        "title": say("title", area=area_name, date=say.date(today)),
        "model_version": getattr(forecast, "model_version", None),
        "method": getattr(forecast, "method", "model"),
        "met_mode": getattr(forecast, "met_mode", "stored"),
    }

    notes = []
    if out["met_mode"] == "observed":
        notes.append(say("note_met_observed"))
    elif out["met_mode"] == "none":
        notes.append(say("note_met_none"))
    if str(out["method"]).startswith("fallback"):
        notes.append(say("note_fallback", baseline=str(out["method"]).split(":", 1)[-1]))
    missing = list(getattr(forecast, "missing_inputs", None) or [])
    if missing:
        notes.append(say("note_missing", items=say.join(missing)))
    if notes:
        out["notes"] = notes

    # Today's forecast.
    lines = []
    day = _day_aqi(forecast, area, today)
    today_data: dict[str, Any] = {"target_date": today.isoformat()}
    if day is not None:
        level, number = _level_name(day["q50"], lang)
        head = say("today_aqi", aqi_lo=day["range"][0], aqi_hi=day["range"][1], level=level)
        names = list(
            dict.fromkeys(POLLUTANT_NAMES[k](lang) for k in day["primary"] if k in POLLUTANT_NAMES)
        )
        if names:
            head += say("primary", names=say.join(names))
        lines.append(head + ("。" if lang == "zh" else "."))
        today_data.update(
            {
                "aqi": half_up(day["q50"]),
                "aqi_range": day["range"],
                "level": level,
                "level_number": number,
                "primary": names,
            }
        )
    o3 = fv.value(forecast, area, "o3_mda8", today)
    for key, var, name in (
        ("o3_line", "o3_mda8", "o3_mda8"),
        ("pm25_line", "pm25_24h", "pm25_24h"),
    ):
        got = _concentration(
            say, key, o3 if var == "o3_mda8" else fv.value(forecast, area, var, today)
        )
        if got is not None:
            today_data[name] = got[0]
            lines.append(got[1])
    if lines:
        out["today"] = today_data
        out["today_lines"] = lines

    outlook = []
    for d in fv.target_dates(forecast, area):
        if d <= today:
            continue
        od = _day_aqi(forecast, area, d)
        if od is not None:
            level, _ = _level_name(od["q50"], lang)
            outlook.append(
                say(
                    "outlook_day",
                    date=say.date(d, short=True),
                    aqi_lo=od["range"][0],
                    aqi_hi=od["range"][1],
                    level=level,
                )
            )
    if outlook:
        out["outlook_lines"] = outlook

    # The ozone critical value: worth a sentence during an ozone campaign or when O3 matters.
    crit = fv.critical(forecast, area, today)
    profile = fv.hourly_profile(forecast, area, today)
    o3_q90 = (o3 or {}).get("q90") or (o3 or {}).get("q50") or 0.0
    ozone_matters = any(c.pollutant == "o3" for c in cfg.running_campaigns(district, today)) or (
        o3_q90 >= plan.triggers.critical_value_o3_q90_min_ugm3
    )
    if crit is not None and ozone_matters:
        value = half_up(crit["critical_value_ugm3"])
        known = [x for x in (profile or []) if not math.isnan(x)]
        peak = max(known) if known else None
        out["critical"] = {
            "critical_value_ugm3": value,
            "peak_hour": crit["peak_hour"],
            "likely_hours": crit["likely_hours"],
            # new fields (docs/critical_value.md): the q90 hours and the 1-hour cap
            "possible_hours": crit.get("possible_hours", []),
            "capped_at_1h_limit": crit.get("capped", False),
        }
        near = peak is None or peak >= CRITICAL_NEAR_FRACTION * crit["critical_value_ugm3"]
        if near and crit["likely_hours"]:
            out["critical_line"] = say(
                "critical_line", value=value, hours=say.hour_runs(crit["likely_hours"])
            )
        else:
            out["critical_line"] = say("critical_low", value=value)

    rk = fv.risk(forecast, area, today)
    if rk is not None and rk["p_heavy"] is not None:
        elevated = rk["p_heavy"] >= plan.triggers.adverse_p_heavy_min or bool(rk["stagnation"])
        out["risk"] = {
            "p_heavy_pct": percent_step(rk["p_heavy"]),
            "stagnation": rk["stagnation"],
            "elevated": elevated,
        }
        out["risk_line"] = (
            say(
                "risk_high",
                p=percent_step(rk["p_heavy"]),
                stagnation=say("stagnation") if rk["stagnation"] else "",
            )
            if elevated
            else say("risk_low", p=percent_step(rk["p_heavy"]))
        )

    # Warnings.
    warn_lines = []
    for t in transitions or []:
        lvl = t["to_level"] if t["action"] != "lifted" else t["from_level"]
        warn_lines.append(
            say(
                f"warning_{t['action']}",
                level=rules.level_name(lvl, lang),
                until=say.date(t["end_date"], short=True),
            )
        )
    if warning is not None and warning.active:
        warn_lines.append(
            say(
                "warning_active",
                level=rules.level_name(warning.level, lang),
                since=say.date(warning.since, short=True),
                until=say.date(warning.until, short=True),
                area=area_name,
            )
        )
        out["warning"] = {
            "level": warning.level,
            "name": rules.level_name(warning.level, lang),
            "since": warning.since.isoformat() if warning.since else None,
            "until": warning.until.isoformat() if warning.until else None,
            "rule_set": rules.name,
        }
    if warn_lines:
        out["warning_lines"] = warn_lines

    # Campaigns and today's actions.
    running = cfg.running_campaigns(district, today)
    if running:
        out["campaigns"] = [
            {
                "id": c.id,
                "name": c.name(lang),
                "start": c.dates(today.year)[0].isoformat(),
                "end": c.dates(today.year)[1].isoformat(),
            }
            for c in running
        ]
        out["campaign_lines"] = [
            say(
                "campaign_line",
                name=c.name(lang),
                start=say.date(c.dates(today.year)[0], True),
                end=say.date(c.dates(today.year)[1], True),
            )
            for c in running
        ]
    if advisories is None:
        o3_mda8 = o3 or {}
        advisories = advisories_for_day(
            cfg,
            district,
            area,
            today,
            o3_mda8_q50_ugm3=o3_mda8.get("q50"),
            p_exceed=o3_mda8.get("p_exceed"),
            profile_ugm3=profile,
            critical_value_ugm3=crit["critical_value_ugm3"] if crit else None,
            peak_hour=crit["peak_hour"] if crit else None,
        )
    actions: list[str] = []
    focus = list(dict.fromkeys(f for c in running for f in c.focus))
    if focus:
        actions.append(say("field_focus", items=say.join([cfg.focus_text(f, lang) for f in focus])))
    for adv in advisories:
        actions.append(
            say(
                "stagger_line",
                sector=adv["name"][lang],
                avoid=say.hours(adv["avoid_hours"]),
                steps=say.join([s["name"][lang] for s in adv["steps"]]),
                move=say("or_sep").join(say.hours(m["hours"]) for m in adv["move_to"]),
            )
        )
    if warning is not None and warning.active and rules.measures(warning.level, lang):
        actions.append(rules.measures(warning.level, lang))
    no_action = not advisories and not (warning is not None and warning.active)
    if no_action:
        actions.append(say("no_action"))
    out["actions"] = {
        "field_focus": focus,
        "staggered": [
            {
                "sector": a["sector"],
                "avoid_hours": a["avoid_hours"],
                "move_to": [m["hours"] for m in a["move_to"]],
            }
            for a in advisories
        ],
        "no_action": no_action,
    }
    out["action_lines"] = [_sentence_case(a, lang) for a in actions]

    if targets is not None:
        out["targets"] = _targets_block(say, targets)
        out["target_lines"] = out["targets"].pop("lines")
        if not out["target_lines"]:
            del out["targets"], out["target_lines"]
    return out


def _sentence_case(line: str, lang: str) -> str:
    return line[:1].upper() + line[1:] if lang == "en" else line


def _targets_block(say: Say, status: dict) -> dict:
    t, ytd, al = status["targets"], status["year_to_date"], status["allowance"]
    lines = []
    if ytd["pm25_mean_ugm3"] is not None:
        mean = half_up(ytd["pm25_mean_ugm3"])
        if al["pm25_max_mean_ugm3"] is not None and al["pm25_max_mean_ugm3"] >= 0:
            lines.append(
                say(
                    "targets_pm25",
                    mean=mean,
                    target=half_up(t["pm25_annual_mean_ugm3"]),
                    days=al["remaining_days"],
                    max_mean=int(al["pm25_max_mean_ugm3"]),
                )
            )
        else:
            lines.append(
                say(
                    "targets_pm25_missed",
                    mean=mean,
                    target=half_up(t["pm25_annual_mean_ugm3"]),
                    days=al["remaining_days"],
                )
            )
    if ytd["good_day_ratio_pct"] is not None:
        ratio = f"{ytd['good_day_ratio_pct']:.1f}%"
        target = f"{t['good_day_ratio_pct']:g}"
        if al["non_good_days_left"] >= 0:
            lines.append(
                say("targets_good", ratio=ratio, target=target, left=al["non_good_days_left"])
            )
        else:
            lines.append(
                say(
                    "targets_good_missed",
                    ratio=ratio,
                    target=target,
                    over=-al["non_good_days_left"],
                )
            )
        n, mx = ytd["n_heavy_days"], t["heavy_days_max"]
        if al["heavy_days_left"] >= 0:
            lines.append(say("targets_heavy", n=n, max=mx, left=al["heavy_days_left"]))
        else:
            lines.append(say("targets_heavy_missed", n=n, max=mx))
    return {
        "pm25_mean_ugm3": None if ytd["pm25_mean_ugm3"] is None else half_up(ytd["pm25_mean_ugm3"]),
        "good_day_ratio_pct": None
        if ytd["good_day_ratio_pct"] is None
        else round(ytd["good_day_ratio_pct"], 1),
        "heavy_days": ytd["n_heavy_days"],
        "pm25_max_mean_ugm3": None
        if al["pm25_max_mean_ugm3"] is None
        else int(al["pm25_max_mean_ugm3"]),  # rounded down: the allowance must not overstate
        "non_good_days_left": al["non_good_days_left"],
        "heavy_days_left": al["heavy_days_left"],
        "remaining_days": al["remaining_days"],
        "targets": t,
        "lines": lines,
    }


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_prompt(prompt: dict, fmt: str = "text") -> str:
    """The prompt as ``text``, ``html`` or ``json``; the template follows ``prompt["lang"]``."""
    if fmt == "json":
        return json.dumps(prompt, ensure_ascii=False, indent=2, default=str)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    ext = "txt" if fmt == "text" else "html"
    template = _env().get_template(f"prompt.{prompt['lang']}.{ext}.j2")
    return template.render(p=prompt)
