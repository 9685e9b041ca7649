"""API keys: hashing and lookup, the key endpoints, the CLI, and what never leaks."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from aqcast.service.auth import (
    KEY_PREFIX,
    UnknownRoleError,
    create_key,
    hash_key,
    lookup_key,
    revoke_key,
)
from aqcast.service.cli import app as cli
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import ApiKey
from tests.support.api_seed import auth, make_client, seed

NOW = datetime(2015, 6, 15, 0, 0)


def test_keys_are_stored_hashed_and_found_by_prefix(db_url):
    with session_scope(engine_for(db_url)) as s:
        row, key = create_key(s, name="duty", role="officer", now=NOW)
        _, other = create_key(s, name="duty 2", role="officer", now=NOW)
    assert key.startswith(KEY_PREFIX) and len(key) >= 40 and key != other
    with session_scope(engine_for(db_url)) as s:
        stored = s.scalars(select(ApiKey)).all()
        assert all(key not in (r.key_hash, r.prefix, r.name) for r in stored)
        assert s.get(ApiKey, row.id).key_hash == hash_key(key)
        assert lookup_key(s, key).id == row.id
        assert lookup_key(s, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        assert lookup_key(s, "not-a-key") is None
        assert lookup_key(s, "") is None
        revoke_key(s, row.id, now=NOW)
    with session_scope(engine_for(db_url)) as s:
        assert lookup_key(s, key) is None
        assert lookup_key(s, other) is not None
        assert revoke_key(s, 9999, now=NOW) is None
        with pytest.raises(UnknownRoleError, match="superuser"):
            create_key(s, name="x", role="superuser", now=NOW)


@pytest.mark.slow
def test_x_api_key_header_and_bad_schemes(sqlite_url):
    keys = seed(sqlite_url)
    with make_client(sqlite_url) as client:
        assert client.get("/v1/stations", headers={"X-API-Key": keys.officer}).status_code == 200
        r = client.get("/v1/stations", headers={"Authorization": f"Basic {keys.officer}"})
        assert r.status_code == 401
        r = client.get("/v1/stations", headers={"Authorization": "Bearer aqk_wrong"})
        assert r.status_code == 401 and r.json()["error"]["message"] == "the API key is not valid"


def test_admin_manages_keys_end_to_end(sqlite_url, caplog):
    caplog.set_level(logging.DEBUG)
    keys = seed(sqlite_url)
    admin = auth(keys.admin)
    with make_client(sqlite_url) as client:
        r = client.post(
            "/v1/keys", json={"name": "Acme Coating", "role": "enterprise"}, headers=admin
        )
        assert r.status_code == 201
        created = r.json()
        new_key = created["key"]
        assert created["role"] == "enterprise" and new_key.startswith(created["prefix"])
        # the key works at once and has only its role's rights
        assert client.get("/v1/stations", headers=auth(new_key)).status_code == 403
        listing = client.get("/v1/keys", headers=admin).json()
        assert listing["total"] == 6
        assert all("key" not in k for k in listing["items"])
        assert new_key not in client.get("/v1/keys", headers=admin).text
        one = client.get(f"/v1/keys/{created['id']}", headers=admin).json()
        assert one["name"] == "Acme Coating" and one["revoked_at"] is None
        renamed = client.patch(f"/v1/keys/{created['id']}", json={"name": "Acme"}, headers=admin)
        assert renamed.json()["name"] == "Acme"
        revoked = client.delete(f"/v1/keys/{created['id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert client.get("/v1/stations", headers=auth(new_key)).status_code == 401
        assert client.get("/v1/keys?include_revoked=false", headers=admin).json()["total"] == 4
        own_id = next(k["id"] for k in listing["items"] if k["name"] == "admin key")
        r = client.delete(f"/v1/keys/{own_id}", headers=admin)
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert client.delete("/v1/keys/4242", headers=admin).status_code == 404
        bad = client.post("/v1/keys", json={"name": "", "role": "root"}, headers=admin)
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["error"]["detail"]} == {"name", "role"}
        extra = client.post("/v1/keys", json={"name": "a", "role": "admin", "x": 1}, headers=admin)
        assert extra.status_code == 422
    logged = caplog.text
    for k in (new_key, keys.admin, keys.officer):
        assert k not in logged


def test_cli_prints_the_key_once(sqlite_url):
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "create", "--role", "dispatcher", "--name", "Control room"])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[0]
    assert key.startswith(KEY_PREFIX)
    with session_scope(engine_for(sqlite_url)) as s:
        row = lookup_key(s, key)
        assert row.role == "dispatcher" and row.name == "Control room"
        key_id = row.id
    listing = runner.invoke(cli, ["keys", "list"])
    assert "Control room" in listing.stdout and "dispatcher" in listing.stdout
    assert key not in listing.stdout
    assert runner.invoke(cli, ["keys", "revoke", str(key_id)]).exit_code == 0
    with session_scope(engine_for(sqlite_url)) as s:
        assert lookup_key(s, key) is None
    assert runner.invoke(cli, ["keys", "revoke", "999"]).exit_code == 1
    bad = runner.invoke(cli, ["keys", "create", "--role", "root", "--name", "x"])
    assert bad.exit_code != 0 and "root" in bad.output
