"""Cost of ``aqcast ingest cnemc`` on national hourly files (synthetic, not real data).

Run: .venv/bin/python benchmarks/bench_cnemc_ingest.py [--days 30] [--stations 1600]
Writes one file per hour (GB18030) for ``--stations`` stations, of which the fixture's
two Tianjin stations carry published rolling columns (tests/support/cnemc_fixture.py) and the
others hourly values only, then times the command with ``--area 天津市`` on a fresh
SQLite store, and a second run of the same files (nothing new to store).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

import numpy as np  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tests.support.cnemc_fixture import csv_text, platform_tables  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--stations", type=int, default=1600)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_cnemc_"))
    folder = tmp / "files"
    folder.mkdir()
    rng = np.random.default_rng(1)
    by_hour = platform_tables(date(2024, 7, 1), args.days)
    started = time.perf_counter()
    for t_end, rows in sorted(by_hour.items()):
        rows = [r for r in rows if r["area"] == "天津市"]
        for i in range(args.stations - len(rows)):
            v = rng.integers(5, 150, size=6)
            rows.append(
                {
                    "timepoint": t_end.strftime("%Y-%m-%d %H:%M:%S"),
                    "stationcode": f"{2000 + i}A",
                    "longitude": 110.0,
                    "latitude": 30.0,
                    "area": "某市",
                    "positionname": f"站{i}",
                    "pm2_5": v[0],
                    "pm10": v[1],
                    "so2": v[2],
                    "no2": v[3],
                    "co": round(v[4] / 100, 1),
                    "o3": v[5],
                }
            )
        (folder / f"china_sites_{t_end:%Y%m%d%H}.csv").write_bytes(csv_text(rows).encode("gb18030"))
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(
        f"wrote {len(by_hour)} files, {args.stations} stations each, "
        f"{size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s"
    )
    import os

    os.environ["AQCAST_DATABASE_URL"] = f"sqlite:///{tmp / 'aqcast.db'}"
    from aqcast.service.cli import app

    runner = CliRunner()
    for label in ("first load", "second load (idempotent)"):
        t0 = time.perf_counter()
        res = runner.invoke(app, ["ingest", "cnemc", str(folder), "--area", "天津市"])
        elapsed = time.perf_counter() - t0
        if res.exit_code != 0:
            print(res.output)
            raise SystemExit(1)
        print(f"{label}: {elapsed:.1f} s")
        print("  " + "\n  ".join(res.output.strip().splitlines()[:4]))


if __name__ == "__main__":
    main()
