"""What an attacker with an enterprise key, or a flood, tries: test events in the public
feeds, deliveries after a key is revoked, huge subscriptions, non-global targets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from aqcast.service import settings as settings_module
from aqcast.service.auth import revoke_key
from aqcast.service.settings import Settings
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import AlertEvent, ApiKey, Delivery, Subscription
from aqcast.service.webhooks import RateLimitedError
from aqcast.service.webhooks.loopback import LoopbackReceiver
from aqcast.service.webhooks.subscriptions import send_test_event
from aqcast.service.webhooks.url_guard import check_url, forbidden_reason
from tests.service.webhooks.test_webhooks_api import client_for, dispatch, keys, new_sub


def test_test_events_stay_out_of_the_public_feeds_and_say_test(sqlite_url):
    k = keys(sqlite_url)
    with LoopbackReceiver() as rx, client_for(sqlite_url) as c:
        sub = new_sub(c, k["ent_a"], rx.url, areas=["Free text chosen by the subscriber"])
        other = new_sub(c, k["ent_b"], rx.url + "other")  # also asks for "test" events
        rx.secrets = [sub["secret"], other["secret"]]
        r = c.post(f"/v1/subscriptions/{sub['id']}/test", headers=k["ent_a"])
        assert r.status_code == 202
        event_id = r.json()["event_id"]
        dispatch(sqlite_url)
        (msg,) = rx.received  # the other subscription got nothing
        body = json.loads(msg.body)
        assert body["type"] == "test" and body["data"]["details"]["status"] == "Test"
        assert body["data"]["area"] == ""  # no subscriber text posing as an area
        from lxml import etree

        from aqcast.alerts.cap import CAP_NS, validate_cap

        cap = body["data"]["details"]["cap_xml"].encode()
        validate_cap(cap)
        doc = etree.fromstring(cap)
        assert doc.findtext("c:status", namespaces={"c": CAP_NS}) == "Test"
        assert "Free text" not in body["data"]["details"]["cap_xml"]

        officer = k["officer"]
        events = c.get("/v1/events", headers=officer).json()
        assert event_id not in [e["id"] for e in events["items"]]
        assert c.get("/v1/events?type=test", headers=officer).json()["total"] == 0
        assert c.get(f"/v1/events/{event_id}", headers=officer).status_code == 404
        assert event_id not in [e["id"] for e in c.get("/v1/cap", headers=officer).json()["items"]]
        assert c.get(f"/v1/cap/{event_id}", headers=officer).status_code == 404


def test_test_events_are_rate_limited(sqlite_url):
    k = keys(sqlite_url)
    with client_for(sqlite_url, webhook_test_events_per_hour=2) as c:
        sub = new_sub(c, k["ent_a"], "http://127.0.0.1:9/hook")
        path = f"/v1/subscriptions/{sub['id']}/test"
        assert [c.post(path, headers=k["ent_a"]).status_code for _ in range(2)] == [202, 202]
        third = c.post(path, headers=k["ent_a"])
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "too_many_requests"
        assert 1 <= int(third.headers["retry-after"]) <= 3601


def test_test_event_carries_the_local_issue_date(sqlite_url):
    with session_scope(engine_for(sqlite_url)) as s:
        owner = ApiKey(
            name="e",
            role="enterprise",
            prefix="p",
            key_hash="h" * 64,
            created_at=datetime(2015, 6, 1),
        )
        s.add(owner)
        s.flush()
        sub = Subscription(
            id="sub_x",
            owner_key_id=owner.id,
            url="http://127.0.0.1:9/",
            event_types=["test"],
            areas=[],
            sectors=[],
            language="en",
            secret="whsec_x",
            status="active",
            flagged=False,
            created_at=datetime(2015, 6, 1),
            updated_at=datetime(2015, 6, 1),
        )
        s.add(sub)
        s.flush()
        # 2015-06-14 23:30 UTC is 2015-06-15 07:30 in Beijing
        d = send_test_event(s, sub, datetime(2015, 6, 14, 23, 30), tz=ZoneInfo("Asia/Shanghai"))
        assert s.get(AlertEvent, d.event_id).issue_date.isoformat() == "2015-06-15"
        for _ in range(5):
            send_test_event(s, sub, datetime(2015, 6, 14, 23, 31), per_hour=6)
        with pytest.raises(RateLimitedError):
            send_test_event(s, sub, datetime(2015, 6, 14, 23, 32), per_hour=6)


@pytest.mark.slow
def test_revoked_enterprise_key_stops_its_deliveries(db_url):
    k = keys(db_url)
    with LoopbackReceiver() as rx, client_for(db_url) as c:
        sub = new_sub(c, k["ent_a"], rx.url)
        rx.secrets = [sub["secret"]]
        c.post(f"/v1/subscriptions/{sub['id']}/test", headers=k["ent_a"])
        with session_scope(engine_for(db_url)) as s:
            owner = s.get(Subscription, sub["id"]).owner_key_id
            revoke_key(s, owner, now=datetime.now(UTC).replace(tzinfo=None))
        dispatch(db_url)
        assert rx.received == []
        with session_scope(engine_for(db_url)) as s:
            (d,) = s.query(Delivery).filter(Delivery.subscription_id == sub["id"]).all()
            assert d.status == "pending" and d.attempts == 0


def test_huge_subscriptions_are_refused(sqlite_url):
    k = keys(sqlite_url)
    with client_for(sqlite_url) as c:
        too_many = {
            "url": "http://127.0.0.1:9/h",
            "event_types": ["advisory"],
            "areas": [f"a{i}" for i in range(51)],
        }
        r = c.post("/v1/subscriptions", json=too_many, headers=k["ent_a"])
        assert r.status_code == 422 and "areas" in r.json()["error"]["message"]
        big = {
            "url": "http://127.0.0.1:9/h",
            "event_types": ["advisory"],
            "areas": ["x" * 60] * 20000,
        }  # about 1.3 MB
        r = c.post("/v1/subscriptions", json=big, headers=k["ent_a"])
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert "AQCAST_API_MAX_BODY_BYTES" in r.json()["error"]["message"]
        listed = c.get("/v1/subscriptions", headers=k["ent_a"]).json()
        assert listed["total"] == 0


def test_chunked_bodies_are_counted_too(sqlite_url):
    k = keys(sqlite_url)
    with client_for(sqlite_url, api_max_body_bytes=1000) as c:

        def chunks():
            yield b'{"url": "http://127.0.0.1:9/h", "event_types": ["advisory"], "areas": ['
            for _ in range(100):
                yield b'"aaaaaaaaaa",'
            yield b'"b"]}'

        r = c.post(
            "/v1/subscriptions",
            content=chunks(),
            headers={**k["ent_a"], "content-type": "application/json"},
        )
        assert r.status_code == 413


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:808:808::1",  # 6to4 of a public address: 6to4 is deprecated, relays unknown
        "fec0::1",  # site-local
        "fec0:1234::5",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::1",  # local-use translation
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "100.64.0.1",  # shared address space
        "2001:db8::1",
    ],
)
def test_every_non_global_address_is_refused(address):
    assert forbidden_reason(address) is not None


def test_refusal_names_the_allow_setting_and_the_setting_takes_a_comma_list(monkeypatch):
    with pytest.raises(Exception, match="AQCAST_WEBHOOK_ALLOW_PRIVATE=127.0.0.1"):
        check_url("http://127.0.0.1:9/h", require_https=False)
    monkeypatch.setenv("AQCAST_WEBHOOK_ALLOW_PRIVATE", "127.0.0.1, 10.0.0.0/8")
    settings_module.get_settings.cache_clear()
    assert Settings().webhook_allow_private == ["127.0.0.1", "10.0.0.0/8"]
    monkeypatch.setenv("AQCAST_WEBHOOK_ALLOW_PRIVATE", '["127.0.0.1"]')
    assert Settings().webhook_allow_private == ["127.0.0.1"]
    check_url("http://127.0.0.1:9/h", require_https=False, allow_private=["127.0.0.1"])
    with pytest.raises(Exception, match="metadata") as refused:
        check_url("http://169.254.169.254/", require_https=False, allow_private=["169.254.0.0/16"])
    assert "AQCAST_WEBHOOK_ALLOW_PRIVATE" not in str(refused.value)


def test_the_demo_dispatcher_sends_test_deliveries(sqlite_url):
    import time

    from aqcast.service.commands.serve import start_dispatcher

    k = keys(sqlite_url)
    settings = Settings(
        database_url=sqlite_url,
        webhook_allow_private=["127.0.0.1"],
        webhook_require_https=False,
        env="test",
    )
    with LoopbackReceiver() as rx, client_for(sqlite_url) as c:
        sub = new_sub(c, k["ent_a"], rx.url)
        rx.secrets = [sub["secret"]]
        stop = start_dispatcher(engine_for(sqlite_url), settings)
        try:
            did = c.post(f"/v1/subscriptions/{sub['id']}/test", headers=k["ent_a"]).json()["id"]
            deadline = time.monotonic() + 20
            while not rx.received and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop()
        assert [m.webhook_id for m in rx.received] == [did]
        assert c.get(f"/v1/deliveries/{did}", headers=k["ent_a"]).json()["status"] == "delivered"
