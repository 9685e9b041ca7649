"""Signing, URL safety and the retry policy: the pure parts of webhook delivery."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from aqcast.service.webhooks import UnsafeURLError
from aqcast.service.webhooks.payload import event_body, localise
from aqcast.service.webhooks.policy import (
    CONNECT_ERROR,
    DEAD,
    DELIVERED,
    GONE,
    HTTP_ERROR,
    OK,
    RETRY,
    TIMEOUT,
    RetryPolicy,
    decide,
    parse_retry_after,
    retry_delay_s,
)
from aqcast.service.webhooks.signing import new_secret, signing_secrets, webhook_headers
from aqcast.service.webhooks.url_guard import check_url, forbidden_reason, pinned_request

NOW = datetime(2026, 6, 1, 0, 0, 0)


# --- signing ----------------------------------------------------------------------------


def test_secret_format_and_verification_with_standardwebhooks():
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    body = json.dumps({"type": "test", "data": {"x": "臭氧"}}, ensure_ascii=False)
    now = datetime.now(UTC)
    headers = webhook_headers("msg_1", now, body, [secret])
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body.encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("臭氧", "PM2.5").encode(), headers)


def test_rotation_signs_with_both_secrets_until_grace_ends():
    old, new = new_secret(), new_secret()
    expires = NOW + timedelta(hours=24)
    assert signing_secrets(new, old, expires, NOW) == [new, old]
    assert signing_secrets(new, old, expires, expires) == [new]
    body = '{"a":1}'
    headers = webhook_headers(
        "msg_2", datetime.now(UTC), body, signing_secrets(new, old, expires, NOW)
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


# --- URL safety -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:127.0.0.1",
        "100.100.100.200",
    ],
)
def test_non_global_addresses_are_forbidden(address):
    assert forbidden_reason(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_global_addresses_are_allowed(address):
    assert forbidden_reason(address) is None


def fixed(*addresses):
    return lambda host, port: list(addresses)


def test_private_resolution_refused_unless_allowed():
    with pytest.raises(UnsafeURLError, match="private"):
        check_url("https://hooks.example.com/x", require_https=True, resolver=fixed("10.0.0.5"))
    ok = check_url(
        "https://hooks.example.com/x",
        require_https=True,
        allow_private=["10.0.0.0/8"],
        resolver=fixed("10.0.0.5"),
    )
    assert ok.addresses == ("10.0.0.5",)
    # one bad address among good ones is enough to refuse
    with pytest.raises(UnsafeURLError, match="loopback"):
        check_url(
            "https://hooks.example.com/x",
            require_https=True,
            resolver=fixed("93.184.216.34", "127.0.0.1"),
        )


def test_metadata_refused_even_when_its_network_is_allowed():
    with pytest.raises(UnsafeURLError, match="metadata"):
        check_url(
            "http://169.254.169.254/latest/meta-data",
            require_https=False,
            allow_private=["169.254.0.0/16"],
        )
    with pytest.raises(UnsafeURLError, match="metadata"):
        check_url("http://metadata.google.internal/x", require_https=False)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://hooks.example.com/x", "https is required"),
        ("ftp://hooks.example.com/x", "scheme"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///x", "no host"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
    ],
)
def test_malformed_or_plain_http_refused_in_production(url, match):
    with pytest.raises(UnsafeURLError, match=match):
        check_url(url, require_https=True, resolver=fixed("93.184.216.34"))


def test_loopback_literal_allowed_by_allowlist():
    target = check_url(
        "http://127.0.0.1:8080/hook?a=1", require_https=False, allow_private=["127.0.0.1"]
    )
    assert target.addresses == ("127.0.0.1",)


def test_pinned_request_connects_to_checked_address_with_original_host():
    target = check_url(
        "https://hooks.example.com:8443/in?x=1",
        require_https=True,
        resolver=fixed("93.184.216.34"),
    )
    url, headers, ext = pinned_request(target)
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert headers == {"host": "hooks.example.com:8443"}
    assert ext == {"sni_hostname": "hooks.example.com"}
    v6 = check_url("https://h.example.com/", require_https=True, resolver=fixed("2606:4700::1"))
    assert pinned_request(v6)[0] == "https://[2606:4700::1]/"


# --- retry policy -----------------------------------------------------------------------

POLICY = RetryPolicy(schedule_s=(5, 300, 1800), jitter=0.2, client_error_attempts=2)


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Mon, 01 Jun 2026 00:01:30 GMT", NOW) == pytest.approx(90)
    assert parse_retry_after("Mon, 01 Jun 2026 00:00:00 GMT", NOW + timedelta(hours=1)) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_delay_follows_schedule_within_jitter(attempt):
    rng = random.Random(1)
    base = POLICY.schedule_s[attempt - 1]
    delays = [retry_delay_s(attempt, POLICY, rng) for _ in range(200)]
    assert min(delays) >= base * 0.8 and max(delays) <= base * 1.2
    assert max(delays) - min(delays) > base * 0.2  # jitter actually spreads retries


@pytest.mark.parametrize(
    ("outcome", "status", "attempts", "action"),
    [
        (OK, 200, 1, DELIVERED),
        (OK, 204, 4, DELIVERED),
        (HTTP_ERROR, 410, 1, GONE),
        (HTTP_ERROR, 500, 1, RETRY),
        (HTTP_ERROR, 503, 3, RETRY),
        (HTTP_ERROR, 503, 4, DEAD),  # 1 + len(schedule) attempts in all
        (TIMEOUT, None, 2, RETRY),
        (CONNECT_ERROR, None, 4, DEAD),
        (HTTP_ERROR, 429, 3, RETRY),
        (HTTP_ERROR, 404, 1, RETRY),
        (HTTP_ERROR, 404, 2, DEAD),  # client errors: client_error_attempts in all
        (HTTP_ERROR, 302, 2, DEAD),  # redirects are not followed
    ],
)
def test_decisions(outcome, status, attempts, action):
    d = decide(
        outcome=outcome,
        status_code=status,
        attempts_made=attempts,
        now=NOW,
        policy=POLICY,
        rng=random.Random(0),
    )
    assert d.action == action
    if action == RETRY:
        base = POLICY.schedule_s[attempts - 1]
        wait = (d.next_attempt_at - NOW).total_seconds()
        assert base * 0.8 <= wait <= base * 1.2


def test_429_retry_after_is_honoured_when_longer():
    d = decide(
        outcome=HTTP_ERROR,
        status_code=429,
        attempts_made=1,
        now=NOW,
        policy=POLICY,
        rng=random.Random(0),
        retry_after="600",
    )
    assert d.next_attempt_at == NOW + timedelta(seconds=600)


# --- payload ----------------------------------------------------------------------------


def test_body_localises_texts_to_the_subscription_language():
    assert localise({"t": {"zh": "臭氧", "en": "ozone"}, "n": [{"zh": "甲", "en": "a"}]}, "en") == {
        "t": "ozone",
        "n": ["a"],
    }

    class Ev:
        id = "evt_1"
        type = "advisory"
        area = "north"
        level = ""
        issue_date = start_date = end_date = NOW.date()
        created_at = NOW
        payload = {"sector": "coating", "text": {"zh": "错峰生产", "en": "staggered operation"}}

    body = json.loads(event_body(Ev(), "zh"))
    assert body["type"] == "advisory"
    assert body["data"]["details"] == {"sector": "coating", "text": "错峰生产"}
    assert body["timestamp"] == "2026-06-01T00:00:00Z"


@pytest.mark.parametrize("host", ["a" * 70 + ".example", "bad\x00host.example", "ex ample.com"])
def test_unresolvable_or_malformed_hosts_refused_not_crashing(host):
    with pytest.raises(UnsafeURLError):
        check_url(f"https://{host}/x", require_https=True)
