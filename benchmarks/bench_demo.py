"""Time and peak memory of `aqcast demo --no-serve` from a fresh home: ingest the shared
Beijing data, train on the data before the replay, replay the days through the scheduler;
then the same command again (everything already done: nothing is ingested, trained or
published twice).

Usage:
    .venv/bin/python benchmarks/bench_demo.py [--start 2015-06-01] [--end 2015-06-21] [DATA_DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(home: Path, args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS of the child in MiB, and its last output lines."""
    cmd = [str(ROOT / ".venv" / "bin" / "aqcast"), "demo", "--no-serve", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={"AQCAST_HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        sys.exit(f"demo failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    tail = [ln for ln in done.stdout.splitlines() if "runs:" in ln or "model" in ln[:12]]
    return elapsed, max(peak, before) / 1024, "; ".join(ln.strip() for ln in tail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--start", default="2015-06-01")
    parser.add_argument("--end", default="2015-06-21")
    opts = parser.parse_args()
    args = ["--start", opts.start, "--end", opts.end]
    if opts.data_dir:
        args.insert(0, opts.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for label in ("fresh home", "again"):
            s, mib, what = run(home, args)
            print(f"{label}: {s:.0f} s wall, peak RSS {mib:.0f} MiB ({what})")


if __name__ == "__main__":
    main()
