"""The ingest and stats commands end to end (CliRunner, the project's own store)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aqcast.service.cli import app
from tests.support import TEST_DATA

PRSA_SMALL = TEST_DATA / "prsa_small"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_ingest_prsa_twice_then_stats(db_url):
    first = run("ingest", "prsa", str(PRSA_SMALL))
    assert first.exit_code == 0, first.output
    assert "2 files: 144 new, 0 changed, 0 unchanged" in first.output
    again = run("ingest", "prsa", str(PRSA_SMALL))
    assert "2 files: 0 new, 0 changed, 144 unchanged" in again.output

    table = run("stats", "--area", "district", "--from", "2013-03-01", "--to", "2013-03-03")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[1].split()[:5] == ["day", "O3", "MDA8", "PM2.5", "PM10"]
    assert [ln.split()[0] for ln in lines[2:]] == ["2013-03-01", "2013-03-02", "2013-03-03"]

    as_json = json.loads(
        run("stats", "--from", "2013-03-01", "--to", "2013-03-03", "--format", "json").output
    )
    day3 = as_json[2]
    assert day3["day"] == "2013-03-03" and day3["level"] == "light"
    # PM2.5 between 75 and 115 ug/m3 gives an IAQI of 100-150: "light", PM2.5 primary.
    assert day3["primary"] == "pm25_24h" and 75 < day3["pm25_24h"] < 115
    assert 100 < day3["aqi"] <= 150
    csv = run(
        "stats",
        "--from",
        "2013-03-01",
        "--to",
        "2013-03-02",
        "--format",
        "csv",
        "--station",
        "Dongsi",
    ).output.splitlines()
    assert csv[0] == "day,o3_mda8,pm25_24h,pm10_24h,aqi,level,level_zh,primary"
    assert len(csv) == 3 and csv[1].startswith("2013-03-01,")


def test_stats_area_value_is_mean_concentration_of_stations(sqlite_url):
    run("ingest", "prsa", str(PRSA_SMALL))
    area = json.loads(
        run("stats", "--from", "2013-03-02", "--to", "2013-03-02", "--format", "json").output
    )[0]
    one = [
        json.loads(
            run(
                "stats",
                "--from",
                "2013-03-02",
                "--to",
                "2013-03-02",
                "--format",
                "json",
                "--station",
                s,
            ).output
        )[0]
        for s in ("Dongsi", "Tiantan")
    ]
    # Both stations have all 24 hours here, so the area mean equals the mean of the means,
    # up to the reporting rounding to integers (HJ 663) of the three values (0.5 each).
    mean_of_means = (one[0]["pm25_24h"] + one[1]["pm25_24h"]) / 2
    assert abs(area["pm25_24h"] - mean_of_means) <= 1.0
    assert float(area["pm25_24h"]).is_integer()


def test_ingest_obs_bad_file_exits_nonzero_naming_line(sqlite_url, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("station,time,pm25\nS1,2015-06-01T00:00:00+08:00,12\n")
    stations = tmp_path / "stations.csv"
    stations.write_text("station,name,lat,lon\nS1,One,39.9,116.4\n")
    ok = run("ingest", "obs", str(good), "--stations", str(stations))
    assert ok.exit_code == 0 and "1 new" in ok.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "station,time,pm25\nS1,2015-06-01T01:00:00+08:00,12\nS1,2015-06-01T02:00:00+08:00,1x\n"
    )
    result = runner.invoke(app, ["ingest", "obs", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv, line 3, field 'pm25'" in result.output


def test_ingest_met_forecast_csv(sqlite_url, tmp_path):
    run("ingest", "prsa", str(PRSA_SMALL))
    f = tmp_path / "met.csv"
    f.write_text(
        "station,issued_at,valid_at,temp_air\n"
        "Dongsi,2013-03-03T08:00+08:00,2013-03-04T14:00+08:00,12.5\n"
    )
    first = run("ingest", "met-forecast", str(f))
    assert first.exit_code == 0 and "1 new" in first.output
    assert "0 new, 0 changed, 1 unchanged" in run("ingest", "met-forecast", str(f)).output
    wrong = runner.invoke(app, ["ingest", "met-forecast", str(f), "--method", "cubic"])
    assert wrong.exit_code == 1


@pytest.mark.realdata
def test_stats_june_2015_from_one_real_station(beijing_dir, sqlite_url):
    files = [beijing_dir / "PRSA_Data_Dongsi_20130301-20160229.csv"]
    result = run("ingest", "prsa", *map(str, files))
    assert result.exit_code == 0, result.output
    out = json.loads(
        run(
            "stats",
            "--from",
            "2015-06-01",
            "--to",
            "2015-06-30",
            "--format",
            "json",
            "--station",
            "Dongsi",
        ).output
    )
    assert len(out) == 30
    assert sum(d["o3_mda8"] > 160 for d in out if d["o3_mda8"]) >= 5  # an ozone June
