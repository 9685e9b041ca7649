"""Gridded forecasts read lazily over Dask and interpolated to stations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aqcast.service.sources.errors import InputError
from aqcast.service.sources.grid_dask import (
    grid_to_station_frames,
    grid_to_stations,
    interpolate_to_stations,
    open_grid,
    station_weights,
)
from aqcast.service.sources.met_files import read_met_forecast_grid

ISSUED = pd.Timestamp("2015-06-01T00:00")
STATIONS = pd.DataFrame(
    {
        "station": ["A", "B", "C", "D"],
        "lat": [39.93, 40.217, 39.5, 40.999],
        "lon": [116.417, 116.23, 115.0, 117.4],
    }
)


def _temp_k(lat, lon, hours):
    """A field linear in latitude and longitude: bilinear interpolation is exact on it."""
    return (
        290.0
        + 0.5 * hours[:, None, None]
        - 3.0 * (lat[None, :, None] - 40.0)
        + 1.5 * (lon[None, None, :] - 116.0)
    )


def _write_grid(path: Path, *, descending_lat: bool = False, n_steps: int = 30) -> Path:
    lat = np.round(np.arange(39.0, 41.5 + 1e-9, 0.25), 3)
    lon = np.round(np.arange(114.5, 118.0 + 1e-9, 0.25), 3)
    hours = np.arange(n_steps, dtype=float)
    times = ISSUED + pd.to_timedelta(hours, unit="h")
    rng = np.random.default_rng(0)
    shape = (n_steps, len(lat), len(lon))
    ds = xr.Dataset(
        {
            "t2m": (("time", "latitude", "longitude"), _temp_k(lat, lon, hours), {"units": "K"}),
            "blh": (
                ("time", "latitude", "longitude"),
                rng.uniform(100, 2000, shape),
                {"units": "m"},
            ),
            "u10": (("time", "latitude", "longitude"), np.full(shape, 3.0), {"units": "m s**-1"}),
            "v10": (("time", "latitude", "longitude"), np.full(shape, -4.0), {"units": "m s**-1"}),
        },
        coords={
            "time": times,
            "latitude": lat,
            "longitude": lon,
            "forecast_reference_time": ISSUED,
        },
    )
    if descending_lat:
        ds = ds.isel(latitude=slice(None, None, -1))
    ds.to_netcdf(path)
    return path


@pytest.fixture
def grid_file(tmp_path: Path) -> Path:
    return _write_grid(tmp_path / "ifs.nc")


@pytest.mark.slow
def test_open_is_lazy_and_chunked_in_time(grid_file: Path) -> None:
    grid = open_grid(grid_file, time_chunk=8)
    assert set(grid.data_vars) == {"temp_air", "boundary_layer_height", "_u", "_v"}
    assert grid["temp_air"].chunks is not None
    assert grid["temp_air"].chunks[0] == (8, 8, 8, 6)
    at = interpolate_to_stations(grid, STATIONS)
    assert at["temp_air"].chunks is not None  # still nothing read
    assert at["temp_air"].dims == ("time", "station")


@pytest.mark.parametrize("descending", [False, True])
def test_bilinear_is_exact_on_a_linear_field(tmp_path: Path, descending: bool) -> None:
    path = _write_grid(tmp_path / "g.nc", descending_lat=descending)
    out = grid_to_stations(path, STATIONS, method="bilinear")
    assert list(out.columns[:3]) == ["station", "issued_at", "valid_at"]
    assert (out["issued_at"] == pd.Timestamp("2015-06-01T00:00Z")).all()
    hours = ((out["valid_at"] - out["issued_at"]) / pd.Timedelta(hours=1)).to_numpy()
    st = STATIONS.set_index("station").loc[out["station"]]
    expected = (
        290.0
        + 0.5 * hours
        - 3.0 * (st["lat"].to_numpy() - 40.0)
        + 1.5 * (st["lon"].to_numpy() - 116.0)
    ) - 273.15
    np.testing.assert_allclose(out["temp_air"], expected, atol=1e-9)
    np.testing.assert_allclose(out["wind_speed"], 5.0)
    # u=3 (towards east), v=-4 (towards south): the wind blows from the north-west quadrant
    # u = 3 m/s (towards east), v = -4 m/s (towards south): from the north-west quadrant
    np.testing.assert_allclose(out["wind_direction"], 360.0 - np.degrees(np.arctan2(3.0, 4.0)))


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_same_values_as_the_single_file_reader(grid_file: Path, method: str) -> None:
    ours = grid_to_stations(grid_file, STATIONS, method=method)
    reference = read_met_forecast_grid(grid_file, STATIONS, method=method)
    cols = ["station", "issued_at", "valid_at", "temp_air", "boundary_layer_height", "wind_speed"]
    pd.testing.assert_frame_equal(ours[cols], reference[cols], check_exact=False, atol=1e-6)


def test_nearest_takes_the_closest_grid_point() -> None:
    lat = np.array([39.0, 39.25, 39.5])
    lon = np.array([116.0, 116.25])
    idx, w = station_weights(lat, lon, np.array([39.2, 39.3]), np.array([116.1, 116.2]), "nearest")
    assert idx[:, 0].tolist() == [1 * 2 + 0, 1 * 2 + 1]
    assert w[:, 0].tolist() == [1.0, 1.0] and w[:, 1:].sum() == 0


def test_time_blocks_give_the_same_frame(grid_file: Path) -> None:
    blocks = list(grid_to_station_frames(grid_file, STATIONS, time_chunk=6, block_steps=7))
    assert len(blocks) == 5
    whole = grid_to_stations(grid_file, STATIONS)
    joined = pd.concat(blocks).sort_values(["station", "issued_at", "valid_at"], ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole)


def test_a_station_outside_the_grid_is_named(grid_file: Path) -> None:
    far = pd.concat([STATIONS, pd.DataFrame({"station": ["Z"], "lat": [45.0], "lon": [116.0]})])
    with pytest.raises(InputError, match="outside the grid.*'Z'"):
        grid_to_stations(grid_file, far)


def test_missing_file_and_unknown_method(grid_file: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        open_grid(tmp_path / "none.nc")
    with pytest.raises(InputError, match="method"):
        interpolate_to_stations(open_grid(grid_file), STATIONS, method="cubic")


def test_nan_corner_gives_nan_not_a_biased_value(tmp_path: Path) -> None:
    path = tmp_path / "holes.nc"
    _write_grid(path)
    ds = xr.load_dataset(path)
    ds["t2m"][:, 4, 7] = np.nan  # a corner of station A's cell (39.93 N, 116.417 E)
    ds.to_netcdf(tmp_path / "holes2.nc")
    out = grid_to_stations(tmp_path / "holes2.nc", STATIONS)
    assert out.loc[out["station"] == "A", "temp_air"].isna().all()
    assert out.loc[out["station"] == "D", "temp_air"].notna().all()
