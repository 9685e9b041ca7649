"""The duty officers' page through HTTP, the SVG chart, and sign-in in production."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from lxml import etree

from aqcast.service.api.svg_chart import ChartLabels, nice_ceiling, o3_chart_svg
from tests.support.api_seed import CRITICAL, DAY, NOW, TestClient, make_client, seed

LABELS = ChartLabels("O3", "hour", "ug/m3", "median", "band", "critical", "likely")
SVG = "{http://www.w3.org/2000/svg}"


def test_chart_geometry():
    hours = list(range(24))
    q50 = [50.0 + 5 * h for h in hours]
    svg = o3_chart_svg(
        hours,
        q50,
        q10_ugm3=[v - 10 for v in q50],
        q90_ugm3=[v + 10 for v in q50],
        critical_value_ugm3=180.0,
        likely_hours=[20, 21],
        labels=LABELS,
    )
    doc = etree.fromstring(svg.encode())
    assert doc.tag == SVG + "svg"
    line = doc.find(f"{SVG}polyline")
    pts = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(pts) == 24
    # y grows downwards: a rising series has falling y; x is evenly spaced
    ys = [p[1] for p in pts]
    assert ys == sorted(ys, reverse=True)
    xs = [p[0] for p in pts]
    assert xs[1] - xs[0] == pytest.approx(xs[23] - xs[22], abs=0.11)
    crit = doc.find(f"{SVG}line[@class='critical']")
    # axis top: nice ceiling of 1.08 * max(q90=175, critical=180) = 200
    top, bottom = 28.0, 320.0 - 44.0
    expected_y = top + (bottom - top) * (1 - 180.0 / 200.0)
    assert float(crit.get("y1")) == pytest.approx(expected_y, abs=0.06)
    assert len(doc.findall(f"{SVG}rect[@class='likely']")) == 2
    label = doc.find(f"{SVG}text[@class='critical-label']")
    assert label.text.strip() == "critical 180"


def test_chart_gaps_split_the_line_and_escape_labels():
    q50 = [100.0] * 10 + [None] * 3 + [120.0] * 11
    svg = o3_chart_svg(list(range(24)), q50, labels=ChartLabels("<b>&", "", "", "", "", "", ""))
    doc = etree.fromstring(svg.encode())
    assert len(doc.findall(f"{SVG}polyline")) == 2
    assert doc.find(f"{SVG}title").text == "<b>&"
    assert nice_ceiling(0.0) == 50.0 and nice_ceiling(201.0) == 250.0


@pytest.fixture
def seeded(sqlite_url):
    keys = seed(sqlite_url)
    with make_client(sqlite_url) as client:
        yield client, keys


def test_today_page_in_chinese(seeded):
    client, _ = seeded
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "<title>空气质量工作提示 · 2015-06-15</title>" in html
    assert "臭氧临界值" in html and f">{CRITICAL:.0f}<" in html
    assert "<svg" in html and "<script" not in html
    assert "14:00, 15:00, 16:00" in html
    assert "橙色预警" in html and "工业涂装" in html and "10:00-18:00" in html
    assert "今日臭氧临界值为187微克/立方米" in html  # the published prompt's text
    assert 'href="?lang=en"' in html
    assert "2015-06-15 07:00" in html  # latest observation (23:00Z) in local time
    # PM2.5 outlook: four leads with ranges (latest run: 63 + 5 * lead)
    outlook = html[html.index('id="pm25-outlook"') : html.index('id="risk"')]
    assert re.findall(r'<td class="num">(\d+)</td>', outlook)[:4] == ["63", "68", "73", "78"]
    assert "50–79" in outlook  # q10-q90 of lead 0 (0.8 and 1.25 times 63)


def test_english_and_other_dates(seeded):
    client, _ = seeded
    html = client.get(f"/prompt/{DAY}?lang=en").text
    assert "Air quality work prompt" in html and "Ozone critical value" in html
    assert "orange warning" in html and "orange alert" not in html and "Industrial coating" in html
    assert 'href="?lang=zh"' in html and 'lang="en"' in html
    missing = client.get("/prompt/2015-07-01").text
    assert "2015-07-01 没有预报。" in missing
    assert f'<a href="/prompt/{DAY}?lang=zh">{DAY}</a>' in missing
    assert client.get("/prompt/2015-02-30").status_code == 422
    assert client.get("/?lang=fr").status_code == 422


def test_page_prints(seeded):
    client, _ = seeded
    css = client.get("/static/page.css").text
    assert "@media print" in css and ".no-print" in css
    assert 'class="no-print"' in client.get("/").text


@pytest.mark.slow
def test_production_page_asks_for_a_key_once(sqlite_url):
    keys = seed(sqlite_url)
    with make_client(sqlite_url, env="production") as client:
        r = client.get(f"/prompt/{DAY}?lang=en", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")
        form = client.get(r.headers["location"])
        assert 'name="key"' in form.text and 'type="password"' in form.text
        bad = client.post("/login", data={"key": keys.enterprise, "next": "/"})
        assert bad.status_code == 401 and "key" in bad.text.lower()
        ok = client.post(
            "/login",
            data={"key": keys.officer, "next": f"/prompt/{DAY}"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == f"/prompt/{DAY}"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        page = client.get(f"/prompt/{DAY}")
        assert page.status_code == 200 and "臭氧临界值" in page.text
        # an outside address in `next` is not followed
        away = client.post(
            "/login", data={"key": keys.officer, "next": "//evil.example/"}, follow_redirects=False
        )
        assert away.headers["location"] == "/"
        client.post("/logout")
        client.cookies.clear()
        assert client.get("/", follow_redirects=False).status_code == 303


def test_today_follows_the_clock(sqlite_url):
    from aqcast.service.api.app import create_app
    from aqcast.service.settings import Settings

    seed(sqlite_url)

    class Clock:
        def now(self) -> datetime:
            return datetime(2015, 6, 12, 23, 30, tzinfo=UTC)  # 07:30 on 13 June in Beijing

    app = create_app(Settings(database_url=sqlite_url), clock=Clock())
    with TestClient(app) as client:
        assert "2015-06-13" in client.get("/").text.split("</title>")[0]
    assert NOW.date() == DAY


@pytest.mark.slow
def test_prompt_built_by_the_alerts_engine_is_shown(sqlite_url):
    """A prompt event as service/publishing.py stores it: the structured prompt per language."""
    import json

    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.prompt import build_prompt, render_prompt
    from aqcast.service.store import engine_for, session_scope
    from aqcast.service.tables import AlertEvent
    from tests.support.forecasts import make_forecast

    keys = seed(sqlite_url)
    forecast = make_forecast(DAY, [130, 90, 80], o3_mda8=[195, 150, 120])
    cfg = load_campaign()
    prompts = {lang: build_prompt(forecast, "district", cfg, lang=lang) for lang in ("zh", "en")}
    stored = json.loads(json.dumps(prompts, default=str))
    with session_scope(engine_for(sqlite_url)) as s:
        ev = s.get(AlertEvent, "evt_prompt_0615")
        ev.payload = {"issue_date": DAY.isoformat(), "area": "district", "prompt": stored}
    expected_zh = render_prompt(prompts["zh"], "text")
    assert "臭氧临界值" in expected_zh
    with make_client(sqlite_url) as client:
        page = client.get("/").text
        first_line = expected_zh.strip().splitlines()[0]
        assert first_line in page
        text = client.get(
            f"/v1/prompts/{DAY}?format=text&lang=en", headers={"X-API-Key": keys.officer}
        ).text
        assert text == render_prompt(prompts["en"], "text")


@pytest.mark.slow
def test_forecast_stored_by_the_models_package_is_shown(sqlite_url):
    """A run written by models.forecast.store_forecast reads back through the API and page."""
    from datetime import date

    from aqcast.service.forecasts import store_forecast
    from aqcast.service.store import engine_for
    from tests.support.forecasts import make_forecast

    day = date(2015, 7, 1)
    forecast = make_forecast(day, [130, 90, 80], o3_mda8=[195, 150, 120])
    crit = forecast.critical
    expected = float(crit.loc[crit["target_date"] == day, "critical_value_ugm3"].iloc[0])
    store_forecast(engine_for(sqlite_url), forecast)
    keys = seed(sqlite_url)
    with make_client(sqlite_url) as client:
        oz = client.get(
            f"/v1/forecasts/{day}/ozone?area=district", headers={"X-API-Key": keys.officer}
        )
        body = oz.json()
        assert oz.status_code == 200 and len(body["hourly_o3"]) >= 24
        day_crit = [c for c in body["critical"] if c["target_date"] == day.isoformat()]
        assert day_crit[0]["critical_value_ugm3"] == pytest.approx(expected)
        page = client.get(f"/prompt/{day}").text
        assert f">{expected:.0f}<" in page and "<svg" in page
        assert "polyline" in page and 'class="critical"' in page
