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
    # 12 identical O3 values (the limit for o3) is stuck, 11 is not. Causal: the hours
    # before the run reaches 12 were valid when they arrived and stay so.
    f = hourly({"o3": [50] + [84] * 14 + [60] + [70] * 11 + [65]})
    flags = quality_flags(f)["o3"].to_numpy()
    assert (flags[1:12] == VALID).all()
    assert (flags[12:15] == STUCK).all()
    assert (flags[16:27] == VALID).all()
    assert flags[0] == VALID and flags[15] == VALID


def test_zero_precipitation_and_calm_wind_repeat_legitimately():
    f = hourly({"precipitation": [0.0] * 48, "wind_speed": [0.0] * 48, "o3": [2.0] * 48})
    flags = quality_flags(f)
    assert (flags.to_numpy() == VALID).all()


def test_stuck_nonzero_precipitation_is_flagged():
    f = hourly({"precipitation": [0.5] * 14})
    flags = quality_flags(f)["precipitation"].to_numpy()
    assert (flags[11:] == STUCK).all() and (flags[:11] == VALID).all()


def test_run_broken_by_gap_or_station_change():
    a = hourly({"o3": [84] * 6}, station="A")
    b = hourly({"o3": [84] * 6}, station="A", start="2015-06-01T07:00Z")  # one-hour gap
    c = hourly({"o3": [84] * 6}, station="B", start="2015-06-01T06:00Z")
    flags = quality_flags(pd.concat([a, b, c], ignore_index=True))
    assert (flags["o3"] == VALID).all()


def test_order_of_rows_does_not_matter():
    f = hourly({"o3": [50] + [84] * 13 + [60]})
    shuffled = f.sample(frac=1.0, random_state=1)
    flags = quality_flags(shuffled)
    assert (flags.loc[f.index[12:14], "o3"] == STUCK).all()
    assert (flags.loc[f.index[:12], "o3"] == VALID).all()


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


def _noisy(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pm = np.abs(60 + np.cumsum(rng.normal(0, 8, n)))
    pm[rng.integers(0, n, 12)] += 400  # spikes
    o3 = np.round(np.abs(80 + 40 * np.sin(np.arange(n) / 3.8) + rng.normal(0, 5, n)))
    o3[200:230] = 84.0  # a stuck run
    temp = 15 + 8 * np.sin(np.arange(n) / 3.8) + rng.normal(0, 0.5, n)
    a = hourly({"pm25": pm, "o3": o3, "temp_air": temp}, station="A")
    b = hourly({"pm25": pm[::-1].copy(), "o3": o3, "temp_air": temp}, station="B")
    return pd.concat([a, b], ignore_index=True)


@pytest.mark.parametrize("cut", [150, 210, 400, 1100])
def test_flags_of_an_hour_depend_only_on_data_up_to_the_next_hour(cut):
    """Tripling every value from hour ``cut`` on leaves the flags of the hours before
    ``cut - 1`` unchanged; only the hour before the cut may change (its spike test reads
    the next hour)."""
    f = _noisy(1500, seed=cut)
    before = quality_flags(f)
    later = f.copy()
    late = later["time"] >= later["time"].min() + pd.Timedelta(hours=cut)
    later.loc[late, ["pm25", "o3", "temp_air"]] *= 3.0
    after = quality_flags(later)
    keep = (f["time"] < f["time"].min() + pd.Timedelta(hours=cut - 1)).to_numpy()
    pd.testing.assert_frame_equal(before[keep], after[keep])
    assert not before[~keep].equals(after[~keep])  # the alteration did change flags
    assert (before["pm25"] == SPIKE).sum() >= 5 and (before["o3"] == STUCK).any()


def test_a_spike_is_judged_once_the_next_hour_arrives():
    base = [30, 32, 31, 33, 35, 34, 400]
    flags = quality_flags(hourly({"pm25": base}))["pm25"].to_numpy()
    assert flags[6] == VALID  # no next hour yet: cannot be a spike
    flags = quality_flags(hourly({"pm25": [*base, 36]}))["pm25"].to_numpy()
    assert flags[6] == SPIKE


def test_spike_scale_comes_from_a_trailing_window():
    """A jump of 200 ug/m3 is a spike in a calm month and not in a month of hourly
    swings of 40; the quiet month after a noisy one judges by its own 30 days."""
    rng = np.random.default_rng(5)
    calm = 50 + rng.normal(0, 2, 900)
    noisy = 300 + rng.normal(0, 40, 900)
    values = np.concatenate([noisy, calm])
    values[1700] += 200  # in the calm part, 800 h after the noise ended
    values[500] += 200  # in the noisy part
    flags = quality_flags(hourly({"pm25": values}))["pm25"].to_numpy()
    assert flags[1700] == SPIKE
    assert flags[500] == VALID
