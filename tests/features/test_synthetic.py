"""The synthetic network behaves like a real one and is reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aqcast.features.nomenclature import POLLUTANTS, WEATHER
from aqcast.synthetic import (
    NO_QUIRKS,
    QuirkRates,
    dewpoint_degc,
    iter_synthetic_hourly,
    synthetic_hourly,
    synthetic_network,
    synthetic_stations,
)

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def year() -> pd.DataFrame:
    """Twelve stations, one clean year, with local month, hour and day."""
    net = synthetic_network(12, "2015-01-01", "2016-01-01", seed=3, quirks=NO_QUIRKS)
    df = net.hourly
    local = df["time"].dt.tz_convert(TZ)
    return df.assign(month=local.dt.month, hour=local.dt.hour, day=local.dt.date)


def test_canonical_hourly_frame() -> None:
    net = synthetic_network(5, "2015-06-01T00:00+08:00", "2015-06-03T00:00+08:00", seed=1)
    df = net.hourly
    assert list(df.columns) == ["station", "time", *POLLUTANTS, *WEATHER]
    assert str(df["time"].dt.tz) == "UTC"
    assert df["time"].min() == pd.Timestamp("2015-05-31T16:00Z")
    assert len(df) == 5 * 48
    assert not df.duplicated(["station", "time"]).any()
    assert set(df["station"]) == set(net.stations["station"])
    assert {c: str(df[c].dtype) for c in POLLUTANTS} == dict.fromkeys(POLLUTANTS, "float64")


@pytest.mark.slow
def test_same_seed_same_data_other_seed_other_data() -> None:
    stations = synthetic_stations(4, seed=2)
    a, qa = synthetic_hourly(stations, "2015-01-01", "2015-01-15", seed=2)
    b, qb = synthetic_hourly(stations, "2015-01-01", "2015-01-15", seed=2)
    c, _ = synthetic_hourly(stations, "2015-01-01", "2015-01-15", seed=5)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(qa, qb)
    assert not np.allclose(a["pm25"].fillna(0), c["pm25"].fillna(0))


@pytest.mark.slow
def test_chunks_and_subsets_do_not_change_a_station() -> None:
    stations = synthetic_stations(7, seed=4)
    whole, log = synthetic_hourly(stations, "2015-03-01", "2015-03-20", seed=4)
    parts = list(
        iter_synthetic_hourly(stations, "2015-03-01", "2015-03-20", seed=4, chunk_stations=3)
    )
    assert len(parts) == 3
    pd.testing.assert_frame_equal(pd.concat([p for p, _ in parts], ignore_index=True), whole)
    pd.testing.assert_frame_equal(pd.concat([q for _, q in parts], ignore_index=True), log)
    alone, _ = synthetic_hourly(stations.iloc[[5]], "2015-03-01", "2015-03-20", seed=4)
    pd.testing.assert_frame_equal(
        alone.reset_index(drop=True),
        whole[whole["station"] == stations["station"].iloc[5]].reset_index(drop=True),
    )


@pytest.mark.slow
def test_seasons_and_diurnal_cycles(year: pd.DataFrame) -> None:
    by_month = year.groupby("month")[["pm25", "o3", "temp_air"]].mean()
    summer, winter = by_month.loc[[6, 7, 8]].mean(), by_month.loc[[12, 1, 2]].mean()
    assert summer["temp_air"] - winter["temp_air"] > 20.0
    assert summer["o3"] > 2.5 * winter["o3"]
    assert winter["pm25"] > 1.3 * summer["pm25"]
    diurnal = year[year["month"].isin([6, 7])].groupby("hour")["o3"].mean()
    assert 13 <= int(diurnal.idxmax()) <= 17
    assert 2 <= int(diurnal.idxmin()) <= 7
    assert diurnal.max() > 2.5 * diurnal.min()
    # a Beijing-like range for the annual means
    assert 50.0 < year["pm25"].mean() < 130.0
    assert 30.0 < year["o3"].mean() < 70.0


def test_weather_physics(year: pd.DataFrame) -> None:
    assert (year["dewpoint"] <= year["temp_air"] + 1e-9).all()
    night = year["shortwave_radiation"] == 0
    assert night.mean() == pytest.approx(0.5, abs=0.06)
    day_blh = year.loc[~night, "boundary_layer_height"].mean()
    assert day_blh > 1.8 * year.loc[night, "boundary_layer_height"].mean()
    assert year["relative_humidity"].between(0, 100).all()
    assert year["wind_direction"].between(0, 360).all()
    assert year["cloud_cover"].between(0, 100).all()


def test_pm_builds_when_stagnant_and_humid_o3_with_heat(year: pd.DataFrame) -> None:
    daily = year.groupby(["station", "day"]).agg(
        pm25=("pm25", "mean"),
        o3_max=("o3", "max"),
        temp_max=("temp_air", "max"),
        wind=("wind_speed", "mean"),
        blh=("boundary_layer_height", "mean"),
        rh=("relative_humidity", "mean"),
        sw=("shortwave_radiation", "mean"),
    )
    ventilation = daily["wind"] * daily["blh"]
    low, high = ventilation.quantile([0.2, 0.8])
    assert (
        daily.loc[ventilation <= low, "pm25"].mean()
        > 2.0 * daily.loc[ventilation >= high, "pm25"].mean()
    )
    stagnant = daily[ventilation <= ventilation.median()]
    assert (
        stagnant.loc[stagnant["rh"] > 60, "pm25"].mean()
        > stagnant.loc[stagnant["rh"] < 40, "pm25"].mean()
    )
    warm = daily[daily["temp_max"] > 20]
    assert warm["o3_max"].corr(warm["temp_max"]) > 0.4
    assert warm["o3_max"].corr(warm["sw"]) > 0.3
    assert daily["pm25"].max() > 250.0  # haze episodes happen
    assert (warm["o3_max"] > 200).sum() > 0  # and ozone exceedances


@pytest.mark.slow
def test_nearby_stations_correlate_more_than_distant_ones() -> None:
    stations = synthetic_stations(60, seed=8, extent_km=800.0)
    hourly, _ = synthetic_hourly(
        stations, "2015-01-01", "2015-03-01", seed=8, variables=["pm25"], quirks=NO_QUIRKS
    )
    wide = hourly.pivot(index="time", columns="station", values="pm25")
    corr = wide.corr().to_numpy()
    lat, lon = stations["lat"].to_numpy(), stations["lon"].to_numpy()
    dist_km = np.hypot(
        (lat[:, None] - lat[None, :]) * 111.2,
        (lon[:, None] - lon[None, :]) * 111.2 * np.cos(np.radians(lat.mean())),
    )
    upper = np.triu_indices(len(stations), 1)
    d, c = dist_km[upper], corr[upper]
    assert c[d < 30].mean() > 0.8
    assert c[d < 30].mean() > c[d > 400].mean() + 0.15


@pytest.mark.slow
def test_quirks_are_injected_and_logged() -> None:
    rates = QuirkRates(
        missing_hour=0.02,
        outage_per_year=6,
        stuck_per_year=12,
        spike_per_year=12,
        sentinel_per_year=6,
    )
    net = synthetic_network(6, "2015-01-01", "2015-07-01", seed=11, quirks=rates)
    df, log = net.hourly, net.quirks
    assert set(log["kind"]) == {"outage", "stuck", "spike", "sentinel"}
    assert list(log.columns) == ["station", "variable", "kind", "start", "end"]
    missing = df["temp_air"].isna().mean()
    assert 0.02 <= missing < 0.1
    indexed = df.set_index(["station", "time"]).sort_index()
    for row in log.itertuples():
        span = indexed.loc[(row.station, slice(row.start, row.end - pd.Timedelta(hours=1))), :]
        if row.kind == "outage":
            assert span.isna().all().all()
        elif row.kind == "stuck":
            values = span[row.variable].dropna()
            assert values.nunique() == 1 and len(values) >= 3
        elif row.kind == "sentinel":
            assert (span[row.variable] == -999.0).all()
    assert (df[list(POLLUTANTS)] == -999.0).sum().sum() == (log["kind"] == "sentinel").sum()


def test_clean_network_has_no_gaps() -> None:
    net = synthetic_network(3, "2015-01-01", "2015-01-10", quirks=NO_QUIRKS)
    assert not net.hourly.isna().any().any()
    assert net.quirks.empty


def test_magnus_dewpoint() -> None:
    np.testing.assert_allclose(
        dewpoint_degc(np.array([20.0]), np.array([100.0])), [20.0], atol=1e-9
    )
    np.testing.assert_allclose(dewpoint_degc(np.array([20.0]), np.array([50.0])), [9.26], atol=0.05)


def test_bad_requests_are_named() -> None:
    with pytest.raises(ValueError, match="n_stations"):
        synthetic_stations(0)
    with pytest.raises(ValueError, match="unknown variable"):
        synthetic_hourly(synthetic_stations(2), "2015-01-01", "2015-01-02", variables=["ozone"])
    with pytest.raises(ValueError, match="after start"):
        synthetic_hourly(synthetic_stations(2), "2015-01-02", "2015-01-01")
    with pytest.raises(ValueError, match="missing column 'urban'"):
        synthetic_hourly(
            pd.DataFrame({"station": ["a"], "lat": [40.0], "lon": [116.0], "elevation_m": [1.0]}),
            "2015-01-01",
            "2015-01-02",
        )


def test_large_network_station_table() -> None:
    stations = synthetic_stations(3000, seed=1)
    assert stations["station"].is_unique and len(stations) == 3000
    assert stations["urban"].between(0, 1).all()
    span_km = (stations["lat"].max() - stations["lat"].min()) * 111.2
    assert 500 < span_km < 1100
