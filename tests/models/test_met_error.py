"""The weather-error model of perturbed replays: sizes, correlations, precipitation,
determinism, its configuration file, and `aqcast hindcast --met perturbed`."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.configuration import ConfigError
from aqcast.models.inputs import perturbed_issues
from aqcast.models.met_error import (
    ERROR_MODEL_PATH,
    MetErrorModel,
    load_met_error_model,
    perturbed_forecasts,
    station_correlation,
)

TZ = "Asia/Shanghai"
ISSUE_TIME = pd.Timestamp("07:00").time()


def observed_weather(n_days: int = 200, stations=("A", "B", "C"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2015-01-01", periods=24 * n_days, freq="h", tz="UTC")
    parts = []
    for st in stations:
        parts.append(
            pd.DataFrame(
                {
                    "station": st,
                    "time": times,
                    "temp_air": 10 + 8 * np.sin(np.arange(len(times)) * 2 * np.pi / 24),
                    "dewpoint": np.full(len(times), -5.0),
                    "pressure": np.full(len(times), 1010.0),
                    "wind_speed": np.full(len(times), 0.5),
                    "wind_direction": np.full(len(times), 350.0),
                    "precipitation": np.where(rng.random(len(times)) < 0.03, 2.0, 0.0),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


COORDS = pd.DataFrame(
    {"station": ["A", "B", "C"], "lat": [39.9, 39.9, 40.9], "lon": [116.4, 116.6, 116.4]}
)


def issues(first: str, n: int) -> pd.DataFrame:
    days = list(pd.date_range(first, periods=n, freq="D").date)
    return perturbed_issues(days, tz=TZ, issue_time=ISSUE_TIME, max_lead=3)


@pytest.fixture(scope="module")
def model() -> MetErrorModel:
    return load_met_error_model()


@pytest.fixture(scope="module")
def many(model):
    obs = observed_weather()
    fc = perturbed_forecasts(obs, issues("2015-01-05", 180), model, seed=1, coords=COORDS, tz=TZ)
    merged = fc.merge(
        obs.rename(columns={"time": "valid_at"}), on=["station", "valid_at"], suffixes=("", "_obs")
    )
    merged["step"] = (merged["valid_at"] - merged["issued_at"]) / pd.Timedelta(hours=1)
    return merged


@pytest.mark.slow
def test_hours_before_the_issue_time_are_the_observed_weather(many):
    before = many[many["step"] < 0]
    assert len(before) > 0
    for v in ("temp_air", "dewpoint", "pressure", "wind_speed", "precipitation"):
        np.testing.assert_array_equal(before[v].to_numpy(), before[f"{v}_obs"].to_numpy())
    after = many[many["step"] >= 0]
    assert (after["temp_air"] != after["temp_air_obs"]).mean() > 0.99


@pytest.mark.slow
def test_error_sizes_follow_the_configured_rmse_by_step(many, model):
    err = many["temp_air"] - many["temp_air_obs"]
    steps = np.asarray(model.step_hours) - model.run_age_hours
    for lo, hi in ((20, 30), (60, 70)):
        sel = (many["step"] >= lo) & (many["step"] < hi)
        want = np.sqrt(
            np.mean(
                np.interp(
                    many.loc[sel, "step"], steps, np.asarray(model.variables["temp_air"].rmse)
                )
                ** 2
            )
        )
        got = float(np.sqrt(np.mean(err[sel] ** 2)))
        assert got == pytest.approx(want, rel=0.12)
    p = many["pressure"] - many["pressure_obs"]
    early, late = p[many["step"].between(0, 24)], p[many["step"].between(72, 96)]
    assert late.std() > 1.5 * early.std()  # errors grow with lead


@pytest.mark.slow
def test_errors_are_correlated_in_time_and_between_near_stations(many, model):
    fc = many[many["step"] >= 0].copy()
    fc["e"] = fc["temp_air"] - fc["temp_air_obs"]
    wide = fc.pivot_table(index=["issue_date", "valid_at"], columns="station", values="e")
    near = np.corrcoef(wide["A"], wide["B"])[0, 1]  # 17 km apart
    far = np.corrcoef(wide["A"], wide["C"])[0, 1]  # 111 km apart
    assert near == pytest.approx(np.exp(-17 / 150), abs=0.06)
    assert far == pytest.approx(np.exp(-111 / 150), abs=0.08)
    a = fc[fc["station"] == "A"].sort_values(["issue_date", "valid_at"])
    e = a["e"].to_numpy() / np.interp(
        a["step"],
        np.asarray(model.step_hours) - model.run_age_hours,
        model.variables["temp_air"].rmse,
    )
    same_issue = a["issue_date"].to_numpy()[1:] == a["issue_date"].to_numpy()[:-1]
    lag1 = np.corrcoef(e[1:][same_issue], e[:-1][same_issue])[0, 1]
    assert lag1 == pytest.approx(np.exp(-1 / 18), abs=0.04)


def test_bounds_and_wrap_around(many):
    assert (many["wind_speed"] >= 0).all()
    assert ((many["wind_direction"] >= 0) & (many["wind_direction"] < 360)).all()
    assert (many["dewpoint"] <= many["temp_air"]).all()


def test_precipitation_is_missed_invented_and_shared_by_stations(many, model):
    fc = many[many["step"] >= 17].copy()  # from the day after the issue day
    fc["day"] = fc["valid_at"].dt.tz_convert(TZ).dt.normalize()
    daily = fc.groupby(["issue_date", "day", "station"])[
        ["precipitation", "precipitation_obs"]
    ].sum()
    area = daily.groupby(level=["issue_date", "day"]).mean()
    wet = area["precipitation_obs"] >= model.precipitation.wet_day_mm
    missed = (area.loc[wet, "precipitation"] == 0).mean()
    assert 0.12 < missed < 0.45
    dry = area["precipitation_obs"] == 0
    if dry.any():
        assert (area.loc[dry, "precipitation"] > 0).mean() < 0.4
    # Missing a rain day is decided for the area, not station by station.
    per_station = daily["precipitation"].unstack("station")
    zero = per_station.eq(0)
    assert (zero.all(axis=1) | ~zero.any(axis=1) | (per_station.sum(axis=1) > 0)).all()


def test_same_seed_same_forecasts_and_each_issue_independent_of_the_others(model):
    obs = observed_weather(40)
    a = perturbed_forecasts(obs, issues("2015-01-10", 10), model, seed=5, coords=COORDS, tz=TZ)
    b = perturbed_forecasts(obs, issues("2015-01-10", 10), model, seed=5, coords=COORDS, tz=TZ)
    pd.testing.assert_frame_equal(a, b)
    c = perturbed_forecasts(obs, issues("2015-01-10", 10), model, seed=6, coords=COORDS, tz=TZ)
    assert not np.allclose(a["temp_air"], c["temp_air"])
    # The issue of 2015-01-14 alone gets the same forecast as within the ten.
    one = perturbed_forecasts(obs, issues("2015-01-14", 1), model, seed=5, coords=COORDS, tz=TZ)
    same = a[a["issue_date"] == pd.Timestamp("2015-01-14")].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, same)


def test_station_correlation_without_coordinates_uses_the_default():
    corr = station_correlation(["A", "B"], None, 100.0, 0.7)
    np.testing.assert_allclose(corr, [[1.0, 0.7], [0.7, 1.0]])


def test_error_model_file_is_checked_against_its_schema(tmp_path):
    text = ERROR_MODEL_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("rmse: [1.2, 2.0, 2.2, 2.5, 2.8, 3.2]", "rmse: [1.2, 2.0]"))
    with pytest.raises(ConfigError, match=r"temp_air.rmse needs 6 values"):
        load_met_error_model(bad)
    bad.write_text(text.replace("correlation_hours: 18", "correlation_hours: -1", 1))
    with pytest.raises(ConfigError, match=r"correlation_hours"):
        load_met_error_model(bad)


@pytest.mark.slow
def test_hindcast_command_with_perturbed_weather(sqlite_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from aqcast.models.train import load_training_config
    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for
    from aqcast.synthetic import synthetic_network

    net = synthetic_network(3, "2013-01-01", "2013-05-15", seed=2)
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
            update={"max_rounds": 30, "min_rounds": 10}
        ),
    )
    runner = CliRunner()
    base = ["hindcast", "--start", "2013-05-01", "--end", "2013-05-05", "--retrain", "none"]
    outs = {}
    for name, extra in {
        "observed": ["--met", "observed"],
        "p1": ["--met", "perturbed", "--seed", "1"],
        "p2": ["--met", "perturbed", "--seed", "2"],
    }.items():
        out = tmp_path / f"{name}.csv"
        r = runner.invoke(app, [*base, *extra, "--out", str(out)])
        assert r.exit_code == 0, r.output
        outs[name] = pd.read_csv(out)
    meta = json.loads((tmp_path / "p1.csv.meta.json").read_text())
    assert meta["met_mode"] == "perturbed" and meta["perfect_prognosis"] is False
    assert meta["met_error"]["seed"] == 1 and "ECMWF" in meta["met_error"]["source"]
    assert "forecast-like errors" in meta["notes"][0]
    assert not np.allclose(outs["p1"]["q50"], outs["p2"]["q50"])
    assert not np.allclose(outs["p1"]["q50"], outs["observed"]["q50"])
    # Same rows, only the values move.
    keys = ["issue_date", "target_date", "area", "variable"]
    pd.testing.assert_frame_equal(outs["p1"][keys], outs["observed"][keys])

    # `aqcast skill` shows perfect prognosis and perturbed weather side by side.
    obs_csv, p1_csv = str(tmp_path / "observed.csv"), str(tmp_path / "p1.csv")
    r = runner.invoke(app, ["skill", obs_csv, "--compare", p1_csv, "--format", "json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["header"]["perfect"]["met_mode"] == "observed"
    assert payload["header"]["perturbed"]["met_mode"] == "perturbed"
    rows = pd.DataFrame(payload["side_by_side"])
    st = rows[(rows["group"] == "stations") & (rows["variable"] == "o3_mda8")]
    assert len(st) == 4 and st["rmse_perfect"].notna().all() and st["rmse_perturbed"].notna().all()
    change = 100 * (st["rmse_perturbed"] / st["rmse_perfect"] - 1)
    np.testing.assert_allclose(st["rmse_change_pct"], change)
    assert (st["rmse_pers"] > 0).all()
    r = runner.invoke(app, ["skill", obs_csv, "--compare", p1_csv])
    assert r.exit_code == 0, r.output
    assert "# perfect:" in r.output and "# perturbed:" in r.output
    assert "rmse_change_pct" in r.output and "forecast-like errors" in r.output
    short = tmp_path / "short.csv"
    outs["p2"][outs["p2"]["issue_date"] < "2013-05-03"].to_csv(short, index=False)
    r = runner.invoke(app, ["skill", obs_csv, "--compare", str(short)])
    assert r.exit_code == 1 and "not the issue dates" in r.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\n")
    r = runner.invoke(app, [*base, "--met", "perturbed", "--met-error", str(bad), "--out", "x"])
    assert r.exit_code == 1 and "bad.yaml" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, [*base, "--met-error", str(bad), "--out", "x"])
    assert r.exit_code == 2 and "--met-error needs --met perturbed" in r.output.replace("\n", " ")


@pytest.mark.slow
def test_train_command_with_stored_or_perturbed_training_weather(sqlite_url, monkeypatch):
    from typer.testing import CliRunner

    from aqcast.models.train import load_training_config
    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.registry import load_bundle
    from aqcast.service.store import engine_for
    from aqcast.synthetic import synthetic_network

    engine = engine_for(sqlite_url)
    net = synthetic_network(3, "2013-01-01", "2013-04-15", seed=8)
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
    runner = CliRunner()
    args = ["train", "--until", "2013-04-10", "--from", "2013-01-01"]
    r = runner.invoke(app, [*args, "--train-met", "stored"])
    assert r.exit_code == 1, r.output
    assert "archived weather forecasts for 0 training rows" in r.output
    assert "Traceback" not in r.output

    # An archive of one run a day (issued 04:00 Beijing) for February and March.
    weather = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]
    runs = []
    for d in pd.date_range("2013-02-01", "2013-03-31", freq="D"):
        issued = pd.Timestamp(d, tz="UTC") - pd.Timedelta(hours=4)
        sel = (net.hourly["time"] >= issued - pd.Timedelta(hours=20)) & (
            net.hourly["time"] < issued + pd.Timedelta(days=5)
        )
        met = net.hourly.loc[sel, ["station", "time", *weather]].rename(
            columns={"time": "valid_at"}
        )
        met[weather] = met[weather] + 0.5
        runs.append(met.assign(issued_at=issued))
    ingest_met_forecasts(engine, pd.concat(runs), source="test", file_label="archive")
    r = runner.invoke(app, [*args, "--train-met", "stored"])
    assert r.exit_code == 0, r.output
    assert "training weather stored" in r.output
    bundle = load_bundle(engine)
    assert bundle.params["train_met"] == "stored"
    # Trained on the archived days only (February and March target days).
    assert bundle.train_start >= date(2013, 1, 31)

    r = runner.invoke(app, [*args, "--train-met", "perturbed", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert load_bundle(engine).params["train_met"] == "perturbed"
