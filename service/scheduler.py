"""The scheduler: the schedule file, the run wrapper every fire goes through, the
APScheduler assembly, catch-up at start-up, and the replay of past days.

One process schedules (APScheduler 3 with a MemoryJobStore: a job store cannot be shared
between processes). Every fire goes through :meth:`JobRunner.fire`, which

1. checks the leader lock (PostgreSQL; see service/locks.py),
2. claims the run's key in ``job_runs`` (a run done elsewhere, or alive elsewhere, is skipped;
   one whose owner died is taken over),
3. calls the job function while a thread keeps the claim's heartbeat fresh,
4. marks the run done or failed and counts it in the metrics.

``aqcast demo`` replays past days through the same scheduler: it builds the same APScheduler
jobs, computes each job's fire times with its own trigger, sets a simulated clock to each fire
time in turn and calls the job exactly as the scheduler would.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine

from aqcast.configuration import PACKAGE_CONFIG_DIR, ConfigError, load_yaml_model
from aqcast.features.timeutil import aware_utc
from aqcast.service.clock import Clock
from aqcast.service.locks import (
    LIVE_OWNERS,
    LeaderLock,
    claim_run,
    finish_run,
    heartbeat,
    release_claims,
    run_status,
)

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE_FILE = PACKAGE_CONFIG_DIR / "schedule.yaml"
CRON_FIELDS = ("month", "day", "day_of_week", "hour", "minute", "second")


# --- the schedule file --------------------------------------------------------------


class TriggerSpec(BaseModel):
    """A cron time (fields as in APScheduler's CronTrigger) or a fixed ``every_s`` interval."""

    model_config = ConfigDict(extra="forbid")
    month: str | int | None = None
    day: str | int | None = None
    day_of_week: str | int | None = None
    hour: str | int | None = None
    minute: str | int | None = None
    second: str | int | None = None
    every_s: float | None = Field(default=None, gt=0)
    timezone: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TriggerSpec:
        cron = {k: getattr(self, k) for k in CRON_FIELDS if getattr(self, k) is not None}
        if self.every_s is not None and cron:
            raise ValueError("give either every_s or cron fields, not both")
        if self.every_s is None and not cron:
            raise ValueError("give cron fields (e.g. hour, minute) or every_s")
        if self.timezone is not None:
            ZoneInfo(self.timezone)
        self.build(ZoneInfo("UTC"))  # a bad cron expression fails here, while loading
        return self

    def build(self, tz: ZoneInfo) -> BaseTrigger:
        zone = ZoneInfo(self.timezone) if self.timezone else tz
        if self.every_s is not None:
            return IntervalTrigger(
                seconds=self.every_s, timezone=zone, start_date=datetime(2000, 1, 1, tzinfo=zone)
            )
        cron = {k: getattr(self, k) for k in CRON_FIELDS if getattr(self, k) is not None}
        return CronTrigger(timezone=zone, **cron)


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    enabled: bool = True
    key: Literal["date", "hour", "month", "none"]
    triggers: list[TriggerSpec] = Field(min_length=1)
    catch_up_hours: float = Field(default=0, ge=0)
    replay: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    heartbeat_s: float = Field(default=15, gt=0)
    stale_after_s: float = Field(default=120, gt=0)
    misfire_grace_s: int = Field(default=900, ge=1)
    jobs: dict[str, JobSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _heartbeat_inside_stale(self) -> Schedule:
        if self.heartbeat_s * 2 > self.stale_after_s:
            raise ValueError(
                f"stale_after_s ({self.stale_after_s}) must be at least twice heartbeat_s"
                f" ({self.heartbeat_s}) or live runs would look dead"
            )
        return self


def load_schedule(path: Path | None = None) -> Schedule:
    """The schedule file (default: the one shipped in aqcast/config)."""
    return load_yaml_model(path or DEFAULT_SCHEDULE_FILE, Schedule)


# --- run keys -------------------------------------------------------------------------


def run_key(key: str, scheduled_at: datetime, tz: ZoneInfo) -> str | None:
    """The idempotency key of a run fired at ``scheduled_at``: its local date, hour or month."""
    local = aware_utc(scheduled_at).astimezone(tz)
    if key == "date":
        return local.strftime("%Y-%m-%d")
    if key == "hour":
        return local.strftime("%Y-%m-%dT%H")
    if key == "month":
        return local.strftime("%Y-%m")
    if key == "none":
        return None
    raise ValueError(f"unknown run key kind {key!r}")


# --- the run wrapper ------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """What a job function is told about its run."""

    job: str
    run_key: str | None
    scheduled_at: datetime  # aware UTC: the fire time this run belongs to
    now: datetime  # aware UTC: when it actually started (later for a caught-up run)
    tz: ZoneInfo
    options: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1

    @property
    def local_date(self) -> date:
        """The local calendar date of the scheduled fire (the issue date for daily jobs)."""
        return self.scheduled_at.astimezone(self.tz).date()


JobFunc = Callable[[Any, RunInfo], Mapping[str, Any] | None]


@dataclass(frozen=True)
class RunOutcome:
    job: str
    run_key: str | None
    status: Literal["done", "failed", "skipped", "not_leader", "disabled"]
    detail: Mapping[str, Any] = field(default_factory=dict)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Heartbeat(threading.Thread):
    def __init__(self, engine: Engine, claim, clock: Clock, every_s: float) -> None:  # noqa: ANN001
        super().__init__(daemon=True, name=f"heartbeat-{claim.job}")
        self.engine, self.claim, self.clock, self.every_s = engine, claim, clock, every_s
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                if not heartbeat(self.engine, self.claim, self.clock.now()):
                    self.lost = True
                    log.error(
                        "%s %s: claim lost to another process", self.claim.job, self.claim.run_key
                    )
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.exception("heartbeat of %s %s failed", self.claim.job, self.claim.run_key)


class JobRunner:
    """Runs named jobs once per key. ``jobs`` maps a job name to ``func(context, run)``."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        schedule: Schedule,
        jobs: Mapping[str, JobFunc],
        context: Any,
        tz: ZoneInfo,
        owner: str | None = None,
        leader: LeaderLock | None = None,
        on_leadership: Callable[[], None] | None = None,
    ) -> None:
        unknown = sorted(set(schedule.jobs) - set(jobs))
        if unknown:
            raise ConfigError(
                f"schedule names jobs that do not exist: {unknown}; known: {sorted(jobs)}"
            )
        self.engine, self.clock, self.schedule, self.jobs = engine, clock, schedule, jobs
        self.context, self.tz = context, tz
        self.owner = owner or default_owner()
        LIVE_OWNERS.add(self.owner)
        self.leader = leader
        self.on_leadership = on_leadership
        self._was_leader = False
        self._lock = threading.Lock()

    def release(self) -> int:
        """On shutdown: give up the runs still held (they become retriable at once) and
        the leader lock; returns how many runs were released."""
        released = release_claims(self.engine, self.owner, self.clock.now())
        LIVE_OWNERS.discard(self.owner)
        if self.leader is not None:
            self.leader.release()
        return released

    def is_leader(self) -> bool:
        if self.leader is None:
            return True
        with self._lock:
            now_leader = self.leader.acquire()
            became = now_leader and not self._was_leader
            self._was_leader = now_leader
        if became and self.on_leadership is not None:
            self.on_leadership()
        return now_leader

    def fire(self, job: str, scheduled_at: datetime | None = None) -> RunOutcome:
        """Run ``job`` for the fire at ``scheduled_at`` (default: now) unless already run."""
        spec = self.schedule.jobs[job]
        now = aware_utc(self.clock.now())
        scheduled_at = aware_utc(scheduled_at) if scheduled_at is not None else now
        key = run_key(spec.key, scheduled_at, self.tz)
        if not spec.enabled:
            return RunOutcome(job, key, "disabled")
        if not self.is_leader():
            return RunOutcome(job, key, "not_leader")
        claim = None
        if key is not None:
            claim = claim_run(
                self.engine,
                job,
                key,
                owner=self.owner,
                now=now,
                stale_after=timedelta(seconds=self.schedule.stale_after_s),
            )
            if claim is None:
                return RunOutcome(job, key, "skipped")
        info = RunInfo(
            job=job,
            run_key=key,
            scheduled_at=scheduled_at,
            now=now,
            tz=self.tz,
            options=dict(spec.options),
            attempt=claim.attempt if claim else 1,
        )
        beat = None
        if claim is not None:
            beat = _Heartbeat(self.engine, claim, self.clock, self.schedule.heartbeat_s)
            beat.start()
        try:
            detail = dict(self.jobs[job](self.context, info) or {})
            status: Literal["done", "failed"] = "done"
        except Exception as exc:  # noqa: BLE001 - recorded in job_runs, logged, counted
            log.exception("job %s %s failed", job, key)
            detail = {"error": f"{type(exc).__name__}: {exc}"}
            status = "failed"
        finally:
            if beat is not None:
                beat.stop.set()
                beat.join()
        if claim is not None:
            if claim.taken_over_from:
                detail.setdefault("taken_over_from", claim.taken_over_from)
            finish_run(self.engine, claim, status=status, now=self.clock.now(), detail=detail)
        _count(job, failed=status == "failed")
        return RunOutcome(job, key, status, detail)

    # --- catch-up ---------------------------------------------------------------------

    def missed_runs(self, now: datetime | None = None) -> list[tuple[datetime, str]]:
        """``(fire time, job)`` of the latest fire of each catch-up job within its window
        whose run is not done, oldest first."""
        now = aware_utc(now or self.clock.now())
        missed: list[tuple[datetime, str]] = []
        for name, spec in self.schedule.jobs.items():
            if not spec.enabled or spec.catch_up_hours <= 0 or spec.key == "none":
                continue
            since = now - timedelta(hours=spec.catch_up_hours)
            last = None
            for trig in spec.triggers:
                for t in fire_times(trig.build(self.tz), since, now, inclusive_end=True):
                    last = t if last is None or t > last else last
            if last is None:
                continue
            key = run_key(spec.key, last, self.tz)
            if run_status(self.engine, name, key) != "done":
                missed.append((last, name))
        return sorted(missed)

    def catch_up(self, now: datetime | None = None) -> list[RunOutcome]:
        """Run what was missed (e.g. this morning's forecast after a night-long outage)."""
        outcomes = []
        for when, name in self.missed_runs(now):
            log.info("catching up %s fired at %s", name, when.isoformat())
            outcomes.append(self.fire(name, scheduled_at=when))
        return outcomes


def _count(job: str, *, failed: bool) -> None:
    try:
        from aqcast.service.metrics import record_job_run
    except ImportError:  # metrics are optional for the scheduler to work
        return
    record_job_run(job, failed=failed)


# --- APScheduler assembly ------------------------------------------------------------


def build_scheduler(
    runner: JobRunner, scheduler_cls: type[BaseScheduler] = BackgroundScheduler
) -> BaseScheduler:
    """An APScheduler scheduler holding one job per (job, trigger) of the schedule."""
    scheduler = scheduler_cls(
        jobstores={"default": MemoryJobStore()},
        timezone=runner.tz,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": runner.schedule.misfire_grace_s,
        },
    )
    for name, spec in runner.schedule.jobs.items():
        if not spec.enabled:
            continue
        for i, trig in enumerate(spec.triggers):
            scheduler.add_job(
                runner.fire,
                trig.build(runner.tz),
                args=[name],
                id=f"{name}#{i}",
                name=name,
                replace_existing=True,
            )
    return scheduler


def fire_times(
    trigger: BaseTrigger, start: datetime, end: datetime, *, inclusive_end: bool = False
) -> Iterator[datetime]:
    """The trigger's fire times in ``[start, end)`` (``[start, end]`` if inclusive), UTC."""
    start, end = aware_utc(start), aware_utc(end)
    prev = None
    now = start
    while True:
        t = trigger.get_next_fire_time(prev, now)
        if t is None:
            return
        t = aware_utc(t)
        if t > end or (t == end and not inclusive_end):
            return
        if t >= start:
            yield t
        prev = t
        now = t + timedelta(microseconds=1)


# --- replay with a simulated clock ----------------------------------------------------


def replay_fires(
    scheduler: BaseScheduler, start: datetime, end: datetime, *, replayed: set[str]
) -> list[tuple[datetime, int, str]]:
    """Every fire of the scheduler's jobs named in ``replayed`` in ``[start, end)``, in the
    order the scheduler would fire them: ``(time, order, job)``."""
    order = {name: i for i, name in enumerate(dict.fromkeys(j.name for j in scheduler.get_jobs()))}
    fires = []
    for job in scheduler.get_jobs():
        if job.name not in replayed:
            continue
        for t in fire_times(job.trigger, start, end):
            fires.append((t, order[job.name], job.name))
    return sorted(fires)


def replay_days(
    runner: JobRunner,
    clock: Any,
    first_day: date,
    last_day: date,
    *,
    on_fire: Callable[[datetime, RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Replay ``first_day``..``last_day`` (local, inclusive) through the scheduler's jobs:
    the simulated ``clock`` is set to each fire time and the job runs as if fired then."""
    scheduler = build_scheduler(runner)
    replayed = {n for n, s in runner.schedule.jobs.items() if s.enabled and s.replay}
    start = datetime.combine(first_day, time(0), tzinfo=runner.tz)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=runner.tz)
    outcomes = []
    by_id = {}
    for job in scheduler.get_jobs():
        by_id.setdefault(job.name, job)
    for t, _, name in replay_fires(scheduler, start, end, replayed=replayed):
        clock.set(t)
        job = by_id[name]
        outcome = job.func(*job.args, scheduled_at=t)
        outcomes.append(outcome)
        if on_fire is not None:
            on_fire(t, outcome)
    return outcomes
