"""Heavy-pollution warnings: the level a rule set gives a forecast, and the warning's life.

Two kinds of rule set (docs/alerts.md): ``window: calendar_day`` (bth-2016,
tianjin-2018) counts calendar days, as below; ``window: rolling_24h`` (mee-2017,
mee-2024) counts hours covered by rolling 24-hour windows that may cross midnight
(features/rolling_aqi.py), merges episodes whose gap is shorter than ``merge_gap_hours``,
and, with ``emergency_pollutants``, warns only episodes led by those pollutants: an
episode led by ozone or dust gets the rule set's health advice instead (``assess``).

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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aqcast.alerts.texts import Text, text
from aqcast.configuration import ConfigError, load_yaml_model
from aqcast.features.rolling_aqi import covered, rolling_from_daily, runs

RULES_DIR = Path(__file__).resolve().parent / "warning_rules"
LEVELS: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")
RANK: dict[str, int] = {name: i for i, name in enumerate(LEVELS)}
MEMORY_DAYS = 10  # heavy days remembered before the issue date
ISSUE_HOUR = 7  # local hour of the morning issue (settings.issue_time), for lifting

WarningLevel = Literal["blue", "yellow", "orange", "red"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Clause(_Strict):
    """At least ``days`` days of the episode with AQI > ``above`` (or >= ``at_least``);
    or, in a rolling rule set, at least ``hours`` hours covered by 24-hour windows whose
    mean AQI is > ``above`` (>= ``at_least``)."""

    above: float | None = None
    at_least: float | None = None
    days: int | None = Field(None, ge=1)
    hours: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> Clause:
        if (self.above is None) == (self.at_least is None):
            raise ValueError("a clause needs exactly one of 'above' or 'at_least'")
        if (self.days is None) == (self.hours is None):
            raise ValueError("a clause needs exactly one of 'days' or 'hours'")
        return self

    @property
    def key(self) -> str:
        return f"above:{self.above:g}" if self.above is not None else f"at_least:{self.at_least:g}"


class LevelRule(_Strict):
    level: WarningLevel
    any_of: list[list[Clause]] = Field(min_length=1)
    name: Text | None = None
    measures: Text | None = None


def default_level_name(level: str, lang: str) -> str:
    """A warning level's name when the rule set gives none: the catalogue's
    ``warning_level_<level>`` (the MEE's official English, "orange warning")."""
    key = f"warning_level_{level}"
    return text(key, lang) if level in LEVELS[1:] else level


Pollutant = Literal["pm25", "pm10", "o3", "no2", "so2", "co"]
# Primary-pollutant keys of features.aqi.daily_aqi -> the short names rule sets use.
PRIMARY_SHORT = {
    "pm25_24h": "pm25",
    "pm10_24h": "pm10",
    "o3_8h": "o3",
    "o3_1h": "o3",
    "no2_24h": "no2",
    "so2_24h": "so2",
    "co_24h": "co",
}
# What an episode led by a pollutant without emergency reductions is called.
ADVICE_KIND = {"o3": "ozone", "pm10": "dust"}


class RuleSet(_Strict):
    name: str
    title: Text
    # Where the rules come from (document, date) and how far they were checked.
    source: str | None = None
    published: str | None = None
    verification: str | None = None
    heavy_aqi: float = 200.0
    # calendar_day: clauses count calendar days; rolling_24h: clauses count hours of
    # rolling 24-hour windows that may cross midnight (features/rolling_aqi.py).
    window: Literal["calendar_day", "rolling_24h"] = "calendar_day"
    # rolling_24h: two episodes whose gap is shorter than this count as one.
    merge_gap_hours: int = Field(0, ge=0, le=240)
    # Only episodes led by these pollutants are warned (emergency emission reductions);
    # unset: every episode. Others get ``advice`` of their kind (ozone, dust, other).
    emergency_pollutants: list[Pollutant] | None = None
    advice: dict[Literal["ozone", "dust", "other"], Text] = Field(default_factory=dict)
    # Lift at once when no level is forecast for at least this many hours from the issue
    # time (unset: the lift waits for ``confirm_issues`` agreeing issues, as a downgrade).
    lift_clear_hours: int | None = Field(None, ge=1, le=96)
    # Which forecast statistic of the daily AQI is compared with the clauses: q50, q90,
    # or another quantile qNN (10..90) interpolated linearly between q10, q50 and q90
    # (q40: the value the AQI exceeds with a probability of about 60 %).
    statistic: str = Field("q50", pattern=r"^q(10|[1-8][0-9]|90)$")
    # emergency_pollutants: how sure the lead must be. A day is led by an emergency
    # pollutant only when its q50 sub-index is at least every other pollutant's
    # sub-index at this statistic (q50: the largest median leads, as before; q90: the
    # lead must hold against the other pollutants' upper forecasts). Otherwise the day
    # is led by the other pollutant with the largest sub-index at this statistic.
    lead_rival_statistic: Literal["q50", "q90"] = "q50"
    # A day also counts as heavy when P(AQI > heavy_aqi) reaches this (unset: never).
    p_heavy_min: float | None = Field(None, gt=0, le=1)
    confirm_issues: int = Field(2, ge=1, le=5)
    levels: list[LevelRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> RuleSet:
        names = [lv.level for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"levels: each level may appear once, got {names}")
        unit = "hours" if self.window == "rolling_24h" else "days"
        for lv in self.levels:
            for alt in lv.any_of:
                for c in alt:
                    if getattr(c, unit) is None:
                        raise ValueError(
                            f"levels.{lv.level}: a {self.window} rule set counts {unit}; "
                            f"clause {c.model_dump(exclude_none=True)} does not"
                        )
        return self

    @property
    def clauses(self) -> list[Clause]:
        return [c for lv in self.levels for alt in lv.any_of for c in alt]

    @property
    def episode_aqi(self) -> float:
        """The AQI above which hours belong to an episode: the lowest ``above`` bound."""
        bounds = [c.above for c in self.clauses if c.above is not None]
        return min(bounds) if bounds else self.heavy_aqi

    def advice_text(self, kind: str, lang: str) -> str:
        t = self.advice.get(kind)  # type: ignore[call-overload]
        return t(lang) if t is not None else ""

    def level_name(self, level: str, lang: str) -> str:
        for lv in self.levels:
            if lv.level == level and lv.name is not None:
                return lv.name(lang)
        return default_level_name(level, lang)

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
    primary: str | None = None  # short name (pm25, pm10, o3, ...) of the leading pollutant
    q10: float | None = None
    # Per pollutant (short name): the sub-indices (IAQI, dimensionless) of its q10, q50
    # and q90 forecasts; None where the forecast has no pollutant rows.
    sub_index: Mapping[str, tuple[float | None, float | None, float | None]] | None = None


@dataclass(frozen=True)
class Episode:
    start: date
    end: date
    values: tuple[float, ...]  # the rule set's statistic, one per day
    heavy: tuple[bool, ...]
    remembered_days: int = 0  # days taken from memory, before the issue date
    # rolling_24h: the first local hour covered by a window above the episode bound (it
    # may lie on the day before ``start``), and the hours covered per clause bound.
    onset: datetime | None = None
    hours: dict[str, int] = field(default_factory=dict)
    lead: str | None = None  # the pollutant leading the episode


def quantile_value(q10: float | None, q50: float, q90: float | None, level: float) -> float:
    """The forecast quantile at ``level`` (0.1..0.9), linear between q10, q50 and q90;
    the median where the needed outer quantile is unknown."""
    if level == 0.5:
        return float(q50)
    outer, at = (q90, 0.9) if level > 0.5 else (q10, 0.1)
    if outer is None or outer != outer:
        return float(q50)
    return float(q50 + (outer - q50) * (level - 0.5) / (at - 0.5))


def day_value(d: DayAqi, rules: RuleSet) -> float:
    """The rule set's statistic of the day's forecast AQI."""
    return quantile_value(d.q10, d.q50, d.q90, int(rules.statistic[1:]) / 100)


def day_lead(d: DayAqi, rules: RuleSet) -> str | None:
    """The pollutant leading the day under the rule set (short name, or None if unknown).

    Without ``emergency_pollutants`` or sub-indices: the forecast's primary pollutant.
    Otherwise an emergency pollutant leads only when its q50 sub-index is at least every
    other pollutant's sub-index at ``lead_rival_statistic``; else the strongest rival
    (by that statistic) leads, so an uncertain lead gets advice, not emergency measures.
    """
    subs = d.sub_index
    if rules.emergency_pollutants is None or not subs or d.primary is None:
        return d.primary
    if d.primary not in rules.emergency_pollutants:
        return d.primary
    col = 2 if rules.lead_rival_statistic == "q90" else 1

    def rival_value(t: tuple) -> float:
        v = t[col] if t[col] is not None else t[1]
        return float(v) if v is not None else float("-inf")

    own = subs.get(d.primary, (None, None, None))[1]
    if own is None:
        return d.primary
    rivals = {p: rival_value(t) for p, t in subs.items() if p not in rules.emergency_pollutants}
    if not rivals:
        return d.primary
    best = max(rivals, key=lambda p: rivals[p])
    return d.primary if own >= rivals[best] else best


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


def _lead(primaries: list[tuple[float, str | None]], threshold: float) -> str | None:
    """The pollutant leading most days above ``threshold`` (ties: the highest day's)."""
    above = [(v, p) for v, p in primaries if p and v > threshold]
    if not above:
        return None
    counts: dict[str, int] = {}
    for _, p in above:
        counts[p] = counts.get(p, 0) + 1  # type: ignore[index]
    top = max(counts.values())
    best = max((v, p) for v, p in above if counts[p] == top)  # type: ignore[index]
    return best[1]


def find_episode_rolling(
    forecasts: list[DayAqi], rules: RuleSet, issue_date: date, memory: dict[str, dict] | None = None
) -> Episode | None:
    """The first episode (merged run of hours covered by rolling 24-hour windows above
    ``rules.episode_aqi``) that reaches the issue date or lies after it.

    The series is the remembered days just before the issue date (lead-0 forecasts of
    earlier issues) followed by the consecutive forecast days from the issue date on.
    """
    memory = memory or {}
    days = sorted((d for d in forecasts if d.day >= issue_date), key=lambda d: d.day)
    series: list[tuple[date, float, str | None]] = []
    for d in days:
        if series and d.day != series[-1][0] + timedelta(days=1):
            break
        if not series and d.day != issue_date:
            break
        series.append((d.day, day_value(d, rules), day_lead(d, rules)))
    if not series:
        return None
    prev = issue_date - timedelta(days=1)
    n_mem = 0
    while n_mem < MEMORY_DAYS and (m := memory.get(prev.isoformat())) is not None:
        series.insert(0, (prev, float(m["value"]), m.get("primary")))
        prev, n_mem = prev - timedelta(days=1), n_mem + 1
    rolling = rolling_from_daily([v for _, v, _ in series])
    base = rules.episode_aqi
    spans = runs(covered(rolling, above=base), rules.merge_gap_hours)
    # Hours before the issue time (07:00) are past: an episode that ended before it (a
    # remembered day spilling into the early hours) asks for nothing.
    issue_idx = 24 * n_mem + ISSUE_HOUR
    span = next(((a, b) for a, b in spans if b >= issue_idx), None)
    if span is None:
        return None
    a, b = span
    hours: dict[str, int] = {}
    for c in rules.clauses:
        if c.key not in hours:
            mask = covered(rolling, above=c.above, at_least=c.at_least)
            hours[c.key] = int(mask[a : b + 1].sum())
    in_ep = series[a // 24 : b // 24 + 1]
    # The warned days are those whose own daily value passes the bound: the shoulder
    # hours a window reaches into a cleaner day before or after do not make it a day of
    # the episode (the start hour still says when the first window passes).
    above = [d for d, v, _ in in_ep if v > base]
    first_day, last_day = (above[0], above[-1]) if above else (in_ep[0][0], in_ep[-1][0])
    if last_day < issue_date and in_ep[-1][0] >= issue_date:
        last_day = issue_date
    in_ep = [x for x in in_ep if first_day <= x[0] <= last_day]
    values = tuple(v for _, v, _ in in_ep)
    return Episode(
        start=in_ep[0][0],
        end=in_ep[-1][0],
        values=values,
        heavy=tuple(v > rules.heavy_aqi for v in values),
        remembered_days=sum(1 for d, _, _ in in_ep if d < issue_date),
        onset=datetime.combine(series[a // 24][0], time(a % 24)),
        hours=hours,
        lead=_lead([(v, p) for _, v, p in in_ep], base),
    )


def _clause_holds(c: Clause, ep: Episode, rules: RuleSet) -> bool:
    if c.hours is not None:
        return ep.hours.get(c.key, 0) >= c.hours
    if c.above is not None and c.above == rules.heavy_aqi:
        n = sum(ep.heavy)  # heavy by value or by probability
    elif c.above is not None:
        n = sum(v > c.above for v in ep.values)
    else:
        n = sum(v >= c.at_least for v in ep.values)  # type: ignore[operator]
    return n >= (c.days or 0)


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


@dataclass(frozen=True)
class Assessment:
    """What one issue's forecast asks for under a rule set.

    ``level``: the warning level asked for ("none" also when the episode is led by a
    pollutant without emergency reductions); ``reached``: the level the episode reaches
    whatever leads it; ``advice``: the kind (ozone, dust, other) when the episode reaches
    a level but gets health advice and supervision instead of a warning.
    """

    level: str
    reached: str
    episode: Episode | None
    advice: str | None = None


def assess(
    forecasts: list[DayAqi], rules: RuleSet, issue_date: date, memory: dict[str, dict] | None = None
) -> Assessment:
    if rules.window == "rolling_24h":
        ep = find_episode_rolling(forecasts, rules, issue_date, memory)
    else:
        ep = find_episode(forecasts, rules, issue_date, memory)
        if ep is not None:
            prim = {d.day: day_lead(d, rules) for d in forecasts}
            mem = memory or {}
            lead_days = [
                (
                    v,
                    prim.get(ep.start + timedelta(days=i))
                    or (mem.get((ep.start + timedelta(days=i)).isoformat()) or {}).get("primary"),
                )
                for i, v in enumerate(ep.values)
            ]
            ep = replace(ep, lead=_lead(lead_days, rules.heavy_aqi))
    reached = episode_level(ep, rules)
    if reached == "none" or rules.emergency_pollutants is None or ep is None:
        return Assessment(reached, reached, ep)
    if ep.lead is None or ep.lead in rules.emergency_pollutants:
        return Assessment(reached, reached, ep)
    return Assessment("none", reached, ep, ADVICE_KIND.get(ep.lead, "other"))


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
            memory[d.day.isoformat()] = {
                "value": day_value(d, rules),
                "heavy": is_heavy(d, rules),
                **({"primary": lead} if (lead := day_lead(d, rules)) else {}),
            }
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
    found = assess(forecasts, rules, issue_date, state.memory)
    ep, wanted = found.episode, found.level
    memory = _remember(state, forecasts, rules, issue_date)
    base = replace(state, updated_on=issue_date, memory=memory)
    cur = state.level

    if (
        rules.window == "rolling_24h"
        and cur != "none"
        and ep is not None
        and state.until is not None
        and issue_date > state.until
        # whole clean days between the warned period and the next episode
        and ((ep.start - state.until).days - 1) * 24 >= rules.merge_gap_hours
        and wanted != "none"
    ):
        # The warned episode is over and the next one is a separate episode (its gap is
        # long enough to clear): lift this warning, and warn the next one on its own.
        lifted = replace(base, level="none", since=None, until=None, pending=None)
        new = replace(lifted, level=wanted, since=ep.start, until=ep.end)
        return new, [
            _transition("lifted", state, lifted, issue_date, "episode over; the next is separate"),
            _transition("issued", lifted, new, issue_date, f"episode {ep.start}..{ep.end}"),
        ]

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
    clear = False
    if wanted == "none" and rules.lift_clear_hours is not None:
        # Lift at once when the whole horizon from the issue time (07:00) is clear for
        # at least the rule set's hours: the rule set's own lifting condition.
        ahead = [d.day for d in forecasts if d.day >= issue_date]
        horizon_h = 24 * ((max(ahead) - issue_date).days + 1) - ISSUE_HOUR if ahead else 0
        if horizon_h >= rules.lift_clear_hours:
            target, lift_at_end, clear = "none", True, True
    if not lift_at_end and count < rules.confirm_issues:
        new_pending = {
            "level": target,
            "count": count,
            "first_on": pending["first_on"] if pending else issue_date.isoformat(),
        }
        return replace(base, pending=new_pending), []
    reason = "announced period over" if period_over else f"{count} consecutive issues agree"
    if clear:
        reason = f"no level forecast for the next {rules.lift_clear_hours} hours or more"
    if target == "none":
        new = replace(base, level="none", since=None, until=None, pending=None)
        return new, [_transition("lifted", state, new, issue_date, reason)]
    until = ep.end if ep is not None else state.until
    new = replace(base, level=target, until=until, pending=None)
    return new, [_transition("downgraded", state, new, issue_date, reason)]
