"""``aqcast serve`` (the API and the scheduler, for real operation) and ``aqcast demo``
(load the shared data, train, replay past days through the scheduler, serve the result)."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from aqcast.service.settings import Settings, get_settings
from aqcast.service.sources.prsa import prsa_station

log = logging.getLogger("aqcast.serve")

DEMO_START = date(2015, 6, 1)
DEMO_END = date(2015, 6, 21)


def _echo(msg: str) -> None:
    typer.echo(msg)


def _uvicorn(settings: Settings, host: str, port: int, clock: Any = None, sock: Any = None) -> None:
    import uvicorn

    from aqcast.service.api.app import create_app

    config = uvicorn.Config(
        create_app(settings, clock=clock), host=host, port=port, log_level="info"
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


def bind_port(host: str, port: int) -> socket.socket:
    """The listening socket for ``host:port``, bound now: a busy port fails here, before
    anything else starts (no scheduler fires catch-up jobs, no run is claimed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise typer.BadParameter(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another aqcast "
            "serve running? Choose another with --port",
            param_hint="--port",
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


# --- aqcast serve ------------------------------------------------------------------------


def start_scheduler(settings: Settings, schedule_file: Path | None = None) -> tuple[Any, Any]:
    """Start the scheduler in a background thread: returns ``(scheduler, runner)``.

    It runs missed runs at once when it is (or becomes) the leader; a standby replica
    keeps trying for the leader lock at every fire.
    """
    import httpx

    from aqcast.service.clock import SystemClock
    from aqcast.service.jobs import JOBS, JobContext, configured_feeds
    from aqcast.service.locks import LeaderLock
    from aqcast.service.scheduler import JobRunner, build_scheduler, load_schedule
    from aqcast.service.store import engine_for

    engine = engine_for(settings.database_url)
    client = httpx.Client(timeout=settings.http_timeout_s, follow_redirects=True)
    observation_feeds, weather_feeds = configured_feeds(engine, settings, client)
    ctx = JobContext(
        engine,
        settings,
        SystemClock(),
        observation_feeds=observation_feeds,
        weather_feeds=weather_feeds,
    )
    runner = JobRunner(
        engine=engine,
        clock=ctx.clock,
        schedule=load_schedule(schedule_file),
        jobs=JOBS,
        context=ctx,
        tz=settings.tz,
        leader=LeaderLock(engine),
    )
    runner.on_leadership = runner.catch_up
    scheduler = build_scheduler(runner)
    scheduler.start()
    if not observation_feeds:
        log.warning("no live observation feed configured: observations come from ingests only")
    # The first election (and with it the catch-up of missed runs) happens beside the API's
    # start, so a long catch-up does not keep /healthz down.
    threading.Thread(target=_first_election, args=(runner,), daemon=True).start()
    return scheduler, runner


def _first_election(runner: Any) -> None:
    if runner.is_leader():
        log.info("scheduler %s leads", runner.owner)
    else:
        log.info("scheduler %s stands by for the leader lock", runner.owner)


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: settings.api_host)."),
    port: int | None = typer.Option(None, help="Port (default: settings.api_port)."),
    no_scheduler: bool = typer.Option(
        False, "--no-scheduler", help="API only: for replicas beside the one that schedules."
    ),
    schedule: Path | None = typer.Option(
        None, help="Schedule file (default: the one shipped in aqcast/config/schedule.yaml)."
    ),
) -> None:
    """Serve the API and page, and run the scheduled jobs (unless --no-scheduler)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from aqcast.service.store import open_store

    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    open_store(settings.database_url)  # a new store is migrated first
    sock = bind_port(host, port)
    scheduler = runner = None
    try:
        if not no_scheduler:
            scheduler, runner = start_scheduler(settings, schedule)
        _uvicorn(settings, host, port, sock=sock)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        if runner is not None:
            runner.release()  # runs still held become retriable at once
        sock.close()


# --- aqcast demo -----------------------------------------------------------------------


def prsa_station_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in Path(data_dir).glob("PRSA_Data_*.csv") if prsa_station(p))


def ingest_missing_stations(engine: Any, files: Iterable[Path]) -> list[str]:
    """Ingest the PRSA files whose station has no stored observations yet; returns the
    stations loaded now (none when everything was loaded before)."""
    from aqcast.service.ingest.prsa import ingest_prsa_files

    reports = ingest_prsa_files(
        engine, files, skip_loaded=True, on_report=lambda r: _echo(f"  {r.summary()}")
    )
    return [prsa_station(Path(r.file_label)) for r in reports]


def demo_schedule(met: str) -> Any:
    from aqcast.service.scheduler import load_schedule

    sched = load_schedule()
    for name in ("forecast", "publish"):
        if name in sched.jobs:
            sched.jobs[name].options["met"] = met
    return sched


def replay(engine: Any, settings: Settings, start: date, end: date, met: str) -> list[Any]:
    """Replay ``start``..``end`` through the scheduler's jobs on a simulated clock."""
    from aqcast.service.clock import SimulatedClock
    from aqcast.service.jobs import JOBS, JobContext
    from aqcast.service.scheduler import JobRunner, replay_days

    tz = settings.tz
    clock = SimulatedClock(datetime.combine(start, datetime.min.time(), tzinfo=tz))
    ctx = JobContext(engine, settings, clock)  # no live feeds: the past is in the store
    runner = JobRunner(
        engine=engine,
        clock=clock,
        schedule=demo_schedule(met),
        jobs=JOBS,
        context=ctx,
        tz=tz,
        owner="demo-replay",
    )

    def report(t: datetime, outcome: Any) -> None:
        if outcome.job != "publish" and outcome.status != "failed":
            return
        local = t.astimezone(tz)
        if outcome.status == "skipped":
            _echo(f"  {local:%Y-%m-%d %H:%M} already published earlier: nothing published twice")
            return
        if outcome.status == "failed":
            _echo(f"  {local:%Y-%m-%d %H:%M} {outcome.job}: FAILED {outcome.detail.get('error')}")
            return
        d = outcome.detail
        missing = ", ".join(d.get("missing_inputs") or []) or "none"
        _echo(
            f"  {local:%Y-%m-%d %H:%M} published: {d.get('method')}, "
            f"{len(d.get('events') or [])} events, missing inputs: {missing}"
        )

    return replay_days(runner, clock, start, end, on_fire=report)


def demo(
    data_dir: Path | None = typer.Argument(
        None, help="Folder with PRSA_Data_*.csv (default: settings.beijing_dir)."
    ),
    start: str = typer.Option(DEMO_START.isoformat(), help="First replayed day (local)."),
    end: str = typer.Option(DEMO_END.isoformat(), help="Last replayed day (local), included."),
    met: str = typer.Option(
        "observed",
        help="Weather input of the replayed forecasts: 'observed' (the shared data has no "
        "archived weather forecasts, so this is perfect prognosis, and every output says "
        "so) or 'stored'.",
    ),
    train_from: str | None = typer.Option(
        None, "--train-from", help="First day of training data (default: the first stored)."
    ),
    no_serve: bool = typer.Option(False, "--no-serve", help="Stop after the replay."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on."),
    port: int = typer.Option(8000, help="Port to serve on."),
) -> None:
    """Load the Beijing data, train, replay days through the scheduler, serve the result."""
    from aqcast.service.store import engine_for, migrate

    first, last = _day(start, "--start"), _day(end, "--end")
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}", param_hint="--end")
    if met not in {"observed", "stored"}:
        raise typer.BadParameter(f"{met!r}: use observed or stored", param_hint="--met")
    settings = get_settings()
    folder = (Path(data_dir) if data_dir is not None else settings.beijing_dir).resolve()
    files = prsa_station_files(folder)
    if not files:
        _echo(
            f"No PRSA_Data_*.csv files in {folder}.\n"
            f"The demo reads the Beijing multi-site data from <AQCAST_DATA_DIR>/beijing-multisite "
            f"(AQCAST_DATA_DIR is now {settings.data_path}). Set AQCAST_DATA_DIR to the folder "
            "that holds beijing-multisite/, or pass the data folder: aqcast demo DIR"
        )
        raise typer.Exit(2)
    _echo(f"database: {settings.database_url}")
    migrate(settings.database_url)
    engine = engine_for(settings.database_url)

    _echo(f"1/4 data: {folder}")
    loaded = ingest_missing_stations(engine, files)
    if not loaded:
        _echo(f"  all {len(files)} stations already loaded; nothing to ingest")

    _echo(f"2/4 model: trained on data before {first}")
    since = _day(train_from, "--train-from") if train_from else None
    _echo(f"  {train_before(engine, settings, first, since)}")

    _echo(f"3/4 replay {first}..{last} through the scheduler (simulated clock, met={met})")
    outcomes = replay(engine, settings, first, last, met)
    failed = [o for o in outcomes if o.status == "failed"]
    published = [o for o in outcomes if o.job == "publish" and o.status == "done"]
    _echo(f"  {len(outcomes)} runs: {len(published)} prompts published, {len(failed)} failed")

    key, reused = demo_key(engine, settings)
    base = f"http://{host}:{port}"
    _echo("4/4 where to look")
    _echo(f"  the prompt of {last}: {base}/prompt/{last.isoformat()}")
    _echo(f"  the prompt of {first}: {base}/prompt/{first.isoformat()}  (English: ?lang=en)")
    _echo(f"  API docs:   {base}/docs")
    kept = settings.home_path / DEMO_KEY_FILE
    _echo(f"  the demo's officer API key ({'reused, ' if reused else ''}kept in {kept}): {key}")
    _echo(f"  e.g. curl -H 'Authorization: Bearer {key}' {base}/v1/forecasts?issue_date={last}")
    if failed:
        _echo(f"  {len(failed)} runs failed; see the job_runs table for their errors")
    _echo(
        "  webhooks: this demo also sends them; to try one on this machine, start it with "
        "AQCAST_WEBHOOK_ALLOW_PRIVATE=127.0.0.1 (docs/api.md, Webhooks)"
    )
    if no_serve:
        return
    sock = bind_port(host, port)
    _echo(f"serving on {base} (Ctrl-C to stop)")
    sys.stdout.flush()
    stop_dispatcher = start_dispatcher(engine, settings)
    try:
        _uvicorn(settings, host, port, sock=sock)
    finally:
        stop_dispatcher()
        sock.close()


def start_dispatcher(engine: Any, settings: Settings) -> Any:
    """Run the webhook dispatcher in a background thread (its own event loop), so that
    deliveries, test events included, go out while the demo serves; returns a function
    that stops it and waits for it."""
    import asyncio

    from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(
            run_dispatcher(engine, config=DispatchConfig.from_settings(settings), stop=stop)
        )
        loop.close()

    thread = threading.Thread(target=run, name="webhook-dispatcher", daemon=True)
    thread.start()

    def stop_and_wait() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)

    return stop_and_wait


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from None


def train_before(
    engine: Any, settings: Settings, first_day: date, since: date | None = None
) -> str:
    """Make sure the active model was trained on data before ``first_day`` only (the
    replay must not forecast days the model has seen)."""
    from sqlalchemy import select

    from aqcast.service.jobs import train_and_register
    from aqcast.service.tables import ModelVersion

    with engine.connect() as conn:
        active = conn.execute(
            select(ModelVersion).where(ModelVersion.active.is_(True))
        ).one_or_none()
    if active is not None and active.train_end < first_day:
        return f"model {active.version} (data {active.train_start}..{active.train_end}) is ready"
    started = time.perf_counter()
    version = train_and_register(
        engine, settings, until=first_day, start=since, now=datetime.now(UTC)
    )
    return f"trained model {version} in {time.perf_counter() - started:.0f} s"


DEMO_KEY_FILE = "demo-officer.key"


def create_demo_key(engine: Any) -> str:
    from aqcast.features.timeutil import store_now
    from aqcast.service.auth import create_key
    from aqcast.service.store import session_scope

    with session_scope(engine) as session:
        _, key = create_key(session, name="demo officer", role="officer", now=store_now())
    return key


def demo_key(engine: Any, settings: Settings) -> tuple[str, bool]:
    """The demo's officer key and whether it was reused: the key of an earlier run, kept
    (owner-only) in AQCAST_HOME, while the store still knows it unrevoked; else a new one."""
    import os

    from aqcast.service.auth import lookup_key
    from aqcast.service.store import session_scope

    path = settings.home_path / DEMO_KEY_FILE
    if path.is_file():
        kept = path.read_text(encoding="utf-8").strip()
        with session_scope(engine) as session:
            if kept and lookup_key(session, kept) is not None:
                return kept, True
    key = create_demo_key(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key, False
