"""The feature table of the daily forecast, built for all issue dates at once.

One row per entity, issue date D and lead: the entity is a station (its code) or an area
(``area:<name>``, from the mean concentration over the area's stations). The features
are declared in features/features.yaml; every one of them is known at D's issue time
(07:00 local: observations stamped up to 06:00 of D) except the weather of the target
day, which the caller supplies either from stored weather forecasts issued before D's
issue time or, in a perfect-prognosis replay, from the observed weather.

The target columns ``y_<variable>`` hold the observed daily value of the target day
(NaN when unknown); they are for training and verification only and are never features.

All functions here are pure: frames in, frames out; the commands do the I/O.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aqcast.configuration import load_yaml_model
from aqcast.features.daily import DAILY_VARIABLES
from aqcast.features.nomenclature import DAILY
from aqcast.features.places import DEFAULT_AREA, area_entities, area_entity

SPEC_PATH = Path(__file__).resolve().parent / "features.yaml"
# The daily statistics a table carries as targets: the concentrations (the AQI is derived
# from their forecasts, never forecast itself).
TARGET_VARIABLES = [v for v in DAILY_VARIABLES if DAILY[v] != "-"]
KEYS = ["entity", "issue_date", "lead_days", "target_date"]


# --- the declaration ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LagSpec(_Strict):
    variables: list[str]
    days: list[int] = Field(min_length=1)

    @field_validator("days")
    @classmethod
    def _only_past(cls, v: list[int]) -> list[int]:
        if any(d < 1 for d in v):
            raise ValueError("lag days must be >= 1 (day D itself is not complete at issue)")
        return v


class RollingSpec(_Strict):
    variables: list[str]
    windows: list[int]


class MorningSpec(_Strict):
    variables: list[str]
    first_hour: int = Field(ge=0, le=23)
    last_hour: int = Field(ge=0, le=23)


class WeatherAgg(_Strict):
    variable: str
    stat: Literal["mean", "max", "min", "sum"]
    hours: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        window = f"_h{self.hours[0]:02d}{self.hours[1]:02d}" if self.hours else ""
        return f"{self.variable}_{self.stat}{window}"


class FeatureSpec(_Strict):
    leads: list[int] = Field(min_length=1)
    targets: dict[str, Literal["none", "log1p"]]
    persistence_only: list[str] = []
    lags: LagSpec
    rolling: RollingSpec
    morning: MorningSpec
    neighbour_area: str = DEFAULT_AREA
    neighbour_features: list[str] = []
    weather_target_day: list[WeatherAgg] = []
    weather_previous_day: list[WeatherAgg] = []
    weather_change: list[str] = []
    calendar: list[Literal["doy_sin", "doy_cos", "weekday"]] = []

    @field_validator("leads")
    @classmethod
    def _leads(cls, v: list[int]) -> list[int]:
        if any(x < 0 for x in v):
            raise ValueError("leads are days after the issue date, >= 0")
        return sorted(set(v))

    def weather_aggs(self) -> list[WeatherAgg]:
        """Every aggregate needed from the daily weather (target and previous day)."""
        seen: dict[str, WeatherAgg] = {}
        extra = [WeatherAgg(variable=v, stat="mean") for v in self.weather_change]
        for agg in [*self.weather_target_day, *self.weather_previous_day, *extra]:
            seen.setdefault(agg.name, agg)
        return list(seen.values())

    def morning_hours(self) -> int:
        return self.morning.last_hour - self.morning.first_hour + 1


def load_feature_spec(path: Path | None = None) -> FeatureSpec:
    return load_yaml_model(path or SPEC_PATH, FeatureSpec)


# --- derived weather ----------------------------------------------------------------


def relative_humidity_pct(temp_air_degc, dewpoint_degc):
    """Relative humidity [%] from air temperature and dew point [degC] (Magnus formula,
    Alduchov and Eskridge 1996 coefficients), clipped to 0..100."""
    a, b = 17.625, 243.04
    t = np.asarray(temp_air_degc, dtype=float)
    td = np.asarray(dewpoint_degc, dtype=float)
    rh = 100.0 * np.exp(a * td / (b + td) - a * t / (b + t))
    return np.clip(rh, 0.0, 100.0)


def wind_components_ms(wind_speed_ms, wind_direction_deg):
    """Eastward (u) and northward (v) wind [m/s] from speed [m/s] and the direction the
    wind blows from [deg clockwise from north]. A north wind has v < 0."""
    ws = np.asarray(wind_speed_ms, dtype=float)
    rad = np.deg2rad(np.asarray(wind_direction_deg, dtype=float))
    return -ws * np.sin(rad), -ws * np.cos(rad)


def with_derived_weather(hourly: pd.DataFrame) -> pd.DataFrame:
    """Add relative_humidity (where missing), wind_u and wind_v to an hourly frame."""
    out = hourly.copy()
    if {"temp_air", "dewpoint"} <= set(out.columns):
        rh = relative_humidity_pct(out["temp_air"], out["dewpoint"])
        if "relative_humidity" in out.columns:
            out["relative_humidity"] = out["relative_humidity"].fillna(pd.Series(rh, out.index))
        else:
            out["relative_humidity"] = rh
    if {"wind_speed", "wind_direction"} <= set(out.columns):
        out["wind_u"], out["wind_v"] = wind_components_ms(out["wind_speed"], out["wind_direction"])
    return out


# --- entities -----------------------------------------------------------------------


def local_day_hour(times_utc: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """Local calendar day (as ``datetime.date``) and local hour of UTC time stamps."""
    local = pd.to_datetime(times_utc, utc=True).dt.tz_convert(tz)
    return local.dt.tz_localize(None).dt.normalize(), local.dt.hour


def with_area_entities(hourly: pd.DataFrame, areas: dict[str, list[str]]) -> pd.DataFrame:
    """The hourly frame with an ``entity`` column, plus one series per area: the mean over
    its stations of every variable, hour by hour (HJ 633-2012: areas from mean
    concentrations)."""
    parts = [hourly.assign(entity=hourly["station"].astype(str))]
    value_cols = [c for c in hourly.columns if c not in ("station", "time")]
    for name, stations in areas.items():
        sub = hourly[hourly["station"].isin(stations)]
        if sub.empty:
            continue
        mean = sub.groupby("time", sort=True)[value_cols].mean().reset_index()
        ent = area_entity(name)
        parts.append(mean.assign(station=ent, entity=ent))
    return pd.concat(parts, ignore_index=True)


def entity_daily(daily_stations: pd.DataFrame, daily_areas: pd.DataFrame | None) -> pd.DataFrame:
    """Station and area daily statistics (long, from features.daily) as one wide frame:
    index ``(entity, day)`` (day as Timestamp), one column per daily variable."""
    parts = [daily_stations.assign(entity=daily_stations["station"].astype(str))]
    if daily_areas is not None and len(daily_areas):
        parts.append(daily_areas.assign(entity=area_entities(daily_areas["area"])))
    long = pd.concat(parts, ignore_index=True)
    long["day"] = pd.to_datetime(long["day"])
    wide = long.pivot_table(
        index=["entity", "day"], columns="variable", values="value", aggfunc="first"
    )
    wide.columns.name = None
    for v in TARGET_VARIABLES:
        if v not in wide.columns:
            wide[v] = np.nan
    return wide.sort_index()


# --- feature blocks -------------------------------------------------------------------


def morning_features(hourly: pd.DataFrame, spec: FeatureSpec, tz: str) -> pd.DataFrame:
    """Per entity and local day D: mean and last value of the declared pollutants over the
    local hours first..last of D (all stamped before the issue time). Columns
    ``<var>_morning_mean``, ``<var>_morning_last``; index ``(entity, issue_date)``."""
    m = spec.morning
    day, hour = local_day_hour(hourly["time"], tz)
    keep = (hour >= m.first_hour) & (hour <= m.last_hour)
    sub = hourly.loc[keep, ["entity", *m.variables]].assign(issue_date=day[keep], hour=hour[keep])
    g = sub.groupby(["entity", "issue_date"])
    mean = g[m.variables].mean().add_suffix("_morning_mean")
    last = (
        sub[sub["hour"] == m.last_hour]
        .groupby(["entity", "issue_date"])[m.variables]
        .mean()
        .add_suffix("_morning_last")
    )
    return mean.join(last, how="outer")


def daily_weather(hourly: pd.DataFrame, spec: FeatureSpec, tz: str) -> pd.DataFrame:
    """Daily weather aggregates per entity and local day (plus ``issue_date`` when the
    frame holds forecasts of several issues). Time column: ``time`` (observations) or
    ``valid_at`` (forecasts). A day needs at least 18 hourly values for a mean, max or
    min and 20 for a sum; otherwise NaN."""
    h = with_derived_weather(hourly)
    tcol = "valid_at" if "valid_at" in h.columns else "time"
    day, hour = local_day_hour(h[tcol], tz)
    h = h.assign(day=day, hour=hour)
    keys = ["entity", "day"] + (["issue_date"] if "issue_date" in h.columns else [])
    cols: dict[str, pd.Series] = {}
    for agg in spec.weather_aggs():
        if agg.variable not in h.columns:
            continue
        sub = h
        need = 18 if agg.stat != "sum" else 20
        if agg.hours:
            sub = h[(h["hour"] >= agg.hours[0]) & (h["hour"] <= agg.hours[1])]
            need = max(1, int(0.75 * (agg.hours[1] - agg.hours[0] + 1)))
        g = sub.groupby(keys)[agg.variable]
        val = getattr(g, agg.stat)()
        cols[agg.name] = val.where(g.count() >= need)
    if not cols:
        return pd.DataFrame(index=pd.MultiIndex.from_arrays([[], []], names=keys))
    return pd.DataFrame(cols)


def _lag_block(wide: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Lags and rolling means per (entity, issue_date): values of days strictly before D."""
    out = {}
    full = wide.reset_index()
    # Reindex each entity to a continuous daily calendar so that shifts are in days.
    frames = []
    for ent, g in full.groupby("entity", sort=False):
        days = pd.date_range(g["day"].min(), g["day"].max() + pd.Timedelta(days=1), freq="D")
        frames.append(g.set_index("day").reindex(days).assign(entity=ent))
    cal = pd.concat(frames).rename_axis("issue_date").reset_index()
    grp = cal.groupby("entity", sort=False)
    for v in spec.lags.variables:
        for k in spec.lags.days:
            out[f"{v}_lag{k}"] = grp[v].shift(k)
    for v in spec.rolling.variables:
        prev = grp[v].shift(1)
        for w in spec.rolling.windows:
            out[f"{v}_mean{w}d"] = prev.groupby(cal["entity"]).transform(
                lambda s, w=w: s.rolling(w, min_periods=max(1, w // 2)).mean()
            )
    block = pd.DataFrame(out)
    block["entity"] = cal["entity"].to_numpy()
    block["issue_date"] = cal["issue_date"].to_numpy()
    return block.set_index(["entity", "issue_date"])


def build_feature_table(
    daily: pd.DataFrame,
    hourly: pd.DataFrame,
    weather: pd.DataFrame,
    *,
    spec: FeatureSpec,
    tz: str,
    issue_dates: list[date] | pd.DatetimeIndex | None = None,
    weather_before_issue: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The feature table for every entity, issue date and lead.

    daily: wide daily statistics, index ``(entity, day)`` (see :func:`entity_daily`).
    hourly: hourly pollutant frame with an ``entity`` column (:func:`with_area_entities`).
    weather: :func:`daily_weather` output, index ``(entity, day)`` for observed weather
        (perfect prognosis) or ``(entity, day, issue_date)`` for forecasts per issue.
    weather_before_issue: observed daily weather used for the day before the target day
        when that day lies before the issue date and ``weather`` has no value for it.
    issue_dates: defaults to every day that has daily statistics.

    Returns columns ``entity, issue_date, lead_days, target_date`` (dates as Timestamps),
    the features, and ``y_<var>`` targets for every daily variable.
    """
    if issue_dates is None:
        issue_idx = pd.DatetimeIndex(sorted(daily.index.get_level_values("day").unique()))
    else:
        issue_idx = pd.DatetimeIndex(pd.to_datetime(list(issue_dates)))
    entities = sorted(daily.index.get_level_values("entity").unique())
    base = pd.MultiIndex.from_product([entities, issue_idx], names=["entity", "issue_date"])
    lags = _lag_block(daily, spec).reindex(base)
    morning = morning_features(hourly, spec, tz).reindex(base)
    per_issue = lags.join(morning)

    nb_ent = area_entity(spec.neighbour_area)
    nb_cols = [c for c in spec.neighbour_features if c in per_issue.columns]
    if nb_cols and nb_ent in entities:
        nb = per_issue.xs(nb_ent, level="entity")[nb_cols].add_prefix("nb_")
        per_issue = per_issue.join(nb, on="issue_date")
    per_issue = per_issue.reset_index()

    rows = []
    for lead in spec.leads:
        part = per_issue.copy()
        part.insert(2, "lead_days", lead)
        part.insert(3, "target_date", part["issue_date"] + pd.Timedelta(days=lead))
        rows.append(part)
    table = pd.concat(rows, ignore_index=True)

    table = _join_weather(table, weather, weather_before_issue, spec)

    doy = table["target_date"].dt.day_of_year.to_numpy()
    angle = 2 * np.pi * (doy - 1) / 365.25
    if "doy_sin" in spec.calendar:
        table["doy_sin"] = np.sin(angle)
    if "doy_cos" in spec.calendar:
        table["doy_cos"] = np.cos(angle)
    if "weekday" in spec.calendar:
        table["weekday"] = table["target_date"].dt.day_of_week

    targets = daily[TARGET_VARIABLES].add_prefix("y_")
    targets.index = targets.index.set_names(["entity", "target_date"])
    table = table.join(targets, on=["entity", "target_date"])
    return table.sort_values(["issue_date", "lead_days", "entity"], ignore_index=True)


def _join_weather(
    table: pd.DataFrame,
    weather: pd.DataFrame,
    observed: pd.DataFrame | None,
    spec: FeatureSpec,
) -> pd.DataFrame:
    w = weather.reset_index()
    per_issue = "issue_date" in w.columns
    keys = ["entity", "target_date"] + (["issue_date"] if per_issue else [])
    w = w.rename(columns={"day": "target_date"})
    w["target_date"] = pd.to_datetime(w["target_date"])
    if per_issue:
        w["issue_date"] = pd.to_datetime(w["issue_date"])
    w = w.set_index(keys)

    tgt = {a.name: f"wx_{a.name}" for a in spec.weather_target_day}
    prev = {a.name: f"wx_prev_{a.name}" for a in spec.weather_previous_day}
    chg = [f"{v}_mean" for v in spec.weather_change]

    need = sorted(set(tgt) | set(chg))
    cur = w.reindex(columns=need)
    table = table.join(cur.rename(columns=tgt), on=keys)

    prev_need = sorted(set(prev) | set(chg))
    table["_prev_date"] = table["target_date"] - pd.Timedelta(days=1)
    pkeys = ["entity", "_prev_date"] + (["issue_date"] if per_issue else [])
    pw = w.reindex(columns=prev_need).add_prefix("_p_")
    pw.index = pw.index.set_names(pkeys)
    table = table.join(pw, on=pkeys)
    if observed is not None and len(observed):
        # The day before the target may lie before D: its observed weather is then known.
        ob = observed.reset_index().rename(columns={"day": "_prev_date"})
        ob["_prev_date"] = pd.to_datetime(ob["_prev_date"])
        ob = ob.set_index(["entity", "_prev_date"]).reindex(columns=prev_need).add_prefix("_o_")
        table = table.join(ob, on=["entity", "_prev_date"])
        known = table["_prev_date"] < table["issue_date"]
        for c in prev_need:
            table[f"_p_{c}"] = table[f"_p_{c}"].where(
                table[f"_p_{c}"].notna() | ~known, table[f"_o_{c}"]
            )
        table = table.drop(columns=[f"_o_{c}" for c in prev_need])
    for name, col in prev.items():
        table[col] = table[f"_p_{name}"]
    for v in spec.weather_change:
        table[f"wx_d_{v}"] = _current(table, tgt, f"{v}_mean") - table[f"_p_{v}_mean"]
    drop = [c for c in table.columns if c.startswith("_p_")] + ["_prev_date"]
    drop += [c for c in need if c not in tgt and c in table.columns]
    return table.drop(columns=drop)


def _current(table: pd.DataFrame, tgt: dict[str, str], name: str) -> pd.Series:
    return table[tgt[name]] if name in tgt else table[name]


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The model inputs of a feature table: everything but keys and targets."""
    return [c for c in table.columns if c not in KEYS and not c.startswith("y_")]
