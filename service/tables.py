"""Database tables (SQLAlchemy 2 declarative). Times are stored as naive UTC.

One section per concern. Schema changes go through Alembic (service/migrations).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aqcast.features.nomenclature import MET_FORECAST_VARIABLES, OBS_VARIABLES


class Base(DeclarativeBase):
    pass


# --- stations and observations ------------------------------------------------------


class Station(Base):
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str | None] = mapped_column(String(128))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32), default="")
    # The city the station reports under (the national platform's ``area``, e.g. 天津市)
    # and whether it is a background station (对照点); None where the source does not say.
    city: Mapped[str | None] = mapped_column(String(64), nullable=True)
    background: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


def _value_columns(names: list[str], with_flags: bool) -> dict:
    cols: dict = {}
    for n in names:
        cols[n] = mapped_column(Float, nullable=True)
        if with_flags:
            cols[f"{n}_qc"] = mapped_column(SmallInteger, nullable=False, default=9)
    return cols


class Observation(Base):
    """One station-hour. ``<var>`` holds the value, ``<var>_qc`` its quality flag."""

    __tablename__ = "observations"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    locals().update(_value_columns(OBS_VARIABLES, with_flags=True))


class ObservationRevision(Base):
    """A stored value that a later ingest replaced: the audit trail of corrections."""

    __tablename__ = "observation_revisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    time: Mapped[datetime] = mapped_column(DateTime)
    variable: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[float | None] = mapped_column(Float)
    new_value: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(DateTime)


class MetForecast(Base):
    """A weather forecast for one station, valid at one hour, from one issue."""

    __tablename__ = "met_forecasts"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    valid_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True, default="file")
    locals().update(_value_columns(MET_FORECAST_VARIABLES, with_flags=False))


class DailyStat(Base):
    """A daily statistic for a station (``station_id`` set) or an area (``area`` set)."""

    __tablename__ = "daily_stats"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area: Mapped[str] = mapped_column(String(64), default="")
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    day: Mapped[date] = mapped_column(Date)
    variable: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    n_valid: Mapped[int] = mapped_column(SmallInteger, default=0)
    __table_args__ = (UniqueConstraint("area", "station_id", "day", "variable"),)


# --- forecasts and models -----------------------------------------------------------


class ModelVersion(Base):
    __tablename__ = "model_versions"
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    train_start: Mapped[date] = mapped_column(Date)
    train_end: Mapped[date] = mapped_column(Date)
    path: Mapped[str] = mapped_column(Text)
    features: Mapped[list] = mapped_column(JSON)
    params: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    importance: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class ForecastRun(Base):
    """One issue of the forecast for one issue date (all areas and stations)."""

    __tablename__ = "forecast_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_date: Mapped[date] = mapped_column(Date, index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    model_version: Mapped[str | None] = mapped_column(String(64))
    met_mode: Mapped[str] = mapped_column(String(16))  # stored | observed | none
    method: Mapped[str] = mapped_column(String(32))  # model | fallback:<baseline>
    missing_inputs: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # hourly profiles, critical values


class ForecastValue(Base):
    __tablename__ = "forecast_values"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    issue_date: Mapped[date] = mapped_column(Date)
    target_date: Mapped[date] = mapped_column(Date)
    lead_days: Mapped[int] = mapped_column(SmallInteger)
    area: Mapped[str] = mapped_column(String(64), default="")
    station: Mapped[str] = mapped_column(String(64), default="")
    variable: Mapped[str] = mapped_column(String(32))
    q10: Mapped[float | None] = mapped_column(Float)
    q50: Mapped[float | None] = mapped_column(Float)
    q90: Mapped[float | None] = mapped_column(Float)
    p_exceed: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(32), default="model")
    __table_args__ = (
        Index("ix_forecast_values_lookup", "issue_date", "area", "station", "variable"),
    )


# --- alerts, subscriptions, deliveries ----------------------------------------------


class AlertEvent(Base):
    __tablename__ = "alert_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # stable, e.g. evt_<hash>
    type: Mapped[str] = mapped_column(String(32), index=True)
    area: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(32), default="")
    issue_date: Mapped[date] = mapped_column(Date, index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class WarningState(Base):
    """The current heavy-pollution warning per area (the state machine's memory)."""

    __tablename__ = "warning_state"
    area: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))  # none | blue | yellow | orange | red
    since: Mapped[date | None] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    updated_on: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class OfficialWarning(Base):
    """A heavy-pollution warning issued by the city (or region) that the district carries
    out (按照区域应急联动要求): level, response grade and start hour, as an input."""

    __tablename__ = "official_warnings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))  # blue | yellow | orange | red
    response: Mapped[str] = mapped_column(String(8))  # III | II | I
    start_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    end_at: Mapped[datetime | None] = mapped_column(DateTime)  # naive UTC; None: until cleared
    document: Mapped[str] = mapped_column(Text, default="")
    issued_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime)
    cleared_by: Mapped[str | None] = mapped_column(String(128))


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # officer | dispatcher | enterprise | admin
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    # An enterprise key speaks for one registered enterprise (None: not bound).
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))


class Subscription(Base):
    __tablename__ = "subscriptions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list] = mapped_column(JSON)
    areas: Mapped[list] = mapped_column(JSON, default=list)
    sectors: Mapped[list] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|paused|disabled
    failing_since: Mapped[datetime | None] = mapped_column(DateTime)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # standard (Standard Webhooks) | wecom (企业微信群机器人) | dingtalk (钉钉自定义机器人)
    format: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    # The DingTalk robot's signing secret (``SEC...``); never shown again.
    robot_secret: Mapped[str | None] = mapped_column(String(256))


class Delivery(Base):
    """The outbox: one row per (event, subscription); ``id`` is the stable webhook-id."""

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("alert_events.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|sending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("event_id", "subscription_id"),)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(DateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32))  # ok|http_error|timeout|connect_error|refused
    error: Mapped[str | None] = mapped_column(Text)


# --- enterprises and acknowledgements ------------------------------------------------


class Enterprise(Base):
    """A registered enterprise or construction site the advisories are meant for."""

    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    # 统一社会信用代码 (GB 32100-2015), 18 characters; optional.
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    sectors: Mapped[list] = mapped_column(JSON)  # campaign sector keys
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    street: Mapped[str] = mapped_column(String(64))  # 街道
    contact: Mapped[str] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(String(64), index=True)  # whose advisories it follows
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Acknowledgement(Base):
    """An enterprise confirmed an advisory (and optionally the hours it moved the work to)."""

    __tablename__ = "acknowledgements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("alert_events.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    via: Mapped[str] = mapped_column(String(16))  # api | link
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    moved_to: Mapped[list] = mapped_column(JSON, default=list)  # [[start, end], ...] local hours
    __table_args__ = (UniqueConstraint("event_id", "enterprise_id"),)


# --- jobs and operations --------------------------------------------------------------


class JobRun(Base):
    """One scheduled run, keyed by job and run key: the idempotency record."""

    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    run_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    owner: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("job", "run_key"),)


class OperatorAlert(Base):
    """Something an operator on call must look at (stale feed, disabled endpoint, ...)."""

    __tablename__ = "operator_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


class FeedStatus(Base):
    __tablename__ = "feed_status"
    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    latest_data_time: Mapped[datetime | None] = mapped_column(DateTime)


class PromptIssue(Base):
    """The work prompt's issue number (第N期): one per area and issue date, counted per
    area and calendar year in the order the prompts were first published."""

    __tablename__ = "prompt_issues"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    issue_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("area", "issue_date", name="uq_prompt_issues_area_day"),
        UniqueConstraint("area", "year", "number", name="uq_prompt_issues_number"),
    )
