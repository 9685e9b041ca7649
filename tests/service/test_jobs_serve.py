"""`aqcast serve` end to end: the API answers and the scheduler runs its jobs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from aqcast.service.store import make_engine
from aqcast.service.tables import JobRun


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"aqcast serve exited with {proc.returncode}"
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


def serve(args: list[str], url: str, tmp_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "AQCAST_DATABASE_URL": url,
        "AQCAST_OPEN_METEO_FORECAST_URL": "",  # no network here
    }
    with (tmp_path / "serve.log").open("w") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "aqcast", "serve", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
def test_serve_answers_health_and_its_scheduler_runs_jobs_once_per_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        "heartbeat_s: 1\nstale_after_s: 10\n"
        "jobs:\n  pull_observations:\n    key: hour\n    triggers: [{second: '*'}]\n"
    )
    port = free_port()
    proc = serve(["--port", str(port), "--schedule", str(schedule)], sqlite_url, tmp_path)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
        engine = make_engine(sqlite_url)
        deadline = time.monotonic() + 20
        rows = []
        while time.monotonic() < deadline and not rows:
            with engine.connect() as conn:
                rows = conn.execute(select(JobRun)).all()
            time.sleep(0.3)
        time.sleep(1.5)  # more fires within the same hour: still one run
        with engine.connect() as conn:
            rows = conn.execute(select(JobRun)).all()
        engine.dispose()
    finally:
        stop(proc)
    assert len(rows) == 1, (tmp_path / "serve.log").read_text()[-2000:]
    assert (rows[0].job, rows[0].status) == ("pull_observations", "done")
    assert rows[0].detail["note"] == "no live feed configured; nothing pulled"


@pytest.mark.slow
def test_serve_without_scheduler_runs_no_jobs(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = serve(["--port", str(port), "--no-scheduler"], sqlite_url, tmp_path)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
        time.sleep(1)
    finally:
        stop(proc)
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(JobRun)).all() == []
    engine.dispose()
