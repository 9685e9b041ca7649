"""Files cut off in their last line, short lines and blank lines: the error names the
file, the line and the field, and nothing of the file is stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aqcast.service.cli import app
from aqcast.service.sources.canonical import read_observations, read_station_metadata
from aqcast.service.sources.errors import InputError
from aqcast.service.sources.prsa import read_prsa
from aqcast.service.store import engine_for
from aqcast.service.tables import Observation
from tests.support import TEST_DATA

PRSA_SMALL = TEST_DATA / "prsa_small"
runner = CliRunner()
HEADER = "station,time,o3,pm25,pm10\n"
ROWS = [
    "Dongsi,2015-06-01T14:00:00+08:00,120.0,35.0,60.0\n",
    "Dongsi,2015-06-01T15:00:00+08:00,130.0,36.0,456.0\n",
]


def stored(url: str) -> int:
    with engine_for(url).connect() as c:
        return c.execute(select(func.count()).select_from(Observation)).scalar_one()


def test_last_line_cut_in_a_value_is_refused_and_nothing_stored(sqlite_url, tmp_path):
    f = tmp_path / "obs.csv"
    f.write_text(HEADER + ROWS[0] + ROWS[1][: ROWS[1].index("456.0") + 2])  # ...,45
    result = runner.invoke(app, ["ingest", "obs", str(f)])
    assert result.exit_code != 0
    assert f"{f}, line 3, field 'pm10'" in result.output and "cut off" in result.output
    assert "Traceback" not in result.output
    assert stored(sqlite_url) == 0


def test_last_line_cut_before_its_last_fields(tmp_path):
    f = tmp_path / "obs.csv"
    f.write_text(HEADER + ROWS[0] + "Dongsi,2015-06-01T15:00:00+08:00,13\n")
    with pytest.raises(InputError) as err:
        read_observations(f)
    assert (err.value.line, err.value.field) == (3, "pm25")
    assert "cut short" in str(err.value)


def test_line_numbers_count_blank_lines(tmp_path):
    f = tmp_path / "obs.csv"
    f.write_text(HEADER + ROWS[0] + "\n\n" + "Dongsi,2015-06-01T15:00:00+08:00,x,1,1\n")
    with pytest.raises(InputError) as err:
        read_observations(f)
    assert (err.value.line, err.value.field, err.value.value) == (5, "o3", "x")


def test_station_metadata_line_numbers_count_blank_lines(tmp_path):
    f = tmp_path / "stations.csv"
    f.write_text("station,name,lat,lon\nA,A,39.9,116.4\n\nB,B,95,116.4\n")
    with pytest.raises(InputError) as err:
        read_station_metadata(f)
    assert (err.value.line, err.value.field) == (4, "lat")


def test_complete_file_still_reads(tmp_path):
    f = tmp_path / "obs.csv"
    f.write_text(HEADER + "".join(ROWS))
    frame = read_observations(f)
    assert frame["pm10"].tolist() == [60.0, 456.0]


def _prsa_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "prsa"
    shutil.copytree(PRSA_SMALL, folder)
    return folder / "PRSA_Data_Dongsi_20130301-20130303.csv"


def test_truncated_prsa_line_is_one_line_naming_the_field(sqlite_url, tmp_path):
    f = _prsa_copy(tmp_path)
    text = f.read_text()
    n_lines = text.count("\n")
    f.write_text(text[: text.rstrip("\n").rindex(",") - 12])  # the last line cut short
    with pytest.raises(InputError) as err:
        read_prsa(f)
    assert err.value.line == n_lines and err.value.field is not None
    result = runner.invoke(app, ["ingest", "prsa", str(f)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"line {n_lines}, field" in result.output
    assert stored(sqlite_url) == 0


def test_prsa_line_numbers_count_blank_lines(tmp_path):
    f = _prsa_copy(tmp_path)
    lines = f.read_text().splitlines(keepends=True)
    bad = lines[3].replace('"NW"', '"XX"').replace('"NNW"', '"XX"')
    lines[3] = bad if "XX" in bad else lines[3].rsplit(",", 3)[0] + ',"XX",1.0,"Dongsi"\n'
    f.write_text("".join([lines[0], "\n", *lines[1:]]))
    with pytest.raises(InputError) as err:
        read_prsa(f)
    assert (err.value.line, err.value.field) == (5, "wd")
