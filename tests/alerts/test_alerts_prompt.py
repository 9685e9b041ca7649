"""The morning work prompt: both languages, three formats, no empty sections, bureau rounding."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from aqcast.alerts.campaign import load_campaign
from aqcast.alerts.prompt import build_prompt, render_prompt
from aqcast.alerts.rounding import hour_ranges, percent_step, rounded_range
from aqcast.alerts.warnings import WarningStatus
from tests.support.forecasts import make_forecast

CFG = load_campaign()


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (62.3, 97.1, (60, 100)),
        (104.0, 156.0, (100, 160)),
        (55.0, 55.0, (55, 60)),
        (141.0, 239.0, (140, 240)),
    ],
)
def test_ranges_round_outwards_to_5_or_10(lo, hi, expected):
    assert rounded_range(lo, hi) == expected


@pytest.mark.parametrize(
    ("p", "text"), [(0.0, "<10%"), (0.04, "<10%"), (0.26, "30%"), (0.65, "70%"), (0.95, ">90%")]
)
def test_probabilities_in_steps_of_ten(p, text):
    assert percent_step(p) == text


def test_hour_ranges():
    assert hour_ranges([15, 13, 14, 18]) == [(13, 16), (18, 19)]


def ozone_day(**kw):
    return make_forecast(date(2015, 7, 1), [130, 90, 80], o3_mda8=[195, 150, 120], **kw)


def clean_winter_day():
    return make_forecast(date(2015, 11, 3), [60, 70, 80], o3_mda8=[60, 60, 60], pm25=[40, 45, 50])


def test_ozone_day_in_chinese_names_the_numbers_and_the_staggered_sectors():
    p = build_prompt(ozone_day(), "district", CFG, lang="zh")
    text = render_prompt(p, "text")
    assert text.startswith("全区空气质量工作提示\n区生态环境局　　2015年7月1日7时30分\n")
    # the words name two adjacent levels at most; the numbers give the 10-90 % range
    assert "AQI预计为100-160，空气质量轻度至中度污染，首要污染物为臭氧" in text
    assert "臭氧日最大8小时平均浓度约195微克/立方米（150-240），超过160的概率90%" in text
    assert "臭氧临界值" in text and "最可能达到的时段为14-17时" in text
    assert "夏季臭氧污染防治百日攻坚行动" in text
    # the window follows the day's formation: from 2 h before the build-up to the peak
    assert "工业涂装：08-15时避免涂装喷涂、有机溶剂使用，建议调整至05-08时或16-22时" in text
    assert "加油站及储油库：08-15时避免油品装卸，建议调整至20-06时" in text
    assert "无需" not in text
    assert p["actions"]["no_action"] is False


def test_english_prompt_reads_as_sentences():
    text = render_prompt(build_prompt(ozone_day(), "district", CFG, lang="en"), "text")
    assert text.startswith("Air quality work prompt: the district\n")
    assert "District Ecology and Environment Bureau, 1 Jul 2015, 07:30" in text
    assert (
        "Today's AQI is expected at 100-160: Lightly Polluted to Moderately Polluted, "
        "primary pollutant O3." in text
    )
    assert "chance above 160 90%" in text
    assert "Industrial coating: avoid coating and spraying, solvent use 08:00-15:00" in text
    assert not re.search(r"[\u4e00-\u9fff]", text)  # no Chinese left in the English prompt


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_clean_day_says_no_action_and_has_no_empty_sections(lang):
    p = build_prompt(clean_winter_day(), "district", CFG, lang=lang)
    text = render_prompt(p, "text")
    assert (
        "今日无需启动错峰生产或应急减排措施" if lang == "zh" else "No staggered operations"
    ) in text
    assert p["actions"]["no_action"] is True
    assert "critical_line" not in p  # ozone does not matter on this day
    assert "warning_lines" not in p
    # every heading is followed by a non-empty line
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"[一二三四五六七八九十]、.+|\d+\. [A-Z][A-Z -]+", line):
            assert i + 1 < len(lines) and lines[i + 1].strip(), f"empty section {line!r}"


def test_notes_for_observed_weather_and_fallback_method():
    p = build_prompt(
        ozone_day(met_mode="observed", method="fallback:persistence"), "district", CFG, lang="en"
    )
    notes = " ".join(p["notes"])
    assert "observed weather" in notes and "persistence baseline" in notes
    assert "notes" not in build_prompt(ozone_day(), "district", CFG, lang="en")


def test_warning_section_and_measures_on_a_red_day():
    fc = make_forecast(
        date(2015, 12, 8), [320, 350, 150], o3_mda8=[30, 30, 30], p_heavy=0.8, stagnation=True
    )
    state = WarningStatus("red", date(2015, 12, 7), date(2015, 12, 10))
    trans = [
        {
            "action": "upgraded",
            "from_level": "orange",
            "to_level": "red",
            "end_date": date(2015, 12, 10),
        }
    ]
    p = build_prompt(fc, "district", CFG, lang="zh", warning=state, transitions=trans)
    text = render_prompt(p, "text")
    assert "今日升级为红色预警" in text and "红色预警正在执行（12月7日至12月10日）" in text
    assert "机动车单双号限行" in text
    assert "不利气象条件风险较高" in text and "静稳" in text
    assert p["warning"]["level"] == "red"
    assert "今日无需" not in text


def _status(**allowance):
    return {
        "targets": {"pm25_annual_mean_ugm3": 38, "good_day_ratio_pct": 71, "heavy_days_max": 3},
        "year_to_date": {
            "year": 2015,
            "through": "2015-06-30",
            "pm25_mean_ugm3": 41.6,
            "good_day_ratio_pct": 68.04,
            "n_heavy_days": 2,
            "n_pm25_days": 180,
            "n_aqi_days": 180,
            "n_non_good_days": 58,
        },
        "allowance": {
            "remaining_days": 184,
            "pm25_max_mean_ugm3": 34,
            "good_days_needed": 140,
            "good_ratio_needed_pct": 76.1,
            "good_target_met_possible": True,
            "non_good_days_left": 47,
            "heavy_days_left": 1,
            **allowance,
        },
    }


def test_targets_section():
    p = build_prompt(ozone_day(), "district", CFG, lang="zh", targets=_status())
    text = render_prompt(p, "text")
    assert "截至6月30日，PM2.5累计平均浓度42微克/立方米（目标38），" in text
    assert "优良天数比例68.0%（目标71%）。" in text
    assert "余下184天：PM2.5均值须不超过34、优良天数比例须达76.1%。" in text
    assert "重污染天数2天（上限3天），还可允许1天。" in text
    missed = build_prompt(
        ozone_day(), "district", CFG, lang="zh", targets=_status(good_target_met_possible=False)
    )
    assert "余下184天：PM2.5均值须不超过34；优良天数比例目标已无法完成。" in missed["target_lines"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_and_json_come_from_the_same_prompt(lang):
    p = build_prompt(ozone_day(), "district", CFG, lang=lang)
    html = render_prompt(p, "html")
    assert html.startswith("<!DOCTYPE html>") and f'lang="{lang}"' in html
    assert p["title"] in html
    assert "&lt;10%" in html or "<10%" not in html  # text is escaped in HTML
    data = json.loads(render_prompt(p, "json"))
    assert data["today"]["aqi_range"] == [100, 160]
    assert data["action_lines"] == p["action_lines"]


def test_unknown_language_or_format_is_refused():
    with pytest.raises(ValueError, match="lang"):
        build_prompt(ozone_day(), "district", CFG, lang="fr")
    with pytest.raises(ValueError, match="format"):
        render_prompt(build_prompt(ozone_day(), "district", CFG), "pdf")


def test_html_has_an_a4_print_stylesheet_and_the_numbered_sections():
    p = build_prompt(ozone_day(), "district", CFG, lang="zh", preview=True)
    html = render_prompt(p, "html")
    assert "@page { size: A4;" in html and "@media print" in html
    assert "<h2>一、空气质量预报</h2>" in html and "<h2>四、工作要求</h2>" in html
    assert 'class="preview-label"' in html and 'class="work-prompt preview"' in html
    assert "<h1>全区空气质量工作提示</h1>" in html


def test_a_prompt_stored_before_numbered_sections_still_renders():
    old = {
        "lang": "zh",
        "area": "district",
        "title": "全区空气质量工作提示（2015年7月1日）",
        "today_lines": ["预计今日AQI为100-160，空气质量轻度污染。"],
        "outlook_lines": ["7月2日：AQI 70-110，良"],
        "critical_line": "今日臭氧临界值为204微克/立方米。",
        "action_lines": ["今日无需启动错峰生产或应急减排措施。"],
    }
    text = render_prompt(old, "text").splitlines()
    assert text[0] == "全区空气质量工作提示（2015年7月1日）"
    assert "一、空气质量预报" in text and "二、臭氧临界值" in text and "三、工作要求" in text
    assert text[text.index("一、空气质量预报") + 1] == "预计今日AQI为100-160，空气质量轻度污染。"
    assert "<h2>三、工作要求</h2>" in render_prompt(old, "html")


def test_a_polluted_day_without_advisories_is_not_called_free_of_measures():
    # AQI 160 (moderately polluted) in winter: no advisory, no heavy day, no warning
    fc = make_forecast(date(2015, 11, 3), [160, 120, 90], o3_mda8=[40, 40, 40])
    for lang, none_needed in (("zh", "今日无需"), ("en", "are needed today")):
        p = build_prompt(fc, "district", CFG, lang=lang)
        text = render_prompt(p, "text")
        assert none_needed not in text and p["actions"]["no_action"] is False
        assert ("密切关注" if lang == "zh" else "watch the air quality") in text
