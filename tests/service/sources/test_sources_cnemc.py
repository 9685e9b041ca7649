"""The national publishing platform's hourly format: reading and checking one table."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from aqcast.features.daily import daily_statistics
from aqcast.features.rolling import rolling_statistics
from aqcast.service.sources.cnemc import (
    COLUMNS,
    parse_cnemc_csv,
    parse_cnemc_json,
    parse_ozone_columns,
    read_cnemc,
)
from aqcast.service.sources.errors import InputError
from tests.support.cnemc_fixture import csv_text, platform_tables, row_at

HEADER = ",".join(COLUMNS)
ROW = (
    '2024-07-01 16:00:00,1015A,117.145,39.173,天津市,勤俭道,"PM2.5,PM10",80,'
    "90,70,40,38,150,160,120,130,30,35,8,9,0.6,0.7"
)


def one(text: str, **kw):
    return parse_cnemc_csv(text, "f.csv", **kw)


def test_hour_ending_beijing_time_becomes_the_start_of_the_hour_in_utc():
    t = one(f"{HEADER}\n{ROW}\n")
    f = t.frame
    # 16:00 hour-ending Beijing = the hour 15:00-16:00 local = 07:00 UTC start
    assert f["time"].iloc[0] == pd.Timestamp("2024-07-01 07:00", tz="UTC")
    assert f["line"].iloc[0] == 2
    h = t.hourly
    assert list(h.columns) == ["station", "time", "pm25", "pm10", "so2", "no2", "co", "o3"]
    assert h.iloc[0][["pm25", "pm10", "so2", "no2", "co", "o3"]].tolist() == [
        40.0,
        90.0,
        8.0,
        30.0,
        0.6,
        150.0,
    ]
    p = t.published.iloc[0]
    assert (p["pm25_24h"], p["o3_24h"], p["o3_8h"], p["o3_8h_24h"], p["co_24h"]) == (
        38.0,
        160.0,
        120.0,
        130.0,
        0.7,
    )
    st = t.stations.iloc[0]
    assert (st["station"], st["name_zh"], st["city"], st["background"]) == (
        "1015A",
        "勤俭道",
        "天津市",
        False,
    )
    assert (st["lat"], st["lon"]) == (39.173, 117.145)


@pytest.mark.parametrize(
    ("stamp", "start_utc"),
    [
        ("2024-07-02 00:00:00", "2024-07-01 15:00"),  # the day's 24:00 row: 23:00-24:00
        ("2024-07-01 24:00:00", "2024-07-01 15:00"),  # written as 24:00
        ("2024-07-01 01:00:00", "2024-06-30 16:00"),  # 00:00-01:00 local
        ("2024/7/1 9:00", "2024-07-01 00:00"),
    ],
)
def test_midnight_and_other_stamps(stamp, start_utc):
    row = ROW.replace("2024-07-01 16:00:00", stamp)
    t = one(f"{HEADER}\n{row}\n")
    assert t.frame["time"].iloc[0] == pd.Timestamp(start_utc, tz="UTC")


def test_background_station_marker_is_a_flag_not_part_of_the_name():
    row = ROW.replace("勤俭道", "团泊洼(对照点)")
    row2 = ROW.replace("1015A", "1016A").replace("勤俭道", "南口路（对照点）")
    st = one(f"{HEADER}\n{row}\n{row2}\n").stations.set_index("station")
    assert st.loc["1015A", "name_zh"] == "团泊洼" and st.loc["1015A", "background"] is True
    assert st.loc["1016A", "name_zh"] == "南口路" and st.loc["1016A", "background"] is True


def test_gb18030_and_utf8_files_read_the_same(tmp_path):
    text = f"{HEADER}\n{ROW}\n"
    (tmp_path / "u.csv").write_bytes(text.encode("utf-8-sig"))
    (tmp_path / "g.csv").write_bytes(text.encode("gb18030"))
    u, g = read_cnemc(tmp_path / "u.csv"), read_cnemc(tmp_path / "g.csv")
    assert (u.encoding, g.encoding) == ("utf-8", "gb18030")
    pd.testing.assert_frame_equal(u.frame, g.frame)
    assert g.frame["name_zh"].iloc[0] == "勤俭道" and g.frame["city"].iloc[0] == "天津市"


def test_empty_fields_and_dashes_are_missing():
    row = ROW.replace(",40,38,", ",,—,").replace(",0.6,0.7", ",-,")
    t = one(f"{HEADER}\n{row}\n")
    assert np.isnan(t.hourly["pm25"].iloc[0]) and np.isnan(t.hourly["co"].iloc[0])
    assert np.isnan(t.published["pm25_24h"].iloc[0]) and np.isnan(t.published["co_24h"].iloc[0])


def test_bad_rows_are_named_by_file_line_and_field():
    bad = ROW.replace(",40,38,", ",4O,38,")
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW}\n\n{bad}\n")
    assert (e.value.line, e.value.field, e.value.value) == (4, "pm2_5", "4O")
    assert "f.csv, line 4, field 'pm2_5'" in str(e.value)
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW.replace('16:00:00', '16:30:00')}\n")
    assert (e.value.line, e.value.field) == (2, "timepoint")
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW.replace('2024-07-01', '2024-02-30')}\n")
    assert "not a valid date" in str(e.value)
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW.replace(',-', ',').replace(',150,', ',-150,')}\n")
    assert e.value.field == "o3"
    with pytest.raises(InputError) as e:
        one(f"{HEADER.replace('pm2_5,', 'pm25,')}\n{ROW}\n")
    assert (e.value.line, e.value.field) == (1, "pm2_5")
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW},extra\n")
    assert e.value.line == 2 and "fields" in str(e.value)
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW}\n{ROW}\n")
    assert e.value.line == 3 and "twice" in str(e.value) and "line 2" in str(e.value)
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{ROW.replace(',39.173,', ',99.1,')}\n")
    assert e.value.field == "latitude"


def swapped(text_row: str) -> str:
    """The row with the values of o3_24h and o3_8h exchanged (an archive's other order)."""
    cells = next(iter(__import__("csv").reader([text_row])))
    i, j = COLUMNS.index("o3_24h"), COLUMNS.index("o3_8h")
    cells[i], cells[j] = cells[j], cells[i]
    return ",".join(f'"{c}"' if "," in c else c for c in cells)


def test_swapped_ozone_columns_are_refused_or_mapped_by_the_option():
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{swapped(ROW)}\n")
    msg = str(e.value)
    assert e.value.line == 2 and e.value.field == "o3_24h" and "--ozone-columns" in msg
    mapping = parse_ozone_columns("o3,o3_8h,o3_24h,o3_8h_24h")
    t = one(f"{HEADER}\n{swapped(ROW)}\n", ozone_columns=mapping)
    p = t.published.iloc[0]
    assert (p["o3_24h"], p["o3_8h"]) == (160.0, 120.0)
    assert parse_ozone_columns("o3,o3_24h,o3_8h,o3_8h_24h") is None
    with pytest.raises(ValueError, match="each once"):
        parse_ozone_columns("o3,o3,o3_8h,o3_8h_24h")


def test_the_days_highest_8h_mean_below_the_latest_is_refused_only_inside_the_day():
    # o3_8h_24h 110 < o3_8h 120 at 16:00: impossible; at 05:00 the latest window reaches
    # into the previous day and does not count for the day, so it is not checked.
    row = ROW.replace(",120,130,", ",120,110,")
    with pytest.raises(InputError) as e:
        one(f"{HEADER}\n{row}\n")
    assert e.value.field == "o3_8h_24h"
    early = row.replace("16:00:00", "05:00:00")
    assert len(one(f"{HEADER}\n{early}\n").frame) == 1


def test_json_rows_of_the_same_keys():
    rec = dict(zip(COLUMNS, next(iter(__import__("csv").reader([ROW]))), strict=True))
    rec["pm2_5"] = 40  # numbers as numbers
    rec["co_24h"] = None
    t = parse_cnemc_json({"data": [rec]}, "api")
    assert t.hourly["pm25"].iloc[0] == 40.0 and np.isnan(t.published["co_24h"].iloc[0])
    with pytest.raises(InputError) as e:
        parse_cnemc_json([rec, {**rec, "stationcode": "1016A", "o3": "x"}], "api")
    assert (e.value.line, e.value.field) == (2, "o3")


def test_select_by_city_and_station():
    by_hour = platform_tables(date(2024, 7, 1), 1)
    t = one(csv_text(by_hour[datetime(2024, 7, 1, 12)]))
    assert sorted(t.select(area="天津市").frame["station"]) == ["1015A", "1041A"]
    assert list(t.select(stations=["1001A"]).frame["station"]) == ["1001A"]
    assert t.select(area="天津市", stations=["1001A"]).frame.empty
    assert t.select(area="天津市").rows_read == 3


@pytest.mark.slow
def test_rolling_statistics_reproduce_the_platform_columns_and_the_daily_ones():
    by_hour = platform_tables(date(2024, 7, 1), 2)
    tables = [one(csv_text(rows)) for _, rows in sorted(by_hour.items())]
    frame = pd.concat([t.frame for t in tables], ignore_index=True)
    hourly = frame[["station", "time", "pm25", "pm10", "so2", "no2", "co", "o3"]]
    ours = rolling_statistics(hourly, "Asia/Shanghai").set_index(["station", "time"])
    pub = frame.set_index(["station", "time"])
    for stat in ["pm25_24h", "pm10_24h", "co_24h", "o3_24h", "o3_8h", "o3_8h_24h"]:
        both = pub[stat].notna() & ours[stat].reindex(pub.index).notna()
        assert both.sum() > 20, stat
        step = 0.1 if stat.startswith("co") else 1.0
        diff = (pub[stat] - ours[stat].reindex(pub.index))[both].abs()
        assert diff.max() <= step / 2 + 1e-9, stat
    # at the 24:00 row the rolling values are the day's statistics, which are stored
    # rounded as reported (HJ 663: integers for ug/m3)
    daily = daily_statistics(hourly, "Asia/Shanghai")
    d = daily.set_index(["station", "day", "variable"])["value"]
    last = ours.loc[("1015A", pd.Timestamp("2024-07-01 15:00", tz="UTC"))]
    for rolling, day_stat in [
        ("o3_8h_24h", "o3_mda8"),
        ("pm25_24h", "pm25_24h"),
        ("o3_24h", "o3_1h_max"),
    ]:
        assert last[rolling] == pytest.approx(d[("1015A", date(2024, 7, 1), day_stat)], abs=0.5), (
            rolling
        )
    r = row_at(by_hour, datetime(2024, 7, 2), "1015A")
    assert r["o3_8h_24h"] == round(d[("1015A", date(2024, 7, 1), "o3_mda8")])


def test_a_broken_row_of_another_city_does_not_stop_the_selected_rows():
    other = ROW.replace("1015A", "1001A").replace("天津市", "北京市").replace(",40,38,", ",x,38,")
    text = f"{HEADER}\n{ROW}\n{other}\n"
    with pytest.raises(InputError) as e:
        one(text)
    assert (e.value.line, e.value.field) == (3, "pm2_5")
    t = one(text, area="天津市")
    assert list(t.frame["station"]) == ["1015A"] and t.rows_read == 2
    assert t.cities == ["北京市", "天津市"]
    assert list(one(text, stations=["1015A"]).frame["line"]) == [2]
    bad_here = f"{HEADER}\n{other}\n{ROW}\n"
    with pytest.raises(InputError) as e:
        one(bad_here, stations=["1001A"])
    assert e.value.line == 2  # the file's own line numbers, selection or not
