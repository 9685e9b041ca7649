"""The window to avoid from the hourly O3 profile, the slots work moves to, the trigger."""

from __future__ import annotations

import math
from datetime import date

import pytest

from aqcast.alerts.advisories import (
    advisories_for_day,
    avoid_window,
    formation_window,
    hours_text,
    ozone_risk_passes,
    trim_slot,
)
from aqcast.alerts.campaign import Triggers, WindowRule, load_campaign
from tests.support.forecasts import ozone_profile

RULE = WindowRule(buildup_fraction=0.2, lead_hours=2, earliest=6, latest=20, min_hours=3)


def test_formation_window_starts_before_the_buildup_and_ends_at_the_peak():
    prof = [20.0] * 24
    rise = {9: 40, 10: 80, 11: 120, 12: 160, 13: 190, 14: 200, 15: 180, 16: 150, 17: 100}
    for h, v in rise.items():
        prof[h] = v
    # morning minimum 20, peak 200 at 14 h: the build-up starts where O3 first reaches
    # 20 + 0.2 * 180 = 56 (10 h); two lead hours -> 8; the window ends at the peak, 14 h,
    # though 15-16 h are still high: what forms after the peak matters far less.
    assert formation_window(prof, RULE) == (8, 14)
    assert avoid_window(formation_window(prof, RULE), (9, 16), RULE) == (8, 14)
    later = RULE.model_copy(update={"lead_hours": 0, "buildup_fraction": 0.5})
    assert formation_window(prof, later) == (11, 14)  # 20 + 0.5 * 180 = 110: 11 h (120)


def test_window_floor_and_caps():
    sharp = [20.0] * 24
    sharp[14] = 200.0  # a one-hour peak: build-up 14 h, window 12-14, floor 3 h -> 11-14
    assert formation_window(sharp, RULE) == (12, 14)
    assert avoid_window((12, 14), (9, 16), RULE) == (11, 14)
    # a peak at 20 h with the build-up at 5 h: clipped to 6..20
    assert avoid_window((3, 20), (9, 16), RULE) == (6, 20)
    # a night maximum is not the day's peak: the peak is sought within 6..20 h
    night = [30.0] * 24
    night[23] = 300.0
    night[13], night[14] = 90.0, 120.0
    assert formation_window(night, RULE) == (11, 14)


def test_no_formation_window_without_a_full_rising_profile():
    assert formation_window([math.nan] * 24, RULE) is None
    assert formation_window([100.0] * 12, RULE) is None
    assert formation_window([100.0] * 24, RULE) is None  # flat: no build-up
    assert avoid_window(None, (10, 18), RULE) == (10, 18)  # the sector's default


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
    # 20 + 220 exp(-((h - 16) / 3)^2 / 2) reaches 20 + 0.2 * 220 = 64 first at 11 h;
    # lead 2 h -> 9; the window ends at the peak, 16 h.
    assert coating["avoid_hours"] == [9, 16]
    assert coating["window_source"] == "profile"
    assert [m["hours"] for m in coating["move_to"]] == [[5, 9], [16, 22]]
    fuel = next(a for a in advs if a["sector"] == "fuel_stations")
    assert fuel["move_to"][0]["slot"] == "night" and fuel["move_to"][0]["hours"] == [20, 6]
    assert {
        s["step"] for s in next(a for a in advs if a["sector"] == "construction_sites")["steps"]
    } == {"outdoor_painting", "asphalt", "road_marking"}
    clean = advisories_for_day(
        cfg, "district", "district", day, o3_mda8_q50_ugm3=110, p_exceed=0.05, profile_ugm3=prof
    )
    assert clean == []
