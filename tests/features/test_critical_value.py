"""The ozone critical value: morning definition, intraday update, frame version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aqcast.features.critical_value import (
    critical_value_frame,
    critical_value_ugm3,
    intraday_critical_value_ugm3,
)
from aqcast.features.daily import mda8_ugm3

NAN = np.nan


def profile(values: dict[int, float], fill: float = 0.0) -> np.ndarray:
    p = np.full(24, fill)
    for h, v in values.items():
        p[h] = v
    return p


def bell(peak_hour: float = 15.0, width: float = 3.5) -> np.ndarray:
    h = np.arange(24)
    return 40.0 + 120.0 * np.exp(-(((h - peak_hour) / width) ** 2))


# --- morning ------------------------------------------------------------------------------


def test_flat_profile_gives_the_limit() -> None:
    cv = critical_value_ugm3(np.full(24, 57.0))
    assert cv.critical_value_ugm3 == pytest.approx(160.0)
    assert cv.likely_hours == ()  # a safe day: no hour is expected to reach 160
    assert not cv.capped
    assert critical_value_ugm3(np.full(24, 170.0)).likely_hours == tuple(range(24))
    assert critical_value_ugm3(np.full(24, 57.0), limit_ugm3=100.0).critical_value_ugm3 == (
        pytest.approx(100.0)
    )


def test_peak_capped_by_the_one_hour_limit() -> None:
    # 100 at 10..17 h except 200 at 14 h: the best window 10..17 averages 900/8 = 112.5,
    # so the profile is scaled by 160/112.5 and its peak would become 200 * 160/112.5 =
    # 284.4; the 1-hour limit 200 caps it. The forecast reaches 200 at 14 h only.
    p = profile({h: 100.0 for h in range(10, 18)} | {14: 200.0})
    cv = critical_value_ugm3(p)
    assert cv.profile_mda8_ugm3 == 112.5
    assert cv.scale == pytest.approx(160 / 112.5)
    assert cv.uncapped_ugm3 == pytest.approx(284.444444, rel=1e-6)
    assert cv.critical_value_ugm3 == 200.0 and cv.capped
    assert cv.peak_hour == 14
    assert cv.likely_hours == (14,)
    assert critical_value_ugm3(p, one_hour_limit_ugm3=300.0).critical_value_ugm3 == (
        pytest.approx(284.444444, rel=1e-6)
    )


def test_sharp_peak_hand_computed() -> None:
    # 120 at 9..16 h except 180 at 13 h: window 9..16 averages (7*120 + 180)/8 = 127.5;
    # k = 160/127.5, the scaled peak 180 k = 225.9 is capped at 200. A q50 that peaks at
    # 180 does not reach 200: no likely hour; a q90 of 1.2 q50 reaches it at 13 h only.
    p = profile({h: 120.0 for h in range(9, 17)} | {13: 180.0}, fill=30.0)
    cv = critical_value_ugm3(p, upper_profile_ugm3=1.2 * p)
    assert cv.profile_mda8_ugm3 == pytest.approx(127.5)
    assert cv.uncapped_ugm3 == pytest.approx(180 * 160 / 127.5)
    assert cv.critical_value_ugm3 == 200.0
    assert cv.likely_hours == ()
    assert cv.possible_hours == (13,)


def test_day_forecast_to_exceed_names_the_hours() -> None:
    # 40 at night, 200 at 12..17 h, 180 at 11 and 18 h: MDA8 = (6*200 + 2*180)/8 = 195;
    # k = 160/195, peak 200 k = 164.1: every hour from 11 to 18 h reaches it.
    p = profile({h: 200.0 for h in range(12, 18)} | {11: 180.0, 18: 180.0}, fill=40.0)
    cv = critical_value_ugm3(p)
    assert cv.profile_mda8_ugm3 == pytest.approx(195.0)
    assert cv.critical_value_ugm3 == pytest.approx(200 * 160 / 195)
    assert cv.likely_hours == tuple(range(11, 19))
    assert not cv.capped


def test_scaled_profile_has_mda8_at_the_limit() -> None:
    cv = critical_value_ugm3(bell(width=5.0))
    assert not cv.capped
    assert mda8_ugm3(cv.scaled_profile_ugm3) == pytest.approx(160.0, abs=1e-9)
    assert max(cv.scaled_profile_ugm3) == pytest.approx(cv.critical_value_ugm3)
    assert cv.peak_hour == 15
    assert cv.critical_value_ugm3 > 160  # a peaked profile allows a peak above 160


def test_sharper_peak_allows_higher_critical_value() -> None:
    assert (
        critical_value_ugm3(bell(width=2.0)).uncapped_ugm3
        > critical_value_ugm3(bell(width=5.0)).uncapped_ugm3
    )
    assert critical_value_ugm3(bell(width=2.0)).critical_value_ugm3 == 200.0


@pytest.mark.slow
@given(
    shape=st.lists(st.floats(min_value=0, max_value=400), min_size=24, max_size=24),
    factor=st.floats(min_value=0.01, max_value=100),
)
def test_critical_value_depends_on_shape_only(shape: list[float], factor: float) -> None:
    p = np.array(shape)
    if mda8_ugm3(p) <= 1e-3:
        return
    cv = critical_value_ugm3(p)
    assert critical_value_ugm3(p * factor).critical_value_ugm3 == pytest.approx(
        cv.critical_value_ugm3, rel=1e-9
    )
    assert mda8_ugm3(cv.scaled_profile_ugm3) == pytest.approx(160.0, rel=1e-9)
    assert cv.critical_value_ugm3 >= 160.0 - 1e-9  # the peak is at least the best 8-h mean
    assert cv.critical_value_ugm3 == pytest.approx(min(max(cv.scaled_profile_ugm3), 200.0))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.ones(23), "expected 24 hourly values"),
        (profile({3: NAN}, fill=50.0), "hour 3 is nan"),
        (profile({5: -1.0}, fill=50.0), "hour 5 is -1.0"),
        (np.zeros(24), "all zero"),
    ],
)
def test_bad_profiles(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        critical_value_ugm3(bad)


# --- intraday -----------------------------------------------------------------------------


def test_nothing_observed_gives_the_morning_value() -> None:
    p = bell()
    now = intraday_critical_value_ugm3([], 0, forecast_profile_ugm3=p)
    morning = critical_value_ugm3(p)
    assert now.status == "open" and not now.already_exceeded
    assert now.critical_value_ugm3 == pytest.approx(morning.critical_value_ugm3)
    assert now.peak_hour == morning.peak_hour
    assert now.likely_hours == morning.likely_hours
    assert now.remaining_level_ugm3 == pytest.approx(160.0)


def test_hand_computed_evening_update() -> None:
    # observed 0 until 11 h and 150 from 12 to 19 h; now 20:00, hours 20..23 remain.
    observed = profile({h: 150.0 for h in range(12, 20)})[:20]
    now = intraday_critical_value_ugm3(observed, 20)
    # window starting s (13..16) holds 20-s observed hours of 150 and s-12 hours at c:
    # c <= (1280 - 150 (20 - s)) / (s - 12) -> 230, 190, 176.7, 170: the level is 170
    assert now.status == "open"
    assert now.remaining_level_ugm3 == pytest.approx(170.0)
    assert now.critical_value_ugm3 == pytest.approx(170.0)
    assert now.observed_mda8_ugm3 == 150.0
    assert now.peak_hour is None and now.likely_hours == ()
    # with a falling forecast 100, 80, 60, 40 for 20..23 h the scale is set by the window
    # 14..21: 6 hours of 150 and 100k + 80k <= 1280 -> k = 380/180; 211 is capped at 200
    shape = profile({20: 100.0, 21: 80.0, 22: 60.0, 23: 40.0})
    now = intraday_critical_value_ugm3(observed, 20, forecast_profile_ugm3=shape)
    assert now.critical_value_ugm3 == 200.0
    uncapped = intraday_critical_value_ugm3(
        observed, 20, forecast_profile_ugm3=shape, one_hour_limit_ugm3=1e9
    )
    assert uncapped.critical_value_ugm3 == pytest.approx(100.0 * 380 / 180)
    assert now.peak_hour == 20
    assert now.likely_hours == ()  # the forecast 100 does not reach it
    assert now.remaining_level_ugm3 == pytest.approx(170.0)


def test_higher_observed_hours_lower_the_critical_value() -> None:
    p = bell()
    low = intraday_critical_value_ugm3(p[:15] * 0.8, 15, forecast_profile_ugm3=p)
    high = intraday_critical_value_ugm3(p[:15] * 1.3, 15, forecast_profile_ugm3=p)
    assert high.remaining_level_ugm3 < low.remaining_level_ugm3


def test_already_exceeded() -> None:
    now = intraday_critical_value_ugm3(np.full(10, 200.0), forecast_profile_ugm3=bell())
    assert now.status == "already_exceeded" and now.already_exceeded
    assert now.critical_value_ugm3 is None and now.remaining_level_ugm3 is None
    assert now.observed_mda8_ugm3 == 200.0


def test_unavoidable_before_any_window_is_complete() -> None:
    # seven hours of 200: the window 0..7 exceeds 160 even if hour 7 is zero
    now = intraday_critical_value_ugm3(np.full(7, 200.0))
    assert now.status == "unavoidable"
    assert not now.already_exceeded
    assert np.isnan(now.observed_mda8_ugm3)
    assert now.critical_value_ugm3 is None


def test_other_limit_positionally() -> None:
    now = intraday_critical_value_ugm3(np.full(8, 100.0), 8, 120.0)
    assert now.limit_ugm3 == 120.0
    assert now.remaining_level_ugm3 == pytest.approx(120.0)
    assert intraday_critical_value_ugm3(np.full(8, 130.0), 8, 120.0).already_exceeded


def test_exactly_at_the_limit_is_not_exceeded() -> None:
    now = intraday_critical_value_ugm3(np.full(8, 160.0))
    assert now.status == "open" and not now.already_exceeded
    assert now.remaining_level_ugm3 == pytest.approx(160.0)


def test_missing_observed_hours_leave_their_windows() -> None:
    # hours 0 and 1 at 300, hours 2..5 missing, now 06:00: the windows starting 0..3 hold
    # at most 5 valid hours (the two 300s and remaining hours), so they do not count
    observed = np.array([300.0, 300.0, NAN, NAN, NAN, NAN])
    now = intraday_critical_value_ugm3(observed)
    assert now.status == "open"
    assert now.remaining_level_ugm3 == pytest.approx(160.0)
    observed = np.array([300.0, 300.0, NAN, NAN, 100.0, 100.0])
    now = intraday_critical_value_ugm3(observed)
    # window 0..7: 300, 300, 100, 100 and c, c: (800 + 2c) / 6 <= 160 -> c <= 80
    assert now.remaining_level_ugm3 == pytest.approx(80.0)


def test_day_complete() -> None:
    now = intraday_critical_value_ugm3(np.full(24, 100.0))
    assert now.status == "day_complete" and not now.already_exceeded
    assert now.observed_mda8_ugm3 == 100.0 and now.critical_value_ugm3 is None


def test_intraday_bad_inputs() -> None:
    with pytest.raises(ValueError, match="has 3 values but hours_observed=5"):
        intraday_critical_value_ugm3([1.0, 2.0, 3.0], 5)
    with pytest.raises(ValueError, match="0..24"):
        intraday_critical_value_ugm3([], 25)
    with pytest.raises(ValueError, match="forecast_profile_ugm3: hour 20 is nan"):
        intraday_critical_value_ugm3(
            np.full(12, 50.0), 12, forecast_profile_ugm3=profile({20: NAN}, fill=50.0)
        )


@pytest.mark.slow
@settings(max_examples=60)
@given(
    hours_observed=st.integers(min_value=0, max_value=23),
    observed=st.lists(st.floats(min_value=0, max_value=250), min_size=24, max_size=24),
    shape=st.lists(st.floats(min_value=1, max_value=300), min_size=24, max_size=24),
)
def test_open_update_brings_mda8_exactly_to_the_limit(
    hours_observed: int, observed: list[float], shape: list[float]
) -> None:
    obs = np.array(observed[:hours_observed])
    p = np.array(shape)
    now = intraday_critical_value_ugm3(obs, hours_observed, forecast_profile_ugm3=p)
    if now.status != "open":
        assert now.critical_value_ugm3 is None
        # the limit cannot be kept even with no ozone in the remaining hours
        zero = np.concatenate([obs, np.zeros(24 - hours_observed)])
        assert mda8_ugm3(zero) > 160.0
        return
    assert now.remaining_level_ugm3 is not None and now.critical_value_ugm3 is not None
    level_day = np.concatenate([obs, np.full(24 - hours_observed, now.remaining_level_ugm3)])
    assert mda8_ugm3(level_day) == pytest.approx(160.0, rel=1e-9)
    assert now.critical_value_ugm3 <= 200.0
    if now.critical_value_ugm3 == 200.0:
        return  # capped by the 1-hour limit
    k = now.critical_value_ugm3 / p[hours_observed:].max()
    scaled = np.concatenate([obs, k * p[hours_observed:]])
    assert mda8_ugm3(scaled) == pytest.approx(160.0, rel=1e-9)


# --- frame --------------------------------------------------------------------------------


def test_critical_value_frame() -> None:
    rows = []
    for area, p in (("district", bell()), ("north", np.full(24, 80.0)), ("south", np.zeros(24))):
        rows.append(
            pd.DataFrame(
                {"area": area, "station": "", "target_date": "2015-06-01", "hour": range(24)}
            ).assign(q50=p)
        )
    out = critical_value_frame(pd.concat(rows))
    assert list(out.columns) == [
        "area",
        "station",
        "target_date",
        "critical_value_ugm3",
        "peak_hour",
        "likely_hours",
    ]
    by_area = out.set_index("area")
    assert by_area.loc["district", "critical_value_ugm3"] == pytest.approx(
        critical_value_ugm3(bell()).critical_value_ugm3
    )
    assert by_area.loc["district", "likely_hours"] == []  # q50 peaks at 160, below it
    assert by_area.loc["north", "critical_value_ugm3"] == pytest.approx(160.0)
    assert np.isnan(by_area.loc["south", "critical_value_ugm3"])
    assert by_area.loc["south", "peak_hour"] == -1
