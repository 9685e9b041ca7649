"""``aqcast publish``: run the scheduler's morning ``publish`` job by hand for one date.

It is the same job function (``service.jobs.publish``) with the same options from the
schedule: forecast first if none is stored for the date, then the prompt, advisories,
warnings, their events and the webhook deliveries (queued in the outbox; the dispatcher
sends them). Every event has a stable id, so publishing a date twice stores it once; the
command prints what it stored this time and what had been published before.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import typer
from sqlalchemy import func, select

from aqcast.service.settings import get_settings
from aqcast.service.store import open_store, session_scope
from aqcast.service.tables import AlertEvent, Delivery

JOB = "publish"


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--date: expected YYYY-MM-DD, got {value!r}") from None


def scheduled_time(day: date, tz, schedule) -> datetime:  # noqa: ANN001
    """The fire time (aware UTC) of the ``publish`` job on local ``day``: the first fire of
    its triggers within that day, else 07:00 local."""
    from aqcast.features.timeutil import aware_utc
    from aqcast.service.scheduler import fire_times

    start = datetime.combine(day, time(0), tzinfo=tz)
    end = start + timedelta(days=1)
    spec = schedule.jobs.get(JOB)
    triggers = spec.triggers if spec else []
    fires = [t for trig in triggers for t in fire_times(trig.build(tz), start, end)]
    return min(fires) if fires else aware_utc(datetime.combine(day, time(7), tzinfo=tz))


def _events_of(engine, day: date) -> dict[str, AlertEvent]:  # noqa: ANN001
    with session_scope(engine) as s:
        rows = list(s.scalars(select(AlertEvent).where(AlertEvent.issue_date == day)))
        s.expunge_all()
    return {e.id: e for e in rows}


def _describe(e: AlertEvent) -> str:
    p = e.payload or {}
    what = {
        "warning": f"warning {p.get('action', '')} {p.get('to_level') or e.level}",
        "advisory": f"advisory {p.get('sector', '')}",
        "prompt": f"prompt ({e.level or 'no level'})",
    }.get(e.type, e.type)
    return f"{e.area}: {what} {e.id}"


def publish(
    day: str = typer.Option(..., "--date", help="Issue date, YYYY-MM-DD (local)."),
    area: list[str] | None = typer.Option(
        None, "--area", help="Only this area (repeatable; default: every area of the forecast)."
    ),
) -> None:
    """Publish a date's prompt, advisories and warnings as the 07:00 job does (idempotent)."""
    from aqcast.features.timeutil import aware_utc
    from aqcast.service.jobs import JOBS, JobContext
    from aqcast.service.scheduler import RunInfo, load_schedule

    settings = get_settings()
    issue_date = _parse_date(day)
    tz = settings.tz
    wall = aware_utc(datetime.now(tz))
    if issue_date > wall.astimezone(tz).date():
        typer.echo(
            f"error: --date {issue_date} is in the future; a prompt is published on its day",
            err=True,
        )
        raise typer.Exit(1)
    schedule = load_schedule()
    spec = schedule.jobs.get(JOB)
    scheduled_at = scheduled_time(issue_date, tz, schedule)
    # A past day is published as its 07:00 job would have been, with what was known then;
    # today's, with what is known now (like a run caught up late).
    now = wall if issue_date == wall.astimezone(tz).date() else scheduled_at
    options = dict(spec.options) if spec else {}
    if area:
        options["areas"] = list(area)
    engine = open_store(settings.database_url)
    before = _events_of(engine, issue_date)

    class _Clock:
        def now(self) -> datetime:
            return now

    ctx = JobContext(engine, settings, _Clock())
    run = RunInfo(job=JOB, run_key=None, scheduled_at=scheduled_at, now=now, tz=tz, options=options)
    detail = JOBS[JOB](ctx, run) or {}
    ids = list(detail.get("events") or [])
    after = _events_of(engine, issue_date)
    with session_scope(engine) as s:
        new_ids = [i for i in ids if i not in before]
        queued = (
            s.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.event_id.in_(new_ids))
            )
            if new_ids
            else 0
        )
    if detail.get("run_id") is not None:
        typer.echo(
            f"forecast for {issue_date} made and stored (run {detail['run_id']}, "
            f"method {detail.get('method')})"
        )
    new = [after[i] for i in new_ids if i in after]
    old = [after[i] for i in ids if i in before and i in after]
    for e in new:
        typer.echo(f"published {issue_date} {_describe(e)}")
    for e in old:
        typer.echo(f"already published {issue_date} {_describe(e)}")
    if not ids:
        typer.echo(f"nothing to publish for {issue_date}: the forecast has no such area")
        raise typer.Exit(1)
    typer.echo(
        f"{len(new)} event(s) published, {len(old)} already published; "
        f"{queued} webhook deliveries queued"
    )


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
