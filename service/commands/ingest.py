"""``aqcast ingest``: load observation files and weather forecasts into the store.

Each command brings the schema up to date first (a fresh install works), stores each file
in one transaction, prints a summary per file and exits with status 1 and the file's
error message on bad input (earlier files of the same call stay stored).
"""

from __future__ import annotations

import time as clock
from datetime import date
from pathlib import Path

import typer

app = typer.Typer(
    help="Load observations and weather forecasts into the store.", no_args_is_help=True
)

GRID_SUFFIXES = {".nc", ".nc4", ".netcdf", ".cdf", ".grib", ".grib2", ".grb", ".grb2"}


def _engine():
    from aqcast.service.settings import get_settings
    from aqcast.service.store import engine_for, migrate

    url = get_settings().database_url
    migrate(url)
    return engine_for(url)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _refresh(engine, days: list[tuple[date, date]]) -> None:
    from aqcast.service.ingest.daily import refresh_daily_stats

    if not days:
        return
    first, last = min(d[0] for d in days), max(d[1] for d in days)
    n, note = refresh_daily_stats(engine, first, last)
    typer.echo(note or f"daily statistics refreshed for {first}..{last}: {n} rows")


@app.command("prsa")
def prsa(
    paths: list[Path] = typer.Argument(..., help="PRSA_Data_*.csv files or their directories"),
) -> None:
    """The UCI Beijing multi-site files; coordinates from stations.csv beside them."""
    from aqcast.service.ingest.prsa import ingest_prsa_files
    from aqcast.service.sources.errors import InputError
    from aqcast.service.sources.prsa import prsa_files

    started = clock.perf_counter()
    engine = _engine()
    files = prsa_files(paths)
    if not files:
        raise _fail(ValueError(f"no PRSA_Data_*.csv files in {', '.join(map(str, paths))}"))
    try:
        reports = ingest_prsa_files(engine, files, on_report=lambda r: typer.echo(r.summary()))
    except InputError as exc:
        raise _fail(exc) from None
    totals = {k: sum(getattr(r, k) for r in reports) for k in ("new", "changed", "unchanged")}
    typer.echo(
        f"{len(files)} files: {totals['new']} new, {totals['changed']} changed, "
        f"{totals['unchanged']} unchanged rows in {clock.perf_counter() - started:.1f} s"
    )


@app.command("obs")
def obs(
    file: Path = typer.Argument(..., help="canonical observation table (CSV or Parquet)"),
    stations: Path | None = typer.Option(
        None, "--stations", help="station metadata CSV: station,name,lat,lon[,name_zh]"
    ),
) -> None:
    """Hourly observations in the canonical table of docs/nomenclature.md."""
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.sources.canonical import read_observations, read_station_metadata
    from aqcast.service.sources.errors import InputError

    engine = _engine()
    try:
        meta = read_station_metadata(stations) if stations is not None else None
        report = ingest_frame(
            engine,
            read_observations(file),
            source="obs",
            file_label=str(file),
            stations=meta,
            require_station_metadata=meta is not None,
        )
    except InputError as exc:
        raise _fail(exc) from None
    typer.echo(report.summary())


NETCDF_SUFFIXES = {".nc", ".nc4", ".netcdf", ".cdf"}


def _read_grid(file: Path, stations, method: str, dask: str | None):  # noqa: ANN001, ANN202
    """The grid at the stations: in Dask chunks on the cluster when an address is set
    (NetCDF; GRIB is read here), else in memory (sources/met_files.py)."""
    from aqcast.service.commands.forecasting import DASK_EXTRA, dask_address
    from aqcast.service.sources.met_files import read_met_forecast_grid

    address = dask_address(dask)
    if not address or file.suffix.lower() not in NETCDF_SUFFIXES:
        if address:
            typer.echo(f"note: {file.suffix} is read without Dask (NetCDF only)", err=True)
        return read_met_forecast_grid(file, stations, method=method)
    try:
        from distributed import Client, LocalCluster

        from aqcast.service.sources.grid_dask import grid_to_stations
    except ImportError as exc:
        typer.echo(f"error: --dask {address}: {exc.name} is not installed; {DASK_EXTRA}", err=True)
        raise typer.Exit(1) from None
    if address == "local":
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
            Client(cluster),
        ):
            return grid_to_stations(file, stations, method=method, scheduler=None)
    with Client(address):
        return grid_to_stations(file, stations, method=method, scheduler=None)


@app.command("met-forecast")
def met_forecast(
    file: Path = typer.Argument(..., help="CSV (station,issued_at,valid_at,...), NetCDF or GRIB"),
    method: str = typer.Option("bilinear", "--method", help="grid to station: bilinear|nearest"),
    source: str = typer.Option("file", "--source", help="label stored with the forecasts"),
    dask: str | None = typer.Option(
        None,
        "--dask",
        help="Interpolate a NetCDF grid in Dask chunks on the cluster at this address "
        "('local': a LocalCluster here). Default: AQCAST_DASK_SCHEDULER.",
    ),
) -> None:
    """Weather forecasts per station, or a gridded forecast interpolated to the stations."""
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.observations import list_stations
    from aqcast.service.sources.errors import InputError
    from aqcast.service.sources.met_files import read_met_forecast_csv

    if method not in ("bilinear", "nearest"):
        raise _fail(ValueError(f"--method must be bilinear or nearest, not {method!r}"))
    engine = _engine()
    try:
        if file.suffix.lower() in GRID_SUFFIXES:
            stations = list_stations(engine).dropna(subset=["lat", "lon"])
            if stations.empty:
                raise _fail(ValueError("no stations with coordinates are stored yet"))
            frame = _read_grid(file, stations, method, dask)
        else:
            frame = read_met_forecast_csv(file)
        report = ingest_met_forecasts(engine, frame, source=source, file_label=str(file))
    except InputError as exc:
        raise _fail(exc) from None
    typer.echo(report.summary())
