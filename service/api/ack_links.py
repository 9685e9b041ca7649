"""The one-click acknowledgement link of advisory messages: ``/ack/{token}``, no key.

Opening the link shows the advisory and one button; pressing it (a POST to the same
address) records the acknowledgement, optionally with the slots the work was moved to.
The confirmation is a POST because chat apps and mail scanners open links on their own
to preview them: a GET that acknowledged would confirm advisories nobody read.

Answers: 200 (the form, or acknowledged: pressing again changes nothing), 403 for a
token whose signature fails, 410 for an expired one, 404 when the advisory is gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from aqcast.alerts.texts import LANGS, prefixed_texts
from aqcast.features.timeutil import store_to_local
from aqcast.service.acknowledgements import (
    AckError,
    ExpiredTokenError,
    ForgedTokenError,
    acknowledge,
    advisory_event,
    read_token,
)
from aqcast.service.api.deps import NowDep, SessionDep, SettingsDep
from aqcast.service.tables import Acknowledgement, AlertEvent, Enterprise

router = APIRouter(tags=["acknowledgement links"])
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEXTS = {lang: prefixed_texts("ack_", lang) for lang in LANGS}  # catalogue keys ack_*
Token = Annotated[str, PathParam(min_length=10, max_length=512)]


def _name(obj: object, lang: str) -> str:
    if isinstance(obj, dict):
        return str(obj.get(lang) or obj.get("zh") or obj.get("en") or "")
    return str(obj or "")


def _advisory(event: AlertEvent, enterprise: Enterprise, lang: str) -> dict:
    p = event.payload or {}
    return {
        "enterprise": enterprise.name,
        "sector": _name(p.get("name"), lang) or p.get("sector", ""),
        "date": event.issue_date.isoformat(),
        "avoid": p.get("avoid_text", ""),
        "steps": [_name(s.get("name"), lang) for s in p.get("steps") or [] if isinstance(s, dict)],
        "move_to": [
            {
                "hours": m["hours"],
                "label": f"{_name(m.get('name'), lang)} {m.get('hours_text', '')}",
            }
            for m in p.get("move_to") or []
            if isinstance(m, dict) and isinstance(m.get("hours"), list) and len(m["hours"]) == 2
        ],
    }


def _render(lang: str, state: str, status: int, **ctx: object) -> HTMLResponse:
    html = _env.get_template("ack.html.j2").render(t=TEXTS[lang], lang=lang, state=state, **ctx)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _resolve(session, settings, token: str, now, lang: str):  # noqa: ANN001, ANN202
    """(event, enterprise) or an HTML error answer."""
    secret = settings.ack_link_secret
    if secret is None:
        return None, _render(lang, "invalid", 403)
    try:
        claim = read_token(secret.get_secret_value(), token, now)
    except ExpiredTokenError:
        return None, _render(lang, "expired", 410)
    except ForgedTokenError:
        return None, _render(lang, "invalid", 403)
    enterprise = session.get(Enterprise, claim.enterprise_id)
    try:
        event = advisory_event(session, claim.event_id)
    except AckError:
        event = None
    if event is None or enterprise is None:
        return None, _render(lang, "invalid", 404)
    return (event, enterprise), None


def _local(value, settings) -> str:  # noqa: ANN001
    return store_to_local(value, settings.tz).strftime("%Y-%m-%d %H:%M")


HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
ANSWERS = {
    403: {"description": "Not a valid link (its signature fails).", **HTML},
    404: {"description": "The advisory or the enterprise is gone.", **HTML},
    409: {"description": "The advisory is not for the enterprise's sectors.", **HTML},
    410: {"description": "The link has expired.", **HTML},
}


@router.get(
    "/ack/{token}",
    response_class=HTMLResponse,
    summary="The acknowledgement form",
    responses=ANSWERS,
)
def ack_form(
    token: Token,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    lang: Literal["zh", "en"] = "zh",
) -> HTMLResponse:
    found, error = _resolve(session, settings, token, now, lang)
    if error is not None:
        return error
    event, enterprise = found
    done = session.scalar(
        select(Acknowledgement).where(
            Acknowledgement.event_id == event.id, Acknowledgement.enterprise_id == enterprise.id
        )
    )
    advisory = _advisory(event, enterprise, lang)
    if done is not None:
        return _render(
            lang,
            "done",
            200,
            advisory=advisory,
            acknowledged_at=_local(done.acknowledged_at, settings),
        )
    return _render(lang, "open", 200, advisory=advisory)


@router.post(
    "/ack/{token}",
    response_class=HTMLResponse,
    summary="Acknowledge through the link",
    description="Form field `moved_to` (repeatable, `start-end` hours) is optional.",
    responses=ANSWERS,
)
async def ack_submit(
    request: Request,
    token: Token,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    lang: Literal["zh", "en"] = "zh",
) -> HTMLResponse:
    found, error = _resolve(session, settings, token, now, lang)
    if error is not None:
        return error
    event, enterprise = found
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    moved = []
    for value in form.get("moved_to", [])[:8]:
        start, _, end = value.partition("-")
        if start.isdigit() and end.isdigit():
            moved.append([int(start), int(end)])
    advisory = _advisory(event, enterprise, lang)
    try:
        row, _created = acknowledge(
            session, event, enterprise, now=now, via="link", moved_to=moved or None
        )
    except AckError:
        return _render(lang, "invalid", 409, advisory=advisory)
    return _render(
        lang, "done", 200, advisory=advisory, acknowledged_at=_local(row.acknowledged_at, settings)
    )
