"""The scheduler: a restart mid-run, a second replica, catch-up, stale feeds, replay.

Publishing is counted by a side effect that has no deduplication of its own (a row in
operator_alerts with kind ``test_publish``), so "published once" is the scheduler's doing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from aqcast.configuration import ConfigError
from aqcast.models.forecast import Forecast
from aqcast.service import jobs
from aqcast.service.clock import SimulatedClock, SystemClock
from aqcast.service.locks import LeaderLock
from aqcast.service.scheduler import (
    JobRunner,
    Schedule,
    build_scheduler,
    load_schedule,
    replay_days,
    run_key,
)
from aqcast.service.settings import get_settings
from aqcast.service.store import make_engine, session_scope
from aqcast.service.tables import (
    FeedStatus,
    ForecastRun,
    JobRun,
    Observation,
    OperatorAlert,
    Station,
)
from tests.support.forecasts import bare_forecast

TZ = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=TZ)


def schedule(**overrides: Any) -> Schedule:
    raw = {
        "heartbeat_s": 0.2,
        "stale_after_s": 2,
        "jobs": {
            "forecast": {
                "key": "date",
                "catch_up_hours": 18,
                "triggers": [{"hour": 6, "minute": 30}],
            },
            "publish": {"key": "date", "catch_up_hours": 18, "triggers": [{"hour": 7}]},
        },
    }
    raw.update(overrides)
    return Schedule.model_validate(raw)


def publications(engine: Engine, subject: str | None = None) -> int:
    stmt = (
        select(func.count()).select_from(OperatorAlert).where(OperatorAlert.kind == "test_publish")
    )
    if subject is not None:
        stmt = stmt.where(OperatorAlert.subject == subject)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def publish_counted(ctx: Any, run: Any) -> dict:
    with session_scope(ctx.engine) as s:
        s.add(
            OperatorAlert(
                kind="test_publish",
                subject=f"{run.job}:{run.run_key}",
                message=f"by {ctx.owner}",
                raised_at=run.now.replace(tzinfo=None),
            )
        )
    return {"published": run.run_key}


@dataclass
class Ctx:
    engine: Engine
    owner: str = ""


def runner_for(
    url: str,
    clock: Any,
    *,
    owner: str,
    sched: Schedule | None = None,
    leader: bool = False,
    jobs_map: dict | None = None,
) -> JobRunner:
    engine = make_engine(url)
    return JobRunner(
        engine=engine,
        clock=clock,
        schedule=sched or schedule(),
        jobs=jobs_map or {"forecast": publish_counted, "publish": publish_counted},
        context=Ctx(engine, owner),
        tz=TZ,
        owner=owner,
        leader=LeaderLock(engine, f"sched-{url.rsplit('/', 1)[1]}") if leader else None,
    )


# --- a restart mid-run -----------------------------------------------------------------

DYING_SCHEDULER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from aqcast.service.clock import SystemClock
    from aqcast.service.scheduler import JobRunner, Schedule
    from aqcast.service.store import make_engine

    url = sys.argv[1]
    sched = Schedule.model_validate({"heartbeat_s": 0.2, "stale_after_s": 2, "jobs": {
        "publish": {"key": "date", "triggers": [{"hour": 7}]}}})

    def publish_then_hang(ctx, run):
        print("claimed", run.run_key, flush=True)
        time.sleep(120)  # killed here, mid-run, before anything is published

    engine = make_engine(url)
    runner = JobRunner(engine=engine, clock=SystemClock(), schedule=sched,
                       jobs={"publish": publish_then_hang}, context=None,
                       tz=ZoneInfo("Asia/Shanghai"), owner="dying")
    runner.fire("publish", scheduled_at=datetime(2015, 6, 2, 7, tzinfo=ZoneInfo("Asia/Shanghai")))
    """
)


@pytest.mark.slow
def test_a_run_killed_mid_way_is_taken_over_after_its_heartbeat_stops_and_published_once(
    db_url: str,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", DYING_SCHEDULER, db_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        line = proc.stdout.readline()
        assert line.split() == ["claimed", "2015-06-02"]
        time.sleep(0.5)  # a couple of heartbeats
    finally:
        proc.kill()  # SIGKILL: no clean-up, the claim stays "running"
        proc.wait(10)
        proc.stdout.close()
    clock = SimulatedClock(SystemClock().now())
    restarted = runner_for(db_url, clock, owner="restarted")
    t = local(2015, 6, 2, 7)
    # straight after the kill the heartbeat is fresh: the run looks alive, nobody publishes
    assert restarted.fire("publish", scheduled_at=t).status == "skipped"
    assert publications(restarted.engine) == 0
    clock.advance(3)  # past stale_after_s without a beat: the owner is dead
    outcome = restarted.fire("publish", scheduled_at=t)
    assert outcome.status == "done"
    assert outcome.detail["taken_over_from"] == "dying"
    # a catch-up, a misfire or another replica firing again publishes nothing more
    assert restarted.fire("publish", scheduled_at=t).status == "skipped"
    caught = restarted.catch_up(now=local(2015, 6, 2, 9))
    assert [(o.job, o.status) for o in caught] == [("forecast", "done")]  # publish is done
    assert publications(restarted.engine, "publish:2015-06-02") == 1
    with restarted.engine.connect() as conn:
        row = conn.execute(select(JobRun).where(JobRun.job == "publish")).one()
    assert (row.status, row.owner, row.detail["attempt"]) == ("done", "restarted", 2)
    restarted.engine.dispose()


# --- a second replica ------------------------------------------------------------------


def test_two_replicas_firing_together_publish_each_prompt_exactly_once(db_url: str) -> None:
    days = [local(2015, 6, d, 7) for d in range(1, 6)]
    runners = [runner_for(db_url, SystemClock(), owner=f"replica{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def replica(r: JobRunner) -> None:
        for t in days:
            barrier.wait()
            outcomes.append(r.fire("publish", scheduled_at=t).status)

    threads = [threading.Thread(target=replica, args=(r,)) for r in runners]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["done"] * 5 + ["skipped"] * 5
    for t in days:
        assert publications(runners[0].engine, f"publish:{t:%Y-%m-%d}") == 1
    for r in runners:
        r.engine.dispose()


@pytest.mark.slow
def test_two_real_apscheduler_replicas_fire_every_second_and_publish_once(db_url: str) -> None:
    sched = schedule(jobs={"publish": {"key": "date", "triggers": [{"second": "*"}]}})
    runners = [
        runner_for(
            db_url,
            SystemClock(),
            owner=f"replica{i}",
            sched=sched,
            jobs_map={"publish": publish_counted},
            leader=True,
        )
        for i in range(2)
    ]
    schedulers = [build_scheduler(r) for r in runners]
    for s in schedulers:
        s.start()
    time.sleep(3.2)
    for s in schedulers:
        s.shutdown(wait=True)
    today = datetime.now(TZ).strftime("%Y-%m-%d")
    with runners[0].engine.connect() as conn:
        rows = conn.execute(select(JobRun.run_key, JobRun.status)).all()
    assert rows == [(today, "done")]
    assert publications(runners[0].engine) == 1
    for r in runners:
        if r.leader:
            r.leader.release()
        r.engine.dispose()


@pytest.fixture
def pg_url(pg_server: str):
    from aqcast.service.store import engine_for, migrate
    from tests.conftest import drop_pg_database, make_pg_database

    url = make_pg_database(pg_server)
    migrate(url)
    engine_for(url).dispose()
    yield url
    drop_pg_database(pg_server, url)


@pytest.mark.postgres
def test_on_postgres_only_the_leader_runs_and_a_standby_takes_over_and_catches_up(
    pg_url: str,
) -> None:
    clock = SimulatedClock(local(2015, 6, 2, 6, 30))
    leader = runner_for(pg_url, clock, owner="leader", leader=True)
    standby = runner_for(pg_url, clock, owner="standby", leader=True)
    caught: list[Any] = []
    standby.on_leadership = lambda: caught.extend(standby.catch_up())
    assert leader.fire("forecast").status == "done"
    assert standby.fire("forecast").status == "not_leader"
    # the leader dies before 07:00
    leader.leader._conn.invalidate()  # noqa: SLF001 - the process and its connection are gone
    leader.leader._conn = None  # noqa: SLF001
    clock.set(local(2015, 6, 2, 7, 5))
    out = standby.fire("publish", scheduled_at=local(2015, 6, 2, 7))
    # on becoming leader it caught up the 07:00 publish itself; the fire then finds it done
    assert [(o.job, o.status) for o in caught] == [("publish", "done")]
    assert out.status == "skipped"
    assert publications(standby.engine, "publish:2015-06-02") == 1
    assert publications(standby.engine, "forecast:2015-06-02") == 1
    standby.leader.release()
    for r in (leader, standby):
        r.engine.dispose()


# --- catch-up --------------------------------------------------------------------------


@pytest.mark.slow
def test_missed_morning_runs_are_caught_up_at_start_with_the_data_then_available(
    sqlite_url: str,
) -> None:
    seen: list[tuple[str, datetime, datetime]] = []

    def record(ctx: Any, run: Any) -> dict:
        seen.append((run.job, run.scheduled_at, run.now))
        return publish_counted(ctx, run)

    clock = SimulatedClock(local(2015, 6, 2, 9, 40))  # started late: 06:30 and 07:00 missed
    r = runner_for(
        sqlite_url, clock, owner="late", jobs_map={"forecast": record, "publish": record}
    )
    # yesterday's runs are done; today's are not
    r.fire("forecast", scheduled_at=local(2015, 6, 1, 6, 30))
    r.fire("publish", scheduled_at=local(2015, 6, 1, 7))
    seen.clear()
    assert [(j, t) for t, j in r.missed_runs()] == [
        ("forecast", local(2015, 6, 2, 6, 30)),
        ("publish", local(2015, 6, 2, 7)),
    ]
    outcomes = r.catch_up()
    assert [(o.job, o.run_key, o.status) for o in outcomes] == [
        ("forecast", "2015-06-02", "done"),
        ("publish", "2015-06-02", "done"),
    ]
    # run for the 06:30 fire, but at 09:40: with the data available then
    assert seen[0] == ("forecast", local(2015, 6, 2, 6, 30), local(2015, 6, 2, 9, 40))
    assert r.catch_up() == []  # nothing left to catch up; nothing runs twice
    # before 06:30 on the next day, yesterday's done runs are not repeated
    clock.set(local(2015, 6, 3, 5))
    assert r.missed_runs() == []
    r.engine.dispose()


# --- jobs: feeds, stale inputs, forecasts ------------------------------------------------


class FakeForecasting:
    """make/store/load/issue in memory; records what reached each."""

    def __init__(self) -> None:
        self.stored: dict[date, Forecast] = {}
        self.issued: list[tuple[date, datetime]] = []

    def make_forecast(self, engine, issue_date, *, met):  # noqa: ANN001
        fc = bare_forecast(issue_date, met_mode=met)
        # the real make_forecast falls back to baselines when its inputs are missing
        with engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(Observation)).scalar_one() == 0:
                fc.method = "fallback:climatology"
                fc.missing_inputs.append("observations_00_06")
        return fc

    def store_forecast(self, engine, fc):  # noqa: ANN001
        self.stored[fc.issue_date] = fc
        return len(self.stored)

    def load_forecast(self, engine, issue_date):  # noqa: ANN001
        return self.stored.get(issue_date)

    def issue_alerts(self, engine, fc, *, now):  # noqa: ANN001
        self.issued.append((fc.issue_date, now))
        return [f"evt_prompt_{fc.issue_date}"]

    def services(self) -> jobs.Services:
        return jobs.Services(
            make_forecast=self.make_forecast,
            store_forecast=self.store_forecast,
            load_forecast=self.load_forecast,
            issue_alerts=self.issue_alerts,
        )


def job_runner(
    url: str, clock: Any, ctx: jobs.JobContext, sched: Schedule | None = None
) -> JobRunner:
    return JobRunner(
        engine=ctx.engine,
        clock=clock,
        schedule=sched or load_schedule(),
        jobs=jobs.JOBS,
        context=ctx,
        tz=TZ,
        owner="test",
    )


def test_a_stale_feed_raises_an_operator_alert_and_the_forecast_says_what_is_missing(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    clock = SimulatedClock(local(2015, 6, 2, 6, 30))
    fake = FakeForecasting()
    ctx = jobs.JobContext(engine, get_settings(), clock, fake.services())
    with session_scope(engine) as s:  # the weather feed last worked the evening before
        s.add(
            FeedStatus(
                feed="open_meteo",
                last_success_at=datetime(2015, 6, 1, 10),
                last_attempt_at=datetime(2015, 6, 1, 22),
                last_error="ConnectTimeout",
            )
        )
    r = job_runner(db_url, clock, ctx)
    assert r.fire("forecast").status == "done"
    clock.set(local(2015, 6, 2, 7))
    out = r.fire("publish")
    assert out.status == "done"
    fc = fake.stored[date(2015, 6, 2)]
    # it still published (from the baselines), and says which inputs were missing
    assert fake.issued == [(date(2015, 6, 2), local(2015, 6, 2, 7).astimezone(UTC))]
    assert fc.method == "fallback:climatology"
    assert {"observations", "feed:open_meteo", "observations_00_06"} <= set(fc.missing_inputs)
    assert any("open_meteo" in n and "ConnectTimeout" in n for n in fc.notes)
    assert out.detail["missing_inputs"] == fc.missing_inputs
    with engine.connect() as conn:
        alerts = conn.execute(
            select(OperatorAlert.subject, OperatorAlert.resolved_at).where(
                OperatorAlert.kind == jobs.STALE_FEED_ALERT
            )
        ).all()
    assert sorted(alerts) == [("feed:open_meteo", None), ("observations", None)]
    # the next day, still stale: no second alert; the feed recovered: its alert is resolved
    with session_scope(engine) as s:
        s.get(FeedStatus, "open_meteo").last_success_at = datetime(2015, 6, 2, 22)
    clock.set(local(2015, 6, 3, 6, 30))
    assert r.fire("forecast").status == "done"
    with engine.connect() as conn:
        alerts = conn.execute(
            select(OperatorAlert.subject, OperatorAlert.resolved_at).where(
                OperatorAlert.kind == jobs.STALE_FEED_ALERT
            )
        ).all()
    assert sorted(alerts) == [
        ("feed:open_meteo", datetime(2015, 6, 2, 22, 30)),
        ("observations", None),
    ]
    assert "feed:open_meteo" not in fake.stored[date(2015, 6, 3)].missing_inputs
    engine.dispose()


def test_fresh_observations_are_not_reported_missing(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        s.add(Station(id=1, code="A", name="A"))
        s.flush()
        # the hour 05:00-05:59 local (21:00 UTC) is complete at 06:00, known at 06:30
        s.add(
            Observation(
                station_id=1, time=datetime(2015, 6, 1, 21), updated_at=datetime(2015, 6, 1, 22)
            )
        )
        # an hour from the future of the issue time must not count as fresh data
        s.add(
            Observation(
                station_id=1, time=datetime(2015, 6, 2, 5), updated_at=datetime(2015, 6, 2, 6)
            )
        )
    assert jobs.stale_inputs(engine, local(2015, 6, 2, 6, 30), 3.0) == {}
    later = jobs.stale_inputs(engine, local(2015, 6, 2, 9, 30), 3.0)
    assert later == {"observations": "latest complete hour starts 2015-06-01 21:00 UTC"}
    engine.dispose()


def test_pulling_with_no_feed_configured_records_that_and_does_nothing(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    clock = SimulatedClock(local(2015, 6, 2, 8, 10))
    ctx = jobs.JobContext(engine, get_settings(), clock, jobs.Services())
    out = job_runner(sqlite_url, clock, ctx).fire("pull_observations")
    assert out.status == "done" and out.run_key == "2015-06-02T08"
    assert out.detail == {"feeds": [], "note": "no live feed configured; nothing pulled"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FeedStatus)).scalar_one() == 0
    engine.dispose()


def test_feed_pulls_are_recorded_in_feed_status_and_a_dead_feed_fails_the_run(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    clock = SimulatedClock(local(2015, 6, 2, 8, 10))
    ingested: list[tuple[str, int]] = []

    def ingest(engine, frame, *, source, file_label):  # noqa: ANN001
        ingested.append((source, len(frame)))
        return "1 new"

    frame = pd.DataFrame(
        {"station": ["A"], "time": [pd.Timestamp("2015-06-01T23:00Z")], "o3": [80.0]}
    )

    def down(now: datetime) -> pd.DataFrame:
        raise TimeoutError("no answer in 20 s")

    good = jobs.Feed("good", lambda now: frame)
    bad = jobs.Feed("bad", down)
    ctx = jobs.JobContext(
        engine,
        get_settings(),
        clock,
        jobs.Services(ingest_observations=ingest),
        observation_feeds=[good, bad],
    )
    r = job_runner(sqlite_url, clock, ctx)
    out = r.fire("pull_observations")
    assert out.status == "done" and ingested == [("good", 1)]
    assert out.detail["feeds"]["bad"] == {"error": "TimeoutError: no answer in 20 s"}
    with engine.connect() as conn:
        rows = {f.feed: f for f in conn.execute(select(FeedStatus)).all()}
    assert rows["good"].last_success_at == datetime(2015, 6, 2, 0, 10)
    assert rows["good"].latest_data_time == datetime(2015, 6, 1, 23)
    assert rows["bad"].last_success_at is None and "no answer" in rows["bad"].last_error
    ctx.observation_feeds = [bad]
    clock.set(local(2015, 6, 2, 9, 10))
    failed = r.fire("pull_observations")
    assert failed.status == "failed" and "every feed failed" in failed.detail["error"]
    engine.dispose()


# --- replay with a simulated clock ------------------------------------------------------


def test_replay_fires_the_schedules_jobs_at_their_local_times_in_order(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    clock = SimulatedClock(local(2015, 5, 31, 0))
    fired: list[tuple[str, datetime]] = []

    def spy(name: str):
        def run(ctx: Any, info: Any) -> dict:
            assert clock.now() == info.now == info.scheduled_at  # the clock stands at the fire
            fired.append((name, info.scheduled_at.astimezone(TZ)))
            return {}

        return run

    sched = load_schedule()
    r = JobRunner(
        engine=engine,
        clock=clock,
        schedule=sched,
        jobs={n: spy(n) for n in jobs.JOBS},
        context=None,
        tz=TZ,
        owner="replay",
    )
    outcomes = replay_days(r, clock, date(2015, 5, 31), date(2015, 6, 1))
    assert all(o.status == "done" for o in outcomes)
    by_job: dict[str, list[datetime]] = {}
    for name, t in fired:
        by_job.setdefault(name, []).append(t)
    assert by_job["forecast"] == [local(2015, 5, 31, 6, 30), local(2015, 6, 1, 6, 30)]
    assert by_job["publish"] == [local(2015, 5, 31, 7), local(2015, 6, 1, 7)]
    assert len(by_job["pull_observations"]) == 48
    # the intraday critical value runs 08:20-20:20 in the ozone season (June on), not in May
    assert by_job["intraday_critical_value"] == [local(2015, 6, 1, h, 20) for h in range(8, 21)]
    assert "dispatch_webhooks" not in by_job and "retrain" not in by_job  # replay: false
    assert [t for _, t in fired] == sorted(t for _, t in fired)
    # replaying again publishes nothing twice
    again = replay_days(
        r, SimulatedClock(local(2015, 5, 31, 0)), date(2015, 5, 31), date(2015, 5, 31)
    )
    assert {o.status for o in again} == {"skipped"}
    engine.dispose()


# --- the schedule file ------------------------------------------------------------------


def test_run_keys_are_local_dates_hours_and_months() -> None:
    t = datetime(2015, 6, 1, 23, 30, tzinfo=UTC)  # 07:30 on 2 June in Beijing
    assert run_key("date", t, TZ) == "2015-06-02"
    assert run_key("hour", t, TZ) == "2015-06-02T07"
    assert run_key("month", t, TZ) == "2015-06"
    assert run_key("none", t, TZ) is None


def test_a_bad_schedule_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "schedule.yaml"
    bad.write_text("jobs:\n  forecast:\n    key: date\n    triggers:\n      - {hour: 25}\n")
    with pytest.raises(ConfigError, match=r"schedule\.yaml: jobs\.forecast\.triggers\.0"):
        load_schedule(bad)
    bad.write_text("jobs:\n  forecast:\n    key: daily\n    triggers: [{hour: 6}]\n")
    with pytest.raises(ConfigError, match=r"jobs\.forecast\.key.*'daily'"):
        load_schedule(bad)
    bad.write_text(
        "stale_after_s: 10\nheartbeat_s: 8\njobs:\n  f: {key: date, triggers: [{hour: 6}]}\n"
    )
    with pytest.raises(ConfigError, match="at least twice heartbeat_s"):
        load_schedule(bad)


def test_a_schedule_naming_an_unknown_job_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="do not exist: \\['forecats'\\]"):
        JobRunner(
            engine=make_engine(sqlite_url),
            clock=SystemClock(),
            schedule=schedule(jobs={"forecats": {"key": "date", "triggers": [{"hour": 6}]}}),
            jobs=jobs.JOBS,
            context=None,
            tz=TZ,
        )


def test_the_intraday_job_passes_the_complete_hours_area_mean_to_the_crossing_check(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        s.add_all([Station(id=1, code="A", name="A"), Station(id=2, code="B", name="B")])
        s.flush()
        # local hours 0..9 of 2 June (UTC 16:00 on 1 June onwards); O3 = 10 * hour (+20 at B)
        for h in range(10):
            t = datetime(2015, 6, 1, 16) + pd.Timedelta(hours=h)
            for sid, extra in ((1, 0.0), (2, 20.0)):
                s.add(
                    Observation(station_id=sid, time=t, updated_at=t, o3=10.0 * h + extra, o3_qc=0)
                )
    calls: list[tuple] = []

    def crossing(engine, area, day, observed_hours, forecast, now):  # noqa: ANN001
        calls.append((area, day, list(observed_hours), forecast.issue_date, now))
        return None

    fake = FakeForecasting()
    fake.stored[date(2015, 6, 2)] = bare_forecast(date(2015, 6, 2))
    loads: list[date] = []
    services = fake.services()
    services.load_forecast = lambda engine, day: loads.append(day) or fake.stored.get(day)
    with session_scope(engine) as s:  # the stored run the job looks for
        s.add(
            ForecastRun(
                issue_date=date(2015, 6, 2),
                issued_at=datetime(2015, 6, 1, 23),
                created_at=datetime(2015, 6, 1, 22, 30),
                met_mode="stored",
                method="model",
            )
        )
    services.check_critical_crossing = crossing
    clock = SimulatedClock(local(2015, 6, 2, 8, 20))
    ctx = jobs.JobContext(engine, get_settings(), clock, services)
    out = job_runner(sqlite_url, clock, ctx).fire("intraday_critical_value")
    assert out.status == "done", out.detail
    # at 08:20 the hours 00..07 are complete; 08:00 is still being measured
    assert calls == [
        (
            "district",
            date(2015, 6, 2),
            [10.0 * h + 10.0 for h in range(8)],
            date(2015, 6, 2),
            local(2015, 6, 2, 8, 20).astimezone(UTC),
        )
    ]
    assert out.detail == {"district": {"hours_observed": 8, "event": None, "exceedance_events": []}}
    # the next hour reuses the forecast it loaded: the stored run has not changed
    clock.set(local(2015, 6, 2, 9, 20))
    runner = job_runner(sqlite_url, clock, ctx)
    assert runner.fire("intraday_critical_value").detail["district"]["hours_observed"] == 9
    assert loads == [date(2015, 6, 2)]
    engine.dispose()


def test_the_shipped_schedule_catches_up_todays_prompt_but_never_yesterdays(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    clock = SimulatedClock(local(2015, 6, 3, 1))
    r = JobRunner(
        engine=engine,
        clock=clock,
        schedule=load_schedule(),
        jobs={n: (lambda ctx, run: {}) for n in jobs.JOBS},
        context=None,
        tz=TZ,
    )
    # 01:00: yesterday's 06:30 and 07:00 runs are past their window; this month's retraining
    # (the 1st, 02:00) is not
    assert r.missed_runs() == [(local(2015, 6, 1, 2).astimezone(UTC), "retrain")]
    clock.set(local(2015, 6, 3, 9, 15))
    assert [(j, t.astimezone(TZ)) for t, j in r.missed_runs()] == [
        ("retrain", local(2015, 6, 1, 2)),
        ("forecast", local(2015, 6, 3, 6, 30)),
        ("publish", local(2015, 6, 3, 7)),
    ]
    engine.dispose()


def test_the_dispatch_job_runs_the_webhook_dispatcher_without_a_run_claim(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    clock = SimulatedClock(local(2015, 6, 2, 7, 0, 10))
    ctx = jobs.JobContext(engine, get_settings(), clock)
    out = job_runner(sqlite_url, clock, ctx).fire("dispatch_webhooks")
    assert (out.status, out.run_key) == ("done", None)
    assert out.detail["claimed"] == 0 and out.detail["delivered"] == 0
    with engine.connect() as conn:  # leased per delivery by the dispatcher: no job_runs row
        assert conn.execute(select(func.count()).select_from(JobRun)).scalar_one() == 0
    engine.dispose()
