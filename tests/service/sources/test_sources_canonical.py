"""The canonical observation table (CSV and Parquet) and station metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aqcast.service.sources.canonical import read_observations, read_station_metadata
from aqcast.service.sources.errors import InputError

HEADER = "station,time,pm25,co,o3"


def write(tmp_path: Path, lines: list[str], name="obs.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_csv_times_with_offsets_become_utc(tmp_path):
    p = write(tmp_path, [HEADER, "A,2015-06-01T14:00:00+08:00,35,0.8,", "A,2015-06-01T07:00Z,1,,2"])
    f = read_observations(p)
    assert f["time"].tolist() == [
        pd.Timestamp("2015-06-01T06:00Z"),
        pd.Timestamp("2015-06-01T07:00Z"),
    ]
    assert f["pm25"].tolist() == [35.0, 1.0]
    assert np.isnan(f["o3"].iloc[0]) and f["co"].iloc[0] == 0.8


def test_parquet_is_read_the_same(tmp_path):
    frame = pd.DataFrame(
        {
            "station": ["A", "B"],
            "time": pd.to_datetime(["2015-06-01T14:00:00+08:00", "2015-06-01T15:00:00+08:00"]),
            "pm25": [35.0, np.nan],
        }
    )
    path = tmp_path / "obs.parquet"
    frame.to_parquet(path)
    f = read_observations(path)
    assert f["time"].iloc[0] == pd.Timestamp("2015-06-01T06:00Z")
    assert f["station"].tolist() == ["A", "B"] and np.isnan(f["pm25"].iloc[1])


def test_parquet_naive_time_is_refused(tmp_path):
    frame = pd.DataFrame(
        {"station": ["A"], "time": pd.to_datetime(["2015-06-01T14:00"]), "o3": [1.0]}
    )
    path = tmp_path / "obs.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError, match="offset"):
        read_observations(path)


@pytest.mark.parametrize(
    ("lines", "line", "field", "message"),
    [
        (
            [HEADER.replace("pm25", "PM2.5"), "A,2015-06-01T00:00Z,1,1,1"],
            1,
            "PM2.5",
            "unknown column",
        ),
        (["station,pm25", "A,1"], 1, "time", "missing column"),
        ([HEADER, "A,2015-06-01T00:00Z,1,1,1", "A,2015-06-01T01:00,1,1,1"], 3, "time", "offset"),
        ([HEADER, "A,2015-06-01T00:00Z,1,1,1", "A,2015-06-01T01:30Z,1,1,1"], 3, "time", "hour"),
        ([HEADER, "A,2015-06-01T00:00Z,1,x,1"], 2, "co", "not a number"),
        ([HEADER, ",2015-06-01T00:00Z,1,1,1"], 2, "station", "empty station"),
        (
            [HEADER, "A,2015-06-01T00:00Z,1,1,1", "A,2015-06-01T08:00+08:00,2,2,2"],
            3,
            "time",
            "twice",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, lines, line, field, message):
    p = write(tmp_path, lines)
    with pytest.raises(InputError, match=message) as err:
        read_observations(p)
    assert (err.value.line, err.value.field) == (line, field)
    assert str(p) in str(err.value)


def test_station_metadata(tmp_path):
    p = write(
        tmp_path,
        ["station,name,lat,lon,name_zh", "A,Alpha,39.9,116.4,甲", "B,,40,116.5,"],
        "st.csv",
    )
    m = read_station_metadata(p)
    assert m["station"].tolist() == ["A", "B"]
    assert m["name"].tolist() == ["Alpha", "B"] and m["lat"].tolist() == [39.9, 40.0]
    bad = write(tmp_path, ["station,name,lat,lon", "A,Alpha,39.9,116.4", "C,C,95,116"], "bad.csv")
    with pytest.raises(InputError, match="line 3, field 'lat'"):
        read_station_metadata(bad)
    dup = write(tmp_path, ["station,name,lat,lon", "A,a,1,1", "A,b,2,2"], "dup.csv")
    with pytest.raises(InputError, match="line 3, field 'station'"):
        read_station_metadata(dup)
