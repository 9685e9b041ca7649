"""Texts shown to people, kept in configuration in both languages."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from aqcast.alerts.rounding import hour_ranges
from aqcast.service.config_files import ConfigError, load_yaml_model

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")


class Text(BaseModel):
    """A text in Chinese and English; ``text(lang)`` picks one."""

    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


PHRASES_PATH = Path(__file__).resolve().parent / "templates" / "phrases.yaml"
MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
REQUIRED_PHRASES = {
    "title",
    "today_aqi",
    "primary",
    "o3_line",
    "pm25_line",
    "outlook_day",
    "critical_line",
    "critical_low",
    "risk_high",
    "risk_low",
    "stagnation",
    "warning_active",
    "campaign_line",
    "field_focus",
    "stagger_line",
    "no_action",
    "chance",
    "list_sep",
    "or_sep",
    "date_format",
    "short_date_format",
    "hours_format",
    "note_met_observed",
    "note_met_none",
    "note_fallback",
    "note_missing",
    "issued",
    "cap_warning_event",
    "cap_warning_headline",
    "cap_warning_description",
    "cap_warning_lifted",
    "cap_advisory_event",
    "cap_advisory_headline",
    "cap_advisory_description",
    "cap_action_issued",
    "cap_action_upgraded",
    "cap_action_downgraded",
    "cap_action_extended",
    "cap_action_lifted",
}


class PhraseFile(RootModel[dict[str, Text]]):
    pass


@lru_cache(maxsize=2)
def load_phrases(path: Path = PHRASES_PATH) -> dict[str, Text]:
    phrases = load_yaml_model(path, PhraseFile).root
    missing = sorted(REQUIRED_PHRASES - set(phrases))
    if missing:
        raise ConfigError(f"{path}: missing phrase(s) {missing}")
    return phrases


class Say:
    """Phrases of one language, filled with values."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.p = load_phrases()

    def __call__(self, key: str, **kw: Any) -> str:
        return self.p[key](self.lang).format(**kw)

    def join(self, items: list[str]) -> str:
        return self("list_sep").join(items)

    def date(self, d: date, short: bool = False) -> str:
        key = "short_date_format" if short else "date_format"
        return self(key, y=d.year, m=d.month, d=d.day, mon=MONTHS_EN[d.month - 1])

    def hours(self, window: tuple[int, int] | list[int]) -> str:
        return self("hours_format", start=f"{window[0]:02d}", end=f"{window[1]:02d}")

    def hour_runs(self, hours: list[int]) -> str:
        return self("or_sep").join(self.hours(r) for r in hour_ranges(hours))
