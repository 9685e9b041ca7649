"""The morning work prompt (工作提示) of a date: JSON, plain text or HTML.

A published prompt is an alert event of type ``prompt``; its payload holds the structured
prompt per language (``payload.prompt.zh``/``payload.prompt.en``), rendered to text here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aqcast.features.places import DEFAULT_AREA
from aqcast.features.timeutil import as_utc_or_none
from aqcast.service.acknowledgements import live_prompt_payload
from aqcast.service.api.deps import NowDep, ReaderKey, SessionDep, SettingsDep
from aqcast.service.api.errors import ApiError, error_responses
from aqcast.service.api.events import filter_events
from aqcast.service.api.page import render_prompt_html, text_of_prompt
from aqcast.service.api.pagination import PAGINATION_DOC, Page, PageDep, make_page, paginate
from aqcast.service.tables import AlertEvent

router = APIRouter(prefix="/v1/prompts", tags=["prompts"])
PROMPT_TYPE = "prompt"
AREA_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class PromptSummary(BaseModel):
    issue_date: date
    area: str
    event_id: str
    created_at: datetime


class PromptPublic(PromptSummary):
    lang: Literal["zh", "en"]
    text: str | None = Field(description="The prompt as plain text in `lang`.")
    payload: dict[str, Any] = Field(description="The prompt's structured content.")


def find_prompt(session: Session, day: date, area: str) -> AlertEvent | None:
    return session.scalars(
        select(AlertEvent)
        .where(
            AlertEvent.type == PROMPT_TYPE, AlertEvent.issue_date == day, AlertEvent.area == area
        )
        .order_by(AlertEvent.created_at.desc())
        .limit(1)
    ).first()


def _pdf(event: AlertEvent, lang: str) -> Response:
    from aqcast.service.prompt_pdf import PdfFontMissingError, prompt_pdf

    structured = ((event.payload or {}).get("prompt") or {}).get(lang)
    if not isinstance(structured, dict):
        raise ApiError(404, f"the prompt of {event.issue_date} has no {lang} content for a PDF")
    try:
        data = prompt_pdf(structured)
    except PdfFontMissingError as exc:
        raise ApiError(503, str(exc), code="pdf_font_missing") from exc
    name = f"prompt-{event.area}-{event.issue_date.isoformat()}-{lang}.pdf"
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _format(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    accept = request.headers.get("accept", "")
    if "application/pdf" in accept:
        return "pdf"
    if "text/html" in accept:
        return "html"
    if "text/plain" in accept and "application/json" not in accept:
        return "text"
    return "json"


@router.get(
    "",
    response_model=Page[PromptSummary],
    summary="Published prompts",
    description="Published prompts, newest first. " + PAGINATION_DOC,
    responses=error_responses(401, 403, 422),
)
def list_prompts(
    session: SessionDep,
    _key: ReaderKey,
    page: PageDep,
    area: Annotated[str | None, Query(pattern=AREA_PATTERN)] = None,
) -> dict:
    stmt = filter_events(select(AlertEvent), type=PROMPT_TYPE, area=area)
    rows, total = paginate(session, stmt, page)
    items = [
        {
            "issue_date": r.issue_date,
            "area": r.area,
            "event_id": r.id,
            "created_at": as_utc_or_none(r.created_at),
        }
        for r in rows
    ]
    return make_page(items, total, page)


@router.get(
    "/{day}",
    response_model=PromptPublic,
    summary="The prompt of a date",
    description=(
        "The work prompt published for issue date `day`: JSON (default), plain text "
        "(`format=text` or `Accept: text/plain`), the HTML page (`format=html` or "
        "`Accept: text/html`), or an A4 PDF (`format=pdf` or `Accept: application/pdf`; "
        "503 when the server has no CJK font)."
    ),
    responses={
        200: {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **error_responses(401, 403, 404, 422, 503),
    },
)
def get_prompt(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    _key: ReaderKey,
    day: Annotated[date, Path(description="Issue date (local).")],
    area: Annotated[str, Query(pattern=AREA_PATTERN)] = DEFAULT_AREA,
    lang: Literal["zh", "en"] = "zh",
    format: Literal["json", "text", "html", "pdf"] | None = None,  # noqa: A002
) -> Any:
    event = find_prompt(session, day, area)
    if event is None:
        latest = session.scalar(
            select(func.max(AlertEvent.issue_date)).where(
                AlertEvent.type == PROMPT_TYPE, AlertEvent.area == area
            )
        )
        raise ApiError(
            404,
            f"no prompt published for {day} in area {area}",
            detail={"latest_issue_date": latest.isoformat() if latest else None},
        )
    payload = live_prompt_payload(session, event)  # the dispatch sentence as of now
    text = text_of_prompt(payload, lang)
    fmt = _format(request, format)
    if fmt == "html":
        return HTMLResponse(
            render_prompt_html(session, settings, day, area=area, lang=lang, now=now)
        )
    if fmt == "text":
        return PlainTextResponse(text or "")
    if fmt == "pdf":
        return _pdf(event, lang)
    return PromptPublic(
        issue_date=event.issue_date,
        area=event.area,
        event_id=event.id,
        created_at=as_utc_or_none(event.created_at),
        lang=lang,
        text=text,
        payload=payload,
    )
