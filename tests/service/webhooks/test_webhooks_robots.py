"""Work-chat robots as channels: the payload each platform takes, DingTalk's signature, and
the error answers (HTTP 200 with an error code) against loopback robots that answer as
企业微信 and 钉钉 do."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from sqlalchemy import select

from aqcast.service.auth import create_key
from aqcast.service.events import record_event
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import Delivery, Enterprise, OperatorAlert, Subscription
from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher
from aqcast.service.webhooks.policy import RetryPolicy
from aqcast.service.webhooks.robots import dingtalk_sign
from tests.service.test_acknowledgements import advisory_payload
from tests.service.webhooks.test_webhooks_api import client_for
from tests.support.api_seed import auth

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "abc123token"
DING_SECRET = "SEC0123456789abcdef0123456789abcdef"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class RobotServer:
    """A loopback robot: WeCom (``/cgi-bin/webhook/send?key=``) or DingTalk
    (``/robot/send?access_token=&timestamp=&sign=``), answering HTTP 200 with
    ``{"errcode", "errmsg"}`` as the platforms do. ``codes`` are answered in turn (then 0)."""

    def __init__(self, platform: str, codes: list[int] | None = None) -> None:
        self.platform = platform
        self.codes = list(codes or [])
        self.received: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                code, msg = server.answer(parts.path, query, body)
                server.received.append(
                    {"path": parts.path, "query": query, "body": json.loads(body), "code": code}
                )
                out = json.dumps({"errcode": code, "errmsg": msg}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_a) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, path: str, query: dict, body: bytes) -> tuple[int, str]:
        if self.platform == "wecom":
            if path != "/cgi-bin/webhook/send" or query.get("key") != [WECOM_KEY]:
                return 93000, "invalid webhook url"
        else:
            if path != "/robot/send" or query.get("access_token") != [DING_TOKEN]:
                return 300001, "token is not exist"
            ts = query.get("timestamp", ["0"])[0]
            # what DingTalk checks: its own HMAC of "<timestamp>\n<secret>", base64
            want = base64.b64encode(
                hmac.new(
                    DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            # parse_qs already url-decoded the sign once
            if query.get("sign", [""])[0] != want:
                return 310000, "sign not match"
            if abs(int(ts) / 1000 - datetime.now(UTC).timestamp()) > 3600:
                return 310000, "timestamp expired"
        if self.codes:
            code = self.codes.pop(0)
            return code, {45009: "api freq out of limit", 130101: "send too fast"}.get(code, "err")
        return 0, "ok"

    def __enter__(self) -> RobotServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def setup(db_url: str) -> dict:
    with session_scope(engine_for(db_url)) as s:
        now = utcnow()
        e = Enterprise(
            name="津南涂装",
            sectors=["industrial_coating"],
            lat=39.0,
            lon=117.3,
            street="咸水沽镇",
            contact="王工",
            area="district",
            created_at=now,
            updated_at=now,
        )
        s.add(e)
        s.flush()
        _, key = create_key(s, name="津南涂装", role="enterprise", now=now, enterprise_id=e.id)
    return {"key": auth(key), "enterprise": e.id}


def config(rx: RobotServer, **kw) -> DispatchConfig:
    base = dict(
        retry=RetryPolicy(schedule_s=(0.01, 0.01), jitter=0.0),
        timeout_s=2.0,
        require_https=False,
        allow_private=("127.0.0.1",),
        ack_secret="robot-test-secret",
        public_base_url="https://aq.example.org",
        wecom_rate_limit_retry_s=60.0,
        dingtalk_rate_limit_retry_s=600.0,
    )
    base.update(kw)
    return DispatchConfig(**base)


def advisory(db_url: str, sector: str = "industrial_coating") -> str:
    with session_scope(engine_for(db_url)) as s:
        day = utcnow().date()
        ev, _ = record_event(
            s,
            type="advisory",
            area="district",
            issue_date=day,
            start_date=day,
            end_date=day,
            payload=advisory_payload(sector),
            dedup_key=f"advisory|district|{day}|{sector}|{utcnow().isoformat()}",
            level="advisory",
            now=utcnow(),
        )
        return ev.id


def deliveries(db_url: str) -> list[Delivery]:
    with session_scope(engine_for(db_url)) as s:
        return list(s.scalars(select(Delivery)))


def run(db_url: str, cfg: DispatchConfig) -> None:
    asyncio.run(run_dispatcher(engine_for(db_url), config=cfg, once=True))


def subscribe(c, d: dict, rx: RobotServer, fmt: str, **extra):
    if fmt == "wecom":
        url = f"{rx.base}/cgi-bin/webhook/send?key={extra.pop('key', WECOM_KEY)}"
    else:
        url = f"{rx.base}/robot/send?access_token={extra.pop('token', DING_TOKEN)}"
    body = {"url": url, "event_types": ["advisory", "test"], "format": fmt, **extra}
    return c.post("/v1/subscriptions", json=body, headers=d["key"])


@pytest.mark.slow
def test_wecom_markdown_and_success(db_url):
    d = setup(db_url)
    with RobotServer("wecom") as rx, client_for(db_url, wecom_robot_base_url=rx.base) as c:
        r = subscribe(c, d, rx, "wecom")
        assert r.status_code == 201, r.text
        assert r.json()["format"] == "wecom"
        advisory(db_url)
        run(db_url, config(rx))
    (got,) = rx.received
    assert got["query"]["key"] == [WECOM_KEY]
    assert set(got["body"]) == {"msgtype", "markdown"} and got["body"]["msgtype"] == "markdown"
    content = got["body"]["markdown"]["content"]
    assert "工业涂装" in content and "09:00-17:00" in content and "清晨 05:00-09:00" in content
    assert "](https://aq.example.org/ack/" in content  # the one-click link
    assert len(content.encode()) <= 4096
    (dl,) = deliveries(db_url)
    assert dl.status == "delivered"


def test_wecom_rate_limit_waits_and_invalid_key_disables(db_url):
    d = setup(db_url)
    with (
        RobotServer("wecom", codes=[45009]) as rx,
        client_for(db_url, wecom_robot_base_url=rx.base) as c,
    ):
        sub = subscribe(c, d, rx, "wecom").json()
        advisory(db_url)
        started = utcnow()
        run(db_url, config(rx))
        (dl,) = deliveries(db_url)
        # HTTP 200 with errcode 45009: not delivered, tried again after the platform's wait
        assert dl.status == "pending" and dl.attempts == 1
        assert dl.next_attempt_at >= started + timedelta(seconds=59)
        assert "45009" in dl.last_error
        # a robot that was removed (errcode 93000): dead, the subscription disabled
        bad = subscribe(c, d, rx, "wecom", key="removed-robot").json()
        advisory(db_url)
        run(db_url, config(rx))
    with session_scope(engine_for(db_url)) as s:
        gone = s.get(Subscription, bad["id"])
        assert gone.status == "disabled" and gone.flagged
        dl = s.scalar(select(Delivery).where(Delivery.subscription_id == bad["id"]))
        assert dl.status == "dead" and dl.attempts == 1 and "93000" in dl.last_error
        alert = s.scalar(select(OperatorAlert).where(OperatorAlert.subject == bad["id"]))
        assert "robot does not exist" in alert.message and "removed-robot" not in alert.message
        assert s.get(Subscription, sub["id"]).status == "active"


@pytest.mark.slow
def test_dingtalk_signed_markdown(db_url):
    d = setup(db_url)
    with RobotServer("dingtalk") as rx, client_for(db_url, dingtalk_robot_base_url=rx.base) as c:
        no_secret = subscribe(c, d, rx, "dingtalk")
        assert no_secret.status_code == 422 and "robot_secret" in no_secret.text
        r = subscribe(c, d, rx, "dingtalk", robot_secret=DING_SECRET)
        assert r.status_code == 201, r.text
        assert DING_SECRET not in r.text  # never shown back
        advisory(db_url)
        run(db_url, config(rx))
    (got,) = rx.received
    assert got["code"] == 0
    ts = got["query"]["timestamp"][0]
    assert len(ts) == 13  # milliseconds
    assert got["body"]["msgtype"] == "markdown"
    md = got["body"]["markdown"]
    assert set(md) == {"title", "text"} and "工业涂装" in md["title"]
    assert "/ack/" in md["text"]
    (dl,) = deliveries(db_url)
    assert dl.status == "delivered"


def test_dingtalk_sign_is_the_documented_one():
    # urlencode(base64(HMAC-SHA256(secret, "<ts>\n<secret>")))
    ts = 1700000000000
    raw = hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    assert unquote_plus(dingtalk_sign("SECabc", ts)) == base64.b64encode(raw).decode()
    assert "+" not in dingtalk_sign("SECabc", ts) and "/" not in dingtalk_sign("SECabc", ts)


@pytest.mark.parametrize(
    ("codes", "secret", "status", "attempts", "needle"),
    [
        ([130101], DING_SECRET, "pending", 1, "130101"),  # send too fast: retried later
        ([], "SECwrongsecret", "dead", 1, "310000"),  # sign check failed: at once
    ],
)
def test_dingtalk_errors(db_url, codes, secret, status, attempts, needle):
    d = setup(db_url)
    with (
        RobotServer("dingtalk", codes=codes) as rx,
        client_for(db_url, dingtalk_robot_base_url=rx.base) as c,
    ):
        assert subscribe(c, d, rx, "dingtalk", robot_secret=secret).status_code == 201
        advisory(db_url)
        started = utcnow()
        run(db_url, config(rx))
    (dl,) = deliveries(db_url)
    assert (dl.status, dl.attempts) == (status, attempts) and needle in dl.last_error
    if status == "pending":
        assert dl.next_attempt_at >= started + timedelta(seconds=599)


def test_robot_urls_are_checked(db_url):
    d = setup(db_url)
    with (
        RobotServer("wecom") as rx,
        client_for(db_url, wecom_robot_base_url=rx.base, dingtalk_robot_base_url=rx.base) as c,
    ):
        hook = c.post(
            "/v1/subscriptions",
            json={
                "url": "http://127.0.0.1:9/x?key=1",
                "event_types": ["advisory"],
                "format": "wecom",
            },
            headers=d["key"],
        )
        assert hook.status_code == 422 and "/cgi-bin/webhook/send" in hook.text
        nokey = c.post(
            "/v1/subscriptions",
            json={
                "url": f"{rx.base}/cgi-bin/webhook/send",
                "event_types": ["advisory"],
                "format": "wecom",
            },
            headers=d["key"],
        )
        assert nokey.status_code == 422 and "key parameter" in nokey.text
        std = c.post(
            "/v1/subscriptions",
            json={
                "url": "http://127.0.0.1:9/x",
                "event_types": ["advisory"],
                "robot_secret": "SECx1",
            },
            headers=d["key"],
        )
        assert std.status_code == 422


@pytest.mark.slow
def test_robot_test_event_and_standard_body_link(db_url):
    """A test event reaches a robot as markdown; a standard subscription's advisory body
    carries the acknowledgement link as data.ack_url."""
    from aqcast.service.webhooks.loopback import LoopbackReceiver

    d = setup(db_url)
    with (
        RobotServer("wecom") as rx,
        LoopbackReceiver() as std,
        client_for(db_url, wecom_robot_base_url=rx.base) as c,
    ):
        sub = subscribe(c, d, rx, "wecom").json()
        assert c.post(f"/v1/subscriptions/{sub['id']}/test", headers=d["key"]).status_code == 202
        r = c.post(
            "/v1/subscriptions",
            json={"url": std.url, "event_types": ["advisory"]},
            headers=d["key"],
        )
        assert r.status_code == 201
        advisory(db_url)
        run(db_url, config(rx))
        bodies = [json.loads(m.body) for m in std.accepted()]
    contents = [g["body"]["markdown"]["content"] for g in rx.received]
    assert any("测试消息" in x for x in contents)
    (body,) = bodies
    assert body["data"]["ack_url"].startswith("https://aq.example.org/ack/")
