"""Every /v1 read endpoint: content on both databases, and every role against each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aqcast.alerts.prompt import render_prompt
from tests.support.api_seed import DAY, STATIONS, auth, make_client, seed

READ_ENDPOINTS = [
    "/v1/forecasts",
    f"/v1/forecasts?issue_date={DAY}",
    "/v1/forecasts/runs",
    f"/v1/forecasts/{DAY}/ozone",
    f"/v1/forecasts/{DAY}/risk",
    f"/v1/forecasts/{DAY}/ozone/intraday",
    "/v1/prompts",
    f"/v1/prompts/{DAY}",
    "/v1/advisories",
    "/v1/warnings",
    "/v1/warnings/history",
    "/v1/events",
    "/v1/events/evt_prompt_0615",
    "/v1/verification",
    "/v1/stations",
    "/v1/stations/Dongsi",
    "/v1/observations",
    "/v1/models",
    "/v1/models/v20150602",
    "/v1/cap",
    "/v1/cap/evt_warn_0",
]
ADMIN_ENDPOINTS = [("GET", "/v1/keys"), ("GET", "/v1/keys/1"), ("DELETE", "/v1/keys/1")]


@pytest.fixture
def seeded(sqlite_url):
    keys = seed(sqlite_url)
    with make_client(sqlite_url) as client:
        yield client, keys


@pytest.mark.slow
def test_every_read_endpoint_by_role(seeded):
    client, keys = seeded
    for path in READ_ENDPOINTS:
        for role in ("officer", "dispatcher", "admin"):
            r = client.get(path, headers=auth(getattr(keys, role)))
            assert r.status_code == 200, (path, role, r.text)
        r = client.get(path, headers=auth(keys.enterprise))
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "forbidden"
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        r = client.get(path, headers=auth(keys.revoked))
        assert r.status_code == 401, path


def test_admin_endpoints_refuse_other_roles(seeded):
    client, keys = seeded
    for method, path in ADMIN_ENDPOINTS:
        for role in ("officer", "dispatcher", "enterprise"):
            r = client.request(method, path, headers=auth(getattr(keys, role)))
            assert r.status_code == 403, (method, path, role)
        assert client.request(method, path).status_code == 401
    r = client.post("/v1/keys", json={"name": "x", "role": "officer"}, headers=auth(keys.officer))
    assert r.status_code == 403


def test_resources_content(db_url):
    keys = seed(db_url)
    h = auth(keys.dispatcher)
    with make_client(db_url) as client:
        adv = client.get(f"/v1/advisories?date={DAY}&sector=fuel", headers=h).json()
        assert [a["id"] for a in adv["items"]] == ["evt_adv_fuel"]
        assert adv["items"][0]["payload"]["avoid_text"] == "10:00-18:00"
        assert client.get("/v1/advisories?sector=none", headers=h).json()["total"] == 0

        active = client.get("/v1/warnings", headers=h).json()["items"]
        assert [(w["area"], w["level"]) for w in active] == [("district", "orange")]
        hist = client.get("/v1/warnings/history?limit=2", headers=h).json()
        assert hist["total"] == 3 and hist["next_offset"] == 2
        assert [e["id"] for e in hist["items"]] == ["evt_warn_0", "evt_warn_1"]

        ev = client.get("/v1/events?type=advisory", headers=h).json()
        assert ev["total"] == 2
        ev = client.get(f"/v1/events?issue_date={DAY}", headers=h).json()
        assert {e["type"] for e in ev["items"]} == {"prompt", "advisory"}
        assert client.get("/v1/events/evt_nope", headers=h).status_code == 404

        st = client.get("/v1/stations?limit=2", headers=h).json()
        assert [s["code"] for s in st["items"]] == ["Dongsi", "Guanyuan"]
        assert st["total"] == 3 and st["next_offset"] == 2
        page2 = client.get("/v1/stations?limit=2&offset=2", headers=h).json()
        assert [s["code"] for s in page2["items"]] == ["Tiantan"] and page2["next_offset"] is None
        assert client.get("/v1/stations/Nowhere", headers=h).status_code == 404

        obs = client.get(
            "/v1/observations?station=Dongsi&start=2015-06-14T20:00:00Z"
            "&end=2015-06-15T08:00:00%2B08:00",
            headers=h,
        ).json()
        # seeded hours 18:00Z..23:00Z; [20:00Z, 00:00Z) holds four, 20:00Z has O3 flagged a spike
        assert [o["time"][11:16] for o in obs["items"]] == ["20:00", "21:00", "22:00", "23:00"]
        assert obs["total"] == 4 and obs["items"][0]["time"].endswith("Z")
        assert obs["items"][0]["qc"]["o3"] == 3 and obs["items"][1]["qc"]["o3"] == 0
        assert set(obs["items"][0]["values"]) >= {"pm25", "o3", "co"}
        bad = client.get(
            "/v1/observations?start=2015-06-15T00:00Z&end=2015-06-14T00:00Z", headers=h
        )
        assert bad.status_code == 422 and bad.json()["error"]["detail"][0]["field"] == "end"

        models = client.get("/v1/models?active=true", headers=h).json()
        assert [m["version"] for m in models["items"]] == ["v20150602"]
        assert client.get("/v1/models", headers=h).json()["total"] == 2
        assert client.get("/v1/models/v9", headers=h).status_code == 404

        ver = client.get(f"/v1/verification?days=3&end={DAY - timedelta(days=1)}", headers=h).json()
        o3 = {(s["variable"], s["lead_days"]): s for s in ver["scores"]}
        # forecasts of o3_mda8: 150 + 5*lead; observed 160 on the three days before DAY
        lead0 = o3[("o3_mda8", 0)]
        assert lead0["n"] == 3 and lead0["bias"] == pytest.approx(-10.0)
        assert lead0["rmse"] == pytest.approx(10.0)
        assert o3[("o3_mda8", 1)]["bias"] == pytest.approx(-5.0)
        assert lead0["coverage_10_90"] == 1.0
        # observed 160 is not above the threshold 160, forecast 150 neither: no events
        assert (lead0["hits"], lead0["misses"], lead0["false_alarms"]) == (0, 0, 0)
        assert lead0["pod"] is None and lead0["r"] is None  # constant series: r undefined
        assert lead0["brier"] == pytest.approx(0.35**2)  # p_exceed 0.35, no exceedance
        pm = o3[("pm25_24h", 0)]  # forecast 60, observed 70, threshold 75
        assert pm["rmse"] == pytest.approx(10.0) and pm["nmb"] == pytest.approx(-10 / 70)

        cap = client.get("/v1/cap", headers=h).json()
        assert {c["id"] for c in cap["items"]} == {
            "evt_adv_coating",
            "evt_adv_fuel",
            "evt_warn_0",
            "evt_warn_1",
            "evt_warn_2",
        }
        assert client.get("/v1/cap/evt_prompt_0615", headers=h).status_code == 404


def test_cap_message(seeded):
    from lxml import etree

    from aqcast.alerts.cap import validate_cap

    client, keys = seeded
    r = client.get("/v1/cap/evt_warn_0", headers=auth(keys.officer))
    assert r.headers["content-type"] == "application/cap+xml"
    validate_cap(r.content)  # the OASIS CAP 1.2 schema
    doc = etree.fromstring(r.content)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert doc.findtext("cap:identifier", namespaces=ns) == "aqcast-evt_warn_0"
    from aqcast.alerts.campaign import load_campaign

    assert doc.findtext("cap:sender", namespaces=ns) == load_campaign().cap.sender
    assert doc.findtext("cap:msgType", namespaces=ns) == "Update"  # an upgrade
    assert doc.findtext("cap:sent", namespaces=ns).endswith("+08:00")  # local, as CAP asks
    infos = doc.findall("cap:info", namespaces=ns)
    assert [i.findtext("cap:language", namespaces=ns) for i in infos] == ["zh-CN", "en-US"]
    assert infos[0].findtext("cap:category", namespaces=ns) == "Env"
    assert infos[0].findtext("cap:severity", namespaces=ns) == "Severe"
    # the engine's area shape: the stations' hull widened by the campaign's margin
    from aqcast.alerts.cap import area_shape

    shape = area_shape([(lat, lon) for *_, lat, lon in STATIONS], load_campaign().cap.margin_km)
    polygon = infos[0].findtext("cap:area/cap:polygon", namespaces=ns)
    assert polygon == shape["polygon"]
    ring = [tuple(map(float, p.split(","))) for p in polygon.split()]
    assert ring[0] == ring[-1] and len(ring) == 4  # three stations: a closed triangle
    lats, lons = [p[0] for p in ring], [p[1] for p in ring]
    assert min(lats) < 39.886 and max(lats) > 39.929 and min(lons) < 116.339 < 116.417 < max(lons)
    name = load_campaign().districts["district"].name
    assert infos[0].findtext("cap:area/cap:areaDesc", namespaces=ns) == name("zh")
    assert infos[1].findtext("cap:area/cap:areaDesc", namespaces=ns) == name("en")
    assert infos[0].findtext("cap:event", namespaces=ns) == "重污染天气预警"


def test_prompt_formats(seeded):
    client, keys = seeded
    h = auth(keys.officer)
    r = client.get(f"/v1/prompts/{DAY}", headers=h)
    body = r.json()
    # the text is the stored structured prompt rendered, as the engine publishes it
    assert body["text"] == render_prompt(body["payload"]["prompt"]["zh"], "text")
    assert "今日臭氧临界值为187微克/立方米" in body["text"]
    assert "工业涂装：10-18时避免喷涂，建议调整至20-06时。" in body["text"]
    assert body["event_id"] == "evt_prompt_0615"
    r = client.get(f"/v1/prompts/{DAY}?lang=en&format=text", headers=h)
    assert r.headers["content-type"].startswith("text/plain")
    assert "Today's ozone critical value is 187 ug/m3" in r.text
    assert "Industrial coating: avoid spraying 10:00-18:00; move them to 20:00-06:00." in r.text
    r = client.get(f"/v1/prompts/{DAY}", headers={**h, "Accept": "text/html"})
    assert r.headers["content-type"].startswith("text/html")
    assert "臭氧临界值" in r.text and "<svg" in r.text
    r = client.get("/v1/prompts/2015-06-01", headers=h)
    assert r.status_code == 404
    assert r.json()["error"]["detail"]["latest_issue_date"] == DAY.isoformat()
    listing = client.get("/v1/prompts", headers=h).json()
    assert [p["issue_date"] for p in listing["items"]] == [DAY.isoformat()]


def test_cap_served_as_the_engine_stored_it(sqlite_url):
    from aqcast.service.store import engine_for, session_scope
    from aqcast.service.tables import AlertEvent

    keys = seed(sqlite_url)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        "<identifier>stored</identifier></alert>"
    )
    with session_scope(engine_for(sqlite_url)) as s:
        ev = s.get(AlertEvent, "evt_warn_1")
        ev.payload = {**ev.payload, "cap_xml": xml}
    with make_client(sqlite_url) as client:
        r = client.get("/v1/cap/evt_warn_1", headers={"X-API-Key": keys.dispatcher})
        assert r.headers["content-type"] == "application/cap+xml"
        assert r.text == xml


def test_skill_scores_counts_hits_misses_and_false_alarms():
    from aqcast.service.api.verification import skill_scores

    s = skill_scores([170.0, 150.0, 180.0, 100.0], [165.0, 175.0, 120.0, 90.0], threshold=160.0)
    assert (s["hits"], s["misses"], s["false_alarms"]) == (1, 1, 1)
    assert s["pod"] == 0.5 and s["far"] == 0.5 and s["csi"] == pytest.approx(1 / 3)
    assert s["bias"] == pytest.approx((5 - 25 + 60 + 10) / 4)
    assert s["n"] == 4 and s["brier"] is None  # no probabilities given
