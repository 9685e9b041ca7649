"""Open-Meteo: the weather forecast API (/v1/forecast) and the air-quality API.

Both take comma-separated ``latitude``/``longitude`` lists and return one object per
location (a list when several are asked for) with ``utc_offset_seconds``, ``timezone``,
``hourly_units`` and ``hourly`` (a ``time`` list of local ISO times without offset, and
one list per variable). We ask for UTC and m/s; units are still checked per variable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx
import numpy as np
import pandas as pd

from aqcast.service.sources.feeds import get_json, shape_error

FEED_WEATHER = "open-meteo forecast"
FEED_AIR = "open-meteo air-quality"

WEATHER_VARIABLES: dict[str, str] = {
    "temperature_2m": "temp_air",
    "dew_point_2m": "dewpoint",
    "relative_humidity_2m": "relative_humidity",
    "surface_pressure": "pressure",
    "precipitation": "precipitation",
    "wind_speed_10m": "wind_speed",
    "wind_direction_10m": "wind_direction",
    "shortwave_radiation": "shortwave_radiation",
    "cloud_cover": "cloud_cover",
    "boundary_layer_height": "boundary_layer_height",
}
AIR_VARIABLES: dict[str, str] = {
    "pm2_5": "pm25",
    "pm10": "pm10",
    "ozone": "o3",
    "nitrogen_dioxide": "no2",
    "sulphur_dioxide": "so2",
    "carbon_monoxide": "co",
}
# Factor from the unit Open-Meteo reports to the nomenclature's unit, per target variable.
_UGM3 = {"μg/m³": 1.0, "µg/m³": 1.0, "ug/m3": 1.0}
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "temp_air": {"°C": 1.0},
    "dewpoint": {"°C": 1.0},
    "relative_humidity": {"%": 1.0},
    "pressure": {"hPa": 1.0},
    "precipitation": {"mm": 1.0},
    "wind_speed": {"m/s": 1.0, "km/h": 1 / 3.6},
    "wind_direction": {"°": 1.0},
    "shortwave_radiation": {"W/m²": 1.0},
    "cloud_cover": {"%": 1.0},
    "boundary_layer_height": {"m": 1.0},
    "pm25": _UGM3,
    "pm10": _UGM3,
    "o3": _UGM3,
    "no2": _UGM3,
    "so2": _UGM3,
    "co": {k: v / 1000.0 for k, v in _UGM3.items()},  # ug/m3 -> mg/m3
}


def _locations(body, n: int, feed: str) -> list[dict]:
    items = body if isinstance(body, list) else [body]
    if len(items) != n or not all(isinstance(i, dict) for i in items):
        raise shape_error(feed, f"expected {n} location object(s), got {type(body).__name__}")
    for item in items:
        if item.get("error"):
            raise shape_error(feed, f"error body: {item.get('reason', item)}")
    return items


def _hourly_frame(item: dict, code: str, mapping: dict[str, str], feed: str) -> pd.DataFrame:
    hourly, units = item.get("hourly"), item.get("hourly_units", {})
    if not isinstance(hourly, dict) or not isinstance(hourly.get("time"), list):
        raise shape_error(feed, "no hourly.time list")
    try:
        offset = pd.Timedelta(seconds=int(item.get("utc_offset_seconds", 0)))
        local = pd.to_datetime(hourly["time"], format="ISO8601")
    except (TypeError, ValueError) as exc:
        raise shape_error(feed, f"bad hourly.time or utc_offset_seconds: {exc}") from None
    out = pd.DataFrame({"station": code, "time": (local - offset).tz_localize("UTC")})
    for src, name in mapping.items():
        if src not in hourly:
            continue
        values = hourly[src]
        if not isinstance(values, list) or len(values) != len(out):
            raise shape_error(feed, f"hourly.{src} is not a list as long as hourly.time")
        unit = units.get(src)
        factor = UNIT_FACTORS[name].get(unit)
        if factor is None:
            raise shape_error(feed, f"unit {unit!r} of {src}")
        try:
            arr = np.array([np.nan if v is None else v for v in values], dtype=float)
        except (TypeError, ValueError):
            raise shape_error(feed, f"hourly.{src} holds non-numbers") from None
        out[name] = arr * factor
    out["time"] = out["time"].dt.as_unit("ns")
    return out


def _query(stations: pd.DataFrame, variables: list[str], extra: dict) -> dict:
    return {
        "latitude": ",".join(f"{x:.4f}" for x in stations["lat"]),
        "longitude": ",".join(f"{x:.4f}" for x in stations["lon"]),
        "hourly": ",".join(variables),
        "timezone": "UTC",
        **extra,
    }


def fetch_weather_forecast(
    client: httpx.Client,
    stations: pd.DataFrame,
    *,
    issued_at: datetime,
    base_url: str = "https://api.open-meteo.com/v1/forecast",
    forecast_days: int = 3,
    past_days: int = 0,
    timeout_s: float = 20.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Hourly weather forecasts for stations (``station, lat, lon``).

    Returns ``station, issued_at, valid_at, <weather vars>`` (UTC); ``issued_at`` is the
    time of the request, given by the caller (the clock is a parameter).
    """
    params = _query(
        stations,
        list(WEATHER_VARIABLES),
        {"wind_speed_unit": "ms", "forecast_days": forecast_days, "past_days": past_days},
    )
    body = get_json(
        client,
        base_url,
        feed=FEED_WEATHER,
        params=params,
        timeout_s=timeout_s,
        retries=retries,
        sleep=sleep,
    )
    items = _locations(body, len(stations), FEED_WEATHER)
    frames = [
        _hourly_frame(item, str(code), WEATHER_VARIABLES, FEED_WEATHER)
        for item, code in zip(items, stations["station"], strict=True)
    ]
    out = pd.concat(frames, ignore_index=True).rename(columns={"time": "valid_at"})
    out.insert(
        1,
        "issued_at",
        pd.Timestamp(issued_at).tz_convert("UTC").as_unit("ns")
        if pd.Timestamp(issued_at).tzinfo
        else pd.Timestamp(issued_at).tz_localize("UTC").as_unit("ns"),
    )
    return out


def fetch_air_quality(
    client: httpx.Client,
    stations: pd.DataFrame,
    *,
    base_url: str = "https://air-quality-api.open-meteo.com/v1/air-quality",
    past_days: int = 1,
    forecast_days: int = 1,
    timeout_s: float = 20.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Hourly modelled pollutant concentrations at stations, as a canonical hourly frame
    (``station, time`` UTC, ``pm25, pm10, o3, no2, so2`` ug/m3, ``co`` mg/m3)."""
    params = _query(
        stations, list(AIR_VARIABLES), {"past_days": past_days, "forecast_days": forecast_days}
    )
    body = get_json(
        client,
        base_url,
        feed=FEED_AIR,
        params=params,
        timeout_s=timeout_s,
        retries=retries,
        sleep=sleep,
    )
    items = _locations(body, len(stations), FEED_AIR)
    frames = [
        _hourly_frame(item, str(code), AIR_VARIABLES, FEED_AIR)
        for item, code in zip(items, stations["station"], strict=True)
    ]
    return pd.concat(frames, ignore_index=True)


# --- archived forecasts: the Previous Runs and Historical Forecast APIs ----------------

FEED_PREVIOUS_RUNS = "open-meteo previous-runs"
FEED_HISTORICAL = "open-meteo historical-forecast"


def _archive_frames(
    items: list[dict], stations: pd.DataFrame, mapping: dict[str, str], feed: str
) -> pd.DataFrame:
    frames = [
        _hourly_frame(item, str(code), mapping, feed)
        for item, code in zip(items, stations["station"], strict=True)
    ]
    out = pd.concat(frames, ignore_index=True).rename(columns={"time": "valid_at"})
    # Hours the archive does not hold come back as nulls: not forecasts, not stored.
    names = [c for c in out.columns if c not in ("station", "valid_at")]
    return out[out[names].notna().any(axis=1)] if names else out.iloc[0:0]


def fetch_previous_runs(
    client: httpx.Client,
    stations: pd.DataFrame,
    *,
    start_date: str,
    end_date: str,
    days: tuple[int, ...] = (1, 2, 3, 4),
    base_url: str = "https://previous-runs-api.open-meteo.com/v1/forecast",
    availability_hours: float = 6.0,
    timeout_s: float = 60.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Archived forecasts from the Previous Runs API: for each valid hour, the value of
    the run about N days earlier (``<variable>_previous_dayN``), N in ``days``.

    Returns ``station, issued_at, valid_at, <weather vars>`` (UTC), one row per station,
    valid hour and N. The run behind ``_previous_dayN`` started at least N x 24 h before
    the valid hour and was published some hours after its start, so ``issued_at`` is
    ``valid_at - N days + availability_hours``: never earlier than the forecast could be
    known, so a replay never uses it before its time.
    """
    names = [f"{src}_previous_day{n}" for n in days for src in WEATHER_VARIABLES]
    params = _query(
        stations,
        names,
        {"wind_speed_unit": "ms", "start_date": start_date, "end_date": end_date},
    )
    body = get_json(
        client,
        base_url,
        feed=FEED_PREVIOUS_RUNS,
        params=params,
        timeout_s=timeout_s,
        retries=retries,
        sleep=sleep,
    )
    items = _locations(body, len(stations), FEED_PREVIOUS_RUNS)
    parts = []
    for n in days:
        mapping = {f"{src}_previous_day{n}": name for src, name in WEATHER_VARIABLES.items()}
        frame = _archive_frames(items, stations, mapping, FEED_PREVIOUS_RUNS)
        issued = frame["valid_at"] - pd.Timedelta(days=n) + pd.Timedelta(hours=availability_hours)
        frame.insert(1, "issued_at", issued)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def fetch_historical_forecast(
    client: httpx.Client,
    stations: pd.DataFrame,
    *,
    start_date: str,
    end_date: str,
    base_url: str = "https://historical-forecast-api.open-meteo.com/v1/forecast",
    availability_hours: float = 6.0,
    timeout_s: float = 60.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Archived forecasts from the Historical Forecast API, which joins the first hours
    of successive runs into one series: each value is a forecast of lead 0 to a few
    hours, known only about when its hour is. ``issued_at`` is therefore ``valid_at +
    availability_hours``: stored for the record (and for comparing with the observed
    weather), it is never a day-ahead forecast and a replay never uses it as one."""
    params = _query(
        stations,
        list(WEATHER_VARIABLES),
        {"wind_speed_unit": "ms", "start_date": start_date, "end_date": end_date},
    )
    body = get_json(
        client,
        base_url,
        feed=FEED_HISTORICAL,
        params=params,
        timeout_s=timeout_s,
        retries=retries,
        sleep=sleep,
    )
    items = _locations(body, len(stations), FEED_HISTORICAL)
    frame = _archive_frames(items, stations, WEATHER_VARIABLES, FEED_HISTORICAL)
    frame.insert(1, "issued_at", frame["valid_at"] + pd.Timedelta(hours=availability_hours))
    return frame


# --- air-quality model forecasts (CAMS) as forecast inputs ------------------------------

AQ_FORECAST_VARIABLES: dict[str, str] = {
    "pm2_5": "aq_pm25",
    "pm10": "aq_pm10",
    "ozone": "aq_o3",
    "nitrogen_dioxide": "aq_no2",
}


def fetch_air_quality_forecast(
    client: httpx.Client,
    stations: pd.DataFrame,
    *,
    issued_at: datetime,
    base_url: str = "https://air-quality-api.open-meteo.com/v1/air-quality",
    forecast_days: int = 5,
    timeout_s: float = 20.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """The air-quality model's hourly forecasts (CAMS through Open-Meteo) at stations, as
    forecast rows ``station, issued_at, valid_at, aq_pm25, aq_pm10, aq_o3, aq_no2``
    (ug/m3, UTC): stored like weather forecasts, inputs of the models where present.
    ``issued_at`` is the time of the request, given by the caller."""
    params = _query(stations, list(AQ_FORECAST_VARIABLES), {"forecast_days": forecast_days})
    body = get_json(
        client,
        base_url,
        feed=FEED_AIR,
        params=params,
        timeout_s=timeout_s,
        retries=retries,
        sleep=sleep,
    )
    items = _locations(body, len(stations), FEED_AIR)
    mapping = {src: AIR_VARIABLES[src] for src in AQ_FORECAST_VARIABLES}
    frames = [
        _hourly_frame(item, str(code), mapping, FEED_AIR)
        for item, code in zip(items, stations["station"], strict=True)
    ]
    out = pd.concat(frames, ignore_index=True).rename(columns={"time": "valid_at"})
    out = out.rename(columns={AIR_VARIABLES[s]: t for s, t in AQ_FORECAST_VARIABLES.items()})
    at = pd.Timestamp(issued_at)
    at = at.tz_convert("UTC") if at.tzinfo else at.tz_localize("UTC")
    out.insert(1, "issued_at", at.as_unit("ns"))
    names = [c for c in out.columns if c.startswith("aq_")]
    return out[out[names].notna().any(axis=1)].reset_index(drop=True)
