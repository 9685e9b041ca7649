"""Quality flags and completeness on small hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aqcast.features.qc import (
    MISSING,
    OUT_OF_RANGE,
    SPIKE,
    STUCK,
    VALID,
    completeness,
    quality_flags,
)


def hourly(values: dict[str, list[float]], station: str = "A", start="2015-06-01T00:00Z"):
    n = len(next(iter(values.values())))
    frame = pd.DataFrame({"station": station, "time": pd.date_range(start, periods=n, freq="h")})
    for k, v in values.items():
        frame[k] = np.asarray(v, dtype=float)
    return frame


def test_valid_missing_and_out_of_range():
    f = hourly({"pm25": [10, np.nan, -5, 2500, 12], "temp_air": [20, 21, 80, -60, 22]})
    flags = quality_flags(f)
    assert flags["pm25"].tolist() == [VALID, MISSING, OUT_OF_RANGE, OUT_OF_RANGE, VALID]
    assert flags["temp_air"].tolist() == [VALID, VALID, OUT_OF_RANGE, OUT_OF_RANGE, VALID]
    assert flags.shape == (5, 2) and list(flags.index) == list(f.index)


def test_values_are_kept_not_deleted():
    f = hourly({"pm25": [10, 2500, 12]})
    before = f.copy()
    quality_flags(f)
    pd.testing.assert_frame_equal(f, before)


def test_stuck_run_of_identical_nonzero_values():
    # 12 identical O3 values (the limit for o3) is stuck, 11 is not.
    f = hourly({"o3": [50] + [84] * 12 + [60] + [70] * 11 + [65]})
    flags = quality_flags(f)["o3"].to_numpy()
    assert (flags[1:13] == STUCK).all()
    assert (flags[14:25] == VALID).all()
    assert flags[0] == VALID and flags[13] == VALID


def test_zero_precipitation_and_calm_wind_repeat_legitimately():
    f = hourly({"precipitation": [0.0] * 48, "wind_speed": [0.0] * 48, "o3": [2.0] * 48})
    flags = quality_flags(f)
    assert (flags.to_numpy() == VALID).all()


def test_stuck_nonzero_precipitation_is_flagged():
    f = hourly({"precipitation": [0.5] * 12})
    assert (quality_flags(f)["precipitation"] == STUCK).all()


def test_run_broken_by_gap_or_station_change():
    a = hourly({"o3": [84] * 6}, station="A")
    b = hourly({"o3": [84] * 6}, station="A", start="2015-06-01T07:00Z")  # one-hour gap
    c = hourly({"o3": [84] * 6}, station="B", start="2015-06-01T06:00Z")
    flags = quality_flags(pd.concat([a, b, c], ignore_index=True))
    assert (flags["o3"] == VALID).all()


def test_order_of_rows_does_not_matter():
    f = hourly({"o3": [50] + [84] * 12 + [60]})
    shuffled = f.sample(frac=1.0, random_state=1)
    flags = quality_flags(shuffled)
    assert (flags.loc[f.index[1:13], "o3"] == STUCK).all()
    assert flags.loc[0, "o3"] == VALID


def test_spike_against_both_neighbours():
    base = [30, 32, 31, 33, 35, 34, 400, 36, 35, 37, 36, 38]
    flags = quality_flags(hourly({"pm25": base}))["pm25"].to_numpy()
    assert flags[6] == SPIKE
    assert (np.delete(flags, 6) == VALID).all()


def test_a_step_change_is_not_a_spike():
    # A sustained rise (a plume arriving) differs from both sides only at its edge.
    values = [30, 32, 31, 33, 400, 410, 405, 398, 402]
    flags = quality_flags(hourly({"pm25": values}))["pm25"]
    assert (flags == VALID).all()


def test_completeness_counts_valid_hours_per_local_day():
    # 48 hours from local midnight (UTC+8): day 1 has 2 missing and 1 out of range.
    values = [20.0 + i % 5 for i in range(48)]  # varied: a constant would be stuck
    values[3], values[4], values[5] = np.nan, np.nan, -1
    f = hourly({"pm25": values}, start="2015-05-31T16:00Z")
    out = completeness(f, tz="Asia/Shanghai")
    day1 = out[(out["day"] == pd.Timestamp("2015-06-01").date())].iloc[0]
    day2 = out[(out["day"] == pd.Timestamp("2015-06-02").date())].iloc[0]
    assert (day1["n_valid"], day1["n_hours"]) == (21, 24)
    assert day1["fraction"] == pytest.approx(21 / 24)
    assert day2["n_valid"] == 24


def test_completeness_knows_dst_days():  # New York springs forward on 2015-03-08
    f = hourly(
        {"pm25": [10.0 + i % 3 for i in range(30)]}, start="2015-03-08T05:00Z"
    )  # New York DST start
    out = completeness(f, tz="America/New_York")
    day = out[out["day"] == pd.Timestamp("2015-03-08").date()].iloc[0]
    assert day["n_hours"] == 23
