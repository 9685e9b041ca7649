"""Weather forecast files: per-station CSV and gridded NetCDF interpolated to stations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aqcast.service.sources.errors import InputError
from aqcast.service.sources.met_files import read_met_forecast_csv, read_met_forecast_grid

STATIONS = pd.DataFrame({"station": ["A", "B"], "lat": [40.1, 39.8], "lon": [116.3, 116.7]})
LAT = np.array([40.5, 40.25, 40.0, 39.75])  # north to south, as ERA5 stores it
LON = np.array([116.0, 116.25, 116.5, 116.75])


def era5_like(tmp_path: Path) -> Path:
    """time (reference) x step (lead) x latitude x longitude, cfgrib/ERA5 names and units."""
    x = np.arange(4.0)[:, None]  # latitude index
    y = np.arange(4.0)[None, :]  # longitude index
    shape = (1, 3, 4, 4)
    t2m = np.stack([290.0 + x * y + k for k in range(3)])[None]
    tp = np.broadcast_to(np.array([0.001, 0.003, 0.006])[None, :, None, None], shape)
    dims = ("time", "step", "latitude", "longitude")
    ds = xr.Dataset(
        {
            "t2m": (dims, t2m, {"units": "K"}),
            "d2m": (dims, t2m - 10.0, {"units": "K"}),
            "tp": (dims, tp.copy(), {"units": "m"}),
            "u10": (dims, np.full(shape, 3.0), {"units": "m s**-1"}),
            "v10": (dims, np.full(shape, 4.0), {"units": "m s**-1"}),
            "sp": (dims, np.full(shape, 101_000.0), {"units": "Pa"}),
            "tcc": (dims, np.full(shape, 0.25), {"units": "(0 - 1)"}),
        },
        coords={
            "time": pd.to_datetime(["2015-06-01T00:00"]),
            "step": pd.to_timedelta([1, 2, 3], unit="h"),
            "latitude": LAT,
            "longitude": LON,
        },
    )
    path = tmp_path / "era5.nc"
    ds.to_netcdf(path)
    return path


def test_bilinear_matches_hand_computation(tmp_path):
    out = read_met_forecast_grid(era5_like(tmp_path), STATIONS, method="bilinear")
    a = out[out["station"] == "A"].reset_index(drop=True)
    # Station A: latitude index (40.5-40.1)/0.25 = 1.6, longitude index (116.3-116)/0.25 = 1.2.
    # Corners of x*y: (1,1)=1, (2,1)=2, (1,2)=2, (2,2)=4; weights 0.6 in x and 0.2 in y.
    xy = 0.4 * 0.8 * 1 + 0.6 * 0.8 * 2 + 0.4 * 0.2 * 2 + 0.6 * 0.2 * 4
    assert xy == pytest.approx(1.92)
    expected = [290.0 + xy + k - 273.15 for k in range(3)]
    np.testing.assert_allclose(a["temp_air"], expected, atol=1e-9)
    np.testing.assert_allclose(a["dewpoint"], np.array(expected) - 10.0, atol=1e-9)
    assert a["issued_at"].eq(pd.Timestamp("2015-06-01T00:00Z")).all()
    assert a["valid_at"].tolist() == list(pd.date_range("2015-06-01T01:00Z", periods=3, freq="h"))
    np.testing.assert_allclose(a["precipitation"], [1.0, 2.0, 3.0])  # de-accumulated, mm
    np.testing.assert_allclose(a["pressure"], 1010.0)
    np.testing.assert_allclose(a["cloud_cover"], 25.0)
    np.testing.assert_allclose(a["wind_speed"], 5.0)
    # u=3 (towards east), v=4 (towards north): the wind comes from the south-west.
    np.testing.assert_allclose(a["wind_direction"], 180 + np.degrees(np.arctan2(3, 4)))


def test_nearest_takes_the_closest_grid_point(tmp_path):
    out = read_met_forecast_grid(era5_like(tmp_path), STATIONS, method="nearest")
    b = out[out["station"] == "B"].reset_index(drop=True)
    # Station B (39.8, 116.7): nearest is latitude 39.75 (index 3), longitude 116.75 (index 3).
    np.testing.assert_allclose(b["temp_air"], [290.0 + 9 + k - 273.15 for k in range(3)])


def test_gfs_like_valid_time_with_reference_and_lat_lon_names(tmp_path):
    lat = np.array([39.5, 40.0, 40.5])
    lon = np.array([116.0, 116.5, 117.0])
    valid = pd.date_range("2015-06-01T06:00", periods=2, freq="h")
    temp = np.array([[[20.0, 22.0, 24.0], [21.0, 23.0, 25.0], [22.0, 24.0, 26.0]]] * 2)
    ds = xr.Dataset(
        {"temperature_2m": (("valid_time", "lat", "lon"), temp, {"units": "degC"})},
        coords={
            "valid_time": valid,
            "lat": lat,
            "lon": lon,
            "forecast_reference_time": pd.Timestamp("2015-06-01T00:00"),
        },
    )
    path = tmp_path / "gfs.nc"
    ds.to_netcdf(path)
    out = read_met_forecast_grid(path, STATIONS.iloc[:1], method="bilinear")
    # temp = 20 + 1 per latitude step + 2 per longitude step (0.5 degree steps);
    # A (40.1, 116.3) sits 1.2 latitude steps and 0.6 longitude steps from the corner.
    np.testing.assert_allclose(out["temp_air"], 20 + 1 * 1.2 + 2 * 0.6)
    assert out["issued_at"].eq(pd.Timestamp("2015-06-01T00:00Z")).all()
    assert out["valid_at"].iloc[0] == pd.Timestamp("2015-06-01T06:00Z")


def test_station_outside_grid_and_missing_reference(tmp_path):
    far = pd.DataFrame({"station": ["Z"], "lat": [30.0], "lon": [116.3]})
    with pytest.raises(InputError, match="outside the grid.*'Z'"):
        read_met_forecast_grid(era5_like(tmp_path), far)
    ds = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), np.zeros((1, 4, 4)), {"units": "K"})},
        coords={"time": pd.to_datetime(["2015-06-01"]), "latitude": LAT, "longitude": LON},
    )
    path = tmp_path / "noref.nc"
    ds.to_netcdf(path)
    with pytest.raises(InputError, match="reference time"):
        read_met_forecast_grid(path, STATIONS)


def test_grib_without_cfgrib_says_so(tmp_path):
    path = tmp_path / "f.grib2"
    path.write_bytes(b"GRIB")
    try:
        import cfgrib  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="cfgrib"):
            read_met_forecast_grid(path, STATIONS)
    else:
        with pytest.raises(InputError):
            read_met_forecast_grid(path, STATIONS)


def test_forecast_csv(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text(
        "station,issued_at,valid_at,temp_air,wind_speed\n"
        "A,2015-06-01T08:00+08:00,2015-06-02T14:00+08:00,31.5,2.0\n"
        "A,2015-06-01T08:00+08:00,2015-06-02T15:00+08:00,,2.5\n"
    )
    f = read_met_forecast_csv(p)
    assert f["issued_at"].iloc[0] == pd.Timestamp("2015-06-01T00:00Z")
    assert f["valid_at"].iloc[1] == pd.Timestamp("2015-06-02T07:00Z")
    assert f["temp_air"].iloc[0] == 31.5 and np.isnan(f["temp_air"].iloc[1])
    p.write_text(
        "station,issued_at,valid_at,o3\nA,2015-06-01T08:00+08:00,2015-06-02T14:00+08:00,1\n"
    )
    with pytest.raises(InputError, match="line 1, field 'o3'"):
        read_met_forecast_csv(p)


GRIB_LATS = np.arange(41.0, 38.99, -0.25)  # north to south, as a weather service writes it
GRIB_LONS = np.arange(115.5, 117.51, 0.25)


def grib_value(short: str, step: int, lat, lon):
    """A field linear in latitude and longitude (bilinear interpolation is then exact)."""
    base = {"2t": 290.0, "2d": 280.0, "10u": 3.0, "10v": -4.0, "sp": 101_000.0, "tp": 0.0}
    if short == "tp":  # accumulated since the run's start: 1 mm an hour [m]
        return np.zeros_like(lat * lon) + 0.001 * step
    return base[short] + step + 0.5 * (lat - 40.0) + 0.2 * (lon - 116.0)


def write_grib2(path: Path, steps=(0, 1, 2, 3)) -> Path:
    """A small GRIB2 file of a 12 UTC run written with ecCodes from its GRIB2 sample:
    2-m temperature and dew point, 10-m wind, surface pressure, total precipitation."""
    eccodes = pytest.importorskip("eccodes")
    lat2d, lon2d = np.meshgrid(GRIB_LATS, GRIB_LONS, indexing="ij")
    fields = [
        ("2t", "heightAboveGround", 2),
        ("2d", "heightAboveGround", 2),
        ("10u", "heightAboveGround", 10),
        ("10v", "heightAboveGround", 10),
        ("sp", "surface", 0),
        ("tp", "surface", 0),
    ]
    grid = {
        "Ni": len(GRIB_LONS),
        "Nj": len(GRIB_LATS),
        "latitudeOfFirstGridPointInDegrees": float(GRIB_LATS[0]),
        "longitudeOfFirstGridPointInDegrees": float(GRIB_LONS[0]),
        "latitudeOfLastGridPointInDegrees": float(GRIB_LATS[-1]),
        "longitudeOfLastGridPointInDegrees": float(GRIB_LONS[-1]),
        "iDirectionIncrementInDegrees": 0.25,
        "jDirectionIncrementInDegrees": 0.25,
        "dataDate": 20150601,
        "dataTime": 1200,
    }
    with path.open("wb") as fh:
        for step in steps:
            for short, level_type, level in fields:
                h = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
                for key, value in grid.items():
                    eccodes.codes_set(h, key, value)
                eccodes.codes_set(h, "typeOfLevel", level_type)
                eccodes.codes_set(h, "level", level)
                eccodes.codes_set(h, "shortName", short)
                eccodes.codes_set(h, "stepUnits", "h")
                if short == "tp":
                    eccodes.codes_set(h, "stepType", "accum")
                    eccodes.codes_set(h, "startStep", 0)
                    eccodes.codes_set(h, "endStep", step)
                else:
                    eccodes.codes_set(h, "step", step)
                eccodes.codes_set_values(h, grib_value(short, step, lat2d, lon2d).ravel())
                eccodes.codes_write(h, fh)
                eccodes.codes_release(h)
    return path


@pytest.mark.slow
def test_grib2_forecast_interpolated_to_stations(tmp_path):
    path = write_grib2(tmp_path / "ifs.grib2")
    out = read_met_forecast_grid(path, STATIONS, method="bilinear")
    assert len(out) == 2 * 4
    assert not list(tmp_path.glob("*.idx"))  # no index file left beside the input
    a = out[out["station"] == "A"].reset_index(drop=True)
    assert a["issued_at"].eq(pd.Timestamp("2015-06-01T12:00Z")).all()
    assert a["valid_at"].tolist() == list(pd.date_range("2015-06-01T12:00Z", periods=4, freq="h"))
    lat, lon = 40.1, 116.3
    steps = np.arange(4)
    np.testing.assert_allclose(a["temp_air"], grib_value("2t", steps, lat, lon) - 273.15, atol=1e-3)
    np.testing.assert_allclose(a["dewpoint"], grib_value("2d", steps, lat, lon) - 273.15, atol=1e-3)
    np.testing.assert_allclose(a["pressure"], grib_value("sp", steps, lat, lon) / 100.0, atol=0.02)
    u, v = grib_value("10u", steps, lat, lon), grib_value("10v", steps, lat, lon)
    np.testing.assert_allclose(a["wind_speed"], np.hypot(u, v), atol=1e-3)
    np.testing.assert_allclose(
        a["wind_direction"], np.mod(270 - np.degrees(np.arctan2(v, u)), 360), atol=0.05
    )
    # Accumulated precipitation becomes hourly amounts: 0 at the start, then 1 mm an hour.
    np.testing.assert_allclose(a["precipitation"], [0.0, 1.0, 1.0, 1.0], atol=1e-3)


@pytest.mark.slow
def test_ingest_met_forecast_command_reads_grib2(tmp_path, sqlite_url):
    from typer.testing import CliRunner

    from aqcast.service.cli import app
    from aqcast.service.ingest.stations import upsert_stations
    from aqcast.service.observations import load_met_forecasts
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    with engine.begin() as conn:
        upsert_stations(conn, ["A", "B"], STATIONS, source="test", label="stations")
    path = write_grib2(tmp_path / "run.grib2")
    r = CliRunner().invoke(app, ["ingest", "met-forecast", str(path)])
    assert r.exit_code == 0, r.output
    assert "8 forecast rows: 8 new" in r.output
    stored = load_met_forecasts(
        engine, "2015-06-02T00:00Z", "2015-06-01T12:00Z", "2015-06-01T16:00Z"
    )
    assert len(stored) == 8 and stored["temp_air"].notna().all()
    bad = tmp_path / "bad.grib2"
    bad.write_bytes(b"GRIB not really")
    r = CliRunner().invoke(app, ["ingest", "met-forecast", str(bad)])
    assert r.exit_code != 0 and "bad.grib2" in r.output and "Traceback" not in r.output
