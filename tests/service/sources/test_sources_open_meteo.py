"""Open-Meteo forecast and air-quality clients against responses of the real shape."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from aqcast.service.sources.errors import FeedError
from aqcast.service.sources.open_meteo import fetch_air_quality, fetch_weather_forecast

STATIONS = pd.DataFrame({"station": ["A", "B"], "lat": [39.93, 39.89], "lon": [116.42, 116.41]})
ISSUED = pd.Timestamp("2015-06-01T07:00+08:00")


def weather_body(lat: float, temp0: float) -> dict:
    times = ["2015-06-01T00:00", "2015-06-01T01:00", "2015-06-01T02:00"]
    return {
        "latitude": lat,
        "longitude": 116.375,
        "generationtime_ms": 0.2,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 49.0,
        "hourly_units": {
            "time": "iso8601",
            "temperature_2m": "°C",
            "relative_humidity_2m": "%",
            "surface_pressure": "hPa",
            "wind_speed_10m": "m/s",
            "wind_direction_10m": "°",
            "shortwave_radiation": "W/m²",
            "boundary_layer_height": "m",
        },
        "hourly": {
            "time": times,
            "temperature_2m": [temp0, temp0 + 1, None],
            "relative_humidity_2m": [40, 42, 45],
            "surface_pressure": [1005.1, 1005.0, 1004.8],
            "wind_speed_10m": [1.5, 2.0, 2.5],
            "wind_direction_10m": [180, 190, 200],
            "shortwave_radiation": [0.0, 0.0, 12.0],
            "boundary_layer_height": [250.0, 300.0, 400.0],
        },
    }


def client_for(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_weather_forecast_for_several_locations():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.url.params)
        return httpx.Response(200, json=[weather_body(39.93, 25.0), weather_body(39.89, 26.0)])

    with client_for(handler) as client:
        f = fetch_weather_forecast(
            client, STATIONS, issued_at=ISSUED, base_url="http://om/v1/forecast"
        )
    assert seen["latitude"] == "39.9300,39.8900" and seen["timezone"] == "UTC"
    assert seen["wind_speed_unit"] == "ms" and "temperature_2m" in seen["hourly"]
    assert len(f) == 6 and f["station"].tolist() == ["A"] * 3 + ["B"] * 3
    assert f["issued_at"].eq(pd.Timestamp("2015-05-31T23:00Z")).all()
    assert f["valid_at"].iloc[1] == pd.Timestamp("2015-06-01T01:00Z")
    assert f["temp_air"].iloc[3] == 26.0 and np.isnan(f["temp_air"].iloc[2])
    assert f["relative_humidity"].iloc[0] == 40 and f["boundary_layer_height"].iloc[2] == 400


def test_local_time_zone_offset_is_applied():
    body = weather_body(39.93, 25.0)
    body["utc_offset_seconds"], body["timezone"] = 28800, "Asia/Shanghai"
    with client_for(lambda r: httpx.Response(200, json=body)) as client:
        f = fetch_weather_forecast(
            client, STATIONS.iloc[:1], issued_at=ISSUED, base_url="http://om"
        )
    assert f["valid_at"].iloc[0] == pd.Timestamp("2015-05-31T16:00Z")


def test_air_quality_units_mapped():
    body = {
        "latitude": 39.9,
        "longitude": 116.4,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {
            "time": "iso8601",
            "pm2_5": "μg/m³",
            "pm10": "μg/m³",
            "ozone": "μg/m³",
            "nitrogen_dioxide": "μg/m³",
            "sulphur_dioxide": "μg/m³",
            "carbon_monoxide": "μg/m³",
        },
        "hourly": {
            "time": ["2015-06-01T05:00", "2015-06-01T06:00"],
            "pm2_5": [35.2, None],
            "pm10": [60.0, 61.0],
            "ozone": [150.0, 180.0],
            "nitrogen_dioxide": [20.0, 25.0],
            "sulphur_dioxide": [3.0, 4.0],
            "carbon_monoxide": [450.0, 500.0],
        },
    }
    with client_for(lambda r: httpx.Response(200, json=body)) as client:
        f = fetch_air_quality(client, STATIONS.iloc[:1], base_url="http://aq")
    assert list(f.columns) == ["station", "time", "pm25", "pm10", "o3", "no2", "so2", "co"]
    assert f["co"].tolist() == [0.45, 0.5] and f["o3"].iloc[1] == 180.0
    assert np.isnan(f["pm25"].iloc[1]) and f["time"].iloc[0] == pd.Timestamp("2015-06-01T05:00Z")


def test_5xx_is_retried_then_fails():
    calls, waits = [], []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, text="busy")

    with client_for(handler) as client, pytest.raises(FeedError, match="HTTP 503"):
        fetch_weather_forecast(
            client,
            STATIONS.iloc[:1],
            issued_at=ISSUED,
            base_url="http://om",
            retries=2,
            sleep=waits.append,
        )
    assert len(calls) == 3 and waits == [1.0, 2.0]


def test_5xx_then_success():
    replies = iter([httpx.Response(502), httpx.Response(200, json=weather_body(39.9, 20.0))])
    with client_for(lambda r: next(replies)) as client:
        f = fetch_weather_forecast(
            client, STATIONS.iloc[:1], issued_at=ISSUED, base_url="http://om", sleep=lambda s: None
        )
    assert f["temp_air"].iloc[0] == 20.0


def test_timeout_becomes_feed_error():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with client_for(handler) as client, pytest.raises(FeedError, match="timed out"):
        fetch_air_quality(
            client, STATIONS.iloc[:1], base_url="http://aq", retries=1, sleep=lambda s: None
        )


@pytest.mark.parametrize(
    "body",
    [
        "<html>not json</html>",
        json.dumps(
            {
                "hourly": {"time": ["2015-06-01T00:00"], "temperature_2m": [1, 2]},
                "hourly_units": {"temperature_2m": "°C"},
            }
        ),
        json.dumps({"error": True, "reason": "Latitude must be in range of -90 to 90°."}),
        json.dumps([weather_body(1, 1)]),  # one location for two stations
        json.dumps({**weather_body(1, 1), "hourly_units": {"temperature_2m": "°F"}}),
    ],
)
def test_malformed_bodies(body):
    stations = STATIONS if body.startswith("[") else STATIONS.iloc[:1]
    with client_for(lambda r: httpx.Response(200, text=body)) as client, pytest.raises(FeedError):
        fetch_weather_forecast(
            client, stations, issued_at=ISSUED, base_url="http://om", sleep=lambda s: None
        )
