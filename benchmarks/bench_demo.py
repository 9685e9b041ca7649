"""Time and peak memory of `aqcast demo --no-serve` from a fresh home: ingest the shared
Beijing data, train on the data before the replay, replay the days through the scheduler;
then the same command again (everything already done: nothing is ingested, trained or
published twice).

Usage:
    .venv/bin/python benchmarks/bench_demo.py [--start 2015-06-01] [--end 2015-06-21] [DATA_DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# Runs the demo as its grandchild and prints that child's own peak RSS (KiB) last, so each
# measurement is of one run only.
MEASURE = (
    "import resource, subprocess, sys; "
    "rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


def run(home: Path, args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS of the demo in MiB, and its summary lines."""
    cmd = [
        sys.executable,
        "-c",
        MEASURE,
        str(ROOT / ".venv" / "bin" / "aqcast"),
        "demo",
        "--no-serve",
        *args,
    ]
    started = time.perf_counter()
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={"AQCAST_HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"demo failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.splitlines()
    peak_mib = int(lines[-1]) / 1024
    summary = [
        ln.strip()
        for ln in lines
        if ln.strip().startswith(("trained", "model v", "all ")) or " runs: " in ln
    ]
    return elapsed, peak_mib, "; ".join(summary)


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
