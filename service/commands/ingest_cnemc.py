"""``aqcast ingest cnemc``: the national publishing platform's hourly files.

Every file is read and checked before anything is stored; then all selected rows are
stored in one transaction (an error anywhere stores nothing), and the published rolling
statistics are compared with aqcast's own (service/cnemc_ingest.py).
"""

from __future__ import annotations

import time as clock
from pathlib import Path

import typer


def _engine():
    from aqcast.service.settings import get_settings
    from aqcast.service.store import engine_for, migrate

    url = get_settings().database_url
    migrate(url)
    return engine_for(url)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def cnemc(
    paths: list[Path] = typer.Argument(
        ..., help="hourly CSV files of the platform's format, or directories of them"
    ),
    area: str | None = typer.Option(
        None, "--area", help="keep only this city (the file's area column, e.g. 天津市)"
    ),
    stations: str | None = typer.Option(
        None,
        "--stations",
        help="keep only these station codes, comma-separated (1015A,1017A); with --area, "
        "those of them in that city",
    ),
    ozone_columns: str | None = typer.Option(
        None,
        "--ozone-columns",
        help="what the columns headed o3,o3_24h,o3_8h,o3_8h_24h really hold, in that "
        "order (e.g. o3,o3_8h,o3_24h,o3_8h_24h for archives with the middle two swapped)",
    ),
) -> None:
    """Hourly files of the national real-time publishing platform (UTF-8 or GB18030).

    Times are Beijing time, hour-ending; they are stored as the start of the hour.
    """
    from sqlalchemy.exc import OperationalError

    from aqcast.service.cnemc_ingest import ingest_cnemc_tables
    from aqcast.service.sources.cnemc import cnemc_files, parse_ozone_columns, read_cnemc
    from aqcast.service.sources.errors import InputError

    started = clock.perf_counter()
    try:
        mapping = parse_ozone_columns(ozone_columns)
    except ValueError as exc:
        raise _fail(exc) from None
    codes = [c.strip() for c in stations.split(",") if c.strip()] if stations else None
    if stations is not None and not codes:
        raise _fail(ValueError("--stations lists no station code"))
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise _fail(ValueError(f"{missing[0]}: file or directory not found"))
    files = cnemc_files(paths)
    if not files:
        raise _fail(ValueError(f"no .csv files in {', '.join(map(str, paths))}"))
    try:
        tables = [read_cnemc(f, ozone_columns=mapping, area=area, stations=codes) for f in files]
        engine = _engine()
        label = str(files[0]) if len(files) == 1 else f"{len(files)} files"
        report = ingest_cnemc_tables(engine, tables, area=area, stations=codes, label=label)
    except InputError as exc:
        raise _fail(exc) from None
    except OperationalError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise _fail(ValueError(f"the database is unavailable: {reason}")) from None
    for line in report.summary_lines():
        typer.echo(line)
    if report.rows_kept == 0:
        seen = ", ".join(report.cities) or "none"
        raise _fail(ValueError(f"no rows selected; cities in the files: {seen}"))
    typer.echo(f"done in {clock.perf_counter() - started:.1f} s")


def register(ingest_app: typer.Typer) -> None:
    ingest_app.command("cnemc")(cnemc)
