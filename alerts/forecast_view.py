"""Reading one area's numbers out of a ``models.forecast.Forecast`` (docs/architecture.md).

Only attribute access is used, so any object with the same frames works (tests build
small ones). Area rows have ``station == ""``.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd

from aqcast.alerts.warnings import PRIMARY_SHORT, DayAqi
from aqcast.features.aqi import daily_aqi

_SUB_INDEX_VARIABLES = (
    "pm25_24h",
    "pm10_24h",
    "o3_mda8",
    "o3_1h_max",
    "no2_24h",
    "so2_24h",
    "co_24h",
)


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


def primary_pollutant(forecast: Any, area: str, target_date: date) -> str | None:
    """The short name (pm25, pm10, o3, ...) of the pollutant whose q50 sub-index is the
    largest on the day (PM2.5 first on a tie: the pollutant emergency measures act on)."""
    subs = {}
    for var in _SUB_INDEX_VARIABLES:
        v = value(forecast, area, var, target_date)
        if v is not None:
            subs[var] = v["q50"]
    if not subs:
        return None
    _, primary, _ = daily_aqi(subs)
    names = [PRIMARY_SHORT[p] for p in primary if p in PRIMARY_SHORT]
    if not names:
        return None
    return "pm25" if "pm25" in names else names[0]


def sub_indices(forecast: Any, area: str, target_date: date) -> dict[str, tuple]:
    """Per pollutant (short name) the sub-indices (IAQI) of its q10, q50 and q90
    forecasts (None where a quantile is unknown); O3 takes the larger of its 8-hour and
    1-hour sub-indices, as the daily AQI does."""
    from aqcast.features.aqi import DAILY_TO_IAQI, iaqi

    out: dict[str, list] = {}
    for var in _SUB_INDEX_VARIABLES:
        v = value(forecast, area, var, target_date)
        if v is None:
            continue
        short = PRIMARY_SHORT[DAILY_TO_IAQI[var]]
        subs = [
            None if v[q] is None else float(iaqi(DAILY_TO_IAQI[var], v[q]))
            for q in ("q10", "q50", "q90")
        ]
        subs = [None if x is not None and math.isnan(x) else x for x in subs]
        old = out.get(short)
        if old is not None:
            subs = [_max_none(a, b) for a, b in zip(old, subs, strict=True)]
        out[short] = subs
    return {k: tuple(v) for k, v in out.items() if v[1] is not None}


def _max_none(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def daily_aqi_forecasts(forecast: Any, area: str) -> list[DayAqi]:
    """The daily AQI forecasts of the coming days (``aqi`` rows), for the warning rules."""
    out = []
    for d in target_dates(forecast, area):
        v = value(forecast, area, "aqi", d)
        if v is not None:
            out.append(
                DayAqi(
                    d,
                    v["q50"],
                    v["q90"],
                    v["p_exceed"],
                    primary_pollutant(forecast, area, d),
                    q10=v["q10"],
                    sub_index=sub_indices(forecast, area, d) or None,
                )
            )
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


def _risk_row(r: Any) -> dict:
    stag = r.get("stagnation")
    adverse = r.get("adverse")
    return {
        "p_heavy": _num(r.get("p_heavy")),
        "stagnation_index": _num(r.get("stagnation_index")),
        "stagnation": None
        if stag is None or (isinstance(stag, float) and math.isnan(stag))
        else bool(stag),
        "ventilation_index": _num(r.get("ventilation_index")),
        "adverse": None
        if adverse is None or (isinstance(adverse, float) and math.isnan(adverse))
        else bool(adverse),
        "adverse_kind": r.get("adverse_kind") or "",
        "adverse_conditions": r.get("adverse_conditions") or "",
    }


def risk(forecast: Any, area: str, target_date: date) -> dict | None:
    """``{"p_heavy", "stagnation_index", "stagnation", "ventilation_index", "adverse",
    "adverse_kind", "adverse_conditions"}`` (None where unknown) or None."""
    rows = _area_rows(getattr(forecast, "risk", None), area)
    if rows.empty:
        return None
    rows = rows[rows["target_date"] == target_date]
    if rows.empty:
        return None
    return _risk_row(rows.iloc[0])


def risk_outlook(forecast: Any, area: str) -> list[dict]:
    """Every risk row of the area (the adverse-weather outlook, D..D+6), oldest first,
    each with its ``target_date``."""
    rows = _area_rows(getattr(forecast, "risk", None), area)
    if rows.empty:
        return []
    rows = rows.sort_values("target_date")
    return [{"target_date": r["target_date"], **_risk_row(r)} for _, r in rows.iterrows()]
