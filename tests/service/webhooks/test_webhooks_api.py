"""The subscription API: ownership, URL refusal, test events, attempts, rotation, replay."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from starlette.exceptions import StarletteDeprecationWarning

from aqcast.service.api.app import create_app
from aqcast.service.auth import create_key
from aqcast.service.settings import Settings
from aqcast.service.store import engine_for, session_scope
from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher
from aqcast.service.webhooks.loopback import LoopbackReceiver, Reply
from aqcast.service.webhooks.policy import RetryPolicy

with warnings.catch_warnings():
    # starlette asks for its httpx2 fork; httpx works the same for in-process tests
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

CFG = DispatchConfig(
    retry=RetryPolicy(schedule_s=(0.01, 0.01), jitter=0.0),
    timeout_s=2.0,
    require_https=False,
    allow_private=("127.0.0.1",),
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def keys(db_url: str) -> dict[str, dict[str, str]]:
    out = {}
    with session_scope(engine_for(db_url)) as s:
        for name, role in [
            ("ent_a", "enterprise"),
            ("ent_b", "enterprise"),
            ("admin", "admin"),
            ("officer", "officer"),
        ]:
            _, key = create_key(s, name=name, role=role, now=utcnow())
            out[name] = {"Authorization": f"Bearer {key}"}
    return out


def client_for(db_url: str, **settings) -> TestClient:
    base = dict(
        database_url=db_url,
        webhook_allow_private=["127.0.0.1"],
        webhook_require_https=False,
        env="test",
    )
    base.update(settings)
    return TestClient(create_app(Settings(**base)))


def dispatch(db_url: str) -> None:
    """Send until nothing is due within the test retry schedule: a ``once`` run stops when
    nothing is due *now*, which a 10 ms retry may not yet be."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from aqcast.service.tables import Delivery

    for _ in range(50):
        asyncio.run(run_dispatcher(engine_for(db_url), config=CFG, once=True))
        soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
        with session_scope(engine_for(db_url)) as s:
            waiting = s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= soon)
            )
        if not waiting:
            return
        time.sleep(0.02)


def new_sub(client, headers, url, **kw):
    body = {"url": url, "event_types": ["advisory", "test"], **kw}
    r = client.post("/v1/subscriptions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.slow
def test_enterprise_sees_only_its_own(db_url):
    k = keys(db_url)
    with client_for(db_url) as c:
        a = new_sub(c, k["ent_a"], "http://127.0.0.1:9/a", areas=["north"], sectors=["coating"])
        b = new_sub(c, k["ent_b"], "http://127.0.0.1:9/b", language="en")
        assert a["secret"].startswith("whsec_") and a["status"] == "active"
        assert a["areas"] == ["north"] and b["language"] == "en"

        mine = c.get("/v1/subscriptions", headers=k["ent_a"]).json()
        assert [s["id"] for s in mine["items"]] == [a["id"]] and mine["total"] == 1
        assert "secret" not in mine["items"][0]
        got = c.get(f"/v1/subscriptions/{a['id']}", headers=k["ent_a"]).json()
        assert "secret" not in got and got["url"] == "http://127.0.0.1:9/a"

        # another enterprise's id answers exactly like a missing one
        for method, path in [
            ("get", f"/v1/subscriptions/{a['id']}"),
            ("patch", f"/v1/subscriptions/{a['id']}"),
            ("delete", f"/v1/subscriptions/{a['id']}"),
            ("post", f"/v1/subscriptions/{a['id']}/rotate-secret"),
            ("post", f"/v1/subscriptions/{a['id']}/test"),
            ("get", f"/v1/subscriptions/{a['id']}/deliveries"),
        ]:
            kw = {"json": {"language": "en"}} if method == "patch" else {}
            r = getattr(c, method)(path, headers=k["ent_b"], **kw)
            missing = getattr(c, method)(
                path.replace(a["id"], "sub_nonexistent"), headers=k["ent_b"], **kw
            )
            assert r.status_code == missing.status_code == 404, (method, path)
            assert r.json()["error"]["code"] == "not_found"

        everything = c.get("/v1/subscriptions", headers=k["admin"]).json()
        assert {s["id"] for s in everything["items"]} == {a["id"], b["id"]}
        assert c.get("/v1/subscriptions", headers=k["officer"]).status_code == 403
        assert c.get("/v1/subscriptions").status_code == 401


@pytest.mark.parametrize(
    ("url", "settings", "needle"),
    [
        ("http://10.0.0.5/hook", {}, "private"),
        ("http://169.254.169.254/latest/meta-data/", {}, "metadata"),
        ("http://[::1]:8080/hook", {}, "loopback"),
        ("http://127.0.0.1:9/hook", {"webhook_allow_private": []}, "loopback"),
        ("http://127.0.0.1:9/hook", {"webhook_require_https": True}, "https is required"),
        ("ftp://example.com/x", {}, "scheme"),
    ],
)
def test_unsafe_urls_refused(sqlite_url, url, settings, needle):
    k = keys(sqlite_url)
    with client_for(sqlite_url, **settings) as c:
        r = c.post(
            "/v1/subscriptions", json={"url": url, "event_types": ["warning"]}, headers=k["ent_a"]
        )
        assert r.status_code == 422
        err = r.json()["error"]
        assert needle in err["message"] and err["detail"][0]["field"] == "url"
        assert c.get("/v1/subscriptions", headers=k["ent_a"]).json()["total"] == 0


def test_bad_fields_are_422_naming_the_field(sqlite_url):
    k = keys(sqlite_url)
    with client_for(sqlite_url) as c:
        for body, field in [
            ({"url": "http://127.0.0.1:9/h", "event_types": ["weather"]}, "event_types.0"),
            ({"url": "http://127.0.0.1:9/h", "event_types": []}, "event_types"),
            (
                {"url": "http://127.0.0.1:9/h", "event_types": ["test"], "language": "fr"},
                "language",
            ),
        ]:
            r = c.post("/v1/subscriptions", json=body, headers=k["ent_a"])
            assert r.status_code == 422
            assert field in [d["field"] for d in r.json()["error"]["detail"]]
        sub = new_sub(c, k["ent_a"], "http://127.0.0.1:9/h")
        r = c.patch(
            f"/v1/subscriptions/{sub['id']}", json={"url": "http://10.1.1.1/"}, headers=k["ent_a"]
        )
        assert r.status_code == 422
        assert c.get(f"/v1/subscriptions/{sub['id']}", headers=k["ent_a"]).json()["url"] == (
            "http://127.0.0.1:9/h"
        )


def test_test_event_delivered_signed_and_attempts_visible(db_url, caplog):
    caplog.set_level(logging.DEBUG)
    k = keys(db_url)
    with LoopbackReceiver() as rx, client_for(db_url) as c:
        sub = new_sub(c, k["ent_a"], rx.url, language="en")
        rx.secrets = [sub["secret"]]
        r = c.post(f"/v1/subscriptions/{sub['id']}/test", headers=k["ent_a"])
        assert r.status_code == 202 and r.json()["status"] == "pending"
        did = r.json()["id"]
        dispatch(db_url)
        (msg,) = rx.received
        assert msg.verified and msg.webhook_id == did
        payload = Webhook(sub["secret"]).verify(
            msg.body,
            {
                "webhook-id": msg.webhook_id,
                "webhook-timestamp": msg.timestamp,
                "webhook-signature": msg.signature,
            },
        )
        assert payload["type"] == "test" and payload["data"]["details"]["message"].startswith(
            "A test"
        )

        d = c.get(f"/v1/deliveries/{did}", headers=k["ent_a"]).json()
        assert d["status"] == "delivered" and d["attempts"] == 1
        attempts = c.get(f"/v1/deliveries/{did}/attempts", headers=k["ent_a"]).json()["items"]
        assert [(a["outcome"], a["status_code"]) for a in attempts] == [("ok", 200)]
        assert attempts[0]["latency_ms"] > 0
        listed = c.get(f"/v1/subscriptions/{sub['id']}/deliveries", headers=k["ent_a"]).json()
        assert [x["id"] for x in listed["items"]] == [did]
        # other enterprises cannot look at it
        assert c.get(f"/v1/deliveries/{did}", headers=k["ent_b"]).status_code == 404
        assert c.get(f"/v1/deliveries/{did}/attempts", headers=k["ent_b"]).status_code == 404
        assert c.get(f"/v1/deliveries/{did}", headers=k["admin"]).status_code == 200
    assert sub["secret"] not in caplog.text
    assert sub["secret"].removeprefix("whsec_") not in caplog.text


def test_rotate_secret_both_valid_during_grace(sqlite_url):
    k = keys(sqlite_url)
    with LoopbackReceiver() as rx, client_for(sqlite_url) as c:
        sub = new_sub(c, k["ent_a"], rx.url)
        r = c.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=k["ent_a"])
        assert r.status_code == 200
        new = r.json()["secret"]
        assert new != sub["secret"] and new.startswith("whsec_")
        shown = c.get(f"/v1/subscriptions/{sub['id']}", headers=k["ent_a"]).json()
        assert shown["secret_rotating_until"] == r.json()["previous_valid_until"]
        c.post(f"/v1/subscriptions/{sub['id']}/test", headers=k["ent_a"])
        dispatch(sqlite_url)
        (msg,) = rx.received
    headers = {
        "webhook-id": msg.webhook_id,
        "webhook-timestamp": msg.timestamp,
        "webhook-signature": msg.signature,
    }
    Webhook(sub["secret"]).verify(msg.body, headers)
    Webhook(new).verify(msg.body, headers)


@pytest.mark.slow
def test_dead_letter_replay_and_lifecycle(sqlite_url):
    k = keys(sqlite_url)
    fail = {"on": True}
    with (
        LoopbackReceiver(respond=lambda _i, _n: Reply(status=500 if fail["on"] else 200)) as rx,
        client_for(sqlite_url) as c,
    ):
        sub = new_sub(c, k["ent_a"], rx.url)
        sid = sub["id"]
        did = c.post(f"/v1/subscriptions/{sid}/test", headers=k["ent_a"]).json()["id"]
        dispatch(sqlite_url)
        d = c.get(f"/v1/deliveries/{did}", headers=k["ent_a"]).json()
        assert d["status"] == "dead" and d["attempts"] == 3 and d["last_error"] == "HTTP 500"
        assert c.get(f"/v1/subscriptions/{sid}", headers=k["ent_a"]).json()["flagged"] is True
        dead = c.get(f"/v1/subscriptions/{sid}/deliveries?status=dead", headers=k["ent_a"]).json()
        assert dead["total"] == 1

        fail["on"] = False
        r = c.post(f"/v1/deliveries/{did}/replay", headers=k["ent_a"])
        assert r.status_code == 200 and r.json()["status"] == "pending"
        assert c.get(f"/v1/subscriptions/{sid}", headers=k["ent_a"]).json()["flagged"] is False
        dispatch(sqlite_url)
        assert c.get(f"/v1/deliveries/{did}", headers=k["ent_a"]).json()["status"] == "delivered"
        assert len(rx.received) == 4 and rx.unique_ids() == {did}
        attempts = c.get(f"/v1/deliveries/{did}/attempts", headers=k["ent_a"]).json()["items"]
        assert [a["status_code"] for a in attempts] == [500, 500, 500, 200]
        assert c.post(f"/v1/deliveries/{did}/replay", headers=k["ent_a"]).status_code == 409
        r = c.post(f"/v1/subscriptions/{sid}/replay", headers=k["ent_a"])
        assert r.json() == {"replayed": 0}

        # pause: the test event is refused; resume; delete
        assert c.post(f"/v1/subscriptions/{sid}/pause", headers=k["ent_a"]).json()["status"] == (
            "paused"
        )
        assert c.post(f"/v1/subscriptions/{sid}/test", headers=k["ent_a"]).status_code == 409
        assert c.post(f"/v1/subscriptions/{sid}/resume", headers=k["ent_a"]).json()["status"] == (
            "active"
        )
        assert c.delete(f"/v1/subscriptions/{sid}", headers=k["ent_a"]).status_code == 204
        assert c.get(f"/v1/subscriptions/{sid}", headers=k["ent_a"]).status_code == 404
        assert c.get(f"/v1/deliveries/{did}", headers=k["ent_a"]).status_code == 404
