"""The city's warning as the official state: its life cycle through the API and the CLI,
and how the prompt, CAP and webhooks carry it beside the district's own level (会商建议);
the prompt's reconciled risk sentence and the adverse-weather outlook."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from aqcast.alerts.cap import validate_cap
from aqcast.alerts.prompt import render_prompt
from aqcast.service.auth import create_key
from aqcast.service.publishing import issue_alerts
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import AlertEvent, Delivery, OfficialWarning, Subscription
from tests.support.api_seed import auth, make_client
from tests.support.forecasts import make_forecast

BODY = {
    "level": "orange",
    "response": "II",
    "start": "2015-12-07T14:00:00",
    "end": "2015-12-10T00:00:00",
    "document": "市重污染天气应急指挥部办公室通知",
}


def _keys(url: str) -> dict[str, str]:
    now = datetime(2015, 12, 7, tzinfo=UTC).replace(tzinfo=None)
    out = {}
    with session_scope(engine_for(url)) as s:
        for role in ("officer", "dispatcher", "enterprise", "admin"):
            row, out[role] = create_key(s, name=role, role=role, now=now)
            s.flush()
            out[f"{role}_id"] = row.id
    return out


def _official_events(url: str) -> list[AlertEvent]:
    with session_scope(engine_for(url)) as s:
        rows = s.scalars(select(AlertEvent).where(AlertEvent.type == "warning")).all()
        return [e for e in rows if (e.payload or {}).get("source") == "official"]


def test_official_warning_life_cycle_through_the_api(db_url):
    keys = _keys(db_url)
    with session_scope(engine_for(db_url)) as s:
        s.add(
            Subscription(
                id="sub_1",
                owner_key_id=keys["enterprise_id"],
                url="https://example.org/hook",
                secret="whsec_x",
                event_types=["warning"],
                areas=[],
                sectors=[],
                status="active",
                created_at=datetime(2015, 12, 1),
                updated_at=datetime(2015, 12, 1),
            )
        )
    with make_client(db_url) as client:
        for role in ("dispatcher", "enterprise"):
            r = client.post("/v1/warnings/official", json=BODY, headers=auth(keys[role]))
            assert r.status_code == 403, role
        r = client.post("/v1/warnings/official", json=BODY, headers=auth(keys["officer"]))
        assert r.status_code == 201, r.text
        got = r.json()
        assert (got["level"], got["response"], got["start_hour"]) == (
            "orange",
            "II",
            "2015-12-07 14:00",
        )
        assert got["start"].endswith("+08:00")  # naive times are local
        listed = client.get("/v1/warnings", headers=auth(keys["dispatcher"])).json()
        assert [o["level"] for o in listed["official"]] == ["orange"]
        # A newer notice supersedes the earlier one.
        r = client.post(
            "/v1/warnings/official",
            json={**BODY, "level": "red", "response": "I"},
            headers=auth(keys["admin"]),
        )
        assert r.status_code == 201
        listed = client.get("/v1/warnings", headers=auth(keys["officer"])).json()
        assert [o["level"] for o in listed["official"]] == ["red"]
        bad = client.post(
            "/v1/warnings/official",
            json={**BODY, "end": "2015-12-07T13:00:00"},
            headers=auth(keys["officer"]),
        )
        assert bad.status_code == 409 and "end" in bad.text
        r = client.delete("/v1/warnings/official", headers=auth(keys["officer"]))
        assert r.status_code == 200 and r.json()["cleared_at"] is not None
        assert client.get("/v1/warnings", headers=auth(keys["officer"])).json()["official"] == []
        again = client.delete("/v1/warnings/official", headers=auth(keys["officer"]))
        assert again.status_code == 404
        history = client.get("/v1/warnings/history", headers=auth(keys["officer"])).json()
        assert history["total"] == 3  # two notices and the lift, all `warning` events
    events = _official_events(db_url)
    assert sorted(e.payload["action"] for e in events) == [
        "official_cleared",
        "official_issued",
        "official_issued",
    ]
    for e in events:
        validate_cap(e.payload["cap_xml"].encode())
        assert "<valueName>response</valueName>" in e.payload["cap_xml"]
        assert "<valueName>start_hour</valueName>" in e.payload["cap_xml"]
    issued = next(e for e in events if e.payload["level"] == "orange")
    assert "2015-12-07 14:00" in issued.payload["cap_xml"]
    assert "橙色预警" in issued.payload["cap_xml"] and "Ⅱ级" in issued.payload["cap_xml"]
    with session_scope(engine_for(db_url)) as s:
        assert s.scalar(select(Delivery.id).limit(1)) is not None  # webhooks fan out


def test_official_warning_through_the_cli(sqlite_url):
    from typer.testing import CliRunner

    from aqcast.service.cli import app

    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "warnings",
            "set-official",
            "--level",
            "orange",
            "--response",
            "II",
            "--start",
            "2030-10-13 14:00",
            "--end",
            "2030-10-16 00:00",
            "--document",
            "津重污染指办〔2030〕1号",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "orange (response II) from 2030-10-13 14:00" in r.output
    shown = runner.invoke(app, ["warnings"])
    assert shown.exit_code == 0 and "city warning orange (response II)" in shown.output
    bad = runner.invoke(
        app,
        [
            "warnings",
            "set-official",
            "--level",
            "purple",
            "--response",
            "II",
            "--start",
            "2030-10-13 14:00",
        ],
    )
    assert bad.exit_code == 1 and bad.output.strip().startswith("error: level:")
    assert "Traceback" not in bad.output
    bad_time = runner.invoke(
        app, ["warnings", "set-official", "--level", "red", "--response", "I", "--start", "soon"]
    )
    assert bad_time.exit_code == 2 and "--start" in bad_time.output
    cleared = runner.invoke(app, ["warnings", "clear-official"])
    assert cleared.exit_code == 0 and "lifted" in cleared.output
    again = runner.invoke(app, ["warnings", "clear"])
    assert again.exit_code == 1 and "no official warning" in again.output
    with session_scope(engine_for(sqlite_url)) as s:
        rows = s.scalars(select(OfficialWarning)).all()
        assert len(rows) == 1 and rows[0].cleared_by == "cli"


def _set_official(url: str, level: str, response: str, start: datetime) -> None:
    from aqcast.service.official import cap_context, set_official

    with session_scope(engine_for(url)) as s:
        set_official(
            s,
            area="district",
            level=level,
            response=response,
            start=start,
            end=None,
            document="市级通知",
            issued_by="test",
            now=datetime(2015, 12, 6, 20),
            cap=cap_context(s, "district"),
        )


def test_the_prompt_carries_the_official_warning_and_the_consultation_level(sqlite_url):
    _set_official(sqlite_url, "orange", "II", datetime(2015, 12, 7, 14, 0))
    d = date(2015, 12, 7)
    fc = make_forecast(d, [180, 230, 260, 120])
    events = issue_alerts(engine_for(sqlite_url), fc, now=datetime(2015, 12, 6, 23, 30))
    prompt = events[0].payload["prompt"]
    zh, en = prompt["zh"], prompt["en"]
    assert zh["official_warning"]["level"] == "orange"
    assert zh["official_warning"]["start_hour"] == "2015-12-07 14:00"
    lines = "".join(zh["warning_lines"])
    assert "按照区域应急联动要求" in lines and "橙色预警" in lines and "Ⅱ级" in lines
    assert "12月7日 14:00" in lines and "会商建议" in lines
    # The measures are the official level's, in the warning section (the district's own
    # level is only the consultation suggestion).
    assert any("橙色预警减排" in a for a in zh["warning_lines"])
    assert "橙色预警减排" in render_prompt(zh, "text")
    assert "regional joint response" in " ".join(en["warning_lines"])
    assert "Consultation suggestion" in " ".join(en["warning_lines"])
    assert events[0].payload["official"]["response"] == "II"
    own = [e for e in events if e.type == "warning" and e.payload.get("source") != "official"]
    assert own  # the district's own decision is still made and sent, as 会商建议
    for e in own:
        assert e.payload["official"]["level"] == "orange" and e.payload["consultation"]
        validate_cap(e.payload["cap_xml"].encode())
        assert "<valueName>official_response</valueName>" in e.payload["cap_xml"]
        assert "<note>consultation suggestion" in e.payload["cap_xml"]


def _section(prompt: dict, key: str) -> list[str]:
    return next((s["lines"] for s in prompt["sections"] if s["id"] == key), [])


def test_the_rendered_warning_section_has_the_city_level_its_measures_and_the_consultation(
    sqlite_url,
):
    _set_official(sqlite_url, "red", "I", datetime(2015, 12, 7, 6, 0))
    d = date(2015, 12, 7)
    fc = make_forecast(d, [180, 230, 260, 120])  # the district's own rules: orange
    events = issue_alerts(engine_for(sqlite_url), fc, now=datetime(2015, 12, 6, 23, 30))
    zh, en = events[0].payload["prompt"]["zh"], events[0].payload["prompt"]["en"]
    warning = _section(zh, "warning")
    assert warning[0].startswith("按照区域应急联动要求，执行红色预警（Ⅰ级应急响应）")
    assert "会商建议：根据本区预报，建议预警等级为橙色预警。" in warning
    # The measures carried out are the city's level's, not the district's own.
    assert any("红色预警减排" in x for x in warning)
    assert not any("橙色预警减排" in x for x in warning)
    text = render_prompt(zh, "text")
    assert "重污染天气预警" in text and "会商建议" in text and "红色预警减排" in text
    assert "今日无需" not in text and "请按照区域应急联动要求做好应急减排准备" not in text
    assert "Consultation suggestion" in render_prompt(en, "text")


def test_the_preview_carries_the_official_warning_as_the_publication_does(sqlite_url):
    from aqcast.service.configured import current_campaign
    from aqcast.service.publishing import preview_prompt

    _set_official(sqlite_url, "orange", "II", datetime(2015, 12, 7, 6, 0))
    d = date(2015, 12, 7)
    fc = make_forecast(d, [180, 230, 260, 120])
    with session_scope(engine_for(sqlite_url)) as s:
        preview = preview_prompt(s, fc, "district", current_campaign(), lang="zh")
    assert preview["preview"] and preview["official_warning"]["level"] == "orange"
    assert any("会商建议" in x for x in _section(preview, "warning"))
    published = issue_alerts(engine_for(sqlite_url), fc, now=datetime(2015, 12, 6, 23, 30))
    assert _section(published[0].payload["prompt"]["zh"], "warning") == _section(preview, "warning")


def test_an_ozone_led_episode_gets_the_health_advice_and_no_call_for_emergency_cuts():
    from aqcast.alerts import forecast_view as fv
    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.engine import rules_for
    from aqcast.alerts.prompt import build_prompt
    from aqcast.alerts.warnings import WarningStatus, assess, next_state

    cfg, d = load_campaign(), date(2015, 7, 7)
    fc = make_forecast(d, [250, 250, 100], o3_mda8=[300, 300, 80], pm25=[40, 40, 30])
    rules = rules_for(cfg, "district", d)
    assert rules.name == "mee-2024"
    before = WarningStatus("none", None, None)
    daily = fv.daily_aqi_forecasts(fc, "district")
    assessment = assess(daily, rules, d, before.memory)
    state, transitions = next_state(before, daily, rules, d)
    assert (state.level, assessment.advice) == ("none", "ozone")
    for lang in ("zh", "en"):
        p = build_prompt(
            fc,
            "district",
            cfg,
            lang=lang,
            warning=state,
            transitions=transitions,
            warning_rules=rules,
            assessment=assessment,
        )
        episode = "臭氧污染过程" if lang == "zh" else "ozone pollution"
        assert any(episode in x for x in _section(p, "warning"))
        tasks = _section(p, "tasks")
        assert rules.advice_text("ozone", lang) in tasks
        text = render_prompt(p, "text")
        prepare = "做好应急减排准备" if lang == "zh" else "prepare the emergency emission cuts"
        assert prepare not in text and rules.advice_text("ozone", lang) in text


def test_without_an_official_warning_the_district_decision_stands(sqlite_url):
    d = date(2015, 12, 7)
    events = issue_alerts(
        engine_for(sqlite_url), make_forecast(d, [230, 260, 120]), now=datetime(2015, 12, 6, 23)
    )
    zh = events[0].payload["prompt"]["zh"]
    assert "official_warning" not in zh
    assert any("预警" in x for x in zh.get("warning_lines", []))


def test_an_official_warning_starting_tomorrow_is_not_in_todays_prompt(sqlite_url):
    _set_official(sqlite_url, "yellow", "III", datetime(2015, 12, 8, 10, 0))
    d = date(2015, 12, 7)
    events = issue_alerts(
        engine_for(sqlite_url), make_forecast(d, [100, 120, 90]), now=datetime(2015, 12, 6, 23)
    )
    assert "official_warning" not in events[0].payload["prompt"]["zh"]


# --- the reconciled risk sentence and the outlook ----------------------------------------


def _with_risk(fc, flags: list[tuple[bool, str]], p_heavy: float):
    rows = []
    for i, (adv, conds) in enumerate(flags):
        rows.append(
            {
                "area": "district",
                "target_date": fc.issue_date + timedelta(days=i),
                "p_heavy": p_heavy if i < 4 else None,
                "stagnation_index": 0.0,
                "stagnation": False,
                "ventilation_index": None,
                "adverse": adv,
                "adverse_kind": "winter" if adv else "",
                "adverse_conditions": conds,
            }
        )
    fc.risk = pd.DataFrame(rows)
    return fc


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_heavy_forecast_day_is_never_called_low_risk(lang):
    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.prompt import build_prompt

    d = date(2015, 12, 7)
    fc = _with_risk(make_forecast(d, [231, 180, 120, 100]), [(False, "")] * 7, p_heavy=0.05)
    p = build_prompt(fc, "district", load_campaign(), lang=lang)
    low = "风险低" if lang == "zh" else "is low"
    assert low not in p["risk_line"]
    assert ("重污染" if lang == "zh" else "Heavy pollution is forecast") in p["risk_line"]
    assert p["risk"]["elevated"] is True


def test_the_outlook_names_each_adverse_day_and_its_conditions():
    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.prompt import build_prompt

    d = date(2015, 12, 7)
    flags = [(False, "")] * 4 + [(True, "weak_wind+no_precipitation+high_humidity")] * 2
    flags.append((False, ""))
    fc = _with_risk(make_forecast(d, [100, 110, 120, 100]), flags, p_heavy=0.05)
    zh = build_prompt(fc, "district", load_campaign(), lang="zh")
    assert len(zh["adverse_outlook"]) == 7
    assert [x["adverse"] for x in zh["adverse_outlook"]] == [False] * 4 + [True, True, False]
    assert "12月11日（风速小、无降水、湿度大）" in zh["risk_line"]
    assert "风险低" in zh["risk_line"]  # today itself is not heavy, nor adverse
    en = build_prompt(fc, "district", load_campaign(), lang="en")
    assert "11 Dec (weak wind, no precipitation, high humidity)" in en["risk_line"]
    # The risk section renders the one reconciled sentence, outlook included.
    for p in (zh, en):
        assert _section(p, "risk") == [p["risk_line"]]
        assert p["risk_line"] in render_prompt(p, "text")


@pytest.mark.slow
def test_the_page_shows_the_official_warning_and_the_adverse_outlook(sqlite_url):
    from aqcast.service.tables import ForecastRun
    from tests.support.api_seed import DAY, seed

    seed(sqlite_url)
    _set_official(sqlite_url, "yellow", "III", datetime(2015, 6, 15, 5, 0))
    with session_scope(engine_for(sqlite_url)) as s:
        run = s.scalars(
            select(ForecastRun).where(ForecastRun.issue_date == DAY).order_by(ForecastRun.id.desc())
        ).first()
        risk = [
            {
                "area": "district",
                "target_date": (DAY + timedelta(days=i)).isoformat(),
                "p_heavy": 0.1 if i < 4 else None,
                "stagnation_index": 0.0,
                "stagnation": False,
                "ventilation_index": None,
                "adverse": i == 5,
                "adverse_kind": "summer_ozone" if i == 5 else "",
                "adverse_conditions": "high_tmax+low_humidity" if i == 5 else "",
            }
            for i in range(7)
        ]
        run.payload = {**(run.payload or {}), "risk": risk}
    with make_client(sqlite_url) as client:
        html = client.get(f"/prompt/{DAY}").text
        assert "按照区域应急联动要求，执行黄色预警（Ⅲ级应急响应），自6月15日 05:00起" in html
        assert "会商建议" in html  # the district's own (orange) warning beside it
        assert "不利气象条件：高温、湿度低" in html
        en = client.get(f"/prompt/{DAY}?lang=en").text
        assert "the city&#39;s yellow warning is in force (level III emergency response)" in en
        r = client.get(f"/v1/forecasts/{DAY}/risk", headers=auth(_keys(sqlite_url)["officer"]))
        rows = r.json()["risk"]
        assert len(rows) == 7 and rows[5]["adverse"] is True
        assert rows[5]["adverse_conditions"] == ["high_tmax", "low_humidity"]
        assert rows[6]["p_heavy"] is None


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_ozone_exceedance_day_is_not_called_low_risk(lang):
    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.prompt import build_prompt

    d = date(2015, 6, 20)
    fc = make_forecast(d, [170, 120, 100, 90], o3_mda8=[231.0, 150.0, 120.0, 110.0])
    fc = _with_risk(fc, [(False, "")] * 4, p_heavy=0.01)
    p = build_prompt(fc, "district", load_campaign(), lang=lang)
    low = "风险低" if lang == "zh" else "is low"
    assert low not in p["risk_line"]
    assert "231" in p["risk_line"]
