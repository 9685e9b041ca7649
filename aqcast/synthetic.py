"""Synthetic station networks for scale tests: any number of stations, years of hours.

The generator makes the canonical hourly frame (``station``, ``time`` UTC, one float
column per variable of the nomenclature) from a small set of physical relations, so that
the scale benchmarks and the distributed training run on data that behaves like the real
network, not on white noise:

- weather drivers are spatially smooth random fields (random Fourier features, so the
  correlation between two stations falls off with their distance) that evolve in time as
  AR(1) processes with synoptic time scales;
- temperature follows the annual and diurnal cycles, radiation follows the sun
  (Haurwitz clear sky) dimmed by cloud (Kasten-Czeplak), dew point comes from relative
  humidity (Magnus), the boundary layer grows with radiation and wind;
- PM2.5 accumulates from emissions (more in winter, from heating, and at traffic hours)
  into the mixing layer and is removed by ventilation (wind speed x boundary layer height)
  and rain; humid air adds secondary aerosol, so PM builds in stagnant humid spells;
- O3 is produced in sunlight, faster in heat, and lost at night by titration (more in
  urban stations, where NO2 is higher) and deposition;
- sensor quirks are injected afterwards and logged: missing hours, outages of days, stuck
  sensors, single-hour spikes and sentinel values out of physical range.

Everything is deterministic for a given seed, and a station's series does not depend on
which other stations are generated with it (``iter_synthetic_hourly`` chunks freely).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from aqcast.features import feature_table as ft
from aqcast.features.daily import area_daily_statistics, daily_statistics
from aqcast.features.nomenclature import POLLUTANTS, WEATHER
from aqcast.features.places import DEFAULT_AREA
from aqcast.features.qc import VALID, quality_flags

EARTH_KM_PER_DEG = 111.2
HOURS_PER_YEAR = 8766.0

# Drivers: name -> (correlation length [km], time scale [h]).
_DRIVERS: dict[str, tuple[float, float]] = {
    "temp": (900.0, 72.0),  # synoptic temperature anomaly
    "vent": (600.0, 36.0),  # ventilation (wind) anomaly: fronts clear the air
    "moist": (600.0, 48.0),  # humidity anomaly
    "cloud": (250.0, 10.0),  # cloud anomaly
    "wdir": (400.0, 24.0),  # wind direction wobble
    "local": (25.0, 8.0),  # mesoscale pollution anomaly (nearby stations share it)
}
_N_FEATURES = 96


@dataclass(frozen=True)
class QuirkRates:
    """How often each sensor quirk is injected, per station (and per variable where named)."""

    missing_hour: float = 0.01  # fraction of single hours missing, per variable
    outage_per_year: float = 2.0  # whole-station outages of 1-10 days
    stuck_per_year: float = 3.0  # runs of 6-48 identical values in one variable
    spike_per_year: float = 4.0  # single-hour spikes (x4-x8) in one pollutant
    sentinel_per_year: float = 1.0  # -999 written by a logger for a missing value


NO_QUIRKS = QuirkRates(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass
class SyntheticNetwork:
    """Stations (``station,name,lat,lon,elevation_m,urban``), their hourly frame and the
    log of injected quirks (``station,variable,kind,start,end``, UTC, end exclusive)."""

    stations: pd.DataFrame
    hourly: pd.DataFrame
    quirks: pd.DataFrame = field(default_factory=pd.DataFrame)


def _station_key(code: str) -> int:
    return zlib.crc32(code.encode("utf-8"))


def synthetic_stations(
    n_stations: int,
    *,
    seed: int = 0,
    center_lat: float = 39.9,
    center_lon: float = 116.4,
    extent_km: float | None = None,
) -> pd.DataFrame:
    """A network of ``n_stations`` clustered around cities, like real monitoring networks.

    ``extent_km`` is the side of the square region (default grows with the network:
    60 km for 12 stations, about 600 km for 1,200). ``urban`` (0-1) is how close a station
    is to a city centre; ``elevation_m`` rises away from the cities.
    """
    if n_stations < 1:
        raise ValueError(f"n_stations must be at least 1 (value {n_stations!r})")
    rng = np.random.default_rng([seed, 7])
    extent = float(extent_km or 60.0 * np.sqrt(n_stations / 12.0))
    n_cities = max(1, int(round(n_stations / 40)))
    cities = rng.uniform(-0.4, 0.4, size=(n_cities, 2)) * extent
    cities[0] = 0.0  # the first city sits at the centre
    clustered = rng.random(n_stations) < 0.7
    which = rng.integers(0, n_cities, size=n_stations)
    xy = np.where(
        clustered[:, None],
        cities[which] + rng.normal(0.0, 8.0, size=(n_stations, 2)),
        rng.uniform(-0.5, 0.5, size=(n_stations, 2)) * extent,
    )
    d_city = np.min(
        np.hypot(xy[:, None, 0] - cities[None, :, 0], xy[:, None, 1] - cities[None, :, 1]), axis=1
    )
    urban = np.exp(-d_city / 15.0)
    elevation = 30.0 + 300.0 * (1.0 - urban) * rng.random(n_stations) ** 2
    lat = center_lat + xy[:, 1] / EARTH_KM_PER_DEG
    lon = center_lon + xy[:, 0] / (EARTH_KM_PER_DEG * np.cos(np.radians(center_lat)))
    width = max(4, len(str(n_stations)))
    codes = [f"S{i:0{width}d}" for i in range(1, n_stations + 1)]
    return pd.DataFrame(
        {
            "station": codes,
            "name": [f"Synthetic {c}" for c in codes],
            "lat": np.round(lat, 5),
            "lon": np.round(lon, 5),
            "elevation_m": np.round(elevation, 1),
            "urban": np.round(urban, 4),
        }
    )


def _hours(start: pd.Timestamp | str, end: pd.Timestamp | str) -> pd.DatetimeIndex:
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    s = s.tz_localize("UTC") if s.tzinfo is None else s.tz_convert("UTC")
    e = e.tz_localize("UTC") if e.tzinfo is None else e.tz_convert("UTC")
    if e <= s:
        raise ValueError(f"end {e} must be after start {s}")
    return pd.date_range(s.ceil("h"), e, freq="h", inclusive="left", unit="ns")


def _ar1(rng: np.random.Generator, n_hours: int, n: int, tau_h: float) -> np.ndarray:
    """Unit-variance AR(1) series (n_hours, n) with e-folding time ``tau_h`` hours,
    started in its stationary distribution."""
    phi = np.exp(-1.0 / tau_h)
    first = rng.standard_normal(n)
    innovations = rng.standard_normal((n_hours, n)) * np.sqrt(1.0 - phi**2)
    out, _ = lfilter([1.0], [1.0, -phi], innovations, axis=0, zi=(phi * first)[None, :])
    return out


class _Drivers:
    """Spatially smooth, temporally red random fields, fixed by the seed and the hours."""

    def __init__(self, seed: int, hours: pd.DatetimeIndex) -> None:
        self.parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for k, (name, (length_km, tau_h)) in enumerate(_DRIVERS.items()):
            rng = np.random.default_rng([seed, 100 + k])
            w = rng.standard_normal((_N_FEATURES, 2)) / length_km
            b = rng.uniform(0.0, 2.0 * np.pi, _N_FEATURES)
            a = _ar1(rng, len(hours), _N_FEATURES, tau_h)
            self.parts[name] = (w, b, a)

    def at(self, name: str, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The field at the stations: (n_hours, n_stations), unit variance,
        correlation ~ exp(-d^2 / 2 L^2) between stations d km apart."""
        w, b, a = self.parts[name]
        # Local equirectangular km: distances hold within a region, which is all that
        # matters for correlation lengths of at most a thousand kilometres.
        y = lat * EARTH_KM_PER_DEG
        x = lon * EARTH_KM_PER_DEG * np.cos(np.radians(lat))
        phi = np.sqrt(2.0 / _N_FEATURES) * np.cos(
            np.outer(w[:, 0], x) + np.outer(w[:, 1], y) + b[:, None]
        )
        return a @ phi


def solar_elevation_sin(
    times: pd.DatetimeIndex, lat_deg: np.ndarray, lon_deg: np.ndarray
) -> np.ndarray:
    """Sine of the solar elevation (n_hours, n_stations) at the middle of each hour.

    Cooper's declination and the hour angle from UTC and longitude (no equation of time:
    a quarter-hour error is irrelevant for synthetic data)."""
    doy = times.day_of_year.to_numpy(float)
    utc_h = times.hour.to_numpy(float) + 0.5
    decl = np.radians(23.44) * np.sin(2.0 * np.pi * (284.0 + doy) / 365.0)
    hour_angle = np.radians((utc_h[:, None] + lon_deg[None, :] / 15.0 - 12.0) * 15.0)
    lat = np.radians(lat_deg)[None, :]
    return np.sin(lat) * np.sin(decl)[:, None] + np.cos(lat) * np.cos(decl)[:, None] * np.cos(
        hour_angle
    )


def clear_sky_ghi_wm2(sin_elevation: np.ndarray) -> np.ndarray:
    """Haurwitz clear-sky global horizontal irradiance [W/m2] from sin(solar elevation)."""
    s = np.clip(sin_elevation, 1e-6, None)
    return np.where(sin_elevation > 0.0, 1098.0 * s * np.exp(-0.057 / s), 0.0)


def cloudy_ghi_wm2(clear_ghi_wm2: np.ndarray, cloud_cover_pct: np.ndarray) -> np.ndarray:
    """Kasten-Czeplak (1980) cloud attenuation of global irradiance [W/m2]."""
    return clear_ghi_wm2 * (1.0 - 0.75 * (cloud_cover_pct / 100.0) ** 3.4)


def dewpoint_degc(temp_air_degc: np.ndarray, relative_humidity_pct: np.ndarray) -> np.ndarray:
    """Dew point [degC] from air temperature [degC] and relative humidity [%] (Magnus)."""
    b, c = 17.62, 243.12
    g = np.log(np.clip(relative_humidity_pct, 1.0, 100.0) / 100.0) + b * temp_air_degc / (
        c + temp_air_degc
    )
    return c * g / (b - g)


def _local_clock(times: pd.DatetimeIndex, tz: str) -> tuple[np.ndarray, np.ndarray]:
    local = times.tz_convert(tz)
    hour = local.hour.to_numpy(float)
    season = 2.0 * np.pi * (local.day_of_year.to_numpy(float) - 20.0) / 365.25  # 0 at mid-January
    return hour, season


def _generate_chunk(
    stations: pd.DataFrame, hours: pd.DatetimeIndex, drivers: _Drivers, seed: int, tz: str
) -> dict[str, np.ndarray]:
    lat = stations["lat"].to_numpy(float)
    lon = stations["lon"].to_numpy(float)
    urban = stations["urban"].to_numpy(float)[None, :]
    elev = stations["elevation_m"].to_numpy(float)[None, :]
    n_h, n_s = len(hours), len(stations)
    noise = np.empty((n_h, n_s))
    for j, code in enumerate(stations["station"]):
        noise[:, j] = np.random.default_rng([seed, _station_key(code), 0]).standard_normal(n_h)
    z = {name: drivers.at(name, lat, lon) for name in _DRIVERS}
    hour, season = _local_clock(hours, tz)
    hour, season = hour[:, None], season[:, None]
    winter = 0.5 * (1.0 + np.cos(season))  # 1 in mid-January, 0 in mid-July
    afternoon = np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)  # +1 at 15 h local

    cloud = 100.0 / (
        1.0 + np.exp(-(-0.6 + 1.1 * z["cloud"] + 0.6 * z["moist"] + 0.6 * (1 - winter)))
    )
    sun = solar_elevation_sin(hours, lat, lon)
    sw = cloudy_ghi_wm2(clear_sky_ghi_wm2(sun), cloud)

    temp = (
        12.5
        - 14.5 * np.cos(season)
        - 0.0065 * (elev - 40.0)
        - 0.8 * (lat[None, :] - 40.0)
        + 5.0 * (1.0 - 0.5 * cloud / 100.0) * afternoon
        + 3.2 * z["temp"]
        + 1.2 * urban
        + 0.4 * noise
    )
    rh = np.clip(
        62.0 - 22.0 * winter + 16.0 * z["moist"] - 13.0 * afternoon + 0.15 * (cloud - 50.0),
        5.0,
        100.0,
    )
    wind = np.exp(
        np.log(1.7)
        + 0.45 * z["vent"]
        + 0.2 * afternoon
        + 0.12 * np.sin(season - 0.9)
        - 0.25 * urban
        + 0.1 * noise
    )
    wdir = np.mod(np.where(z["vent"] > 0.3, 320.0, 190.0) + 40.0 * z["wdir"], 360.0)
    pressure = (1013.0 + 10.0 * np.cos(season) + 3.0 * z["vent"] - 2.0 * z["temp"]) * np.exp(
        -elev / 8434.0
    )
    rain_rng = np.random.default_rng([seed, 9]).random((n_h, 1))
    wet = (cloud > 75.0) & (rh > 80.0) & (rain_rng < 0.35 + 0.3 * (1 - winter))
    precip = np.where(
        wet,
        np.round(np.minimum(np.expm1(1.5 * np.abs(z["local"]) + 0.5 * (1 - winter)), 80.0), 1),
        0.0,
    )
    blh = np.clip(
        70.0 + 85.0 * wind + 1.7 * sw * (0.8 + 0.01 * np.clip(temp, 0.0, None)), 50.0, 3500.0
    )

    # PM2.5: accumulate in the mixing layer; ventilation and rain remove it.
    traffic = (
        1.0 + 0.35 * np.exp(-((hour - 8.0) ** 2) / 4.0) + 0.45 * np.exp(-((hour - 19.0) ** 2) / 6.0)
    )
    emis = (
        (1.0 + 0.15 * winter)
        * (0.35 + 0.65 * urban)
        * traffic
        * (600.0 / blh) ** 0.35
        * (1.0 + 4.0 * (rh / 100.0) ** 3)
        * 2.4
    )
    keep = np.exp(-(0.012 + 0.035 * (wind * blh / 1000.0) ** 0.7 + 0.25 * precip))
    # O3: production needs sunlight and warmth; loss at night by titration, more in town.
    night = sun <= 0.0
    o3_keep = np.exp(-(0.06 + night * (0.08 + 0.22 * urban) + 0.02 * wind))
    background = 45.0 + 15.0 * (1 - winter)
    production = 13.0 * (sw / 800.0) ** 1.2 * np.clip((temp - 8.0) / 17.0, 0.0, 1.6) ** 1.5
    pm = np.empty((n_h, n_s))
    o3 = np.empty((n_h, n_s))
    p_prev = 40.0 * np.ones(n_s)
    o_prev = 40.0 * np.ones(n_s)
    for t in range(n_h):
        p_prev = p_prev * keep[t] + emis[t]
        pm[t] = p_prev
        dim = np.exp(-p_prev / 450.0)  # haze dims the sunlight that makes ozone
        o_prev = (
            o_prev * o3_keep[t]
            + (1.0 - o3_keep[t]) * background[t] * (1.0 - 0.6 * night[t])
            + production[t] * dim
        )
        o3[t] = o_prev
    pm25 = pm * np.exp(0.35 * z["local"] + 0.08 * noise) + 2.0
    no2 = np.clip(
        (8.0 + 42.0 * urban * traffic * (500.0 / blh) ** 0.45 / (0.6 + wind / 3.0))
        * (1.0 + 0.3 * winter)
        * np.exp(0.1 * noise),
        1.0,
        None,
    )
    o3 = np.clip(o3 * np.exp(0.06 * noise) - 0.25 * no2 * night, 1.0, None)
    dust = 12.0 * wind**1.5 * (rh < 45.0) * (1.0 + np.sin(season - 0.9).clip(0.0))
    pm10 = pm25 * (1.3 + 0.2 * (rh < 50.0)) + dust
    so2 = np.clip((2.0 + 30.0 * winter**2) * (pm25 / 80.0) ** 0.7 * np.exp(0.15 * noise), 1.0, None)
    co = 0.25 + 0.011 * pm25 * (1.0 + 0.4 * winter)
    return {
        "pm25": pm25,
        "pm10": pm10,
        "so2": so2,
        "no2": no2,
        "co": co,
        "o3": o3,
        "temp_air": temp,
        "dewpoint": dewpoint_degc(temp, rh),
        "relative_humidity": rh,
        "pressure": pressure,
        "precipitation": precip,
        "wind_speed": wind,
        "wind_direction": wdir,
        "shortwave_radiation": sw,
        "cloud_cover": cloud,
        "boundary_layer_height": blh,
    }


def inject_quirks(
    values: dict[str, np.ndarray],
    stations: pd.DataFrame,
    hours: pd.DatetimeIndex,
    *,
    seed: int,
    rates: QuirkRates,
) -> pd.DataFrame:
    """Spoil ``values`` (name -> (n_hours, n_stations), in place) the way real monitors do;
    return the log ``station,variable,kind,start,end`` (UTC, end exclusive).

    Stuck runs and spikes go into pollutants only (weather comes from another network);
    outages blank every variable of the station.
    """
    n_h = len(hours)
    years = n_h / HOURS_PER_YEAR
    pollutants = [v for v in POLLUTANTS if v in values]
    log: list[tuple[str, str, str, int, int]] = []
    for j, code in enumerate(stations["station"]):
        rng = np.random.default_rng([seed, _station_key(code), 1])
        if rates.missing_hour > 0:
            for arr in values.values():
                gone = rng.random(n_h) < rates.missing_hour
                arr[gone, j] = np.nan
        for _ in range(rng.poisson(rates.outage_per_year * years)):
            t0 = int(rng.integers(0, n_h))
            t1 = min(n_h, t0 + int(rng.integers(24, 240)))
            for arr in values.values():
                arr[t0:t1, j] = np.nan
            log.append((code, "*", "outage", t0, t1))
        for _ in range(rng.poisson(rates.stuck_per_year * years)):
            var = pollutants[int(rng.integers(0, len(pollutants)))]
            t0 = int(rng.integers(0, n_h))
            t1 = min(n_h, t0 + int(rng.integers(6, 49)))
            if np.isnan(values[var][t0, j]):
                continue
            run = values[var][t0:t1, j]  # a view: gaps inside the run stay gaps
            run[~np.isnan(run)] = values[var][t0, j]
            log.append((code, var, "stuck", t0, t1))
        for _ in range(rng.poisson(rates.spike_per_year * years)):
            var = pollutants[int(rng.integers(0, len(pollutants)))]
            t0 = int(rng.integers(0, n_h))
            if np.isnan(values[var][t0, j]):
                continue
            values[var][t0, j] *= rng.uniform(4.0, 8.0)
            log.append((code, var, "spike", t0, t0 + 1))
        for _ in range(rng.poisson(rates.sentinel_per_year * years)):
            var = pollutants[int(rng.integers(0, len(pollutants)))]
            t0 = int(rng.integers(0, n_h))
            if np.isnan(values[var][t0, j]):
                continue
            values[var][t0, j] = -999.0
            log.append((code, var, "sentinel", t0, t0 + 1))
    out = pd.DataFrame(log, columns=["station", "variable", "kind", "i0", "i1"])
    edges = hours.append(pd.DatetimeIndex([hours[-1] + pd.Timedelta(hours=1)]))
    out["start"] = edges[out["i0"].to_numpy(int)]
    out["end"] = edges[out["i1"].to_numpy(int)]
    return out.drop(columns=["i0", "i1"])


def _frame(
    codes: list[str], hours: pd.DatetimeIndex, values: dict[str, np.ndarray], variables: list[str]
) -> pd.DataFrame:
    n_h, n_s = len(hours), len(codes)
    data: dict[str, object] = {
        "station": np.repeat(np.asarray(codes, dtype=object), n_h),
        "time": np.tile(hours, n_s),
    }
    for v in variables:
        data[v] = values[v].T.reshape(-1)
    out = pd.DataFrame(data)
    out["station"] = out["station"].astype(str)
    return out


def _check_variables(variables: list[str] | None) -> list[str]:
    known = [*POLLUTANTS, *WEATHER]
    chosen = list(variables) if variables is not None else known
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise ValueError(f"unknown variable(s) {unknown}; known: {known}")
    return chosen


def iter_synthetic_hourly(
    stations: pd.DataFrame,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    *,
    seed: int = 0,
    tz: str = "Asia/Shanghai",
    variables: list[str] | None = None,
    quirks: QuirkRates = QuirkRates(),
    chunk_stations: int = 200,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Canonical hourly frames for ``stations`` over [start, end), ``chunk_stations`` at a
    time, with the quirks log of each chunk. Concatenated, the chunks equal one call of
    :func:`synthetic_hourly`: a station's series depends only on the seed, its code and
    position, and the hours."""
    for col in ("station", "lat", "lon", "elevation_m", "urban"):
        if col not in stations.columns:
            raise ValueError(f"stations: missing column {col!r} (see synthetic_stations)")
    chosen = _check_variables(variables)
    hours = _hours(start, end)
    drivers = _Drivers(seed, hours)
    for i in range(0, len(stations), chunk_stations):
        part = stations.iloc[i : i + chunk_stations]
        values = _generate_chunk(part, hours, drivers, seed, tz)
        log = inject_quirks(values, part, hours, seed=seed, rates=quirks)
        yield _frame(list(part["station"]), hours, values, chosen), log


def synthetic_hourly(
    stations: pd.DataFrame,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    *,
    seed: int = 0,
    tz: str = "Asia/Shanghai",
    variables: list[str] | None = None,
    quirks: QuirkRates = QuirkRates(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canonical hourly frame for ``stations`` over [start, end) and the quirks log."""
    frames, logs = [], []
    for frame, log in iter_synthetic_hourly(
        stations,
        start,
        end,
        seed=seed,
        tz=tz,
        variables=variables,
        quirks=quirks,
        chunk_stations=10**9,
    ):
        frames.append(frame)
        logs.append(log)
    return pd.concat(frames, ignore_index=True), pd.concat(logs, ignore_index=True)


def synthetic_network(
    n_stations: int,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    *,
    seed: int = 0,
    tz: str = "Asia/Shanghai",
    variables: list[str] | None = None,
    quirks: QuirkRates = QuirkRates(),
) -> SyntheticNetwork:
    """Stations and their hourly frame in one call (see :func:`synthetic_stations`)."""
    stations = synthetic_stations(n_stations, seed=seed)
    hourly, log = synthetic_hourly(
        stations, start, end, seed=seed, tz=tz, variables=variables, quirks=quirks
    )
    return SyntheticNetwork(stations=stations, hourly=hourly, quirks=log)


def synthetic_feature_table(
    hourly: pd.DataFrame,
    *,
    tz: str = "Asia/Shanghai",
    area: str | None = DEFAULT_AREA,
    spec: ft.FeatureSpec | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecast feature table of a synthetic network, built the way the service builds
    it from stored observations: quality flags first (flagged values become NaN), then the
    daily statistics, the area mean over all stations (``area``; None for none) and the
    declared features with the observed weather of the target day (perfect prognosis).

    Returns ``(table, hourly_with_entities)``; the latter is what the trainer's diurnal
    O3 shape is fitted on.
    """
    spec = spec or ft.load_feature_spec()
    flags = quality_flags(hourly)
    clean = hourly.copy()
    for col in flags.columns:
        clean[col] = clean[col].where(flags[col] == VALID)
    stations = sorted(clean["station"].unique())
    per_station = daily_statistics(clean, tz)
    per_area = area_daily_statistics(clean, stations, tz, area=area) if area else None
    daily = ft.entity_daily(per_station, per_area)
    with_entities = ft.with_area_entities(clean, {area: stations} if area else {})
    weather = ft.daily_weather(with_entities, spec, tz)
    table = ft.build_feature_table(daily, with_entities, weather, spec=spec, tz=tz)
    return table, with_entities
