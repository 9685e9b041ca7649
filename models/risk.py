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

from aqcast.configuration import load_yaml_model

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


def load_adverse_config(path: Path | None = None):  # noqa: ANN201 - AdverseConfig
    """The adverse-weather thresholds (aqcast/config/adverse.yaml by default)."""
    from aqcast.configuration import PACKAGE_CONFIG_DIR
    from aqcast.features.adverse import AdverseConfig

    return load_yaml_model(path or PACKAGE_CONFIG_DIR / "adverse.yaml", AdverseConfig)


def adverse_frame(weather: pd.DataFrame, config=None, **kw) -> pd.DataFrame:  # noqa: ANN001
    """``features.adverse.adverse_flags`` with the configured thresholds."""
    from aqcast.features.adverse import adverse_flags

    return adverse_flags(weather, config or load_adverse_config(), **kw)


# The --risk-out CSV of `aqcast hindcast` (a contract: exactly these columns).
RISK_COLUMNS = [
    "issue_date",
    "target_date",
    "lead_days",
    "area",
    "p_heavy",
    "ventilation_index",
    "adverse",
    "adverse_kind",
]


def hindcast_risk(table: pd.DataFrame, rows: pd.DataFrame, config=None) -> pd.DataFrame:  # noqa: ANN001
    """Per area, issue date and lead: P(AQI > 200) of the hindcast rows, and the adverse
    weather flags of the weather the replay saw (the feature table's target-day weather
    aggregates). Exactly ``RISK_COLUMNS``; dates as YYYY-MM-DD."""
    from aqcast.features.places import areas_of_entities, is_area_entities

    areas = table[is_area_entities(table["entity"])].copy()
    issued = set(pd.to_datetime(rows["issue_date"]).dt.strftime("%Y-%m-%d"))
    areas["issue_date"] = pd.to_datetime(areas["issue_date"]).dt.strftime("%Y-%m-%d")
    areas["target_date"] = pd.to_datetime(areas["target_date"]).dt.strftime("%Y-%m-%d")
    areas = areas[areas["issue_date"].isin(issued)].reset_index(drop=True)
    areas["area"] = areas_of_entities(areas["entity"])
    flags = adverse_frame(areas, config, group_columns=("area", "issue_date"))
    aqi = rows[rows["variable"] == "aqi"][["issue_date", "target_date", "area", "p_exceed"]]
    aqi = aqi.assign(
        issue_date=pd.to_datetime(aqi["issue_date"]).dt.strftime("%Y-%m-%d"),
        target_date=pd.to_datetime(aqi["target_date"]).dt.strftime("%Y-%m-%d"),
    ).rename(columns={"p_exceed": "p_heavy"})
    out = pd.concat([areas[["issue_date", "target_date", "lead_days", "area"]], flags], axis=1)
    out = out.merge(aqi, on=["issue_date", "target_date", "area"], how="left")
    out = out.sort_values(["issue_date", "lead_days", "area"]).reset_index(drop=True)
    return out[RISK_COLUMNS]


def with_outlook(risk: pd.DataFrame, weather: pd.DataFrame, config=None) -> pd.DataFrame:  # noqa: ANN001
    """The risk frame extended to the outlook days of ``weather`` (``area, target_date,
    wx_...``, one row per area and day, D..D+6), with ``ventilation_index, adverse,
    adverse_kind, adverse_conditions``; days beyond the pollutant leads have no
    ``p_heavy``."""
    if weather is None or weather.empty:
        return risk
    flags = adverse_frame(weather, config, group_columns=("area",))
    outlook = pd.concat([weather[["area", "target_date"]], flags], axis=1)
    if risk is None or risk.empty:
        return outlook
    base = risk.drop(
        columns=[c for c in flags.columns if c in risk.columns], errors="ignore"
    ).assign(target_date=lambda f: pd.to_datetime(f["target_date"]).dt.date)
    merged = base.merge(outlook, on=["area", "target_date"], how="outer")
    return merged.sort_values(["area", "target_date"]).reset_index(drop=True)
