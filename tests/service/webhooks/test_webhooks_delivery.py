"""Delivery to real HTTP receivers on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from aqcast.service.auth import create_key
from aqcast.service.events import record_event
from aqcast.service.settings import Settings
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import Delivery, DeliveryAttempt, OperatorAlert, Subscription
from aqcast.service.webhooks.dispatcher import (
    DispatchConfig,
    dispatch_due,
    make_client,
    run_dispatcher,
)
from aqcast.service.webhooks.loopback import LoopbackReceiver, Reply
from aqcast.service.webhooks.policy import RetryPolicy
from aqcast.service.webhooks.subscriptions import (
    create_subscription,
    replay_dead_letters,
    rotate_secret,
)

DAY = date(2026, 6, 1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def settings() -> Settings:
    return Settings(webhook_allow_private=["127.0.0.1"], webhook_require_https=False)


def config(**kw) -> DispatchConfig:
    base = dict(
        retry=RetryPolicy(schedule_s=(0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1), jitter=0.2),
        timeout_s=0.4,
        max_in_flight=8,
        require_https=False,
        allow_private=("127.0.0.1",),
        lease_s=0.5,
        disable_after_dead_letters=3,
    )
    base.update(kw)
    return DispatchConfig(**base)


def subscribe(url: str, db_url: str, **kw) -> tuple[str, str]:
    with session_scope(engine_for(db_url)) as s:
        key, _ = create_key(s, name="coating works", role="enterprise", now=utcnow())
        sub, secret = create_subscription(
            s,
            key,
            url=url,
            event_types=kw.pop("event_types", ["advisory", "warning"]),
            settings=settings(),
            now=utcnow(),
            **kw,
        )
        return sub.id, secret


def add_events(db_url: str, n: int, type_: str = "advisory") -> None:
    with session_scope(engine_for(db_url)) as s:
        for i in range(n):
            record_event(
                s,
                type=type_,
                area="north",
                issue_date=DAY,
                start_date=DAY,
                end_date=DAY,
                payload={"sector": "coating", "i": i, "text": {"zh": "错峰", "en": "stagger"}},
                dedup_key=f"{type_}|{i}",
                now=utcnow(),
            )


def delivery_ids(db_url: str, status: str | None = None) -> set[str]:
    with session_scope(engine_for(db_url)) as s:
        stmt = select(Delivery.id)
        if status:
            stmt = stmt.where(Delivery.status == status)
        return set(s.scalars(stmt))


def drain(db_url: str, cfg: DispatchConfig, *, deadline_s: float = 30.0) -> None:
    """Dispatch on the wall clock until nothing is pending or sending."""
    engine = engine_for(db_url)

    async def main() -> None:
        async with make_client(cfg) as client:
            end = time.monotonic() + deadline_s
            while time.monotonic() < end:
                await dispatch_due(engine, client, utcnow(), 50, config=cfg)
                with session_scope(engine) as s:
                    left = s.scalar(
                        select(func.count()).where(Delivery.status.in_(("pending", "sending")))
                    )
                if not left:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError(f"{left} deliveries still open after {deadline_s} s")

    asyncio.run(main())


def test_signed_messages_verify_and_carry_the_delivery_id(db_url):
    with LoopbackReceiver() as rx:
        sub_id, secret = subscribe(rx.url, db_url, language="en")
        rx.secrets = [secret]
        add_events(db_url, 3)
        drain(db_url, config())
        got = rx.accepted()
    assert len(got) == 3
    assert all(r.verified for r in got)
    assert {r.webhook_id for r in got} == delivery_ids(db_url, "delivered")
    assert got[0].host == f"127.0.0.1:{rx.port}" and got[0].path == "/hook"
    import json

    body = json.loads(got[0].body)
    assert body["type"] == "advisory" and body["data"]["details"]["text"] == "stagger"
    with session_scope(engine_for(db_url)) as s:
        attempts = s.scalars(select(DeliveryAttempt)).all()
        assert len(attempts) == 3
        assert {a.outcome for a in attempts} == {"ok"}
        assert all(a.status_code == 200 and a.latency_ms > 0 for a in attempts)


@pytest.mark.slow
def test_flaky_slow_receiver_gets_every_event_exactly_once_after_dedup(db_url):
    """30 % of requests fail with 5xx and 10 % hang past the timeout (the receiver still
    processes those: the sender cannot know, so it sends again with the same id)."""

    def respond(wid: str, n: int) -> Reply:
        r = random.Random(f"{wid}|{n}").random()
        if r < 0.3:
            return Reply(status=503)
        if r < 0.4:
            return Reply(status=200, delay_s=0.8)
        return Reply(status=200)

    n_events = 40
    with LoopbackReceiver(respond=respond) as rx:
        _, secret = subscribe(rx.url, db_url)
        rx.secrets = [secret]
        add_events(db_url, n_events)
        drain(db_url, config(), deadline_s=40)
        received = list(rx.received)
        unique = rx.unique_ids()
    expected = delivery_ids(db_url)
    assert len(expected) == n_events
    assert unique == expected  # every event, after de-duplication by webhook-id
    assert delivery_ids(db_url, "delivered") == expected
    assert [r for r in received if not r.verified] == []
    assert len(received) > n_events  # retries and duplicates really happened
    assert any(r.status == 503 for r in received)
    with session_scope(engine_for(db_url)) as s:
        outcomes = dict(
            s.execute(select(DeliveryAttempt.outcome, func.count()).group_by("outcome")).all()
        )
    assert outcomes["ok"] == n_events
    assert outcomes.get("timeout", 0) > 0 and outcomes.get("http_error", 0) > 0


def test_410_disables_at_once_and_raises_operator_alert(db_url):
    with LoopbackReceiver(respond=lambda _i, _n: Reply(status=410)) as rx:
        sub_id, _ = subscribe(rx.url, db_url)
        add_events(db_url, 3)
        drain_once(db_url, config())
        assert len(rx.received) == 1  # the first 410 stops everything else
    with session_scope(engine_for(db_url)) as s:
        sub = s.get(Subscription, sub_id)
        assert sub.status == "disabled" and sub.flagged
        statuses = sorted(s.scalars(select(Delivery.status)))
        assert statuses == ["dead", "pending", "pending"]  # the others wait for a resume
        alert = s.scalars(select(OperatorAlert)).one()
        assert alert.kind == "webhook_disabled" and alert.subject == sub_id
        assert "410" in alert.message and "/hook" not in alert.message


def drain_once(db_url: str, cfg: DispatchConfig) -> None:
    """One batch at a time (max_in_flight 1) so that the order of attempts is fixed."""
    asyncio.run(
        run_dispatcher(
            engine_for(db_url),
            config=cfg.__class__(**{**cfg.__dict__, "max_in_flight": 1}),
            batch_size=1,
            once=True,
        )
    )


@pytest.mark.slow
def test_dead_letters_flag_then_disable_and_replay(db_url):
    with LoopbackReceiver(respond=lambda _i, _n: Reply(status=500)) as rx:
        sub_id, _ = subscribe(rx.url, db_url)
        add_events(db_url, 3)
        cfg = config(retry=RetryPolicy(schedule_s=(0.01, 0.01), jitter=0.0))
        drain(db_url, cfg)
        assert len(rx.received) == 9  # 3 attempts each
    with session_scope(engine_for(db_url)) as s:
        sub = s.get(Subscription, sub_id)
        assert sub.flagged and sub.status == "disabled"  # 3 dead letters in a row
        assert s.scalar(select(func.count()).select_from(OperatorAlert)) == 1
        assert set(s.scalars(select(Delivery.status))) == {"dead"}
        assert all(d.last_error == "HTTP 500" for d in s.scalars(select(Delivery)))
    # the endpoint is fixed: resume, replay; same webhook-ids arrive
    with LoopbackReceiver() as rx:
        with session_scope(engine_for(db_url)) as s:
            sub = s.get(Subscription, sub_id)
            sub.url, sub.status = rx.url, "active"
            assert replay_dead_letters(s, sub, utcnow()) == 3
        drain(db_url, config())
        assert rx.unique_ids() == delivery_ids(db_url, "delivered") == delivery_ids(db_url)


@pytest.mark.slow
def test_429_retry_after_delays_the_next_attempt(sqlite_url):
    with LoopbackReceiver(
        respond=lambda _i, n: Reply(status=429, headers={"Retry-After": "1"}) if n == 1 else Reply()
    ) as rx:
        subscribe(rx.url, sqlite_url)
        add_events(sqlite_url, 1)
        drain(sqlite_url, config())
        times = [r for r in rx.received]
    assert [r.status for r in times] == [429, 200]
    with session_scope(engine_for(sqlite_url)) as s:
        a1, a2 = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all()
    assert (a2.attempted_at - a1.attempted_at) >= timedelta(seconds=0.95)


@pytest.mark.slow
def test_redirect_not_followed_and_large_body_not_read(sqlite_url):
    big = b"x" * 5_000_000
    with (
        LoopbackReceiver(
            respond=lambda _i, _n: Reply(status=301, headers={"Location": "http://10.0.0.1/"})
        ) as rx,
        LoopbackReceiver(respond=lambda _i, _n: Reply(status=500, body=big)) as rx2,
    ):
        subscribe(rx.url, sqlite_url, event_types=["advisory"])
        subscribe(rx2.url, sqlite_url, event_types=["advisory"])
        add_events(sqlite_url, 1)
        cfg = config(retry=RetryPolicy(schedule_s=(0.01,), client_error_attempts=1))
        drain(sqlite_url, cfg)
        assert len(rx.received) == 1 and len(rx2.received) == 2
    with session_scope(engine_for(sqlite_url)) as s:
        attempts = s.scalars(select(DeliveryAttempt)).all()
    assert sorted(a.status_code for a in attempts) == [301, 500, 500]
    assert all(len(a.error or "") <= 500 for a in attempts)


def test_rotation_old_and_new_secret_both_verify(sqlite_url):
    with LoopbackReceiver() as rx:
        sub_id, old = subscribe(rx.url, sqlite_url)
        with session_scope(engine_for(sqlite_url)) as s:
            new = rotate_secret(s.get(Subscription, sub_id), utcnow(), grace_hours=24)
        add_events(sqlite_url, 1)
        drain(sqlite_url, config())
        (msg,) = rx.accepted()
    from standardwebhooks import Webhook

    headers = {
        "webhook-id": msg.webhook_id,
        "webhook-timestamp": msg.timestamp,
        "webhook-signature": msg.signature,
    }
    assert len(msg.signature.split(" ")) == 2
    Webhook(old).verify(msg.body, headers)
    Webhook(new).verify(msg.body, headers)


def test_rebinding_to_private_address_refused_at_delivery(sqlite_url):
    """The host passed the check at subscription time; at delivery it resolves to an
    address that is not allowed: nothing is sent, the attempt is recorded as refused."""
    with LoopbackReceiver() as rx:
        subscribe(rx.url.replace("127.0.0.1", "localhost"), sqlite_url, event_types=["advisory"])
        add_events(sqlite_url, 1)

        async def rebinding(host, port):
            return ["10.0.0.7"]

        async def main():
            async with make_client(config()) as client:
                return await dispatch_due(
                    engine_for(sqlite_url),
                    client,
                    utcnow(),
                    10,
                    config=config(),
                    resolver=rebinding,
                )

        stats = asyncio.run(main())
        assert stats.claimed == 1 and rx.received == []
    with session_scope(engine_for(sqlite_url)) as s:
        (a,) = s.scalars(select(DeliveryAttempt)).all()
    assert a.outcome == "refused" and "10.0.0.7" in a.error


def test_secrets_never_logged(sqlite_url, caplog):
    caplog.set_level(logging.DEBUG)
    with LoopbackReceiver(respond=lambda _i, n: Reply(status=500) if n == 1 else Reply()) as rx:
        _, secret = subscribe(rx.url, sqlite_url)
        add_events(sqlite_url, 2)
        drain(sqlite_url, config())
        sigs = [r.signature for r in rx.received]
    text = caplog.text
    assert "delivery msg_" in text  # the dispatcher did log its work
    assert secret not in text and secret.removeprefix("whsec_") not in text
    assert not any(sig.split(",", 1)[1] in text for sig in sigs)


def test_paused_subscription_queues_and_resumes(sqlite_url):
    with LoopbackReceiver() as rx:
        sub_id, _ = subscribe(rx.url, sqlite_url)
        add_events(sqlite_url, 1)
        with session_scope(engine_for(sqlite_url)) as s:
            s.get(Subscription, sub_id).status = "paused"
        stats = asyncio.run(run_dispatcher(engine_for(sqlite_url), config=config(), once=True))
        assert stats.claimed == 0 and rx.received == []
        with session_scope(engine_for(sqlite_url)) as s:
            s.get(Subscription, sub_id).status = "active"
        asyncio.run(run_dispatcher(engine_for(sqlite_url), config=config(), once=True))
        assert len(rx.accepted()) == 1


def test_connection_refused_is_retried(sqlite_url):
    rx = LoopbackReceiver()
    url = rx.url
    rx.stop()  # nothing listens on that port any more
    subscribe(url, sqlite_url)
    add_events(sqlite_url, 1)
    cfg = config(retry=RetryPolicy(schedule_s=(0.01, 0.01), jitter=0.0))
    drain(sqlite_url, cfg)
    with session_scope(engine_for(sqlite_url)) as s:
        outcomes = list(s.scalars(select(DeliveryAttempt.outcome)))
        (d,) = s.scalars(select(Delivery)).all()
    assert outcomes == ["connect_error"] * 3
    assert d.status == "dead" and d.last_error.startswith("connect_error")


def test_mock_transport_timeout_classified(sqlite_url):
    """httpx.MockTransport stands in for a receiver that never answers."""
    subscribe("http://127.0.0.1:9/hook", sqlite_url)
    add_events(sqlite_url, 1)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["host"] == "127.0.0.1:9"
        raise httpx.ReadTimeout("slow", request=request)

    async def main():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await dispatch_due(engine_for(sqlite_url), client, utcnow(), 10, config=config())

    stats = asyncio.run(main())
    assert stats.retried == 1
    with session_scope(engine_for(sqlite_url)) as s:
        (a,) = s.scalars(select(DeliveryAttempt)).all()
    assert a.outcome == "timeout"


def test_response_body_read_only_up_to_the_limit():
    """A receiver answering with an endless body: the dispatcher stops at the limit."""
    from aqcast.service.webhooks.dispatcher import Claim, send_one

    chunks_sent = 0

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):
            nonlocal chunks_sent
            while True:
                chunks_sent += 1
                yield b"y" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, stream=Endless())

    claim = Claim("msg_x", utcnow(), "sub_x", "http://127.0.0.1:9/h", ("whsec_" + "A" * 44,), "{}")

    async def main():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await send_one(client, claim, config(max_response_bytes=4096))

    result = asyncio.run(main())
    assert result.status_code == 500 and result.outcome == "http_error"
    assert chunks_sent <= 5
    assert result.error == "y" * 500


def test_endpoint_failing_for_a_day_is_disabled(sqlite_url):
    """Sustained failure: a retryable error on an endpoint failing for more than
    ``disable_after_hours`` disables it, on the dispatcher's (simulated) clock."""
    now = datetime(2026, 6, 2, 8, 0)
    with LoopbackReceiver(respond=lambda _i, _n: Reply(status=503)) as rx:
        sub_id, _ = subscribe(rx.url, sqlite_url)
        add_events(sqlite_url, 1)
        with session_scope(engine_for(sqlite_url)) as s:
            s.get(Subscription, sub_id).failing_since = now - timedelta(hours=25)
            for d in s.scalars(select(Delivery)):
                d.next_attempt_at = now

        async def main():
            async with make_client(config()) as client:
                return await dispatch_due(engine_for(sqlite_url), client, now, 10, config=config())

        stats = asyncio.run(main())
    assert stats.retried == 1 and stats.disabled == 1
    with session_scope(engine_for(sqlite_url)) as s:
        assert s.get(Subscription, sub_id).status == "disabled"
        (alert,) = s.scalars(select(OperatorAlert)).all()
        assert "failing since 2026-06-01 07:00" in alert.message


def test_cli_lists_and_replays_dead_letters(sqlite_url):
    from typer.testing import CliRunner

    from aqcast.service.cli import app as cli

    with LoopbackReceiver(respond=lambda _i, _n: Reply(status=400)) as rx:
        subscribe(rx.url, sqlite_url)
        add_events(sqlite_url, 1)
        drain(sqlite_url, config(retry=RetryPolicy(schedule_s=(0.01,), client_error_attempts=1)))
    (did,) = delivery_ids(sqlite_url, "dead")
    runner = CliRunner()
    out = runner.invoke(cli, ["deliveries", "list", "--status", "dead"])
    assert out.exit_code == 0 and did in out.output and "HTTP 400" in out.output
    out = runner.invoke(cli, ["deliveries", "replay", did])
    assert out.exit_code == 0
    assert delivery_ids(sqlite_url, "pending") == {did}
    out = runner.invoke(cli, ["deliveries", "replay", did])
    assert out.exit_code != 0 and "only dead letters" in out.output


def test_subscription_deleted_while_request_is_out(sqlite_url):
    from aqcast.service.webhooks.subscriptions import delete_subscription

    with LoopbackReceiver(respond=lambda _i, _n: Reply(delay_s=0.5)) as rx:
        sub_id, _ = subscribe(rx.url, sqlite_url)
        add_events(sqlite_url, 1)

        async def main():
            async with make_client(config()) as client:
                task = asyncio.create_task(
                    dispatch_due(engine_for(sqlite_url), client, utcnow(), 10, config=config())
                )
                while not rx.received:
                    await asyncio.sleep(0.01)
                with session_scope(engine_for(sqlite_url)) as s:
                    delete_subscription(s, s.get(Subscription, sub_id))
                return await task

        stats = asyncio.run(main())
    assert stats.claimed == 1 and stats.lost_lease == 1
    with session_scope(engine_for(sqlite_url)) as s:
        assert s.scalar(select(func.count()).select_from(DeliveryAttempt)) == 0
