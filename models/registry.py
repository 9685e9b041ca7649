"""The model registry's pure half: version names, the registry error, what a registry row
stores, and the hourly O3 model trained beside a bundle. Saving, listing, activating and
loading versions (files and the ``model_versions`` table) is service/registry.py.
"""

from __future__ import annotations

from datetime import date, datetime


class RegistryError(RuntimeError):
    """A version is unknown, or its file is missing or cannot be loaded."""


def new_version(now: datetime) -> str:
    return f"v{now:%Y%m%d-%H%M%S}"


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    return obj


def train_hourly_model(inputs, tz: str, until: date, start: date):
    """The hourly O3 model (models/hourly.py) on the same data, or None when the data are
    too few for it (the forecast then uses the climatological shape and says so)."""
    import pandas as pd

    from aqcast.models.hourly import (
        hourly_weather_frame,
        load_hourly_config,
        observed_o3_frame,
        train_hourly,
    )

    config = load_hourly_config()
    if inputs.weather_hourly is None:
        return None
    try:
        return train_hourly(
            inputs.table,
            hourly_weather_frame(inputs.weather_hourly, tz, config),
            observed_o3_frame(inputs.hourly, tz),
            train_until=pd.Timestamp(until),
            train_start=pd.Timestamp(start),
            config=config,
        )
    except ValueError:
        return None
