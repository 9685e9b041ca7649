"""CAMS air-quality forecasts (Open-Meteo air-quality API) as forecast inputs: the
client in the real response shape, the weather job's feed, storage beside the weather
forecasts, and models trained and run with and without them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import numpy as np
import pandas as pd
import pytest

from aqcast.service.sources.open_meteo import fetch_air_quality_forecast

STATIONS = pd.DataFrame({"station": ["A", "B"], "lat": [39.93, 39.89], "lon": [116.42, 116.41]})
TZ = "Asia/Shanghai"


def air_body(request: httpx.Request) -> list[dict] | dict:
    q = request.url.params
    lats = [float(x) for x in q["latitude"].split(",")]
    names = q["hourly"].split(",")
    times = pd.date_range("2024-06-01", periods=int(q.get("forecast_days", 5)) * 24, freq="h")
    items = []
    for i, lat in enumerate(lats):
        hourly: dict = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in times]}
        for k, name in enumerate(names):
            hourly[name] = [10.0 * (k + 1) + i + 0.1 * h for h in range(len(times))]
        hourly[names[0]][0] = None
        items.append(
            {
                "latitude": lat,
                "longitude": 116.4,
                "generationtime_ms": 0.8,
                "utc_offset_seconds": 0,
                "timezone": "GMT",
                "timezone_abbreviation": "GMT",
                "elevation": 44.0,
                "hourly_units": {"time": "iso8601", **{n: "μg/m³" for n in names}},
                "hourly": hourly,
            }
        )
    return items if len(items) > 1 else items[0]


def test_air_quality_forecast_rows_in_the_real_shape():
    seen = {}

    def handler(request):
        seen.update(request.url.params)
        return httpx.Response(200, json=air_body(request))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        out = fetch_air_quality_forecast(
            client, STATIONS, issued_at=datetime(2024, 6, 1, 6, tzinfo=UTC), forecast_days=2
        )
    assert seen["hourly"] == "pm2_5,pm10,ozone,nitrogen_dioxide"
    assert list(out.columns) == [
        "station",
        "issued_at",
        "valid_at",
        "aq_pm25",
        "aq_pm10",
        "aq_o3",
        "aq_no2",
    ]
    assert len(out) == 2 * 48 and out["issued_at"].eq(pd.Timestamp("2024-06-01T06:00Z")).all()
    b = out[out["station"] == "B"].set_index("valid_at")
    assert b.loc[pd.Timestamp("2024-06-01T03:00Z"), "aq_o3"] == pytest.approx(30 + 1 + 0.3)
    assert np.isnan(b.iloc[0]["aq_pm25"])  # a null stays missing


@pytest.mark.slow
def test_weather_job_pulls_and_stores_them_beside_the_weather(sqlite_url):
    from aqcast.service.ingest.stations import upsert_stations
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.jobs import configured_feeds
    from aqcast.service.observations import load_met_forecasts
    from aqcast.service.settings import Settings
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    with engine.begin() as conn:
        upsert_stations(conn, ["A", "B"], STATIONS, source="test", label="stations")
    settings = Settings(
        database_url=sqlite_url,
        open_meteo_forecast_url="",
        open_meteo_air_quality_url="https://air.test/v1/air-quality",
    )
    with httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=air_body(r)))
    ) as client:
        _, weather_feeds = configured_feeds(engine, settings, client)
        assert [f.name for f in weather_feeds] == ["open_meteo_air"]
        now = datetime(2024, 6, 1, 6, tzinfo=UTC)
        frame = weather_feeds[0].fetch(now)
    ingest_met_forecasts(engine, frame, source="open_meteo_air", file_label="air")
    # A weather run issued later, from another feed: each group keeps its latest issue.
    wx = frame[["station", "valid_at"]].assign(
        issued_at=pd.Timestamp("2024-06-01T07:00Z"), temp_air=25.0
    )
    ingest_met_forecasts(engine, wx, source="open_meteo", file_label="wx")
    got = load_met_forecasts(engine, "2024-06-02T00:00Z", "2024-06-01T00:00Z", "2024-06-02T00:00Z")
    assert len(got) == 48
    assert got["temp_air"].eq(25.0).all() and got["aq_o3"].notna().all()
    assert got["issued_at"].eq(pd.Timestamp("2024-06-01T07:00Z")).all()


@pytest.fixture(scope="module")
def network():
    from aqcast.synthetic import QuirkRates, synthetic_network

    return synthetic_network(
        3, "2013-01-01", "2013-04-20", seed=12, quirks=QuirkRates(0, 0, 0, 0, 0)
    )


def _store(network, url, *, with_aq: bool):
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.store import engine_for

    engine = engine_for(url)
    ingest_frame(
        engine,
        network.hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    weather = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]
    runs, air = [], []
    h = network.hourly
    for d in pd.date_range("2013-02-01", "2013-04-15", freq="D"):
        issued = pd.Timestamp(d, tz="UTC") - pd.Timedelta(hours=4)  # 04:00 Beijing
        sel = (h["time"] >= issued - pd.Timedelta(hours=20)) & (
            h["time"] < issued + pd.Timedelta(days=5)
        )
        met = h.loc[sel, ["station", "time", *weather]].rename(columns={"time": "valid_at"})
        runs.append(met.assign(issued_at=issued))
        if with_aq:
            aq = h.loc[sel, ["station", "time", "pm25", "pm10", "o3", "no2"]]
            aq = aq.rename(
                columns={
                    "time": "valid_at",
                    "pm25": "aq_pm25",
                    "pm10": "aq_pm10",
                    "o3": "aq_o3",
                    "no2": "aq_no2",
                }
            )
            aq[["aq_pm25", "aq_pm10", "aq_o3", "aq_no2"]] *= 1.3  # a model's bias
            air.append(aq.assign(issued_at=issued))
    ingest_met_forecasts(engine, pd.concat(runs), source="open_meteo", file_label="wx")
    if with_aq:
        ingest_met_forecasts(engine, pd.concat(air), source="open_meteo_air", file_label="air")
    return engine


@pytest.mark.slow
@pytest.mark.parametrize("with_aq", [True, False])
def test_models_use_the_air_quality_forecasts_when_present(network, tmp_path, monkeypatch, with_aq):
    from aqcast.models.train import load_training_config
    from aqcast.service.forecasts import make_forecast
    from aqcast.service.registry import train_and_register
    from aqcast.service.settings import get_settings
    from aqcast.service.store import migrate

    url = f"sqlite:///{tmp_path / 'aq.db'}"
    monkeypatch.setenv("AQCAST_DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    engine = _store(network, url, with_aq=with_aq)
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 20, "min_rounds": 10}
        ),
    )
    bundle = train_and_register(
        engine, until=date(2013, 4, 10), now=datetime(2013, 4, 10), train_met="stored"
    )
    features = bundle.models["pm25_24h"].features
    assert ("wx_aq_pm25_mean" in features) is with_aq
    assert ("wx_aq_o3_max" in features) is with_aq
    if with_aq:
        assert bundle.models["o3_mda8"].importance["wx_aq_o3_max"] > 0
    fc = make_forecast(engine, date(2013, 4, 12), met="stored", bundle=bundle)
    assert fc.method == "model" and fc.missing_inputs == []
    assert fc.values["q50"].notna().all()
