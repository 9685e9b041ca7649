"""Batched recording and per-batch name resolution in the dispatcher, on both backends."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import Delivery, DeliveryAttempt, Subscription
from aqcast.service.webhooks.dispatcher import (
    AttemptResult,
    claim_due,
    dispatch_due,
    make_client,
    record_results,
)
from aqcast.service.webhooks.loopback import LoopbackReceiver, Reply
from aqcast.service.webhooks.policy import OK, RetryPolicy
from tests.service.webhooks.test_webhooks_delivery import (
    add_events,
    config,
    delivery_ids,
    subscribe,
    utcnow,
)


def test_accepted_and_failed_results_of_one_batch_are_each_recorded(db_url):
    """Odd messages fail with 500, even ones are accepted: one batch holds both kinds."""
    failing = set()

    def respond(wid: str, _n: int) -> Reply:
        return Reply(status=500) if wid in failing else Reply()

    with LoopbackReceiver(respond=respond) as rx:
        sub_id, secret = subscribe(rx.url, db_url)
        rx.secrets = [secret]
        add_events(db_url, 12)
        ids = sorted(delivery_ids(db_url))
        failing.update(ids[1::2])
        with session_scope(engine_for(db_url)) as s:  # a failure streak the successes end
            s.get(Subscription, sub_id).failing_since = utcnow() - timedelta(minutes=5)
        cfg = config(retry=RetryPolicy(schedule_s=(60.0,), jitter=0.0), max_in_flight=4)

        async def main():
            async with make_client(cfg) as client:
                return await dispatch_due(engine_for(db_url), client, utcnow(), 50, config=cfg)

        stats = asyncio.run(main())
        assert all(r.verified for r in rx.received)
    assert (stats.claimed, stats.delivered, stats.retried, stats.lost_lease) == (12, 6, 6, 0)
    with session_scope(engine_for(db_url)) as s:
        rows = {d.id: d for d in s.scalars(select(Delivery))}
        attempts = s.execute(select(DeliveryAttempt.delivery_id, DeliveryAttempt.outcome)).all()
        sub = s.get(Subscription, sub_id)
    assert sorted(a for a, _ in attempts) == ids  # one attempt each, none lost or doubled
    for did, d in rows.items():
        assert d.attempts == 1 and d.locked_until is None
        if did in failing:
            assert d.status == "pending" and d.last_error == "HTTP 500"
            assert d.next_attempt_at > utcnow() + timedelta(seconds=30)
        else:
            assert d.status == "delivered" and d.delivered_at is not None
            assert d.last_error is None
    # the last result decides: a failure recorded after the successes starts a new streak
    assert sub.status == "active"


def test_a_success_ends_the_subscriptions_failure_streak(db_url):
    with LoopbackReceiver() as rx:
        sub_id, _ = subscribe(rx.url, db_url)
        add_events(db_url, 3)
        with session_scope(engine_for(db_url)) as s:
            s.get(Subscription, sub_id).failing_since = utcnow() - timedelta(hours=1)

        async def main():
            async with make_client(config()) as client:
                return await dispatch_due(engine_for(db_url), client, utcnow(), 10, config=config())

        assert asyncio.run(main()).delivered == 3
    with session_scope(engine_for(db_url)) as s:
        assert s.get(Subscription, sub_id).failing_since is None


def test_batch_keeps_only_results_whose_lease_is_still_ours(db_url):
    """Of three accepted results, one's lease was taken over and one's delivery deleted:
    only the third is marked delivered; the taken-over attempt is still on record."""
    subscribe("http://127.0.0.1:9/hook", db_url)
    add_events(db_url, 3)
    engine = engine_for(db_url)
    now = utcnow()
    claims = claim_due(engine, now, 10, 60.0)
    assert len(claims) == 3
    taken, deleted, ours = claims
    with session_scope(engine) as s:
        s.execute(
            update(Delivery)
            .where(Delivery.id == taken.delivery_id)
            .values(locked_until=now + timedelta(seconds=999))
        )
        s.execute(delete(Delivery).where(Delivery.id == deleted.delivery_id))
    ok = AttemptResult(OK, status_code=200, latency_ms=1.0)
    actions = record_results(engine, [(c, ok, now) for c in claims], config(), random.Random(0))
    assert actions == ["lost", "lost", "delivered"]
    with session_scope(engine) as s:
        status = dict(s.execute(select(Delivery.id, Delivery.status)).all())
        per_delivery = dict(
            s.execute(
                select(DeliveryAttempt.delivery_id, func.count()).group_by(
                    DeliveryAttempt.delivery_id
                )
            ).all()
        )
    assert status == {taken.delivery_id: "sending", ours.delivery_id: "delivered"}
    assert per_delivery == {taken.delivery_id: 1, ours.delivery_id: 1}


def test_a_host_is_resolved_once_per_batch_and_checked_for_every_message(sqlite_url):
    with LoopbackReceiver() as rx:
        subscribe(rx.url.replace("127.0.0.1", "localhost"), sqlite_url, event_types=["advisory"])
        add_events(sqlite_url, 6)
        asked: list[tuple[str, int]] = []

        async def resolver(host, port):
            asked.append((host, port))
            await asyncio.sleep(0.01)  # concurrent senders wait for the same answer
            return ["127.0.0.1"]

        async def main():
            async with make_client(config()) as client:
                return await dispatch_due(
                    engine_for(sqlite_url),
                    client,
                    utcnow(),
                    10,
                    config=config(),
                    resolver=resolver,
                )

        stats = asyncio.run(main())
        assert stats.delivered == 6 and len(rx.received) == 6
    assert asked == [("localhost", rx.port)]
