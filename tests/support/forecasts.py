"""Builders of real ``models.forecast.Forecast`` objects for the tests: small daily values,
an hourly O3 profile and its critical value, risk rows, shaped as the engine makes them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from aqcast.features.critical_value import critical_value_ugm3
from aqcast.models.forecast import Forecast

AREA = "district"
MODEL_VERSION = "test-1"


def bare_forecast(issue_date: date, *, met_mode: str = "stored", method: str = "model") -> Forecast:
    """A Forecast with no rows (what a job sees before any value is predicted)."""
    return Forecast(
        issue_date=issue_date,
        issued_at=datetime.combine(issue_date, datetime.min.time()) + timedelta(hours=-1),
        model_version=MODEL_VERSION,
        met_mode=met_mode,
        method=method,
    )


def ozone_profile(peak_ugm3: float, peak_hour: int = 15, width_h: float = 3.0) -> np.ndarray:
    """A smooth diurnal O3 profile [ug/m3]: a night floor of 20 and one afternoon peak."""
    h = np.arange(24)
    return 20 + (peak_ugm3 - 20) * np.exp(-0.5 * ((h - peak_hour) / width_h) ** 2)


def make_forecast(
    issue_date: date,
    aqi: list[float],
    *,
    o3_mda8: list[float] | None = None,
    pm25: list[float] | None = None,
    o3_peak: float | None = None,
    p_heavy: float = 0.05,
    stagnation: bool = False,
    met_mode: str = "stored",
    method: str = "model",
    area: str = AREA,
) -> Forecast:
    """Daily values for lead 0.. (one list element per day) with q10/q90 at -/+20 %."""
    rows = []
    n = len(aqi)
    o3_mda8 = o3_mda8 or [80.0] * n
    pm25 = pm25 or [max(10.0, a * 0.7) for a in aqi]
    for lead in range(n):
        td = issue_date + timedelta(days=lead)
        for var, q50, thr in (
            ("aqi", aqi[lead], 200.0),
            ("o3_mda8", o3_mda8[lead], 160.0),
            ("pm25_24h", pm25[lead], 75.0),
        ):
            p = float(np.clip(0.5 + (q50 - thr) / (0.4 * max(q50, 1.0)), 0.0, 1.0))
            rows.append(
                dict(
                    issue_date=issue_date,
                    target_date=td,
                    lead_days=lead,
                    area=area,
                    station="",
                    variable=var,
                    q10=0.8 * q50,
                    q50=q50,
                    q90=1.2 * q50,
                    p_exceed=p,
                    threshold=thr,
                    method=method,
                )
            )
    values = pd.DataFrame(rows)
    hourly, crit, risk = [], [], []
    for lead in range(n):
        td = issue_date + timedelta(days=lead)
        peak = o3_peak if o3_peak is not None else o3_mda8[lead] * 1.2
        prof = ozone_profile(peak)
        for h, v in enumerate(prof):
            hourly.append(
                dict(area=area, station="", target_date=td, hour=h, q10=0.8 * v, q50=v, q90=1.2 * v)
            )
        cv = critical_value_ugm3(prof)
        crit.append(
            dict(
                area=area,
                station="",
                target_date=td,
                critical_value_ugm3=cv.critical_value_ugm3,
                peak_hour=cv.peak_hour,
                likely_hours=list(cv.likely_hours),
                possible_hours=[],
                capped=cv.capped,
            )
        )
        risk.append(
            dict(
                area=area,
                target_date=td,
                p_heavy=p_heavy,
                stagnation_index=0.5,
                stagnation=stagnation,
            )
        )
    return Forecast(
        issue_date=issue_date,
        issued_at=datetime.combine(issue_date, datetime.min.time()) + timedelta(hours=-1),
        model_version=MODEL_VERSION,
        met_mode=met_mode,
        method=method,
        values=values,
        hourly_o3=pd.DataFrame(hourly),
        critical=pd.DataFrame(crit),
        risk=pd.DataFrame(risk),
    )


def campaign_with_rule_set(tmp_path, name: str):
    """A copy of the shipped campaign file whose district uses warning rule set ``name``;
    returns its path (set it as AQCAST_CAMPAIGN_FILE)."""
    import yaml

    from aqcast.alerts.campaign import PACKAGE_CAMPAIGN_FILE

    raw = yaml.safe_load(PACKAGE_CAMPAIGN_FILE.read_text(encoding="utf-8"))
    for district in raw["districts"].values():
        district["default"]["warning_rules"] = name
    path = tmp_path / f"campaign-{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path
