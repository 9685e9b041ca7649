"""The risk of adverse conditions: a meteorological stagnation indicator.

stagnation_index = (number of conditions of models/risk.yaml that hold) / (number whose
input is available), in 0..1, from the target day's weather aggregates; ``stagnation``
is index >= ``stagnant_at``. NaN (and not stagnant) when no input is available. The
probability of heavy pollution, P(AQI > 200), comes with the forecast (models.predict).
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from aqcast.service.config_files import load_yaml_model

RISK_PATH = Path(__file__).resolve().parent / "risk.yaml"
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregate: str
    op: Literal["<", "<=", ">", ">="]
    value: float


class RiskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conditions: list[Condition] = Field(min_length=1)
    stagnant_at: float = Field(ge=0, le=1)


def load_risk_config(path: Path | None = None) -> RiskConfig:
    return load_yaml_model(path or RISK_PATH, RiskConfig)


def stagnation_index(weather: pd.DataFrame, config: RiskConfig) -> pd.Series:
    """Share of the stagnation conditions met per row of a frame of target-day weather
    aggregates (columns ``wx_<aggregate>`` or ``<aggregate>``); NaN without inputs."""
    met = np.zeros(len(weather))
    avail = np.zeros(len(weather))
    for c in config.conditions:
        col = f"wx_{c.aggregate}" if f"wx_{c.aggregate}" in weather.columns else c.aggregate
        if col not in weather.columns:
            continue
        v = weather[col].to_numpy(dtype=float)
        ok = ~np.isnan(v)
        avail += ok
        met += ok & _OPS[c.op](np.where(ok, v, 0.0), c.value)
    with np.errstate(invalid="ignore", divide="ignore"):
        idx = np.where(avail > 0, met / np.where(avail > 0, avail, 1), np.nan)
    return pd.Series(idx, index=weather.index, name="stagnation_index")
