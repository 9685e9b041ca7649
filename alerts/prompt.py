"""The morning work prompt (工作提示): one dict per issue date, area and language,
rendered to text and HTML by Jinja2 templates (alerts/templates) and to JSON as is.

The dict holds only sections that have something to say, numbered as a bureau's prompt
(一、二、三); every sentence comes from the text catalogue (alerts/templates/catalogue.yaml)
with numbers rounded as in alerts/rounding.py. Level words name at most two adjacent
levels ("良至轻度污染") while the numbers give the whole 10-90 % range.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from aqcast.alerts import forecast_view as fv
from aqcast.alerts.advisories import advisories_for_day
from aqcast.alerts.campaign import CampaignFile, district_for_area
from aqcast.alerts.rounding import half_up, half_up_1, level_span, percent_step, rounded_range
from aqcast.alerts.texts import Say, load_phrases, text
from aqcast.alerts.warnings import WarningStatus
from aqcast.features.aqi import aqi_level, aqi_level_numbers, daily_aqi

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
FORMATS = ("text", "html", "json")
# IAQI keys of the primary pollutant -> their names in the catalogue.
POLLUTANT_KEYS = {
    "pm25_24h": "pollutant_pm25",
    "pm10_24h": "pollutant_pm10",
    "o3_8h": "pollutant_o3",
    "o3_1h": "pollutant_o3",
    "no2_24h": "pollutant_no2",
    "so2_24h": "pollutant_so2",
    "co_24h": "pollutant_co",
}
# The critical value is worth a sentence about hours only when the forecast peak gets
# within this share of it; below, the prompt says plainly that exceedance is unlikely.
CRITICAL_NEAR_FRACTION = 0.85
HEAVY_AQI_ABOVE = 200.0  # HJ 633: heavy pollution is a daily AQI above 200
GOOD_AQI_MAX = 100.0  # HJ 633: excellent or good up to 100


ZH_NUMERALS = "一二三四五六七八九十"
SENTENCE_JOIN = {"zh": "", "en": " "}  # Chinese sentences end in 。 and need no space
# A probability of exceedance in this band leaves the exceedance undecided (confidence).
UNDECIDED_P = (0.3, 0.7)
LEVEL_UPPER_AQI = (50, 100, 150, 200, 300)


def _level_name(aqi: float, lang: str) -> tuple[str, int]:
    lv = aqi_level(aqi)
    if lv is None:
        return "", 0
    return text(f"level_{lv.number}", lang), lv.number


def _pollutant(key: str, say: Say) -> str:
    return say(POLLUTANT_KEYS[key]) if key in POLLUTANT_KEYS else key


def _concentration(say: Say, key: str, v: dict | None) -> tuple[dict, str] | None:
    if v is None or v.get("q50") is None:
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
    q10 = v["q10"] if v["q10"] is not None else v["q50"]
    q90 = v["q90"] if v["q90"] is not None else v["q50"]
    lo, hi = rounded_range(q10, q90)
    levels = level_span(q10, v["q50"], q90)
    return {
        "q10": q10,
        "q50": v["q50"],
        "q90": q90,
        "range": [lo, hi],
        "levels": list(levels),
        "primary": primary if v["q50"] > 50 else [],
    }


def _notes(say: Say, forecast: Any) -> list[str]:
    notes = []
    met_mode = getattr(forecast, "met_mode", "stored")
    if met_mode == "observed":
        notes.append(say("note_met_observed"))
    elif met_mode == "none":
        notes.append(say("note_met_none"))
    method = str(getattr(forecast, "method", "model"))
    if method.startswith("fallback"):
        notes.append(say("note_fallback", baseline=baseline_name(method, say.lang)))
    missing = list(getattr(forecast, "missing_inputs", None) or [])
    if missing:
        notes.append(say("note_missing", items=say.join(input_names(missing, say.lang))))
    return notes


def baseline_name(method: str, lang: str) -> str:
    """The baseline of a ``fallback:<name>`` method in words of ``lang``."""
    name = str(method).split(":", 1)[-1]
    key = f"baseline_{name}" if f"baseline_{name}" in load_phrases() else "baseline_none"
    return text(key, lang)


def input_names(names: list[str], lang: str) -> list[str]:
    """Missing inputs of a forecast in words of ``lang`` (the page shows them too)."""
    say = Say(lang)
    return list(dict.fromkeys(_input_name(say, n) for n in names))


def _input_name(say: Say, name: str) -> str:
    """A missing input in words of the prompt's language (inputs are named in English in
    the forecast; the Chinese prompt must not carry them as they are)."""
    known = {
        "target-day weather": "input_target_day_weather",
        "observations of the day before the issue date": "input_observations_day_before",
        "observations": "input_observations",
    }
    if name in known:
        return say(known[name])
    if name.startswith("feed:"):
        feed = name[5:]
        key = f"input_feed_{feed}"
        return say(key) if key in load_phrases() else say("input_feed", name=feed)
    return say("input_other")


def _confidence(say: Say, day: dict, concentrations: dict[str, dict]) -> tuple[dict, str]:
    """How far the forecast can be trusted, from the width of its band in levels and from
    exceedance probabilities that leave the outcome open."""
    lo_n, hi_n = (int(n) for n in aqi_level_numbers([day["q10"], day["q90"]]))
    n_levels = max(1, hi_n - lo_n + 1)
    undecided = [
        name
        for name, c in concentrations.items()
        if c.get("p") is not None and UNDECIDED_P[0] <= c["p"] <= UNDECIDED_P[1]
    ]
    if n_levels == 1 and not undecided:
        grade = "high"
    elif n_levels >= 3 or (n_levels == 2 and undecided):
        grade = "low"
    else:
        grade = "medium"
    reasons = [
        say("confidence_one_level") if n_levels == 1 else say("confidence_levels", n=n_levels)
    ]
    reasons.append(
        say("confidence_undecided", names=say.join(undecided))
        if undecided
        else say("confidence_decided")
    )
    line = say(
        "confidence_line", grade=say(f"confidence_{grade}"), reasons=say("reason_sep").join(reasons)
    )
    return {"grade": grade, "levels_spanned": n_levels}, line


def _yesterday(say: Say, y: dict, area_name: str) -> list[str]:
    d = date.fromisoformat(y["date"]) if isinstance(y["date"], str) else y["date"]
    lines = []
    if y.get("aqi") is not None:
        level, number = _level_name(y["aqi"], say.lang)
        names = list(dict.fromkeys(_pollutant(k, say) for k in y.get("primary") or []))
        primary = say("primary", names=say.join(names)) if names and y["aqi"] > 50 else ""
        first = say(
            "yesterday_aqi",
            date=say.date(d, short=True),
            area=area_name,
            aqi=half_up(y["aqi"]),
            level=level,
            primary=primary,
        )
        worst = y.get("worst_station")
        if worst and worst.get("aqi") is not None:
            first += SENTENCE_JOIN[say.lang] + say(
                "yesterday_worst", station=worst["name"], aqi=half_up(worst["aqi"])
            )
        lines.append(first)
        fl = y.get("forecast_levels")
        if fl:
            lo, hi = int(fl[0]), int(fl[-1])
            key = (
                "yesterday_hit"
                if lo <= number <= hi
                else ("yesterday_miss_high" if number < lo else "yesterday_miss_low")
            )
            lines.append(say(key, forecast=say.level_span(lo, hi)))
    o3 = []
    if y.get("o3_mda8") is not None:
        mda8 = half_up(y["o3_mda8"])
        o3.append(say("yesterday_o3_above" if mda8 > 160 else "yesterday_o3_below", mda8=mda8))
    if y.get("o3_1h_max") is not None and y.get("critical_value_ugm3") is not None:
        peak, crit = half_up(y["o3_1h_max"]), half_up(y["critical_value_ugm3"])
        key = "yesterday_critical_reached" if peak >= crit else "yesterday_critical_not_reached"
        o3.append(say(key, peak=peak, critical=crit))
    if o3:
        lines.append(SENTENCE_JOIN[say.lang].join(o3))
    return lines


def _header(say: Say, cfg: CampaignFile, today: date, number: int | None) -> dict:
    out: dict[str, Any] = {}
    if number is not None:
        out["number"] = number
        out["number_line"] = say("number_line", year=today.year, number=number)
    settings = getattr(cfg, "prompt", None)
    if settings is not None:
        h, m = (int(x) for x in settings.issue_time.split(":"))
        out["issuer"] = settings.issuer(say.lang)
        out["issue_time"] = settings.issue_time
        out["issuer_line"] = say(
            "issuer_line",
            issuer=settings.issuer(say.lang),
            date=say.date(today),
            time=say("time_format", h=h, m=m),
        )
    else:
        out["issuer_line"] = say.date(today)
    return out


@dataclass(frozen=True)
class _Prompt:
    """What every section of one prompt reads: the language, the forecast, the area's day
    and the configuration that applies to it."""

    say: Say
    lang: str
    forecast: Any
    area: str
    today: date
    cfg: CampaignFile
    district: str
    plan: Any
    rules: Any
    area_name: str


@dataclass(frozen=True)
class _Today:
    """The forecast for the issue day that later sections build on."""

    day: dict | None  # the AQI (``_day_aqi``)
    o3: dict | None  # MDA8 O3 [ug/m3]
    pm25: dict | None  # 24-hour PM2.5 [ug/m3]
    crit: dict | None  # the ozone critical value
    profile: list[float] | None  # hourly O3 [ug/m3]
    ozone_matters: bool


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
    preview: bool = False,
    number: int | None = None,
    yesterday: dict | None = None,
    official: dict | None = None,
    assessment: Any = None,
) -> dict:
    """The prompt for ``forecast.issue_date`` and ``area`` in ``lang`` (``zh`` or ``en``).

    ``warning``: the area's warning after this issue; ``transitions``: what this issue
    changed; ``targets``: ``alerts.targets.target_status``; ``advisories``: computed
    from the forecast when not given; ``preview``: the prompt is not (yet) published, and
    says so; ``number``: its issue number in the area's year (第N期); ``yesterday``: the
    observed day before (see ``alerts.engine.yesterday_observed``); ``official``: the
    city's warning in force (``service.official.official_dict``), which then sets the
    measures while the district's own level becomes the consultation suggestion (会商建议);
    ``assessment``: ``alerts.warnings.assess`` of this issue (health advice for an
    episode led by ozone or dust).
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    say = Say(lang)
    today: date = fv._as_date(forecast.issue_date)
    district = district_for_area(cfg, area)
    plan = cfg.plan(district, today.year)
    rules = warning_rules or cfg.rule_set(plan.warning_rules)
    area_name = cfg.districts[district].name(lang)
    c = _Prompt(say, lang, forecast, area, today, cfg, district, plan, rules, area_name)
    out = _front_matter(c, preview=preview, number=number)
    sections: list[dict] = []

    def section(key: str, lines: list[str]) -> None:
        if lines:
            sections.append({"id": key, "heading": say(f"heading_{key}"), "lines": lines})

    # 一、昨日实况
    if yesterday:
        out["yesterday"] = yesterday
        section("yesterday", _yesterday(say, yesterday, area_name))

    # 二、预报: today, the next days, the confidence.
    lines, facts = _forecast_section(c, out)
    section("forecast", lines)
    # 三、臭氧临界值: during an ozone campaign or when O3 matters.
    section("critical", _critical_section(c, facts, out))
    # 四、不利气象条件
    section("risk", _risk_section(c, facts, out))
    # 五、重污染天气预警
    warn_lines, warned = _warning_section(
        c, out, warning=warning, transitions=transitions, official=official, assessment=assessment
    )
    section("warning", warn_lines)
    # 六、工作要求: the campaigns, what today needs, the three teams' tasks; then the
    # staggered operation of each sector.
    task_lines, stagger = _tasks_section(
        c,
        facts,
        out,
        advisories=advisories,
        transitions=transitions,
        official=official,
        assessment=assessment,
        warned=warned,
    )
    section("tasks", task_lines)
    section("stagger", stagger)
    # 七、年度目标进度
    section("targets", _targets_section(c, targets, out))

    for i, s in enumerate(sections):
        s["number"] = say("section_number", n=ZH_NUMERALS[i] if lang == "zh" else i + 1)
    out["sections"] = sections
    return out


def _front_matter(c: _Prompt, *, preview: bool, number: int | None) -> dict[str, Any]:
    """The prompt's title, header lines, provenance and notes (before the sections)."""
    say, lang, forecast, area, today, area_name = (
        c.say,
        c.lang,
        c.forecast,
        c.area,
        c.today,
        c.area_name,
    )
    issued_at = getattr(forecast, "issued_at", None)

    out: dict[str, Any] = {
        "lang": lang,
        "area": area,
        "area_name": area_name,
        "issue_date": today.isoformat(),
        "issued_at": issued_at.isoformat() if isinstance(issued_at, datetime) else None,
        "title": say("title", area=area_name),
        "model_version": getattr(forecast, "model_version", None),
        "method": getattr(forecast, "method", "model"),
        "met_mode": getattr(forecast, "met_mode", "stored"),
        "preview": preview,
    }
    out.update(_header(say, c.cfg, today, number))
    if preview:
        out["preview_line"] = say("preview_label")
    notes = _notes(say, forecast)
    if notes:
        out["notes"] = notes
    return out


def _forecast_section(c: _Prompt, out: dict) -> tuple[list[str], _Today]:
    """二、预报: today's AQI and concentrations, the next days, the confidence."""
    say, lang, forecast, area, today = c.say, c.lang, c.forecast, c.area, c.today
    cfg, district, plan = c.cfg, c.district, c.plan
    lines = []
    day = _day_aqi(forecast, area, today)
    today_data: dict[str, Any] = {"target_date": today.isoformat()}
    o3 = fv.value(forecast, area, "o3_mda8", today)
    pm25 = fv.value(forecast, area, "pm25_24h", today)
    if day is not None:
        level = say.level_span(*day["levels"])
        head = say("today_aqi", aqi_lo=day["range"][0], aqi_hi=day["range"][1], level=level)
        names = list(dict.fromkeys(_pollutant(k, say) for k in day["primary"]))
        if names:
            head += say("primary", names=say.join(names))
        lines.append(head + ("。" if lang == "zh" else "."))
        today_data.update(
            {
                "aqi": half_up(day["q50"]),
                "aqi_range": day["range"],
                "level": level,
                "level_number": _level_name(day["q50"], lang)[1],
                "level_range": day["levels"],
                "primary": names,
            }
        )
    crit = fv.critical(forecast, area, today)
    profile = fv.hourly_profile(forecast, area, today)
    o3_q90 = (o3 or {}).get("q90") or (o3 or {}).get("q50") or 0.0
    ozone_matters = any(c.pollutant == "o3" for c in cfg.running_campaigns(district, today)) or (
        o3_q90 >= plan.triggers.critical_value_o3_q90_min_ugm3
    )
    got = _concentration(say, "o3_line", o3)
    if got is not None:
        today_data["o3_mda8"] = got[0]
        lines.append(got[1])
    if ozone_matters:
        h1 = fv.value(forecast, area, "o3_1h_max", today)
        known = [x for x in (profile or []) if not math.isnan(x)]
        if h1 is not None and h1.get("q50") is not None:
            got1 = _concentration(say, "o3_1h_line", {**h1, "p_exceed": None})
            if got1 is not None:
                today_data["o3_1h_max"] = got1[0]
                lines.append(got1[1])
        elif known:
            peak = max(known)
            hour = (profile or []).index(peak)
            today_data["o3_1h_max"] = {"q50": half_up(peak), "hour": hour}
            lines.append(say("o3_peak_line", q50=half_up(peak), hour=hour))
    got = _concentration(say, "pm25_line", pm25)
    if got is not None:
        today_data["pm25_24h"] = got[0]
        lines.append(got[1])
    if lines:
        out["today"] = today_data
        out["today_lines"] = list(lines)
    lines.extend(_outlook(c, out))
    if day is not None:
        conc = {
            _pollutant(k, say): {"p": (v or {}).get("p_exceed")}
            for k, v in (("o3_8h", o3), ("pm25_24h", pm25))
            if v is not None
        }
        out["confidence"], conf_line = _confidence(say, day, conc)
        out["confidence_line"] = conf_line
        lines.append(conf_line)
    return lines, _Today(
        day=day, o3=o3, pm25=pm25, crit=crit, profile=profile, ozone_matters=ozone_matters
    )


def _critical_section(c: _Prompt, f: _Today, out: dict) -> list[str]:
    """三、臭氧临界值: during an ozone campaign or when O3 matters."""
    say = c.say
    crit, profile, ozone_matters = f.crit, f.profile, f.ozone_matters
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
            # Capped at the 1-hour limit, the value is an exceedance by itself rather than
            # the hour that lifts MDA8 over 160: the sentence says which of the two it is.
            key = "critical_line_capped" if crit.get("capped") else "critical_line"
            out["critical_line"] = say(key, value=value, hours=say.hour_runs(crit["likely_hours"]))
        else:
            out["critical_line"] = say("critical_low", value=value)
        return [out["critical_line"]]
    return []


def _risk_section(c: _Prompt, f: _Today, out: dict) -> list[str]:
    """四、不利气象条件: the chance of heavy pollution today and the week's adverse weather."""
    say, lang, forecast, area, today = c.say, c.lang, c.forecast, c.area, c.today
    plan, day, o3 = c.plan, f.day, f.o3
    rk = fv.risk(forecast, area, today)
    if rk is not None and rk["p_heavy"] is not None:
        adverse = bool(rk.get("adverse"))
        elevated = (
            rk["p_heavy"] >= plan.triggers.adverse_p_heavy_min or bool(rk["stagnation"]) or adverse
        )
        heavy_today = day is not None and day["q50"] > 200
        o3_today = (o3 or {}).get("q50")
        polluted_today = (day is not None and day["q50"] > 150) or (
            o3_today is not None and o3_today > 160
        )
        out["risk"] = {
            "p_heavy_pct": percent_step(rk["p_heavy"]),
            "stagnation": rk["stagnation"],
            "elevated": elevated or heavy_today or polluted_today,
            "adverse": rk.get("adverse"),
            "adverse_kind": rk.get("adverse_kind") or "",
            "adverse_conditions": _condition_names(say, rk.get("adverse_conditions") or ""),
            "ventilation_index_m2s": None
            if rk.get("ventilation_index") is None
            else half_up(rk["ventilation_index"]),
        }
        if elevated:
            out["risk_line"] = say(
                "risk_high",
                p=percent_step(rk["p_heavy"]),
                stagnation=say("stagnation") if rk["stagnation"] or adverse else "",
            )
        elif heavy_today:
            # Never "risk low" beside a heavy forecast: one sentence says both.
            conds = out["risk"]["adverse_conditions"]
            out["risk_line"] = say(
                "risk_heavy_forecast",
                aqi=half_up(day["q50"]),
                p=percent_step(rk["p_heavy"]),
                adverse=say("adverse_today", conditions=say.join(conds))
                if adverse and conds
                else say("adverse_none_today"),
            )
        elif polluted_today:
            # An ozone exceedance or a polluted AQI is not "low risk" either.
            conds = out["risk"]["adverse_conditions"]
            level_name, _ = _level_name(day["q50"], lang) if day is not None else ("", 0)
            out["risk_line"] = say(
                "risk_polluted_forecast",
                level=level_name,
                aqi=half_up(day["q50"]) if day is not None else "",
                o3=half_up(o3_today) if o3_today is not None else "",
                p=percent_step(rk["p_heavy"]),
                adverse=say("adverse_today", conditions=say.join(conds))
                if adverse and conds
                else "",
            )
        else:
            out["risk_line"] = say("risk_low", p=percent_step(rk["p_heavy"]))
    _adverse_outlook(c, out)
    # the risk and the week's adverse weather in one sentence
    return [out["risk_line"]] if "risk_line" in out else []


def _warning_section(
    c: _Prompt,
    out: dict,
    *,
    warning: WarningStatus | None,
    transitions: list[dict] | None,
    official: dict | None,
    assessment: Any,
) -> tuple[list[str], bool]:
    """五、重污染天气预警: this issue's changes, the warning in force (the city's, with the
    district's level as the consultation suggestion), the measures; and whether the
    district's own warning is active."""
    say, lang, rules, area_name = c.say, c.lang, c.rules, c.area_name
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
    warned = warning is not None and warning.active
    if warned:
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
    if official is not None:
        warn_lines = _official_lines(c, out, official, warning) + warn_lines
    # The measures carried out: the city's level when it is in force, else the district's.
    measures = ""
    if official is not None:
        measures = rules.measures(official["level"], lang)
    elif warned:
        measures = rules.measures(warning.level, lang)
    if measures:
        warn_lines.append(measures)
    if assessment is not None and getattr(assessment, "advice", None):
        kind = assessment.advice
        warn_lines.append(
            say(
                "non_emergency_episode",
                kind=say(f"kind_{kind}"),
                level=rules.level_name(assessment.reached, lang),
            )
        )
        out["non_emergency_episode"] = {"kind": kind, "reached": assessment.reached}
    if warn_lines:
        out["warning_lines"] = warn_lines
    return warn_lines, warned


def _tasks_section(
    c: _Prompt,
    f: _Today,
    out: dict,
    *,
    advisories: list[dict] | None,
    transitions: list[dict] | None,
    official: dict | None,
    assessment: Any,
    warned: bool,
) -> tuple[list[str], list[str]]:
    """六、工作要求 and the staggered-operation lines: ``(task_lines, stagger_lines)``."""
    running = c.cfg.running_campaigns(c.district, c.today)
    task_lines = _campaign_lines(c, running, out)
    if advisories is None:
        advisories = _day_advisories(c, f)
    # The city's warning in force is carried out like the district's own.
    in_force = warned or official is not None
    summary, no_action, conditions = _summary(
        c,
        f,
        out,
        advisories=advisories,
        transitions=transitions,
        in_force=in_force,
        assessment=assessment,
    )
    task_lines.extend(summary)
    conditions.update({f"campaign:{x.id}": True for x in running})
    focus = list(dict.fromkeys(item for x in running for item in x.focus))
    task_lines.extend(_team_lines(c, conditions, focus, out))
    stagger = _stagger_lines(c, advisories)
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
    out["action_lines"] = [*task_lines, *stagger]
    return task_lines, stagger


def _campaign_lines(c: _Prompt, running: list, out: dict) -> list[str]:
    """The campaigns running today, one line each."""
    if not running:
        return []
    say, lang, year = c.say, c.lang, c.today.year
    out["campaigns"] = [
        {
            "id": x.id,
            "name": x.name(lang),
            "start": x.dates(year)[0].isoformat(),
            "end": x.dates(year)[1].isoformat(),
        }
        for x in running
    ]
    out["campaign_lines"] = [
        say(
            "campaign_line",
            name=x.name(lang),
            start=say.date(x.dates(year)[0], True),
            end=say.date(x.dates(year)[1], True),
        )
        for x in running
    ]
    return list(out["campaign_lines"])


def _day_advisories(c: _Prompt, f: _Today) -> list[dict]:
    """The staggered-operation advisories of the day, from the forecast."""
    o3_mda8 = f.o3 or {}
    crit = f.crit
    return advisories_for_day(
        c.cfg,
        c.district,
        c.area,
        c.today,
        o3_mda8_q50_ugm3=o3_mda8.get("q50"),
        p_exceed=o3_mda8.get("p_exceed"),
        profile_ugm3=f.profile,
        critical_value_ugm3=crit["critical_value_ugm3"] if crit else None,
        peak_hour=crit["peak_hour"] if crit else None,
    )


def _summary(
    c: _Prompt,
    f: _Today,
    out: dict,
    *,
    advisories: list[dict],
    transitions: list[dict] | None,
    in_force: bool,
    assessment: Any,
) -> tuple[list[str], bool, dict[str, bool]]:
    """What today needs in a sentence or two: ``(lines, no_action, the conditions the
    teams' tasks are chosen by)``."""
    say, lang, forecast, area, today = c.say, c.lang, c.forecast, c.area, c.today
    day = f.day
    # Days of this forecast at heavy pollution or worse: never "no measures needed" then,
    # even before a warning has been decided (a preview) or when the rules issue none.
    heavy = [
        d
        for d in [today, *[x for x in fv.target_dates(forecast, area) if x > today]]
        if (_day_aqi(forecast, area, d) or {"q50": 0})["q50"] > HEAVY_AQI_ABOVE
    ]
    elevated = bool(out.get("risk", {}).get("elevated"))
    summary: list[str] = []
    # An episode led by ozone or dust starts no emergency reductions: the health advice
    # and the supervision the rules give for it instead (never "prepare the cuts" then).
    advice = ""
    if assessment is not None and getattr(assessment, "advice", None):
        advice = c.rules.advice_text(assessment.advice, lang)
    if heavy and not in_force and not advice:
        summary.append(say("heavy_ahead", dates=say.join([say.date(d, short=True) for d in heavy])))
    if advice:
        summary.append(advice)
    # "Nothing needed" only on a day forecast good or better; a polluted day gets a watch.
    polluted = day is not None and day["q50"] > GOOD_AQI_MAX
    no_action = (
        not advisories
        and not in_force
        and not heavy
        and not transitions
        and not elevated
        and not polluted
        and not advice
    )
    if no_action:
        summary.append(say("no_action"))
    elif not advisories and not in_force and not heavy:
        summary.append(say("stay_alert"))
    conditions = {
        "always": True,
        "ozone_risk": bool(advisories),
        "heavy_ahead": bool(heavy) and not in_force and not advice,
        "warning": in_force,
        "adverse": elevated,
    }
    return summary, no_action, conditions


def _team_lines(c: _Prompt, conditions: dict[str, bool], focus: list[str], out: dict) -> list[str]:
    """Each team's tasks under today's conditions, and the campaigns' field focus."""
    say, lang, cfg = c.say, c.lang, c.cfg
    lines: list[str] = []
    teams = []
    for i, team in enumerate(getattr(cfg, "teams", None) or []):
        tasks = [t.text(lang) for t in team.tasks if conditions.get(t.when, False)]
        if team.inspects_focus and focus:
            tasks.append(
                say("field_focus", items=say.join([cfg.focus_text(x, lang) for x in focus]))
            )
        if not tasks:
            continue
        teams.append({"id": team.id, "name": team.name(lang), "tasks": tasks})
        number_text = ZH_NUMERALS[i] if lang == "zh" else str(i + 1)
        lines.append(
            say(
                "team_line",
                number=say("team_number", n=number_text),
                team=team.name(lang),
                tasks=SENTENCE_JOIN[lang].join(tasks),
            )
        )
    if not teams and focus:  # a campaign file without teams: the field focus on its own
        lines.append(say("field_focus", items=say.join([cfg.focus_text(x, lang) for x in focus])))
    out["teams"] = teams
    return lines


def _stagger_lines(c: _Prompt, advisories: list[dict]) -> list[str]:
    """One staggered-operation line per sector advised."""
    say, lang = c.say, c.lang
    stagger = [
        say(
            "stagger_line",
            sector=adv["name"][lang],
            avoid=say.hours(adv["avoid_hours"]),
            steps=say.join([s["name"][lang] for s in adv["steps"]]),
            move=say("or_sep").join(say.hours(m["hours"]) for m in adv["move_to"]),
        )
        for adv in advisories
    ]
    return [_sentence_case(x, lang) for x in stagger]


def _outlook(c: _Prompt, out: dict) -> list[str]:
    """The AQI range and level of each day after the issue day."""
    say, forecast, area, today = c.say, c.forecast, c.area, c.today
    outlook = []
    outlook_data = []
    for d in fv.target_dates(forecast, area):
        if d <= today:
            continue
        od = _day_aqi(forecast, area, d)
        if od is not None:
            level = say.level_span(*od["levels"])
            outlook_data.append(
                {
                    "target_date": d.isoformat(),
                    "aqi_range": od["range"],
                    "level_range": od["levels"],
                }
            )
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
        out["outlook"] = outlook_data
        out["outlook_lines"] = outlook
    return outlook


def _adverse_outlook(c: _Prompt, out: dict) -> None:
    """The week's adverse weather, appended to the risk sentence (or standing for it)."""
    say, lang, forecast, area = c.say, c.lang, c.forecast, c.area
    outlook_rows = fv.risk_outlook(forecast, area)
    if any(r.get("adverse") is not None for r in outlook_rows):
        flagged = [r for r in outlook_rows if r.get("adverse")]
        out["adverse_outlook"] = [
            {
                "target_date": fv._as_date(r["target_date"]).isoformat(),
                "adverse": bool(r.get("adverse")),
                "adverse_kind": r.get("adverse_kind") or "",
                "conditions": _condition_names(say, r.get("adverse_conditions") or ""),
                "ventilation_index_m2s": None
                if r.get("ventilation_index") is None
                else half_up(r["ventilation_index"]),
            }
            for r in outlook_rows
        ]
        sentence = (
            say(
                "adverse_outlook",
                days=say.join(
                    [
                        say(
                            "adverse_day",
                            date=say.date(fv._as_date(r["target_date"]), short=True),
                            conditions=say.join(
                                _condition_names(say, r.get("adverse_conditions") or "")
                            ),
                        )
                        for r in flagged
                    ]
                ),
            )
            if flagged
            else say("adverse_outlook_none")
        )
        out["adverse_outlook_line"] = sentence
        sep = "" if lang == "zh" else " "
        out["risk_line"] = (out["risk_line"] + sep + sentence) if "risk_line" in out else sentence


def _official_lines(
    c: _Prompt, out: dict, official: dict, warning: WarningStatus | None
) -> list[str]:
    """The city's warning in force and the district's consultation suggestion beside it."""
    say, lang, rules = c.say, c.lang, c.rules
    # The city's warning is the state the district carries out; the district's own
    # forecast-based level stands beside it as the consultation suggestion.
    from aqcast.alerts.cap import OFFICIAL_LEVEL_NAMES, RESPONSE_NAMES

    start = datetime.fromisoformat(official["start"])
    end = datetime.fromisoformat(official["end"]) if official.get("end") else None
    lname = OFFICIAL_LEVEL_NAMES[official["level"]](lang)
    own = warning.level if warning is not None and warning.active else "none"
    official_lines = [
        say(
            "official_active",
            level=lname,
            response=RESPONSE_NAMES[official["response"]](lang),
            start=f"{say.date(start.date(), short=True)} {start:%H}:00",
            until=say("official_until", end=f"{say.date(end.date(), short=True)} {end:%H}:00")
            if end
            else "",
        )
    ]
    if own != "none":
        official_lines.append(say("official_consultation", level=rules.level_name(own, lang)))
    else:
        hours = getattr(rules, "lift_clear_hours", None)
        official_lines.append(
            say(
                "official_consultation_none",
                lift=say("official_lift_hint", hours=hours) if hours else "",
            )
        )
    out["official_warning"] = {
        **{k: official[k] for k in ("level", "response", "start", "start_hour", "end")},
        "document": official.get("document", ""),
        "name": lname,
        "consultation_level": own,
    }
    return official_lines


def _targets_section(c: _Prompt, targets: dict | None, out: dict) -> list[str]:
    """七、年度目标进度."""
    if targets is None:
        return []
    block = _targets_block(c.say, targets, c.today)
    lines = block.pop("lines")
    if lines:
        out["targets"] = block
        out["target_lines"] = lines
    return lines


def add_dispatch(prompt: dict, totals: dict) -> dict:
    """A copy of ``prompt`` whose dispatch task says how many enterprises were sent the
    day's advisories, confirmed them and are to be called (``totals``: ``notified``,
    ``acknowledged``, ``pending``); an earlier dispatch sentence is replaced, so a stored
    prompt can be brought up to date."""
    say = Say(prompt.get("lang", "zh"))
    out = dict(prompt)
    line = say(
        "dispatch_line",
        notified=int(totals["notified"]),
        acknowledged=int(totals["acknowledged"]),
        pending=int(totals["pending"]),
    )
    old = (prompt.get("dispatch") or {}).get("line")
    lines = [x for x in prompt.get("action_lines") or [] if x != old]
    out["action_lines"] = [*lines, line]
    # The sentence closes the advisories' section, which is what the prompt renders.
    sections = [dict(s) for s in prompt.get("sections") or []]
    for s in sections:
        if s.get("id") == "stagger":
            s["lines"] = [*(x for x in s["lines"] if x != old), line]
            break
    if sections:
        out["sections"] = sections
    out["dispatch"] = {
        "notified": int(totals["notified"]),
        "acknowledged": int(totals["acknowledged"]),
        "pending": int(totals["pending"]),
        "line": line,
    }
    return out


def _condition_names(say: Say, joined: str) -> list[str]:
    """Condition keys joined by "+" (features.adverse) as words of the language."""
    out = []
    for key in [k for k in joined.split("+") if k]:
        try:
            out.append(say(f"cond_{key}"))
        except KeyError:
            out.append(key)
    return out


def _sentence_case(line: str, lang: str) -> str:
    return line[:1].upper() + line[1:] if lang == "en" else line


def _targets_block(say: Say, status: dict, today: date) -> dict:
    """The year to date and what the rest of the year needs, judged after official
    rounding (see alerts.targets)."""
    t, ytd, al = status["targets"], status["year_to_date"], status["allowance"]
    lines = []
    mean = None if ytd.get("pm25_mean_ugm3") is None else half_up(ytd["pm25_mean_ugm3"])
    ratio = None if ytd.get("good_day_ratio_pct") is None else half_up_1(ytd["good_day_ratio_pct"])
    through = ytd.get("through")
    through_d = date.fromisoformat(through) if through else today - timedelta(days=1)
    if mean is not None and ratio is not None:
        lines.append(
            say(
                "targets_status",
                date=say.date(through_d, short=True),
                mean=mean,
                target=f"{t['pm25_annual_mean_ugm3']:g}",
                ratio=f"{ratio:.1f}",
                ratio_target=f"{t['good_day_ratio_pct']:g}",
            )
        )
        floor = float(t.get("pm25_lowest_feasible_mean_ugm3") or 0)
        max_mean = al.get("pm25_max_mean_ugm3")
        pm_ok = max_mean is not None and max_mean >= max(floor, 0)
        good_ok = bool(al.get("good_target_met_possible", True))
        needs, missed = [], []
        if pm_ok:
            needs.append(say("targets_need_pm25", max_mean=int(max_mean)))
        else:
            missed.append(say("targets_pm25_missed"))
        if good_ok and al.get("good_days_needed", 1) == 0:
            needs.append(say("targets_good_secured"))
        elif good_ok:
            needs.append(say("targets_need_good", ratio=f"{al['good_ratio_needed_pct']:.1f}"))
        else:
            missed.append(say("targets_good_missed"))
        days = al["remaining_days"]
        if not needs:
            lines.append(say("targets_all_missed", days=days))
        else:
            parts = say.join(needs)
            if missed:
                parts += say("sentence_sep") + say.join(missed)
            lines.append(say("targets_needs", days=days, needs=parts))
    n, mx = ytd["n_heavy_days"], t["heavy_days_max"]
    if n is not None:
        if n < mx:
            lines.append(say("targets_heavy", n=n, max=mx, left=mx - n))
        elif n == mx:
            lines.append(say("targets_heavy_reached", n=n, max=mx))
        else:
            lines.append(say("targets_heavy_over", n=n, max=mx, over=n - mx))
    return {
        "pm25_mean_ugm3": mean,
        "good_day_ratio_pct": ratio,
        "heavy_days": n,
        "pm25_max_mean_ugm3": al.get("pm25_max_mean_ugm3"),
        "good_ratio_needed_pct": al.get("good_ratio_needed_pct"),
        "non_good_days_left": al.get("non_good_days_left"),
        "heavy_days_left": al.get("heavy_days_left"),
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


def _legacy_sections(prompt: dict) -> dict:
    """A prompt stored before prompts had numbered sections, in the current layout."""
    lang = prompt.get("lang", "zh")
    say = Say(lang)
    p = {**prompt}
    keys = [
        ("forecast", [*prompt.get("today_lines", []), *prompt.get("outlook_lines", [])]),
        ("critical", [prompt["critical_line"]] if "critical_line" in prompt else []),
        ("risk", [prompt["risk_line"]] if "risk_line" in prompt else []),
        ("warning", prompt.get("warning_lines", [])),
        ("tasks", [*prompt.get("campaign_lines", []), *prompt.get("action_lines", [])]),
        ("targets", prompt.get("target_lines", [])),
    ]
    sections = [{"id": k, "heading": say(f"heading_{k}"), "lines": v} for k, v in keys if v]
    for i, s in enumerate(sections):
        s["number"] = say("section_number", n=ZH_NUMERALS[i] if lang == "zh" else i + 1)
    p["sections"] = sections
    p.setdefault("issuer_line", "")
    p.setdefault("preview", False)
    p.setdefault("issue_date", "")
    p.setdefault("area", "")
    return p


def render_prompt(prompt: dict, fmt: str = "text") -> str:
    """The prompt as ``text``, ``html`` or ``json``, in the prompt's language."""
    if fmt == "json":
        return json.dumps(prompt, ensure_ascii=False, indent=2, default=str)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if "sections" not in prompt:
        prompt = _legacy_sections(prompt)
    lang = prompt.get("lang", "zh")
    template = _env().get_template("prompt.txt.j2" if fmt == "text" else "prompt.html.j2")
    return template.render(
        p=prompt, notes_heading=text("notes_heading", lang), sep=SENTENCE_JOIN[lang]
    )
