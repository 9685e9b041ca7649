"""Two API replicas (`aqcast serve --no-scheduler`) on one PostgreSQL database: writes made
through either are seen by both, none is lost or doubled, and keys work on both."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from aqcast.service.auth import create_key
from aqcast.service.store import engine_for, session_scope
from tests.service.test_jobs_serve import free_port, serve, stop, wait_for

pytestmark = pytest.mark.postgres


def test_two_api_replicas_share_one_postgres_store(pg_server, tmp_path: Path, monkeypatch):
    from aqcast.service.store import migrate
    from tests.conftest import drop_pg_database, make_pg_database

    url = make_pg_database(pg_server)
    try:
        migrate(url)
        with session_scope(engine_for(url)) as s:
            now = datetime.now(UTC).replace(tzinfo=None)
            _, enterprise = create_key(s, name="coating works", role="enterprise", now=now)
            _, officer = create_key(s, name="duty officer", role="officer", now=now)
        monkeypatch.setenv("AQCAST_WEBHOOK_ALLOW_PRIVATE", json.dumps(["127.0.0.1"]))
        monkeypatch.setenv("AQCAST_WEBHOOK_REQUIRE_HTTPS", "false")
        ports = [free_port(), free_port()]
        procs = []
        for i, port in enumerate(ports):
            d = tmp_path / f"replica{i}"
            d.mkdir()
            procs.append(serve(["--port", str(port), "--no-scheduler"], url, d))
        try:
            for port, proc in zip(ports, procs, strict=True):
                assert wait_for(f"http://127.0.0.1:{port}/readyz", proc).status_code == 200
            ent = {"Authorization": f"Bearer {enterprise}"}

            def create(i: int) -> int:
                port = ports[i % 2]
                body = {"url": f"http://127.0.0.1:9/hook/{i}", "event_types": ["advisory"]}
                r = httpx.post(
                    f"http://127.0.0.1:{port}/v1/subscriptions", json=body, headers=ent, timeout=30
                )
                return r.status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(create, range(40)))
            assert codes == [201] * 40
            seen = []
            for port in ports:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/v1/subscriptions?limit=100", headers=ent, timeout=30
                )
                assert r.status_code == 200
                seen.append(sorted(s["url"] for s in r.json()["items"]))
            assert seen[0] == seen[1]
            assert len(set(seen[0])) == 40
            # the officer key is valid on both replicas, and may not manage subscriptions
            for port in ports:
                base = f"http://127.0.0.1:{port}"
                off = {"Authorization": f"Bearer {officer}"}
                assert httpx.get(f"{base}/v1/stations", headers=off).status_code == 200
                assert httpx.get(f"{base}/v1/subscriptions", headers=off).status_code == 403
        finally:
            for p in procs:
                stop(p)
    finally:
        engine_for(url).dispose()
        drop_pg_database(pg_server, url)
