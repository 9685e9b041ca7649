"""Acknowledgements (API and the one-click link) and coverage on a published ozone day:
who was told, whose message arrived, who confirmed, whom to call."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner

from aqcast.service.acknowledgements import make_token
from aqcast.service.auth import create_key
from aqcast.service.cli import app
from aqcast.service.configured import current_campaign
from aqcast.service.events import record_event
from aqcast.service.settings import Settings
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import Acknowledgement, Enterprise
from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher
from aqcast.service.webhooks.loopback import LoopbackReceiver, Reply
from aqcast.service.webhooks.policy import RetryPolicy
from tests.support.api_seed import DAY, NOW, TestClient, auth, seed

SECRET = "ack-link-test-secret-0123456789"
CFG = DispatchConfig(
    retry=RetryPolicy(schedule_s=(0.01,), jitter=0.0),
    timeout_s=2.0,
    require_https=False,
    allow_private=("127.0.0.1",),
    ack_secret=SECRET,
    public_base_url="http://testserver",
)
T0 = NOW.replace(tzinfo=None)
ENTERPRISES = [  # name, sectors, contact
    ("津南涂装", ["industrial_coating"], "王工 13800000001"),
    ("海河印务", ["packaging_printing"], "李经理 13800000002"),
    ("双港汽修", ["auto_repair", "industrial_coating"], "赵师傅 13800000003"),
    ("南站加油站", ["fuel_stations"], "钱站长 13800000004"),
]


def app_client(db_url: str, *, clock=None, env: str = "test") -> TestClient:
    from aqcast.service.api.app import create_app

    settings = Settings(
        database_url=db_url,
        env=env,
        ack_link_secret=SecretStr(SECRET),
        webhook_allow_private=["127.0.0.1"],
        webhook_require_https=False,
    )
    return TestClient(create_app(settings, clock=clock or (lambda: NOW)))


def advisory_payload(sector: str) -> dict:
    cfg = current_campaign()
    s = cfg.sectors[sector]
    return {
        "sector": sector,
        "name": s.name.model_dump(),
        "steps": [{"step": k, "name": cfg.steps[k].model_dump()} for k in s.steps],
        "avoid_hours": [9, 17],
        "avoid_text": "09:00-17:00",
        "move_to": [
            {
                "slot": "early_morning",
                "name": {"zh": "清晨", "en": "early morning"},
                "hours": [5, 9],
                "hours_text": "05:00-09:00",
            }
        ],
    }


def setup_day(db_url: str) -> dict:
    """The seeded ozone day plus four enterprises, their keys and subscriptions, and the
    day's advisories for three campaign sectors (fanned out to the subscriptions)."""
    seed(db_url)
    engine = engine_for(db_url)
    out: dict = {"ids": [], "keys": []}
    with session_scope(engine) as s:
        for name, sectors, contact in ENTERPRISES:
            e = Enterprise(
                name=name,
                sectors=sectors,
                lat=39.9,
                lon=116.4,
                street="咸水沽镇",
                contact=contact,
                area="district",
                created_at=T0,
                updated_at=T0,
            )
            s.add(e)
            s.flush()
            out["ids"].append(e.id)
            _, key = create_key(s, name=name, role="enterprise", now=T0, enterprise_id=e.id)
            out["keys"].append(auth(key))
        _, out["officer"] = create_key(s, name="o", role="officer", now=T0)
        _, out["unbound"] = create_key(s, name="u", role="enterprise", now=T0)
    return out


def subscribe(c: TestClient, keys: list[dict], urls: list[str]) -> None:
    for key, url in zip(keys, urls, strict=True):
        r = c.post("/v1/subscriptions", json={"url": url, "event_types": ["advisory"]}, headers=key)
        assert r.status_code == 201, r.text


def issue_advisories(
    db_url: str, sectors=("industrial_coating", "packaging_printing", "auto_repair")
) -> dict:
    ids = {}
    with session_scope(engine_for(db_url)) as s:
        for sector in sectors:
            ev, _ = record_event(
                s,
                type="advisory",
                area="district",
                issue_date=DAY,
                start_date=DAY,
                end_date=DAY,
                payload=advisory_payload(sector),
                dedup_key=f"advisory|district|{DAY}|{sector}",
                level="advisory",
                now=T0,
            )
            ids[sector] = ev.id
    return ids


def dispatch(db_url: str) -> None:
    asyncio.run(run_dispatcher(engine_for(db_url), config=CFG, once=True))


def test_ack_api_idempotent_and_isolated(db_url):
    d = setup_day(db_url)
    events = issue_advisories(db_url)
    a, b = d["keys"][0], d["keys"][1]
    with app_client(db_url) as c:
        url = f"/v1/advisories/{events['industrial_coating']}/ack"
        r = c.post(url, headers=a)
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["via"] == "api" and first["sector"] == "industrial_coating"
        assert first["moved_to"] == []
        again = c.post(url, json={"moved_to": [[5, 9], [17, 20]]}, headers=a)
        assert again.status_code == 200
        assert again.json()["acknowledged_at"] == first["acknowledged_at"]
        assert again.json()["moved_to"] == [[5, 9], [17, 20]]
        assert c.post(url, json={"moved_to": [[5, 30]]}, headers=a).status_code == 422
        # an advisory for a sector the enterprise is not in; unbound and reader keys
        assert c.post(url, headers=b).status_code == 409
        assert c.post(url, headers=auth(d["unbound"])).status_code == 403
        assert c.post(url, headers=auth(d["officer"])).status_code == 422
        assert c.post(url, json={"enterprise_id": d["ids"][2]}, headers=a).status_code == 403
        # the dispatch team records 双港汽修's telephone confirmation
        phone = c.post(url, json={"enterprise_id": d["ids"][2]}, headers=auth(d["officer"]))
        assert phone.status_code == 201 and phone.json()["via"] == "phone"
        assert (
            c.post(url, json={"enterprise_id": 999}, headers=auth(d["officer"])).status_code == 404
        )
        assert c.post("/v1/advisories/evt_nope/ack", headers=a).status_code == 404
        assert c.post("/v1/advisories/evt_prompt_0615/ack", headers=a).status_code == 404
        # b never sees a's acknowledgements or record; a reader sees them
        mine = f"/v1/enterprises/{d['ids'][0]}/acknowledgements"
        assert c.get(mine, headers=b).status_code == 404
        assert c.get(f"/v1/enterprises/{d['ids'][0]}", headers=b).status_code == 404
        assert (
            c.get(f"/v1/enterprises/{d['ids'][1]}/acknowledgements", headers=b).json()["total"] == 0
        )
        seen = c.get(mine, headers=auth(d["officer"])).json()
        assert seen["total"] == 1 and seen["items"][0]["event_id"] == events["industrial_coating"]
        assert c.get(mine, headers=a).json()["total"] == 1
    with session_scope(engine_for(db_url)) as s:
        assert s.scalar(select(func.count()).select_from(Acknowledgement)) == 2


@pytest.mark.slow
def test_ack_link_valid_replayed_expired_forged(db_url):
    d = setup_day(db_url)
    with LoopbackReceiver() as rx, app_client(db_url) as c:
        subscribe(c, d["keys"][:1], [rx.url])
        events = issue_advisories(db_url, sectors=("industrial_coating",))
        dispatch(db_url)
        (msg,) = rx.accepted()
        body = json.loads(msg.body)
        link = body["data"]["ack_url"]
        assert link.startswith("http://testserver/ack/") and link.endswith("?lang=zh")
        path = link.removeprefix("http://testserver")
        # opening the link shows the advisory and a button; it records nothing by itself
        page = c.get(path)
        assert page.status_code == 200 and "津南涂装" in page.text and "<form" in page.text
        assert "05:00-09:00" in page.text
        with session_scope(engine_for(db_url)) as s:
            assert s.scalar(select(func.count()).select_from(Acknowledgement)) == 0
        ok = c.post(path, data={"moved_to": "5-9"})
        assert ok.status_code == 200 and "已确认" in ok.text
        with session_scope(engine_for(db_url)) as s:
            row = s.scalar(select(Acknowledgement))
            assert (row.via, row.moved_to, row.event_id) == (
                "link",
                [[5, 9]],
                events["industrial_coating"],
            )
            first_at = row.acknowledged_at
        # replayed: the same answer, still one acknowledgement with its first time
        replay = c.post(path)
        assert replay.status_code == 200 and "已确认" in replay.text
        assert c.get(path).status_code == 200 and "<form" not in c.get(path).text
        with session_scope(engine_for(db_url)) as s:
            rows = list(s.scalars(select(Acknowledgement)))
            assert len(rows) == 1 and rows[0].acknowledged_at == first_at
        # forged: a changed token, one signed with another secret, one for another enterprise
        token = path.split("/ack/", 1)[1].split("?", 1)[0]
        other = make_token(
            "not-the-secret", events["industrial_coating"], d["ids"][1], T0 + timedelta(days=1)
        )
        for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), other, "x" * 20):
            r = c.post(f"/ack/{bad}")
            assert r.status_code == 403 and "无效" in r.text
    # expired: the same link after its validity (36 h from the advisory)
    late = NOW + timedelta(hours=37)
    with app_client(db_url, clock=lambda: late) as c:
        r = c.post(path)
        assert r.status_code == 410 and "过期" in r.text
        r = c.get(path.replace("lang=zh", "lang=en"))
        assert r.status_code == 410 and "expired" in r.text


@pytest.mark.slow
def test_coverage_on_a_published_ozone_day(db_url):
    d = setup_day(db_url)
    down = {"on": True}

    def respond(_wid, _n):
        return Reply(status=503) if down["on"] else Reply()

    with LoopbackReceiver() as ok_rx, LoopbackReceiver(respond=respond) as bad_rx:
        with app_client(db_url) as c:
            # 津南涂装 and 双港汽修 receive; 海河印务's receiver is down; the fuel station
            # has no subscription (and its sector no advisory today)
            subscribe(c, d["keys"][:3], [ok_rx.url, bad_rx.url, ok_rx.url])
            events = issue_advisories(db_url)
            dispatch(db_url)
            ack = c.post(f"/v1/advisories/{events['industrial_coating']}/ack", headers=d["keys"][0])
            assert ack.status_code == 201
            r = c.get(f"/v1/advisories/coverage?date={DAY}", headers=auth(d["officer"]))
            assert r.status_code == 200, r.text
            cov = r.json()
            assert (
                c.get(f"/v1/advisories/coverage?date={DAY}", headers=d["keys"][0]).status_code
                == 403
            )
            prompt = c.get(f"/v1/prompts/{DAY}?format=text", headers=auth(d["officer"]))
            page = c.get(f"/prompt/{DAY}")
    ids = d["ids"]
    assert set(cov) == {"date", "area", "sectors"}
    assert cov["date"] == DAY.isoformat() and cov["area"] == "district"
    assert list(cov["sectors"])[:5] == list(current_campaign().sectors)
    coat = cov["sectors"]["industrial_coating"]
    assert {k: coat[k] for k in ("registered", "notified", "delivered", "acknowledged")} == {
        "registered": 2,  # 津南涂装, 双港汽修
        "notified": 2,
        "delivered": 2,
        "acknowledged": 1,
    }
    assert coat["pending"] == [{"id": ids[2], "name": "双港汽修", "contact": "赵师傅 13800000003"}]
    printing = cov["sectors"]["packaging_printing"]
    assert (printing["registered"], printing["notified"], printing["delivered"]) == (1, 1, 0)
    assert [p["name"] for p in printing["pending"]] == ["海河印务"]
    repair = cov["sectors"]["auto_repair"]
    assert (repair["registered"], repair["notified"], repair["delivered"]) == (1, 1, 1)
    fuel = cov["sectors"]["fuel_stations"]
    assert fuel == {
        "registered": 1,
        "notified": 0,
        "delivered": 0,
        "acknowledged": 0,
        "pending": [],
    }
    assert cov["sectors"]["construction_sites"]["registered"] == 0
    for block in cov["sectors"].values():
        assert set(block) == {"registered", "notified", "delivered", "acknowledged", "pending"}
        for p in block["pending"]:
            assert set(p) == {"id", "name", "contact"}
    # the prompt's dispatch task: 3 notified (distinct), 津南涂装 confirmed all of its own,
    # 海河印务 and 双港汽修 to call
    assert prompt.status_code == 200
    assert "已向3家企业推送错峰提示，1家已确认，2家待电话督促" in prompt.text
    assert page.status_code == 200 and "企业推送与确认" in page.text and "双港汽修" in page.text
    assert "赵师傅" not in page.text  # contacts only on a page behind a key
    # the command line
    r = CliRunner().invoke(app, ["advisories", "coverage", "--date", DAY.isoformat()])
    assert r.exit_code == 0, r.output
    assert "industrial_coating\t2\t2\t2\t1\t1" in r.stdout
    assert "双港汽修" in r.stdout and "notified 3, acknowledged 1, to call 2" in r.stdout
    r = CliRunner().invoke(app, ["advisories", "coverage", "--date", DAY.isoformat(), "--json"])
    assert json.loads(r.stdout) == cov
    r = CliRunner().invoke(app, ["advisories", "coverage", "--date", "15-06-2015"])
    assert r.exit_code != 0 and "YYYY-MM-DD" in r.output


def test_engine_prompt_carries_the_dispatch_sentence(sqlite_url):
    """The prompt issued with the advisories says how many were sent, and the stored
    structured prompt is brought up to date when served."""
    from aqcast.alerts.prompt import add_dispatch
    from aqcast.service.publishing import _with_dispatch

    d = setup_day(sqlite_url)
    with LoopbackReceiver() as rx, app_client(sqlite_url) as c:
        subscribe(c, d["keys"][:2], [rx.url, rx.url])
        issue_advisories(sqlite_url, sectors=("industrial_coating", "packaging_printing"))
        prompts = {
            "zh": {"lang": "zh", "title": "t", "action_lines": ["一、巡查。"]},
            "en": {"lang": "en", "title": "t", "action_lines": ["Patrol."]},
        }
        with session_scope(engine_for(sqlite_url)) as s:
            out = _with_dispatch(s, prompts, DAY, "district")
        # 津南涂装, 海河印务 notified; 双港汽修 (coating) registered without a subscription
        assert (
            out["zh"]["action_lines"][-1] == "已向2家企业推送错峰提示，0家已确认，3家待电话督促。"
        )
        assert out["en"]["dispatch"]["notified"] == 2
        again = add_dispatch(out["zh"], {"notified": 2, "acknowledged": 1, "pending": 2})
        assert again["action_lines"] == [
            "一、巡查。",
            "已向2家企业推送错峰提示，1家已确认，2家待电话督促。",
        ]
        with session_scope(engine_for(sqlite_url)) as s:
            assert _with_dispatch(s, prompts, DAY - timedelta(days=5), "district") == prompts


@pytest.mark.slow
def test_issued_prompt_says_it_and_the_served_prompt_is_up_to_date(db_url):
    """The morning run (alerts.engine) on an ozone day: the stored prompt's dispatch task
    counts the queued messages; once an enterprise confirms, the served prompt says so."""
    from datetime import UTC, date, datetime

    from aqcast.service.publishing import issue_alerts
    from tests.support.forecasts import make_forecast

    engine = engine_for(db_url)
    d = date(2015, 7, 1)
    now = datetime(2015, 6, 30, 23, 30, tzinfo=UTC)
    with session_scope(engine) as s:
        ids = []
        for name, sectors, contact in ENTERPRISES:
            e = Enterprise(
                name=name,
                sectors=sectors,
                lat=39.9,
                lon=116.4,
                street="咸水沽镇",
                contact=contact,
                area="district",
                created_at=T0,
                updated_at=T0,
            )
            s.add(e)
            s.flush()
            ids.append(e.id)
        _, coating_key = create_key(s, name="a", role="enterprise", now=T0, enterprise_id=ids[0])
        _, officer = create_key(s, name="o", role="officer", now=T0)
    with app_client(db_url, clock=lambda: now) as c:
        r = c.post(
            "/v1/subscriptions",
            json={"url": "http://127.0.0.1:9/hook", "event_types": ["advisory"]},
            headers=auth(coating_key),
        )
        assert r.status_code == 201
        events = issue_alerts(
            engine, make_forecast(d, [130, 90, 80], o3_mda8=[195, 150, 120]), now=now
        )
        prompt = events[0].payload["prompt"]
        # every sector has an advisory: all four enterprises are concerned, one was sent it
        assert prompt["zh"]["action_lines"][-1] == (
            "已向1家企业推送错峰提示，0家已确认，4家待电话督促。"
        )
        assert prompt["en"]["dispatch"] == {
            "notified": 1,
            "acknowledged": 0,
            "pending": 4,
            "line": prompt["en"]["action_lines"][-1],
        }
        coating = next(
            e
            for e in events
            if e.type == "advisory" and e.payload["sector"] == "industrial_coating"
        )
        assert (
            c.post(f"/v1/advisories/{coating.id}/ack", headers=auth(coating_key)).status_code == 201
        )
        text = c.get(f"/v1/prompts/{d}?format=text", headers=auth(officer)).text
        assert "已向1家企业推送错峰提示，1家已确认，3家待电话督促。" in text
        assert "0家已确认" not in text
        body = c.get(f"/v1/prompts/{d}?lang=en", headers=auth(officer)).json()
        assert body["payload"]["prompt"]["en"]["dispatch"]["acknowledged"] == 1
