"""The intraday probability P(MDA8 > 160 | hours observed), hand-checked cases, and the
highest concentration each remaining hour may reach."""

from __future__ import annotations

import numpy as np
import pytest

from aqcast.features.intraday import (
    exceedance_probability,
    remaining_hour_limits_ugm3,
    standard_normal_draws,
    status_for,
)
from aqcast.models.hourly import nearest_correlation

IDENTITY = np.eye(24)
# errors of all hours nearly perfectly correlated (one shared error for the day)
SHARED = nearest_correlation(np.full((24, 24), 0.999) + 0.001 * np.eye(24))
DRAWS = standard_normal_draws(2000, seed=3)


def p_of(observed, h, q50, sd, corr, **kw):
    return exceedance_probability(observed, h, q50, sd, corr, draws=DRAWS, **kw)


def test_flat_day_at_the_limit_is_a_coin_toss_with_one_shared_error() -> None:
    q50, sd = np.full(24, 160.0), np.full(24, 20.0)
    # one error for the whole day: MDA8 > 160 exactly when that error is positive
    assert p_of([], 0, q50, sd, SHARED).p_exceed == pytest.approx(0.5, abs=0.04)
    # independent hours: some 8-hour window almost surely lands above 160
    assert p_of([], 0, q50, sd, IDENTITY).p_exceed > 0.95


def test_observed_hours_move_the_rest_through_the_correlation() -> None:
    q50, sd = np.full(24, 150.0), np.full(24, 20.0)
    # seven hours one spread above (below) the forecast: not yet certain, since with
    # zeros after them the window 0..7 is 7 x 170 / 8 = 148.75
    above = np.full(7, 150.0 + 20.0)
    below = np.full(7, 150.0 - 20.0)
    base = p_of([], 0, q50, sd, SHARED).p_exceed
    up = p_of(above, 7, q50, sd, SHARED)
    down = p_of(below, 7, q50, sd, SHARED)
    assert not up.certain
    assert up.p_exceed > 0.95 and down.p_exceed < 0.02
    assert down.p_exceed < base < up.p_exceed


def test_sharp_peak_alone_does_not_exceed() -> None:
    # 40 all day and 400 at 15 h: the best window is (7 * 40 + 400) / 8 = 85
    q50 = np.full(24, 40.0)
    q50[15] = 400.0
    r = p_of(np.full(12, 40.0), 12, q50, np.full(24, 5.0), IDENTITY)
    assert r.p_exceed == 0.0 and r.status == "no_risk"


def test_peak_capped_day_still_counts_its_eight_hours() -> None:
    # 200 (the 1-hour limit) from 11 to 18 h: MDA8 200, far above 160, nearly certain
    q50 = np.full(24, 60.0)
    q50[11:19] = 200.0
    r = p_of(np.full(11, 60.0), 11, q50, np.full(24, 10.0), SHARED)
    assert r.p_exceed > 0.99 and r.status == "near_certain" and not r.certain


def test_day_already_exceeded() -> None:
    r = p_of(np.full(10, 200.0), 10, np.full(24, 50.0), np.full(24, 10.0), IDENTITY)
    assert r.certain and r.p_exceed == 1.0 and r.status == "exceeded"
    assert r.observed_mda8_ugm3 == 200.0
    # seven hours of 200: no window is complete yet, but zeros cannot save the day
    r = p_of(np.full(7, 200.0), 7, np.full(24, 50.0), np.full(24, 10.0), IDENTITY)
    assert r.certain and r.status == "exceeded" and np.isnan(r.observed_mda8_ugm3)


def test_day_safe() -> None:
    q50 = np.full(24, 60.0)
    r = p_of(np.full(20, 60.0), 20, q50, np.full(24, 10.0), SHARED)
    assert r.p_exceed == 0.0 and r.status == "no_risk"
    full = p_of(np.full(24, 60.0), 24, q50, np.full(24, 10.0), SHARED)
    assert full.p_exceed == 0.0 and full.status == "no_risk"


def test_calibration_is_applied_but_not_to_certainties() -> None:
    q50, sd = np.full(24, 160.0), np.full(24, 20.0)
    r = p_of([], 0, q50, sd, SHARED, calibrate=lambda p, h: 0.25)
    assert r.p_exceed == 0.25 and r.p_raw == pytest.approx(0.5, abs=0.04)
    r = p_of(np.full(10, 200.0), 10, q50, sd, SHARED, calibrate=lambda p, h: 0.25)
    assert r.p_exceed == 1.0


def test_status_words() -> None:
    assert status_for(1.0, True, 0.9, 0.02) == "exceeded"
    assert status_for(0.95, False, 0.9, 0.02) == "near_certain"
    assert status_for(0.5, False, 0.9, 0.02) == "controllable"
    assert status_for(0.01, False, 0.9, 0.02) == "no_risk"


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="0..24"):
        p_of([], 25, np.ones(24), np.ones(24), IDENTITY)
    with pytest.raises(ValueError, match="has 3 values"):
        p_of([1.0, 2.0, 3.0], 5, np.ones(24), np.ones(24), IDENTITY)
    with pytest.raises(ValueError, match="24 hourly values"):
        p_of([], 0, np.ones(23), np.ones(24), IDENTITY)


def test_remaining_hour_limits_hand_computed() -> None:
    # zeros until 11 h, 150 from 12 to 19 h, now 20:00; forecast 0 for 20..23 h.
    # hour 20: windows 13..20 (7 x 150 + c <= 1280 -> 230), 14..21 (380), 15..22 (530),
    # 16..23 (680): 230. Hour 23: only window 16..23: 4 x 150 + c <= 1280 -> 680.
    observed = np.zeros(20)
    observed[12:20] = 150.0
    limits = remaining_hour_limits_ugm3(observed, 20, np.zeros(24))
    assert sorted(limits) == [20, 21, 22, 23]
    assert limits[20] == pytest.approx(230.0)
    assert limits[21] == pytest.approx(380.0)
    assert limits[23] == pytest.approx(680.0)
    # ten hours of 200 observed: nothing keeps the day at or below 160
    assert remaining_hour_limits_ugm3(np.full(10, 200.0), 10, np.zeros(24))[10] is None


def test_stored_calibration_keeps_a_raw_zero_at_zero() -> None:
    from aqcast.models.hourly import calibrator_from_payload

    cal = calibrator_from_payload({"12": {"x": [0.0, 0.5, 1.0], "y": [0.03, 0.4, 0.9]}})
    np.testing.assert_allclose(cal(np.array([0.0, 0.25, 0.5, 1.0]), 12), [0.0, 0.215, 0.4, 0.9])
    np.testing.assert_allclose(cal(np.array([0.3]), 9), [0.3])  # no map for 9 h: raw
