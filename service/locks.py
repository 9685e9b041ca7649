"""Run claims and leader election: how a scheduled run happens once.

Run claims (both backends). A run is keyed by ``(job, run_key)`` (the run's local date,
hour or month); the ``job_runs`` table has a unique constraint on that pair. A scheduler
claims a run by inserting its row; the insert fails with an IntegrityError when another
process already holds it. The holder keeps ``heartbeat_at`` fresh while it works. A row
that is still ``running`` with a heartbeat older than ``stale_after`` belongs to a process
that died: another may take it over with a compare-and-set update (only one wins). So may
a row whose owner is known to be gone at once: an owner is ``host:pid:tag``, and a process
on the same host that no longer runs (or this very process under an earlier owner, as
after a container restart where the service is pid 1 again) holds nothing. A scheduler
that stops releases its running claims (``release_claims``: they become ``failed``, so
the next process retries them at once). A ``failed`` row may be claimed again (a retry);
a ``done`` row never is.

Leader lock (PostgreSQL). ``pg_try_advisory_lock`` on a connection held open for the life
of the scheduler elects the one replica that runs jobs; the lock goes with the connection
when the process dies, and a standby takes it at its next attempt. On SQLite (one machine,
one file) there is no advisory lock: every scheduler counts as leader and the run claims
alone keep each run single. Either way the claims are what guarantee "once"; the leader
lock only keeps standby replicas from doing work they would then throw away.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from aqcast.features.timeutil import aware_to_store
from aqcast.service.tables import JobRun

log = logging.getLogger(__name__)


# Owners of the schedulers alive in this process (JobRunner registers its owner).
LIVE_OWNERS: set[str] = set()


def owner_gone(owner: str) -> bool:
    """True when ``owner`` (``host:pid:tag``) is a process of this host that is gone; an
    owner of another host, or in another form, counts as alive (its heartbeat decides)."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return owner not in LIVE_OWNERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


@dataclass(frozen=True)
class RunClaim:
    """A run this process holds. ``attempt`` counts claims of the key (1 = first)."""

    id: int
    job: str
    run_key: str
    owner: str
    attempt: int
    taken_over_from: str | None = None


def claim_run(
    engine: Engine,
    job: str,
    run_key: str,
    *,
    owner: str,
    now: datetime,
    stale_after: timedelta,
) -> RunClaim | None:
    """Claim ``(job, run_key)`` for ``owner``; None when it is done or alive elsewhere."""
    at = aware_to_store(now)
    try:
        with engine.begin() as conn:
            row_id = conn.execute(
                insert(JobRun)
                .values(
                    job=job,
                    run_key=run_key,
                    status="running",
                    owner=owner,
                    started_at=at,
                    heartbeat_at=at,
                    detail={"attempt": 1},
                )
                .returning(JobRun.id)
            ).scalar_one()
        return RunClaim(row_id, job, run_key, owner, 1)
    except IntegrityError:
        pass
    with engine.begin() as conn:
        row = conn.execute(
            select(JobRun).where(JobRun.job == job, JobRun.run_key == run_key)
        ).one_or_none()
        if row is None:  # deleted in between: let the next fire try again
            return None
        if row.status == "done":
            return None
        if (
            row.status == "running"
            and row.heartbeat_at > at - stale_after
            and not owner_gone(row.owner)
        ):
            return None
        attempt = int((row.detail or {}).get("attempt", 1)) + 1
        detail = dict(row.detail or {})
        detail.update(attempt=attempt, previous_owner=row.owner, previous_status=row.status)
        won = conn.execute(
            update(JobRun)
            .where(
                JobRun.id == row.id,
                JobRun.owner == row.owner,
                JobRun.status == row.status,
                JobRun.heartbeat_at == row.heartbeat_at,
            )
            .values(
                status="running",
                owner=owner,
                started_at=at,
                heartbeat_at=at,
                finished_at=None,
                detail=detail,
            )
        ).rowcount
    if won != 1:
        return None
    log.warning(
        "took over %s %s from %s (%s)", job, run_key, row.owner, row.status, extra={"job": job}
    )
    return RunClaim(row.id, job, run_key, owner, attempt, taken_over_from=row.owner)


def heartbeat(engine: Engine, claim: RunClaim, now: datetime) -> bool:
    """Refresh the claim; False when it was lost (another process took the run over)."""
    with engine.begin() as conn:
        n = conn.execute(
            update(JobRun)
            .where(JobRun.id == claim.id, JobRun.owner == claim.owner, JobRun.status == "running")
            .values(heartbeat_at=aware_to_store(now))
        ).rowcount
    return n == 1


def finish_run(
    engine: Engine,
    claim: RunClaim,
    *,
    status: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Mark the run ``done`` or ``failed``; False when the claim had been lost meanwhile."""
    if status not in {"done", "failed"}:
        raise ValueError(f"status must be done or failed, not {status!r}")
    with engine.begin() as conn:
        row = conn.execute(select(JobRun.detail).where(JobRun.id == claim.id)).one_or_none()
        merged = dict(row.detail or {}) if row is not None else {}
        merged.update(detail or {})
        at = aware_to_store(now)
        n = conn.execute(
            update(JobRun)
            .where(JobRun.id == claim.id, JobRun.owner == claim.owner, JobRun.status == "running")
            .values(status=status, finished_at=at, heartbeat_at=at, detail=merged)
        ).rowcount
    return n == 1


def release_claims(engine: Engine, owner: str, now: datetime, reason: str = "shutdown") -> int:
    """Mark every run ``owner`` still holds as ``failed`` (released), so that the next
    scheduler retries it at once instead of waiting for the claim to go stale."""
    at = aware_to_store(now)
    released = 0
    with engine.begin() as conn:
        rows = conn.execute(
            select(JobRun.id, JobRun.detail).where(
                JobRun.owner == owner, JobRun.status == "running"
            )
        ).all()
        for row in rows:
            detail = {**(row.detail or {}), "released": reason}
            released += conn.execute(
                update(JobRun)
                .where(JobRun.id == row.id, JobRun.owner == owner, JobRun.status == "running")
                .values(status="failed", finished_at=at, detail=detail)
            ).rowcount
    if released:
        log.warning("released %d running claim(s) of %s (%s)", released, owner, reason)
    return released


def run_status(engine: Engine, job: str, run_key: str) -> str | None:
    """``running``, ``done``, ``failed``, or None when the run was never claimed."""
    with engine.connect() as conn:
        return conn.execute(
            select(JobRun.status).where(JobRun.job == job, JobRun.run_key == run_key)
        ).scalar_one_or_none()


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    """The scheduler leader lock: held on a dedicated connection for the process's life."""

    def __init__(self, engine: Engine, name: str = "aqcast-scheduler") -> None:
        self.engine = engine
        self.name = name
        self.key = advisory_key(name)
        self.uses_database = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return not self.uses_database or self._conn is not None

    def acquire(self) -> bool:
        """Take or keep the lock; True when this process is the leader now."""
        if not self.uses_database:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError:  # the connection died, and the lock with it
                log.warning("leader connection lost; lock %s released", self.name)
                self._drop()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
        except DBAPIError:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("scheduler leader lock %s acquired", self.name)
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except DBAPIError:
            pass
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None
