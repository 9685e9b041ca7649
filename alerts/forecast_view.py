"""Reading one area's numbers out of a ``models.forecast.Forecast`` (docs/architecture.md).

Only attribute access is used, so any object with the same frames works (tests build
small ones). Area rows have ``station == ""``.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd

from aqcast.alerts.warnings import DayAqi


def _as_date(v: Any) -> date:
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, date):
        return v if type(v) is date else v.date()  # datetime -> date
    return pd.Timestamp(v).date()


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _area_rows(frame: pd.DataFrame | None, area: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    rows = frame[frame["area"] == area]
    if "station" in rows.columns:
        rows = rows[rows["station"].fillna("") == ""]
    if "target_date" in rows.columns and len(rows):
        rows = rows.assign(target_date=[_as_date(v) for v in rows["target_date"]])
    return rows


def forecast_areas(forecast: Any) -> list[str]:
    v = forecast.values
    rows = v[v["station"].fillna("") == ""]
    return sorted(a for a in rows["area"].dropna().unique() if a)


def target_dates(forecast: Any, area: str) -> list[date]:
    rows = _area_rows(forecast.values, area)
    return sorted(set(rows["target_date"])) if len(rows) else []


_INDEX_CACHE: list[tuple[pd.DataFrame, dict]] = []  # a few recent frames, newest last


def _values_index(values: pd.DataFrame) -> dict:
    """Area rows of ``Forecast.values`` keyed by (area, variable, target_date), built once."""
    for frame, index in _INDEX_CACHE:
        if frame is values:
            return index
    index = {}
    rows = values[values["station"].fillna("") == ""]
    for r in rows.to_dict("records"):
        out = {k: _num(r.get(k)) for k in ("q10", "q50", "q90", "p_exceed", "threshold")}
        if out["q50"] is not None:
            index[(r["area"], r["variable"], _as_date(r["target_date"]))] = out
    _INDEX_CACHE.append((values, index))
    del _INDEX_CACHE[:-4]
    return index


def value(forecast: Any, area: str, variable: str, target_date: date) -> dict | None:
    """``{"q10", "q50", "q90", "p_exceed", "threshold"}`` (None where unknown)."""
    if forecast.values is None or forecast.values.empty:
        return None
    got = _values_index(forecast.values).get((area, variable, target_date))
    return dict(got) if got is not None else None


def daily_aqi_forecasts(forecast: Any, area: str) -> list[DayAqi]:
    """The daily AQI forecasts of the coming days (``aqi`` rows), for the warning rules."""
    out = []
    for d in target_dates(forecast, area):
        v = value(forecast, area, "aqi", d)
        if v is not None:
            out.append(DayAqi(d, v["q50"], v["q90"], v["p_exceed"]))
    return out


def hourly_profile(
    forecast: Any, area: str, target_date: date, column: str = "q50"
) -> list[float] | None:
    """24 hourly O3 values [ug/m3] for local hours 0..23 (NaN where absent), or None."""
    rows = _area_rows(getattr(forecast, "hourly_o3", None), area)
    if rows.empty:
        return None
    rows = rows[rows["target_date"] == target_date]
    if rows.empty:
        return None
    prof = [math.nan] * 24
    for h, v in zip(rows["hour"], rows[column], strict=True):
        if 0 <= int(h) < 24:
            prof[int(h)] = _num(v) if _num(v) is not None else math.nan
    return prof


def critical(forecast: Any, area: str, target_date: date) -> dict | None:
    """``{"critical_value_ugm3", "peak_hour", "likely_hours", "possible_hours",
    "capped"}`` or None (the last two empty / False for a run without them)."""
    rows = _area_rows(getattr(forecast, "critical", None), area)
    if rows.empty:
        return None
    rows = rows[rows["target_date"] == target_date]
    if rows.empty:
        return None
    r = rows.iloc[0]
    cv = _num(r.get("critical_value_ugm3"))
    if cv is None:
        return None
    peak = _num(r.get("peak_hour"))
    likely = r.get("likely_hours")
    likely = [int(h) for h in (likely if likely is not None else [])]
    possible = r.get("possible_hours")
    possible = [int(h) for h in (possible if isinstance(possible, list | tuple) else [])]
    capped = r.get("capped")
    return {
        "critical_value_ugm3": cv,
        "peak_hour": None if peak is None or peak < 0 else int(peak),
        "likely_hours": likely,
        "possible_hours": possible,
        "capped": capped is True or str(capped) == "True",
    }


def risk(forecast: Any, area: str, target_date: date) -> dict | None:
    """``{"p_heavy", "stagnation_index", "stagnation"}`` or None."""
    rows = _area_rows(getattr(forecast, "risk", None), area)
    if rows.empty:
        return None
    rows = rows[rows["target_date"] == target_date]
    if rows.empty:
        return None
    r = rows.iloc[0]
    stag = r.get("stagnation")
    return {
        "p_heavy": _num(r.get("p_heavy")),
        "stagnation_index": _num(r.get("stagnation_index")),
        "stagnation": None
        if stag is None or (isinstance(stag, float) and math.isnan(stag))
        else bool(stag),
    }
