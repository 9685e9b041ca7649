"""The national rule sets (mee-2017, mee-2024) on hand-made episodes: every clause at its
boundary, rolling 24-hour windows crossing midnight, merged episodes, PM2.5- against
ozone- and dust-led episodes, and the rule set's own lifting condition."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from aqcast.alerts.warnings import (
    DayAqi,
    RuleSet,
    WarningStatus,
    assess,
    find_episode_rolling,
    load_rule_set,
    next_state,
)
from aqcast.features.rolling_aqi import covered, rolling_from_daily, rolling_mean_hourly, runs

D0 = date(2015, 12, 1)
M17 = load_rule_set("mee-2017")
M24 = load_rule_set("mee-2024")
BTH = load_rule_set("bth-2016")


def days(values: list[float], primary: str = "pm25", start: date = D0) -> list[DayAqi]:
    return [
        DayAqi(start + timedelta(days=i), float(v), primary=primary) for i, v in enumerate(values)
    ]


def level(rules: RuleSet, values: list[float], primary: str = "pm25") -> str:
    return assess(days(values, primary), rules, D0).level


# --- the rolling series ---------------------------------------------------------------


def test_rolling_window_mixes_the_two_days_it_spans():
    r = rolling_from_daily([100, 250])
    assert len(r) == 48
    assert r[23] == 100  # day 0 is taken flat (no earlier day)
    assert r[47] == 250  # the window ending at midnight is the calendar day
    assert r[24 + 11] == pytest.approx((12 * 100 + 12 * 250) / 24)  # noon-to-noon window


def test_covered_hours_of_one_day_with_clean_neighbours_is_exactly_24():
    r = rolling_from_daily([0, 201, 0])
    mask = covered(r, above=200)
    assert mask.sum() == 24 and mask[24:48].all()
    assert covered(rolling_from_daily([0, 200, 0]), above=200).sum() == 0  # strictly above


def test_covered_at_least_counts_the_bound_itself():
    assert covered(rolling_from_daily([0, 500, 0]), at_least=500).sum() == 24
    assert covered(rolling_from_daily([0, 499, 0]), at_least=500).sum() == 0


def test_runs_merge_gaps_shorter_than_the_merge_gap():
    mask = np.zeros(100, dtype=bool)
    mask[0:10] = mask[40:50] = True  # gap of 30 hours
    assert runs(mask, 36) == [(0, 49)]
    assert runs(mask, 30) == [(0, 9), (40, 49)]  # a gap of exactly 30 is long enough
    assert runs(mask) == [(0, 9), (40, 49)]


def test_trailing_24h_mean_of_hourly_values_needs_20_valid_hours():
    x = np.full(48, 100.0)
    x[30:35] = np.nan  # 5 missing hours: every window holding them has 19 valid
    m = rolling_mean_hourly(x)
    assert np.isnan(m[:23]).all() and m[23] == 100  # a full window needs 24 hours
    assert np.isnan(m[40]) and np.isnan(m[47])
    x[34] = 100.0  # 4 missing: 20 valid hours are enough
    assert rolling_mean_hourly(x)[47] == 100


# --- mee-2017 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 200, 0], "none"),  # blue needs AQI above 200
        ([0, 201, 0], "blue"),  # > 200 for 24 h
        ([0, 201, 201, 0], "yellow"),  # > 200 for 48 h
        ([0, 201, 201, 201, 0], "yellow"),  # 72 h but 300 never reached
        ([0, 201, 201, 301, 0], "orange"),  # 72 h with > 300 reached
        ([0, 301, 201, 0], "yellow"),  # > 300 reached but only 48 h above 200
        ([0, 301, 201, 201, 201, 0], "orange"),  # 96 h, > 300 for only 24 h
        ([0, 301, 301, 201, 201, 0], "red"),  # 96 h with > 300 for 48 h
        ([0, 301, 301, 201, 0], "orange"),  # > 300 for 48 h but only 72 h above 200
        # A day near 500 after a clean day: the windows ending in its morning already pass
        # 200 (step profile), so it covers more than 48 hours.
        ([0, 499, 0], "yellow"),
        ([0, 500, 0], "red"),  # 500 reached
    ],
)
def test_mee_2017_clause_boundaries(values, expected):
    assert level(M17, values) == expected


def test_mee_2017_rolling_window_crossing_midnight_adds_hours():
    # One calendar day above 200 (bth-2016: blue), but the windows spanning the evening
    # before and the morning after also pass 200: 54 hours, so yellow.
    values = [0, 180, 260, 150, 0]
    ep = find_episode_rolling(days(values), M17, D0)
    assert ep is not None and ep.hours["above:200"] == 54
    # The warned days are the days above 200; the first window passes 200 at 07:00 the
    # day before.
    assert ep.start == ep.end == D0 + timedelta(days=2)
    assert ep.onset == datetime(2015, 12, 2, 7)
    assert level(M17, values) == "yellow"
    assert level(BTH, values) == "blue"
    # Without the high shoulder days the same peak day covers fewer than 48 hours.
    assert level(M17, [0, 0, 260, 0, 0]) == "blue"


def test_mee_2017_merges_episodes_whose_gap_is_too_short_to_clear():
    merged = find_episode_rolling(days([0, 201, 0, 201, 0]), M17, D0)
    assert merged is not None and merged.hours["above:200"] == 48
    assert (merged.start, merged.end) == (D0 + timedelta(days=1), D0 + timedelta(days=3))
    assert level(M17, [0, 201, 0, 201, 0]) == "yellow"  # 24 h gap < 36 h: one episode
    assert level(M17, [0, 201, 0, 0, 201, 0]) == "blue"  # 48 h gap: two episodes


# --- mee-2024 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 151, 0], "none"),  # > 150 for 24 h only; no blue level
        ([0, 200, 0], "none"),
        ([0, 201, 0], "yellow"),  # forecast daily AQI > 200
        ([0, 150, 150, 0], "none"),  # 150 is not above 150
        ([0, 151, 151, 0], "yellow"),  # > 150 for 48 h
        ([0, 151, 151, 151, 0], "orange"),  # > 150 for 72 h
        ([0, 201, 201, 0], "orange"),  # > 200 for 48 h
        ([0, 201, 151, 0], "yellow"),  # > 200 24 h, > 150 48 h
        ([0, 201, 201, 201, 0], "orange"),  # 72 h above 200, 300 not reached
        ([0, 201, 201, 301, 0], "red"),  # > 200 for 72 h and > 300 for 24 h
        ([0, 301, 301, 0], "orange"),  # > 300 for 48 h but only 48 h above 200
        ([0, 500, 0], "orange"),  # no "500 reached" clause in 2024; 51 h above 200
    ],
)
def test_mee_2024_clause_boundaries(values, expected):
    assert level(M24, values) == expected


def test_mee_2024_has_no_blue_and_records_its_sources():
    assert {lv.level for lv in M24.levels} == {"yellow", "orange", "red"}
    assert "could not be checked offline" in (M24.verification or "") or "Not verified" in (
        M24.verification or ""
    )
    assert M24.source and "环大气〔2024〕6号" in M24.source
    assert M17.source and M17.published == "2017"


@pytest.mark.parametrize(
    ("primary", "expected_level", "advice"),
    [("pm25", "orange", None), ("o3", "none", "ozone"), ("pm10", "none", "dust")],
)
def test_mee_2024_warns_only_pm25_led_episodes(primary, expected_level, advice):
    got = assess(days([0, 250, 250, 0], primary), M24, D0)
    assert got.level == expected_level
    assert got.reached == "orange"
    assert got.advice == advice
    if advice:
        assert M24.advice_text(advice, "zh") and M24.advice_text(advice, "en")


def test_pm10_led_episodes_can_be_configured_as_emergency():
    rules = M24.model_copy(update={"emergency_pollutants": ["pm25", "pm10"]})
    assert assess(days([0, 250, 250, 0], "pm10"), rules, D0).level == "orange"
    assert assess(days([0, 250, 250, 0], "o3"), rules, D0).level == "none"


def test_a_dust_day_at_500_raises_no_red_warning_under_mee_2024():
    got = assess(days([0, 500, 0], "pm10"), M24, D0)
    assert (got.level, got.advice) == ("none", "dust")
    # The older rule sets warn any episode, as they did.
    assert assess(days([0, 500, 0], "pm10"), BTH, D0).level == "red"


def test_the_lead_is_the_pollutant_of_most_episode_days():
    fc = [
        DayAqi(D0, 0.0, primary="pm25"),
        DayAqi(D0 + timedelta(days=1), 250.0, primary="o3"),
        DayAqi(D0 + timedelta(days=2), 260.0, primary="pm25"),
        DayAqi(D0 + timedelta(days=3), 240.0, primary="pm25"),
        DayAqi(D0 + timedelta(days=4), 0.0, primary="pm25"),
    ]
    got = assess(fc, M24, D0)
    assert got.episode is not None and got.episode.lead == "pm25"
    assert (got.level, got.advice) == ("orange", None)


# --- life of a warning under the rolling rule sets ----------------------------------------


def test_memory_joins_yesterdays_heavy_day_to_todays_episode():
    state = WarningStatus()
    d1 = D0
    state, t = next_state(state, days([201, 0, 0, 0], start=d1), M17, d1)
    assert [x["action"] for x in t] == ["issued"] and state.level == "blue"
    d2 = D0 + timedelta(days=1)
    state, t = next_state(state, days([201, 0, 0, 0], start=d2), M17, d2)
    # 1 Dec (remembered) + 2 Dec: 48 h above 200.
    assert state.level == "yellow" and [x["action"] for x in t] == ["upgraded"]
    assert state.since == D0


def test_mee_2024_lifts_at_once_when_clear_for_36_hours():
    state = WarningStatus()
    state, _ = next_state(state, days([201, 201, 0, 0]), M24, D0)
    assert state.level == "orange"
    d = D0 + timedelta(days=1)
    state, t = next_state(state, days([0, 0, 0, 0], start=d), M24, d)
    assert state.level == "none" and t[0]["action"] == "lifted"
    assert "36 hours" in t[0]["reason"]


def test_mee_2024_keeps_the_warning_when_the_clear_horizon_is_short():
    state = WarningStatus()
    state, _ = next_state(state, days([201, 201]), M24, D0)
    d = D0 + timedelta(days=1)
    # Only the issue day is forecast: 17 hours ahead of 07:00 < 36 h.
    state, t = next_state(state, days([0], start=d), M24, d)
    assert state.level == "orange" and t == [] and state.pending is not None


def test_bth_2016_still_waits_for_two_agreeing_issues_to_lift():
    state = WarningStatus()
    state, _ = next_state(state, days([250, 250, 250, 250]), BTH, D0)
    d = D0 + timedelta(days=1)
    state, t = next_state(state, days([100, 100, 100], start=d), BTH, d)
    assert state.level != "none" and t == []


def test_an_ozone_led_episode_raises_no_warning_through_the_life():
    state, t = next_state(WarningStatus(), days([250, 250, 250, 0], "o3"), M24, D0)
    assert state.level == "none" and t == []


# --- schema -----------------------------------------------------------------------------


def test_a_rolling_rule_set_rejects_day_clauses():
    raw = M24.model_dump()
    raw["levels"][0]["any_of"] = [[{"above": 200, "days": 1}]]
    with pytest.raises(ValidationError, match="counts hours"):
        RuleSet.model_validate(raw)


def test_a_clause_takes_days_or_hours_not_both():
    raw = M24.model_dump()
    raw["levels"][0]["any_of"] = [[{"above": 200, "days": 1, "hours": 24}]]
    with pytest.raises(ValidationError, match="exactly one of 'days' or 'hours'"):
        RuleSet.model_validate(raw)


def test_every_shipped_rule_set_names_its_statistic():
    for name in ("bth-2016", "tianjin-2018", "mee-2017", "mee-2024"):
        stat = load_rule_set(name).statistic
        assert stat[0] == "q" and 10 <= int(stat[1:]) <= 90


def test_a_separate_episode_after_the_warned_one_is_warned_on_its_own():
    # An orange episode on 1-2 Dec; from 3 Dec the forecast sees only a second episode
    # on 6-7 Dec, more than 36 hours after the first ended.
    state, _ = next_state(WarningStatus(), days([201, 201, 0, 0]), M24, D0)
    assert (state.level, state.since, state.until) == ("orange", D0, D0 + timedelta(days=1))
    d = D0 + timedelta(days=2)
    state, t = next_state(state, days([0, 0, 0, 201, 201], start=d), M24, d)
    assert [x["action"] for x in t] == ["lifted", "issued"]
    assert state.since == D0 + timedelta(days=5) and state.level == "orange"


def test_an_episode_continuing_within_the_merge_gap_extends_the_warning():
    state, _ = next_state(WarningStatus(), days([201, 201, 0, 0]), M24, D0)
    d = D0 + timedelta(days=2)
    # 3 Dec clean, 4 Dec heavy again: a 24-hour gap is too short to clear.
    state, t = next_state(state, days([0, 201, 201, 0], start=d), M24, d)
    assert [x["action"] for x in t] == ["extended"] and state.since == D0
