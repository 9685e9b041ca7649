"""`aqcast backfill weather`: Open-Meteo's Previous Runs and Historical Forecast APIs
through httpx.MockTransport in the real response shape (several locations, suffixed
variables, nulls outside the archive), with 429, 5xx, timeouts and gaps."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aqcast.service.sources.errors import FeedError
from aqcast.service.sources.open_meteo import (
    WEATHER_VARIABLES,
    fetch_historical_forecast,
    fetch_previous_runs,
)

STATIONS = pd.DataFrame({"station": ["A", "B"], "lat": [39.93, 39.89], "lon": [116.42, 116.41]})
UNITS = {
    "temperature_2m": "°C",
    "dew_point_2m": "°C",
    "relative_humidity_2m": "%",
    "surface_pressure": "hPa",
    "precipitation": "mm",
    "wind_speed_10m": "m/s",
    "wind_direction_10m": "°",
    "shortwave_radiation": "W/m²",
    "cloud_cover": "%",
    "boundary_layer_height": "m",
}


def body_for(request: httpx.Request, gap_hours: int = 0) -> list[dict] | dict:
    """A response as the API gives it for the request's locations, variables and dates:
    hourly local times without offset (timezone=UTC here), one list per variable; the
    first ``gap_hours`` hours are null (before the archive starts)."""
    q = request.url.params
    lats = [float(x) for x in q["latitude"].split(",")]
    names = q["hourly"].split(",")
    times = pd.date_range(
        q["start_date"], pd.Timestamp(q["end_date"]) + pd.Timedelta(hours=23), freq="h"
    )
    items = []
    for i, lat in enumerate(lats):
        hourly: dict = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in times]}
        units = {"time": "iso8601"}
        for name in names:
            base, _, suffix = name.partition("_previous_day")
            n = int(suffix) if suffix else 0
            values = [20.0 + i + n + 0.01 * k for k in range(len(times))]
            values = [None] * gap_hours + values[gap_hours:]
            hourly[name] = values
            units[name] = UNITS[base]
        items.append(
            {
                "latitude": lat,
                "longitude": 116.4,
                "generationtime_ms": 1.2,
                "utc_offset_seconds": 0,
                "timezone": "GMT",
                "timezone_abbreviation": "GMT",
                "elevation": 44.0,
                "hourly_units": units,
                "hourly": hourly,
            }
        )
    return items if len(items) > 1 else items[0]


def client_for(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_previous_runs_become_forecasts_with_an_honest_issue_time():
    seen = {}

    def handler(request):
        seen.update(request.url.params)
        return httpx.Response(200, json=body_for(request))

    out = fetch_previous_runs(
        client_for(handler),
        STATIONS,
        start_date="2024-03-01",
        end_date="2024-03-02",
        days=(1, 2),
        sleep=lambda s: None,
    )
    assert seen["start_date"] == "2024-03-01" and seen["timezone"] == "UTC"
    assert "temperature_2m_previous_day2" in seen["hourly"].split(",")
    assert len(out) == 2 * 48 * 2  # stations x hours x earlier runs
    one = out[(out["station"] == "B") & (out["valid_at"] == pd.Timestamp("2024-03-01T05:00Z"))]
    assert len(one) == 2
    by_lead = one.set_index(one["valid_at"] - one["issued_at"])
    # Day 1: the run a day earlier, published 6 h after; station B (index 1), hour 5.
    d1 = by_lead.loc[pd.Timedelta(hours=18)]
    assert d1["temp_air"] == pytest.approx(20.0 + 1 + 1 + 0.05)
    d2 = by_lead.loc[pd.Timedelta(hours=42)]
    assert d2["wind_speed"] == pytest.approx(20.0 + 1 + 2 + 0.05)
    assert set(WEATHER_VARIABLES.values()) <= set(out.columns)


def test_gaps_are_not_stored_as_forecasts():
    out = fetch_previous_runs(
        client_for(lambda r: httpx.Response(200, json=body_for(r, gap_hours=10))),
        STATIONS,
        start_date="2024-03-01",
        end_date="2024-03-01",
        days=(1,),
    )
    assert len(out) == 2 * 14
    assert out["valid_at"].min() == pd.Timestamp("2024-03-01T10:00Z")


def test_historical_forecast_is_never_a_day_ahead_forecast():
    out = fetch_historical_forecast(
        client_for(lambda r: httpx.Response(200, json=body_for(r))),
        STATIONS,
        start_date="2024-03-01",
        end_date="2024-03-01",
    )
    assert len(out) == 48
    assert (out["issued_at"] > out["valid_at"]).all()


def test_rate_limit_server_error_and_timeout_are_retried_then_fail_cleanly():
    calls = {"n": 0}
    waits = []

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        if calls["n"] == 2:
            return httpx.Response(502, text="bad gateway")
        if calls["n"] == 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=body_for(request))

    out = fetch_previous_runs(
        client_for(flaky),
        STATIONS,
        start_date="2024-03-01",
        end_date="2024-03-01",
        days=(1,),
        sleep=waits.append,
    )
    assert calls["n"] == 4 and waits[0] == 2.0 and len(out) == 48

    def down(request):
        return httpx.Response(503)

    with pytest.raises(FeedError, match="previous-runs.*HTTP 503"):
        fetch_previous_runs(
            client_for(down),
            STATIONS,
            start_date="2024-03-01",
            end_date="2024-03-01",
            sleep=lambda s: None,
        )


def test_error_body_and_wrong_shape_are_feed_errors():
    def error_body(request):
        return httpx.Response(200, json={"error": True, "reason": "Parameter 'x' invalid"})

    with pytest.raises(FeedError, match="invalid"):
        fetch_previous_runs(
            client_for(error_body),
            STATIONS.iloc[:1],
            start_date="2024-03-01",
            end_date="2024-03-01",
        )

    def one_location(request):
        items = body_for(request)
        return httpx.Response(200, json=items[0])

    with pytest.raises(FeedError, match="expected 2 location"):
        fetch_previous_runs(
            client_for(one_location), STATIONS, start_date="2024-03-01", end_date="2024-03-01"
        )


@pytest.mark.slow
def test_backfill_command_stores_chunks_and_stops_cleanly(sqlite_url, monkeypatch):
    from aqcast.service.cli import app
    from aqcast.service.ingest.stations import upsert_stations
    from aqcast.service.observations import load_met_forecasts
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    with engine.begin() as conn:
        upsert_stations(conn, ["A", "B"], STATIONS, source="test", label="stations")
    requests = []

    def handler(request):
        requests.append(dict(request.url.params))
        if request.url.params["start_date"] == "2024-03-05":
            return httpx.Response(500)
        return httpx.Response(200, json=body_for(request))

    monkeypatch.setattr("aqcast.service.commands.backfill._client", lambda: client_for(handler))
    monkeypatch.setattr("aqcast.service.sources.feeds.time.sleep", lambda s: None)
    runner = CliRunner()
    args = ["backfill", "weather", "--from", "2024-03-01", "--to", "2024-03-04", "--days", "1,2"]
    r = runner.invoke(app, [*args, "--chunk-days", "2"])
    assert r.exit_code == 0, r.output
    assert [q["start_date"] for q in requests] == ["2024-03-01", "2024-03-03"]
    assert "384 forecast rows stored" in r.output  # 2 stations x 48 h x 2 runs x 2 chunks
    # A 07:00 (Beijing) issue on 3 March sees the day-1 and day-2 runs issued before it.
    fc = load_met_forecasts(engine, "2024-03-02T23:00Z", "2024-03-03T00:00Z", "2024-03-04T00:00Z")
    assert len(fc) == 2 * 24 and (fc["issued_at"] < pd.Timestamp("2024-03-02T23:00Z")).all()
    again = runner.invoke(app, [*args, "--chunk-days", "2"])
    assert again.exit_code == 0 and "0 forecast rows stored" in again.output

    r = runner.invoke(
        app,
        ["backfill", "weather", "--from", "2024-03-03", "--to", "2024-03-06", "--chunk-days", "2"],
    )
    assert r.exit_code == 1
    assert "HTTP 500" in r.output and "run again from --from 2024-03-05" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, [*args, "--days", "0,9"])
    assert r.exit_code == 2 and "between 1 and 7" in r.output
    assert np.isfinite(fc["temp_air"]).all()
