"""The campaign configuration (aqcast/config/campaign.yaml) and its schema.

Per district and year: the campaigns and their dates, the warning rule set, the triggers
of staggered-operation advisories, how the window to avoid is derived, and the annual
targets. Sectors, their VOC-emitting steps and default windows, and every text shown to
people (zh and en) are shared by all districts.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aqcast.alerts.texts import Text
from aqcast.alerts.warnings import RuleSet, load_rule_set
from aqcast.configuration import PACKAGE_CONFIG_DIR, ConfigError, load_yaml_model

PACKAGE_CAMPAIGN_FILE = PACKAGE_CONFIG_DIR / "campaign.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_hour(v: int) -> int:
    if not 0 <= v <= 24:
        raise ValueError(f"hour must be within 0..24, got {v}")
    return v


class Slot(_Strict):
    start: int
    end: int
    zh: str
    en: str

    _hours = field_validator("start", "end")(_check_hour)


class Sector(_Strict):
    name: Text
    steps: list[str] = Field(min_length=1)
    default_window: tuple[int, int]
    move_to: list[str] = Field(min_length=1)

    @field_validator("default_window")
    @classmethod
    def _window(cls, v: tuple[int, int]) -> tuple[int, int]:
        _check_hour(v[0]), _check_hour(v[1])
        if v[0] >= v[1]:
            raise ValueError(f"window start must be before its end, got {list(v)}")
        return v


def _month_day(v: str) -> str:
    try:
        date.fromisoformat(f"2016-{v}")  # a leap year accepts 02-29
    except ValueError:
        raise ValueError(f"expected a month-day like '06-01', got {v!r}") from None
    return v


class Campaign(_Strict):
    id: str
    name: Text
    start: str  # MM-DD
    end: str  # MM-DD, inclusive
    pollutant: Literal["o3", "pm25"]
    focus: list[str] = Field(default_factory=list)

    _md = field_validator("start", "end")(_month_day)

    def dates(self, year: int) -> tuple[date, date]:
        return date.fromisoformat(f"{year}-{self.start}"), date.fromisoformat(f"{year}-{self.end}")

    def running_on(self, day: date) -> bool:
        start, end = self.dates(day.year)
        return start <= day <= end


class Triggers(_Strict):
    advisory_p_exceed_min: float = Field(0.5, ge=0, le=1)
    advisory_o3_mda8_q50_min_ugm3: float = Field(160, gt=0)
    adverse_p_heavy_min: float = Field(0.3, ge=0, le=1)
    # Outside an ozone campaign the critical value is shown from this O3 MDA8 q90 on.
    critical_value_o3_q90_min_ugm3: float = Field(120, ge=0)


class WindowRule(_Strict):
    """How the window to avoid follows the forecast formation of the day (advisories)."""

    # The build-up starts at the first hour after the morning minimum whose q50 has risen
    # this share of the way from that minimum to the day's peak.
    buildup_fraction: float = Field(0.2, gt=0, lt=1)
    lead_hours: int = Field(2, ge=0, le=6)
    earliest: int = 6
    latest: int = 20
    min_hours: int = Field(3, ge=1, le=12)  # the floor: a window is at least this long

    _hours = field_validator("earliest", "latest")(_check_hour)


class Targets(_Strict):
    pm25_annual_mean_ugm3: float = Field(gt=0)
    good_day_ratio_pct: float = Field(gt=0, le=100)
    heavy_days_max: int = Field(ge=0)
    # Below this mean [ug/m3] for the rest of the year the PM2.5 allowance is arithmetic a
    # district cannot achieve, and the prompt says the target can no longer be met.
    pm25_lowest_feasible_mean_ugm3: float = Field(0, ge=0)


TASK_CONDITIONS = (
    "always",  # every day
    "ozone_risk",  # staggered-operation advisories today
    "heavy_ahead",  # a forecast day above AQI 200 and no warning in force
    "warning",  # a heavy-pollution warning in force
    "adverse",  # adverse meteorological conditions elevated
)


class Task(_Strict):
    """One task of a team; ``when`` is a condition of the day (``TASK_CONDITIONS``) or
    ``campaign:<id>`` (that campaign is running)."""

    when: str = "always"
    text: Text

    @field_validator("when")
    @classmethod
    def _when(cls, v: str) -> str:
        if v not in TASK_CONDITIONS and not (v.startswith("campaign:") and len(v) > 9):
            raise ValueError(f"expected one of {list(TASK_CONDITIONS)} or campaign:<id>, got {v!r}")
        return v


class Team(_Strict):
    id: str
    name: Text
    tasks: list[Task] = Field(default_factory=list)
    # The field team also gets the running campaigns' focus items as a task.
    inspects_focus: bool = False


class PromptSettings(_Strict):
    """The prompt's header: who issues it and at what local time (HH:MM)."""

    issuer: Text
    issue_time: str = "07:30"

    @field_validator("issue_time")
    @classmethod
    def _time(cls, v: str) -> str:
        try:
            h, m = (int(x) for x in v.split(":"))
        except ValueError:
            raise ValueError(f"expected HH:MM, got {v!r}") from None
        if not (0 <= h < 24 and 0 <= m < 60):
            raise ValueError(f"expected HH:MM, got {v!r}")
        return f"{h:02d}:{m:02d}"


class YearPlan(_Strict):
    warning_rules: str
    campaigns: list[Campaign] = Field(default_factory=list)
    triggers: Triggers = Field(default_factory=Triggers)
    window: WindowRule = Field(default_factory=WindowRule)
    targets: Targets | None = None


class YearOverride(_Strict):
    """Whole fields of the default plan replaced for one year."""

    warning_rules: str | None = None
    campaigns: list[Campaign] | None = None
    triggers: Triggers | None = None
    window: WindowRule | None = None
    targets: Targets | None = None


class IntradayLevels(_Strict):
    """The intraday P(MDA8 > 160) (features/intraday.py): event levels and status words."""

    # The hourly job raises one event per level and day when the probability first
    # reaches it (and one when exceedance is certain).
    event_levels: list[float] = Field(default_factory=lambda: [0.5, 0.9])
    near_certain: float = Field(0.9, gt=0, le=1)  # 基本确定超标 from this probability on
    no_risk: float = Field(0.02, ge=0, lt=1)  # 已无超标风险 at or below this probability

    @field_validator("event_levels")
    @classmethod
    def _levels(cls, v: list[float]) -> list[float]:
        if any(not 0 < x <= 1 for x in v):
            raise ValueError(f"event levels must lie in (0, 1], got {v}")
        return sorted(set(v))


class CapSettings(_Strict):
    sender: str = Field(min_length=1, pattern=r"^[^\s,<&]+$")
    sender_name: Text
    margin_km: float = Field(2.0, ge=0)


class District(_Strict):
    name: Text
    default: YearPlan
    years: dict[int, YearOverride] = Field(default_factory=dict)


class CampaignFile(_Strict):
    steps: dict[str, Text] = Field(min_length=1)
    slots: dict[str, Slot] = Field(min_length=1)
    sectors: dict[str, Sector] = Field(min_length=1)
    focus_items: dict[str, Text] = Field(default_factory=dict)
    districts: dict[str, District] = Field(min_length=1)
    cap: CapSettings
    prompt: PromptSettings | None = None
    # The plan's three teams (数据值守, 指挥调度, 现场执法) and their tasks, in prompt order.
    teams: list[Team] = Field(default_factory=list)
    intraday: IntradayLevels = Field(default_factory=IntradayLevels)
    # Rule sets written here take precedence over the shipped ones of the same name.
    rule_sets: dict[str, RuleSet] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> CampaignFile:
        for key, sector in self.sectors.items():
            for step in sector.steps:
                if step not in self.steps:
                    raise ValueError(f"sectors.{key}.steps: unknown step {step!r}")
            for slot in sector.move_to:
                if slot not in self.slots:
                    raise ValueError(f"sectors.{key}.move_to: unknown slot {slot!r}")
        campaign_ids = {
            c.id
            for d in self.districts.values()
            for plan in [d.default, *d.years.values()]
            for c in (plan.campaigns or [])
        }
        for i, team in enumerate(self.teams):
            for j, task in enumerate(team.tasks):
                if task.when.startswith("campaign:") and task.when[9:] not in campaign_ids:
                    raise ValueError(f"teams.{i}.tasks.{j}.when: unknown campaign {task.when!r}")
        known_focus = set(self.sectors) | set(self.focus_items)
        for dkey, district in self.districts.items():
            plans = {"default": district.default, **{str(y): o for y, o in district.years.items()}}
            for pkey, plan in plans.items():
                for i, c in enumerate(plan.campaigns or []):
                    for f in c.focus:
                        if f not in known_focus:
                            raise ValueError(
                                f"districts.{dkey}.{pkey}.campaigns.{i}.focus: unknown {f!r}"
                            )
        return self

    def plan(self, district: str, year: int) -> YearPlan:
        """The district's plan for ``year``: the default with that year's overrides."""
        if district not in self.districts:
            raise KeyError(f"district {district!r} is not in the campaign configuration")
        d = self.districts[district]
        override = d.years.get(year)
        if override is None:
            return d.default
        changes = {k: v for k, v in override.model_dump(exclude_none=True).items()}
        return YearPlan.model_validate({**d.default.model_dump(), **changes})

    def running_campaigns(self, district: str, day: date) -> list[Campaign]:
        return [c for c in self.plan(district, day.year).campaigns if c.running_on(day)]

    def focus_text(self, key: str, lang: str) -> str:
        if key in self.sectors:
            return self.sectors[key].name(lang)
        return self.focus_items[key](lang)

    def rule_set(self, name: str) -> RuleSet:
        if name in self.rule_sets:
            return self.rule_sets[name]
        return load_rule_set(name)


def load_campaign(path: Path = PACKAGE_CAMPAIGN_FILE) -> CampaignFile:
    """Load and check a campaign file (default: the shipped one; the service passes
    ``settings.campaign_file``, see service/configured.py).

    Raises ConfigError naming the file and the field on any problem, including a
    warning rule set that is named but neither shipped nor written in the file.
    """
    path = Path(path)
    cfg = load_yaml_model(path, CampaignFile)
    for dkey, district in cfg.districts.items():
        names = {"default": district.default.warning_rules}
        names.update(
            {str(y): o.warning_rules for y, o in district.years.items() if o.warning_rules}
        )
        for pkey, name in names.items():
            try:
                cfg.rule_set(name)
            except ConfigError as exc:
                raise ConfigError(f"{path}: districts.{dkey}.{pkey}.warning_rules: {exc}") from exc
    return cfg


def district_for_area(cfg: CampaignFile, area: str) -> str:
    """Areas map to districts of the same name; a single-district file serves every area."""
    if area in cfg.districts:
        return area
    if len(cfg.districts) == 1:
        return next(iter(cfg.districts))
    raise KeyError(f"area {area!r} has no district in the campaign configuration")
