"""Daily statistics on local days: MDA8 windows, 24-h validity, areas, time zones, real data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from aqcast.features.aqi import iaqi
from aqcast.features.daily import (
    DAILY_VARIABLES,
    area_daily_statistics,
    daily_statistics,
    daily_wide,
    mda8_ugm3,
    mda8_windows_ugm3,
    mean_24h,
    o3_1h_max_ugm3,
)

NAN = np.nan
TZ = "Asia/Shanghai"


def day(values: dict[int, float], fill: float = NAN) -> np.ndarray:
    a = np.full(24, fill)
    for h, v in values.items():
        a[h] = v
    return a


# --- MDA8 -------------------------------------------------------------------------------


def test_mda8_hand_computed() -> None:
    # 8 hours of 100 from 12 to 19 h, zero elsewhere: the window 12..19 averages 100
    assert mda8_ugm3(day({h: 100.0 for h in range(12, 20)}, fill=0.0)) == 100.0
    # a ramp: hour h holds h; the last in-day window 16..23 averages 19.5
    assert mda8_ugm3(np.arange(24.0)) == 19.5


def test_mda8_windows_stay_inside_the_day() -> None:
    # high values only in the last four hours: the best window is 16..23, not one that
    # would reach into the next day
    o3 = day({h: 160.0 for h in range(20, 24)}, fill=0.0)
    means, counts = mda8_windows_ugm3(o3)
    assert means.shape == (17,) and counts.shape == (17,)
    assert mda8_ugm3(o3) == 80.0


def test_mda8_window_needs_six_valid_hours() -> None:
    five = day({h: 200.0 for h in range(10, 15)})  # hours 10..14 valid, rest missing
    assert np.isnan(mda8_ugm3(five))
    six = day({h: 200.0 for h in range(10, 16)})
    assert mda8_ugm3(six) == 200.0


def test_mda8_mean_of_valid_hours_in_a_window() -> None:
    # window 8..15 has 6 valid hours (100) and two missing: its mean is 100, not 75
    o3 = day({8: 100, 9: 100, 10: NAN, 11: NAN, 12: 100, 13: 100, 14: 100, 15: 100}, fill=10.0)
    assert mda8_ugm3(o3) == 100.0
    # seven valid hours of 100 and one of 20 -> (700 + 20) / 8
    o3 = day({h: 100.0 for h in range(8, 15)} | {15: 20.0}, fill=0.0)
    assert mda8_ugm3(o3) == pytest.approx(90.0)


def test_mda8_rows() -> None:
    rows = np.vstack([np.full(24, 50.0), np.full(24, NAN), day({h: 90.0 for h in range(24)})])
    assert_allclose(mda8_ugm3(rows), [50.0, NAN, 90.0])


def test_mean_24h_needs_20_valid_hours() -> None:
    nineteen = np.where(np.arange(24) < 19, 80.0, NAN)
    twenty = np.where(np.arange(24) < 20, 80.0, NAN)
    assert np.isnan(mean_24h(nineteen))
    assert mean_24h(twenty) == 80.0
    assert mean_24h(np.arange(24.0)) == 11.5


def test_o3_1h_max() -> None:
    assert o3_1h_max_ugm3(day({3: 40.0, 15: 210.0})) == 210.0
    assert np.isnan(o3_1h_max_ugm3(np.full(24, NAN)))


def test_wrong_length_is_an_error() -> None:
    with pytest.raises(ValueError, match="24 hourly values"):
        mda8_ugm3(np.ones(23))


# --- frames -----------------------------------------------------------------------------


def hourly(station: str, start_utc: str, hours: int, **columns: np.ndarray | float) -> pd.DataFrame:
    time = pd.date_range(start_utc, periods=hours, freq="h", tz="UTC")
    frame = pd.DataFrame({"station": station, "time": time})
    for name, values in columns.items():
        frame[name] = np.broadcast_to(np.asarray(values, dtype=float), hours).copy()
    return frame


def value(long: pd.DataFrame, key: str, day_: str, variable: str, col: str = "value"):
    row = long[(long.iloc[:, 0] == key) & (long["day"] == dt.date.fromisoformat(day_))]
    return row.loc[row["variable"] == variable, col].item()


def test_local_days_from_utc_input() -> None:
    # 48 hours from 2015-06-01 00:00 UTC = 08:00 local: 16 hours on 1 June, 24 on 2 June,
    # 8 on 3 June (Asia/Shanghai is UTC+8)
    pm25 = np.arange(48.0)
    out = daily_statistics(hourly("A", "2015-06-01 00:00", 48, pm25=pm25, o3=50.0), TZ)
    assert list(out.columns) == ["station", "day", "variable", "value", "n_valid"]
    assert sorted(set(out["day"])) == [dt.date(2015, 6, d) for d in (1, 2, 3)]
    assert [value(out, "A", f"2015-06-0{d}", "pm25_24h", "n_valid") for d in (1, 2, 3)] == [
        16,
        24,
        8,
    ]
    assert np.isnan(value(out, "A", "2015-06-01", "pm25_24h"))
    # 2 June local = UTC hours 16..39 of the input
    # (the mean 27.5, reported rounded half up as HJ 663 does)
    assert value(out, "A", "2015-06-02", "pm25_24h") == 28.0
    # the same data read on UTC days: two full days
    utc = daily_statistics(hourly("A", "2015-06-01 00:00", 48, pm25=pm25), "UTC")
    assert value(utc, "A", "2015-06-01", "pm25_24h") == 12.0  # 11.5 reported as 12


def test_daylight_saving_days() -> None:
    # Europe/Berlin springs forward on 2015-03-29: that local day has 23 hours
    frame = hourly("A", "2015-03-27 23:00", 24 * 3, pm25=10.0, o3=60.0)
    out = daily_statistics(frame, "Europe/Berlin")
    assert value(out, "A", "2015-03-29", "pm25_24h", "n_valid") == 23
    assert value(out, "A", "2015-03-29", "pm25_24h") == 10.0
    assert value(out, "A", "2015-03-29", "o3_mda8") == 60.0


def test_every_variable_for_every_station_day() -> None:
    frame = pd.concat(
        [
            hourly("A", "2015-05-31 16:00", 24, o3=100.0, pm25=75.0, pm10=50.0),
            hourly("B", "2015-05-31 16:00", 24, pm25=10.0),
        ]
    )
    out = daily_statistics(frame, TZ)
    assert len(out) == 2 * len(DAILY_VARIABLES)
    assert set(out["variable"]) == set(DAILY_VARIABLES)
    wide = daily_wide(out)
    a = wide.loc[("A", dt.date(2015, 6, 1))]
    assert a["o3_mda8"] == 100.0 and a["o3_1h_max"] == 100.0 and a["pm25_24h"] == 75.0
    assert a["aqi"] == 100.0  # PM2.5 75 -> 100; O3 8h 100 -> 50
    assert value(out, "A", "2015-06-01", "aqi", "n_valid") == 4  # pm25, pm10, o3 8h, o3 1h
    assert value(out, "A", "2015-06-01", "o3_mda8", "n_valid") == 17
    b = wide.loc[("B", dt.date(2015, 6, 1))]
    assert np.isnan(b["o3_mda8"]) and np.isnan(b["co_24h"])
    assert b["aqi"] == iaqi("pm25_24h", 10.0)
    assert value(out, "B", "2015-06-01", "aqi", "n_valid") == 1


def test_day_without_any_valid_pollutant_has_nan_aqi() -> None:
    out = daily_statistics(hourly("A", "2015-05-31 16:00", 24, pm25=NAN, o3=NAN), TZ)
    assert np.isnan(value(out, "A", "2015-06-01", "aqi"))
    assert value(out, "A", "2015-06-01", "aqi", "n_valid") == 0


def test_area_uses_mean_concentration_not_mean_aqi() -> None:
    frame = pd.concat(
        [
            hourly("A", "2015-05-31 16:00", 24, pm25=200.0),
            hourly("B", "2015-05-31 16:00", 24, pm25=20.0),
            hourly("C", "2015-05-31 16:00", 24, pm25=1000.0),  # not in the area
        ]
    )
    out = area_daily_statistics(frame, ["A", "B"], TZ, area="north")
    assert list(out.columns) == ["area", "day", "variable", "value", "n_valid"]
    assert value(out, "north", "2015-06-01", "pm25_24h") == 110.0
    # AQI of 110 ug/m3 is ceil(100 + 50 * 35/40) = 144; the mean of the station AQIs
    # (250 and 29) would be 139.5
    assert value(out, "north", "2015-06-01", "aqi") == 144.0
    stations = daily_wide(daily_statistics(frame[frame.station != "C"], TZ))["aqi"]
    assert stations.mean() == 139.5


def test_area_mean_over_stations_available_each_hour() -> None:
    b = np.where(np.arange(24) % 2 == 0, 50.0, NAN)  # B reports every other hour
    frame = pd.concat(
        [
            hourly(
                "A", "2015-05-31 16:00", 24, pm25=100.0, o3=np.where(np.arange(24) < 4, 1.0, NAN)
            ),
            hourly("B", "2015-05-31 16:00", 24, pm25=b),
        ]
    )
    out = area_daily_statistics(frame, ["A", "B", "Z"], TZ)  # Z has no data at all
    # 12 hours at (100 + 50) / 2 and 12 hours at 100 alone: 87.5, reported as 88
    assert value(out, "district", "2015-06-01", "pm25_24h") == 88.0
    assert value(out, "district", "2015-06-01", "pm25_24h", "n_valid") == 24
    assert value(out, "district", "2015-06-01", "o3_1h_max", "n_valid") == 4
    assert np.isnan(value(out, "district", "2015-06-01", "o3_mda8"))


def test_area_without_any_of_its_stations_is_an_error() -> None:
    with pytest.raises(ValueError, match="none of the area's stations"):
        area_daily_statistics(hourly("A", "2015-06-01", 24, pm25=1.0), ["X", "Y"], TZ)


def test_bad_frames_are_errors() -> None:
    frame = hourly("A", "2015-06-01", 24, pm25=1.0)
    with pytest.raises(ValueError, match="duplicate station/time 'A'"):
        daily_statistics(pd.concat([frame, frame.iloc[[3]]]), TZ)
    naive = frame.assign(time=frame["time"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="tz-aware"):
        daily_statistics(naive, TZ)
    with pytest.raises(ValueError, match="missing column 'time'"):
        daily_statistics(frame.drop(columns="time"), TZ)


def test_empty_frame() -> None:
    out = daily_statistics(hourly("A", "2015-06-01", 0, pm25=1.0), TZ)
    assert out.empty and list(out.columns) == ["station", "day", "variable", "value", "n_valid"]


# --- real data --------------------------------------------------------------------------


@pytest.mark.realdata
def test_one_real_station(beijing_dir: Path) -> None:
    from aqcast.service.sources.prsa import read_prsa

    (path,) = beijing_dir.glob("PRSA_Data_Dongsi_*.csv")
    frame = read_prsa(path)
    wide = daily_wide(daily_statistics(frame, TZ))
    days = wide.index.get_level_values("day")
    assert days.min() == dt.date(2013, 3, 1)
    # 2013-03-01..2016-02-29: 1096 local days, each present once
    assert days.max() == dt.date(2016, 2, 29)
    assert len(wide) == days.nunique() == 1096
    # plausible ranges for Beijing
    assert 60 < wide["pm25_24h"].median() < 120
    assert wide["pm25_24h"].max() > 300  # winter episodes
    assert 0 <= wide["aqi"].min() and wide["aqi"].max() <= 500
    summer = wide[[d.month in (6, 7) for d in days]]
    assert (summer["o3_mda8"] > 160).mean() > 0.2  # frequent summer exceedances
    valid = wide.dropna(subset=["o3_mda8", "o3_1h_max"])
    assert (valid["o3_1h_max"] >= valid["o3_mda8"]).all()
    assert wide["aqi"].notna().mean() > 0.97


# --- HJ 663 as bureaus compute it: rounding before the index, 14 valid windows ------------


def test_daily_concentrations_are_rounded_before_the_index() -> None:
    # PM2.5 of 35.4 all day is reported as 35: IAQI 50, "excellent" (unrounded 35.4 would
    # be IAQI 50.5 -> 51, "good"). CO 0.15 mg/m3 is reported as 0.2.
    frame = hourly("A", "2015-05-31 16:00", 24, pm25=35.4, co=0.15)
    out = daily_statistics(frame, TZ)
    assert value(out, "A", "2015-06-01", "pm25_24h") == 35.0
    assert value(out, "A", "2015-06-01", "co_24h") == pytest.approx(0.2)
    assert value(out, "A", "2015-06-01", "aqi") == 50.0
    half = daily_statistics(hourly("A", "2015-05-31 16:00", 24, pm25=35.5), TZ)
    assert value(half, "A", "2015-06-01", "pm25_24h") == 36.0  # half up, not to even
    assert value(half, "A", "2015-06-01", "aqi") == 52.0  # 50 + 1 * 50 / 40 = 51.25, up


def _o3_day(valid_hours: range, level: float) -> pd.DataFrame:
    o3 = np.full(24, NAN)
    o3[list(valid_hours)] = level
    return hourly("A", "2015-05-31 16:00", 24, o3=o3)


def test_mda8_needs_14_valid_windows() -> None:
    # hours 0..20 valid: windows starting 0..15 have >= 6 valid hours (16 windows) -> valid
    out = daily_statistics(_o3_day(range(0, 21), 100.0), TZ)
    assert value(out, "A", "2015-06-01", "o3_mda8", "n_valid") == 16
    assert value(out, "A", "2015-06-01", "o3_mda8") == 100.0
    # hours 0..18 valid: windows starting 0..13 -> 14 windows, still valid
    out = daily_statistics(_o3_day(range(0, 19), 100.0), TZ)
    assert value(out, "A", "2015-06-01", "o3_mda8", "n_valid") == 14
    assert value(out, "A", "2015-06-01", "o3_mda8") == 100.0
    # hours 0..17 valid: 13 windows -> no MDA8 for the day (and no O3 8-hour sub-index)
    out = daily_statistics(_o3_day(range(0, 18), 100.0), TZ)
    assert value(out, "A", "2015-06-01", "o3_mda8", "n_valid") == 13
    assert np.isnan(value(out, "A", "2015-06-01", "o3_mda8"))
    assert value(out, "A", "2015-06-01", "o3_1h_max") == 100.0


def test_mda8_with_few_windows_counts_when_it_exceeds_the_limit() -> None:
    # 13 windows, but their largest mean is 180 > 160: the exceedance is certain
    out = daily_statistics(_o3_day(range(0, 18), 180.0), TZ)
    assert value(out, "A", "2015-06-01", "o3_mda8") == 180.0
    # at the limit exactly it is not an exceedance: still too few windows
    out = daily_statistics(_o3_day(range(0, 18), 160.0), TZ)
    assert np.isnan(value(out, "A", "2015-06-01", "o3_mda8"))
