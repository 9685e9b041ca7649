"""Time and peak memory of loading the 12 Beijing stations (315,648 hourly rows).

Usage:
    .venv/bin/python benchmarks/bench_ingest.py [--sqlite-only] [--data DIR]

For each backend (a fresh SQLite file; a fresh PostgreSQL database on the server of
AQCAST_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test) it runs, in
a child process so that peak memory is the child's own: the first load (`aqcast ingest
prsa`, daily statistics included), the same load again (nothing new), and reading all
three years back with load_hourly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("AQCAST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def child(url: str, data: str, step: str) -> None:
    os.environ["AQCAST_DATABASE_URL"] = url
    started = time.perf_counter()
    if step == "load_hourly":
        from aqcast.service.observations import load_hourly
        from aqcast.service.store import engine_for

        frame = load_hourly(engine_for(url), "2013-01-01T00:00Z", "2017-01-01T00:00Z")
        rows = len(frame)
    else:
        from typer.testing import CliRunner

        from aqcast.service.cli import app

        result = CliRunner().invoke(app, ["ingest", "prsa", data])
        if result.exit_code != 0:
            raise SystemExit(result.output)
        rows = result.output.strip().splitlines()[-1]
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"step": step, "seconds": round(elapsed, 1), "peak_mb": round(peak_mb), "result": rows}
        )
    )


def run_backend(name: str, url: str, data: str) -> None:
    for step in ("first load", "second load", "load_hourly"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", url, "--data", data, "--step", step],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "AQCAST_HOME": str(Path(tempfile.gettempdir()) / "aqcast-bench")},
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{name:10s} {r['step']:12s} {r['seconds']:6.1f} s  peak {r['peak_mb']:5d} MB  "
            f"{r['result']}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/beijing-multisite"))
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--step")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.step)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run_backend("sqlite", f"sqlite:///{tmp}/bench.db", args.data)
    if args.sqlite_only:
        return
    from sqlalchemy import create_engine, text

    db = f"aqcast_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        run_backend("postgresql", PG_ADMIN.rsplit("/", 1)[0] + f"/{db}", args.data)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
