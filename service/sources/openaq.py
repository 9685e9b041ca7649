"""OpenAQ v3: a location's sensors and their hourly values, in the canonical frame.

Requests carry the key in the ``X-API-Key`` header (never in a URL or a message). Lists
are paged with ``page``/``limit``; ``meta.found`` is a count, or a string such as
``">1000"`` when the server did not count: then pages are read until one comes back short.

Units: pm25/pm10 and the gases in ug/m3 pass through (CO to mg/m3); gases reported in
ppm or ppb are converted at 25 degC and 1013.25 hPa, where one ppm is M/24.45 mg/m3
(M the molar mass in g/mol): O3 48.00, NO2 46.01, SO2 64.07, CO 28.01.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime

import httpx
import pandas as pd
from pydantic import SecretStr

from aqcast.service.sources.errors import FeedError
from aqcast.service.sources.feeds import get_json, shape_error

FEED = "openaq"
MOLAR_VOLUME_L = 24.45  # litres per mole at 25 degC, 1 atm
MOLAR_MASS_G: dict[str, float] = {"o3": 48.00, "no2": 46.01, "so2": 64.07, "co": 28.01}
PARAMETERS: dict[str, str] = {
    "pm25": "pm25",
    "pm10": "pm10",
    "o3": "o3",
    "no2": "no2",
    "so2": "so2",
    "co": "co",
}
_UGM3 = {"µg/m³", "μg/m³", "ug/m3", "ug/m³", "µg/m3"}


def unit_factor(variable: str, unit: str) -> float:
    """Factor from OpenAQ's ``unit`` to the nomenclature's unit of ``variable``."""
    u = unit.strip()
    target_mg = variable == "co"  # CO is kept in mg/m3
    if u in _UGM3:
        return 1e-3 if target_mg else 1.0
    if u in {"mg/m³", "mg/m3"}:
        return 1.0 if target_mg else 1e3
    if u.lower() in {"ppm", "ppb"} and variable in MOLAR_MASS_G:
        mg_per_ppm = MOLAR_MASS_G[variable] / MOLAR_VOLUME_L
        per_ppm = mg_per_ppm if target_mg else mg_per_ppm * 1e3
        return per_ppm if u.lower() == "ppm" else per_ppm / 1e3
    raise FeedError(FEED, f"unknown unit {unit!r} for {variable}")


def _paged(
    client: httpx.Client,
    url: str,
    *,
    api_key: SecretStr,
    params: dict,
    limit: int,
    max_pages: int,
    timeout_s: float,
    retries: int,
    sleep: Callable[[float], None],
) -> list[dict]:
    headers = {"X-API-Key": api_key.get_secret_value(), "Accept": "application/json"}
    results: list[dict] = []
    for page in range(1, max_pages + 1):
        body = get_json(
            client,
            url,
            feed=FEED,
            params={**params, "limit": limit, "page": page},
            headers=headers,
            timeout_s=timeout_s,
            retries=retries,
            sleep=sleep,
        )
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise shape_error(FEED, f"no results list from {url}")
        batch = body["results"]
        results.extend(batch)
        found = (body.get("meta") or {}).get("found")
        if isinstance(found, int) and not isinstance(found, bool):
            if page >= math.ceil(found / limit):
                return results
        elif len(batch) < limit:
            return results
        if not batch:
            return results
    raise FeedError(FEED, f"more than {max_pages} pages from {url}; narrow the time range")


def fetch_sensors(
    client: httpx.Client,
    location_id: int,
    *,
    api_key: SecretStr,
    base_url: str = "https://api.openaq.org/v3",
    timeout_s: float = 20.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict]:
    """The location's sensors we can use: ``{"id", "variable", "units"}`` each."""
    raw = _paged(
        client,
        f"{base_url}/locations/{int(location_id)}/sensors",
        api_key=api_key,
        params={},
        limit=100,
        max_pages=10,
        timeout_s=timeout_s,
        retries=retries,
        sleep=sleep,
    )
    sensors = []
    for item in raw:
        try:
            name, units = item["parameter"]["name"], item["parameter"]["units"]
            sensor_id = int(item["id"])
        except (KeyError, TypeError, ValueError):
            raise shape_error(FEED, "sensor without id/parameter.name/parameter.units") from None
        if name in PARAMETERS:
            sensors.append({"id": sensor_id, "variable": PARAMETERS[name], "units": units})
    return sensors


def fetch_location_hours(
    client: httpx.Client,
    location_id: int,
    station: str,
    *,
    api_key: SecretStr,
    start: datetime,
    end: datetime,
    base_url: str = "https://api.openaq.org/v3",
    limit: int = 1000,
    max_pages: int = 50,
    timeout_s: float = 20.0,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Hourly values of a location's pollutant sensors in ``[start, end)`` as a canonical
    frame for ``station`` (``station, time`` UTC start of hour, one column per pollutant).
    """
    common = {"timeout_s": timeout_s, "retries": retries, "sleep": sleep}
    sensors = fetch_sensors(client, location_id, api_key=api_key, base_url=base_url, **common)
    t0 = pd.Timestamp(start).tz_convert("UTC") if pd.Timestamp(start).tzinfo else None
    t1 = pd.Timestamp(end).tz_convert("UTC") if pd.Timestamp(end).tzinfo else None
    if t0 is None or t1 is None:
        raise ValueError("start and end must be time-zone aware")
    series: dict[str, pd.Series] = {}
    for sensor in sensors:
        rows = _paged(
            client,
            f"{base_url}/sensors/{sensor['id']}/hours",
            api_key=api_key,
            params={
                "datetime_from": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "datetime_to": t1.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            limit=limit,
            max_pages=max_pages,
            **common,
        )
        times, values = [], []
        for r in rows:
            try:
                when = r["period"]["datetimeFrom"]["utc"]
                value = r["value"]
                units = r.get("parameter", {}).get("units", sensor["units"])
            except (KeyError, TypeError):
                raise shape_error(FEED, "hour without period.datetimeFrom.utc/value") from None
            if value is None:
                continue
            if not isinstance(value, int | float):
                raise shape_error(FEED, f"value {value!r} is not a number")
            times.append(when)
            values.append(float(value) * unit_factor(sensor["variable"], units))
        try:
            index = pd.to_datetime(times, utc=True, format="ISO8601").floor("h")
        except (TypeError, ValueError) as exc:
            raise shape_error(FEED, f"bad datetimeFrom.utc: {exc}") from None
        s = pd.Series(values, index=index, dtype=float)
        s = s[(s.index >= t0) & (s.index < t1)]
        # Two sensors of one parameter at a location: keep the first one listed.
        if sensor["variable"] not in series:
            series[sensor["variable"]] = s.groupby(level=0).mean()
    if not series:
        return pd.DataFrame(
            {"station": pd.Series(dtype=str), "time": pd.Series(dtype="datetime64[ns, UTC]")}
        )
    frame = pd.DataFrame(series).sort_index()
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    frame.index.name = "time"
    frame = frame.reset_index()
    frame.insert(0, "station", station)
    return frame
