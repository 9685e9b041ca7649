"""The duty officers' page: today's work prompt (``/``) and that of any date
(``/prompt/{date}``), server-rendered HTML in Chinese with an English switch (``?lang=en``).

Who may open it: with ``settings.env`` ``development`` or ``test`` the page is public and
read-only (it shows nothing that is not in the published prompt). In ``production`` it needs
an officer, dispatcher or admin key: the browser is sent to ``/login`` once, where the key
is entered and kept in an HttpOnly, SameSite=Strict cookie (Secure over https); an
``Authorization``/``X-API-Key`` header works too. ``POST /logout`` forgets the cookie.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aqcast.alerts.prompt import baseline_name, input_names
from aqcast.features.places import DEFAULT_AREA
from aqcast.features.timeutil import as_utc, store_to_local
from aqcast.service.api.deps import (
    KEY_COOKIE,
    NowDep,
    SessionDep,
    SettingsDep,
)
from aqcast.service.api.forecast_data import (
    latest_issue_date,
    payload_records,
    run_values,
    select_records,
)
from aqcast.service.api.page_texts import TEXTS, WARNING_LEVELS, aqi_level_name
from aqcast.service.api.svg_chart import ChartLabels, o3_chart_svg
from aqcast.service.api.warnings import active_warnings
from aqcast.service.auth import READ_ROLES, lookup_key
from aqcast.service.forecasts import latest_run
from aqcast.service.settings import Settings
from aqcast.service.tables import AlertEvent, FeedStatus, Observation

log = logging.getLogger(__name__)
router = APIRouter(tags=["page"])
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
Lang = Literal["zh", "en"]
AreaQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


# --- access ----------------------------------------------------------------------------


def page_needs_key(settings: Settings) -> bool:
    return settings.env == "production"


def page_key_ok(request: Request, session: Session) -> bool:
    auth = request.headers.get("authorization", "")
    key = (
        auth[7:].strip()
        if auth.lower().startswith("bearer ")
        else request.headers.get("x-api-key") or request.cookies.get(KEY_COOKIE)
    )
    if not key:
        return False
    row = lookup_key(session, key)
    return row is not None and row.role in READ_ROLES


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host): no open redirect via /login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- content ---------------------------------------------------------------------------


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def area_label(settings: Settings, area: str, lang: str) -> str:
    """The area's configured name in ``lang`` (its code when it is not configured)."""
    from aqcast.configuration import ConfigError, load_areas

    try:
        spec = load_areas(settings.areas_file).areas.get(area)
    except ConfigError:
        log.warning("areas file unreadable; the page shows area codes", exc_info=True)
        return area
    if spec is None:
        return area
    return (spec.name_zh if lang == "zh" else spec.name) or spec.name or area


def local_time(value: datetime | None, settings: Settings) -> str | None:
    if value is None:
        return None
    return store_to_local(value, settings.tz).strftime("%Y-%m-%d %H:%M")


@dataclass
class PageData:
    """What the page reads from the store for one issue date and area: the day's stored
    run, its area values and payload records, the warnings in force, the advisories."""

    run: Any
    values: list
    critical: list[dict]
    hourly: list[dict]
    risk: list[dict]
    warnings: list
    advisories: list[dict]


def page_data(session: Session, day: date, area: str) -> PageData | None:
    """The queries behind the page; None when no run was stored for ``day``."""
    run = latest_run(session, day)
    if run is None:
        return None
    crit = select_records(payload_records(run, "critical"), area=area, target_date=day)
    hourly = sorted(
        (
            r
            for r in select_records(payload_records(run, "hourly_o3"), area=area, target_date=day)
            if not r.get("station") and r.get("hour") is not None
        ),
        key=lambda r: int(r["hour"]),
    )
    advisories = session.scalars(
        select(AlertEvent)
        .where(
            AlertEvent.type == "advisory",
            AlertEvent.issue_date == day,
            AlertEvent.area == area,
        )
        .order_by(AlertEvent.id)
    )
    return PageData(
        run=run,
        values=list(run_values(session, run.id, area=area, station="")),
        critical=[c for c in crit if not c.get("station")],
        hourly=hourly,
        risk=[
            r
            for r in select_records(payload_records(run, "risk"), area=area)
            if str(r.get("target_date", ""))[:10] >= day.isoformat()
        ],
        warnings=list(active_warnings(session, area)),
        advisories=[e.payload or {} for e in advisories],
    )


def page_context(
    session: Session, settings: Settings, day: date, *, area: str, lang: str, now: datetime
) -> dict[str, Any]:
    """Everything the page shows for issue date ``day`` in ``area`` (``now`` naive UTC)."""
    t = TEXTS[lang]
    ctx: dict[str, Any] = {
        "t": t,
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "day": day,
        "area": area,
        "area_name": area_label(settings, area, lang),
        "freshness": freshness(session, settings, now, lang),
    }
    data = page_data(session, day, area)
    if data is None:
        latest = latest_issue_date(session)
        ctx.update(has_forecast=False, latest=latest)
        return ctx
    run = data.run
    observed, probability_text = _intraday_view(session, settings, run, area, day, now, t, lang)
    ctx.update(
        has_forecast=True,
        run=run_view(run, settings, lang),
        **forecast_view(data, lang, t, observed=observed, probability_text=probability_text),
        official=_official_view(session, area, day, run.issued_at, lang, settings),
        prompt_text=prompt_text(session, day, area, lang),
        coverage=coverage_view(session, settings, day, area, lang),
        verification=_verification(session, day, area, lang),
    )
    return ctx


def run_view(run: Any, settings: Settings, lang: str) -> dict[str, Any]:
    """How the stored run was made, for the page's header."""
    return {
        "issued_at": local_time(run.issued_at, settings),
        "method": run.method,
        "fallback": run.method.startswith("fallback"),
        "met_mode": run.met_mode,
        "missing_inputs": input_names(list(run.missing_inputs or []), lang),
        "baseline": baseline_name(run.method, lang),
        "model_version": run.model_version,
    }


def forecast_view(
    data: PageData,
    lang: str,
    t: dict[str, str],
    *,
    observed: list | None,
    probability_text: str | None,
) -> dict[str, Any]:
    """The view model of the stored forecast: today's values, the PM2.5 outlook, the
    critical value and the O3 chart, the risk, the warnings and the advisories."""
    by = {(v.variable, v.lead_days): v for v in data.values}

    def cell(variable: str, lead: int) -> dict | None:
        v = by.get((variable, lead))
        if v is None or _num(v.q50) is None:
            return None
        return {
            "q10": _num(v.q10),
            "q50": _num(v.q50),
            "q90": _num(v.q90),
            "p_exceed": _num(v.p_exceed),
            "threshold": _num(v.threshold),
            "target_date": v.target_date,
        }

    today = {k: cell(k, 0) for k in ("aqi", "o3_mda8", "o3_1h_max", "pm25_24h", "pm10_24h")}
    if today["aqi"] is not None:
        today["aqi"]["level"] = aqi_level_name(today["aqi"]["q50"], lang)
    leads = sorted({lead for (_var, lead) in by})
    pm25 = [
        {"lead": lead, **c}
        for lead in leads
        if lead <= 3 and (c := cell("pm25_24h", lead)) is not None
    ]
    for row in pm25:
        aqi = cell("aqi", row["lead"])
        row["aqi_level"] = aqi_level_name(aqi["q50"], lang) if aqi else None

    critical = None
    crit = data.critical
    if crit and _num(crit[0].get("critical_value_ugm3")) is not None:
        c = crit[0]
        critical = {
            "value": _num(c["critical_value_ugm3"]),
            "peak_hour": c.get("peak_hour"),
            "likely_hours": sorted(int(h) for h in c.get("likely_hours") or []),
        }
    return {
        "today": today,
        "pm25": pm25,
        "critical": critical,
        "chart": _chart(data.hourly, critical, t, observed, probability_text),
        "risk": [{**r, "adverse_names": _adverse_names(r, lang)} for r in data.risk],
        "warnings": [
            {
                "level": w.level,
                "name": WARNING_LEVELS.get(w.level, {}).get(lang, w.level),
                "since": w.since,
                "until": w.until,
            }
            for w in data.warnings
        ],
        "advisories": [advisory_view(p, lang) for p in data.advisories],
    }


def _chart(
    hourly: list[dict],
    critical: dict | None,
    t: dict[str, str],
    observed: list | None,
    probability_text: str | None,
) -> str | None:
    """The day's hourly O3 chart (SVG), or None without an hourly forecast."""
    if not hourly:
        return None
    return o3_chart_svg(
        [int(r["hour"]) for r in hourly],
        [_num(r.get("q50")) for r in hourly],
        q10_ugm3=[_num(r.get("q10")) for r in hourly],
        q90_ugm3=[_num(r.get("q90")) for r in hourly],
        critical_value_ugm3=critical["value"] if critical else None,
        likely_hours=critical["likely_hours"] if critical else (),
        labels=ChartLabels(
            title=t["chart_title"],
            x_axis=t["x_axis"],
            y_axis=t["y_axis"],
            median=t["median"],
            band=t["band"],
            critical=t["critical_short"],
            likely=t["likely"],
            observed=t["observed"],
        ),
        observed_ugm3=observed,
        probability_text=probability_text,
    )


def coverage_view(
    session: Session, settings: Settings, day: date, area: str, lang: str
) -> list[dict] | None:
    """Per sector with an advisory: registered, notified, delivered, acknowledged and the
    enterprises still to call (contacts only where the page needs a key)."""
    from aqcast.service.acknowledgements import coverage
    from aqcast.service.configured import current_campaign

    cfg = current_campaign()
    cov = coverage(session, day, area, list(cfg.sectors))
    advised = {
        (e.payload or {}).get("sector")
        for e in session.scalars(
            select(AlertEvent).where(
                AlertEvent.type == "advisory",
                AlertEvent.issue_date == day,
                AlertEvent.area == area,
            )
        )
    }
    rows = []
    for sector, block in cov["sectors"].items():
        if sector not in advised or not block["registered"]:
            continue
        name = cfg.sectors[sector].name(lang) if sector in cfg.sectors else sector
        rows.append(
            {
                "sector": name,
                **{k: block[k] for k in ("registered", "notified", "delivered", "acknowledged")},
                "pending": [
                    {"name": p["name"], "contact": p["contact"] if page_needs_key(settings) else ""}
                    for p in block["pending"]
                ],
            }
        )
    return rows or None


def _verification(session: Session, day: date, area: str, lang: str) -> dict:
    """The last 30 days' verification up to the day before ``day`` (the page's day is not
    observed yet)."""
    from datetime import timedelta

    from aqcast.service.api.verification import recent_verification

    v = recent_verification(session, area=area, end=day - timedelta(days=1), days=30)
    t = TEXTS[lang]
    for row in v["exceedances"]:
        row["name"] = t[f"verif_{row['variable']}"]
    return v


def _intraday_view(
    session: Session,
    settings: Settings,
    run: Any,
    area: str,
    day: date,
    now: datetime,
    t: dict,
    lang: str,
) -> tuple[list[float] | None, str | None]:
    """On the day itself: the area's hours observed so far and the current probability
    that MDA8 exceeds 160 (models.hourly.intraday_update); nothing on other days."""
    import pandas as pd

    from aqcast.features.intraday import STATUS_EN, STATUS_ZH
    from aqcast.models.hourly import intraday_update
    from aqcast.service.configured import current_campaign
    from aqcast.service.observations import observed_area_o3_hours

    if local_today(settings, now) != day:
        return None, None
    try:
        observed = observed_area_o3_hours(
            session.connection(), area, day, settings.timezone, until=as_utc(now)
        )
    except KeyError:
        return None, None
    profile = [
        r
        for r in select_records(payload_records(run, "hourly_o3"), area=area, target_date=day)
        if not r.get("station")
    ]
    payload = (run.payload or {}).get("intraday") or {}
    if not observed or len(profile) != 24 or not payload:
        return observed or None, None
    frame = pd.DataFrame(profile).reindex(columns=["hour", "q10", "q50", "q90"]).astype(float)
    levels = current_campaign().intraday
    upd = intraday_update(
        observed, frame, payload, near_certain=levels.near_certain, no_risk=levels.no_risk
    )
    if upd.p_mda8_exceed is None or upd.status is None:
        return observed, None
    words = STATUS_ZH if lang == "zh" else STATUS_EN
    text = t["p_now"].format(
        hour=len(observed), pct=round(100 * upd.p_mda8_exceed), status=words[upd.status]
    )
    return observed, text


def advisory_view(payload: dict, lang: str) -> dict:
    def name(obj: Any) -> str:
        if isinstance(obj, dict):
            return str(obj.get(lang) or obj.get("zh") or obj.get("en") or "")
        return str(obj or "")

    return {
        "sector": name(payload.get("name")) or str(payload.get("sector", "")),
        "avoid": payload.get("avoid_text") or "",
        "steps": [name(s.get("name")) for s in payload.get("steps") or [] if isinstance(s, dict)],
        "move_to": [
            f"{name(m.get('name'))} {m.get('hours_text', '')}".strip()
            for m in payload.get("move_to") or []
            if isinstance(m, dict)
        ],
    }


def prompt_text(session: Session, day: date, area: str, lang: str) -> str | None:
    """The published prompt's text for ``day`` (from its alert event), if there is one."""
    event = session.scalars(
        select(AlertEvent)
        .where(AlertEvent.type == "prompt", AlertEvent.issue_date == day, AlertEvent.area == area)
        .order_by(AlertEvent.created_at.desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    from aqcast.service.acknowledgements import live_prompt_payload

    return text_of_prompt(live_prompt_payload(session, event), lang)


def text_of_prompt(payload: dict, lang: str) -> str | None:
    """The prompt text in ``lang`` from a prompt event's payload: the structured prompt
    ``service.publishing`` stores per language (``prompt: {zh: {...}, en: {...}}``, built by
    ``alerts.prompt.build_prompt``), rendered by ``alerts.prompt.render_prompt``."""
    from aqcast.alerts.prompt import render_prompt

    prompts = payload.get("prompt")
    structured = prompts.get(lang) if isinstance(prompts, dict) else None
    if not isinstance(structured, dict):
        return None
    try:
        return render_prompt(structured, "text")
    except Exception:  # noqa: BLE001 - a payload the renderer cannot read shows no text
        log.warning("prompt payload could not be rendered as text", exc_info=True)
        return None


def freshness(session: Session, settings: Settings, now: datetime, lang: str) -> dict:
    t = TEXTS[lang]
    latest_obs = session.scalar(select(func.max(Observation.time)))
    stale_after = timedelta(hours=settings.feed_stale_after_hours)
    feeds = []
    for f in session.scalars(select(FeedStatus).order_by(FeedStatus.feed)):
        if f.latest_data_time is None:
            status, css = t["feed_never"], "bad"
        elif now - f.latest_data_time > stale_after:
            status, css = t["feed_stale"], "bad"
        else:
            status, css = t["feed_ok"], "ok"
        feeds.append(
            {
                "feed": f.feed,
                "status": status,
                "css": css,
                "latest": local_time(f.latest_data_time, settings),
                "error": f.last_error if css == "bad" else None,
            }
        )
    return {"latest_obs": local_time(latest_obs, settings), "feeds": feeds}


def render_page(context: dict[str, Any]) -> str:
    return _env.get_template("page.html.j2").render(**context)


def render_prompt_html(
    session: Session, settings: Settings, day: date, *, area: str, lang: str, now: datetime
) -> str:
    return render_page(page_context(session, settings, day, area=area, lang=lang, now=now))


def local_today(settings: Settings, now_utc: datetime) -> date:
    return store_to_local(now_utc, settings.tz).date()


# --- routes ----------------------------------------------------------------------------


def _page(
    request: Request,
    session: Session,
    settings: Settings,
    day: date,
    area: str,
    lang: str,
    now: datetime,
) -> Response:
    if page_needs_key(settings) and not page_key_ok(request, session):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}&lang={lang}", status_code=303)
    html = render_prompt_html(session, settings, day, area=area, lang=lang, now=now)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get(
    "/",
    response_class=HTMLResponse,
    summary="Today's work prompt (page)",
    description="The duty officers' page for today's issue date (local time).",
)
def today_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    lang: Lang = "zh",
    area: AreaQuery = DEFAULT_AREA,
) -> Response:
    return _page(request, session, settings, local_today(settings, now), area, lang, now)


@router.get(
    "/prompt/{day}",
    response_class=HTMLResponse,
    summary="Work prompt of a date (page)",
    description="The duty officers' page for issue date `day`.",
)
def day_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    day: Annotated[date, PathParam(description="Issue date (local).")],
    lang: Lang = "zh",
    area: AreaQuery = DEFAULT_AREA,
) -> Response:
    return _page(request, session, settings, day, area, lang, now)


@router.get("/login", response_class=HTMLResponse, summary="Sign-in form for the page")
def login_form(lang: Lang = "zh", next: str = "/") -> HTMLResponse:  # noqa: A002
    html = _env.get_template("login.html.j2").render(
        t=TEXTS[lang], lang=lang, next=_safe_next(next), error=False
    )
    return HTMLResponse(html)


@router.post(
    "/login",
    response_class=HTMLResponse,
    summary="Sign in to the page with an API key",
    description="Form fields `key` and `next`; sets an HttpOnly cookie and redirects.",
    responses={303: {"description": "Signed in."}, 401: {"description": "Bad key."}},
)
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    lang = "en" if (form.get("lang") or ["zh"])[0] == "en" else "zh"
    row = lookup_key(session, key) if key else None
    if row is None or row.role not in READ_ROLES:
        html = _env.get_template("login.html.j2").render(
            t=TEXTS[lang], lang=lang, next=target, error=True
        )
        return HTMLResponse(html, status_code=401)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        KEY_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=settings.public_base_url.startswith("https"),
        max_age=12 * 3600,
    )
    return resp


@router.post(
    "/logout",
    response_class=RedirectResponse,
    status_code=303,
    summary="Forget the page's key",
)
def logout() -> RedirectResponse:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(KEY_COOKIE)
    return resp


def _adverse_names(record: dict, lang: str) -> str:
    """The adverse-weather conditions of a risk record, in words ("" when not adverse)."""
    if not record.get("adverse"):
        return ""
    from aqcast.alerts.texts import Say

    say = Say(lang)
    names = []
    for key in [k for k in str(record.get("adverse_conditions") or "").split("+") if k]:
        try:
            names.append(say(f"cond_{key}"))
        except KeyError:
            names.append(key)
    return say.join(names)


def _official_view(session, area, day, issued_at, lang, settings) -> list[str]:  # noqa: ANN001
    """The city's warning the prompt of ``day`` carries, as the prompt says it."""
    from aqcast.alerts.cap import OFFICIAL_LEVEL_NAMES, RESPONSE_NAMES
    from aqcast.alerts.texts import Say
    from aqcast.service.official import official_for_day

    o = official_for_day(session, area, day, issued_at, settings.tz)
    if o is None:
        return []
    from datetime import datetime as _dt

    say = Say(lang)
    start = _dt.fromisoformat(o["start"])
    end = _dt.fromisoformat(o["end"]) if o.get("end") else None
    return [
        say(
            "official_active",
            level=OFFICIAL_LEVEL_NAMES[o["level"]](lang),
            response=RESPONSE_NAMES[o["response"]](lang),
            start=f"{say.date(start.date(), short=True)} {start:%H}:00",
            until=say("official_until", end=f"{say.date(end.date(), short=True)} {end:%H}:00")
            if end
            else "",
        )
    ]
