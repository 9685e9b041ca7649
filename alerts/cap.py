"""CAP 1.2 (OASIS Common Alerting Protocol) messages for warnings and advisories.

Every message has one ``info`` block per language (zh-CN, en-US). The area is the convex
hull of the area's stations (a closed polygon, points as "lat,lon"), widened by a margin;
with fewer than three stations off one line, a circle around them. Times carry the local
offset, as CAP requires (no "Z").

msgType: a warning issued is an Alert; upgraded, downgraded and extended are Updates that
reference the warning's earlier messages; a lift is a Cancel. Advisories are Alerts.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree

from aqcast.alerts.rounding import percent_step
from aqcast.alerts.texts import LANGS, Say, Text, text
from aqcast.alerts.warnings import RuleSet
from aqcast.features.timeutil import as_utc

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
XSD_PATH = Path(__file__).resolve().parent / "schemas" / "CAP-v1.2.xsd"
LANGUAGE_TAGS = {"zh": "zh-CN", "en": "en-US"}
KM_PER_DEG_LAT = 111.32
SEVERITY = {"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
MSG_TYPE = {
    "issued": "Alert",
    "upgraded": "Update",
    "downgraded": "Update",
    "extended": "Update",
    "lifted": "Cancel",
}

Point = tuple[float, float]  # (lat, lon) in degrees


# --- the area ------------------------------------------------------------------------


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points: list[Point]) -> list[Point]:
    """The convex hull (Andrew's monotone chain), counter-clockwise, not closed."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts
    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _km(a: Point, b: Point) -> float:
    """Distance [km] on a local flat approximation (fine at district scale)."""
    dy = (a[0] - b[0]) * KM_PER_DEG_LAT
    dx = (a[1] - b[1]) * KM_PER_DEG_LAT * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dx, dy)


def area_shape(points: list[Point], margin_km: float = 2.0) -> dict:
    """``{"polygon": "lat,lon lat,lon ..."}`` around the stations, or ``{"circle": "lat,lon r"}``.

    points : station coordinates (lat, lon) [deg]; margin_km : how far the shape reaches
    beyond the outermost stations [km] (each hull vertex pushed out from the centroid).
    """
    if not points:
        raise ValueError("area_shape: no station coordinates")
    hull = convex_hull(points)
    clat = sum(p[0] for p in points) / len(points)
    clon = sum(p[1] for p in points) / len(points)
    centre = (clat, clon)
    if len(hull) < 3:
        radius = max(_km(centre, p) for p in points) + max(margin_km, 1.0)
        return {"circle": f"{clat:.4f},{clon:.4f} {radius:.1f}"}
    ring = []
    for lat, lon in hull:
        d = _km(centre, (lat, lon))
        k = (d + margin_km) / d if d > 0 else 1.0
        ring.append((clat + (lat - clat) * k, clon + (lon - clon) * k))
    ring.append(ring[0])
    return {"polygon": " ".join(f"{lat:.4f},{lon:.4f}" for lat, lon in ring)}


# --- building messages ---------------------------------------------------------------


def cap_time(t: datetime, tz: ZoneInfo) -> str:
    """A CAP dateTime: local time with its offset, whole seconds (naive means UTC)."""
    return as_utc(t).astimezone(tz).replace(microsecond=0).isoformat()


def day_end(d: date, tz: ZoneInfo) -> datetime:
    """24:00 local of day ``d``."""
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz)


def day_start(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def cap_message(
    *,
    identifier: str,
    sender: str,
    sent: str,
    msg_type: str,
    infos: list[dict],
    references: list[str] | None = None,
    status: str = "Actual",
    note: str | None = None,
) -> bytes:
    """Serialise one CAP alert. Each info dict has the CAP info fields by name
    (``language, category, event, responseType, urgency, severity, certainty, effective,
    onset, expires, senderName, headline, description, instruction, web, parameters``)
    and ``area`` = ``{"areaDesc", "polygon" | "circle"}``."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", identifier)
    _sub(root, "sender", sender)
    _sub(root, "sent", sent)
    _sub(root, "status", status)
    _sub(root, "msgType", msg_type)
    _sub(root, "scope", "Public")
    if note:
        _sub(root, "note", note)
    if references:
        _sub(root, "references", " ".join(references))
    for info in infos:
        el = _sub(root, "info")
        _sub(el, "language", info["language"])
        _sub(el, "category", info.get("category", "Env"))
        _sub(el, "event", info["event"])
        for rt in info.get("responseType", []):
            _sub(el, "responseType", rt)
        for key in ("urgency", "severity", "certainty"):
            _sub(el, key, info[key])
        for key in ("effective", "onset", "expires", "senderName", "headline", "description"):
            if info.get(key):
                _sub(el, key, info[key])
        for key in ("instruction", "web"):
            if info.get(key):
                _sub(el, key, info[key])
        for name, value in info.get("parameters", {}).items():
            p = _sub(el, "parameter")
            _sub(p, "valueName", name)
            _sub(p, "value", str(value))
        area = _sub(el, "area")
        _sub(area, "areaDesc", info["area"]["areaDesc"])
        for key in ("polygon", "circle"):
            if key in info["area"]:
                _sub(area, key, info["area"][key])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def reference(sender: str, identifier: str, sent: str) -> str:
    """One entry of CAP ``references``: ``sender,identifier,sent``."""
    return f"{sender},{identifier},{sent}"


_SCHEMA: etree.XMLSchema | None = None


def validate_cap(xml: bytes) -> None:
    """Raise ValueError listing the schema errors when ``xml`` is not valid CAP 1.2."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    doc = etree.fromstring(xml)
    if not _SCHEMA.validate(doc):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in _SCHEMA.error_log)
        raise ValueError(f"not valid CAP 1.2: {errors}")


# --- warnings and advisories ---------------------------------------------------------


def warning_cap(
    transition: dict,
    *,
    identifier: str,
    sent: datetime,
    tz: ZoneInfo,
    sender: str,
    sender_name: Text,
    area_name: Text,
    shape: dict,
    rules: RuleSet,
    references: list[str] | None = None,
    web: str | None = None,
    official: dict | None = None,
) -> bytes:
    """A CAP message for one warning transition (``alerts.warnings.next_state``). With
    ``official`` (the city's warning in force) the message is the district's consultation
    suggestion: its parameters and note carry the official level, grade and start hour."""
    action = transition["action"]
    level = transition["from_level"] if action == "lifted" else transition["to_level"]
    start, end = transition["start_date"], transition["end_date"]
    issue = transition["issue_date"]
    infos = []
    for lang in ("zh", "en"):
        say = Say(lang)
        lname = rules.level_name(level, lang)
        if action == "lifted":
            description = say("cap_warning_lifted", level=lname, date=say.date(issue))
        else:
            description = say(
                "cap_warning_description",
                start=say.date(start),
                end=say.date(end),
                rules=rules.title(lang),
                level=lname,
            )
        infos.append(
            {
                "language": LANGUAGE_TAGS[lang],
                "event": say("cap_warning_event"),
                "responseType": ["AllClear"] if action == "lifted" else ["Execute"],
                "urgency": "Past"
                if action == "lifted"
                else ("Immediate" if start <= issue else "Expected"),
                "severity": SEVERITY.get(level, "Unknown"),
                "certainty": "Likely",
                "effective": cap_time(sent, tz),
                "onset": None if action == "lifted" else cap_time(day_start(start, tz), tz),
                "expires": cap_time(day_end(max(end, issue), tz), tz),
                "senderName": sender_name(lang),
                "headline": say(
                    "cap_warning_headline",
                    area=area_name(lang),
                    action=say(f"cap_action_{action}"),
                    level=lname,
                    start=say.date(start, short=True),
                    end=say.date(end, short=True),
                ),
                "description": description,
                "instruction": "" if action == "lifted" else rules.measures(level, lang),
                "web": web,
                "parameters": {
                    "level": level,
                    "action": action,
                    "rule_set": rules.name,
                    **(
                        {
                            "official_level": official["level"],
                            "official_response": official["response"],
                            "official_start_hour": official["start_hour"],
                            "consultation": "true",
                        }
                        if official
                        else {}
                    ),
                },
                "area": {"areaDesc": area_name(lang), **shape},
            }
        )
    note = None
    if official:
        note = (
            f"consultation suggestion; official warning in force: {official['level']}, "
            f"response {official['response']}, from {official['start_hour']}"
        )
    return cap_message(
        identifier=identifier,
        sender=sender,
        sent=cap_time(sent, tz),
        msg_type=MSG_TYPE[action],
        infos=infos,
        references=references if action != "issued" else None,
        note=note,
    )


def advisory_cap(
    advisory: dict,
    *,
    identifier: str,
    sent: datetime,
    tz: ZoneInfo,
    sender: str,
    sender_name: Text,
    area_name: Text,
    shape: dict,
    web: str | None = None,
) -> bytes:
    """A CAP message for one sector's staggered-operation advisory."""
    day = date.fromisoformat(advisory["target_date"])
    p = advisory.get("p_exceed")
    infos = []
    for lang in ("zh", "en"):
        say = Say(lang)
        steps = say.join([s["name"][lang] for s in advisory["steps"]])
        moves = say("or_sep").join(say.hours(m["hours"]) for m in advisory["move_to"])
        description = ""
        if advisory.get("o3_mda8_q50_ugm3") is not None:
            description = say(
                "cap_advisory_description",
                o3=advisory["o3_mda8_q50_ugm3"],
                p=percent_step(p) if p is not None else "-",
            )
        infos.append(
            {
                "language": LANGUAGE_TAGS[lang],
                "event": say("cap_advisory_event"),
                "responseType": ["Execute"],
                "urgency": "Expected",
                "severity": "Minor",
                "certainty": "Likely" if p is None or p >= 0.5 else "Possible",
                "effective": cap_time(sent, tz),
                "onset": cap_time(
                    day_start(day, tz) + timedelta(hours=advisory["avoid_hours"][0]), tz
                ),
                "expires": cap_time(day_end(day, tz), tz),
                "senderName": sender_name(lang),
                "headline": say(
                    "cap_advisory_headline",
                    date=say.date(day, short=True),
                    sector=advisory["name"][lang],
                    avoid=say.hours(advisory["avoid_hours"]),
                    steps=steps,
                ),
                "description": description,
                "instruction": say(
                    "stagger_line",
                    sector=advisory["name"][lang],
                    avoid=say.hours(advisory["avoid_hours"]),
                    steps=steps,
                    move=moves,
                ),
                "web": web,
                "parameters": {
                    "sector": advisory["sector"],
                    "avoid_hours": "{}-{}".format(*advisory["avoid_hours"]),
                },
                "area": {"areaDesc": area_name(lang), **shape},
            }
        )
    return cap_message(
        identifier=identifier, sender=sender, sent=cap_time(sent, tz), msg_type="Alert", infos=infos
    )


def critical_value_cap(
    crossing: dict,
    *,
    day: date,
    identifier: str,
    sent: datetime,
    tz: ZoneInfo,
    sender: str,
    sender_name: Text,
    area_name: Text,
    shape: dict,
    web: str | None = None,
) -> bytes:
    """A CAP message for the day's observed O3 reaching the morning critical value
    (``alerts.engine.critical_crossing``): an Alert for the rest of the local day."""
    hour = int(crossing["hour"])
    value = crossing["critical_value_ugm3"]
    certain = crossing.get("intraday_status") in ("already_exceeded", "unavoidable")
    infos = []
    for lang in ("zh", "en"):
        say = Say(lang)
        if crossing.get("observed_ugm3") is not None:
            description = say(
                "cap_critical_description",
                hour=f"{hour:02d}",
                observed=crossing["observed_ugm3"],
                value=value,
            )
        else:
            description = say("cap_critical_unavoidable", hour=f"{hour:02d}", value=value)
        infos.append(
            {
                "language": LANGUAGE_TAGS[lang],
                "event": say("cap_critical_event"),
                "responseType": ["Execute"],
                "urgency": "Immediate",
                "severity": "Moderate",
                "certainty": "Observed" if certain else "Likely",
                "effective": cap_time(sent, tz),
                "onset": cap_time(day_start(day, tz) + timedelta(hours=hour), tz),
                "expires": cap_time(day_end(day, tz), tz),
                "senderName": sender_name(lang),
                "headline": say(
                    "cap_critical_headline",
                    area=area_name(lang),
                    date=say.date(day, short=True),
                    value=value,
                ),
                "description": description,
                "instruction": say("cap_critical_instruction"),
                "web": web,
                "parameters": {
                    "critical_value_ugm3": value,
                    "hour": hour,
                    "intraday_status": crossing.get("intraday_status") or "",
                },
                "area": {"areaDesc": area_name(lang), **shape},
            }
        )
    return cap_message(
        identifier=identifier, sender=sender, sent=cap_time(sent, tz), msg_type="Alert", infos=infos
    )


def cap_test_message(
    *, identifier: str, sent: datetime, tz: ZoneInfo, sender: str, sender_name: Text
) -> bytes:
    """A CAP message of status ``Test`` (technical testing only: every recipient disregards
    it) for a subscriber's test event; it names no real area."""
    infos = []
    for lang in ("zh", "en"):
        say = Say(lang)
        infos.append(
            {
                "language": LANGUAGE_TAGS[lang],
                "event": say("cap_test_event"),
                "urgency": "Unknown",
                "severity": "Unknown",
                "certainty": "Unknown",
                "effective": cap_time(sent, tz),
                "senderName": sender_name(lang),
                "headline": say("cap_test_headline"),
                "area": {"areaDesc": say("cap_test_area")},
            }
        )
    return cap_message(
        identifier=identifier,
        sender=sender,
        sent=cap_time(sent, tz),
        msg_type="Alert",
        status="Test",
        infos=infos,
    )


EVENT_NAME_KEYS = {
    "warning": "cap_warning_event",
    "advisory": "cap_advisory_event",
    "critical_value_crossed": "cap_critical_event",
}


def stored_event_cap(
    event: dict,
    *,
    identifier: str,
    sent: datetime,
    tz: ZoneInfo,
    sender: str,
    sender_name: Text,
    area_name: Text,
    shape: dict,
    web: str | None = None,
) -> bytes:
    """A CAP message for a stored alert event that carries none of its own (recorded
    before messages were stored with events, or by another writer). ``event``: ``type,
    level, action, start_date, end_date`` and ``headline``/``description`` as
    ``{lang: text}`` (either may be empty: the event's name stands in). The message
    covers the event's days, local midnight to midnight."""
    action = event.get("action")
    level = event.get("level") or ""
    infos = []
    for lang in ("zh", "en"):
        say = Say(lang)
        name = say(EVENT_NAME_KEYS.get(event["type"], "cap_event_other"))
        headline = (event.get("headline") or {}).get(lang) or name
        description = (event.get("description") or {}).get(lang) or headline
        infos.append(
            {
                "language": LANGUAGE_TAGS[lang],
                "event": name,
                "urgency": "Expected",
                "severity": SEVERITY.get(level, "Minor" if level else "Unknown"),
                "certainty": "Likely",
                "effective": cap_time(day_start(event["start_date"], tz), tz),
                "expires": cap_time(day_end(event["end_date"], tz), tz),
                "senderName": sender_name(lang),
                "headline": headline[:160],
                "description": description,
                "web": web,
                "area": {"areaDesc": area_name(lang), **shape},
            }
        )
    return cap_message(
        identifier=identifier,
        sender=sender,
        sent=cap_time(sent, tz),
        msg_type=MSG_TYPE.get(str(action), "Alert"),
        infos=infos,
    )


def _catalogue_text(key: str) -> Text:
    return Text(**{lang: text(key, lang) for lang in LANGS})


RESPONSE_NAMES = {grade: _catalogue_text(f"response_{grade}") for grade in ("III", "II", "I")}
OFFICIAL_LEVEL_NAMES = {
    level: _catalogue_text(f"warning_level_{level}")
    for level in ("blue", "yellow", "orange", "red")
}


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (a notice typed by people)."""
    return _NOT_XML.sub("", text)


def official_cap(
    official: dict,
    *,
    action: str,
    identifier: str,
    sent: datetime,
    tz: ZoneInfo,
    sender: str,
    sender_name: Text,
    area_name: Text,
    shape: dict,
    web: str | None = None,
    measures: dict[str, str] | None = None,
) -> bytes:
    """A CAP message for the city's warning the district carries out (``action``:
    issued or cleared). ``official``: ``service.official.official_dict``."""
    level, response = official["level"], official["response"]
    start = datetime.fromisoformat(official["start"])
    end = datetime.fromisoformat(official["end"]) if official.get("end") else None
    infos = []
    for lang in ("zh", "en"):
        say = Say(lang)
        lname = OFFICIAL_LEVEL_NAMES[level](lang)
        grade = RESPONSE_NAMES[response](lang)
        start_text = f"{say.date(start.date())} {start:%H}:00"
        description = (
            say("cap_official_cleared", level=lname)
            if action == "cleared"
            else say(
                "cap_official_description",
                level=lname,
                response=grade,
                start=start_text,
                document=xml_safe(official.get("document") or "") or "-",
            )
        )
        infos.append(
            {
                "language": LANGUAGE_TAGS[lang],
                "event": say("cap_warning_event"),
                "responseType": ["AllClear"] if action == "cleared" else ["Execute"],
                "urgency": "Past" if action == "cleared" else "Immediate",
                "severity": SEVERITY.get(level, "Unknown"),
                "certainty": "Observed",
                "effective": cap_time(sent, tz),
                "onset": None if action == "cleared" else cap_time(start, tz),
                "expires": cap_time(end, tz) if end and action != "cleared" else None,
                "senderName": sender_name(lang),
                "headline": say(
                    "cap_official_headline", area=area_name(lang), level=lname, response=grade
                ),
                "description": description,
                "instruction": "" if action == "cleared" else (measures or {}).get(lang, ""),
                "web": web,
                "parameters": {
                    "level": level,
                    "response": response,
                    "action": f"official_{action}",
                    "start_hour": official["start_hour"],
                    "source": "official",
                },
                "area": {"areaDesc": area_name(lang), **shape},
            }
        )
    return cap_message(
        identifier=identifier,
        sender=sender,
        sent=cap_time(sent, tz),
        msg_type="Cancel" if action == "cleared" else "Alert",
        infos=infos,
        references=None,
    )
