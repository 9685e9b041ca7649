"""Alert events stored from forecasts: warnings persisted, reruns storing nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from aqcast.alerts import hindcast_events
from aqcast.alerts.cap import validate_cap
from aqcast.alerts.engine import critical_crossing
from aqcast.service.configured import current_campaign
from aqcast.service.publishing import check_critical_crossing, issue_alerts
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import AlertEvent, DailyStat, Station, WarningState
from tests.support.forecasts import campaign_with_rule_set, make_forecast


@pytest.fixture(autouse=True)
def _bth_2016(tmp_path, monkeypatch):
    """These tests follow the warning life under the calendar-day rules of bth-2016 (the
    national rule sets are tested in test_warning_rules_mee.py)."""
    from aqcast.service import settings as settings_module

    monkeypatch.setenv("AQCAST_CAMPAIGN_FILE", str(campaign_with_rule_set(tmp_path, "bth-2016")))
    settings_module.get_settings.cache_clear()


EPISODE = [
    [150, 250, 350],
    [260, 350, 380],
    [320, 360, 310],
    [330, 320, 150],
    [310, 150, 90],
    [150, 80, 60],
]
START = date(2015, 12, 6)


def _now(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), tzinfo=UTC) - timedelta(minutes=30)


def _count(engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(AlertEvent))


def _seed_stations(engine):
    with session_scope(engine) as s:
        for i, (code, lat, lon) in enumerate(
            [("A", 39.98, 116.40), ("B", 40.22, 116.23), ("C", 39.93, 116.46), ("D", 40.13, 116.66)]
        ):
            s.add(Station(id=i + 1, code=code, name=code, lat=lat, lon=lon, source="test"))


@pytest.mark.slow
def test_episode_warnings_are_stored_and_a_rerun_stores_nothing_twice(db_url):
    engine = engine_for(db_url)
    _seed_stations(engine)
    actions = []
    for i, values in enumerate(EPISODE):
        d = START + timedelta(days=i)
        events = issue_alerts(engine, make_forecast(d, values), now=_now(d))
        assert events[0].type == "prompt"
        actions.append([e.payload["action"] for e in events if e.type == "warning"])
    assert actions == [["issued"], ["upgraded"], ["upgraded"], [], [], ["lifted"]]
    n = _count(engine)
    assert n == 6 + 4  # six prompts and four warning changes

    # A rerun of the last day (the scheduler retried) stores nothing new and decides the same.
    last = START + timedelta(days=5)
    again = issue_alerts(
        engine, make_forecast(last, EPISODE[-1]), now=_now(last) + timedelta(hours=1)
    )
    assert _count(engine) == n
    assert [e.payload.get("action") for e in again if e.type == "warning"] == ["lifted"]
    with session_scope(engine) as s:
        state = s.get(WarningState, "district")
        assert state.level == "none" and state.updated_on == last
        warnings = s.scalars(
            select(AlertEvent).where(AlertEvent.type == "warning").order_by(AlertEvent.issue_date)
        ).all()
        for ev in warnings:
            validate_cap(ev.payload["cap_xml"].encode())
        # Updates reference the warning's earlier messages; the lift is a Cancel.
        assert "<msgType>Alert</msgType>" in warnings[0].payload["cap_xml"]
        assert "<msgType>Update</msgType>" in warnings[1].payload["cap_xml"]
        assert "<references>" in warnings[2].payload["cap_xml"]
        assert "<msgType>Cancel</msgType>" in warnings[3].payload["cap_xml"]
        assert "<polygon>" in warnings[0].payload["cap_xml"]
        assert (warnings[2].start_date, warnings[2].end_date) == (
            date(2015, 12, 7),
            date(2015, 12, 10),
        )


@pytest.mark.slow
def test_ozone_day_advisories_prompt_and_targets(db_url):
    engine = engine_for(db_url)
    d = date(2015, 7, 1)
    with session_scope(engine) as s:
        for i in range(181):
            day = date(2015, 1, 1) + timedelta(days=i)
            s.add(
                DailyStat(
                    area="district",
                    station_id=None,
                    day=day,
                    variable="aqi",
                    value=250.0 if i < 2 else 80.0,
                    n_valid=24,
                )
            )
            s.add(
                DailyStat(
                    area="district",
                    station_id=None,
                    day=day,
                    variable="pm25_24h",
                    value=50.0,
                    n_valid=24,
                )
            )
    events = issue_alerts(
        engine, make_forecast(d, [130, 90, 80], o3_mda8=[195, 150, 120]), now=_now(d)
    )
    types = [e.type for e in events]
    assert types.count("advisory") == len(current_campaign().sectors)
    adv = next(e for e in events if e.type == "advisory" and e.payload["sector"] == "fuel_stations")
    assert adv.payload["move_to"][0]["hours"] == [20, 6]
    json.dumps(adv.payload)  # structured JSON for subscribers
    validate_cap(adv.payload["cap_xml"].encode())
    prompt = events[0].payload["prompt"]
    assert set(prompt) == {"zh", "en"}
    assert prompt["zh"]["targets"]["heavy_days"] == 2
    assert prompt["zh"]["targets"]["heavy_days_left"] == 1
    # judged after rounding: the annual mean must stay below 38.5
    assert prompt["en"]["targets"]["pm25_max_mean_ugm3"] == 27  # (38.5 * 365 - 50 * 181) / 184
    assert (50 * 181 + 27 * 184) / 365 < 38.5 < (50 * 181 + 28 * 184) / 365


def test_critical_value_crossing_is_one_event_a_day(db_url):
    engine = engine_for(db_url)
    d = date(2015, 7, 1)
    fc = make_forecast(d, [130, 90, 80], o3_mda8=[195, 150, 120])
    cv = float(fc.critical["critical_value_ugm3"].iloc[0])
    morning = [40.0] * 10 + [cv - 30]
    assert check_critical_crossing(engine, "district", d, morning, fc, _now(d)) is None
    crossed = morning + [cv + 5]
    ev = check_critical_crossing(engine, "district", d, crossed, fc, _now(d))
    assert ev is not None and ev.type == "critical_value_crossed"
    assert ev.payload["hour"] == 11
    assert_critical_cap(ev, cv)
    again = check_critical_crossing(engine, "district", d, crossed + [cv + 10], fc, _now(d))
    assert again.id == ev.id
    assert _count(engine) == 1


def test_critical_crossing_when_the_day_is_already_lost():
    # No single hour reached the critical value, but eight hours at 200 make MDA8 > 160.
    result = critical_crossing([200.0] * 16, critical_value_ugm3=260.0)
    assert result is not None and result["intraday_status"] == "already_exceeded"
    assert critical_crossing([100.0] * 16, critical_value_ugm3=260.0) is None


def test_hindcast_event_lines():
    fcs = {
        START + timedelta(days=i): make_forecast(START + timedelta(days=i), v)
        for i, v in enumerate(EPISODE)
    }
    lines = hindcast_events(fcs, current_campaign())
    warnings = [x for x in lines if x["type"] == "warning"]
    assert [(w["issue_date"], w["action"], w["level"]) for w in warnings] == [
        ("2015-12-06", "issued", "yellow"),
        ("2015-12-07", "upgraded", "orange"),
        ("2015-12-08", "upgraded", "red"),
        ("2015-12-11", "lifted", "red"),
    ]
    for line in lines:
        assert {"issue_date", "type", "area", "level", "start_date", "end_date"} <= set(line)
        json.dumps(line)
    assert sum(x["type"] == "prompt" for x in lines) == len(EPISODE)


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["fr"])
def test_cli_prompt_refuses_unknown_language(bad):
    from typer.testing import CliRunner

    from aqcast.service.cli import app

    result = CliRunner().invoke(app, ["prompt", "--date", "2015-07-01", "--lang", bad])
    assert result.exit_code != 0 and "--lang" in result.output


@pytest.mark.slow
def test_cli_events_and_warnings(sqlite_url):
    from typer.testing import CliRunner

    from aqcast.service.cli import app

    engine = engine_for(sqlite_url)
    for i, values in enumerate(EPISODE[:2]):
        d = START + timedelta(days=i)
        issue_alerts(engine, make_forecast(d, values), now=_now(d))
    runner = CliRunner()
    out = runner.invoke(app, ["events", "--type", "warning", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in out.output.splitlines()]
    assert [r["detail"] for r in rows] == ["upgraded", "issued"]
    cap = runner.invoke(app, ["events", "--cap", rows[0]["id"]])
    validate_cap(cap.output.encode())
    w = runner.invoke(app, ["warnings"])
    assert "district: orange 2015-12-07 to 2015-12-09" in w.output


def test_hindcast_events_from_hindcast_csv_rows():
    # The hindcast CSV layout: ISO date strings, area labels, station rows as "station:X".
    rows = []
    for i, values in enumerate(EPISODE):
        d = START + timedelta(days=i)
        for lead, v in enumerate(values):
            for area in ("district", "station:Dongsi"):
                rows.append(
                    {
                        "issue_date": d.isoformat(),
                        "target_date": (d + timedelta(days=lead)).isoformat(),
                        "lead_days": lead,
                        "area": area,
                        "variable": "aqi",
                        "q10": v * 0.8,
                        "q50": v,
                        "q90": v * 1.2,
                        "p_exceed": 0.5,
                        "threshold": 200.0,
                    }
                )
    lines = hindcast_events(pd.DataFrame(rows), current_campaign())
    assert {x["area"] for x in lines} == {"district"}
    assert [x["action"] for x in lines if x["type"] == "warning"] == [
        "issued",
        "upgraded",
        "upgraded",
        "lifted",
    ]


@pytest.mark.slow
def test_cli_prompt_renders_the_stored_forecast(sqlite_url, monkeypatch):
    from typer.testing import CliRunner

    from aqcast.service import forecasts as stored_forecasts
    from aqcast.service.cli import app

    d = date(2015, 12, 7)
    fc = make_forecast(d, EPISODE[1])
    issue_alerts(engine_for(sqlite_url), fc, now=_now(d))
    monkeypatch.setattr(
        stored_forecasts, "load_forecast", lambda engine, day: fc if day == d else None
    )
    runner = CliRunner()
    zh = runner.invoke(app, ["prompt", "--date", "2015-12-07"])
    assert zh.exit_code == 0, zh.output
    assert zh.output.startswith("全区空气质量工作提示\n") and "2015年12月7日" in zh.output
    assert "橙色预警" in zh.output
    en = runner.invoke(app, ["prompt", "--date", "2015-12-07", "--lang", "en", "--format", "json"])
    assert json.loads(en.output)["warning"]["level"] == "orange"
    missing = runner.invoke(app, ["prompt", "--date", "2015-12-08"])
    assert missing.exit_code == 1 and "no forecast stored" in missing.output


@pytest.mark.slow
def test_hindcast_score_finds_caught_alerts_lead_and_false_alarms():
    from aqcast.alerts.hindcast_check import score

    fcs = [make_forecast(START + timedelta(days=i), v) for i, v in enumerate(EPISODE)]
    later = date(2015, 12, 20)  # a one-day false alarm two weeks later
    fcs += [
        make_forecast(later, [150, 150, 230]),
        make_forecast(later + timedelta(days=1), [150, 230, 100]),
        make_forecast(later + timedelta(days=2), [230, 100, 100]),
        make_forecast(later + timedelta(days=3), [100, 90, 80]),
    ]
    lines = hindcast_events(fcs, current_campaign())
    result = score(lines, [(date(2015, 12, 8), date(2015, 12, 10), "red")])
    (alert,) = result["real_alerts"]
    assert alert["caught"] and alert["days_ahead"] == 2 and alert["highest_level"] == "red"
    assert [f["warned"] for f in result["false_alarms"]] == ["2015-12-22..2015-12-22"]


def assert_critical_cap(ev, cv):
    """The critical-value CAP message gets the care of the others: validated against the
    schema, campaign sender, aqcast- identifier, a headline for people, local offsets."""
    from lxml import etree

    from aqcast.alerts.cap import CAP_NS

    xml = ev.payload["cap_xml"].encode()
    validate_cap(xml)
    doc = etree.fromstring(xml)
    ns = {"c": CAP_NS}
    cfg = current_campaign()
    assert doc.findtext("c:identifier", namespaces=ns) == f"aqcast-{ev.id}"
    assert doc.findtext("c:sender", namespaces=ns) == cfg.cap.sender
    assert doc.findtext("c:status", namespaces=ns) == "Actual"
    assert doc.findtext("c:sent", namespaces=ns).endswith("+08:00")
    infos = doc.findall("c:info", ns)
    assert [i.findtext("c:language", namespaces=ns) for i in infos] == ["zh-CN", "en-US"]
    zh, en = (i.findtext("c:headline", namespaces=ns) for i in infos)
    assert f"{round(cv)}" in zh and "臭氧临界值" in zh and "critical_value_crossed" not in zh
    assert en.startswith(cfg.districts["district"].name("en")) and "critical value" in en
    assert "11:00" in infos[1].findtext("c:description", namespaces=ns)
    for i in infos:
        assert i.findtext("c:onset", namespaces=ns).endswith("T11:00:00+08:00")
        assert i.findtext("c:expires", namespaces=ns).endswith("+08:00")
