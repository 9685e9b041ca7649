"""The hindcast replay: honest monthly retraining, the CSV layout and its sidecar, skill
from the stored observations, and (on the real Beijing data) a floor on skill."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.feature_table import load_feature_spec
from aqcast.models.hindcast import HINDCAST_COLUMNS, hindcast_rows, replay
from aqcast.models.inputs import frames_to_table
from aqcast.models.train import load_training_config
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def network():
    return synthetic_network(
        3, "2013-01-01", "2013-05-15", seed=11, quirks=QuirkRates(0, 0, 0, 0, 0)
    )


@pytest.fixture(scope="module")
def small_config():
    return load_training_config().model_copy(update={"max_rounds": 30, "min_rounds": 10})


@pytest.mark.slow
def test_monthly_retraining_uses_only_data_before_each_month(network, small_config):
    spec = load_feature_spec()
    inputs = frames_to_table(
        network.hourly,
        {"district": network.stations["station"].tolist()},
        spec=spec,
        tz=TZ,
        issue_dates=None,
        met="observed",
    )
    res = replay(
        inputs.table,
        inputs.hourly,
        spec=spec,
        tz=TZ,
        start=date(2013, 4, 25),
        end=date(2013, 5, 5),
        retrain="monthly",
        config=small_config,
    )
    cutoffs = [t["cutoff"] for t in res.trainings]
    assert cutoffs == ["2013-04-01", "2013-05-01"]
    for t in res.trainings:
        assert t["train_end"] < t["cutoff"]
    rows = hindcast_rows(res.predictions)
    assert list(rows.columns) == HINDCAST_COLUMNS
    assert rows["issue_date"].min() == "2013-04-25" and rows["issue_date"].max() == "2013-05-05"
    assert {"district", "station:S0001"} <= set(rows["area"])
    # one row per issue date, target date, area and variable
    assert not rows.duplicated(["issue_date", "target_date", "area", "variable"]).any()


@pytest.mark.slow
def test_hindcast_and_skill_commands_on_the_store(network, sqlite_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    ingest_frame(
        engine_for(sqlite_url),
        network.hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 30, "min_rounds": 10}
        ),
    )
    out = tmp_path / "hc.csv"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "hindcast",
            "--start",
            "2013-05-01",
            "--end",
            "2013-05-08",
            "--out",
            str(out),
            "--met",
            "observed",
            "--retrain",
            "none",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "perfect prognosis" in r.output
    with out.open() as fh:
        assert fh.readline().strip() == ",".join(HINDCAST_COLUMNS)
    meta = json.loads((tmp_path / "hc.csv.meta.json").read_text())
    assert meta["met_mode"] == "observed" and meta["perfect_prognosis"] is True
    assert meta["trainings"][0]["cutoff"] == "2013-05-01"

    r = runner.invoke(app, ["skill", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["header"]["met_mode"] == "observed"
    scores = pd.DataFrame(payload["scores"])
    lead0 = scores[
        (scores["group"] == "stations")
        & (scores["variable"] == "o3_mda8")
        & (scores["lead_days"] == 0)
        & (scores["season"] == "all")
    ]
    assert set(lead0["source"]) == {"model", "persistence", "climatology"}
    assert (lead0["n"] == 24).all()  # 3 stations x 8 days

    figs = tmp_path / "figs"
    r = runner.invoke(app, ["skill", str(out), "--plots", str(figs)])
    assert r.exit_code == 0, r.output
    assert "# plots:" in r.output
    names = {p.name for p in figs.iterdir()}
    assert {"reliability.png", "reliability.svg", "skill_by_lead_o3_mda8.png"} <= names
    assert "aqi_confusion_district.svg" in names

    bad = tmp_path / "bad.csv"
    bad.write_text("issue_date,target_date\n2015-01-01,2015-01-01\n")
    r = runner.invoke(app, ["skill", str(bad)])
    assert r.exit_code == 1 and "columns must be exactly" in r.output


@pytest.mark.realdata
def test_skill_floor_on_the_beijing_data(beijing_dir):
    """A month's replay of the 12 stations (June 2014, trained on the year before) must
    keep the skill measured when this floor was set (docs/skill.md)."""
    from aqcast.features.feature_table import with_area_entities  # noqa: F401
    from aqcast.models.skill import categorical_scores, continuous_scores
    from aqcast.service.sources.prsa import prsa_files, read_prsa

    hourly = pd.concat([read_prsa(f) for f in prsa_files([beijing_dir])], ignore_index=True)
    hourly = hourly[hourly["time"] < pd.Timestamp("2014-07-05", tz="UTC")]
    spec = load_feature_spec()
    inputs = frames_to_table(
        hourly,
        {"district": sorted(hourly["station"].unique())},
        spec=spec,
        tz=TZ,
        issue_dates=None,
        met="observed",
    )
    res = replay(
        inputs.table,
        inputs.hourly,
        spec=spec,
        tz=TZ,
        start=date(2014, 6, 1),
        end=date(2014, 6, 30),
        retrain="none",
        train_from=date(2013, 6, 1),
    )
    p = res.predictions
    obs = inputs.table.set_index(["entity", "issue_date", "lead_days"])
    p = p[~p["entity"].str.startswith("area:") & (p["lead_days"] == 0)]
    key = pd.MultiIndex.from_frame(p[["entity", "issue_date", "lead_days"]])
    floors = {
        "o3_mda8": (FLOOR_O3_RMSE, FLOOR_O3_CSI, 160.0),
        "pm25_24h": (FLOOR_PM_RMSE, FLOOR_PM_CSI, 75.0),
    }
    for var, (max_rmse, min_csi, thr) in floors.items():
        sub = p[p["variable"] == var]
        o = (
            obs[f"y_{var}"]
            .reindex(pd.MultiIndex.from_frame(sub[["entity", "issue_date", "lead_days"]]))
            .to_numpy()
        )
        f = sub["q50"].to_numpy()
        pers = (
            obs[f"{var}_lag1"]
            .reindex(pd.MultiIndex.from_frame(sub[["entity", "issue_date", "lead_days"]]))
            .to_numpy()
        )
        s = continuous_scores(f, o)
        assert s["rmse"] <= max_rmse, (var, s)
        assert s["rmse"] < continuous_scores(pers, o)["rmse"]
        assert categorical_scores(f, o, thr)["csi"] >= min_csi, var
    assert len(key) > 0 and np.isfinite(p["p_exceed"]).any()


# Floors a little below what was measured for June 2014, lead 0, the 12 stations
# (O3 MDA8 RMSE 29.7 ug/m3, CSI at 160 0.71; PM2.5 RMSE 17.1 ug/m3, CSI at 75 0.59;
# docs/skill.md, "frozen-data floor").
FLOOR_O3_RMSE, FLOOR_O3_CSI = 32.0, 0.66
FLOOR_PM_RMSE, FLOOR_PM_CSI = 19.0, 0.53


@pytest.mark.slow
def test_hindcast_with_stored_weather_forecasts_sees_only_earlier_issues(
    network, sqlite_url, tmp_path, monkeypatch
):
    """`aqcast hindcast --met stored`: each issue date uses the weather forecasts issued
    before its 07:00; forecasts issued later (here: wildly wrong ones) change nothing."""
    from typer.testing import CliRunner

    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    ingest_frame(
        engine,
        network.hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 30, "min_rounds": 10}
        ),
    )
    weather = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]
    hourly = network.hourly
    days = pd.date_range("2013-05-01", "2013-05-04", freq="D")
    runs = []
    for d in days:  # one forecast run a day, issued at 20:00 UTC (04:00 Beijing) of D
        issued = pd.Timestamp(d, tz="UTC") - pd.Timedelta(hours=4)
        sel = (hourly["time"] >= issued) & (hourly["time"] < issued + pd.Timedelta(days=5))
        met = hourly.loc[sel, ["station", "time", *weather]].rename(columns={"time": "valid_at"})
        runs.append(met.assign(issued_at=issued))
    ingest_met_forecasts(engine, pd.concat(runs), source="test", file_label="met-runs")

    runner = CliRunner()
    args = [
        "hindcast",
        "--start",
        "2013-05-01",
        "--end",
        "2013-05-04",
        "--met",
        "stored",
        "--retrain",
        "none",
    ]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "a.csv")])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "a.csv.meta.json").read_text())
    assert meta["met_mode"] == "stored" and meta["perfect_prognosis"] is False
    assert "perfect prognosis" not in r.output
    first = pd.read_csv(tmp_path / "a.csv")
    assert len(first) and first["q50"].notna().all()

    # A wildly wrong run issued at the last issue date's 07:00 exactly: no issue date in
    # the replay may see it (the earlier ones were issued before it existed).
    issued = pd.Timestamp(days[-1], tz="UTC") - pd.Timedelta(hours=1)
    sel = (hourly["time"] >= issued - pd.Timedelta(days=2)) & (
        hourly["time"] < issued + pd.Timedelta(days=5)
    )
    met = hourly.loc[sel, ["station", "time", *weather]].rename(columns={"time": "valid_at"})
    met[weather] = met[weather] * 1.5 + 5.0
    late = [met.assign(issued_at=issued)]
    ingest_met_forecasts(engine, pd.concat(late), source="test", file_label="met-late")
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "b.csv")])
    assert r.exit_code == 0, r.output
    pd.testing.assert_frame_equal(first, pd.read_csv(tmp_path / "b.csv"))
