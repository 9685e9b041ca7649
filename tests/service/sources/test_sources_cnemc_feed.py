"""The live source of the national publishing format: httpx against responses of the
real shape (MockTransport, and a loopback server for the scheduled job)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from aqcast.service import jobs
from aqcast.service.clock import SimulatedClock
from aqcast.service.scheduler import JobRunner, load_schedule
from aqcast.service.settings import Settings
from aqcast.service.sources.cnemc import COLUMNS
from aqcast.service.sources.cnemc_feed import fetch_cnemc_hour, hour_url, pull_cnemc
from aqcast.service.sources.errors import FeedError, InputError
from aqcast.service.store import engine_for
from aqcast.service.tables import FeedStatus, Observation, ObservationRevision
from tests.support.cnemc_fixture import csv_text, platform_tables

BEIJING = ZoneInfo("Asia/Shanghai")
URL = "http://bureau.test/aq/hourly"
BY_HOUR = platform_tables(date(2024, 7, 1), 2)


def bj(d: int, h: int) -> datetime:
    """Hour-ending Beijing time of the fixture (1..2 July 2024)."""
    return datetime(2024, 7, d, h, tzinfo=BEIJING)


def rows_of(d: int, h: int) -> list[dict]:
    return [dict(r) for r in BY_HOUR[datetime(2024, 7, d, h)]]


class Feed:
    """A bureau's endpoint: hour-ending timepoint -> list of responses (last one repeats)."""

    def __init__(self) -> None:
        self.answers: dict[str, list] = {}
        self.requests: list[str] = []

    def set(self, d: int, h: int, *answers) -> None:
        self.answers[f"2024-07-{d:02d} {h:02d}:00:00"] = list(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        tp = request.url.params.get("timepoint", "")
        self.requests.append(tp)
        answers = self.answers.get(tp)
        if not answers:
            return httpx.Response(404, text="not yet published")
        a = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(a, Exception):
            raise a
        if isinstance(a, int):
            return httpx.Response(a, text="busy")
        if isinstance(a, list):  # rows -> CSV in GB18030, as the platform's exports
            return httpx.Response(
                200, content=csv_text(a).encode("gb18030"), headers={"content-type": "text/csv"}
            )
        return a

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))


def no_sleep(waits: list[float]):
    return waits.append


def test_one_hour_as_csv_json_not_yet_published_and_the_url_template():
    feed = Feed()
    feed.set(1, 16, rows_of(1, 16))
    with feed.client() as c:
        t = fetch_cnemc_hour(c, URL, bj(1, 16))
        assert t.encoding == "gb18030" and len(t.frame) == 3
        assert set(t.frame["time"]) == {datetime(2024, 7, 1, 7, tzinfo=UTC)}
        assert fetch_cnemc_hour(c, URL, bj(1, 17)) is None  # 404: not published yet
    assert feed.requests == ["2024-07-01 16:00:00", "2024-07-01 17:00:00"]
    feed.set(1, 16, httpx.Response(200, text=",".join(COLUMNS) + "\n"))
    with feed.client() as c:
        assert fetch_cnemc_hour(c, URL, bj(1, 16)) is None  # header only: nothing yet
    records = [{k: r.get(k) for k in COLUMNS} for r in rows_of(1, 16)]
    feed.set(1, 16, httpx.Response(200, json={"data": records}))
    with feed.client() as c:
        t = fetch_cnemc_hour(c, URL, bj(1, 16))
    assert sorted(t.frame["station"]) == ["1001A", "1015A", "1041A"]
    url, params = hour_url("http://b.test/{timepoint:%Y%m%d%H}.csv", bj(1, 16))
    assert (url, params) == ("http://b.test/2024070116.csv", {})
    url, params = hour_url(URL, datetime(2024, 7, 1, 8, tzinfo=UTC))
    assert params == {"timepoint": "2024-07-01 16:00:00"}


def test_5xx_and_timeouts_are_retried_then_reported():
    feed = Feed()
    feed.set(1, 16, 503, httpx.ReadTimeout("slow"), rows_of(1, 16))
    waits: list[float] = []
    with feed.client() as c:
        t = fetch_cnemc_hour(c, URL, bj(1, 16), retries=3, sleep=no_sleep(waits))
    assert len(t.frame) == 3 and waits == [1.0, 2.0] and len(feed.requests) == 3
    feed.set(1, 16, httpx.ReadTimeout("slow"))
    with feed.client() as c, pytest.raises(FeedError, match=r"timed out after 2 s \(3 attempts\)"):
        fetch_cnemc_hour(c, URL, bj(1, 16), timeout_s=2, retries=2, sleep=no_sleep([]))
    feed.set(1, 16, 500)
    with feed.client() as c, pytest.raises(FeedError, match="server error HTTP 500"):
        fetch_cnemc_hour(c, URL, bj(1, 16), retries=1, sleep=no_sleep([]))
    feed.set(1, 16, 403)
    feed.requests.clear()
    with feed.client() as c, pytest.raises(FeedError, match="HTTP 403"):
        fetch_cnemc_hour(c, URL, bj(1, 16), retries=3, sleep=no_sleep([]))
    assert len(feed.requests) == 1  # a refusal is not retried


def test_malformed_bodies_name_the_hour_line_and_field():
    feed = Feed()
    rows = rows_of(1, 16)
    rows[1]["o3"] = "12O"
    feed.set(1, 16, rows)
    with feed.client() as c, pytest.raises(InputError) as e:
        fetch_cnemc_hour(c, URL, bj(1, 16))
    assert str(e.value).startswith("cnemc 2024-07-01 16:00:00, line 3, field 'o3'")
    feed.set(1, 16, rows_of(1, 15))  # the server answers with another hour
    with feed.client() as c, pytest.raises(InputError, match="another hour"):
        fetch_cnemc_hour(c, URL, bj(1, 16))
    feed.set(
        1, 16, httpx.Response(200, text="{not json", headers={"content-type": "application/json"})
    )
    with feed.client() as c, pytest.raises(InputError, match="malformed JSON"):
        fetch_cnemc_hour(c, URL, bj(1, 16))


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


@pytest.mark.slow
def test_pulls_store_what_came_and_later_pulls_complete_and_correct_it(db_url):
    """Four hours looked back: one fine, one failing (5xx), one malformed, one not yet
    published. The next pull completes them, one partially; the third completes the
    partial hour and brings a corrected value of an hour stored before."""
    engine = engine_for(db_url)
    feed = Feed()
    feed.set(2, 10, rows_of(2, 10))
    feed.set(2, 11, 503)
    bad = rows_of(2, 12)
    bad[0]["pm2_5"] = "n/a"
    feed.set(2, 12, bad)
    common = {"lookback_hours": 4, "area": "天津市", "sleep": no_sleep([]), "retries": 1}
    with feed.client() as c:
        p1 = pull_cnemc(engine, c, URL, now=bj(2, 13).replace(minute=40), **common)
    assert p1.hours["2024-07-02 10:00:00"] == "stored"
    assert p1.hours["2024-07-02 11:00:00"].startswith("error: cnemc: server error HTTP 503")
    assert "line 2, field 'pm2_5'" in p1.hours["2024-07-02 12:00:00"]
    assert p1.hours["2024-07-02 13:00:00"] == "not published"
    assert set(p1.errors) == {"2024-07-02 11:00:00", "2024-07-02 12:00:00"}
    assert count(engine, Observation) == 2  # 1015A and 1041A at 10:00
    assert p1.latest == datetime(2024, 7, 2, 1, tzinfo=UTC)

    feed.set(2, 11, rows_of(2, 11))
    feed.set(2, 12, rows_of(2, 12))
    partial = [r for r in rows_of(2, 13) if r["stationcode"] != "1041A"]
    feed.set(2, 13, partial)
    with feed.client() as c:
        p2 = pull_cnemc(engine, c, URL, now=bj(2, 14).replace(minute=5), **common)
    assert p2.errors == {} and p2.hours["2024-07-02 14:00:00"] == "not published"
    assert count(engine, Observation) == 2 + 2 + 2 + 1
    assert (p2.report.ingest.new, p2.report.ingest.unchanged) == (5, 0)  # 10:00 not re-read

    corrected = rows_of(2, 11)
    for r in corrected:
        if r["stationcode"] == "1015A":
            r["pm2_5"] += 9  # the platform republished the hour with a corrected value
    feed.set(2, 11, corrected)
    feed.set(2, 13, rows_of(2, 13))
    with feed.client() as c:
        p3 = pull_cnemc(engine, c, URL, now=bj(2, 14).replace(minute=45), **common)
    assert count(engine, Observation) == 8
    assert (p3.report.ingest.new, p3.report.ingest.changed) == (1, 1)
    with engine.connect() as conn:
        rev = conn.execute(select(ObservationRevision)).one()
    assert rev.variable == "pm25" and rev.new_value - rev.old_value == 9.0
    assert rev.time == datetime(2024, 7, 2, 2)  # 11:00 hour-ending Beijing = 02:00 UTC start
    assert rev.source.startswith("cnemc:cnemc@")


class Loopback:
    """A real HTTP server on 127.0.0.1 answering ``GET /hourly?timepoint=`` with CSV."""

    def __init__(self, answers: dict[str, object]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                tp = parse_qs(urlparse(self.path).query).get("timepoint", [""])[0]
                a = outer.answers.get(tp)
                if a == "slow":
                    time.sleep(1.0)
                    a = None
                if a is None:
                    body, status, kind = b"not found", 404, "text/plain"
                elif isinstance(a, int):
                    body, status, kind = b"error", a, "text/plain"
                else:
                    body, status, kind = csv_text(a).encode("gb18030"), 200, "text/csv"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.answers = answers
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hourly"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_the_scheduled_job_on_a_loopback_server_records_feed_status(sqlite_url):
    sched = load_schedule()
    assert sched.jobs["pull_cnemc"].enabled is False  # disabled until a bureau sets the URL
    sched.jobs["pull_cnemc"].enabled = True
    engine = engine_for(sqlite_url)
    answers = {
        "2024-07-02 14:00:00": rows_of(2, 14),
        "2024-07-02 15:00:00": "slow",  # answers after the client's timeout
        "2024-07-02 16:00:00": 502,
    }
    with Loopback(answers) as server:
        settings = Settings(
            database_url=sqlite_url,
            cnemc_url=server.url,
            cnemc_area="天津市",
            cnemc_lookback_hours=3,
            cnemc_retries=0,
            http_timeout_s=0.3,
        )
        clock = SimulatedClock(bj(2, 16).replace(minute=40))
        ctx = jobs.JobContext(engine, settings, clock)
        runner = JobRunner(
            engine=engine,
            clock=clock,
            schedule=sched,
            jobs=jobs.JOBS,
            context=ctx,
            tz=BEIJING,
            owner="test",
        )
        out = runner.fire("pull_cnemc")
        assert out.status == "done", out.detail
        hours = out.detail["hours"]
        assert hours["2024-07-02 14:00:00"] == "stored"
        assert "timed out after 0.3 s" in hours["2024-07-02 15:00:00"]
        assert "HTTP 502" in hours["2024-07-02 16:00:00"]
        assert count(engine, Observation) == 2
        with engine.connect() as conn:
            st = conn.execute(select(FeedStatus)).one()
        assert st.feed == "cnemc" and st.last_success_at is None and "HTTP 502" in st.last_error

        answers.update(
            {"2024-07-02 15:00:00": rows_of(2, 15), "2024-07-02 16:00:00": rows_of(2, 16)}
        )
        clock.set(bj(2, 17).replace(minute=10))  # the 17:00 hour is not out yet
        out = runner.fire("pull_cnemc")
        assert out.status == "done", out.detail
        assert out.detail["hours"]["2024-07-02 17:00:00"] == "not published"
        assert count(engine, Observation) == 6
        with engine.connect() as conn:
            st = conn.execute(select(FeedStatus)).one()
        assert st.last_error is None and st.latest_data_time == datetime(2024, 7, 2, 7)

        answers.clear()
        answers["2024-07-02 18:00:00"] = 500
        answers["2024-07-02 17:00:00"] = 500
        answers["2024-07-02 16:00:00"] = 500
        clock.set(bj(2, 18).replace(minute=40))
        failed = runner.fire("pull_cnemc")
        assert failed.status == "failed" and "every hour failed" in failed.detail["error"]
    assert json.dumps(out.detail)  # the detail is stored as JSON in job_runs
