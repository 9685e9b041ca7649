"""Run claims and the leader lock, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aqcast.service.locks import (
    LeaderLock,
    advisory_key,
    claim_run,
    finish_run,
    heartbeat,
    run_status,
)
from aqcast.service.store import make_engine
from aqcast.service.tables import JobRun

T0 = datetime(2015, 6, 1, 22, 30, tzinfo=UTC)
STALE = timedelta(seconds=120)


def test_a_claimed_run_is_not_claimed_again_until_done_or_dead(db_url: str) -> None:
    engine = make_engine(db_url)
    a = claim_run(engine, "publish", "2015-06-02", owner="a", now=T0, stale_after=STALE)
    assert a is not None and a.attempt == 1
    # alive elsewhere: refused
    assert claim_run(engine, "publish", "2015-06-02", owner="b", now=T0, stale_after=STALE) is None
    assert heartbeat(engine, a, T0 + timedelta(seconds=100))
    later = T0 + timedelta(seconds=200)  # 100 s after the last beat: still fresh
    assert (
        claim_run(engine, "publish", "2015-06-02", owner="b", now=later, stale_after=STALE) is None
    )
    # the owner died: after stale_after without a beat, b takes over
    dead = T0 + timedelta(seconds=100) + STALE + timedelta(seconds=1)
    b = claim_run(engine, "publish", "2015-06-02", owner="b", now=dead, stale_after=STALE)
    assert b is not None and b.taken_over_from == "a" and b.attempt == 2
    # a comes back to life: its beat and finish are refused, b's stand
    assert not heartbeat(engine, a, dead)
    assert not finish_run(engine, a, status="done", now=dead)
    assert finish_run(engine, b, status="done", now=dead, detail={"events": 3})
    assert run_status(engine, "publish", "2015-06-02") == "done"
    far = dead + timedelta(days=1)
    assert claim_run(engine, "publish", "2015-06-02", owner="c", now=far, stale_after=STALE) is None
    with engine.connect() as conn:
        row = conn.execute(select(JobRun)).one()
    assert (row.owner, row.status, row.detail["events"], row.detail["previous_owner"]) == (
        "b",
        "done",
        3,
        "a",
    )
    engine.dispose()


def test_a_failed_run_may_be_retried(db_url: str) -> None:
    engine = make_engine(db_url)
    a = claim_run(engine, "forecast", "2015-06-02", owner="a", now=T0, stale_after=STALE)
    assert finish_run(engine, a, status="failed", now=T0, detail={"error": "boom"})
    b = claim_run(engine, "forecast", "2015-06-02", owner="b", now=T0, stale_after=STALE)
    assert b is not None and b.attempt == 2
    with pytest.raises(ValueError, match="done or failed"):
        finish_run(engine, b, status="ok", now=T0)
    engine.dispose()


def test_racing_claims_from_separate_engines_have_one_winner(db_url: str) -> None:
    n = 6
    engines = [make_engine(db_url) for _ in range(n)]
    barrier = threading.Barrier(n)
    won: list[str] = []

    def race(i: int) -> None:
        barrier.wait()
        claim = claim_run(
            engines[i], "publish", "2015-06-03", owner=f"p{i}", now=T0, stale_after=STALE
        )
        if claim is not None:
            won.append(claim.owner)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    # and racing takeovers of a dead run: one winner again
    dead = T0 + STALE * 3
    won.clear()
    barrier.reset()

    def race_takeover(i: int) -> None:
        barrier.wait()
        claim = claim_run(
            engines[i], "publish", "2015-06-03", owner=f"q{i}", now=dead, stale_after=STALE
        )
        if claim is not None:
            won.append(claim.owner)

    threads = [threading.Thread(target=race_takeover, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    for e in engines:
        e.dispose()


def test_sqlite_has_no_leader_lock_and_every_scheduler_leads(sqlite_url: str) -> None:
    a, b = LeaderLock(make_engine(sqlite_url)), LeaderLock(make_engine(sqlite_url))
    assert a.acquire() and b.acquire()
    assert not a.uses_database


@pytest.fixture
def pg_url(pg_server: str):
    from tests.conftest import drop_pg_database, make_pg_database

    url = make_pg_database(pg_server)
    yield url
    drop_pg_database(pg_server, url)


@pytest.mark.postgres
def test_postgres_leader_lock_elects_one_and_passes_on_when_the_leader_dies(pg_url: str) -> None:
    db_url = pg_url
    e1, e2 = make_engine(db_url), make_engine(db_url)
    name = f"test-leader-{db_url.rsplit('/', 1)[1]}"
    first, second = LeaderLock(e1, name), LeaderLock(e2, name)
    assert first.acquire()
    assert first.acquire()  # keeping it is still leading
    assert not second.acquire()
    # the leader's process dies: its connection goes, and the lock with it
    first._conn.invalidate()  # noqa: SLF001 - simulate the process dying
    first._conn = None  # noqa: SLF001
    assert second.acquire()
    assert not first.acquire()
    second.release()
    assert first.acquire()
    first.release()
    e1.dispose()
    e2.dispose()


def test_advisory_key_is_stable_and_signed_64_bit() -> None:
    k = advisory_key("aqcast-scheduler")
    assert k == advisory_key("aqcast-scheduler") != advisory_key("other")
    assert -(2**63) <= k < 2**63
