"""IAQI and daily AQI per HJ 633-2012: breakpoints, rounding, O3 8h rule, levels, inverse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from aqcast.features.aqi import (
    AQI_LEVELS,
    CONC_BREAKPOINTS,
    IAQI_BREAKPOINTS,
    POLLUTANT_KEYS,
    aqi_frame,
    aqi_level,
    conc_for_iaqi,
    daily_aqi,
    iaqi,
)


@pytest.mark.parametrize("key", POLLUTANT_KEYS)
def test_every_breakpoint_maps_to_its_iaqi(key: str) -> None:
    conc = np.array(CONC_BREAKPOINTS[key], dtype=float)
    assert_allclose(iaqi(key, conc), IAQI_BREAKPOINTS[: len(conc)])


@pytest.mark.parametrize(
    ("key", "conc", "expected"),
    [
        # (IAQI_hi - IAQI_lo) / (BP_hi - BP_lo) * (C - BP_lo) + IAQI_lo, rounded up
        ("pm25_24h", 55.0, 75.0),  # 50 + 50 * 20/40 = 75 exactly
        ("pm25_24h", 35.1, 51.0),  # 50.125 -> 51: rounding up moves it out of "excellent"
        ("pm25_24h", 35.0, 50.0),
        ("pm25_24h", 74.9, 100.0),  # 99.875 -> 100
        ("pm25_24h", 75.1, 101.0),  # 100.125 -> 101
        ("pm25_24h", 180.0, 230.0),  # 200 + 100 * 30/100
        ("pm25_24h", 400.0, 434.0),  # 400 + 100 * 50/150 = 433.33 -> 434
        ("pm10_24h", 100.0, 75.0),
        ("so2_24h", 100.0, 75.0),  # 50 + 50 * 50/100
        ("no2_24h", 60.0, 75.0),
        ("co_24h", 3.0, 75.0),  # mg/m3
        ("co_24h", 9.0, 125.0),
        ("o3_1h", 180.0, 75.0),
        ("o3_1h", 250.0, 125.0),
        ("o3_8h", 130.0, 75.0),
        ("o3_8h", 160.0, 100.0),
        ("o3_8h", 187.5, 125.0),
        ("o3_8h", 215.0, 150.0),
        ("o3_8h", 532.5, 250.0),  # 200 + 100 * 267.5/535
        ("pm25_24h", 0.0, 0.0),
    ],
)
def test_iaqi_between_breakpoints(key: str, conc: float, expected: float) -> None:
    assert iaqi(key, conc) == expected


def test_iaqi_above_top_is_capped_at_500() -> None:
    assert iaqi("pm25_24h", 501.0) == 500.0
    assert iaqi("pm25_24h", 5000.0) == 500.0
    assert iaqi("co_24h", 61.0) == 500.0


def test_o3_8h_above_800_has_no_iaqi_and_daily_aqi_uses_1h() -> None:
    assert np.isnan(iaqi("o3_8h", 801.0))
    assert iaqi("o3_8h", 800.0) == 300.0
    aqi, primary, level = daily_aqi({"o3_mda8": 850.0, "o3_1h_max": 900.0, "pm25_24h": 50.0})
    assert aqi == iaqi("o3_1h", 900.0) == 350.0
    assert primary == ["o3_8h"]
    assert level is not None and level.number == 6
    # without a 1-hour maximum, the 1-hour index of the 8-hour mean is a lower bound
    aqi, _, _ = daily_aqi({"o3_mda8": 850.0})
    assert aqi == iaqi("o3_1h", 850.0) == 325.0


def test_iaqi_vectorised_and_nan_passthrough() -> None:
    out = iaqi("pm25_24h", np.array([[10.0, np.nan], [75.0, 600.0]]))
    assert out.shape == (2, 2)
    assert np.isnan(out[0, 1])
    assert_allclose(out[[0, 1, 1], [0, 0, 1]], [15.0, 100.0, 500.0])  # 50*10/35=14.3 -> 15


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown pollutant key 'pm2.5'"):
        iaqi("pm2.5", 10.0)
    with pytest.raises(ValueError, match="negative concentration for no2_24h"):
        iaqi("no2_24h", np.array([1.0, -2.0]))
    with pytest.raises(ValueError, match="outside 0..300 for o3_8h"):
        conc_for_iaqi("o3_8h", 350.0)


def test_daily_aqi_primary_only_above_50_and_ties() -> None:
    aqi, primary, level = daily_aqi({"pm25_24h": 20.0, "pm10_24h": 30.0, "o3_mda8": 80.0})
    assert aqi == 40.0 and primary == [] and level is not None and level.en == "excellent"
    # PM2.5 75 and O3 MDA8 160 both give IAQI 100: both are primary
    aqi, primary, level = daily_aqi({"pm25_24h": 75.0, "o3_mda8": 160.0, "no2_24h": 40.0})
    assert aqi == 100.0
    assert primary == ["o3_8h", "pm25_24h"]
    assert level is not None and (level.number, level.zh) == (2, "良")


def test_daily_aqi_includes_o3_1h_sub_index() -> None:
    # HJ 633 daily AQI takes the 1-hour O3 maximum too: 1h max 420 -> IAQI 205
    aqi, primary, _ = daily_aqi({"o3_mda8": 150.0, "o3_1h_max": 420.0})
    assert aqi == 205.0
    assert primary == ["o3_1h"]


def test_daily_aqi_with_nothing_valid() -> None:
    aqi, primary, level = daily_aqi({"pm25_24h": np.nan, "o3_mda8": None})
    assert np.isnan(aqi) and primary == [] and level is None


@pytest.mark.parametrize(
    ("aqi", "number", "en", "zh"),
    [
        (0, 1, "excellent", "优"),
        (50, 1, "excellent", "优"),
        (50.2, 2, "good", "良"),  # reported as 51
        (100, 2, "good", "良"),
        (101, 3, "light", "轻度污染"),
        (150, 3, "light", "轻度污染"),
        (151, 4, "moderate", "中度污染"),
        (200, 4, "moderate", "中度污染"),
        (201, 5, "heavy", "重度污染"),
        (300, 5, "heavy", "重度污染"),
        (301, 6, "severe", "严重污染"),
        (500, 6, "severe", "严重污染"),
    ],
)
def test_levels(aqi: float, number: int, en: str, zh: str) -> None:
    level = aqi_level(aqi)
    assert level is not None
    assert (level.number, level.en, level.zh) == (number, en, zh)


def test_level_table_is_contiguous() -> None:
    for lower, upper in zip(AQI_LEVELS, AQI_LEVELS[1:], strict=False):
        assert upper.aqi_min == lower.aqi_max + 1
    assert aqi_level(float("nan")) is None


def test_inverse_named_values() -> None:
    assert conc_for_iaqi("pm25_24h", 200) == 150.0
    assert conc_for_iaqi("pm25_24h", 100) == 75.0
    assert conc_for_iaqi("o3_8h", 100) == 160.0
    assert conc_for_iaqi("pm25_24h", 125) == pytest.approx(95.0)
    assert conc_for_iaqi("co_24h", 500) == 60.0


def test_aqi_frame_matches_daily_aqi() -> None:
    frame = pd.DataFrame(
        {
            "pm25_24h": [20.0, 180.0, np.nan, np.nan],
            "pm10_24h": [30.0, 200.0, 60.0, np.nan],
            "o3_mda8": [80.0, 100.0, 170.0, np.nan],
            "o3_1h_max": [90.0, 120.0, 210.0, np.nan],
        },
        index=[10, 11, 12, 13],
    )
    out = aqi_frame(frame)
    assert list(out.index) == [10, 11, 12, 13]
    assert_allclose(out["aqi"].to_numpy()[:3], [40.0, 230.0, 110.0])
    assert np.isnan(out["aqi"].iloc[3])
    assert list(out["level"]) == [1, 5, 3, 0]
    assert list(out["primary_pollutants"]) == ["", "pm25_24h", "o3_8h", ""]
    assert list(out["n_subindices"]) == [4, 4, 3, 0]
    for i in frame.index[:3]:
        aqi, primary, level = daily_aqi(frame.loc[i].to_dict())
        assert aqi == out.loc[i, "aqi"]
        assert level is not None and level.number == out.loc[i, "level"]


concentrations = st.floats(min_value=0, max_value=3000, allow_nan=False)


@given(key=st.sampled_from(POLLUTANT_KEYS), a=concentrations, b=concentrations)
def test_iaqi_monotone_and_bounded(key: str, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    i_lo, i_hi = iaqi(key, lo), iaqi(key, hi)
    if key == "o3_8h" and hi > 800:
        assert np.isnan(i_hi)
        return
    assert 0 <= i_lo <= i_hi <= 500
    assert i_lo == np.ceil(i_lo)


@given(key=st.sampled_from(POLLUTANT_KEYS), value=st.floats(min_value=0, max_value=500))
def test_inverse_is_consistent(key: str, value: float) -> None:
    top = IAQI_BREAKPOINTS[len(CONC_BREAKPOINTS[key]) - 1]
    value = min(value, top)
    conc = conc_for_iaqi(key, value)
    # within rounding noise of an integer the index is that integer, else the next one up
    assume(not 1e-10 < abs(value - round(value)) < 1e-8)
    expected = round(value) if abs(value - round(value)) <= 1e-10 else np.ceil(value)
    # the concentration that reaches an index reports that index, rounded up
    assert iaqi(key, conc) == expected


@given(key=st.sampled_from(POLLUTANT_KEYS), value=st.integers(min_value=0, max_value=500))
def test_inverse_of_integer_index_is_exact(key: str, value: int) -> None:
    top = IAQI_BREAKPOINTS[len(CONC_BREAKPOINTS[key]) - 1]
    if value > top:
        return
    assert iaqi(key, conc_for_iaqi(key, value)) == value


def test_daily_aqi_rounds_concentrations_first() -> None:
    # HJ 663 as bureaus compute it: 35.4 -> 35 (IAQI 50, excellent); CO 4.04 -> 4.0 (IAQI 100)
    aqi, primary, level = daily_aqi({"pm25_24h": 35.4})
    assert aqi == 50.0 and primary == [] and level.number == 1
    aqi, primary, _ = daily_aqi({"co_24h": 4.04, "pm25_24h": 20.0})
    assert aqi == 100.0 and primary == ["co_24h"]
    assert daily_aqi({"o3_mda8": 160.4})[0] == 100.0  # 160, not 100.4 -> 101
