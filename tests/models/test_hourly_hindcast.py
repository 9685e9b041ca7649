"""The hourly O3 forecast in a hindcast: the exact CSV layouts of --hourly-out,
--critical-out and --intraday-out, agreement with the daily forecast, and no look-ahead
in the hourly forecast or the intraday rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.daily import mda8_ugm3
from aqcast.features.feature_table import load_feature_spec, local_day_hour
from aqcast.models.hindcast import replay
from aqcast.models.hourly import intraday_table, load_hourly_config, observed_o3_frame
from aqcast.models.hourly_hindcast import (
    CRITICAL_COLUMNS,
    HOURLY_COLUMNS,
    INTRADAY_COLUMNS,
    critical_csv_rows,
    hourly_csv_rows,
    intraday_csv_rows,
    replay_hourly,
)
from aqcast.models.inputs import frames_to_table
from aqcast.models.train import load_training_config
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"
START, END = date(2013, 6, 1), date(2013, 6, 6)


def _small_hourly_config():
    return load_hourly_config().model_copy(
        update={"rounds": 40, "calibration_days": 80, "intraday_samples": 100}
    )


@pytest.fixture(scope="module")
def world():
    net = synthetic_network(3, "2013-02-01", "2013-06-08", seed=5, quirks=QuirkRates(0, 0, 0, 0, 0))
    spec = load_feature_spec()
    areas = {"district": net.stations["station"].tolist()}
    inputs = frames_to_table(net.hourly, areas, spec=spec, tz=TZ, issue_dates=None, met="observed")
    config = load_training_config().model_copy(update={"max_rounds": 20, "min_rounds": 10})
    daily = replay(
        inputs.table,
        inputs.hourly,
        spec=spec,
        tz=TZ,
        start=START,
        end=END,
        retrain="none",
        config=config,
    ).predictions
    hh = replay_hourly(
        inputs.table,
        inputs.weather_hourly,
        inputs.hourly,
        daily,
        tz=TZ,
        start=START,
        end=END,
        config=_small_hourly_config(),
    )
    return net, spec, areas, inputs, daily, hh


@pytest.mark.slow
def test_csv_layouts_are_exact(world):
    *_, hh = world
    h, c, i = hourly_csv_rows(hh), critical_csv_rows(hh), intraday_csv_rows(hh)
    assert list(h.columns) == HOURLY_COLUMNS
    assert list(c.columns) == CRITICAL_COLUMNS
    assert list(i.columns) == INTRADAY_COLUMNS
    assert set(h["hour"]) == set(range(24))
    assert set(h["lead_days"]) == {0, 1, 2, 3}
    assert {"district", "station:S0001"} <= set(h["area"])
    assert h["issue_date"].min() == "2013-06-01" and h["issue_date"].max() == "2013-06-06"
    assert not h.duplicated(["issue_date", "lead_days", "area", "hour"]).any()
    assert ((h["q10"] <= h["q50"]) & (h["q50"] <= h["q90"])).all()
    assert len(c) == len(h) // 24
    assert (c["critical_value_ugm3"] <= 200 + 1e-9).all()
    for hours in c["likely_hours"]:
        assert hours == "" or all(0 <= int(x) <= 23 for x in hours.split(";"))
    # intraday: one row per day, area and hours_observed 8..20, areas only
    assert set(i["hours_observed"]) == set(range(8, 21))
    assert set(i["area"]) == {"district"}
    assert not i.duplicated(["target_date", "area", "hours_observed"]).any()
    assert i["p_mda8_exceed"].between(0, 1).all()
    assert set(i["status"]) <= {"exceeded", "near_certain", "controllable", "no_risk"}


@pytest.mark.slow
def test_profiles_agree_with_the_daily_mda8(world):
    *_, daily, hh = world
    prof = hh.hourly
    q50 = prof["q50"].to_numpy().reshape(-1, 24)
    keys = prof.iloc[::24][["entity", "issue_date", "target_date"]].reset_index(drop=True)
    d = daily[daily["variable"] == "o3_mda8"].assign(
        issue_date=lambda f: pd.to_datetime(f["issue_date"]),
        target_date=lambda f: pd.to_datetime(f["target_date"]),
    )
    want = keys.merge(d, on=["entity", "issue_date", "target_date"], how="left")["q50"]
    np.testing.assert_allclose(mda8_ugm3(q50), want.to_numpy(), rtol=1e-9)


@pytest.mark.slow
def test_hourly_forecast_does_not_look_ahead(world):
    """Changing every O3 observation from an issue time on changes no hourly forecast of
    that issue date or an earlier one: training stops before the first replayed day, and
    the day-before O3 of an issue date is complete before its issue time."""
    net, spec, areas, inputs, daily, hh = world
    d = pd.Timestamp(2013, 6, 4)
    issue = d.tz_localize(TZ).tz_convert("UTC") + pd.Timedelta(hours=7)
    changed = inputs.hourly.copy()
    later = changed["time"] >= issue
    changed.loc[later, "o3"] = changed.loc[later, "o3"] * 3 + 50
    again = replay_hourly(
        inputs.table,
        inputs.weather_hourly,
        changed,
        daily,
        tz=TZ,
        start=START,
        end=END,
        config=_small_hourly_config(),
    )
    known = hh.hourly["issue_date"] <= d
    pd.testing.assert_frame_equal(again.hourly[known], hh.hourly[known])
    # the test can fail: a later issue date reads the changed day before it
    assert not np.allclose(again.hourly.loc[~known, "raw"], hh.hourly.loc[~known, "raw"])


@pytest.mark.slow
def test_intraday_rows_do_not_look_ahead(world):
    """An intraday row at hours_observed = H is unchanged when every observation stamped
    at or after local hour H of its day changes; changing the hours before H changes it."""
    net, spec, areas, inputs, daily, hh = world
    area_hours = inputs.hourly[inputs.hourly["entity"] == "area:district"]
    base = observed_o3_frame(area_hours, TZ)
    _, hour = local_day_hour(area_hours["time"], TZ)
    district = hh.hourly[hh.hourly["entity"] == "area:district"]
    ref = intraday_table(hh.model, district, base, hours=[10, 14])
    for h_obs in (10, 14):
        late = area_hours.assign(o3=np.where(hour >= h_obs, 400.0, area_hours["o3"]))
        got = intraday_table(hh.model, district, observed_o3_frame(late, TZ), hours=[h_obs])
        want = ref[ref["hours_observed"] == h_obs].reset_index(drop=True)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want)
    early = area_hours.assign(o3=np.where(hour < 10, 400.0, area_hours["o3"]))
    got = intraday_table(hh.model, district, observed_o3_frame(early, TZ), hours=[10])
    assert (got["p_mda8_exceed"] == 1.0).all()  # 400 for ten hours: exceeded for certain
    assert (got["status"] == "exceeded").all()


@pytest.mark.slow
def test_hindcast_command_writes_the_three_files(sqlite_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    net = synthetic_network(
        3, "2013-03-01", "2013-05-10", seed=11, quirks=QuirkRates(0, 0, 0, 0, 0)
    )
    ingest_frame(
        engine_for(sqlite_url),
        net.hourly,
        source="test",
        file_label="synthetic",
        stations=net.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 20, "min_rounds": 10}
        ),
    )
    monkeypatch.setattr(
        "aqcast.models.hourly_hindcast.load_hourly_config", lambda path=None: _small_hourly_config()
    )
    paths = {k: tmp_path / f"{k}.csv" for k in ("daily", "hourly", "critical", "intraday")}
    r = CliRunner().invoke(
        app,
        [
            "hindcast", "--start", "2013-05-01", "--end", "2013-05-04",
            "--out", str(paths["daily"]), "--retrain", "none",
            "--hourly-out", str(paths["hourly"]),
            "--critical-out", str(paths["critical"]),
            "--intraday-out", str(paths["intraday"]),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    for key, cols in (
        ("hourly", HOURLY_COLUMNS),
        ("critical", CRITICAL_COLUMNS),
        ("intraday", INTRADAY_COLUMNS),
    ):
        with paths[key].open() as fh:
            assert fh.readline().strip() == ",".join(cols)
    h = pd.read_csv(paths["hourly"])
    assert len(h) == 4 * 4 * 4 * 24  # issue dates x leads x (3 stations + district) x hours
    i = pd.read_csv(paths["intraday"])
    assert len(i) == 4 * 13  # the district, each day (lead 0) x hours observed 8..20
    assert "--intraday-out: 52 rows" in r.output


@pytest.mark.slow
def test_hourly_hindcast_with_stored_weather_forecasts(sqlite_url, tmp_path, monkeypatch):
    """`--met stored`: the hourly profiles are driven by each issue's stored forecast
    hours, and a forecast run issued after the issue time changes none of them."""
    from typer.testing import CliRunner

    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.store import engine_for

    net = synthetic_network(
        3, "2013-03-01", "2013-05-10", seed=11, quirks=QuirkRates(0, 0, 0, 0, 0)
    )
    engine = engine_for(sqlite_url)
    ingest_frame(
        engine,
        net.hourly,
        source="test",
        file_label="synthetic",
        stations=net.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 20, "min_rounds": 10}
        ),
    )
    monkeypatch.setattr(
        "aqcast.models.hourly_hindcast.load_hourly_config", lambda path=None: _small_hourly_config()
    )
    weather = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]
    runs = []
    for d in pd.date_range("2013-05-01", "2013-05-03", freq="D"):
        issued = pd.Timestamp(d, tz="UTC") - pd.Timedelta(hours=4)  # 04:00 Beijing
        sel = (net.hourly["time"] >= issued) & (net.hourly["time"] < issued + pd.Timedelta(days=5))
        met = net.hourly.loc[sel, ["station", "time", *weather]].rename(
            columns={"time": "valid_at"}
        )
        runs.append(met.assign(issued_at=issued))
    ingest_met_forecasts(engine, pd.concat(runs), source="test", file_label="met-runs")
    args = ["hindcast", "--start", "2013-05-01", "--end", "2013-05-03", "--met", "stored"]
    args += ["--retrain", "none"]
    runner = CliRunner()
    r = runner.invoke(
        app, [*args, "--out", str(tmp_path / "a.csv"), "--hourly-out", str(tmp_path / "ha.csv")]
    )
    assert r.exit_code == 0, r.output
    first = pd.read_csv(tmp_path / "ha.csv")
    assert len(first) == 3 * 4 * 4 * 24 and first["q50"].notna().all()
    issued = pd.Timestamp("2013-05-03", tz="UTC") - pd.Timedelta(hours=1)  # 07:00 Beijing
    sel = (net.hourly["time"] >= issued - pd.Timedelta(days=2)) & (
        net.hourly["time"] < issued + pd.Timedelta(days=5)
    )
    met = net.hourly.loc[sel, ["station", "time", *weather]].rename(columns={"time": "valid_at"})
    met[weather] = met[weather] * 1.5 + 5.0
    ingest_met_forecasts(engine, met.assign(issued_at=issued), source="test", file_label="late")
    r = runner.invoke(
        app, [*args, "--out", str(tmp_path / "b.csv"), "--hourly-out", str(tmp_path / "hb.csv")]
    )
    assert r.exit_code == 0, r.output
    pd.testing.assert_frame_equal(first, pd.read_csv(tmp_path / "hb.csv"))
    # the test can fail: a changed run issued before the last issue time moves its profiles
    early = pd.Timestamp("2013-05-03", tz="UTC") - pd.Timedelta(hours=2)  # 06:00 Beijing
    ingest_met_forecasts(engine, met.assign(issued_at=early), source="test", file_label="early")
    r = runner.invoke(
        app, [*args, "--out", str(tmp_path / "c.csv"), "--hourly-out", str(tmp_path / "hc.csv")]
    )
    assert r.exit_code == 0, r.output
    third = pd.read_csv(tmp_path / "hc.csv")
    last = third["issue_date"] == "2013-05-03"
    pd.testing.assert_frame_equal(third[~last], first[~last])
    assert not np.allclose(third.loc[last, "q50"], first.loc[last, "q50"])


def test_a_stored_run_gives_the_hindcast_intraday_probability(world):
    """The intraday update of a stored run (its lead-0 band and the model's payload, the
    classifier included) gives the probability of the hindcast's intraday rows."""
    from aqcast.models.hourly import intraday_payload, intraday_update

    net, spec, areas, inputs, daily, hh = world
    assert hh.model.classifier is not None
    payload = intraday_payload(hh.model)
    assert "classifier" in payload
    obs = observed_o3_frame(inputs.hourly[inputs.hourly["entity"] == "area:district"], TZ)
    lead0 = hh.hourly[(hh.hourly["entity"] == "area:district") & (hh.hourly["lead_days"] == 0)]
    ref = intraday_table(hh.model, lead0, obs, hours=[9, 13, 17])
    checked = 0
    for r in ref.itertuples():
        day = pd.Timestamp(r.target_date)
        prof = lead0[lead0["target_date"] == day]
        seen = obs.xs(("area:district", day), level=("entity", "day"))
        seen = seen.reindex(range(24)).to_numpy()[: r.hours_observed]
        upd = intraday_update(list(seen), prof[["hour", "q10", "q50", "q90"]], payload)
        assert upd.p_mda8_exceed == pytest.approx(r.p_mda8_exceed, abs=1e-6), r
        assert upd.status == r.status
        checked += 1
    assert checked == len(ref) > 0
