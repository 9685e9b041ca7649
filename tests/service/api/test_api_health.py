"""Liveness, readiness (database and migrations) and the Prometheus metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aqcast.service import metrics
from tests.support.api_seed import auth, make_client, seed


def _samples(text: str) -> dict:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_and_readiness(db_url):
    with make_client(db_url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        checks = {c["name"]: c["ok"] for c in r.json()["checks"]}
        assert checks == {"database": True, "migrations": True}


def test_not_ready_without_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with make_client(url) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503
        mig = next(c for c in r.json()["checks"] if c["name"] == "migrations")
        assert not mig["ok"] and "aqcast migrate" in mig["message"]


@pytest.mark.slow
def test_not_ready_when_the_database_is_unreachable():
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    with make_client(url) as client:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"][0] == {
            "name": "database",
            "ok": False,
            "message": "unreachable: OperationalError",
        }


@pytest.mark.slow
def test_metrics(sqlite_url):
    keys = seed(sqlite_url)
    metrics.record_job_run("test_forecast")
    metrics.record_job_run("test_forecast", failed=True)
    metrics.record_delivery("test_ok")
    with make_client(sqlite_url) as client:
        before = _samples(client.get("/metrics").text)
        client.get("/v1/stations/Dongsi", headers=auth(keys.officer))
        client.get("/v1/stations/Nowhere", headers=auth(keys.officer))
        r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    after = _samples(r.text)
    key = (
        "aqcast_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/v1/stations/{code}"), ("status", "200")),
    )
    assert after[key] == before.get(key, 0) + 1
    k404 = (key[0], (("method", "GET"), ("route", "/v1/stations/{code}"), ("status", "404")))
    assert after[k404] >= 1
    assert after[("aqcast_job_runs_total", (("job", "test_forecast"),))] >= 2
    assert after[("aqcast_job_failures_total", (("job", "test_forecast"),))] >= 1
    assert after[("aqcast_alert_deliveries_total", (("outcome", "test_ok"),))] >= 1
    # at the app clock (00:30Z) the seeded feed's newest data is 1 h old, and the newest
    # stored observation is the hour starting 23:00Z
    assert after[("aqcast_data_age_seconds", (("feed", "openaq"),))] == 3600.0
    assert after[("aqcast_data_age_seconds", (("feed", "observations_stored"),))] == 5400.0
