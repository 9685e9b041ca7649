"""The window to avoid from the hourly O3 profile, the slots work moves to, the trigger."""

from __future__ import annotations

import math
from datetime import date

import pytest
from test_alerts_support import ozone_profile

from aqcast.alerts.advisories import (
    advisories_for_day,
    avoid_window,
    building_hours,
    hours_text,
    ozone_risk_passes,
    trim_slot,
)
from aqcast.alerts.campaign import Triggers, WindowRule, load_campaign


def test_building_hours_are_the_contiguous_run_around_the_peak_started_earlier():
    prof = [20.0] * 24
    for h, v in {11: 120, 12: 160, 13: 190, 14: 200, 15: 180, 16: 150, 17: 100}.items():
        prof[h] = v
    # 0.75 * 200 = 150: hours 12..16 qualify; two lead hours move the start to 10.
    assert building_hours(prof, 0.75, 2) == (10, 17)
    assert building_hours(prof, 0.75, 0) == (12, 17)


def test_building_hours_stop_at_a_gap_and_ignore_a_second_bump():
    prof = [20.0] * 24
    prof[8], prof[9] = 190.0, 190.0  # a separate morning bump, not contiguous with the peak
    prof[14], prof[15] = 200.0, 195.0
    assert building_hours(prof, 0.9, 0) == (14, 16)


def test_building_hours_need_a_full_day_profile():
    assert building_hours([math.nan] * 24, 0.75, 2) is None
    assert building_hours([100.0] * 12, 0.75, 2) is None


@pytest.mark.parametrize(
    ("building", "default", "expected"),
    [
        ((12, 17), (9, 16), (9, 17)),  # the profile widens the known window
        ((11, 14), (9, 16), (9, 16)),  # never shrinks it
        ((4, 23), (9, 16), (6, 20)),  # clipped to earliest/latest
        (None, (10, 18), (10, 18)),  # no profile: the sector's default
    ],
)
def test_avoid_window_is_the_clipped_hull(building, default, expected):
    assert avoid_window(building, default, WindowRule(earliest=6, latest=20)) == expected


@pytest.mark.parametrize(
    ("slot", "window", "expected"),
    [
        ((5, 9), (9, 17), (5, 9)),
        ((5, 9), (8, 17), (5, 8)),
        ((16, 22), (9, 18), (18, 22)),
        ((16, 22), (9, 22), None),
        ((20, 6), (10, 18), (20, 6)),
        ((20, 6), (5, 21), (21, 5)),
    ],
)
def test_slots_are_trimmed_to_stay_outside_the_window(slot, window, expected):
    assert trim_slot(slot, window) == expected


def test_hours_text():
    assert hours_text((9, 16)) == "09:00-16:00"
    assert hours_text((20, 24)) == "20:00-24:00"


@pytest.mark.parametrize(
    ("q50", "p", "passes"),
    [
        (150.0, 0.3, False),
        (150.0, 0.5, True),
        (160.0, 0.1, True),
        (None, None, False),
        (math.nan, 0.6, True),
    ],
)
def test_trigger(q50, p, passes):
    assert ozone_risk_passes(q50, p, Triggers()) is passes


def test_advisories_per_sector_on_a_risk_day_and_none_on_a_clean_day():
    cfg = load_campaign()
    day = date(2015, 7, 1)
    prof = list(ozone_profile(240.0, peak_hour=16, width_h=3.0))
    advs = advisories_for_day(
        cfg, "district", "district", day, o3_mda8_q50_ugm3=190, p_exceed=0.8, profile_ugm3=prof
    )
    assert [a["sector"] for a in advs] == list(cfg.sectors)
    coating = next(a for a in advs if a["sector"] == "industrial_coating")
    # Peak at 16 h: >= 75 % of the peak over 14..18 h, lead 2 h -> 12..19; hull with 9-16.
    assert coating["avoid_hours"] == [9, 19]
    assert coating["window_source"] == "profile"
    assert [m["hours"] for m in coating["move_to"]] == [[5, 9], [19, 22]]
    fuel = next(a for a in advs if a["sector"] == "fuel_stations")
    assert fuel["move_to"][0]["slot"] == "night" and fuel["move_to"][0]["hours"] == [20, 6]
    assert {
        s["step"] for s in next(a for a in advs if a["sector"] == "construction_sites")["steps"]
    } == {"outdoor_painting", "asphalt", "road_marking"}
    clean = advisories_for_day(
        cfg, "district", "district", day, o3_mda8_q50_ugm3=110, p_exceed=0.05, profile_ugm3=prof
    )
    assert clean == []
