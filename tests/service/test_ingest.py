"""Ingestion into the store on SQLite and PostgreSQL: idempotency, corrections, flags,
one transaction per file, errors naming file, line and field; the loaders."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from aqcast.service.ingest import ingest_frame
from aqcast.service.ingest.daily import refresh_daily_stats
from aqcast.service.ingest.weather import ingest_met_forecasts
from aqcast.service.observations import (
    list_stations,
    load_daily,
    load_hourly,
    load_met_forecasts,
)
from aqcast.service.sources.canonical import read_observations, read_station_metadata
from aqcast.service.sources.errors import InputError
from aqcast.service.sources.prsa import read_prsa, read_prsa_stations
from aqcast.service.store import engine_for
from tests.support import TEST_DATA

DATA = TEST_DATA
PRSA_SMALL = DATA / "prsa_small"
TABLES = ["stations", "observations", "observation_revisions", "met_forecasts", "daily_stats"]


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


def obs_csv(tmp_path: Path, rows: list[str], name: str = "obs.csv", header=None) -> Path:
    header = header or "station,time,pm25,o3,temp_air"
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def stations_csv(tmp_path: Path) -> Path:
    path = tmp_path / "stations.csv"
    path.write_text("station,name,lat,lon\nS1,One,39.9,116.4\nS2,Two,40.0,116.5\n")
    return path


def day_rows(station: str = "S1", day: str = "2015-06-01", pm25=None) -> list[str]:
    pm25 = pm25 or [20 + (h % 7) for h in range(24)]
    return [
        f"{station},{day}T{h:02d}:00:00+08:00,{pm25[h]},{40 + 5 * (h % 9)},{20 + h % 5}"
        for h in range(24)
    ]


def test_prsa_ingest_is_idempotent(db_url):
    engine = engine_for(db_url)
    meta = read_prsa_stations(PRSA_SMALL / "stations.csv")
    files = sorted(PRSA_SMALL.glob("PRSA_Data_*.csv"))
    first = [
        ingest_frame(
            engine,
            read_prsa(f),
            source="prsa",
            file_label=f.name,
            stations=meta,
            require_station_metadata=True,
        )
        for f in files
    ]
    assert [r.new for r in first] == [72, 72]
    after_first = counts(engine)
    assert after_first["observations"] == 144 and after_first["stations"] == 2
    again = [
        ingest_frame(
            engine,
            read_prsa(f),
            source="prsa",
            file_label=f.name,
            stations=meta,
            require_station_metadata=True,
        )
        for f in files
    ]
    assert [(r.new, r.changed, r.unchanged, r.revisions) for r in again] == [(0, 0, 72, 0)] * 2
    assert counts(engine) == after_first
    # Units and time on the way in: CO ug/m3 -> mg/m3, local hour 0 -> 16:00 UTC before.
    hourly = load_hourly(engine, "2013-02-28T16:00Z", "2013-02-28T17:00Z", stations=["Dongsi"])
    assert hourly["co"].iloc[0] == pytest.approx(0.3)
    assert hourly["o3"].iloc[0] == pytest.approx(89.0)
    assert str(hourly["time"].dt.tz) == "UTC"


def test_correction_replaces_value_and_is_recorded(db_url, tmp_path):
    engine = engine_for(db_url)
    ingest_frame(
        engine, read_observations(obs_csv(tmp_path, day_rows())), source="obs", file_label="a.csv"
    )
    rows = day_rows()
    rows[14] = "S1,2015-06-01T14:00:00+08:00,99.5,,"  # new PM2.5; blanks keep stored values
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, rows, "b.csv")),
        source="obs",
        file_label="b.csv",
    )
    assert (report.new, report.changed, report.unchanged, report.revisions) == (0, 1, 23, 1)
    with engine.connect() as conn:
        rev = conn.execute(
            text("SELECT variable, old_value, new_value, source FROM observation_revisions")
        ).one()
    assert rev[0] == "pm25" and rev[1] == pytest.approx(20 + 14 % 7) and rev[2] == 99.5
    assert "b.csv" in rev[3]
    hourly = load_hourly(engine, "2015-06-01T06:00Z", "2015-06-01T07:00Z")
    assert hourly["pm25"].iloc[0] == 99.5
    assert hourly["o3"].iloc[0] == 40 + 5 * (14 % 9)  # not erased by the blank


def test_bad_file_leaves_store_exactly_as_it_was(db_url, tmp_path):
    engine = engine_for(db_url)
    ingest_frame(
        engine, read_observations(obs_csv(tmp_path, day_rows())), source="obs", file_label="a.csv"
    )
    before = counts(engine)
    # New rows for S2 and a correction for S1, then an unknown station on the LAST line.
    rows = day_rows("S2") + ["S1,2015-06-01T10:00:00+08:00,500,1,1"] + day_rows("S9")[:1]
    path = obs_csv(tmp_path, rows, "bad.csv")
    meta = read_station_metadata(stations_csv(tmp_path))
    with pytest.raises(InputError) as err:
        ingest_frame(
            engine,
            read_observations(path),
            source="obs",
            file_label=str(path),
            stations=meta,
            require_station_metadata=True,
        )
    assert err.value.line == 27 and err.value.field == "station" and err.value.value == "S9"
    assert "bad.csv" in str(err.value) and "line 27" in str(err.value)
    assert counts(engine) == before
    assert list_stations(engine)["station"].tolist() == ["S1"]


def test_unknown_station_without_metadata_is_created(db_url, tmp_path):
    engine = engine_for(db_url)
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, day_rows("X7"))),
        source="obs",
        file_label="a.csv",
    )
    assert report.stations_added == ["X7"]
    st = list_stations(engine)
    assert st["station"].tolist() == ["X7"] and np.isnan(st["lat"].iloc[0])


def test_metadata_updates_coordinates(db_url, tmp_path):
    engine = engine_for(db_url)
    ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, day_rows("S1"))),
        source="obs",
        file_label="a.csv",
    )
    meta = read_station_metadata(stations_csv(tmp_path))
    ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, day_rows("S1"))),
        source="obs",
        file_label="a.csv",
        stations=meta,
        require_station_metadata=True,
    )
    st = list_stations(engine).set_index("station")
    assert st.loc["S1", "lat"] == pytest.approx(39.9) and st.loc["S2", "name"] == "Two"


def test_quality_flags_stored_and_valid_only(db_url, tmp_path):
    engine = engine_for(db_url)
    pm25 = [20 + (h % 7) for h in range(24)]
    pm25[5] = 5000  # out of physical range
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, day_rows(pm25=pm25))),
        source="obs",
        file_label="a.csv",
    )
    # 24 hours x the 3 variables the file carries.
    assert report.flags == {"valid": 71, "out_of_range": 1}
    t0, t1 = "2015-05-31T16:00Z", "2015-06-01T16:00Z"
    flagged = load_hourly(engine, t0, t1, valid_only=False, with_flags=True)
    assert flagged["pm25"].iloc[5] == 5000 and flagged["pm25_qc"].iloc[5] == 1
    assert flagged["so2_qc"].eq(9).all()  # a variable the file does not carry: missing
    valid = load_hourly(engine, t0, t1)
    assert np.isnan(valid["pm25"].iloc[5]) and valid["pm25"].notna().sum() == 23


def test_stuck_run_across_two_files_is_seen_and_older_hours_keep_their_flags(db_url, tmp_path):
    engine = engine_for(db_url)
    header = "station,time,o3"
    first = [f"S1,2015-06-01T{h:02d}:00:00+08:00,{84 if h >= 18 else 40 + h}" for h in range(24)]
    ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, first, header=header)),
        source="obs",
        file_label="a.csv",
    )
    flags = load_hourly(
        engine, "2015-05-31T16:00Z", "2015-06-02T16:00Z", valid_only=False, with_flags=True
    )
    assert flags["o3_qc"].eq(0).all()  # 6 equal hours: not yet stuck
    second = [f"S1,2015-06-02T{h:02d}:00:00+08:00,{84 if h < 8 else 50 + h}" for h in range(24)]
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, second, "b.csv", header=header)),
        source="obs",
        file_label="b.csv",
    )
    # The run reaches 12 hours at 05:00 of the second day; causal flags leave the stored
    # hours of the first day as they were when they arrived.
    assert report.reflagged == 0 and report.new == 24
    flags = load_hourly(
        engine, "2015-05-31T16:00Z", "2015-06-02T16:00Z", valid_only=False, with_flags=True
    )
    assert flags["o3_qc"].tolist() == [0] * 29 + [2] * 3 + [0] * 16


def test_spike_flag_revised_once_when_the_next_hour_arrives(db_url, tmp_path):
    engine = engine_for(db_url)
    header = "station,time,pm25"
    values = [30 + h % 3 for h in range(24)]
    values[23] = 450  # the last hour of the file: no next hour yet
    first = [f"S1,2015-06-01T{h:02d}:00:00+08:00,{values[h]}" for h in range(24)]
    ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, first, header=header)),
        source="obs",
        file_label="a.csv",
    )
    t0, t1 = "2015-05-31T16:00Z", "2015-06-02T16:00Z"
    assert load_hourly(engine, t0, t1, valid_only=False, with_flags=True)["pm25_qc"].eq(0).all()
    second = [f"S1,2015-06-02T{h:02d}:00:00+08:00,{31 + h % 2}" for h in range(24)]
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, second, "b.csv", header=header)),
        source="obs",
        file_label="b.csv",
    )
    assert (report.reflagged, report.flag_revisions, report.revisions) == (1, 1, 0)
    flags = load_hourly(engine, t0, t1, valid_only=False, with_flags=True)["pm25_qc"]
    assert flags.tolist() == [0] * 23 + [3] + [0] * 24
    with engine.connect() as conn:
        rev = conn.execute(
            text("SELECT variable, old_value, new_value, source, time FROM observation_revisions")
        ).one()
    assert (rev[0], rev[1], rev[2]) == ("pm25_qc", 0.0, 3.0) and "b.csv" in rev[3]
    # A third file of later hours revises nothing more.
    third = [f"S1,2015-06-03T{h:02d}:00:00+08:00,{32 + h % 2}" for h in range(24)]
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, third, "c.csv", header=header)),
        source="obs",
        file_label="c.csv",
    )
    assert report.reflagged == 0 and report.flag_revisions == 0


def test_missing_column_and_bad_values_name_the_line(tmp_path):
    with pytest.raises(InputError, match=r"line 1, field 'time'"):
        read_observations(obs_csv(tmp_path, ["S1,1,2,3"], header="station,pm25,o3,temp_air"))
    rows = day_rows()
    rows[-1] = "S1,2015-06-01T23:00:00+08:00,2o,1,1"  # the last line
    with pytest.raises(InputError) as err:
        read_observations(obs_csv(tmp_path, rows))
    assert (err.value.line, err.value.field, err.value.value) == (25, "pm25", "2o")
    rows = day_rows()
    rows[3] = "S1,2015-06-01 03:00,1,2,3"
    with pytest.raises(InputError, match=r"line 5, field 'time'.*offset"):
        read_observations(obs_csv(tmp_path, rows))
    rows[3] = "S1,2015-13-01T03:00:00+08:00,1,2,3"
    with pytest.raises(InputError, match=r"line 5, field 'time'.*not a valid date"):
        read_observations(obs_csv(tmp_path, rows))


def test_daily_stats_refreshed_after_ingest(db_url, tmp_path):
    pytest.importorskip("aqcast.features.daily")
    engine = engine_for(db_url)
    report = ingest_frame(
        engine,
        read_observations(obs_csv(tmp_path, day_rows())),
        source="obs",
        file_label="a.csv",
        tz="Asia/Shanghai",
    )
    assert report.first_day == report.last_day == date(2015, 6, 1)
    assert report.daily_rows > 0
    daily = load_daily(engine, date(2015, 6, 1), date(2015, 6, 1), area="district")
    pm = daily.set_index("variable").loc["pm25_24h"]
    # the mean (22.75) as bureaus report it: rounded half up (HJ 663)
    assert np.mean([20 + (h % 7) for h in range(24)]) == pytest.approx(22.75)
    assert pm["value"] == 23.0
    station = load_daily(engine, date(2015, 6, 1), date(2015, 6, 1), stations=["S1"])
    assert set(station["variable"]) >= {"o3_mda8", "pm25_24h", "aqi"}
    # A refresh is repeatable: the same rows, not twice as many.
    n = counts(engine)["daily_stats"]
    refresh_daily_stats(engine, date(2015, 6, 1), date(2015, 6, 1), tz="Asia/Shanghai")
    assert counts(engine)["daily_stats"] == n


def test_met_forecasts_idempotent_and_latest_issue(db_url, tmp_path):
    engine = engine_for(db_url)
    ingest_frame(
        engine, read_observations(obs_csv(tmp_path, day_rows())), source="obs", file_label="a.csv"
    )

    def issue(issued: str, temp: float) -> pd.DataFrame:
        valid = pd.date_range("2015-06-02T00:00Z", periods=3, freq="h")
        return pd.DataFrame(
            {
                "station": "S1",
                "issued_at": pd.Timestamp(issued),
                "valid_at": valid,
                "temp_air": temp,
            }
        )

    r1 = ingest_met_forecasts(engine, issue("2015-06-01T00:00Z", 20.0), source="t", file_label="f1")
    r2 = ingest_met_forecasts(engine, issue("2015-06-01T00:00Z", 20.0), source="t", file_label="f1")
    assert (r1.new, r2.new, r2.unchanged) == (3, 0, 3)
    r3 = ingest_met_forecasts(
        engine, issue("2015-06-01T00:00Z", 21.0), source="t", file_label="f1b"
    )
    assert r3.changed == 3
    ingest_met_forecasts(engine, issue("2015-06-01T12:00Z", 25.0), source="t", file_label="f2")
    assert counts(engine)["met_forecasts"] == 6
    early = load_met_forecasts(
        engine, "2015-06-01T06:00Z", "2015-06-02T00:00Z", "2015-06-03T00:00Z"
    )
    late = load_met_forecasts(engine, "2015-06-01T23:00Z", "2015-06-02T00:00Z", "2015-06-03T00:00Z")
    assert early["temp_air"].tolist() == [21.0] * 3
    assert late["temp_air"].tolist() == [25.0] * 3
    bad = issue("2015-06-01T00:00Z", 1.0).assign(station="NOPE")
    with pytest.raises(InputError, match="line 2, field 'station'"):
        ingest_met_forecasts(engine, bad, source="t", file_label="f3")
    assert counts(engine)["met_forecasts"] == 6


@pytest.mark.realdata
def test_real_two_stations_load_fast_and_twice_adds_nothing(beijing_dir, sqlite_url):
    engine = engine_for(sqlite_url)
    meta = read_prsa_stations(beijing_dir / "stations.csv")
    files = sorted(beijing_dir.glob("PRSA_Data_*.csv"))[:2]
    started = time.perf_counter()
    for f in files:
        ingest_frame(
            engine,
            read_prsa(f),
            source="prsa",
            file_label=f.name,
            stations=meta,
            require_station_metadata=True,
            refresh_daily=False,
        )
    assert counts(engine)["observations"] == 2 * 26304
    for f in files:
        r = ingest_frame(
            engine,
            read_prsa(f),
            source="prsa",
            file_label=f.name,
            stations=meta,
            require_station_metadata=True,
            refresh_daily=False,
        )
        assert (r.new, r.changed) == (0, 0)
    assert time.perf_counter() - started < 60
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(text("observations"))).scalar_one()
    assert n == 2 * 26304
