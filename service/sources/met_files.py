"""Weather forecast files: per-station CSV, and gridded NetCDF or GRIB (GRIB1/GRIB2 through
cfgrib and the ecCodes library, both installed from their wheels).

CSV: ``station, issued_at, valid_at`` (ISO 8601 with offset) and any of the weather
variables of docs/nomenclature.md in its units.

Grids (ERA5/IFS/GFS-like) are opened lazily with xarray and interpolated to the station
coordinates (bilinear in latitude/longitude, or the nearest grid point). Recognised names:

============================  =================================================  ==========
nomenclature                  grid names                                         conversion
============================  =================================================  ==========
temp_air                      t2m, 2t, temperature_2m, tas, tmp2m                K -> degC
dewpoint                      d2m, 2d, dewpoint_2m, dpt2m                        K -> degC
relative_humidity             r2, rh2m, relative_humidity_2m, rh                 0-1 -> %
pressure                      sp, surface_pressure, pres, msl (fallback)         Pa -> hPa
precipitation                 tp, precipitation, apcp, prate                     m -> mm
wind_speed, wind_direction    u10/v10, 10u/10v, ugrd10m/vgrd10m (interpolated
                              as components, then speed and direction)
shortwave_radiation           ssrd, dswrf, shortwave_radiation                   J/m2 -> W/m2
cloud_cover                   tcc, cloud_cover, tcdc                             0-1 -> %
boundary_layer_height         blh, hpbl, boundary_layer_height                   m
============================  =================================================  ==========

Units follow each variable's ``units`` attribute. Mean-sea-level pressure is used for
``pressure`` only when no surface pressure is present (it differs by ~1 hPa per 8 m of
station height). Precipitation and radiation given as accumulations since the start of
the forecast (a ``step`` dimension, or ``GRIB_stepType = accum``) are turned into hourly
amounts by differencing along the lead time.

Time: ``time`` + ``step`` (reference time and lead, as cfgrib and ERA5 forecasts give it),
or ``valid_time``/``time`` with a reference time in a coordinate or variable
``forecast_reference_time``/``reference_time`` (or a scalar ``time`` beside a
``valid_time`` dimension). The reference time is stored as ``issued_at``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from aqcast.features.nomenclature import MET_FORECAST_VARIABLES
from aqcast.service.sources.canonical import _read_table, parse_numbers, parse_times
from aqcast.service.sources.errors import InputError, require_columns

CSV_KEYS = ["station", "issued_at", "valid_at"]
GRIB_SUFFIXES = {".grib", ".grib2", ".grb", ".grb2"}

NAMES: dict[str, list[str]] = {
    "temp_air": ["t2m", "2t", "temperature_2m", "tas", "tmp2m"],
    "dewpoint": ["d2m", "2d", "dewpoint_2m", "dpt2m"],
    "relative_humidity": ["r2", "rh2m", "relative_humidity_2m", "rh"],
    "pressure": ["sp", "surface_pressure", "pres", "msl"],
    "precipitation": ["tp", "precipitation", "apcp", "prate"],
    "shortwave_radiation": ["ssrd", "dswrf", "shortwave_radiation"],
    "cloud_cover": ["tcc", "cloud_cover", "tcdc"],
    "boundary_layer_height": ["blh", "hpbl", "boundary_layer_height"],
}
U_NAMES = ["u10", "10u", "ugrd10m", "wind_u_10m"]
V_NAMES = ["v10", "10v", "vgrd10m", "wind_v_10m"]
LAT_NAMES = ["latitude", "lat"]
LON_NAMES = ["longitude", "lon"]
REFERENCE_NAMES = ["forecast_reference_time", "reference_time", "analysis_time"]


def read_met_forecast_csv(path: Path) -> pd.DataFrame:
    """Per-station forecasts -> ``station, issued_at, valid_at, <weather vars>`` (UTC)."""
    path = Path(path)
    label = str(path)
    df = _read_table(path)
    require_columns(label, df.columns, CSV_KEYS)
    unknown = [c for c in df.columns if c not in CSV_KEYS and c not in MET_FORECAST_VARIABLES]
    if unknown:
        raise InputError(
            label,
            f"unknown column(s) {unknown}; weather variables are {MET_FORECAST_VARIABLES}",
            line=1,
            field=unknown[0],
        )
    out = pd.DataFrame({"station": df["station"].astype(str).str.strip()})
    out["issued_at"] = parse_times(df, "issued_at", label).reset_index(drop=True)
    out["valid_at"] = parse_times(df, "valid_at", label).reset_index(drop=True)
    for col in [c for c in df.columns if c in MET_FORECAST_VARIABLES]:
        out[col] = parse_numbers(df, col, label).to_numpy()
    return out


def _first(names: list[str], available) -> str | None:
    return next((n for n in names if n in available), None)


def _open(path: Path, label: str) -> xr.Dataset:
    if not path.is_file():
        raise InputError(label, "file not found")
    if path.suffix.lower() in GRIB_SUFFIXES:
        if importlib.util.find_spec("cfgrib") is None:
            raise InputError(
                label,
                "GRIB needs the cfgrib package and the ecCodes library, which are not "
                "installed here (pip install cfgrib eccodes); convert to NetCDF or install them",
            )
        return _open_grib(path, label)
    try:
        return xr.open_dataset(path, engine=None, chunks={})
    except (OSError, ValueError) as exc:
        raise InputError(label, f"cannot open as a gridded dataset: {exc}") from exc


GRIB_KEEP_COORDS = {"time", "step", "valid_time", "latitude", "longitude"}


def _open_grib(path: Path, label: str) -> xr.Dataset:
    """A GRIB file as one dataset. A weather service's file mixes levels (2-m
    temperature, 10-m wind, surface fields), which cfgrib reads as one dataset per kind
    of level; their level coordinates are dropped and the fields merged. No index file
    is written beside the input."""
    import cfgrib

    try:
        with xr.set_options(use_new_combine_kwarg_defaults=True):
            parts = cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": ""})
    except Exception as exc:  # cfgrib/ecCodes raise their own types for a bad file
        raise InputError(label, f"cannot read as GRIB: {exc}") from exc
    if not parts:
        raise InputError(label, "no GRIB messages in the file")
    cleaned = [
        d.drop_vars([c for c in d.coords if c not in GRIB_KEEP_COORDS and d[c].ndim == 0])
        for d in parts
    ]
    try:
        return xr.merge(cleaned, compat="override", join="outer", combine_attrs="drop_conflicts")
    except ValueError as exc:
        raise InputError(label, f"cannot combine the GRIB fields: {exc}") from exc


def _units(da: xr.DataArray) -> str:
    return str(da.attrs.get("units", "")).strip()


def _to_unit(da: xr.DataArray, name: str, label: str) -> xr.DataArray:
    """Convert one grid variable to the nomenclature's unit using its units attribute."""
    u = _units(da).replace("**", "").replace("^", "")
    lower = u.lower()
    if name in ("temp_air", "dewpoint"):
        if lower in ("k", "kelvin"):
            return da - 273.15
        if lower in ("degc", "c", "°c", "deg_c", "celsius", "degrees_celsius"):
            return da
    elif name == "pressure":
        if lower == "pa":
            return da / 100.0
        if lower in ("hpa", "mbar", "mb"):
            return da
    elif name == "precipitation":
        if lower == "m":
            return da * 1000.0
        if lower in ("mm", "kg m-2", "kg/m2", "kg m-2 h-1"):
            return da
        if lower in ("kg m-2 s-1", "mm/s", "mm s-1"):
            return da * 3600.0
    elif name == "shortwave_radiation":
        if lower in ("w m-2", "w/m2", "w m**-2"):
            return da
        if lower in ("j m-2", "j/m2"):
            return da / 3600.0  # an hourly accumulation, after differencing
    elif name in ("relative_humidity", "cloud_cover"):
        if lower in ("%", "percent"):
            return da
        if lower in ("1", "(0 - 1)", "0-1", "fraction", "", "dimensionless"):
            return da * 100.0
    elif name == "boundary_layer_height":
        if lower == "m":
            return da
        if lower == "km":
            return da * 1000.0
    elif name == "wind":
        if lower in ("m s-1", "m/s", "ms-1"):
            return da
        if lower in ("km/h", "km h-1"):
            return da / 3.6
    raise InputError(label, f"unknown units for {name}", field=da.name, value=u)


def _time_axes(ds: xr.Dataset, label: str) -> tuple[str, str | None, xr.DataArray]:
    """(valid-time dim, lead dim or None, reference time) of a forecast grid."""
    if "step" in ds.dims and "time" in ds.coords:
        return "step", "step", ds["time"]
    ref_name = _first(REFERENCE_NAMES, ds.variables)
    for dim in ("valid_time", "time"):
        if dim in ds.dims:
            if ref_name is not None:
                return dim, None, ds[ref_name]
            if dim == "valid_time" and "time" in ds.coords and ds["time"].ndim == 0:
                return dim, None, ds["time"]
            raise InputError(
                label,
                "no forecast reference time (expected time+step, or a "
                f"{'/'.join(REFERENCE_NAMES)} coordinate)",
                field=dim,
            )
    raise InputError(label, "no time dimension (time, valid_time or step)")


def _accumulated(da: xr.DataArray, lead: str | None) -> bool:
    return lead is not None or da.attrs.get("GRIB_stepType") == "accum"


def _deaccumulate(da: xr.DataArray, lead: str | None) -> xr.DataArray:
    """Hourly amounts from amounts accumulated since the forecast start (along ``lead``)."""
    if lead is None:
        return da
    first = da.isel({lead: slice(0, 1)})
    return xr.concat([first, da.diff(lead)], dim=lead).clip(min=0)


def read_met_forecast_grid(
    path: Path, stations: pd.DataFrame, method: str = "bilinear"
) -> pd.DataFrame:
    """Interpolate a gridded forecast to stations (``station, lat, lon``).

    Returns ``station, issued_at, valid_at, <weather vars>`` with times tz-aware UTC.
    ``method`` is ``"bilinear"`` (linear in latitude and longitude) or ``"nearest"``.
    """
    path = Path(path)
    label = str(path)
    if method not in ("bilinear", "nearest"):
        raise InputError(label, "method must be bilinear or nearest", value=method)
    ds = _open(path, label)
    lat = _first(LAT_NAMES, ds.coords)
    lon = _first(LON_NAMES, ds.coords)
    if lat is None or lon is None:
        raise InputError(
            label, f"no latitude/longitude coordinates (looked for {LAT_NAMES}, {LON_NAMES})"
        )
    valid_dim, lead, reference = _time_axes(ds, label)

    fields: dict[str, xr.DataArray] = {}
    for name, candidates in NAMES.items():
        var = _first(candidates, ds.data_vars)
        if var is None:
            continue
        da = ds[var]
        if name in ("precipitation", "shortwave_radiation") and var != "prate":
            if _accumulated(da, lead) and var in ("tp", "ssrd", "apcp"):
                da = _deaccumulate(da, lead)
        fields[name] = _to_unit(da, name, label)
    u, v = _first(U_NAMES, ds.data_vars), _first(V_NAMES, ds.data_vars)
    if u is not None and v is not None:
        fields["_u"] = _to_unit(ds[u], "wind", label)
        fields["_v"] = _to_unit(ds[v], "wind", label)
    if not fields:
        raise InputError(
            label, "no known weather variable in the file", value=sorted(map(str, ds.data_vars))
        )

    grid = xr.Dataset(fields).sortby([lat, lon])
    lons = stations["lon"].to_numpy(dtype=float)
    grid_lon = grid[lon].values
    if grid_lon.min() >= 0 and grid_lon.max() > 180:
        lons = np.mod(lons, 360.0)  # 0..360 grids (GFS)
    points = {
        lat: xr.DataArray(stations["lat"].to_numpy(dtype=float), dims="station"),
        lon: xr.DataArray(lons, dims="station"),
    }
    lat_ok = (points[lat] >= grid[lat].min()) & (points[lat] <= grid[lat].max())
    lon_ok = (points[lon] >= grid[lon].min()) & (points[lon] <= grid[lon].max())
    outside = ~(lat_ok & lon_ok).values
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(
            label,
            "station lies outside the grid",
            field="station",
            value=str(stations["station"].iloc[i]),
        )
    if method == "nearest":
        at = grid.sel(points, method="nearest")
    else:
        at = grid.interp(points, method="linear")
    at = at.compute()

    if "_u" in at:
        u10, v10 = at["_u"], at["_v"]
        at["wind_speed"] = np.hypot(u10, v10)
        # Direction the wind blows from, clockwise from north.
        at["wind_direction"] = np.mod(270.0 - np.degrees(np.arctan2(v10, u10)), 360.0)
        at = at.drop_vars(["_u", "_v"])

    names = [n for n in MET_FORECAST_VARIABLES if n in at]
    frame = at[names].to_dataframe().reset_index()
    codes = stations["station"].astype(str).to_numpy()
    frame["station"] = codes[frame["station"].to_numpy()]
    ref = pd.to_datetime(reference.values)
    if lead is not None:
        if "time" in frame.columns:
            issued = pd.to_datetime(frame["time"])
        else:
            one = pd.DatetimeIndex(np.atleast_1d(ref))[0]
            issued = pd.Series(one, index=frame.index)
        valid = issued + pd.to_timedelta(frame["step"])
    else:
        valid = pd.to_datetime(frame[valid_dim])
        issued = pd.Series(pd.DatetimeIndex(np.atleast_1d(ref)).max(), index=frame.index)
    out = station_rows(frame, issued, valid, names)
    ds.close()
    return out.sort_values(["station", "issued_at", "valid_at"], ignore_index=True)


def station_rows(frame: pd.DataFrame, issued, valid, names: list[str]) -> pd.DataFrame:
    """Interpolated grid values (``frame``: a ``station`` column and one per variable)
    as met_forecasts rows; ``issued``/``valid`` are naive UTC times per row."""
    out = pd.DataFrame(
        {
            "station": frame["station"].astype(str),
            "issued_at": pd.DatetimeIndex(issued).tz_localize("UTC").as_unit("ns"),
            "valid_at": pd.DatetimeIndex(valid).tz_localize("UTC").as_unit("ns"),
        }
    )
    for n in names:
        out[n] = frame[n].to_numpy(dtype=float)
    return out
