"""Time and peak memory of delivering 10,000 webhooks to a receiver on loopback, against a
bare async sender posting the same signed bodies to the same receiver in the same run.

    .venv/bin/python benchmarks/bench_webhooks.py                      # SQLite in a temp dir
    .venv/bin/python benchmarks/bench_webhooks.py --backend postgres   # a fresh database
    .venv/bin/python benchmarks/bench_webhooks.py --json --deliveries 2000

The receiver (the verifying ``LoopbackReceiver``) runs in its own process so that it does
not share the senders' interpreter; it counts, per path, the messages whose signature it
verified, once per ``webhook-id``. The outbox rows are created first, in another process
(through ``record_event``, as alerts do), so that this process's peak RSS is the senders'.
Then, in this process and on the same receiver:

1. the bare sender: one ``httpx.AsyncClient`` with keep-alive connections and as many
   requests in flight as the dispatcher, posting the same bodies, signed the same way,
   with nothing else to do (no database, no URL check);
2. the dispatcher draining the outbox (``run_dispatcher(once=True)``): claim and lease,
   check the URL, sign, POST, record every attempt.

``--json`` prints one JSON object: ``deliveries``, ``seconds``, ``per_second`` (the
dispatcher), ``peak_rss_mb`` (this process, bare sender and dispatcher), ``backend``,
``bare_per_second`` and ``receiver_unique_verified`` (the dispatcher's messages).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

from aqcast.service.store import engine_for, migrate, session_scope
from aqcast.service.tables import AlertEvent, Delivery, Subscription
from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher
from aqcast.service.webhooks.payload import event_body
from aqcast.service.webhooks.policy import RetryPolicy
from aqcast.service.webhooks.signing import signing_secrets, webhook_headers

PG_ADMIN_URL = os.environ.get(
    "AQCAST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DISPATCH_PATH = "/hook"
BARE_PATH = "/bare"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _serve(secret_q: mp.Queue, port_q: mp.Queue, stop: mp.Event, result_q: mp.Queue) -> None:
    from aqcast.service.webhooks.loopback import LoopbackReceiver

    secret = secret_q.get()
    with LoopbackReceiver(secrets=[secret], keep_bodies=False) as rx:
        port_q.put(rx.port)
        stop.wait()
        received = list(rx.received)
    counts = {}
    for path in (DISPATCH_PATH, BARE_PATH):
        mine = [r for r in received if r.path == path]
        counts[path] = (len(mine), len({r.webhook_id for r in mine if r.verified}))
    result_q.put(counts)


def _subscribe(url: str) -> str:
    """One enterprise subscription (its URL is set once the receiver's port is known)."""
    from aqcast.service.auth import create_key
    from aqcast.service.settings import Settings
    from aqcast.service.webhooks.subscriptions import create_subscription

    settings = Settings(
        database_url=url, webhook_allow_private=["127.0.0.1"], webhook_require_https=False
    )
    with session_scope(engine_for(url)) as s:
        key, _ = create_key(s, name="bench", role="enterprise", now=utcnow())
        _sub, secret = create_subscription(
            s,
            key,
            url=f"http://127.0.0.1:9{DISPATCH_PATH}",
            event_types=["advisory"],
            settings=settings,
            now=utcnow(),
        )
    return secret


def _fill_outbox(url: str, n: int, port: int) -> None:
    """Point the subscription at the receiver and record ``n`` advisories for it."""
    from aqcast.service.events import record_event

    engine = engine_for(url)
    day = date(2026, 6, 1)
    with session_scope(engine) as s:
        for sub in s.scalars(select(Subscription)):
            sub.url = f"http://127.0.0.1:{port}{DISPATCH_PATH}"
    for start in range(0, n, 1000):  # in chunks: one huge session only costs memory
        with session_scope(engine) as s:
            for i in range(start, min(n, start + 1000)):
                record_event(
                    s,
                    type="advisory",
                    area="north",
                    issue_date=day,
                    start_date=day,
                    end_date=day,
                    payload={
                        "sector": "coating",
                        "i": i,
                        "text": {"zh": "错峰生产", "en": "stagger"},
                    },
                    dedup_key=f"bench|{i}",
                    now=utcnow(),
                )
    engine.dispose()


def _signed_bodies(url: str) -> list[tuple[bytes, dict[str, str]]]:
    """Every outbox message as the dispatcher signs it (body, headers), read before the
    dispatcher runs; the bare sender posts these."""
    engine = engine_for(url)
    now = utcnow()
    out = []
    with session_scope(engine) as s:
        rows = s.execute(
            select(Delivery.id, AlertEvent, Subscription)
            .join(AlertEvent, AlertEvent.id == Delivery.event_id)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .order_by(Delivery.next_attempt_at, Delivery.id)
        ).all()
        for did, event, sub in rows:
            body = event_body(event, sub.language)
            secrets = signing_secrets(
                sub.secret, sub.previous_secret, sub.previous_secret_expires, now
            )
            headers = webhook_headers(did, now, body, secrets)
            out.append((body.encode("utf-8"), headers))
    return out


async def _bare_send(port: int, messages: list[tuple[bytes, dict[str, str]]], in_flight: int):
    """The anchor: post every message with ``in_flight`` keep-alive connections."""
    url = f"http://127.0.0.1:{port}{BARE_PATH}"
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    failures = 0
    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=10.0) as client:
        it = iter(messages)

        async def worker() -> None:
            nonlocal failures
            for body, headers in it:
                r = await client.post(url, content=body, headers=headers)
                failures += not (200 <= r.status_code < 300)

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return failures


def _database(args: argparse.Namespace, tmp: Path) -> tuple[str, str | None]:
    """The database URL and, for a database made here, the admin URL to drop it with."""
    if args.database_url:
        return args.database_url, None
    if args.backend == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    name = f"aqcast_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return args.pg_admin_url.rsplit("/", 1)[0] + f"/{name}", args.pg_admin_url


def _drop(url: str, admin_url: str) -> None:
    engine_for(url).dispose()
    engine_for.cache_clear()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", "--n", dest="n", type=int, default=10_000)
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--database-url", default=None, help="an existing, migrated, empty store")
    ap.add_argument(
        "--pg-admin-url",
        default=PG_ADMIN_URL,
        help="where --backend postgres creates (and drops) its database",
    )
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url, admin_url = _database(args, Path(tmp.name))
    try:
        result = run(args, url)
    finally:
        if admin_url:
            _drop(url, admin_url)
        tmp.cleanup()
    if args.json:
        print(
            json.dumps(
                {
                    k: result[k]
                    for k in (
                        "deliveries",
                        "seconds",
                        "per_second",
                        "peak_rss_mb",
                        "backend",
                        "bare_per_second",
                        "receiver_unique_verified",
                    )
                }
            )
        )
        return
    print(f"backend                 {result['backend']}")
    print(f"deliveries              {args.n} (max in flight {args.in_flight}, batch {args.batch})")
    print(f"outbox setup            {result['setup_s']:.1f} s (record_event, another process)")
    print(
        f"bare sender             {result['bare_seconds']:.2f} s "
        f"({result['bare_per_second']:.0f}/s, {result['bare_unique_verified']} verified)"
    )
    print(
        f"dispatcher              {result['seconds']:.2f} s ({result['per_second']:.0f}/s, "
        f"{result['per_second'] / result['bare_per_second']:.2f} x the bare sender)"
    )
    print(
        f"CPU in this process     dispatcher {result['dispatch_cpu_s']:.2f} s, "
        f"bare sender {result['bare_cpu_s']:.2f} s"
    )
    print(f"delivered (database)    {result['delivered']}; stats {result['stats']}")
    print(
        f"receiver                {result['receiver_unique_verified']} unique verified ids "
        f"of {result['receiver_requests']} requests"
    )
    print(
        f"peak RSS                {result['peak_rss_mb']:.0f} MiB "
        f"(after the bare sender {result['rss_before_mb']:.0f} MiB)"
    )
    print(f"load average            {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python                  {sys.version.split()[0]}")


def run(args: argparse.Namespace, url: str) -> dict:
    migrate(url)
    engine = engine_for(url)
    secret = _subscribe(url)
    ctx = mp.get_context("spawn")
    secret_q, port_q, result_q, stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    receiver = ctx.Process(target=_serve, args=(secret_q, port_q, stop, result_q), daemon=True)
    receiver.start()
    secret_q.put(secret)
    port = port_q.get(timeout=60)
    t0 = time.perf_counter()
    filler = ctx.Process(target=_fill_outbox, args=(url, args.n, port))
    filler.start()
    filler.join()
    if filler.exitcode != 0:
        raise SystemExit(f"filling the outbox failed (exit code {filler.exitcode})")
    setup_s = time.perf_counter() - t0
    engine.dispose()  # the filler wrote: no stale pooled connection state

    messages = _signed_bodies(url)
    bare_cpu0 = time.process_time()
    t1 = time.perf_counter()
    failures = asyncio.run(_bare_send(port, messages, args.in_flight))
    bare_s = time.perf_counter() - t1
    bare_cpu = time.process_time() - bare_cpu0
    del messages
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    config = DispatchConfig(
        retry=RetryPolicy(schedule_s=(1.0, 5.0)),
        timeout_s=10.0,
        max_in_flight=args.in_flight,
        require_https=False,
        allow_private=("127.0.0.1",),
    )
    cpu0 = time.process_time()
    t2 = time.perf_counter()
    stats = asyncio.run(run_dispatcher(engine, config=config, batch_size=args.batch, once=True))
    elapsed = time.perf_counter() - t2
    cpu = time.process_time() - cpu0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    stop.set()
    counts = result_q.get(timeout=60)
    receiver.join(timeout=10)
    with session_scope(engine) as s:
        delivered = s.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
        )
    engine.dispose()
    return {
        "deliveries": args.n,
        "seconds": round(elapsed, 3),
        "per_second": round(args.n / elapsed, 1),
        "peak_rss_mb": round(rss_after / 1024, 1),
        "backend": engine.dialect.name,
        "bare_per_second": round(args.n / bare_s, 1),
        "receiver_unique_verified": counts[DISPATCH_PATH][1],
        "receiver_requests": counts[DISPATCH_PATH][0],
        "bare_unique_verified": counts[BARE_PATH][1],
        "bare_failures": failures,
        "bare_seconds": bare_s,
        "setup_s": setup_s,
        "dispatch_cpu_s": cpu,
        "bare_cpu_s": bare_cpu,
        "delivered": delivered,
        "stats": f"{stats.delivered} ok, {stats.retried} retry, {stats.dead} dead",
        "rss_before_mb": rss_before / 1024,
    }


if __name__ == "__main__":
    main()
