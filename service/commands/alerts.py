"""``aqcast prompt`` (the morning work prompt), ``aqcast warnings`` (the warning per area)
and ``aqcast events`` (stored alert events, with their CAP messages)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from sqlalchemy import select

from aqcast.features.places import DEFAULT_AREA
from aqcast.service.settings import get_settings
from aqcast.service.store import open_store, session_scope
from aqcast.service.tables import AlertEvent, WarningState


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def prompt(
    day: str = typer.Option(..., "--date", help="Issue date, YYYY-MM-DD."),
    area: str | None = typer.Option(None, "--area", help="Area (default: the forecast's first)."),
    lang: str = typer.Option("zh", "--lang", help="zh or en."),
    fmt: str = typer.Option("text", "--format", help="text, html, json or pdf."),
    output: Path | None = typer.Option(
        None, "--output", help="Write to this file (needed for pdf) instead of printing."
    ),
) -> None:
    """Print the morning work prompt: the published one, else a preview of the stored
    forecast's (labelled as such; nothing is stored)."""
    from aqcast.alerts import forecast_view as fv
    from aqcast.alerts.prompt import FORMATS
    from aqcast.service.configured import current_campaign
    from aqcast.service.publishing import preview_prompt, published_prompt

    if lang not in ("zh", "en"):
        raise typer.BadParameter(f"--lang: expected zh or en, got {lang!r}")
    if fmt not in (*FORMATS, "pdf"):
        raise typer.BadParameter(
            f"--format: expected one of {', '.join((*FORMATS, 'pdf'))}, got {fmt!r}"
        )
    if fmt == "pdf" and output is None:
        raise typer.BadParameter("--format pdf needs --output FILE")
    issue_date = _parse_date(day, "--date")
    engine = open_store()
    if area is not None:
        with session_scope(engine) as session:
            event = published_prompt(session, area, issue_date)
            stored = ((event.payload or {}).get("prompt") or {}).get(lang) if event else None
        if stored is not None:
            _emit(stored, fmt, output)
            return
    try:
        from aqcast.service.forecasts import load_forecast
    except ImportError as exc:
        typer.echo(f"error: forecasts cannot be loaded here: {exc}", err=True)
        raise typer.Exit(2) from exc
    forecast = load_forecast(engine, issue_date)
    if forecast is None:
        typer.echo(f"error: no forecast stored for issue date {issue_date}", err=True)
        raise typer.Exit(1)
    areas = fv.forecast_areas(forecast)
    area = area or (areas[0] if areas else None)
    if area not in areas:
        typer.echo(f"error: area {area!r} not in the forecast; it has {areas}", err=True)
        raise typer.Exit(1)
    cfg = current_campaign()
    with session_scope(engine) as session:
        event = published_prompt(session, area, issue_date)
        stored = ((event.payload or {}).get("prompt") or {}).get(lang) if event else None
        p = (
            stored
            if stored is not None
            else preview_prompt(session, forecast, area, cfg, lang=lang)
        )
    _emit(p, fmt, output)


def _emit(prompt: dict, fmt: str, output: Path | None) -> None:
    """Print the prompt, or write it to ``output`` (the PDF always goes to a file)."""
    from aqcast.alerts.prompt import render_prompt

    if fmt == "pdf":
        from aqcast.service.prompt_pdf import PdfFontMissingError, prompt_pdf

        try:
            data = prompt_pdf(prompt)
        except PdfFontMissingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    else:
        data = render_prompt(prompt, fmt).encode()
    if output is None:
        typer.echo(data.decode(), nl=False)
        return
    tmp = output.with_name(output.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(output)  # never a half-written file under the asked name
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        typer.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {output} ({len(data)} bytes)")


warnings_app = typer.Typer(
    help="Heavy-pollution warnings: the state per area, and the city's warning.",
    invoke_without_command=True,
)


@warnings_app.callback()
def warnings(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per area."),
) -> None:
    """Show the heavy-pollution warning in force for each area."""
    if ctx.invoked_subcommand is not None:
        return
    from aqcast.features.timeutil import store_now
    from aqcast.service.official import official_dict, officials_in_force

    settings = get_settings()
    engine = open_store()
    with session_scope(engine) as session:
        rows = list(session.scalars(select(WarningState).order_by(WarningState.area)))
        official = [official_dict(o, settings.tz) for o in officials_in_force(session, store_now())]
    for o in official:
        if as_json:
            typer.echo(json.dumps({"official": o}, ensure_ascii=False, default=str))
        else:
            end = f" to {o['end']}" if o["end"] else ""
            typer.echo(
                f"{o['area']}: city warning {o['level']} (response {o['response']}) "
                f"from {o['start_hour']}{end}; {o['document']}"
            )
    if not rows:
        typer.echo("no warning decided yet")
        return
    for r in rows:
        pending = (r.detail or {}).get("pending")
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "area": r.area,
                        "level": r.level,
                        "since": r.since,
                        "until": r.until,
                        "updated_on": r.updated_on,
                        "pending": pending,
                    },
                    default=str,
                )
            )
            continue
        period = f" {r.since} to {r.until}" if r.level != "none" else ""
        wait = f" (lower level {pending['level']} asked {pending['count']}x)" if pending else ""
        typer.echo(f"{r.area}: {r.level}{period}; decided {r.updated_on}{wait}")


def _local_time(value: str, option: str):  # noqa: ANN202 - datetime
    from datetime import datetime

    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option}: expected 'YYYY-MM-DD HH:MM', got {value!r}") from None


@warnings_app.command("set-official")
def set_official_cmd(
    level: str = typer.Option(..., "--level", help="blue, yellow, orange or red."),
    response: str = typer.Option(..., "--response", help="Response grade: III, II or I."),
    start: str = typer.Option(..., "--start", help="Start, local time 'YYYY-MM-DD HH:MM'."),
    end: str | None = typer.Option(None, "--end", help="End, local time (unset: until cleared)."),
    document: str = typer.Option("", "--document", help="The city's notice (文号)."),
    area: str = typer.Option(DEFAULT_AREA, "--area"),
) -> None:
    """Record the city's warning that the district carries out (区域应急联动)."""
    from aqcast.features.timeutil import store_now
    from aqcast.service.official import (
        OfficialWarningError,
        cap_context,
        official_dict,
        set_official,
    )

    t0 = _local_time(start, "--start")
    t1 = _local_time(end, "--end") if end else None
    settings = get_settings()
    engine = open_store()
    try:
        with session_scope(engine) as session:
            row = set_official(
                session,
                area=area,
                level=level,
                response=response,
                start=t0,
                end=t1,
                document=document,
                issued_by="cli",
                now=store_now(),
                cap=cap_context(session, area),
            )
            o = official_dict(row, settings.tz)
    except OfficialWarningError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    end_text = f" to {o['end']}" if o["end"] else " until cleared"
    typer.echo(
        f"{area}: city warning {o['level']} (response {o['response']}) "
        f"from {o['start_hour']}{end_text} recorded (id {o['id']})"
    )


@warnings_app.command("clear-official")
def clear_official_cmd(area: str = typer.Option(DEFAULT_AREA, "--area")) -> None:
    """Record that the city lifted its warning."""
    from aqcast.features.timeutil import store_now
    from aqcast.service.official import cap_context, clear_official

    engine = open_store()
    with session_scope(engine) as session:
        row = clear_official(
            session, area=area, cleared_by="cli", now=store_now(), cap=cap_context(session, area)
        )
    if row is None:
        typer.echo(f"error: no official warning recorded for area {area!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{area}: city warning {row.level} lifted")


warnings_app.command("clear", help="Same as clear-official.")(clear_official_cmd)


def events(
    type_: str | None = typer.Option(None, "--type", help="prompt, advisory, warning, ..."),
    area: str | None = typer.Option(None, "--area"),
    since: str | None = typer.Option(None, "--since", help="Issue date from, YYYY-MM-DD."),
    limit: int = typer.Option(50, min=1, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object a line."),
    cap: str | None = typer.Option(None, "--cap", help="Print the CAP 1.2 XML of this event id."),
) -> None:
    """List stored alert events (or print one event's CAP message)."""
    engine = open_store()
    with session_scope(engine) as session:
        if cap is not None:
            ev = session.get(AlertEvent, cap)
            xml = (ev.payload or {}).get("cap_xml") if ev is not None else None
            if xml is None:
                typer.echo(f"error: no CAP message for event {cap!r}", err=True)
                raise typer.Exit(1)
            typer.echo(xml, nl=False)
            return
        stmt = select(AlertEvent).order_by(
            AlertEvent.issue_date.desc(), AlertEvent.created_at.desc(), AlertEvent.id.desc()
        )
        if type_:
            stmt = stmt.where(AlertEvent.type == type_)
        if area:
            stmt = stmt.where(AlertEvent.area == area)
        if since:
            stmt = stmt.where(AlertEvent.issue_date >= _parse_date(since, "--since"))
        rows = list(session.scalars(stmt.limit(limit)))
    for e in rows:
        p = e.payload or {}
        extra = p.get("action") or p.get("sector") or ""
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": e.id,
                        "type": e.type,
                        "area": e.area,
                        "level": e.level,
                        "issue_date": e.issue_date,
                        "start_date": e.start_date,
                        "end_date": e.end_date,
                        "detail": extra,
                    },
                    default=str,
                )
            )
        else:
            typer.echo(
                f"{e.issue_date} {e.type:<22} {e.area:<12} {e.level:<10} "
                f"{e.start_date}..{e.end_date} {extra} {e.id}"
            )


def register(app: typer.Typer) -> None:
    app.command("prompt")(prompt)
    app.add_typer(warnings_app, name="warnings")
    app.command("events")(events)
