"""Heavy-pollution warnings: the level a rule set gives a forecast, and the warning's life.

A rule set (alerts/warning_rules/<name>.yaml) says which level an *episode* reaches. An
episode is a run of consecutive days whose daily AQI is heavy (above ``heavy_aqi``,
200): the first such run among the forecast days from the issue date on, joined to the
heavy days just before the issue date that earlier issues forecast (the state's memory),
so that a four-day rule can be met with a three-day forecast horizon.

The life of a warning (docs/alerts.md) is the pure function ``next_state``:
- issue and upgrade at once: a higher level is never held back;
- extend when the same level's episode now ends later;
- downgrade and lift only when ``confirm_issues`` consecutive issues (default 2) ask for
  a lower level; the warning then moves to the highest level they asked for. A single
  issue that dips and recovers changes nothing (no flapping);
- once the announced period is over (issue date after ``until``), a lower level or the
  lift applies at once: there is no announced period left to flap in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aqcast.alerts.texts import Text
from aqcast.service.config_files import ConfigError, load_yaml_model

RULES_DIR = Path(__file__).resolve().parent / "warning_rules"
LEVELS: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")
RANK: dict[str, int] = {name: i for i, name in enumerate(LEVELS)}
MEMORY_DAYS = 10  # heavy days remembered before the issue date

WarningLevel = Literal["blue", "yellow", "orange", "red"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Clause(_Strict):
    """At least ``days`` days of the episode with AQI > ``above`` (or >= ``at_least``)."""

    above: float | None = None
    at_least: float | None = None
    days: int = Field(ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> Clause:
        if (self.above is None) == (self.at_least is None):
            raise ValueError("a clause needs exactly one of 'above' or 'at_least'")
        return self


class LevelRule(_Strict):
    level: WarningLevel
    any_of: list[list[Clause]] = Field(min_length=1)
    name: Text | None = None
    measures: Text | None = None


DEFAULT_NAMES = {
    "blue": Text(zh="蓝色预警", en="blue warning"),
    "yellow": Text(zh="黄色预警", en="yellow warning"),
    "orange": Text(zh="橙色预警", en="orange warning"),
    "red": Text(zh="红色预警", en="red warning"),
}


class RuleSet(_Strict):
    name: str
    title: Text
    heavy_aqi: float = 200.0
    # Which forecast statistic of the daily AQI is compared with the clauses.
    statistic: Literal["q50", "q90"] = "q50"
    # A day also counts as heavy when P(AQI > heavy_aqi) reaches this (unset: never).
    p_heavy_min: float | None = Field(None, gt=0, le=1)
    confirm_issues: int = Field(2, ge=1, le=5)
    levels: list[LevelRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> RuleSet:
        names = [lv.level for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"levels: each level may appear once, got {names}")
        return self

    def level_name(self, level: str, lang: str) -> str:
        for lv in self.levels:
            if lv.level == level and lv.name is not None:
                return lv.name(lang)
        return DEFAULT_NAMES[level](lang) if level in DEFAULT_NAMES else level

    def measures(self, level: str, lang: str) -> str:
        for lv in self.levels:
            if lv.level == level and lv.measures is not None:
                return lv.measures(lang)
        return ""


def load_rule_set(name: str, rules_dir: Path | None = None) -> RuleSet:
    """A shipped rule set by name (``bth-2016``, ``tianjin-2018``)."""
    rules_dir = rules_dir or RULES_DIR
    path = rules_dir / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in rules_dir.glob("*.yaml"))
        raise ConfigError(f"unknown warning rule set {name!r}; shipped: {shipped}")
    rules = load_yaml_model(path, RuleSet)
    if rules.name != name:
        raise ConfigError(f"{path}: name: {rules.name!r} differs from the file name {name!r}")
    return rules


# --- the level of an episode ---------------------------------------------------------


@dataclass(frozen=True)
class DayAqi:
    """The forecast daily AQI of one target day."""

    day: date
    q50: float
    q90: float | None = None
    p_exceed: float | None = None  # P(AQI > heavy_aqi)


@dataclass(frozen=True)
class Episode:
    start: date
    end: date
    values: tuple[float, ...]  # the rule set's statistic, one per day
    heavy: tuple[bool, ...]
    remembered_days: int = 0  # days taken from memory, before the issue date


def day_value(d: DayAqi, rules: RuleSet) -> float:
    if rules.statistic == "q90" and d.q90 is not None:
        return float(d.q90)
    return float(d.q50)


def is_heavy(d: DayAqi, rules: RuleSet) -> bool:
    if day_value(d, rules) > rules.heavy_aqi:
        return True
    return rules.p_heavy_min is not None and (d.p_exceed or 0.0) >= rules.p_heavy_min


def find_episode(
    forecasts: list[DayAqi], rules: RuleSet, issue_date: date, memory: dict[str, dict] | None = None
) -> Episode | None:
    """The first run of consecutive heavy forecast days from ``issue_date`` on.

    A run starting on the issue date is joined to the consecutive heavy days remembered
    just before it (``memory``: ISO day -> {"value", "heavy"}).
    """
    days = sorted((d for d in forecasts if d.day >= issue_date), key=lambda d: d.day)
    run: list[DayAqi] = []
    for d in days:
        if is_heavy(d, rules) and (not run or d.day == run[-1].day + timedelta(days=1)):
            run.append(d)
        elif run:
            break
    if not run:
        return None
    values = [day_value(d, rules) for d in run]
    heavy = [True] * len(run)
    start = run[0].day
    remembered = 0
    if memory and start == issue_date:
        prev = start - timedelta(days=1)
        while (m := memory.get(prev.isoformat())) is not None and m.get("heavy"):
            values.insert(0, float(m["value"]))
            heavy.insert(0, True)
            start, prev, remembered = prev, prev - timedelta(days=1), remembered + 1
    return Episode(start, run[-1].day, tuple(values), tuple(heavy), remembered)


def _clause_holds(c: Clause, ep: Episode, rules: RuleSet) -> bool:
    if c.above is not None and c.above == rules.heavy_aqi:
        n = sum(ep.heavy)  # heavy by value or by probability
    elif c.above is not None:
        n = sum(v > c.above for v in ep.values)
    else:
        n = sum(v >= c.at_least for v in ep.values)  # type: ignore[operator]
    return n >= c.days


def episode_level(ep: Episode | None, rules: RuleSet) -> str:
    """The highest level of the rule set that the episode reaches ("none" if no level)."""
    if ep is None:
        return "none"
    best = "none"
    for lv in rules.levels:
        if RANK[lv.level] > RANK[best] and any(
            all(_clause_holds(c, ep, rules) for c in alt) for alt in lv.any_of
        ):
            best = lv.level
    return best


# --- the life of a warning -----------------------------------------------------------


@dataclass(frozen=True)
class WarningStatus:
    """One area's warning as the state machine remembers it between issues."""

    level: str = "none"
    since: date | None = None  # first day of the warned episode
    until: date | None = None  # last day of the warned episode (inclusive)
    updated_on: date | None = None  # issue date of the last decision
    pending: dict | None = None  # {"level", "count", "first_on"}: a lower level asked for
    memory: dict[str, dict] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.level != "none"

    def to_detail(self) -> dict:
        return {"pending": self.pending, "memory": self.memory}

    @classmethod
    def from_row(cls, level: str, since, until, updated_on, detail: dict | None) -> WarningStatus:  # noqa: ANN001
        detail = detail or {}
        return cls(
            level, since, until, updated_on, detail.get("pending"), detail.get("memory") or {}
        )


def _transition(
    action: str, before: WarningStatus, after: WarningStatus, issue_date: date, reason: str
) -> dict:
    return {
        "action": action,
        "from_level": before.level,
        "to_level": after.level,
        "level": after.level if action != "lifted" else before.level,
        "issue_date": issue_date,
        "start_date": after.since or before.since or issue_date,
        "end_date": (after.until if action != "lifted" else issue_date) or issue_date,
        "reason": reason,
    }


def _remember(
    state: WarningStatus, forecasts: list[DayAqi], rules: RuleSet, issue_date: date
) -> dict:
    memory = dict(state.memory)
    for d in forecasts:
        if d.day == issue_date:
            memory[d.day.isoformat()] = {"value": day_value(d, rules), "heavy": is_heavy(d, rules)}
    oldest = (issue_date - timedelta(days=MEMORY_DAYS)).isoformat()
    return {k: v for k, v in sorted(memory.items()) if k >= oldest}


def next_state(
    state: WarningStatus, forecasts: list[DayAqi], rules: RuleSet, issue_date: date
) -> tuple[WarningStatus, list[dict]]:
    """Decide the warning after the issue of ``issue_date``.

    ``forecasts`` are the daily AQI forecasts of the coming days (lead 0 = the issue
    date). Returns the new state and the transitions made (none, or one dict with
    ``action`` in issued/upgraded/extended/downgraded/lifted and the warned period).
    """
    ep = find_episode(forecasts, rules, issue_date, state.memory)
    wanted = episode_level(ep, rules)
    memory = _remember(state, forecasts, rules, issue_date)
    base = replace(state, updated_on=issue_date, memory=memory)
    cur = state.level

    if RANK[wanted] > RANK[cur]:
        assert ep is not None
        if cur == "none":
            new = replace(base, level=wanted, since=ep.start, until=ep.end, pending=None)
            return new, [
                _transition("issued", state, new, issue_date, f"episode {ep.start}..{ep.end}")
            ]
        until = max(state.until or ep.end, ep.end)
        new = replace(base, level=wanted, until=until, pending=None)
        return new, [
            _transition("upgraded", state, new, issue_date, f"episode {ep.start}..{ep.end}")
        ]

    if cur == "none":
        return replace(base, pending=None), []

    if wanted == cur:
        assert ep is not None
        if state.until is None or ep.end > state.until:
            new = replace(base, until=ep.end, pending=None)
            return new, [
                _transition("extended", state, new, issue_date, f"episode now ends {ep.end}")
            ]
        return replace(base, pending=None), []

    # A lower level (or none) is asked for.
    period_over = state.until is not None and issue_date > state.until
    pending = state.pending if state.pending and state.pending.get("first_on") else None
    count = (pending["count"] + 1) if pending else 1
    target = wanted
    if pending and RANK[pending["level"]] > RANK[target]:
        target = pending["level"]  # move only as far down as every agreeing issue asked
    # A lift after the announced period is what everyone expects and cannot flap; a
    # downgrade to a level still in force could (the next issue may ask for more again),
    # so it always waits for agreeing issues.
    lift_at_end = period_over and target == "none"
    if not lift_at_end and count < rules.confirm_issues:
        new_pending = {
            "level": target,
            "count": count,
            "first_on": pending["first_on"] if pending else issue_date.isoformat(),
        }
        return replace(base, pending=new_pending), []
    reason = "announced period over" if period_over else f"{count} consecutive issues agree"
    if target == "none":
        new = replace(base, level="none", since=None, until=None, pending=None)
        return new, [_transition("lifted", state, new, issue_date, reason)]
    until = ep.end if ep is not None else state.until
    new = replace(base, level=target, until=until, pending=None)
    return new, [_transition("downgraded", state, new, issue_date, reason)]
