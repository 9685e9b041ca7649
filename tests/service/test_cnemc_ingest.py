"""``aqcast ingest cnemc`` and ``aqcast stats`` on tables of the national publishing format."""

from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aqcast.features.aqi import daily_aqi
from aqcast.service.cli import app
from aqcast.service.cnemc_ingest import ingest_cnemc_tables
from aqcast.service.observations import load_hourly
from aqcast.service.sources.cnemc import COLUMNS, parse_cnemc_csv
from aqcast.service.store import engine_for
from aqcast.service.tables import Observation, ObservationRevision, Station
from tests.support.cnemc_fixture import csv_text, platform_tables, row_at, write_hour_files

runner = CliRunner()
DAY1 = date(2024, 7, 1)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def hour_files(tmp_path):
    by_hour = platform_tables(DAY1, 2)
    # the first day's files in GB18030, the second day's in UTF-8, as archives come
    first = {t: r for t, r in by_hour.items() if t <= datetime(2024, 7, 2)}
    second = {t: r for t, r in by_hour.items() if t > datetime(2024, 7, 2)}
    write_hour_files(tmp_path / "cnemc", first, encoding="gb18030")
    write_hour_files(tmp_path / "cnemc", second, encoding="utf-8")
    return tmp_path / "cnemc", by_hour


def counts(url):
    with engine_for(url).connect() as conn:
        n_obs = conn.execute(select(func.count()).select_from(Observation)).scalar()
        n_rev = conn.execute(select(func.count()).select_from(ObservationRevision)).scalar()
    return n_obs, n_rev


@pytest.mark.slow
def test_ingest_a_city_creates_stations_shifts_hours_and_is_idempotent(db_url, hour_files):
    folder, by_hour = hour_files
    res = invoke("ingest", "cnemc", folder, "--area", "天津市")
    assert res.exit_code == 0, res.output
    assert "48 table(s) (24 gb18030, 24 utf-8), 144 rows read, 96 kept for 2 station(s)" in (
        res.output
    )
    assert "96 new" in res.output
    assert "0 disagree beyond rounding" in res.output
    engine = engine_for(db_url)
    with engine.connect() as conn:
        stations = {s.code: s for s in conn.execute(select(Station)).all()}
    assert set(stations) == {"1015A", "1041A"}  # 北京市 left out
    s = stations["1015A"]
    assert (s.name, s.name_zh, s.city, s.background, s.source) == (
        "1015A",
        "勤俭道",
        "天津市",
        False,
        "cnemc",
    )
    assert (s.lat, s.lon) == (39.173, 117.145)
    b = stations["1041A"]
    assert (b.name_zh, b.background) == ("团泊洼", True)
    hourly = load_hourly(engine, "2024-06-01T00:00Z", "2024-08-01T00:00Z", stations=["1015A"])
    # the first file is stamped 01:00 Beijing time: the hour 00:00-01:00 = 16:00 UTC
    assert hourly["time"].min() == pd.Timestamp("2024-06-30 16:00", tz="UTC")
    assert hourly["time"].max() == pd.Timestamp("2024-07-02 15:00", tz="UTC")
    first = row_at(by_hour, datetime(2024, 7, 1, 1), "1015A")
    got = hourly.iloc[0]
    assert (got["pm25"], got["o3"], got["co"]) == (first["pm2_5"], first["o3"], first["co"])
    # only hourly values are stored: the observation table has no rolling columns
    assert not any(c.name.endswith("_24h") or c.name == "aqi" for c in Observation.__table__.c)

    again = invoke("ingest", "cnemc", folder, "--area", "天津市")
    assert again.exit_code == 0, again.output
    assert "0 new, 0 changed, 96 unchanged" in again.output
    assert counts(db_url) == (96, 0)


@pytest.mark.slow
def test_stations_option_keeps_only_the_listed_codes(sqlite_url, hour_files):
    folder, _ = hour_files
    res = invoke("ingest", "cnemc", folder, "--stations", "1015A,9999A")
    assert res.exit_code == 0, res.output
    assert "kept for 1 station(s); not in the data: 9999A" in res.output
    with engine_for(sqlite_url).connect() as conn:
        assert conn.execute(select(Station.code)).scalars().all() == ["1015A"]
    res = invoke("ingest", "cnemc", folder, "--area", "上海市")
    assert res.exit_code == 1
    assert "no rows selected; cities in the files: 北京市, 天津市" in res.output


@pytest.mark.slow
def test_published_statistics_that_disagree_are_reported_with_file_and_line(sqlite_url, hour_files):
    folder, by_hour = hour_files
    # the 24:00 row of 1 July: a PM2.5 24-h mean 6 ug/m3 above the hours' mean; and at
    # 23:00 on 2 July an 8-hour mean 3 above the hours' (still below the day's highest)
    path = folder / "china_sites_2024070200.csv"
    rows = by_hour[datetime(2024, 7, 2)]
    r = row_at(by_hour, datetime(2024, 7, 2), "1015A")
    published_pm25 = r["pm2_5_24h"]
    r["pm2_5_24h"] = published_pm25 + 6
    path.write_bytes(csv_text(rows).encode("gb18030"))
    t23 = datetime(2024, 7, 2, 23)
    r23 = row_at(by_hour, t23, "1015A")
    r23["o3_8h"] += 3
    assert r23["o3_8h_24h"] > r23["o3_8h"] + 1
    (folder / "china_sites_2024070223.csv").write_bytes(csv_text(by_hour[t23]).encode())
    res = invoke("ingest", "cnemc", folder, "--stations", "1015A")
    assert res.exit_code == 0, res.output
    assert "2 disagree beyond rounding (o3_8h 1, pm2_5_24h 1)" in res.output
    line = 1 + [x["stationcode"] for x in rows].index("1015A") + 1
    assert (
        f"{path}, line {line}: 1015A 2024-07-02 00:00:00 pm2_5_24h published "
        f"{published_pm25 + 6:g}, aqcast daily pm25_24h"
    ) in res.output
    assert "2024-07-02 23:00:00 o3_8h published" in res.output
    assert "aqcast rolling o3_8h" in res.output


@pytest.mark.slow
def test_a_bad_row_in_any_file_stores_nothing(db_url, hour_files):
    folder, by_hour = hour_files
    rows = by_hour[datetime(2024, 7, 2, 10)]
    text = csv_text(rows).splitlines()
    cells = text[3].split(",")
    # pm2_5 of the third station's row (one place on: the quoted pollutant holds a comma)
    cells[COLUMNS.index("pm2_5") + 1] = "n/a"
    text[3] = ",".join(cells)
    bad = folder / "china_sites_2024070210.csv"
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    res = invoke("ingest", "cnemc", folder)
    assert res.exit_code == 1
    assert f"error: {bad}, line 4, field 'pm2_5': not a number (value 'n/a')" in res.output
    assert "Traceback" not in res.output
    assert counts(db_url) == (0, 0)
    with engine_for(db_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(Station)).scalar() == 0


def test_swapped_ozone_columns_are_refused_then_mapped(sqlite_url, tmp_path):
    by_hour = platform_tables(DAY1, 2)
    rows = by_hour[datetime(2024, 7, 2, 16)]
    for r in rows:
        r["o3_24h"], r["o3_8h"] = r["o3_8h"], r["o3_24h"]
    f = tmp_path / "archive.csv"
    f.write_text(csv_text(rows), encoding="utf-8")
    res = invoke("ingest", "cnemc", f)
    assert res.exit_code == 1
    assert f"{f}, line 2, field 'o3_24h'" in res.output and "--ozone-columns" in res.output
    assert counts(sqlite_url) == (0, 0)
    res = invoke("ingest", "cnemc", f, "--ozone-columns", "o3,o3_8h,o3_24h,o3_8h_24h")
    assert res.exit_code == 0, res.output
    assert counts(sqlite_url) == (3, 0)
    res = invoke("ingest", "cnemc", f, "--ozone-columns", "o3,o3")
    assert res.exit_code == 1 and "each once" in res.output


def test_a_corrected_republication_is_recorded_as_a_correction(db_url):
    by_hour = platform_tables(DAY1, 1)
    t_end = datetime(2024, 7, 1, 14)
    first = parse_cnemc_csv(csv_text(by_hour[t_end]), "first")
    engine = engine_for(db_url)
    ingest_cnemc_tables(engine, [first], area="天津市")
    r = row_at(by_hour, t_end, "1015A")
    r["o3"] += 7
    r["o3_24h"] = max(r["o3_24h"] or 0, r["o3"])
    second = parse_cnemc_csv(csv_text(by_hour[t_end]), "second")
    rep = ingest_cnemc_tables(engine, [second], area="天津市")
    assert (rep.ingest.changed, rep.ingest.revisions, rep.ingest.unchanged) == (1, 1, 1)
    with engine.connect() as conn:
        rev = conn.execute(select(ObservationRevision)).one()
    assert (rev.variable, rev.new_value - rev.old_value) == ("o3", 7.0)
    # the same hour twice with other values in one call is refused, naming both
    with pytest.raises(ValueError, match="load the files in separate calls"):
        ingest_cnemc_tables(engine, [first, second])


def moved(values: dict[str, float], sign: int) -> dict[str, float]:
    """Published values moved by half their rounding step (CO 0.05 mg/m3, others 0.5)."""
    return {k: max(0.0, v + sign * (0.05 if k == "co_24h" else 0.5)) for k, v in values.items()}


@pytest.mark.slow
def test_stats_of_a_station_match_the_platforms_2400_row(sqlite_url, hour_files):
    """aqcast stats --station 1015A gives the platform's MDA8, PM2.5 24-h and AQI of the
    day (its 24:00 row) within rounding."""
    folder, by_hour = hour_files
    assert invoke("ingest", "cnemc", folder, "--area", "天津市").exit_code == 0
    res = invoke(
        "stats", "--station", "1015A", "--from", "2024-07-01", "--to", "2024-07-02",
        "--format", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    days = {r["day"]: r for r in json.loads(res.output)}
    for day, t_end in (("2024-07-01", datetime(2024, 7, 2)), ("2024-07-02", datetime(2024, 7, 3))):
        pub = row_at(by_hour, t_end, "1015A")
        ours = days[day]
        assert abs(ours["o3_mda8"] - pub["o3_8h_24h"]) <= 0.5
        assert abs(ours["pm25_24h"] - pub["pm2_5_24h"]) <= 0.5
        assert abs(ours["pm10_24h"] - pub["pm10_24h"]) <= 0.5
        # The platform's day AQI from its published (rounded) 24:00 values; aqcast's
        # lies between the AQIs of those values moved down and up by half a step.
        values = {
            "pm25_24h": pub["pm2_5_24h"],
            "pm10_24h": pub["pm10_24h"],
            "so2_24h": pub["so2_24h"],
            "no2_24h": pub["no2_24h"],
            "co_24h": pub["co_24h"],
            "o3_1h_max": pub["o3_24h"],
            "o3_mda8": pub["o3_8h_24h"],
        }

        low, high = daily_aqi(moved(values, -1))[0], daily_aqi(moved(values, +1))[0]
        assert low <= ours["aqi"] <= high, (low, ours["aqi"], high)
        assert high - low <= 2
    # the second day's ozone is higher: the fixture's days differ, so the check has teeth
    assert days["2024-07-02"]["o3_mda8"] > days["2024-07-01"]["o3_mda8"] + 5
    assert not np.isnan(days["2024-07-01"]["aqi"])


@pytest.mark.slow
def test_the_api_lists_a_stations_city_and_background_flag(sqlite_url):
    from tests.support.api_seed import auth, make_client, seed

    keys = seed(sqlite_url)
    by_hour = platform_tables(DAY1, 1)
    table = parse_cnemc_csv(csv_text(by_hour[datetime(2024, 7, 1, 12)]), "f.csv")
    ingest_cnemc_tables(engine_for(sqlite_url), [table], area="天津市")
    with make_client(sqlite_url) as client:
        r = client.get("/v1/stations/1041A", headers=auth(keys.officer))
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["name_zh"], body["city"], body["background"]) == ("团泊洼", "天津市", True)
        r = client.get("/v1/stations/Dongsi", headers=auth(keys.officer))
        assert (r.json()["city"], r.json()["background"]) == (None, None)  # PRSA says neither


@pytest.mark.slow
def test_a_stored_english_name_is_kept_and_coordinates_follow_the_data(sqlite_url):
    engine = engine_for(sqlite_url)
    with engine.begin() as conn:
        conn.execute(
            Station.__table__.insert().values(code="1015A", name="Qinjiandao", source="obs")
        )
    by_hour = platform_tables(DAY1, 1)
    rows = by_hour[datetime(2024, 7, 1, 12)]
    row_at(by_hour, datetime(2024, 7, 1, 12), "1015A")["latitude"] = 39.18
    ingest_cnemc_tables(engine, [parse_cnemc_csv(csv_text(rows), "f.csv")], stations=["1015A"])
    with engine.connect() as conn:
        s = conn.execute(select(Station)).one()
    assert (s.name, s.name_zh, s.city, s.lat, s.source) == (
        "Qinjiandao",
        "勤俭道",
        "天津市",
        39.18,
        "obs",
    )


def test_an_unavailable_database_is_one_line_and_no_traceback(tmp_path, monkeypatch):
    from aqcast.service import settings as settings_module

    by_hour = platform_tables(DAY1, 1)
    folder = tmp_path / "files"
    write_hour_files(folder, {t: r for t, r in by_hour.items() if t.hour == 12})
    monkeypatch.setenv("AQCAST_DATABASE_URL", "postgresql+psycopg://aqcast@127.0.0.1:1/none")
    settings_module.get_settings.cache_clear()
    res = runner.invoke(app, ["ingest", "cnemc", str(folder)])
    assert res.exit_code == 1
    assert res.output.startswith("error: the database is unavailable: ")
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
