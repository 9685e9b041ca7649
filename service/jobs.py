"""The scheduled jobs: thin calls into ingest, forecasts, alerts and webhooks.

Each job is ``func(ctx: JobContext, run: RunInfo) -> detail`` (a small dict stored in
``job_runs.detail``). The functions a job calls are fields of :class:`Services`, so tests
can give fakes and the real ones are imported only when used. "Now" is always
``run.now`` (from the clock the scheduler was given), never the wall clock.

Jobs (times in aqcast/config/schedule.yaml):

- ``pull_observations`` / ``pull_weather_forecasts``: fetch from each configured live feed,
  ingest, and record the outcome in ``feed_status``. No feed configured: the run records
  that and does nothing.
- ``forecast``: check inputs (feeds and the freshness of the stored observations; a stale or
  missing one raises an operator alert), make the issue date's forecast, add the stale inputs
  to its ``missing_inputs`` and store it. The forecast falls back to its baselines on missing
  inputs, so something is always published.
- ``publish``: the morning prompt, advisories and warnings from the stored forecast of the
  issue date (made first if the 06:30 run left none). ``aqcast publish`` runs this same job
  by hand (option ``areas`` limits it to some areas).
- ``intraday_critical_value``: the ozone critical value from the hours observed so far.
- ``retrain``: train on everything before the first of the month.
- ``dispatch_webhooks``: send due webhook deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from aqcast.features.timeutil import aware_to_store, aware_utc
from aqcast.service import forecasts, ingest, publishing
from aqcast.service.clock import Clock
from aqcast.service.ingest import weather as ingest_weather
from aqcast.service.scheduler import JobFunc, RunInfo
from aqcast.service.settings import Settings
from aqcast.service.store import session_scope
from aqcast.service.tables import FeedStatus, Observation, OperatorAlert

log = logging.getLogger(__name__)

STALE_FEED_ALERT = "stale_feed"


@dataclass
class Services:
    """What the jobs call. Defaults are the real functions of the other parts."""

    # Resolved when a Services is made, so a test may replace a module's function first.
    make_forecast: Callable[..., Any] = field(default_factory=lambda: forecasts.make_forecast)
    store_forecast: Callable[..., Any] = field(default_factory=lambda: forecasts.store_forecast)
    load_forecast: Callable[..., Any] = field(default_factory=lambda: forecasts.load_forecast)
    issue_alerts: Callable[..., Any] = field(default_factory=lambda: publishing.issue_alerts)
    check_critical_crossing: Callable[..., Any] = field(
        default_factory=lambda: publishing.check_critical_crossing
    )
    check_exceedance_probability: Callable[..., Any] = field(
        default_factory=lambda: publishing.check_exceedance_probability
    )
    train: Callable[..., Any] = field(default_factory=lambda: train_and_register)
    ingest_observations: Callable[..., Any] = field(default_factory=lambda: ingest.ingest_frame)
    ingest_met_forecasts: Callable[..., Any] = field(
        default_factory=lambda: ingest_weather.ingest_met_forecasts
    )
    dispatch: Callable[..., Any] | None = None  # (engine, now) -> stats; default below


@dataclass(frozen=True)
class Feed:
    """A live feed: ``fetch(now)`` returns a frame to ingest (canonical hourly or met)."""

    name: str
    fetch: Callable[[datetime], pd.DataFrame]


@dataclass
class JobContext:
    engine: Engine
    settings: Settings
    clock: Clock
    services: Services = field(default_factory=Services)
    observation_feeds: Sequence[Feed] = ()
    weather_feeds: Sequence[Feed] = ()
    forecast_cache: dict[date, tuple[int, Any]] = field(default_factory=dict)
    http_client: Any = None  # httpx.Client for jobs that call out (None: one per run)


# --- feeds and freshness -------------------------------------------------------------


def pull_feeds(
    ctx: JobContext, feeds: Sequence[Feed], ingest: Callable[..., Any], now: datetime
) -> dict[str, Any]:
    """Fetch and ingest each feed; every attempt lands in ``feed_status``."""
    if not feeds:
        return {"feeds": [], "note": "no live feed configured; nothing pulled"}
    results: dict[str, Any] = {}
    for feed in feeds:
        at = aware_to_store(now)
        try:
            frame = feed.fetch(now)
            report = ingest(ctx.engine, frame, source=feed.name, file_label=f"{feed.name}@{at}")
            time_col = "time" if "time" in frame.columns else "valid_at"
            latest = (
                aware_to_store(pd.Timestamp(frame[time_col].max()).to_pydatetime())
                if len(frame)
                else None
            )
            _set_feed_status(ctx.engine, feed.name, at, ok=True, latest=latest)
            results[feed.name] = {"rows": len(frame), "report": str(report)[:500]}
        except Exception as exc:  # noqa: BLE001 - a failing feed must not stop the others
            log.warning("feed %s failed: %s", feed.name, exc)
            _set_feed_status(
                ctx.engine, feed.name, at, ok=False, error=f"{type(exc).__name__}: {exc}"
            )
            results[feed.name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    if all("error" in r for r in results.values()):
        raise RuntimeError(f"every feed failed: {results}")
    return {"feeds": results}


def _set_feed_status(
    engine: Engine,
    name: str,
    at: datetime,
    *,
    ok: bool,
    latest: datetime | None = None,
    error: str | None = None,
) -> None:
    with session_scope(engine) as s:
        row = s.get(FeedStatus, name) or FeedStatus(feed=name)
        row.last_attempt_at = at
        if ok:
            row.last_success_at = at
            row.last_error = None
            if latest is not None and (
                row.latest_data_time is None or latest > row.latest_data_time
            ):
                row.latest_data_time = latest
        else:
            row.last_error = (error or "")[:2000]
        s.add(row)


def latest_observation_time(engine: Engine, known_at: datetime) -> datetime | None:
    """The start (naive UTC) of the latest stored hour complete at ``known_at``."""
    cutoff = aware_to_store(known_at) - timedelta(hours=1)
    with engine.connect() as conn:
        return conn.execute(
            select(func.max(Observation.time)).where(Observation.time <= cutoff)
        ).scalar()


def stale_inputs(engine: Engine, now: datetime, stale_after_hours: float) -> dict[str, str]:
    """Inputs that are stale or missing at ``now``: ``{input: why}``.

    The stored observations count as an input of their own (whatever feed brought them):
    stale when the latest complete hour ended more than ``stale_after_hours`` before ``now``.
    Each live feed in ``feed_status`` is stale when its last success is that old.
    """
    limit = timedelta(hours=stale_after_hours)
    at = aware_to_store(now)
    out: dict[str, str] = {}
    latest = latest_observation_time(engine, now)
    if latest is None:
        out["observations"] = "no observations stored before the issue time"
    elif at - (latest + timedelta(hours=1)) > limit:
        out["observations"] = f"latest complete hour starts {latest:%Y-%m-%d %H:%M} UTC"
    _data_age("observations", latest, now)
    with engine.connect() as conn:
        feeds = conn.execute(select(FeedStatus)).all()
    for row in feeds:
        if row.last_success_at is None or at - row.last_success_at > limit:
            since = f"{row.last_success_at:%Y-%m-%d %H:%M} UTC" if row.last_success_at else "never"
            why = f"last success {since}"
            if row.last_error:
                why += f"; last error: {row.last_error[:200]}"
            out[f"feed:{row.feed}"] = why
        _data_age(row.feed, row.latest_data_time, now)
    return out


def _data_age(feed: str, latest: datetime | None, now: datetime) -> None:
    try:
        from aqcast.service.metrics import set_data_age
    except ImportError:
        return
    set_data_age(feed, latest, aware_to_store(now))


def raise_operator_alerts(engine: Engine, stale: Mapping[str, str], now: datetime) -> list[str]:
    """One open ``stale_feed`` alert per stale input (not repeated while it stays stale);
    alerts of inputs that are fresh again are resolved. Returns the inputs newly alerted."""
    at = aware_to_store(now)
    raised = []
    with session_scope(engine) as s:
        open_alerts = {
            a.subject: a
            for a in s.scalars(
                select(OperatorAlert).where(
                    OperatorAlert.kind == STALE_FEED_ALERT, OperatorAlert.resolved_at.is_(None)
                )
            )
        }
        for subject, why in stale.items():
            if subject in open_alerts:
                continue
            s.add(
                OperatorAlert(
                    kind=STALE_FEED_ALERT,
                    subject=subject[:128],
                    message=f"{subject} is stale or missing: {why}. Forecasts fall back to "
                    "baselines for what it feeds and say so in missing_inputs.",
                    raised_at=at,
                )
            )
            raised.append(subject)
        for subject, alert in open_alerts.items():
            if subject not in stale:
                alert.resolved_at = at
    return raised


# --- the jobs -------------------------------------------------------------------------


def pull_observations(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    return pull_feeds(ctx, ctx.observation_feeds, ctx.services.ingest_observations, run.now)


def pull_weather_forecasts(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    return pull_feeds(ctx, ctx.weather_feeds, ctx.services.ingest_met_forecasts, run.now)


def pull_cnemc(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    """The national publishing platform's latest hours from ``settings.cnemc_url``."""
    import httpx

    from aqcast.service.sources.cnemc import parse_ozone_columns
    from aqcast.service.sources.cnemc_feed import FEED
    from aqcast.service.sources.cnemc_feed import pull_cnemc as pull

    settings = ctx.settings
    if not settings.cnemc_url:
        return {"note": "AQCAST_CNEMC_URL is not set; nothing pulled"}
    client = ctx.http_client or httpx.Client(timeout=settings.http_timeout_s, follow_redirects=True)
    at = aware_to_store(run.now)
    try:
        result = pull(
            ctx.engine,
            client,
            settings.cnemc_url,
            now=run.now,
            lookback_hours=settings.cnemc_lookback_hours,
            area=settings.cnemc_area,
            stations=settings.cnemc_stations or None,
            ozone_columns=parse_ozone_columns(settings.cnemc_ozone_columns),
            timeout_s=settings.http_timeout_s,
            retries=settings.cnemc_retries,
            tz=settings.timezone,
        )
    except Exception as exc:
        _set_feed_status(ctx.engine, FEED, at, ok=False, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if ctx.http_client is None:
            client.close()
    errors = result.errors
    latest = aware_to_store(result.latest) if result.latest is not None else None
    if errors:
        _set_feed_status(ctx.engine, FEED, at, ok=False, error="; ".join(errors.values()))
    else:
        _set_feed_status(ctx.engine, FEED, at, ok=True, latest=latest)
    if errors and len(errors) == len(result.hours):
        raise RuntimeError(f"every hour failed: {errors}")
    return result.detail()


def make_and_store_forecast(ctx: JobContext, run: RunInfo) -> tuple[Any, Any, dict[str, str]]:
    """Forecast the run's issue date with what is known now; stale inputs are alerted and
    named in the forecast's ``missing_inputs`` and ``notes``."""
    stale = stale_inputs(ctx.engine, run.now, ctx.settings.feed_stale_after_hours)
    raise_operator_alerts(ctx.engine, stale, run.now)
    forecast = ctx.services.make_forecast(
        ctx.engine, run.local_date, met=run.options.get("met", "stored")
    )
    for name, why in stale.items():
        if name not in forecast.missing_inputs:
            forecast.missing_inputs.append(name)
        forecast.notes.append(
            f"input {name} stale or missing at {run.now:%Y-%m-%d %H:%M} UTC: {why}"
        )
    run_id = ctx.services.store_forecast(ctx.engine, forecast)
    return forecast, run_id, stale


def _forecast_detail(forecast: Any, run_id: Any) -> dict[str, Any]:
    return {
        "issue_date": str(forecast.issue_date),
        "run_id": run_id,
        "method": forecast.method,
        "met_mode": forecast.met_mode,
        "missing_inputs": list(forecast.missing_inputs),
    }


def forecast(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    fc, run_id, _ = make_and_store_forecast(ctx, run)
    return _forecast_detail(fc, run_id)


def publish(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    fc = ctx.services.load_forecast(ctx.engine, run.local_date)
    detail: dict[str, Any] = {}
    if fc is None:
        fc, run_id, _ = make_and_store_forecast(ctx, run)
        detail = _forecast_detail(fc, run_id)
    areas = run.options.get("areas")  # `aqcast publish --area A`; the schedule sets none
    if areas:
        events = ctx.services.issue_alerts(ctx.engine, fc, now=run.now, areas=list(areas))
    else:
        events = ctx.services.issue_alerts(ctx.engine, fc, now=run.now)
    detail.update(
        issue_date=str(run.local_date),
        method=fc.method,
        missing_inputs=list(fc.missing_inputs),
        events=[getattr(e, "id", str(e)) for e in events],
    )
    return detail


def _day_forecast(ctx: JobContext, day: date) -> Any:
    """The latest stored forecast of ``day``, loaded once per stored run: the intraday job
    reads it thirteen times a day."""
    with session_scope(ctx.engine) as session:
        run = forecasts.latest_run(session, day)
        run_id = None if run is None else run.id
    if run_id is None:
        return None
    cached = ctx.forecast_cache.get(day)
    if cached is not None and cached[0] == run_id:
        return cached[1]
    fc = ctx.services.load_forecast(ctx.engine, day)
    ctx.forecast_cache.clear()  # only the current day is worth keeping
    ctx.forecast_cache[day] = (run_id, fc)
    return fc


def intraday_critical_value(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    """Update the day's critical value from the complete hours observed so far."""
    from aqcast.configuration import load_areas
    from aqcast.service.observations import observed_area_o3_hours

    day = run.local_date
    fc = _day_forecast(ctx, day)
    if fc is None:
        return {"note": f"no forecast stored for {day}; nothing to compare"}
    areas = load_areas(ctx.settings.areas_file)
    out: dict[str, Any] = {}
    for area in areas.areas:
        # local hours 0..H-1 are complete at the run (hour H is still being measured)
        observed_ugm3 = observed_area_o3_hours(
            ctx.engine,
            area,
            day,
            ctx.settings.timezone,
            until=run.now,
            areas_file=ctx.settings.areas_file,
        )
        result = ctx.services.check_critical_crossing(
            ctx.engine, area, day, observed_ugm3, fc, run.now
        )
        risk = ctx.services.check_exceedance_probability(
            ctx.engine, area, day, observed_ugm3, fc, run.now
        )
        n_valid = sum(1 for v in observed_ugm3 if v == v)  # NaN != NaN
        out[area] = {
            "hours_observed": n_valid,
            "event": _brief(result),
            "exceedance_events": _brief(risk),
        }
    return out


def _brief(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [getattr(v, "id", str(v)) for v in value]
    return getattr(value, "id", str(value))


def train_and_register(
    engine: Engine,
    settings: Settings,
    *,
    until: date,
    now: datetime,
    start: date | None = None,
    activate: bool = True,
) -> str:
    """The retraining job's call into the registry; returns the new version."""
    from aqcast.service.registry import train_and_register as train_from_store

    bundle = train_from_store(
        engine, until=until, now=now, start=start, activate=activate, settings=settings
    )
    return bundle.version


def retrain(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    until = run.local_date.replace(day=1)
    version = ctx.services.train(ctx.engine, ctx.settings, until=until, now=run.now)
    return {"until": str(until), "model_version": str(version)}


def dispatch_webhooks(ctx: JobContext, run: RunInfo) -> dict[str, Any]:
    if ctx.services.dispatch is not None:
        stats = ctx.services.dispatch(ctx.engine, run.now)
    else:
        from aqcast.service.webhooks.dispatcher import run_dispatcher

        fixed_now = aware_to_store(run.now)
        stats = asyncio.run(run_dispatcher(ctx.engine, clock=lambda: fixed_now, once=True))
    return (
        {k: v for k, v in vars(stats).items()} if hasattr(stats, "__dict__") else {"stats": stats}
    )


def configured_feeds(
    ctx_engine: Engine, settings: Settings, client: Any
) -> tuple[list[Feed], list[Feed]]:
    """The live feeds the settings configure: ``(observation feeds, weather feeds)``.

    Weather: Open-Meteo forecasts (no key needed) for the stored stations with coordinates,
    unless ``open_meteo_forecast_url`` is empty. Observations: OpenAQ v3 for the stations
    mapped in ``openaq_locations`` (needs ``openaq_api_key``), re-reading the last
    ``openaq_lookback_hours`` so that late and corrected hours arrive (ingest is
    idempotent). Open-Meteo's air quality is a model, not a measurement, so it is never
    stored as an observation: its forecasts (CAMS) are pulled with the weather
    (``open_meteo_air``, unless ``open_meteo_air_quality_url`` is empty) and stored as
    forecasts, inputs of the models where present.
    """
    observations: list[Feed] = []
    if settings.openaq_locations and settings.openaq_api_key is not None:
        api_key = settings.openaq_api_key

        def fetch_observations(now: datetime) -> pd.DataFrame:
            from aqcast.service.sources.openaq import fetch_location_hours

            end = pd.Timestamp(aware_utc(now)).floor("h")
            start = end - pd.Timedelta(hours=settings.openaq_lookback_hours)
            frames = [
                fetch_location_hours(
                    client,
                    location_id,
                    station,
                    api_key=api_key,
                    start=start.to_pydatetime(),
                    end=end.to_pydatetime(),
                    base_url=settings.openaq_base_url,
                    timeout_s=settings.http_timeout_s,
                )
                for station, location_id in sorted(settings.openaq_locations.items())
            ]
            return pd.concat(frames, ignore_index=True)

        observations.append(Feed("openaq", fetch_observations))
    weather: list[Feed] = []
    if settings.open_meteo_forecast_url:

        def fetch_weather(now: datetime) -> pd.DataFrame:
            from aqcast.service.observations import list_stations
            from aqcast.service.sources.open_meteo import fetch_weather_forecast

            stations = list_stations(ctx_engine).dropna(subset=["lat", "lon"])
            return fetch_weather_forecast(
                client,
                stations,
                issued_at=now,
                base_url=settings.open_meteo_forecast_url,
                timeout_s=settings.http_timeout_s,
            )

        weather.append(Feed("open_meteo", fetch_weather))
    if settings.open_meteo_air_quality_url:

        def fetch_air_forecast(now: datetime) -> pd.DataFrame:
            from aqcast.service.observations import list_stations
            from aqcast.service.sources.open_meteo import fetch_air_quality_forecast

            stations = list_stations(ctx_engine).dropna(subset=["lat", "lon"])
            return fetch_air_quality_forecast(
                client,
                stations,
                issued_at=now,
                base_url=settings.open_meteo_air_quality_url,
                timeout_s=settings.http_timeout_s,
            )

        # CAMS forecasts: pulled with the weather, stored as forecasts (never observations).
        weather.append(Feed("open_meteo_air", fetch_air_forecast))
    return observations, weather


JOBS: dict[str, JobFunc] = {
    "pull_observations": pull_observations,
    "pull_weather_forecasts": pull_weather_forecasts,
    "pull_cnemc": pull_cnemc,
    "forecast": forecast,
    "publish": publish,
    "intraday_critical_value": intraday_critical_value,
    "retrain": retrain,
    "dispatch_webhooks": dispatch_webhooks,
}
