"""OpenAQ v3 client: API key header, pagination, 429 with Retry-After, unit conversion."""

from __future__ import annotations

import logging

import httpx
import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr

from aqcast.service.sources.errors import FeedError
from aqcast.service.sources.openaq import fetch_location_hours, unit_factor

KEY = SecretStr("k-very-secret")
START, END = pd.Timestamp("2024-06-01T00:00Z"), pd.Timestamp("2024-06-01T05:00Z")


def sensor(sid: int, name: str, units: str) -> dict:
    return {
        "id": sid,
        "name": f"{name} {units}",
        "parameter": {"id": 2, "name": name, "units": units, "displayName": name.upper()},
        "datetimeFirst": {"utc": "2016-01-30T01:00:00Z", "local": "2016-01-30T09:00:00+08:00"},
        "datetimeLast": {"utc": "2024-06-01T04:00:00Z", "local": "2024-06-01T12:00:00+08:00"},
        "coverage": None,
        "latest": None,
        "summary": None,
    }


def hour(hh: int, value: float, name: str, units: str) -> dict:
    return {
        "value": value,
        "flagInfo": {"hasFlags": False},
        "parameter": {"id": 2, "name": name, "units": units, "displayName": None},
        "period": {
            "label": "1hour",
            "interval": "01:00:00",
            "datetimeFrom": {"utc": f"2024-06-01T{hh:02d}:00:00Z", "local": "x"},
            "datetimeTo": {"utc": f"2024-06-01T{hh + 1:02d}:00:00Z", "local": "x"},
        },
        "coordinates": None,
        "summary": None,
        "coverage": {"expectedCount": 1, "observedCount": 1, "percentComplete": 100.0},
    }


def page(results: list, found, page_no: int, limit: int) -> dict:
    meta = {"name": "openaq-api", "website": "/", "page": page_no, "limit": limit, "found": found}
    return {"meta": meta, "results": results}


class Server:
    """A fake OpenAQ: PM2.5 sensor 11 (ug/m3), O3 sensor 12 (ppm), pages of 2 hours."""

    def __init__(self, found_as_text: bool = False):
        self.requests: list[httpx.Request] = []
        self.found_as_text = found_as_text
        self.pm = [hour(h, 10.0 + h, "pm25", "µg/m³") for h in range(5)]
        self.o3 = [hour(h, 0.05, "o3", "ppm") for h in range(3)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("X-API-Key") != KEY.get_secret_value():
            return httpx.Response(401, json={"detail": "bad key"})
        path = request.url.path
        p = int(request.url.params.get("page", 1))
        limit = int(request.url.params.get("limit", 100))
        if path == "/v3/locations/7/sensors":
            return httpx.Response(
                200,
                json=page(
                    [
                        sensor(11, "pm25", "µg/m³"),
                        sensor(12, "o3", "ppm"),
                        sensor(13, "temperature", "c"),
                    ],
                    3,
                    1,
                    limit,
                ),
            )
        rows = self.pm if path == "/v3/sensors/11/hours" else self.o3
        chunk = rows[(p - 1) * limit : p * limit]
        found = ">2" if self.found_as_text else len(rows)
        return httpx.Response(200, json=page(chunk, found, p, limit))


def fetch(client, **kw):
    return fetch_location_hours(
        client,
        7,
        "S1",
        api_key=KEY,
        start=START,
        end=END,
        base_url="http://openaq/v3",
        limit=2,
        sleep=lambda s: None,
        **kw,
    )


@pytest.mark.parametrize("found_as_text", [False, True])
def test_pages_units_and_frame(found_as_text):
    server = Server(found_as_text)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        f = fetch(client)
    assert f["station"].eq("S1").all() and len(f) == 5
    assert f["time"].iloc[0] == START and str(f["time"].dt.tz) == "UTC"
    assert f["pm25"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]
    # 0.05 ppm O3 at 25 degC: 0.05 * 48.00 / 24.45 * 1000 ug/m3.
    np.testing.assert_allclose(f["o3"].iloc[:3], 0.05 * 48.0 / 24.45 * 1000)
    assert np.isnan(f["o3"].iloc[4])
    hour_pages = [r for r in server.requests if r.url.path == "/v3/sensors/11/hours"]
    assert [r.url.params["page"] for r in hour_pages] == ["1", "2", "3"]
    assert hour_pages[0].url.params["datetime_from"] == "2024-06-01T00:00:00Z"


def test_429_honours_retry_after_then_succeeds():
    server = Server()
    state = {"limited": 2}
    waits: list[float] = []

    def handler(request):
        if state["limited"]:
            state["limited"] -= 1
            return httpx.Response(429, headers={"Retry-After": "7"})
        return server(request)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        f = fetch_location_hours(
            client,
            7,
            "S1",
            api_key=KEY,
            start=START,
            end=END,
            base_url="http://openaq/v3",
            sleep=waits.append,
        )
    assert waits == [7.0, 7.0] and len(f) == 5


def test_429_past_retries_fails():
    waits: list[float] = []
    with httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "1"}))
    ) as client:
        with pytest.raises(FeedError, match="429"):
            fetch_location_hours(
                client,
                7,
                "S1",
                api_key=KEY,
                start=START,
                end=END,
                base_url="http://openaq/v3",
                retries=2,
                sleep=waits.append,
            )
    assert waits == [1.0, 1.0]


def test_key_is_never_in_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    wrong = SecretStr("another-secret-key")
    with httpx.Client(transport=httpx.MockTransport(Server())) as client:
        with pytest.raises(FeedError, match="401") as err:
            fetch_location_hours(
                client,
                7,
                "S1",
                api_key=wrong,
                start=START,
                end=END,
                base_url="http://openaq/v3",
                sleep=lambda s: None,
            )
    assert "another-secret-key" not in str(err.value)
    assert "another-secret-key" not in caplog.text
    assert "another-secret-key" not in repr(wrong)


def test_timeout_and_malformed_body():
    def slow(request):
        raise httpx.ConnectTimeout("no answer", request=request)

    with httpx.Client(transport=httpx.MockTransport(slow)) as client:
        with pytest.raises(FeedError, match="timed out"):
            fetch(client, retries=1)
    with httpx.Client(
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"meta": {}, "results": "nope"})
        )
    ) as client:
        with pytest.raises(FeedError, match="shape"):
            fetch(client)
    with httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"{not json"))
    ) as client:
        with pytest.raises(FeedError, match="malformed JSON"):
            fetch(client)


@pytest.mark.parametrize(
    ("variable", "unit", "factor"),
    [
        ("pm25", "µg/m³", 1.0),
        ("co", "µg/m³", 0.001),
        ("o3", "ppb", 48.0 / 24.45),
        ("no2", "ppm", 46.01 / 24.45 * 1000),
        ("co", "ppm", 28.01 / 24.45),
        ("so2", "ppb", 64.07 / 24.45),
    ],
)
def test_unit_factors(variable, unit, factor):
    assert unit_factor(variable, unit) == pytest.approx(factor)


def test_unknown_unit():
    with pytest.raises(FeedError, match="unit"):
        unit_factor("pm25", "ppm")


def test_the_hourly_job_pulls_mapped_stations_into_the_store(sqlite_url):
    """Settings map a station to an OpenAQ location; the observation job stores its hours."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from aqcast.service.clock import SimulatedClock
    from aqcast.service.jobs import JobContext, configured_feeds, pull_observations
    from aqcast.service.observations import load_hourly
    from aqcast.service.scheduler import RunInfo
    from aqcast.service.settings import Settings
    from aqcast.service.store import engine_for
    from aqcast.service.tables import FeedStatus

    settings = Settings(
        database_url=sqlite_url,
        openaq_locations={"S7": 7},
        openaq_api_key=KEY,
        openaq_base_url="https://api.openaq.test/v3",
        openaq_lookback_hours=5,
        open_meteo_forecast_url="",
        open_meteo_air_quality_url="",
    )
    server = Server()
    engine = engine_for(sqlite_url)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        obs_feeds, weather_feeds = configured_feeds(engine, settings, client)
        assert [f.name for f in obs_feeds] == ["openaq"] and weather_feeds == []
        now = datetime(2024, 6, 1, 5, 20, tzinfo=UTC)
        ctx = JobContext(engine, settings, SimulatedClock(now), observation_feeds=obs_feeds)
        run = RunInfo("pull_observations", "x", now, now, ZoneInfo("Asia/Shanghai"))
        detail = pull_observations(ctx, run)
    assert detail["feeds"]["openaq"]["rows"] == 5
    stored = load_hourly(engine, START, END)
    assert sorted(stored["station"].unique()) == ["S7"]
    assert stored.sort_values("time")["pm25"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]
    with engine.connect() as conn:
        status = conn.execute(FeedStatus.__table__.select()).mappings().one()
    assert status["feed"] == "openaq" and status["last_error"] is None
    # the key travels only in the header, never in a URL
    assert all("k-very-secret" not in str(r.url) for r in server.requests)
