"""Peak memory of interpolating a large gridded forecast to thousands of stations.

Writes a NetCDF forecast of several GB under /tmp (hourly, kilometre-scale grid, four
variables in ERA5/IFS names and units), then reads it through
``aqcast.service.sources.grid_dask`` and interpolates it to synthetic stations, and
reports the process's peak resident memory against the file size.

    .venv/bin/python benchmarks/bench_grid_memory.py --ny 1000 --nx 1000 --steps 168 \
        --stations 5000

The file is written time step by time step, so writing needs little memory too; it is
removed at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd

from aqcast.service.sources.grid_dask import grid_to_station_frames
from aqcast.synthetic import synthetic_stations

VARIABLES = {"t2m": "K", "blh": "m", "u10": "m s**-1", "v10": "m s**-1"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_grid(path: Path, ny: int, nx: int, steps: int, center=(39.9, 116.4)) -> None:
    """A forecast grid of ``ny`` x ``nx`` points at 0.01 deg (about 1 km), ``steps`` hours."""
    lat = center[0] + (np.arange(ny) - ny / 2) * 0.01
    lon = center[1] + (np.arange(nx) - nx / 2) * 0.01
    rng = np.random.default_rng(0)
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", steps)
        nc.createDimension("latitude", ny)
        nc.createDimension("longitude", nx)
        t = nc.createVariable("time", "i8", ("time",))
        t.units = "hours since 2015-06-01 00:00:00"
        t[:] = np.arange(steps)
        ref = nc.createVariable("forecast_reference_time", "i8", ())
        ref.units = "hours since 2015-06-01 00:00:00"
        ref.assignValue(0)
        nc.createVariable("latitude", "f8", ("latitude",))[:] = lat
        nc.createVariable("longitude", "f8", ("longitude",))[:] = lon
        out = {}
        for name, units in VARIABLES.items():
            v = nc.createVariable(
                name, "f4", ("time", "latitude", "longitude"), chunksizes=(1, ny, nx)
            )
            v.units = units
            out[name] = v
        yy, xx = np.meshgrid(lat - center[0], lon - center[1], indexing="ij")
        base = {
            "t2m": 295.0 - 0.7 * yy + 0.3 * xx,
            "blh": 800.0 + 200.0 * np.sin(3 * yy) * np.cos(2 * xx),
            "u10": 2.0 + np.cos(2 * yy),
            "v10": -1.0 + np.sin(2 * xx),
        }
        for k in range(steps):
            day = np.cos(2 * np.pi * (k + 8 - 15) / 24)
            noise = rng.standard_normal((ny, nx)).astype("f4")
            out["t2m"][k] = base["t2m"] + 5 * day + 0.3 * noise
            out["blh"][k] = np.maximum(base["blh"] * (1.2 + day) + 30 * noise, 50)
            out["u10"][k] = base["u10"] + 0.5 * noise
            out["v10"][k] = base["v10"] - 0.5 * noise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ny", type=int, default=1000)
    ap.add_argument("--nx", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=168)
    ap.add_argument("--stations", type=int, default=5000)
    ap.add_argument("--time-chunk", type=int, default=6)
    ap.add_argument("--block-steps", type=int, default=24)
    ap.add_argument("--path", default="/tmp/aqcast_bench_grid.nc")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    path = Path(args.path)

    t0 = time.perf_counter()
    if not path.exists():
        write_grid(path, args.ny, args.nx, args.steps)
    t_write = time.perf_counter() - t0
    size_mb = path.stat().st_size / 2**20
    rss_before = peak_rss_mb()

    stations = synthetic_stations(args.stations, seed=1, extent_km=0.8 * min(args.ny, args.nx))
    t0 = time.perf_counter()
    rows = 0
    for frame in grid_to_station_frames(
        path, stations, time_chunk=args.time_chunk, block_steps=args.block_steps
    ):
        rows += len(frame)
        assert frame["temp_air"].notna().all()
    t_interp = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(
        pd.Series(
            {
                "grid": f"{args.steps} h x {args.ny} x {args.nx} x {len(VARIABLES)} vars (float32)",
                "file_size_mb": round(size_mb),
                "write_s": round(t_write, 1),
                "stations": args.stations,
                "station_rows": rows,
                "interpolate_s": round(t_interp, 1),
                "peak_rss_before_read_mb": round(rss_before),
                "peak_rss_mb": round(peak),
                "peak_rss_over_file_size": round(peak / size_mb, 3),
                "cpus": os.cpu_count(),
            }
        ).to_string()
    )
    if not args.keep:
        path.unlink()


if __name__ == "__main__":
    main()
