"""``aqcast enterprises``: import the registry from a CSV file, list it;
``aqcast advisories coverage``: who was told and who confirmed on a day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from sqlalchemy.exc import SQLAlchemyError

from aqcast.features.places import DEFAULT_AREA
from aqcast.features.timeutil import store_now
from aqcast.service.settings import get_settings
from aqcast.service.store import engine_for, session_scope

app = typer.Typer(help="The enterprise registry: import (CSV), list.", no_args_is_help=True)
advisories_app = typer.Typer(help="Staggered-operation advisories.", no_args_is_help=True)


def _db_error(exc: Exception, what: str = "") -> typer.Exit:
    return _fail(
        f"the database is not available or not migrated ({type(exc).__name__}; "
        f"run `aqcast migrate`){what}",
        2,
    )


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command("import")
def import_(
    path: Path = typer.Argument(
        ..., help="CSV: name,sectors,lat,lon,street,contact[,credit_code]; sectors joined by ;"
    ),
) -> None:
    """Add or update the file's enterprises: all rows, or none when any row is bad."""
    from aqcast.configuration import ConfigError
    from aqcast.service.configured import current_campaign
    from aqcast.service.enterprises import ImportFileError, import_csv

    settings = get_settings()
    try:
        sectors = list(current_campaign().sectors)
        with session_scope(engine_for(settings.database_url)) as session:
            result = import_csv(
                session,
                path,
                known_sectors=sectors,
                now=store_now(),
                areas_file=settings.areas_file,
            )
    except ImportFileError as exc:
        for err in exc.errors:
            typer.echo(f"{path}, {err}", err=True)
        raise _fail(str(exc)) from None
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _db_error(exc, "; nothing imported") from None
    typer.echo(f"{path}: {result.created} enterprise(s) added, {result.updated} updated")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="One JSON array instead of a table."),
) -> None:
    """List the registered enterprises."""
    from aqcast.service.enterprises import enterprise_public, list_enterprises

    try:
        with session_scope(engine_for(get_settings().database_url)) as session:
            rows = [enterprise_public(r) for r in list_enterprises(session)[0]]
    except SQLAlchemyError as exc:
        raise _db_error(exc) from None
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo("id\tname\tcredit_code\tsectors\tarea\tstreet\tcontact")
    for r in rows:
        typer.echo(
            f"{r['id']}\t{r['name']}\t{r['credit_code'] or ''}\t{';'.join(r['sectors'])}\t"
            f"{r['area']}\t{r['street']}\t{r['contact']}"
        )


@advisories_app.command("coverage")
def coverage(
    day: str = typer.Option(..., "--date", help="Issue date, YYYY-MM-DD."),
    area: str = typer.Option(DEFAULT_AREA, "--area", help="Area."),
    as_json: bool = typer.Option(False, "--json", help="The API's JSON instead of a table."),
) -> None:
    """Per sector: registered, notified, delivered, acknowledged, and whom to call."""
    from aqcast.service.acknowledgements import coverage as day_coverage
    from aqcast.service.acknowledgements import coverage_totals
    from aqcast.service.configured import current_campaign

    try:
        issue = date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {day!r}", param_hint="--date") from None
    cfg = current_campaign()
    try:
        with session_scope(engine_for(get_settings().database_url)) as session:
            cov = day_coverage(session, issue, area, list(cfg.sectors))
            totals = coverage_totals(session, issue, area)
    except SQLAlchemyError as exc:
        raise _db_error(exc) from None
    if as_json:
        typer.echo(json.dumps(cov, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{issue} {area}")
    typer.echo("sector\tregistered\tnotified\tdelivered\tacknowledged\tpending")
    for sector, b in cov["sectors"].items():
        typer.echo(
            f"{sector}\t{b['registered']}\t{b['notified']}\t{b['delivered']}\t"
            f"{b['acknowledged']}\t{len(b['pending'])}"
        )
    for sector, b in cov["sectors"].items():
        for p in b["pending"]:
            typer.echo(f"to call: {sector}\t{p['id']}\t{p['name']}\t{p['contact']}")
    if totals["concerned"]:
        typer.echo(
            f"notified {totals['notified']}, acknowledged {totals['acknowledged']}, "
            f"to call {totals['pending']} (of {totals['concerned']} enterprises concerned)"
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="enterprises")
    root.add_typer(advisories_app, name="advisories")
