"""``aqcast backfill weather``: archived weather forecasts from Open-Meteo into the store.

The period is fetched in chunks of days; each chunk is stored in its own transaction,
so a feed failure keeps what was stored before it and says where it stopped (run the
command again from there: storing is idempotent).
"""

from __future__ import annotations

from datetime import date, timedelta

import typer

app = typer.Typer(help="Load archived data for training and replays.", no_args_is_help=True)

ARCHIVES = ("previous-runs", "historical-forecast")


def _client():
    import httpx

    return httpx.Client()


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def chunks(first: date, last: date, days: int) -> list[tuple[date, date]]:
    """Consecutive [start, end] day ranges of at most ``days`` days covering first..last."""
    out, d = [], first
    while d <= last:
        end = min(last, d + timedelta(days=days - 1))
        out.append((d, end))
        d = end + timedelta(days=1)
    return out


@app.command("weather")
def weather(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD)."),
    archive: str = typer.Option(
        "previous-runs", "--archive", help="previous-runs or historical-forecast."
    ),
    days: str = typer.Option(
        "1,2,3,4", "--days", help="previous-runs: the earlier runs to keep, in days (1-7)."
    ),
    chunk_days: int = typer.Option(31, "--chunk-days", min=1, help="Days per request."),
) -> None:
    """Archived weather forecasts for every stored station with coordinates, stored as
    weather forecasts with the issue time the archive vouches for."""
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.observations import list_stations
    from aqcast.service.settings import get_settings
    from aqcast.service.sources.errors import FeedError, InputError
    from aqcast.service.sources.open_meteo import fetch_historical_forecast, fetch_previous_runs
    from aqcast.service.store import engine_for

    d1, d2 = _date(start, "--from"), _date(end, "--to")
    if d2 < d1:
        raise typer.BadParameter(f"--to {d2} is before --from {d1}")
    if archive not in ARCHIVES:
        raise typer.BadParameter(f"--archive: expected one of {', '.join(ARCHIVES)}")
    try:
        leads = tuple(sorted({int(x) for x in days.split(",") if x.strip()}))
    except ValueError:
        raise typer.BadParameter(f"--days: expected numbers like 1,2,3, got {days!r}") from None
    if not leads or not all(1 <= n <= 7 for n in leads):
        raise typer.BadParameter(f"--days: each between 1 and 7, got {days!r}")
    settings = get_settings()
    engine = engine_for(settings.database_url)
    stations = list_stations(engine).dropna(subset=["lat", "lon"])
    if stations.empty:
        typer.echo("error: no stations with coordinates are stored yet", err=True)
        raise typer.Exit(1)
    source = f"open-meteo:{archive}"
    stored = 0
    with _client() as client:
        for a, b in chunks(d1, d2, chunk_days):
            try:
                if archive == "previous-runs":
                    frame = fetch_previous_runs(
                        client,
                        stations,
                        start_date=a.isoformat(),
                        end_date=b.isoformat(),
                        days=leads,
                        base_url=settings.open_meteo_previous_runs_url,
                        timeout_s=max(settings.http_timeout_s, 60.0),
                    )
                else:
                    frame = fetch_historical_forecast(
                        client,
                        stations,
                        start_date=a.isoformat(),
                        end_date=b.isoformat(),
                        base_url=settings.open_meteo_historical_forecast_url,
                        timeout_s=max(settings.http_timeout_s, 60.0),
                    )
                report = ingest_met_forecasts(
                    engine, frame, source=source, file_label=f"{archive} {a}..{b}"
                )
            except (FeedError, InputError) as exc:
                typer.echo(
                    f"error: {exc} (days {a}..{b}; {stored} rows stored before, "
                    f"run again from --from {a})",
                    err=True,
                )
                raise typer.Exit(1) from exc
            stored += report.new + report.changed
            typer.echo(report.summary())
    typer.echo(f"{archive} {d1}..{d2}: {stored} forecast rows stored or updated")
