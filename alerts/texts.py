"""Texts shown to people, kept in one catalogue (alerts/templates/catalogue.yaml) in both
languages: the prompt, the duty officers' page and the CAP messages all read it through
``text(key, lang, **values)``."""

from __future__ import annotations

import string
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from aqcast.alerts.rounding import hour_ranges
from aqcast.configuration import ConfigError, load_yaml_model

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")


class Text(BaseModel):
    """A text in Chinese and English; ``text(lang)`` picks one."""

    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


CATALOGUE_PATH = Path(__file__).resolve().parent / "templates" / "catalogue.yaml"
PHRASES_PATH = CATALOGUE_PATH  # the former name
MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
PAGE_PREFIX = "page_"
DATE_FORMATS = {"date_format", "short_date_format"}
REQUIRED_PHRASES = {
    "title",
    "number_line",
    "issuer_line",
    "time_format",
    "preview_label",
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
    *(f"level_{n}" for n in range(1, 7)),
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


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


@lru_cache(maxsize=2)
def load_phrases(path: Path = CATALOGUE_PATH) -> dict[str, Text]:
    """The catalogue, checked: every key the code needs is there, and both languages of a
    text take the same placeholders (a translation cannot drop a number)."""
    phrases = load_yaml_model(path, PhraseFile).root
    missing = sorted(REQUIRED_PHRASES - set(phrases))
    if missing:
        raise ConfigError(f"{path}: missing phrase(s) {missing}")
    for key, t in phrases.items():
        if key in DATE_FORMATS:  # each language names the month its own way
            continue
        zh, en = _fields(t.zh), _fields(t.en)
        if zh != en:
            raise ConfigError(f"{path}: {key}: zh takes {sorted(zh)} but en takes {sorted(en)}")
    return phrases


load_catalogue = load_phrases


def text(key: str, lang: str, **values: Any) -> str:
    """The catalogue's text ``key`` in ``lang`` with ``values`` filled in."""
    t = load_phrases()[key](lang)
    return t.format(**values) if values else t


def prefixed_texts(prefix: str, lang: str) -> dict[str, str]:
    """One page's labels (catalogue keys ``<prefix><name>``) in ``lang``, by ``name``."""
    return {k[len(prefix) :]: v(lang) for k, v in load_phrases().items() if k.startswith(prefix)}


def page_texts(lang: str) -> dict[str, str]:
    """The page's labels (catalogue keys ``page_*``) in ``lang``, by their short names."""
    return prefixed_texts(PAGE_PREFIX, lang)


class Say:
    """Texts of one language, filled with values."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **kw: Any) -> str:
        return text(key, self.lang, **kw)

    def join(self, items: list[str]) -> str:
        return self("list_sep").join(items)

    def date(self, d: date, short: bool = False) -> str:
        key = "short_date_format" if short else "date_format"
        return self(key, y=d.year, m=d.month, d=d.day, mon=MONTHS_EN[d.month - 1])

    def hours(self, window: tuple[int, int] | list[int]) -> str:
        return self("hours_format", start=f"{window[0]:02d}", end=f"{window[1]:02d}")

    def hour_runs(self, hours: list[int]) -> str:
        return self("or_sep").join(self.hours(r) for r in hour_ranges(hours))

    def level(self, number: int) -> str:
        """The AQI level name (MEE official English)."""
        return self(f"level_{number}")

    def level_span(self, lo: int, hi: int) -> str:
        if lo == hi:
            return self.level(lo)
        short = f"level_{lo}_short"
        lo_name = self(short) if lo >= 3 and short in load_phrases() else self.level(lo)
        return self("level_span", lo=lo_name, hi=self.level(hi))
