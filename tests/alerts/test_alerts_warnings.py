"""The heavy-pollution warning rules and the warning's life (every transition)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from aqcast.alerts.warnings import (
    DayAqi,
    RuleSet,
    WarningStatus,
    episode_level,
    find_episode,
    load_rule_set,
    next_state,
)
from aqcast.configuration import ConfigError

D0 = date(2015, 12, 1)
BTH = load_rule_set("bth-2016")
TJ = load_rule_set("tianjin-2018")


def days(issue: date, values: list[float]) -> list[DayAqi]:
    return [DayAqi(issue + timedelta(days=i), float(v)) for i, v in enumerate(values)]


def run(rules: RuleSet, issues: list[list[float]], start: date = D0):
    """Feed one forecast (lead 0..) per consecutive issue date; collect actions per day."""
    state = WarningStatus()
    log = []
    for i, values in enumerate(issues):
        d = start + timedelta(days=i)
        state, trans = next_state(state, days(d, values), rules, d)
        log.append((state.level, [t["action"] for t in trans], trans))
    return state, log


@pytest.mark.parametrize(
    ("values", "level"),
    [
        ([150, 180, 190], "none"),
        ([210, 150, 120], "blue"),
        ([210, 230, 120], "yellow"),
        ([210, 230, 250], "yellow"),  # three days but none above 300
        ([210, 310, 250], "orange"),
        ([210, 310, 320, 250], "red"),
        ([510, 150, 100], "red"),  # one day at 500 or more
        ([150, 210, 230], "yellow"),  # the episode may start later in the horizon
        ([210, 150, 230], "blue"),  # only the first run counts
    ],
)
def test_bth_2016_levels(values, level):
    ep = find_episode(days(D0, values), BTH, D0)
    assert episode_level(ep, BTH) == level


@pytest.mark.parametrize(
    ("values", "level"),
    [([210, 150], "none"), ([210, 230, 150], "yellow"), ([210, 230, 250], "orange")],
)
def test_tianjin_2018_has_no_blue_and_orange_at_72_hours(values, level):
    assert episode_level(find_episode(days(D0, values), TJ, D0), TJ) == level


def test_remembered_heavy_days_join_the_episode():
    # Two heavy days already forecast by earlier issues + two now = four days, two >300.
    memory = {
        (D0 - timedelta(days=2)).isoformat(): {"value": 320.0, "heavy": True},
        (D0 - timedelta(days=1)).isoformat(): {"value": 330.0, "heavy": True},
    }
    ep = find_episode(days(D0, [250, 240, 100]), BTH, D0, memory)
    assert ep.start == D0 - timedelta(days=2) and ep.end == D0 + timedelta(days=1)
    assert ep.remembered_days == 2
    assert episode_level(ep, BTH) == "red"


def test_issue_then_upgrade_is_immediate_and_keeps_the_start():
    state, log = run(BTH, [[150, 250, 260], [250, 320, 330, 100]])
    assert log[0][1] == ["issued"] and log[0][0] == "yellow"
    assert log[0][2][0]["start_date"] == D0 + timedelta(days=1)
    assert log[1][1] == ["upgraded"]
    assert state.level == "orange" and state.since == D0 + timedelta(days=1)


def test_extend_when_the_same_level_lasts_longer():
    state, log = run(BTH, [[210, 220, 100], [220, 230, 100]])
    assert log[1][1] == ["extended"]
    assert state.level == "yellow" and state.until == D0 + timedelta(days=2)


def test_one_day_wobble_does_not_downgrade():
    # orange, then one issue says yellow, then orange again: no change at all.
    state, log = run(BTH, [[210, 310, 250, 100], [220, 230, 100], [310, 250, 100]])
    assert log[1][1] == [] and log[1][0] == "orange"
    assert state.pending is None  # the dip was forgotten when the next issue disagreed
    assert log[2][1] in ([], ["extended"]) and log[2][0] == "orange"


def test_downgrade_needs_two_consecutive_issues():
    state, log = run(BTH, [[210, 310, 250, 210, 210], [220, 150, 100], [220, 150, 100]], start=D0)
    assert [x[1] for x in log] == [["issued"], [], ["downgraded"]]
    assert log[1][0] == "orange" and state.level in ("blue", "yellow")
    assert log[2][2][0]["from_level"] == "orange"


def test_downgrade_goes_only_as_far_as_both_issues_agree():
    # Warning period D0..D0+4. First lower issue asks yellow, the second asks none:
    # the warning moves to yellow, the higher of the two.
    state, log = run(BTH, [[210, 310, 250, 210, 210], [210, 230, 100], [150, 120, 100]])
    assert log[2][1] == ["downgraded"] and state.level == "yellow"


def test_lift_inside_the_period_needs_confirmation():
    state, log = run(BTH, [[210, 230, 240, 100], [150, 120, 100], [140, 120, 100]])
    assert [x[1] for x in log] == [["issued"], [], ["lifted"]]
    assert state.level == "none" and state.since is None
    lifted = log[2][2][0]
    assert lifted["level"] == "yellow" and lifted["to_level"] == "none"


def test_lift_at_once_when_the_announced_period_is_over():
    state, log = run(BTH, [[210, 230, 100], [230, 100, 100], [150, 100, 100]])
    assert log[2][1] == ["lifted"]
    assert state.level == "none"


def test_red_episode_lifecycle_matches_the_december_2015_pattern():
    # 6 Dec issue sees the episode; 8-10 Dec red; clear on 11 Dec.
    issues = [
        [150, 250, 350],
        [260, 350, 380],
        [320, 360, 310],
        [330, 320, 150],
        [310, 150, 90],
        [150, 80, 60],
    ]
    state, log = run(BTH, issues, start=date(2015, 12, 6))
    assert [x[1] for x in log] == [["issued"], ["upgraded"], ["upgraded"], [], [], ["lifted"]]
    assert [x[0] for x in log][:3] == ["yellow", "orange", "red"]


def test_probability_can_make_a_day_heavy():
    rules = BTH.model_copy(update={"p_heavy_min": 0.5})
    fc = [DayAqi(D0, 180.0, 230.0, 0.6), DayAqi(D0 + timedelta(days=1), 150.0, 180.0, 0.2)]
    assert episode_level(find_episode(fc, rules, D0), rules) == "blue"
    assert episode_level(find_episode(fc, BTH, D0), BTH) == "none"


def test_q90_statistic_is_more_cautious():
    rules = BTH.model_copy(update={"statistic": "q90"})
    fc = [DayAqi(D0, 180.0, 230.0), DayAqi(D0 + timedelta(days=1), 190.0, 240.0)]
    assert episode_level(find_episode(fc, rules, D0), rules) == "yellow"


def test_unknown_rule_set_names_the_shipped_ones():
    with pytest.raises(ConfigError, match="bth-2016"):
        load_rule_set("nowhere-2099")


def test_bad_rule_set_file_names_file_and_field(tmp_path):
    bad = tmp_path / "x-1.yaml"
    bad.write_text(
        "name: x-1\ntitle: {zh: a, en: b}\nlevels:\n  - level: purple\n"
        "    any_of: [[{above: 200, days: 1}]]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_rule_set("x-1", tmp_path)
    assert "x-1.yaml" in str(err.value) and "levels.0.level" in str(err.value)


def test_clause_needs_exactly_one_bound(tmp_path):
    bad = tmp_path / "y-1.yaml"
    bad.write_text(
        "name: y-1\ntitle: {zh: a, en: b}\nlevels:\n  - level: red\n"
        "    any_of: [[{above: 200, at_least: 500, days: 1}]]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="exactly one"):
        load_rule_set("y-1", tmp_path)


def test_no_flapping_between_levels_after_the_announced_period():
    """Yellow for today and tomorrow, then, after the announced period, forecasts that
    alternate between one heavy day (blue) and two (yellow): the warning stays yellow
    instead of going down and up every day."""
    issues = [
        [230, 220, 150, 120],  # yellow for D0..D0+1
        [220, 230, 150, 120],  # extended to D0+2
        [230, 150, 120, 110],  # blue asked for, inside the period
        [150, 210, 150, 120],  # D0+3: the period is over, blue asked for: one issue only
        [210, 230, 150, 120],  # yellow again
        [150, 210, 150, 120],  # blue asked for again
        [210, 220, 150, 120],  # yellow again
    ]
    state, log = run(BTH, issues)
    levels = [lvl for lvl, _, _ in log]
    actions = [a for _, acts, _ in log for a in acts]
    assert levels == ["yellow"] * 7
    assert "downgraded" not in actions and "lifted" not in actions
    assert actions.count("extended") >= 2


def test_a_lift_after_the_announced_period_is_immediate():
    state, log = run(BTH, [[230, 220, 150], [210, 130, 120], [120, 110, 100]])
    assert [lvl for lvl, _, _ in log] == ["yellow", "yellow", "none"]
    assert log[2][1] == ["lifted"]
