"""Labels of the duty officers' page in Chinese (default) and English, read from the one
text catalogue (alerts/templates/catalogue.yaml, keys ``page_*``)."""

from __future__ import annotations

from aqcast.alerts.texts import LANGS, page_texts, text

TEXTS: dict[str, dict[str, str]] = {lang: page_texts(lang) for lang in LANGS}

WARNING_LEVELS: dict[str, dict[str, str]] = {
    level: {lang: text(f"warning_level_{level}", lang) for lang in LANGS}
    for level in ("blue", "yellow", "orange", "red")
}


def aqi_level_name(aqi: float, lang: str) -> str:
    """The HJ 633-2012 level name of a daily AQI in ``lang`` (MEE official English)."""
    from aqcast.features.aqi import aqi_level

    level = aqi_level(aqi)
    if level is None:
        return ""
    return text(f"level_{level.number}", lang)
