"""Time and peak memory of delivering 10,000 webhooks to a receiver on loopback.

    .venv/bin/python benchmarks/bench_webhooks.py                 # SQLite in a temp dir
    .venv/bin/python benchmarks/bench_webhooks.py --database-url postgresql+psycopg://...
    .venv/bin/python benchmarks/bench_webhooks.py --tracemalloc   # Python heap peak too

The receiver (the verifying ``LoopbackReceiver``) runs in its own process so that it does
not share the dispatcher's interpreter. The outbox rows are created first (through
``record_event``, as alerts do); the timed part is the dispatcher draining them:
claim, sign, POST, record each attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select

from aqcast.service.auth import create_key
from aqcast.service.events import record_event
from aqcast.service.settings import Settings
from aqcast.service.store import engine_for, migrate, session_scope
from aqcast.service.tables import Delivery
from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher
from aqcast.service.webhooks.policy import RetryPolicy
from aqcast.service.webhooks.subscriptions import create_subscription


def _serve(secret_q: mp.Queue, port_q: mp.Queue, stop: mp.Event, result_q: mp.Queue) -> None:
    from aqcast.service.webhooks.loopback import LoopbackReceiver

    secret = secret_q.get()
    with LoopbackReceiver(secrets=[secret], keep_bodies=False) as rx:
        port_q.put(rx.port)
        stop.wait()
        received = list(rx.received)
    result_q.put(
        (len(received), len({r.webhook_id for r in received}), sum(r.verified for r in received))
    )


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="deliveries")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    migrate(url)
    engine = engine_for(url)
    settings = Settings(
        database_url=url, webhook_allow_private=["127.0.0.1"], webhook_require_https=False
    )

    ctx = mp.get_context("spawn")
    secret_q, port_q, result_q, stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    receiver = ctx.Process(target=_serve, args=(secret_q, port_q, stop, result_q), daemon=True)
    receiver.start()

    t0 = time.perf_counter()
    day = date(2026, 6, 1)
    with session_scope(engine) as s:
        key, _ = create_key(s, name="bench", role="enterprise", now=utcnow())
        # the port is not known yet: subscribe a placeholder, set the URL below
        sub, secret = create_subscription(
            s,
            key,
            url="http://127.0.0.1:9/hook",
            event_types=["advisory"],
            settings=settings,
            now=utcnow(),
        )
        sub_id = sub.id
    secret_q.put(secret)
    port = port_q.get(timeout=60)
    with session_scope(engine) as s:
        s.get(type(sub), sub_id).url = f"http://127.0.0.1:{port}/hook"
        for i in range(args.n):
            record_event(
                s,
                type="advisory",
                area="north",
                issue_date=day,
                start_date=day,
                end_date=day,
                payload={"sector": "coating", "i": i, "text": {"zh": "错峰生产", "en": "stagger"}},
                dedup_key=f"bench|{i}",
                now=utcnow(),
            )
    setup_s = time.perf_counter() - t0

    config = DispatchConfig(
        retry=RetryPolicy(schedule_s=(1.0, 5.0)),
        timeout_s=10.0,
        max_in_flight=args.in_flight,
        require_https=False,
        allow_private=("127.0.0.1",),
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.tracemalloc:
        tracemalloc.start()
    t1 = time.perf_counter()
    stats = asyncio.run(run_dispatcher(engine, config=config, batch_size=args.batch, once=True))
    elapsed = time.perf_counter() - t1
    heap_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    stop.set()
    received, unique, verified = result_q.get(timeout=60)
    receiver.join(timeout=10)
    with session_scope(engine) as s:
        delivered = s.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
        )

    backend = engine.dialect.name
    print(f"backend                 {backend}")
    print(f"deliveries              {args.n} (max in flight {args.in_flight}, batch {args.batch})")
    print(f"outbox setup            {setup_s:.1f} s (record_event, not timed below)")
    print(f"dispatch wall time      {elapsed:.2f} s  ({args.n / elapsed:.0f} deliveries/s)")
    print(f"delivered (database)    {delivered}; stats {stats.delivered} ok, {stats.retried} retry")
    print(f"receiver                {received} requests, {unique} unique ids, {verified} verified")
    print(f"peak RSS                {rss_after / 1024:.0f} MiB", end="")
    print(f" (before dispatch {rss_before / 1024:.0f} MiB)")
    if heap_peak is not None:
        print(f"Python heap peak        {heap_peak / 2**20:.1f} MiB (tracemalloc; slows the run)")
    print(f"python                  {sys.version.split()[0]}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
