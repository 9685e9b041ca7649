"""All runtime configuration in one place.

Every value can be set by an environment variable with the ``AQCAST_`` prefix (for example
``AQCAST_DATABASE_URL``) or in a ``.env`` file. Year-to-year configuration that a bureau
edits (station groups, campaigns, warning rules, sectors, targets) lives in YAML files
whose paths are settings here; the defaults ship inside the package (``aqcast/config``).
"""

from __future__ import annotations

import os
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from aqcast.configuration import PACKAGE_CONFIG_DIR


def project_root() -> Path:
    """The source checkout's root (where pyproject.toml is), else the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQCAST_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    home: Path = Path("./var")
    database_url: str = ""
    timezone: str = "Asia/Shanghai"

    # Shared development data; relative paths are taken from the project root.
    data_dir: Path = Path("../shared/data")
    # CI sets this so that a test needing the shared data fails instead of skipping.
    require_data: bool = False

    areas_file: Path = PACKAGE_CONFIG_DIR / "areas.yaml"
    campaign_file: Path = PACKAGE_CONFIG_DIR / "campaign.yaml"

    issue_time: time = time(7, 0)
    models_dir: Path | None = None

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    api_max_body_bytes: int = 65536  # larger request bodies answer 413

    # Outside data feeds
    openaq_api_key: SecretStr | None = None
    openaq_base_url: str = "https://api.openaq.org/v3"
    # Station code -> OpenAQ location id; the hourly observation job pulls these.
    openaq_locations: dict[str, int] = Field(default_factory=dict)
    openaq_lookback_hours: int = 48  # each pull re-reads this window: late and corrected hours
    open_meteo_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    open_meteo_air_quality_url: str = "https://air-quality-api.open-meteo.com/v1/air-quality"
    # The national publishing platform's hourly tables from a bureau's data interface
    # (service/sources/cnemc_feed.py; job pull_cnemc in schedule.yaml, disabled there by
    # default). The URL may hold {timepoint:<strftime>}; else ?timepoint= is sent.
    cnemc_url: str = ""
    cnemc_area: str | None = None  # keep only this city (the platform's area, e.g. 天津市)
    cnemc_stations: list[str] = Field(default_factory=list)  # and/or these station codes
    cnemc_lookback_hours: int = Field(default=6, ge=1)  # late and corrected hours arrive
    cnemc_ozone_columns: str | None = None  # as --ozone-columns of aqcast ingest cnemc
    cnemc_retries: int = Field(default=3, ge=0)
    # Archived forecasts for `aqcast backfill weather`.
    open_meteo_previous_runs_url: str = "https://previous-runs-api.open-meteo.com/v1/forecast"
    open_meteo_historical_forecast_url: str = (
        "https://historical-forecast-api.open-meteo.com/v1/forecast"
    )
    http_timeout_s: float = 20.0
    feed_stale_after_hours: float = 3.0

    # Webhooks
    # Addresses, networks or host names webhook targets may resolve to although they are
    # not globally routable (e.g. "127.0.0.1" to try webhooks on one machine). A plain
    # comma list, "127.0.0.1,10.0.0.0/8", or a JSON list.
    webhook_allow_private: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_require_https: bool | None = None
    webhook_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 86400]
    )
    webhook_timeout_s: float = 10.0
    webhook_max_in_flight: int = 16
    webhook_secret_grace_hours: float = 24.0
    webhook_lease_s: float = 60.0  # a claimed delivery is re-claimable after this
    webhook_max_response_bytes: int = 4096
    webhook_jitter: float = 0.2  # fraction of each retry delay drawn at random
    webhook_client_error_attempts: int = 3  # attempts for a 4xx other than 410/429
    webhook_disable_after_hours: float = 24.0  # of continuous failure
    webhook_disable_after_dead_letters: int = 5  # in a row
    webhook_test_events_per_hour: int = 6  # per subscription (POST .../test)

    # Enterprises: the one-click acknowledgement link in advisory messages is signed with
    # this key (HMAC); without it messages carry no link. Links expire this long after the
    # advisory was issued.
    ack_link_secret: SecretStr | None = None
    ack_link_valid_hours: float = 36.0
    # Work-chat robots (subscription formats wecom, dingtalk): their API base URLs, and how
    # long to wait after a robot says "too many messages" (both allow 20 a minute; DingTalk
    # then blocks the robot for 10 minutes).
    wecom_robot_base_url: str = "https://qyapi.weixin.qq.com"
    dingtalk_robot_base_url: str = "https://oapi.dingtalk.com"
    wecom_rate_limit_retry_s: float = 60.0
    dingtalk_rate_limit_retry_s: float = 600.0

    # Scale-out
    dask_scheduler: str | None = None

    @field_validator("webhook_allow_private", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        ZoneInfo(v)  # raises for an unknown zone
        return v

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home_path / 'aqcast.db'}"
        if self.webhook_require_https is None:
            self.webhook_require_https = self.env == "production"
        return self

    @property
    def home_path(self) -> Path:
        return self.home if self.home.is_absolute() else (Path.cwd() / self.home)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def data_path(self) -> Path:
        return self.data_dir if self.data_dir.is_absolute() else project_root() / self.data_dir

    @property
    def beijing_dir(self) -> Path:
        return self.data_path / "beijing-multisite"

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.home_path / "models"


def _environment() -> tuple:
    """What ``Settings()`` reads: the AQCAST_ variables and the working directory (the
    ``.env`` file is read from it)."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("AQCAST_")))
    return str(Path.cwd()), env


@lru_cache(maxsize=8)
def _settings_for(environment: tuple) -> Settings:
    return Settings()


def get_settings() -> Settings:
    """The settings of the current environment. Cached per environment: a changed
    AQCAST_ variable (or working directory) gives new settings without clearing a cache,
    so code and tests that set the environment never see stale settings."""
    return _settings_for(_environment())


get_settings.cache_clear = _settings_for.cache_clear  # type: ignore[attr-defined]
