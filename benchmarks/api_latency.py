"""Throughput and latency of the API's reads beside a bare FastAPI app serving the same
bytes, over real HTTP on the loopback, measured side by side in one run.

Run: .venv/bin/python benchmarks/api_latency.py [--json] [--n 300] [--url sqlite:///...]

The store is the API test fixture (tests/api_seed.py) plus one issue the size of the
production forecast: the district and 14 stations x every daily variable x
4 leads (about 107 KB of JSON for ``GET /v1/forecasts``). Three servers run one after
the other, each a single uvicorn process on 127.0.0.1 with the same settings:

- ``bare``: a FastAPI app with one route returning the bytes aqcast answered for
  ``GET /v1/forecasts`` (no database, no key check, no validation);
- ``aqcast``: the service (``create_app``) on the store;
- ``aqcast_uncached``: the same with its body cache holding nothing, so every 200 builds
  the body from the store (what each request cost before the cache).

The same client (httpx, keep-alive, ``--n`` requests per measurement) reads each route at
concurrency 1 and 20. Printed per measurement: requests/s, p50/p95/p99 ms, and the server
process's CPU ms per request (from /proc, so less distorted by other load than wall time),
then the ratios: aqcast/bare throughput for ``/v1/forecasts``, and the CPU of a 200 (built
and from the cache) over the CPU of a 304. With ``--json`` one JSON object is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))  # for tests.support

from tests.support.api_seed import DAY, NOW, auth, seed  # noqa: E402

LARGE_DAY = DAY + timedelta(days=1)
FORECASTS = "/v1/forecasts"
# Other reads, profiled at concurrency 1 on the service alone.
OTHER_ROUTES = [
    "/v1/forecasts?format=csv",
    f"/v1/forecasts/{LARGE_DAY}/ozone",
    f"/v1/forecasts/{LARGE_DAY}/risk",
    "/v1/advisories",
    "/v1/prompts",
    "/v1/events?limit=100",
    "/v1/verification?days=30",
    "/v1/observations?limit=100",
    "/",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def seed_large_issue(url: str, n_stations: int = 12) -> None:
    """One more issue (``LARGE_DAY``, the latest) with the district and ``n_stations``
    stations, every daily variable, leads 0-3, hourly O3 and critical values."""
    from aqcast.features.nomenclature import DAILY
    from aqcast.service.store import engine_for, session_scope
    from aqcast.service.tables import ForecastRun, ForecastValue
    from tests.support.api_seed import payload

    issued = datetime(LARGE_DAY.year, LARGE_DAY.month, LARGE_DAY.day) - timedelta(hours=1)
    entities = [("district", "")] + [("", f"S{i:02d}") for i in range(n_stations)]
    with session_scope(engine_for(url)) as s:
        run = ForecastRun(
            issue_date=LARGE_DAY,
            issued_at=issued,
            created_at=issued,
            model_version="v20150602",
            met_mode="stored",
            method="model",
            missing_inputs=[],
            notes=[],
            payload=payload(LARGE_DAY),
        )
        s.add(run)
        s.flush()
        rows = []
        for lead in range(4):
            for k, variable in enumerate(DAILY):
                for j, (area, station) in enumerate(entities):
                    q50 = 40.0 + 7.3 * k + 1.1 * j + 3.7 * lead
                    rows.append(
                        ForecastValue(
                            run_id=run.id,
                            issue_date=LARGE_DAY,
                            target_date=LARGE_DAY + timedelta(days=lead),
                            lead_days=lead,
                            area=area,
                            station=station,
                            variable=variable,
                            q10=q50 * 0.8123,
                            q50=q50,
                            q90=q50 * 1.2345,
                            p_exceed=0.0123 * (k + 1),
                            threshold=160.0,
                            method="model",
                        )
                    )
        s.add_all(rows)


# --- the servers (run as subprocesses of this script) --------------------------------


def serve_bare(body_file: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

    body = Path(body_file).read_bytes()
    app = FastAPI()

    @app.get(FORECASTS)
    def forecasts() -> Response:
        return Response(content=body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_aqcast(url: str, port: int, *, cache: bool) -> None:
    import uvicorn

    from aqcast.service.api.app import create_app
    from aqcast.service.api.caching import BodyCache
    from aqcast.service.settings import Settings

    app = create_app(Settings(database_url=url, env="test"), clock=lambda: NOW)
    if not cache:
        app.state.body_cache = BodyCache(max_bytes=0)  # keeps nothing: every 200 builds
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args: list[str], headers: dict[str, str]) -> None:
        self.port = free_port()
        cmd = [sys.executable, str(HERE), *args, "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd)  # noqa: S603 - this script, fixed arguments
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.base + FORECASTS, headers=headers, timeout=5).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server {args} did not start")
            time.sleep(0.2)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the client ------------------------------------------------------------------------


async def _load(base: str, path: str, headers: dict, n: int, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: set[int] = set()
    sizes: set[int] = set()
    remaining = n
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t = time.perf_counter()
                r = await client.get(path, headers=headers)
                latencies.append((time.perf_counter() - t) * 1000)
                statuses.add(r.status_code)
                sizes.add(len(r.content))

        for _ in range(min(10, n)):  # warm the connections and the server's cache
            await client.get(path, headers=headers)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "statuses": sorted(statuses),
        "bytes": sorted(sizes),
    }


def measure(server: Server, name: str, path: str, headers: dict, n: int, conc: int) -> dict:
    c0 = server.cpu_s()
    out = asyncio.run(_load(server.base, path, headers, n, conc))
    cpu = server.cpu_s() - c0
    warm = min(10, n)
    out["server_cpu_ms_per_request"] = round(1000 * cpu / (out["requests"] + warm), 2)
    return {"server": name, "route": path, "concurrency": conc, **out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="requests per measurement")
    ap.add_argument("--url", default="", help="database URL (default: a new SQLite file)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--serve", choices=["bare", "aqcast", "aqcast_uncached"], help=argparse.SUPPRESS
    )
    ap.add_argument("--body-file", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve == "bare":
        serve_bare(args.body_file, args.port)
        return
    if args.serve:
        serve_aqcast(args.url, args.port, cache=args.serve == "aqcast")
        return

    from aqcast.service.store import migrate

    tmp = Path(tempfile.mkdtemp())
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"
    migrate(url)
    keys = seed(url)
    seed_large_issue(url, n_stations=14)
    h = auth(keys.officer)
    results: list[dict] = []
    n = args.n

    aq = Server(["--serve", "aqcast", "--url", url], h)
    try:
        first = httpx.get(aq.base + FORECASTS, headers=h, timeout=30)
        body, etag = first.content, first.headers["etag"]
        h304 = {**h, "If-None-Match": etag}
        for conc in (1, 20):
            results.append(measure(aq, "aqcast", FORECASTS, h, n, conc))
            results.append(measure(aq, "aqcast_304", FORECASTS, h304, n, conc))
        for path in OTHER_ROUTES:
            results.append(measure(aq, "aqcast", path, h, max(50, n // 3), 1))
    finally:
        aq.stop()
    (tmp / "body.json").write_bytes(body)

    bare = Server(["--serve", "bare", "--body-file", str(tmp / "body.json")], {})
    try:
        for conc in (1, 20):
            results.append(measure(bare, "bare", FORECASTS, {}, n, conc))
    finally:
        bare.stop()

    cold = Server(["--serve", "aqcast_uncached", "--url", url], h)
    try:
        for conc in (1, 20):
            results.append(measure(cold, "aqcast_uncached", FORECASTS, h, max(60, n // 3), conc))
        for path in OTHER_ROUTES[:3]:
            results.append(measure(cold, "aqcast_uncached", path, h, max(30, n // 6), 1))
    finally:
        cold.stop()

    def get(server: str, conc: int, route: str = FORECASTS) -> dict:
        return next(
            r
            for r in results
            if r["server"] == server and r["concurrency"] == conc and r["route"] == route
        )

    ratios = {}
    for conc in (1, 20):
        a, b, nm, cold_r = (
            get(s, conc) for s in ("aqcast", "bare", "aqcast_304", "aqcast_uncached")
        )
        ratios[f"c{conc}_throughput_vs_bare"] = round(a["per_second"] / b["per_second"], 2)
        ratios[f"c{conc}_uncached_throughput_vs_bare"] = round(
            cold_r["per_second"] / b["per_second"], 2
        )
        # server CPU per request: less distorted than wall time when the host is shared
        ratios[f"c{conc}_server_cpu_bare_over_aqcast"] = round(
            b["server_cpu_ms_per_request"] / a["server_cpu_ms_per_request"], 2
        )
        ratios[f"c{conc}_cpu_200_built_over_304"] = round(
            cold_r["server_cpu_ms_per_request"] / nm["server_cpu_ms_per_request"], 2
        )
        ratios[f"c{conc}_cpu_200_cached_over_304"] = round(
            a["server_cpu_ms_per_request"] / nm["server_cpu_ms_per_request"], 2
        )
    report = {
        "body_bytes": len(body),
        "requests_per_measurement": n,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "results": results,
        "ratios": ratios,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"GET {FORECASTS}: {len(body)} bytes; load average {report['load_average']}")
    print(
        f"{'server':16s} {'route':34s} {'c':>3s} {'req/s':>8s} {'p50':>7s} {'p95':>7s} "
        f"{'p99':>7s} {'cpu ms':>7s} status"
    )
    for r in results:
        print(
            f"{r['server']:16s} {r['route']:34s} {r['concurrency']:3d} {r['per_second']:8.1f} "
            f"{r['p50_ms']:7.2f} {r['p95_ms']:7.2f} {r['p99_ms']:7.2f} "
            f"{r['server_cpu_ms_per_request']:7.2f} {r['statuses']}"
        )
    for k, v in ratios.items():
        print(f"{k:36s} {v}")


if __name__ == "__main__":
    main()
