"""Signing secrets and Standard Webhooks headers (https://www.standardwebhooks.com/).

A signature is ``v1,<base64 HMAC-SHA256>`` over ``<webhook-id>.<timestamp>.<body>``. While a
rotated secret's grace period runs, a message carries one signature per valid secret,
space-separated, so receivers verifying with either secret accept it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from math import floor

from standardwebhooks import Webhook

from aqcast.features.timeutil import as_utc, to_store_or_none

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(
    secret: str, previous_secret: str | None, previous_expires: datetime | None, now: datetime
) -> list[str]:
    """The secrets to sign with at ``now`` (naive UTC): the current one, and the previous
    one while its grace period has not ended."""
    out = [secret]
    if previous_secret and previous_expires is not None and now < previous_expires:
        out.append(previous_secret)
    return out


@lru_cache(maxsize=4096)
def _signer(secret: str) -> Webhook:
    """The signer of ``secret``, kept: decoding the key is half the cost of a signature."""
    return Webhook(secret)


def signature_header(msg_id: str, timestamp: datetime, body: str, secrets_: Iterable[str]) -> str:
    """The ``webhook-signature`` value: one ``v1,...`` per secret, space-separated."""
    return " ".join(_signer(s).sign(msg_id, timestamp, body) for s in secrets_)


def webhook_headers(
    msg_id: str, timestamp: datetime, body: str, secrets_: Iterable[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type.

    ``timestamp`` is the wall-clock send time (naive UTC or aware); receivers reject
    timestamps more than a few minutes away from their own clock.
    """
    timestamp = to_store_or_none(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(as_utc(timestamp).timestamp())),
        "webhook-signature": signature_header(msg_id, timestamp, body, secrets_),
        "content-type": "application/json",
    }
