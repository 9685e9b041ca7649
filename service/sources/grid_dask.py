"""Large gridded weather forecasts read over Dask: chunked, lazy, never loaded whole.

``read_met_forecast_grid`` (met_files.py) suits one forecast file for a district. A
province or a national centre has kilometre grids of many GB and thousands of stations;
here the files are opened as Dask arrays (``open_grid``), the variable names and units
are mapped by met_files' table (``NAMES``, ``_to_unit``: one mapping in the project),
and the interpolation to stations (``interpolate_to_stations``) runs block by block in
time: each task holds one time chunk of one variable on the full horizontal grid and
returns its values at the stations, so peak memory is a few chunks, whatever the size
of the files. ``grid_to_station_frames`` yields the ``station, issued_at, valid_at,
<weather vars>`` frame of met_forecasts a time block at a time.

Interpolation: bilinear in latitude/longitude between the four surrounding grid points
(NaN if one of them is NaN), or the nearest grid point.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr

from aqcast.features.nomenclature import MET_FORECAST_VARIABLES
from aqcast.service.sources.errors import InputError
from aqcast.service.sources.met_files import (
    LAT_NAMES,
    LON_NAMES,
    NAMES,
    U_NAMES,
    V_NAMES,
    _deaccumulate,
    _first,
    _time_axes,
    _to_unit,
    station_rows,
)

METHODS = ("bilinear", "nearest")


def open_grid(paths: Path | str | Sequence[Path | str], *, time_chunk: int = 24) -> xr.Dataset:
    """Open NetCDF forecast files lazily (Dask, ``time_chunk`` steps per chunk along the
    valid-time axis, the horizontal grid whole per chunk) and return the weather in the
    nomenclature's names and units, with wind as components ``_u``/``_v`` (m/s).

    Attributes ``lat``, ``lon``, ``valid_dim``, ``lead_dim`` name the grid's axes; the
    forecast reference time is the coordinate ``issued_at``."""
    files = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    label = str(files[0]) if len(files) == 1 else f"{files[0]} (+{len(files) - 1} files)"
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise InputError(missing[0], "file not found")
    try:
        if len(files) == 1:
            ds = xr.open_dataset(files[0], chunks={})
        else:
            ds = xr.open_mfdataset(files, chunks={}, combine="by_coords", parallel=False)
    except (OSError, ValueError) as exc:
        raise InputError(label, f"cannot open as a gridded dataset: {exc}") from exc
    lat, lon = _first(LAT_NAMES, ds.coords), _first(LON_NAMES, ds.coords)
    if lat is None or lon is None:
        raise InputError(label, f"no latitude/longitude coordinates ({LAT_NAMES}, {LON_NAMES})")
    valid_dim, lead, reference = _time_axes(ds, label)
    fields: dict[str, xr.DataArray] = {}
    for name, candidates in NAMES.items():
        var = _first(candidates, ds.data_vars)
        if var is None:
            continue
        da = ds[var]
        if name in ("precipitation", "shortwave_radiation") and var in ("tp", "ssrd", "apcp"):
            da = _deaccumulate(da, lead)
        fields[name] = _to_unit(da, name, label)
    u, v = _first(U_NAMES, ds.data_vars), _first(V_NAMES, ds.data_vars)
    if u is not None and v is not None:
        fields["_u"] = _to_unit(ds[u], "wind", label)
        fields["_v"] = _to_unit(ds[v], "wind", label)
    if not fields:
        raise InputError(label, "no known weather variable", value=sorted(map(str, ds.data_vars)))
    grid = xr.Dataset(fields).sortby([lat, lon])
    grid = grid.chunk({valid_dim: time_chunk, lat: -1, lon: -1})
    grid = grid.assign_coords(issued_at=reference)
    grid.attrs.update(lat=lat, lon=lon, valid_dim=valid_dim, lead_dim=lead or "", source=label)
    return grid


def _axis_weights(axis: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and weight of the upper neighbour of each point on an ascending axis."""
    i0 = np.clip(np.searchsorted(axis, points, side="right") - 1, 0, len(axis) - 2)
    step = axis[i0 + 1] - axis[i0]
    w = np.clip((points - axis[i0]) / step, 0.0, 1.0)
    return i0, w


def station_weights(
    grid_lat: np.ndarray, grid_lon: np.ndarray, lat: np.ndarray, lon: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Flat grid indices (n_stations, 4) and weights (n_stations, 4) of each station's
    interpolation on an ascending lat/lon grid (nearest: one index with weight 1)."""
    nx = len(grid_lon)
    i0, wy = _axis_weights(grid_lat, lat)
    j0, wx = _axis_weights(grid_lon, lon)
    if method == "nearest":
        i = np.where(wy >= 0.5, i0 + 1, i0)
        j = np.where(wx >= 0.5, j0 + 1, j0)
        idx = np.repeat((i * nx + j)[:, None], 4, axis=1)
        weights = np.zeros((len(lat), 4))
        weights[:, 0] = 1.0
        return idx, weights
    idx = np.stack([i0 * nx + j0, i0 * nx + j0 + 1, (i0 + 1) * nx + j0, (i0 + 1) * nx + j0 + 1], 1)
    weights = np.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], 1)
    return idx, weights


def _apply_weights(block: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(..., ny, nx) block -> (..., n_stations); NaN when a used corner is NaN."""
    flat = block.reshape(*block.shape[:-2], -1)
    corners = flat[..., idx]  # (..., n_stations, 4)
    used = weights > 0
    bad = np.any(np.isnan(corners) & used, axis=-1)
    out = np.sum(np.where(used, corners, 0.0) * weights, axis=-1)
    return np.where(bad, np.nan, out)


def interpolate_to_stations(
    grid: xr.Dataset, stations: pd.DataFrame, method: str = "bilinear"
) -> xr.Dataset:
    """The grid's variables at the stations (``station, lat, lon``): a lazy Dataset with
    the grid's time dimensions and ``station`` (codes as coordinate), wind as speed [m/s]
    and direction [deg, from which it blows]. Nothing is read until it is computed."""
    label = grid.attrs.get("source", "grid")
    if method not in METHODS:
        raise InputError(label, f"method must be one of {METHODS}", value=method)
    lat_name, lon_name = grid.attrs["lat"], grid.attrs["lon"]
    glat = grid[lat_name].to_numpy().astype(float)
    glon = grid[lon_name].to_numpy().astype(float)
    slat = stations["lat"].to_numpy(dtype=float)
    slon = stations["lon"].to_numpy(dtype=float)
    if glon.min() >= 0 and glon.max() > 180:
        slon = np.mod(slon, 360.0)  # 0..360 grids (GFS)
    outside = (slat < glat[0]) | (slat > glat[-1]) | (slon < glon[0]) | (slon > glon[-1])
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(
            label,
            "station lies outside the grid",
            field="station",
            value=str(stations["station"].iloc[i]),
        )
    idx, weights = station_weights(glat, glon, slat, slon, method)
    out = {}
    for name, da in grid.data_vars.items():
        out[name] = xr.apply_ufunc(
            _apply_weights,
            da,
            kwargs={"idx": idx, "weights": weights},
            input_core_dims=[[lat_name, lon_name]],
            output_core_dims=[["station"]],
            dask="parallelized",
            output_dtypes=[float],
            dask_gufunc_kwargs={"output_sizes": {"station": len(stations)}},
        )
    at = xr.Dataset(out).assign_coords(station=stations["station"].astype(str).to_numpy())
    if "_u" in at:
        u10, v10 = at["_u"], at["_v"]
        at["wind_speed"] = np.hypot(u10, v10)
        at["wind_direction"] = np.mod(270.0 - np.degrees(np.arctan2(v10, u10)), 360.0)
        at = at.drop_vars(["_u", "_v"])
    at.attrs = dict(grid.attrs)
    return at


def _frame(at: xr.Dataset) -> pd.DataFrame:
    valid_dim, lead = at.attrs["valid_dim"], at.attrs["lead_dim"] or None
    names = [n for n in MET_FORECAST_VARIABLES if n in at]
    frame = at[names].drop_vars([c for c in at.coords if c not in at.dims], errors="ignore")
    frame = frame.to_dataframe().reset_index()
    issued_vals = np.atleast_1d(at["issued_at"].values)
    if lead is not None:
        issued = (
            pd.to_datetime(frame["time"])
            if "time" in frame
            else pd.Series(issued_vals[0], index=frame.index)
        )
        valid = pd.to_datetime(issued) + pd.to_timedelta(frame[lead])
    else:
        valid = pd.to_datetime(frame[valid_dim])
        issued = pd.Series(pd.DatetimeIndex(issued_vals).max(), index=frame.index)
    out = station_rows(frame, issued, valid, names)
    return out.sort_values(["station", "issued_at", "valid_at"], ignore_index=True)


def grid_to_station_frames(
    paths: Path | str | Sequence[Path | str],
    stations: pd.DataFrame,
    *,
    method: str = "bilinear",
    time_chunk: int = 24,
    block_steps: int | None = None,
    scheduler: str | None = "threads",
) -> Iterator[pd.DataFrame]:
    """Forecast frames ``station, issued_at, valid_at, <weather vars>`` (UTC) for the
    stations, ``block_steps`` valid times at a time (default: all at once). ``scheduler``
    is a Dask scheduler name, or None for the active ``distributed`` client."""
    grid = open_grid(paths, time_chunk=time_chunk)
    at = interpolate_to_stations(grid, stations, method)
    dim = at.attrs["valid_dim"]
    n = at.sizes[dim]
    step = block_steps or n
    for i in range(0, n, step):
        part = at.isel({dim: slice(i, i + step)})
        part = part.compute(scheduler=scheduler) if scheduler else dask.compute(part)[0]
        yield _frame(part)


def grid_to_stations(
    paths: Path | str | Sequence[Path | str],
    stations: pd.DataFrame,
    *,
    method: str = "bilinear",
    time_chunk: int = 24,
    scheduler: str | None = "threads",
) -> pd.DataFrame:
    """All of :func:`grid_to_station_frames` as one frame."""
    return pd.concat(
        list(
            grid_to_station_frames(
                paths, stations, method=method, time_chunk=time_chunk, scheduler=scheduler
            )
        ),
        ignore_index=True,
    )
