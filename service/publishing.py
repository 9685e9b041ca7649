"""Publishing a stored forecast as alert events: the one place alerts touch the database.

``issue_alerts`` runs after each morning forecast: per area it decides the warning
(persisted in ``warning_state``), derives the sector advisories, builds the prompt
(zh and en), and stores one event for each through ``service.events.record_event`` in
one transaction per area. Dedup keys make a rerun for the same issue date store
nothing twice: the warning decision of a rerun starts again from the state the first
run started from (kept in ``warning_state.detail["before"]``).

``check_critical_crossing`` is the intraday job's: one event the first time in a day
that observed O3 reaches the morning critical value.

The decisions themselves are pure and live in alerts/engine.py (shared with the
hindcast replay ``hindcast_events``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aqcast.alerts import forecast_view as fv
from aqcast.alerts.campaign import CampaignFile, district_for_area
from aqcast.alerts.cap import (
    advisory_cap,
    area_shape,
    critical_value_cap,
    reference,
    warning_cap,
)
from aqcast.alerts.engine import (
    critical_crossing,
    day_advisories,
    rules_for,
    status_from_json,
    status_to_json,
    today_level,
    transition_json,
)
from aqcast.alerts.prompt import build_prompt
from aqcast.alerts.targets import target_status
from aqcast.alerts.warnings import RuleSet, WarningStatus, assess, next_state
from aqcast.features.aqi import AQI_LEVELS, daily_aqi
from aqcast.features.timeutil import as_utc as _aware
from aqcast.features.timeutil import to_store_or_none as _naive_utc
from aqcast.service.configured import current_campaign
from aqcast.service.events import event_id, record_event
from aqcast.service.settings import get_settings
from aqcast.service.store import session_scope
from aqcast.service.tables import AlertEvent, DailyStat, PromptIssue, Station, WarningState

PROMPT_LANGS = ("zh", "en")


def area_points(session: Session, area: str) -> list[tuple[float, float]]:
    from aqcast.configuration import area_stations
    from aqcast.service.configured import configured_areas

    rows = session.execute(select(Station.code, Station.lat, Station.lon)).all()
    try:
        members = set(area_stations(area, [r.code for r in rows], configured_areas()))
    except KeyError:
        members = {r.code for r in rows}
    return [(r.lat, r.lon) for r in rows if r.code in members and r.lat is not None]


def load_area_daily(session: Session, area: str, start: date, end_before: date) -> Any:
    """Area daily AQI and PM2.5 for ``start <= day < end_before``: ``day, aqi, pm25_24h``."""
    rows = session.execute(
        select(DailyStat.day, DailyStat.variable, DailyStat.value).where(
            DailyStat.area == area,
            DailyStat.station_id.is_(None),
            DailyStat.day >= start,
            DailyStat.day < end_before,
            DailyStat.variable.in_(["aqi", "pm25_24h"]),
        )
    ).all()
    if not rows:
        return pd.DataFrame(columns=["day", "aqi", "pm25_24h"])
    frame = pd.DataFrame(rows, columns=["day", "variable", "value"])
    wide = frame.pivot_table(index="day", columns="variable", values="value", aggfunc="first")
    return wide.reindex(columns=["aqi", "pm25_24h"]).reset_index()


def targets_for(session: Session, cfg: CampaignFile, area: str, day: date) -> dict | None:
    plan = cfg.plan(district_for_area(cfg, area), day.year)
    if plan.targets is None:
        return None
    daily = load_area_daily(session, area, date(day.year, 1, 1), day)
    if daily.empty:
        return None
    return target_status(daily, plan.targets, day)


def issue_number(session: Session, area: str, day: date, now: datetime) -> int:
    """The prompt's number (第N期) of ``area`` on ``day``: the stored one on a rerun, else
    the next in the area's year, stored with the prompt."""
    row = session.scalars(
        select(PromptIssue).where(PromptIssue.area == area, PromptIssue.issue_date == day)
    ).first()
    if row is not None:
        return row.number
    last = session.scalar(
        select(func.max(PromptIssue.number)).where(
            PromptIssue.area == area, PromptIssue.year == day.year
        )
    )
    number = (last or 0) + 1
    session.add(
        PromptIssue(
            area=area, year=day.year, number=number, issue_date=day, created_at=_naive_utc(now)
        )
    )
    session.flush()
    return number


# Daily statistics that make the daily AQI (HJ 633), for naming yesterday's primary pollutant.
_AQI_INPUTS = ("pm25_24h", "pm10_24h", "o3_mda8", "o3_1h_max", "no2_24h", "so2_24h", "co_24h")


def yesterday_observed(session: Session, area: str, day: date) -> dict | None:
    """What the prompt of ``day`` says about the day before: the area's observed AQI, level,
    primary pollutant and O3, the station with the highest AQI, and what yesterday's
    published prompt forecast (its levels, its critical value). None without an observed
    AQI."""
    from aqcast.configuration import area_stations
    from aqcast.service.configured import configured_areas

    y = day - timedelta(days=1)
    rows = session.execute(
        select(DailyStat.variable, DailyStat.value).where(
            DailyStat.area == area, DailyStat.station_id.is_(None), DailyStat.day == y
        )
    ).all()
    stats = {r.variable: r.value for r in rows if r.value is not None}
    if stats.get("aqi") is None:
        return None
    _, primary, _ = daily_aqi({k: stats[k] for k in _AQI_INPUTS if k in stats})
    out: dict[str, Any] = {
        "date": y.isoformat(),
        "aqi": stats["aqi"],
        "primary": list(primary) if stats["aqi"] > 50 else [],
        "o3_mda8": stats.get("o3_mda8"),
        "o3_1h_max": stats.get("o3_1h_max"),
    }
    stations = session.execute(
        select(Station.code, Station.name, Station.name_zh, DailyStat.value)
        .join(Station, Station.id == DailyStat.station_id)
        .where(DailyStat.day == y, DailyStat.variable == "aqi", DailyStat.value.is_not(None))
    ).all()
    try:
        members = set(area_stations(area, [r.code for r in stations], configured_areas()))
    except KeyError:
        members = {r.code for r in stations}
    inside = [r for r in stations if r.code in members]
    if inside:
        worst = max(inside, key=lambda r: r.value)
        out["worst_station"] = {
            "code": worst.code,
            "name": worst.name,
            "name_zh": worst.name_zh or worst.name,
            "aqi": worst.value,
        }
    event = session.get(AlertEvent, event_id(f"prompt|{area}|{y.isoformat()}"))
    if event is not None:
        zh = ((event.payload or {}).get("prompt") or {}).get("zh") or {}
        levels = (zh.get("today") or {}).get("level_range")
        if not levels and event.level:  # a prompt stored before level ranges were kept
            number = next((lv.number for lv in AQI_LEVELS if lv.en == event.level), None)
            levels = [number, number] if number else None
        if levels:
            out["forecast_levels"] = list(levels)
        crit = (zh.get("critical") or {}).get("critical_value_ugm3")
        if crit is not None:
            out["critical_value_ugm3"] = crit
    return out


def _warning_before(
    row: WarningState | None, issue_date: date
) -> tuple[WarningStatus, list[str], bool]:
    """The state this issue decides from, the CAP references, and whether it may write."""
    if row is None:
        return WarningStatus(), [], True
    detail = row.detail or {}
    if row.updated_on == issue_date and "before" in detail:  # a rerun of the same issue
        return status_from_json(detail["before"]), list(detail.get("cap_refs_before") or []), True
    current = WarningStatus.from_row(row.level, row.since, row.until, row.updated_on, detail)
    if row.updated_on is not None and row.updated_on > issue_date:
        return current, list(detail.get("cap_refs") or []), False  # a past day replayed
    return current, list(detail.get("cap_refs") or []), True


def current_warning(session: Session, area: str) -> WarningStatus | None:
    row = session.get(WarningState, area)
    if row is None:
        return None
    return WarningStatus.from_row(row.level, row.since, row.until, row.updated_on, row.detail)


def issue_alerts(
    engine: Engine,
    forecast: Any,
    *,
    now: datetime,
    config: CampaignFile | None = None,
    areas: Sequence[str] | None = None,
) -> list[AlertEvent]:
    """Decide and store the morning's alert events for every area of ``forecast`` (or only
    those of ``areas``).

    Returns the events of this issue (those stored earlier by a rerun included).
    """
    cfg = config or current_campaign()
    events: list[AlertEvent] = []
    for area in fv.forecast_areas(forecast):
        if areas is not None and area not in areas:
            continue
        with session_scope(engine) as session:
            events.extend(_issue_area(session, forecast, area, cfg, now))
    return events


@dataclass
class _AreaIssue:
    """What the three steps of one area's publication share."""

    session: Session
    forecast: Any
    area: str
    day: date
    cfg: CampaignFile
    rules: RuleSet
    now: datetime  # as given (aware or naive UTC)
    now_db: datetime  # naive UTC, as stored
    base_url: str
    cap_common: dict
    official: dict | None  # the city's warning in force, or None


@dataclass
class _WarningStep:
    state: WarningStatus
    transitions: list[dict]
    assessment: Any
    events: list[AlertEvent]


def _issue_area(
    session: Session, forecast: Any, area: str, cfg: CampaignFile, now: datetime
) -> list[AlertEvent]:
    """Publish one area's issue: the warning, then the advisories, then the prompt that
    reports both (stored first in the returned list)."""
    issue = _area_issue(session, forecast, area, cfg, now)
    warning = _publish_warning(issue)
    advisories, advisory_events = _publish_advisories(issue)
    prompt = _publish_prompt(issue, warning, advisories)
    return [prompt, *warning.events, *advisory_events]


def _area_issue(
    session: Session, forecast: Any, area: str, cfg: CampaignFile, now: datetime
) -> _AreaIssue:
    settings = get_settings()
    tz = settings.tz
    d = fv._as_date(forecast.issue_date)
    district = district_for_area(cfg, area)
    now_db = _naive_utc(now)
    points = area_points(session, area)
    shape = area_shape(points, cfg.cap.margin_km) if points else {}
    cap_common = dict(
        sent=_aware(now),
        tz=tz,
        sender=cfg.cap.sender,
        sender_name=cfg.cap.sender_name,
        area_name=cfg.districts[district].name,
        shape=shape,
    )
    # The city's warning in force (an input), carried beside the district's own decision.
    from aqcast.service.official import official_for_day

    issued_at = getattr(forecast, "issued_at", None) or now_db
    official = official_for_day(session, area, d, _naive_utc(issued_at), tz)
    return _AreaIssue(
        session=session,
        forecast=forecast,
        area=area,
        day=d,
        cfg=cfg,
        rules=rules_for(cfg, area, d),
        now=now,
        now_db=now_db,
        base_url=settings.public_base_url.rstrip("/"),
        cap_common=cap_common,
        official=official,
    )


def _publish_warning(issue: _AreaIssue) -> _WarningStep:
    """Decide the warning from the stored state, store one event (with its CAP message)
    per transition and the new state."""
    session, area, d, rules = issue.session, issue.area, issue.day, issue.rules
    forecast, official = issue.forecast, issue.official
    row = session.get(WarningState, area)
    before, refs, writable = _warning_before(row, d)
    assessment = assess(fv.daily_aqi_forecasts(forecast, area), rules, d, before.memory)
    if writable:
        state, transitions = next_state(before, fv.daily_aqi_forecasts(forecast, area), rules, d)
    else:
        state, transitions = before, []
    refs_before = list(refs)
    events: list[AlertEvent] = []
    for t in transitions:
        key = f"warning|{area}|{d.isoformat()}|{t['action']}|{t['to_level']}"
        eid = event_id(key)
        identifier = f"aqcast-{eid}"
        xml = warning_cap(
            t,
            identifier=identifier,
            rules=rules,
            references=refs or None,
            web=f"{issue.base_url}/v1/events/{eid}",
            official=official,
            **issue.cap_common,
        ).decode()
        payload = {**transition_json(t), "rule_set": rules.name, "cap_xml": xml}
        if official is not None:
            payload["official"] = official  # the state in force; this change is 会商建议
            payload["consultation"] = True
        ev, _ = record_event(
            session,
            type="warning",
            area=area,
            issue_date=d,
            start_date=t["start_date"],
            end_date=t["end_date"],
            payload=payload,
            dedup_key=key,
            level=t["level"],
            now=issue.now_db,
        )
        events.append(ev)
        # The stored message (the first run's, on a rerun) is the one later Updates reference.
        stored = (ev.payload or {}).get("cap_xml", xml)
        sent = stored.split("<sent>", 1)[1].split("</sent>", 1)[0]
        refs = (
            []
            if t["action"] == "lifted"
            else [*refs, reference(issue.cfg.cap.sender, identifier, sent)]
        )
    if writable:
        if row is None:
            row = WarningState(area=area)
            session.add(row)
        row.level, row.since, row.until, row.updated_on = (
            state.level,
            state.since,
            state.until,
            state.updated_on,
        )
        row.detail = {
            **state.to_detail(),
            "before": status_to_json(before),
            "cap_refs": refs,
            "cap_refs_before": refs_before,
        }
    return _WarningStep(state, transitions, assessment, events)


def _publish_advisories(issue: _AreaIssue) -> tuple[list[dict], list[AlertEvent]]:
    """The day's sector advisories, one event (with its CAP message) each."""
    d = issue.day
    advisories = day_advisories(issue.forecast, issue.area, issue.cfg, d)
    events: list[AlertEvent] = []
    for adv in advisories:
        key = f"advisory|{issue.area}|{d.isoformat()}|{adv['sector']}"
        eid = event_id(key)
        xml = advisory_cap(
            adv,
            identifier=f"aqcast-{eid}",
            web=f"{issue.base_url}/v1/events/{eid}",
            **issue.cap_common,
        ).decode()
        ev, _ = record_event(
            issue.session,
            type="advisory",
            area=issue.area,
            issue_date=d,
            start_date=d,
            end_date=d,
            payload={**adv, "cap_xml": xml},
            dedup_key=key,
            level="advisory",
            now=issue.now_db,
        )
        events.append(ev)
    return advisories, events


def _publish_prompt(issue: _AreaIssue, warning: _WarningStep, advisories: list[dict]) -> AlertEvent:
    """The prompt in both languages, numbered, with yesterday's facts and the dispatch
    sentence, as one event."""
    session, area, d, cfg = issue.session, issue.area, issue.day, issue.cfg
    official = issue.official
    targets = targets_for(session, cfg, area, d)
    number = issue_number(session, area, d, issue.now)
    yesterday = yesterday_observed(session, area, d)
    prompts = {
        lang: build_prompt(
            issue.forecast,
            area,
            cfg,
            lang=lang,
            warning=warning.state,
            transitions=warning.transitions,
            targets=targets,
            advisories=advisories,
            warning_rules=issue.rules,
            number=number,
            yesterday=_station_names(yesterday, lang),
            official=official,
            assessment=warning.assessment,
        )
        for lang in PROMPT_LANGS
    }
    prompts = _with_dispatch(session, prompts, d, area)
    ev, _ = record_event(
        session,
        type="prompt",
        area=area,
        issue_date=d,
        start_date=d,
        end_date=d,
        payload={
            "issue_date": d.isoformat(),
            "area": area,
            "prompt": prompts,
            **({"official": official} if official is not None else {}),
        },
        dedup_key=f"prompt|{area}|{d.isoformat()}",
        level=today_level(issue.forecast, area, d),
        now=issue.now_db,
    )
    return ev


def _with_dispatch(session: Session, prompts: dict, day: date, area: str) -> dict:
    """The prompts with the dispatch sentence when registered enterprises are concerned by
    the day's advisories (the page and the API bring it up to date later)."""
    from aqcast.alerts.prompt import add_dispatch
    from aqcast.service.acknowledgements import coverage_totals

    session.flush()  # the advisories' deliveries were just queued
    totals = coverage_totals(session, day, area)
    if not totals["concerned"]:
        return prompts
    return {lang: add_dispatch(p, totals) for lang, p in prompts.items()}


def preview_prompt(
    session: Session, forecast: Any, area: str, cfg: CampaignFile, *, lang: str
) -> dict:
    """The prompt ``issue_alerts`` would publish for ``area`` now, without storing anything:
    the warning is decided from the same state the publication would start from, so a
    preview never misses a warning that publishing would issue."""
    from aqcast.service.official import official_for_day

    d = fv._as_date(forecast.issue_date)
    rules = rules_for(cfg, area, d)
    before, _, writable = _warning_before(session.get(WarningState, area), d)
    # The city's warning in force, carried as the published prompt carries it.
    issued_at = getattr(forecast, "issued_at", None) or datetime.now(UTC)
    official = official_for_day(session, area, d, _naive_utc(issued_at), get_settings().tz)
    assessment = assess(fv.daily_aqi_forecasts(forecast, area), rules, d, before.memory)
    if writable:
        state, transitions = next_state(before, fv.daily_aqi_forecasts(forecast, area), rules, d)
    else:
        state, transitions = before, []
    return build_prompt(
        forecast,
        area,
        cfg,
        lang=lang,
        warning=state,
        transitions=transitions,
        targets=targets_for(session, cfg, area, d),
        advisories=day_advisories(forecast, area, cfg, d),
        warning_rules=rules,
        preview=True,
        yesterday=_station_names(yesterday_observed(session, area, d), lang),
        official=official,
        assessment=assessment,
    )


def _station_names(y: dict | None, lang: str) -> dict | None:
    """Yesterday's facts with the station named in ``lang`` (the Chinese name in zh)."""
    if y is None or "worst_station" not in y:
        return y
    w = y["worst_station"]
    return {**y, "worst_station": {**w, "name": w["name_zh"] if lang == "zh" else w["name"]}}


def published_prompt(session: Session, area: str, day: date) -> AlertEvent | None:
    """The prompt event published for ``area`` and ``day``, if any."""
    return session.get(AlertEvent, event_id(f"prompt|{area}|{day.isoformat()}"))


def check_critical_crossing(
    engine: Engine,
    area: str,
    day: date,
    observed_hours: Sequence[float],
    forecast: Any,
    now: datetime,
) -> AlertEvent | None:
    """Store a ``critical_value_crossed`` event the first time ``day``'s observed O3
    reaches the morning critical value of ``forecast`` (None when not crossed, or when
    the forecast has no critical value for the area and day)."""
    crit = fv.critical(forecast, area, day)
    if crit is None or not observed_hours:
        return None
    result = critical_crossing(
        observed_hours, crit["critical_value_ugm3"], fv.hourly_profile(forecast, area, day)
    )
    if result is None:
        return None
    key = f"critical|{area}|{day.isoformat()}"
    with session_scope(engine) as session:
        payload = {"area": area, "day": day.isoformat(), **result}
        if session.get(AlertEvent, event_id(key)) is None:
            payload["cap_xml"] = _critical_cap(session, area, day, result, now, event_id(key))
        ev, _ = record_event(
            session,
            type="critical_value_crossed",
            area=area,
            issue_date=day,
            start_date=day,
            end_date=day,
            payload=payload,
            dedup_key=key,
            level="o3",
            now=_naive_utc(now),
        )
    return ev


def _critical_cap(
    session: Session, area: str, day: date, crossing: dict, now: datetime, eid: str
) -> str:
    """The CAP message of a critical-value crossing, made like the warnings' and the
    advisories' (campaign sender, the area's shape, local offsets)."""
    settings = get_settings()
    cfg = current_campaign()
    points = area_points(session, area)
    district = district_for_area(cfg, area)
    xml = critical_value_cap(
        crossing,
        day=day,
        identifier=f"aqcast-{eid}",
        sent=_aware(now),
        tz=settings.tz,
        sender=cfg.cap.sender,
        sender_name=cfg.cap.sender_name,
        area_name=cfg.districts[district].name,
        shape=area_shape(points, cfg.cap.margin_km) if points else {},
        web=f"{settings.public_base_url.rstrip('/')}/v1/events/{eid}",
    )
    return xml.decode()


EXCEEDANCE_RISK_EVENT = "ozone_exceedance_risk"


def _lead0_profile(forecast: Any, area: str, day: date) -> pd.DataFrame | None:
    prof = getattr(forecast, "hourly_o3", None)
    if prof is None or len(prof) == 0:
        return None
    sel = prof[
        (prof["area"] == area)
        & (prof["station"].fillna("") == "")
        & (pd.to_datetime(prof["target_date"]).dt.date == day)
    ]
    if len(sel) != 24:
        return None
    return sel[["hour", "q10", "q50", "q90"]].astype(float)


def check_exceedance_probability(
    engine: Engine,
    area: str,
    day: date,
    observed_hours: Sequence[float],
    forecast: Any,
    now: datetime,
    levels: Any = None,
) -> list[AlertEvent]:
    """Store an ``ozone_exceedance_risk`` event the first time in ``day`` that the
    intraday P(MDA8 > 160) reaches each configured level (campaign.yaml ``intraday``), and
    one when exceedance is certain; once per level and day (the dedup key names them).
    Returns the events stored or found for the levels reached now."""
    from aqcast.alerts.texts import text as phrase
    from aqcast.features.intraday import STATUS_EN, STATUS_ZH
    from aqcast.models.hourly import intraday_update

    levels = levels or current_campaign().intraday
    profile = _lead0_profile(forecast, area, day)
    payload = getattr(forecast, "intraday", None) or {}
    if profile is None or not payload or not observed_hours:
        return []
    obs = [float(v) if v is not None else math.nan for v in observed_hours]
    upd = intraday_update(
        obs, profile, payload, near_certain=levels.near_certain, no_risk=levels.no_risk
    )
    if upd.p_mda8_exceed is None:
        return []
    reached = [f"{lv:g}" for lv in levels.event_levels if upd.p_mda8_exceed >= lv]
    if upd.status == "exceeded":
        reached.append("certain")
    events = []
    pct = round(100 * upd.p_mda8_exceed)
    hour = len(obs)
    for key in reached:
        words = {"zh": STATUS_ZH[upd.status], "en": STATUS_EN[upd.status]}
        text = {
            lang: phrase("o3risk_headline", lang, hour=hour, pct=pct, status=words[lang])
            for lang in ("zh", "en")
        }
        with session_scope(engine) as session:
            ev, _ = record_event(
                session,
                type=EXCEEDANCE_RISK_EVENT,
                area=area,
                issue_date=day,
                start_date=day,
                end_date=day,
                payload={
                    "area": area,
                    "day": day.isoformat(),
                    "hours_observed": hour,
                    "p_mda8_exceed": round(upd.p_mda8_exceed, 3),
                    "status": upd.status,
                    "status_zh": STATUS_ZH[upd.status],
                    "level_reached": key,
                    "headline": text,
                },
                dedup_key=f"o3risk|{area}|{day.isoformat()}|{key}",
                level="o3",
                now=_naive_utc(now),
            )
        events.append(ev)
    return events
