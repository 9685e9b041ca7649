"""Texts shown to people, kept in configuration in both languages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")


class Text(BaseModel):
    """A text in Chinese and English; ``text(lang)`` picks one."""

    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en
