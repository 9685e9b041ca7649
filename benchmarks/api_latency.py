"""Latency of the main reads and of the duty officers' page, in process (TestClient).

Run: .venv/bin/python benchmarks/api_latency.py [--n 200] [--url sqlite:///...]
Seeds a fresh store with the API test fixture (one issue with 13 forecast points of 4
variables and 4 leads, 24 hourly O3 values) and prints the median and 95th percentile.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

from aqcast.service.store import migrate  # noqa: E402
from tests.support.api_seed import DAY, auth, make_client, seed  # noqa: E402

PATHS = [
    "/v1/forecasts",
    "/v1/forecasts?format=csv",
    f"/v1/forecasts/{DAY}/ozone",
    "/v1/events?limit=100",
    "/v1/verification?days=30",
    "/v1/observations?limit=100",
    "/",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--url", default="")
    args = ap.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    migrate(url)
    keys = seed(url)
    h = auth(keys.officer)
    with make_client(url) as client:
        print(f"{'path':34s} {'median ms':>10s} {'p95 ms':>8s}")
        for path in PATHS:
            for _ in range(5):
                client.get(path, headers=h)
            times = []
            for _ in range(args.n):
                t = time.perf_counter()
                r = client.get(path, headers=h)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"{path:34s} {statistics.median(times):10.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
