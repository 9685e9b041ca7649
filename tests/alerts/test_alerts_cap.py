"""CAP 1.2 messages for warnings and advisories, validated against the OASIS schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from aqcast.alerts.campaign import load_campaign
from aqcast.alerts.cap import (
    CAP_NS,
    advisory_cap,
    area_shape,
    cap_message,
    convex_hull,
    validate_cap,
    warning_cap,
)
from aqcast.alerts.warnings import load_rule_set

TZ = ZoneInfo("Asia/Shanghai")
CFG = load_campaign()
NS = {"c": CAP_NS}
STATIONS = [
    (39.982, 116.397),
    (40.217, 116.230),
    (40.292, 116.220),
    (39.929, 116.417),
    (39.929, 116.339),
    (39.914, 116.184),
    (40.328, 116.628),
    (39.937, 116.461),
    (40.127, 116.655),
    (39.886, 116.407),
    (39.987, 116.287),
    (39.878, 116.352),
]
COMMON = dict(
    sent=datetime(2015, 12, 7, 23, 30, tzinfo=UTC),
    tz=TZ,
    sender=CFG.cap.sender,
    sender_name=CFG.cap.sender_name,
    area_name=CFG.districts["district"].name,
    shape=area_shape(STATIONS),
)


def transition(action, frm, to):
    return {
        "action": action,
        "from_level": frm,
        "to_level": to,
        "level": frm if action == "lifted" else to,
        "issue_date": date(2015, 12, 8),
        "start_date": date(2015, 12, 8),
        "end_date": date(2015, 12, 10),
        "reason": "test",
    }


def test_hull_of_the_beijing_stations_is_closed_and_contains_all():
    hull = convex_hull(STATIONS)
    assert 3 <= len(hull) < len(STATIONS)
    shape = area_shape(STATIONS)
    pairs = shape["polygon"].split()
    assert pairs[0] == pairs[-1] and len(pairs) >= 4
    pts = [tuple(map(float, p.split(","))) for p in pairs]
    assert min(p[0] for p in pts) < min(s[0] for s in STATIONS)  # widened by the margin
    assert max(p[1] for p in pts) > max(s[1] for s in STATIONS)


def test_two_stations_give_a_circle():
    shape = area_shape([(39.9, 116.4), (40.0, 116.4)], margin_km=2)
    centre, radius = shape["circle"].split()
    assert centre == "39.9500,116.4000"
    assert float(radius) == pytest.approx(5.566 + 2, abs=0.05)


@pytest.mark.parametrize(
    ("action", "frm", "to", "msg_type", "severity"),
    [
        ("issued", "none", "orange", "Alert", "Severe"),
        ("upgraded", "orange", "red", "Update", "Extreme"),
        ("extended", "red", "red", "Update", "Extreme"),
        ("downgraded", "red", "yellow", "Update", "Moderate"),
        ("lifted", "yellow", "none", "Cancel", "Moderate"),
    ],
)
def test_warning_messages_are_valid_cap(action, frm, to, msg_type, severity):
    refs = (
        [] if action == "issued" else [f"{CFG.cap.sender},aqcast-evt_1,2015-12-06T07:30:00+08:00"]
    )
    xml = warning_cap(
        transition(action, frm, to),
        identifier="aqcast-evt_2",
        rules=load_rule_set("bth-2016"),
        references=refs,
        web="http://127.0.0.1:8000/v1/events/evt_2",
        **COMMON,
    )
    validate_cap(xml)
    doc = etree.fromstring(xml)
    assert doc.findtext("c:msgType", namespaces=NS) == msg_type
    assert doc.findtext("c:scope", namespaces=NS) == "Public"
    assert doc.findtext("c:sent", namespaces=NS) == "2015-12-08T07:30:00+08:00"
    infos = doc.findall("c:info", NS)
    assert [i.findtext("c:language", namespaces=NS) for i in infos] == ["zh-CN", "en-US"]
    for info in infos:
        assert info.findtext("c:category", namespaces=NS) == "Env"
        assert info.findtext("c:severity", namespaces=NS) == severity
        assert info.find("c:area/c:polygon", NS) is not None
        assert info.findtext("c:expires", namespaces=NS).startswith("2015-12-")
    if action != "issued":
        assert doc.findtext("c:references", namespaces=NS) == refs[0]
    if action == "lifted":
        assert infos[0].findtext("c:responseType", namespaces=NS) == "AllClear"


def test_advisory_message_is_valid_cap():
    adv = {
        "sector": "industrial_coating",
        "name": {"zh": "工业涂装", "en": "industrial coating"},
        "steps": [{"step": "coating", "name": {"zh": "涂装喷涂", "en": "coating"}}],
        "avoid_hours": [9, 18],
        "move_to": [{"slot": "evening", "hours": [18, 22]}],
        "target_date": "2015-07-01",
        "o3_mda8_q50_ugm3": 195,
        "p_exceed": 0.8,
    }
    xml = advisory_cap(adv, identifier="aqcast-evt_3", **COMMON)
    validate_cap(xml)
    doc = etree.fromstring(xml)
    info = doc.find("c:info", NS)
    assert info.findtext("c:onset", namespaces=NS) == "2015-07-01T09:00:00+08:00"
    assert info.findtext("c:expires", namespaces=NS) == "2015-07-02T00:00:00+08:00"
    assert "09-18时" in info.findtext("c:headline", namespaces=NS)


def test_the_schema_rejects_a_broken_message():
    info = {
        "language": "en-US",
        "event": "x",
        "urgency": "Soon",
        "severity": "Minor",
        "certainty": "Likely",
        "area": {"areaDesc": "d"},
    }
    xml = cap_message(
        identifier="a", sender="b", sent="2015-12-08T07:30:00+08:00", msg_type="Alert", infos=[info]
    )
    with pytest.raises(ValueError, match="urgency"):
        validate_cap(xml)
    utc_z = cap_message(
        identifier="a",
        sender="b",
        sent="2015-12-08T07:30:00Z",
        msg_type="Alert",
        infos=[{**info, "urgency": "Expected"}],
    )
    with pytest.raises(ValueError, match="sent"):
        validate_cap(utc_z)
