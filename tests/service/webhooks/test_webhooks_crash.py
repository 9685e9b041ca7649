"""Crash safety: a dispatcher killed with SIGKILL mid-batch loses nothing; two dispatchers
racing on PostgreSQL never send the same attempt twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aqcast.service.store import engine_for, make_engine, session_scope
from aqcast.service.tables import Delivery, DeliveryAttempt
from aqcast.service.webhooks.dispatcher import DispatchConfig, dispatch_due, make_client
from aqcast.service.webhooks.loopback import LoopbackReceiver, Reply
from aqcast.service.webhooks.policy import RetryPolicy
from tests.service.webhooks.test_webhooks_delivery import (
    add_events,
    delivery_ids,
    drain,
    subscribe,
    utcnow,
)

AQCAST = Path(sys.executable).parent / "aqcast"


# the same settings as the subprocess's environment below
RESTART = DispatchConfig(
    retry=RetryPolicy(schedule_s=(0.1, 0.1, 0.1)),
    timeout_s=0.5,
    max_in_flight=4,
    require_https=False,
    allow_private=("127.0.0.1",),
    lease_s=0.5,
)


def status_counts(db_url: str) -> Counter:
    with session_scope(engine_for(db_url)) as s:
        rows = s.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return Counter({status: n for status, n in rows})


def start_dispatcher(db_url: str, tmp_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "AQCAST_DATABASE_URL": db_url,
        "AQCAST_WEBHOOK_ALLOW_PRIVATE": json.dumps(["127.0.0.1"]),
        "AQCAST_WEBHOOK_REQUIRE_HTTPS": "false",
        "AQCAST_WEBHOOK_RETRY_SCHEDULE_S": "[0.1, 0.1, 0.1]",
        "AQCAST_WEBHOOK_TIMEOUT_S": "0.5",
        "AQCAST_WEBHOOK_MAX_IN_FLIGHT": "4",
        "AQCAST_WEBHOOK_LEASE_S": "0.5",
    }
    with open(tmp_path / f"dispatcher-{time.monotonic_ns()}.log", "w") as log:
        return subprocess.Popen(  # the child keeps its own copy of the log's descriptor
            [str(AQCAST), "dispatch", "--batch-size", "8", "--poll-interval", "0.05"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_for(predicate, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_dispatcher_killed_mid_batch_loses_nothing(db_url, tmp_path):
    n_events = 60
    with LoopbackReceiver(respond=lambda _i, _n: Reply(delay_s=0.1)) as rx:
        _, secret = subscribe(rx.url, db_url)
        rx.secrets = [secret]
        add_events(db_url, n_events)
        first = start_dispatcher(db_url, tmp_path)
        try:
            wait_for(lambda: len(rx.received) >= 12, 30, "the first dispatcher to send")
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        counts = status_counts(db_url)
        assert counts["sending"] > 0  # killed with claimed, unfinished work
        assert counts["pending"] > 0
        # restart (in this process, to save a second interpreter start): the killed
        # dispatcher's leases expire and its claimed deliveries go out again
        drain(db_url, RESTART, deadline_s=40)
        assert status_counts(db_url)["delivered"] == n_events
        unique = rx.unique_ids()
        assert all(r.verified for r in rx.received)
    assert unique == delivery_ids(db_url) and len(unique) == n_events


@pytest.mark.slow
def test_two_dispatchers_racing_never_double_send(db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite runs one dispatcher per database file (documented)")
    n_events = 150
    cfg = DispatchConfig(
        retry=RetryPolicy(schedule_s=(0.05,)),
        timeout_s=5.0,
        max_in_flight=4,
        require_https=False,
        allow_private=("127.0.0.1",),
        lease_s=30.0,
    )
    with LoopbackReceiver(respond=lambda _i, _n: Reply(delay_s=0.005)) as rx:
        subscribe(rx.url, db_url)
        add_events(db_url, n_events)
        claimed: dict[int, int] = {}
        errors: list[BaseException] = []

        def dispatcher(n: int) -> None:
            engine = make_engine(db_url)  # its own connection pool, as another process would

            async def main() -> None:
                async with make_client(cfg) as client:
                    while True:
                        stats = await dispatch_due(engine, client, utcnow(), 6, config=cfg)
                        claimed[n] = claimed.get(n, 0) + stats.claimed
                        if not stats.claimed:
                            return

            try:
                asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        per_id = Counter(r.webhook_id for r in rx.received)
    assert claimed[0] > 0 and claimed[1] > 0  # both really took part
    assert claimed[0] + claimed[1] == n_events
    assert set(per_id) == delivery_ids(db_url)
    assert max(per_id.values()) == 1  # nobody got anything twice
    with session_scope(engine_for(db_url)) as s:
        assert s.scalar(select(func.count()).select_from(DeliveryAttempt)) == n_events
