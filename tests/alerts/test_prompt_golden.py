"""Golden renders of the work prompt, checked line by line, and properties of its wording.

Regenerate the golden files after an intended change of wording with
``AQCAST_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/alerts/test_prompt_golden.py`` and read
the diff before committing it.
"""

from __future__ import annotations

import os
import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aqcast.alerts.campaign import Targets, load_campaign
from aqcast.alerts.prompt import build_prompt, render_prompt
from aqcast.alerts.rounding import level_span
from aqcast.alerts.targets import remaining_allowance
from aqcast.alerts.texts import Say
from aqcast.alerts.warnings import WarningStatus
from aqcast.features.aqi import aqi_level_numbers
from tests.support import GOLDEN_DIR
from tests.support.forecasts import make_forecast

GOLDEN = GOLDEN_DIR
CFG = load_campaign()
TARGETS = {
    "pm25_annual_mean_ugm3": 38,
    "good_day_ratio_pct": 71,
    "heavy_days_max": 3,
    "pm25_lowest_feasible_mean_ugm3": 15,
}


def _status(ytd: dict, today: date) -> dict:
    t = Targets(**TARGETS)
    return {
        "targets": t.model_dump(),
        "year_to_date": ytd,
        "allowance": remaining_allowance(ytd, t, today),
    }


def _ytd(year, through, n, pm25_mean, good, heavy):
    return {
        "year": year,
        "through": through,
        "n_aqi_days": n,
        "n_good_days": good,
        "n_non_good_days": n - good,
        "n_heavy_days": heavy,
        "n_pm25_days": n,
        "pm25_sum_ugm3": pm25_mean * n,
        "pm25_mean_ugm3": pm25_mean,
        "good_day_ratio_pct": 100.0 * good / n,
    }


def summer_ozone_day(lang: str) -> dict:
    d = date(2015, 7, 1)
    fc = make_forecast(d, [130, 90, 80], o3_mda8=[195, 150, 120], pm25=[45, 40, 35])
    yesterday = {
        "date": "2015-06-30",
        "aqi": 132,
        "primary": ["o3_8h"],
        "o3_mda8": 178,
        "o3_1h_max": 231,
        "critical_value_ugm3": 205,
        "worst_station": {"name": {"zh": "东四", "en": "Dongsi"}[lang], "aqi": 151},
        "forecast_levels": [2, 3],
    }
    return build_prompt(
        fc,
        "district",
        CFG,
        lang=lang,
        number=182,
        yesterday=yesterday,
        targets=_status(_ytd(2015, "2015-06-30", 181, 41.6, 120, 2), d),
    )


def winter_orange_day(lang: str) -> dict:
    d = date(2015, 12, 8)
    fc = make_forecast(d, [320, 350, 150], o3_mda8=[30, 30, 30], p_heavy=0.8, stagnation=True)
    yesterday = {
        "date": "2015-12-07",
        "aqi": 286,
        "primary": ["pm25_24h"],
        "o3_mda8": 22,
        "worst_station": {"name": {"zh": "东四", "en": "Dongsi"}[lang], "aqi": 312},
        "forecast_levels": [4, 5],
    }
    return build_prompt(
        fc,
        "district",
        CFG,
        lang=lang,
        number=342,
        warning=WarningStatus("orange", date(2015, 12, 7), date(2015, 12, 10)),
        transitions=[
            {
                "action": "upgraded",
                "from_level": "yellow",
                "to_level": "orange",
                "end_date": date(2015, 12, 10),
            }
        ],
        yesterday=yesterday,
        targets=_status(_ytd(2015, "2015-12-07", 340, 47.2, 230, 5), d),
    )


def clean_day(lang: str) -> dict:
    d = date(2015, 10, 20)
    fc = make_forecast(d, [40, 45, 70], o3_mda8=[70, 75, 80], pm25=[20, 25, 45])
    yesterday = {
        "date": "2015-10-19",
        "aqi": 46,
        "primary": [],
        "o3_mda8": 88,
        "worst_station": {"name": {"zh": "万柳", "en": "Wanliu"}[lang], "aqi": 58},
        "forecast_levels": [1, 2],
    }
    return build_prompt(
        fc,
        "district",
        CFG,
        lang=lang,
        number=293,
        yesterday=yesterday,
        targets=_status(_ytd(2015, "2015-10-19", 292, 39.0, 210, 2), d),
    )


CASES = {"summer_ozone": summer_ozone_day, "winter_orange": winter_orange_day, "clean": clean_day}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_render(case, lang):
    got = render_prompt(CASES[case](lang), "text")
    path = GOLDEN / f"prompt_{case}.{lang}.txt"
    if os.environ.get("AQCAST_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    want = path.read_text(encoding="utf-8").splitlines()
    lines = got.splitlines()
    for i, (g, w) in enumerate(zip(lines, want, strict=False)):
        assert g == w, f"{path.name} line {i + 1}"
    assert len(lines) == len(want), f"{path.name}: {len(lines)} lines, golden has {len(want)}"


# Latin letters allowed in the Chinese prompt: the index and pollutant symbols.
ALLOWED_LATIN = re.compile(r"AQI|PM2\.5|PM10")


@pytest.mark.parametrize("case", sorted(CASES))
def test_chinese_prompt_has_no_english(case):
    text = ALLOWED_LATIN.sub("", render_prompt(CASES[case]("zh"), "text"))
    assert not re.search(r"[A-Za-z]", text), re.search(r".{0,20}[A-Za-z]+.{0,20}", text)[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_english_prompt_has_no_chinese(case):
    assert not re.search(r"[\u4e00-\u9fff]", render_prompt(CASES[case]("en"), "text"))


@pytest.mark.slow
def test_notes_without_a_model_are_in_chinese():
    fc = make_forecast(
        date(2015, 7, 1), [130, 90, 80], met_mode="none", method="fallback:climatology"
    )
    fc.missing_inputs = [
        "target-day weather",
        "observations of the day before the issue date",
        "feed:open_meteo",
        "something new",
    ]
    p = build_prompt(fc, "district", CFG, lang="zh")
    notes = "".join(p["notes"])
    assert "气候平均方法" in notes and "预报日气象资料" in notes and "发布前一日观测资料" in notes
    assert not re.search(r"[A-Za-z]", notes.replace("Open-Meteo", ""))
    en = " ".join(build_prompt(fc, "district", CFG, lang="en")["notes"])
    assert "climatology baseline" in en and "target-day weather" in en


def test_english_uses_the_official_level_names():
    names = [Say("en").level(n) for n in range(1, 7)]
    assert names == [
        "Excellent",
        "Good",
        "Lightly Polluted",
        "Moderately Polluted",
        "Heavily Polluted",
        "Severely Polluted",
    ]


# --- properties of the level words -------------------------------------------------------

aqi_values = st.floats(min_value=0, max_value=500, allow_nan=False)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(aqi_values, aqi_values, aqi_values)
def test_level_words_name_one_level_or_two_adjacent_ones_around_the_median(a, b, c):
    q10, q50, q90 = sorted([a, b, c])
    lo, hi = level_span(q10, q50, q90)
    n10, n50, n90 = (int(x) for x in aqi_level_numbers([q10, q50, q90]))
    assert hi - lo in (0, 1)
    assert lo <= n50 <= hi  # the median's level is always named
    assert n10 <= lo and hi <= n90  # never a level the band does not reach
    assert (lo == hi) == (n10 == n90)
    zh = Say("zh").level_span(lo, hi)
    assert zh.count("至") == (hi - lo)


@pytest.mark.parametrize(
    ("q10", "q50", "q90", "zh", "en"),
    [
        (62, 90, 118, "良至轻度污染", "Good to Lightly Polluted"),
        (120, 165, 210, "轻度至中度污染", "Lightly Polluted to Moderately Polluted"),
        (120, 185, 210, "中度至重度污染", "Moderately Polluted to Heavily Polluted"),
        (30, 45, 50, "优", "Excellent"),
    ],
)
def test_level_words_by_hand(q10, q50, q90, zh, en):
    span = level_span(q10, q50, q90)
    assert Say("zh").level_span(*span) == zh and Say("en").level_span(*span) == en


# --- properties of the target sentences --------------------------------------------------


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=364),
    mean=st.floats(min_value=5, max_value=120, allow_nan=False),
    good_share=st.floats(min_value=0, max_value=1),
)
def test_the_stated_allowance_meets_the_target_after_rounding_and_one_more_does_not(
    n, mean, good_share
):
    year = 2015
    today = date.fromordinal(date(year, 1, 1).toordinal() + n)
    good = round(good_share * n)
    ytd = _ytd(year, None, n, round(mean), good, 0)
    al = remaining_allowance(ytd, Targets(**TARGETS), today)
    r, total = al["remaining_days"], n + al["remaining_days"]
    x = al["pm25_max_mean_ugm3"]
    annual = lambda m: int((ytd["pm25_sum_ugm3"] + m * r) / total + 0.5)  # noqa: E731
    if x >= 0:
        assert annual(x) <= 38 < annual(x + 1)
    else:
        assert annual(0) > 38
    need = al["good_days_needed"]
    ratio = lambda g: int(1000 * (good + g) / total + 0.5 + 1e-9) / 10  # noqa: E731
    if al["good_target_met_possible"]:
        assert ratio(need) >= 71 and (need == 0 or ratio(need - 1) < 71)
        assert al["good_ratio_needed_pct"] * r / 100 >= need - 1e-9  # never understated
    else:
        assert ratio(r) < 71
    lines = build_prompt(
        make_forecast(today, [60, 60]),
        "district",
        CFG,
        lang="zh",
        targets={"targets": TARGETS, "year_to_date": ytd, "allowance": al},
    )["target_lines"]
    text = "".join(lines)
    pm_ok = x >= TARGETS["pm25_lowest_feasible_mean_ugm3"]
    if pm_ok:
        assert f"PM2.5均值须不超过{x}" in text
    if not pm_ok and not al["good_target_met_possible"]:
        assert f"余下{r}天：全年目标已无法完成。" in text
    elif not pm_ok:
        assert "PM2.5年均浓度目标已无法完成" in text
    assert "None" not in text and "-" not in text.replace("PM2.5", "")


@pytest.mark.parametrize(
    ("heavy", "zh", "en"),
    [
        (1, "重污染天数1天（上限3天），还可允许2天。", "so far: 1 (limit 3); 2 more allowed."),
        (3, "重污染天数3天，已达上限（3天）。", "so far: 3, the limit of 3 is reached."),
        (5, "重污染天数5天，已超过上限（3天）2天。", "so far: 5, 2 over the limit of 3."),
    ],
)
def test_heavy_days_name_the_limit(heavy, zh, en):
    today = date(2015, 12, 8)
    ytd = _ytd(2015, "2015-12-07", 340, 40.0, 250, heavy)
    for lang, want in (("zh", zh), ("en", en)):
        lines = build_prompt(
            make_forecast(today, [60, 60]), "district", CFG, lang=lang, targets=_status(ytd, today)
        )["target_lines"]
        assert any(want in x for x in lines), lines
