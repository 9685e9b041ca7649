"""The hourly O3 profile of a target day.

The shape is climatological: the mean O3 of each local hour per entity and calendar
month over the training period, divided by its largest hour (so the shape peaks at 1).
The forecast profile is that shape scaled so that its maximum equals the forecast daily
1-hour maximum (q10, q50 and q90 scaled by the matching quantile of ``o3_1h_max``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.feature_table import local_day_hour


def fit_diurnal_shape(hourly: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Climatological diurnal O3 shape, index ``(entity, month, hour)``, column ``shape``
    (dimensionless, max 1 per entity and month). Needs ``entity``, ``time``, ``o3``."""
    day, hour = local_day_hour(hourly["time"], tz)
    frame = pd.DataFrame(
        {
            "entity": hourly["entity"].to_numpy(),
            "month": day.dt.month,
            "hour": hour,
            "o3": hourly["o3"],
        }
    )
    mean = frame.groupby(["entity", "month", "hour"])["o3"].mean()
    peak = mean.groupby(level=["entity", "month"]).transform("max")
    shape = (mean / peak).rename("shape")
    return shape.to_frame()


def shape_for(diurnal: pd.DataFrame, entity: str, month: int) -> np.ndarray:
    """The 24 hourly shape values for an entity and month; falls back to the mean shape of
    all entities for that month (an entity the training did not see), then to all months."""
    s = diurnal["shape"]
    for key in [(entity, month)]:
        try:
            vals = s.loc[key].reindex(range(24)).to_numpy(dtype=float)
            if not np.isnan(vals).all():
                return _fill(vals)
        except KeyError:
            pass
    by_month = s.xs(month, level="month") if month in s.index.get_level_values("month") else s
    vals = by_month.groupby(level="hour").mean().reindex(range(24)).to_numpy(dtype=float)
    return _fill(vals / np.nanmax(vals))


def _fill(vals: np.ndarray) -> np.ndarray:
    if np.isnan(vals).any():
        idx = np.arange(24)
        ok = ~np.isnan(vals)
        vals = np.interp(idx, idx[ok], vals[ok], period=24)
    return vals


def hourly_profile_ugm3(shape: np.ndarray, o3_1h_max_ugm3: float) -> np.ndarray:
    """Hourly O3 [ug/m3] for local hours 0..23: the shape scaled to peak at the forecast
    daily 1-hour maximum [ug/m3]."""
    peak = float(np.nanmax(shape))
    return np.asarray(shape, dtype=float) / peak * float(o3_1h_max_ugm3)
