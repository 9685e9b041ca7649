"""A restart must not lose a scheduled run: claims are released on shutdown, a claim
whose owner process is gone is taken over at once, and `serve` on a busy port stops
before its scheduler claims anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aqcast.service.clock import SimulatedClock
from aqcast.service.locks import LIVE_OWNERS, claim_run, owner_gone, release_claims, run_status
from aqcast.service.scheduler import JobRunner, load_schedule
from aqcast.service.store import engine_for, make_engine
from aqcast.service.tables import JobRun
from tests.service.test_jobs_serve import free_port

T0 = datetime(2015, 6, 2, 0, 0, tzinfo=UTC)
STALE = timedelta(seconds=120)
HOST = socket.gethostname()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_gone_knows_dead_and_live_processes():
    assert owner_gone(f"{HOST}:{dead_pid()}:abcd1234")
    assert not owner_gone(f"{HOST}:{os.getppid()}:abcd1234")  # alive
    assert not owner_gone(f"elsewhere:{dead_pid()}:abcd1234")  # another host: heartbeat decides
    assert not owner_gone("a")
    mine = f"{HOST}:{os.getpid()}:feedbeef"
    assert owner_gone(mine)  # this pid, but no scheduler of that owner runs here
    LIVE_OWNERS.add(mine)
    try:
        assert not owner_gone(mine)
    finally:
        LIVE_OWNERS.discard(mine)


def test_a_fresh_claim_of_a_dead_process_is_taken_over_at_once(db_url):
    engine = engine_for(db_url)
    dead = f"{HOST}:{dead_pid()}:0badc0de"
    assert claim_run(engine, "publish", "2015-06-02", owner=dead, now=T0, stale_after=STALE)
    ten_s_later = T0 + timedelta(seconds=10)  # well inside stale_after
    alive_elsewhere = claim_run(
        engine,
        "publish",
        "2015-06-02",
        owner="other-host:1:x",
        now=ten_s_later,
        stale_after=STALE,
    )
    assert alive_elsewhere is not None and alive_elsewhere.taken_over_from == dead


def test_released_claims_are_retried_by_the_next_process(db_url):
    engine = engine_for(db_url)
    a = claim_run(engine, "publish", "2015-06-03", owner="srv-a", now=T0, stale_after=STALE)
    assert a is not None
    assert (
        claim_run(engine, "publish", "2015-06-03", owner="srv-b", now=T0, stale_after=STALE) is None
    )
    assert release_claims(engine, "srv-a", T0 + timedelta(seconds=5)) == 1
    assert run_status(engine, "publish", "2015-06-03") == "failed"
    b = claim_run(
        engine,
        "publish",
        "2015-06-03",
        owner="srv-b",
        now=T0 + timedelta(seconds=6),
        stale_after=STALE,
    )
    assert b is not None and b.attempt == 2


def test_runner_release_gives_up_what_it_holds(sqlite_url):
    engine = engine_for(sqlite_url)
    clock = SimulatedClock(T0)
    schedule = load_schedule()
    runner = JobRunner(
        engine=engine,
        clock=clock,
        schedule=schedule,
        jobs={name: (lambda ctx, run: {}) for name in schedule.jobs},
        context=None,
        tz=UTC,
    )
    assert runner.owner in LIVE_OWNERS
    claim_run(engine, "forecast", "2015-06-02", owner=runner.owner, now=T0, stale_after=STALE)
    assert runner.release() == 1
    assert runner.owner not in LIVE_OWNERS
    assert run_status(engine, "forecast", "2015-06-02") == "failed"


@pytest.mark.slow
def test_serve_on_a_busy_port_fails_before_the_scheduler_claims_anything(sqlite_url, tmp_path):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        env = {
            **os.environ,
            "AQCAST_DATABASE_URL": sqlite_url,
            "AQCAST_OPEN_METEO_FORECAST_URL": "",
        }
        done = subprocess.run(
            [sys.executable, "-m", "aqcast", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    with make_engine(sqlite_url).connect() as c:
        assert c.execute(select(JobRun)).all() == []
