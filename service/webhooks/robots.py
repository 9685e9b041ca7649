"""Work-chat group robots as delivery channels: 企业微信群机器人 (``wecom``) and 钉钉自定义
机器人 (``dingtalk``). The outbox, retries, dead letters and URL checks are the
dispatcher's, as for Standard Webhooks; this module makes the message and reads the answer.

Messages are markdown (an advisory ends with its acknowledgement link):

- WeCom: ``POST <robot url with key>`` ``{"msgtype": "markdown", "markdown": {"content"}}``,
  content at most 4096 bytes (UTF-8).
- DingTalk: ``POST <robot url with access_token>&timestamp=<ms>&sign=<s>``
  ``{"msgtype": "markdown", "markdown": {"title", "text"}}`` where
  ``s = urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")))`` (加签); the
  platform refuses a timestamp more than an hour from its clock, so the URL is signed at
  each attempt.

Both answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``, or an error code in the body:
rate limits (WeCom 45009, DingTalk 130101: 20 messages a minute per robot) are retried
after the configured wait; a robot that no longer exists (WeCom 93000 invalid webhook
URL, DingTalk 300001/400101 token missing) disables the subscription like 410 Gone; any
other code (DingTalk 310000: signature, keyword or IP check failed; malformed messages)
is a dead letter at once, since sending it again gives the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from aqcast.alerts.texts import prefixed_texts
from aqcast.alerts.texts import text as catalogue_text
from aqcast.features.timeutil import as_utc
from aqcast.service.tables import AlertEvent
from aqcast.service.webhooks.payload import localise
from aqcast.service.webhooks.policy import HTTP_ERROR, OK, RATE_LIMITED, REJECTED, ROBOT_GONE

WECOM = "wecom"
DINGTALK = "dingtalk"
ROBOT_FORMATS = (WECOM, DINGTALK)
WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 20000

WECOM_RATE_LIMIT = {45009}
WECOM_GONE = {93000}
DINGTALK_RATE_LIMIT = {130101}
DINGTALK_GONE = {300001, 400101}


def labels(lang: str) -> dict[str, str]:
    """The robot messages' words in ``lang`` (catalogue ``robot_label_*``), with the
    catalogue's list and "or" separators."""
    t = prefixed_texts("robot_label_", lang)
    return {**t, "sep": catalogue_text("list_sep", lang), "or": catalogue_text("or_sep", lang)}


def _prompt_text(payload: dict, lang: str) -> str | None:
    inner = payload.get("prompt")
    if isinstance(inner, dict) and isinstance(inner.get(lang), dict):
        from aqcast.alerts.prompt import render_prompt

        try:
            return render_prompt(inner[lang], "text")
        except Exception:  # noqa: BLE001 - an unreadable prompt is sent as its title only
            return str(inner[lang].get("title") or "")
    return None


def markdown(event: AlertEvent, lang: str, ack_url: str | None = None) -> tuple[str, str]:
    """The message's title and markdown text in ``lang``."""
    t = labels(lang)
    p: dict[str, Any] = localise(event.payload or {}, lang)
    day = event.issue_date.isoformat()
    if event.type == "advisory":
        sector = p.get("name") or p.get("sector", "")
        title = (
            f"{t['advisory']}：{sector}（{day}）"
            if lang == "zh"
            else f"{t['advisory']}: {sector} ({day})"
        )
        steps = t["sep"].join(str(s.get("name", "")) for s in p.get("steps") or [])
        moves = t["or"].join(
            f"{m.get('name', '')} {m.get('hours_text', '')}".strip() for m in p.get("move_to") or []
        )
        lines = [f"### {title}", f"> {t['avoid']}：**{p.get('avoid_text', '')}**"]
        if steps:
            lines.append(f"> {t['steps']}：{steps}")
        if moves:
            lines.append(f"> {t['move']}：{moves}")
        if ack_url:
            lines.append("")
            lines.append(f"[{t['ack']}]({ack_url})")
        return title, "\n".join(lines)
    if event.type == "prompt":
        text = _prompt_text(event.payload or {}, lang) or ""
        title = f"{t['prompt']}（{day}）" if lang == "zh" else f"{t['prompt']} ({day})"
        return title, f"### {title}\n{text}"
    if event.type == "warning":
        level = prefixed_texts("robot_level_", lang).get(str(event.level), str(event.level))
        act = str(p.get("action", ""))
        action = prefixed_texts("robot_action_", lang).get(act, act)
        span = f"{event.start_date.isoformat()} - {event.end_date.isoformat()}"
        if lang == "zh":
            title = f"{t['warning']}{action}{level}"
            body = f"### {title}\n> {span}"
        else:
            title = f"{t['warning']}: {level}, {action}"
            body = f"### {title}\n> {span}"
        return title, body
    if event.type == "critical_value_crossed":
        text = t["critical_text"].format(
            hour=p.get("hour", ""),
            obs=p.get("observed_ugm3", ""),
            cv=p.get("critical_value_ugm3", ""),
        )
        return t["critical"], f"### {t['critical']}（{day}）\n{text}"
    if event.type == "test":
        message = p.get("message", "")
        return t["test"], f"### {t['test']}\n{message}"
    return event.type, f"### {event.type} ({day})\n" + json.dumps(p, ensure_ascii=False)[:1000]


def _cut(text: str, max_bytes: int) -> str:
    """``text`` cut to ``max_bytes`` of UTF-8 on a character boundary (the link, when
    there is one, is at the end: keep it by cutting the middle)."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    tail = ""
    if "\n[" in text:  # the acknowledgement link line
        tail = text[text.rindex("\n[") :]
    room = max_bytes - len(tail.encode("utf-8")) - len("…".encode())
    head = raw[: max(room, 0)].decode("utf-8", "ignore")
    return head + "…" + tail


def robot_body(fmt: str, event: AlertEvent, lang: str, ack_url: str | None = None) -> str:
    """The JSON body for a ``wecom`` or ``dingtalk`` robot."""
    title, text = markdown(event, lang, ack_url)
    if fmt == WECOM:
        msg = {"msgtype": "markdown", "markdown": {"content": _cut(text, WECOM_MAX_BYTES)}}
    elif fmt == DINGTALK:
        msg = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": _cut(text, DINGTALK_MAX_BYTES)},
        }
    else:
        raise ValueError(f"not a robot format: {fmt!r}")
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: urlencoded base64 of HMAC-SHA256(secret, "<timestamp>\\n<secret>")."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def dingtalk_url(url: str, secret: str, when: datetime) -> str:
    """The robot URL with ``timestamp`` (ms) and ``sign`` added for a send at ``when``."""
    ts = int(as_utc(when).timestamp() * 1000)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(secret, ts)}"


def interpret(
    fmt: str, head: bytes, rate_limit_retry_s: float
) -> tuple[str, str | None, str | None]:
    """What a robot's HTTP 2xx answer means: (outcome, error, retry-after seconds)."""
    try:
        answer = json.loads(head.decode("utf-8"))
        code = int(answer.get("errcode"))
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return HTTP_ERROR, "the robot's answer is not its JSON {errcode, errmsg}", None
    if code == 0:
        return OK, None, None
    message = f"errcode {code}: {str(answer.get('errmsg', ''))[:200]}"
    limits, gone = (
        (WECOM_RATE_LIMIT, WECOM_GONE) if fmt == WECOM else (DINGTALK_RATE_LIMIT, DINGTALK_GONE)
    )
    if code in limits:
        return RATE_LIMITED, message, str(int(rate_limit_retry_s))
    if code in gone:
        return ROBOT_GONE, message, None
    return REJECTED, message, None
