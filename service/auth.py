"""API keys: creation, hashing, lookup and revocation.

A key is ``aqk_`` followed by 43 URL-safe characters (256 random bits). The store keeps only
its SHA-256 and its first 12 characters (the prefix, for lookup and for people to tell keys
apart); the key itself is shown once, when it is created. Comparison is constant-time.

Roles: ``officer`` and ``dispatcher`` read; ``enterprise`` manages its own webhook
subscriptions only (and, bound to a registered enterprise, acknowledges advisories and
reads its own record); ``admin`` manages keys (and may read).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aqcast.service.tables import ApiKey

ROLES: tuple[str, ...] = ("officer", "dispatcher", "enterprise", "admin")
READ_ROLES: tuple[str, ...] = ("officer", "dispatcher", "admin")
KEY_PREFIX = "aqk_"
PREFIX_LENGTH = 12


class UnknownRoleError(ValueError):
    """A role that is not one of ``ROLES``."""


def generate_key() -> str:
    """A new random API key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256. A fast hash suffices for 256 random bits."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


class KeyBindingError(ValueError):
    """An enterprise binding that cannot be made (wrong role, unknown enterprise)."""


def create_key(
    session: Session,
    *,
    name: str,
    role: str,
    now: datetime,
    enterprise_id: int | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the plain key (the only time it exists).

    ``enterprise_id`` binds an ``enterprise`` key to a registered enterprise: it then
    acknowledges advisories for it, and its subscriptions default to its sectors and area.
    """
    if role not in ROLES:
        raise UnknownRoleError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if enterprise_id is not None:
        from aqcast.service.tables import Enterprise

        if role != "enterprise":
            raise KeyBindingError(f"only an enterprise key is bound to an enterprise, not {role!r}")
        if session.get(Enterprise, enterprise_id) is None:
            raise KeyBindingError(f"no enterprise with id {enterprise_id}")
    key = generate_key()
    row = ApiKey(
        name=name,
        role=role,
        prefix=key_prefix(key),
        key_hash=hash_key(key),
        created_at=now,
        revoked_at=None,
        enterprise_id=enterprise_id,
    )
    session.add(row)
    session.flush()
    return row, key


def lookup_key(session: Session, key: str) -> ApiKey | None:
    """The active key row matching ``key``, or None (unknown, malformed or revoked)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 256:
        return None
    digest = hash_key(key)
    rows = session.scalars(
        select(ApiKey).where(ApiKey.prefix == key_prefix(key), ApiKey.revoked_at.is_(None))
    )
    found = None
    for row in rows:
        # compare every candidate so that timing does not tell which prefix matched
        if hmac.compare_digest(row.key_hash, digest):
            found = row
    return found


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_key(session: Session, key_id: int, *, now: datetime) -> ApiKey | None:
    """Revoke key ``key_id`` (idempotent); None when there is no such key."""
    row = session.get(ApiKey, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now
    return row
