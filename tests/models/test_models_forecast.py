"""Feature declarations, derived weather, training, the registry, fallbacks, and storing
and loading forecasts on both database backends."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from aqcast.configuration import ConfigError
from aqcast.features.feature_table import (
    load_feature_spec,
    relative_humidity_pct,
    wind_components_ms,
)
from aqcast.models.distribution import ResidualModel
from aqcast.models.forecast import Forecast, forecast_from_table
from aqcast.models.train import load_training_config
from aqcast.service import registry
from aqcast.service.forecasts import load_forecast, store_forecast
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"
ISSUE = date(2013, 5, 20)


@pytest.fixture(scope="module")
def trained(daily_bundle, synthetic_world):
    """The session's small daily model (tests.support.training) and its inputs."""
    return daily_bundle, synthetic_world.inputs


@pytest.mark.parametrize(
    ("temp", "dew", "expected"), [(20.0, 20.0, 100.0), (30.0, 10.0, 28.9), (0.0, -10.0, 46.8)]
)
def test_relative_humidity_from_dewpoint(temp, dew, expected):
    np.testing.assert_allclose(relative_humidity_pct(temp, dew), expected, atol=0.3)


@pytest.mark.parametrize(
    ("direction", "u", "v"), [(0.0, 0.0, -5.0), (90.0, -5.0, 0.0), (225.0, 3.536, 3.536)]
)
def test_wind_components_point_where_the_wind_goes(direction, u, v):
    uu, vv = wind_components_ms(5.0, direction)
    np.testing.assert_allclose([uu, vv], [u, v], atol=1e-3)


def test_feature_declaration_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "features.yaml"
    text = (load_feature_spec.__globals__["SPEC_PATH"]).read_text()
    bad.write_text(text.replace("days: [1, 2]", "days: [0, 1]"))
    with pytest.raises(ConfigError, match=r"features\.yaml.*lags\.days"):
        load_feature_spec(bad)


def test_residual_model_quantiles_and_calibrated_exceedance():
    rng = np.random.default_rng(1)
    pred = rng.uniform(50, 150, 4000)
    obs = pred + rng.normal(0, 20, 4000)
    lead = np.zeros(4000, dtype=int)
    res = ResidualModel.fit(pred, obs, lead, transform="none", n_bins=3, n_levels=99)
    res.fit_calibration(pred, obs, lead, 160.0)
    q10, q50, q90 = res.quantiles(np.array([100.0]), np.array([0]), [0.1, 0.5, 0.9])
    np.testing.assert_allclose([q10[0], q50[0], q90[0]], [100 - 25.6, 100, 100 + 25.6], atol=4)
    p = res.exceedance(np.array([100.0, 140.0, 200.0]), np.array([0, 0, 0]), 160.0)
    assert p[0] < 0.05 < p[1] < 0.5 < p[2]


@pytest.mark.slow
def test_training_records_what_it_used_and_its_validation(trained):
    bundle, _ = trained
    assert set(bundle.models) == {
        "o3_mda8",
        "o3_1h_max",
        "pm25_24h",
        "pm10_24h",
        "so2_24h",
        "no2_24h",
        "co_24h",
    }
    assert bundle.train_end < ISSUE
    for lead in range(4):
        m = bundle.metrics["o3_mda8"][f"lead{lead}"]
        assert {"model", "persistence", "climatology"} <= set(m)
        assert m["model"]["n"] > 100 and 0 < m["model"]["rmse"] < 100
    imp = bundle.models["pm25_24h"].importance
    assert list(imp.values()) == sorted(imp.values(), reverse=True)
    assert "entity" in bundle.models["pm25_24h"].features


@pytest.mark.slow
def test_forecast_has_every_part_and_falls_back_without_weather(trained):
    bundle, inputs = trained
    now = datetime(2013, 5, 19, 23)
    fc = forecast_from_table(
        bundle, inputs.table, issue_date=ISSUE, issued_at=now, met_mode="observed"
    )
    v = fc.values
    assert set(v["variable"]) >= {"o3_mda8", "o3_1h_max", "pm25_24h", "pm10_24h", "aqi"}
    assert sorted(v["lead_days"].unique()) == [0, 1, 2, 3]
    assert (v.loc[v["station"] == "", "area"] == "district").all()
    ok = v.dropna(subset=["q10", "q90"])
    assert (ok["q10"] <= ok["q50"]).all() and (ok["q50"] <= ok["q90"]).all()
    assert fc.method == "model" and any("perfect prognosis" in n for n in fc.notes)
    assert len(fc.hourly_o3) == 24 * 4 * 4  # 3 stations + district, 4 days
    assert fc.critical["critical_value_ugm3"].ge(160).all()
    assert set(fc.risk.columns) == {
        "area",
        "target_date",
        "p_heavy",
        "stagnation_index",
        "stagnation",
    }

    no_wx = inputs.table.copy()
    no_wx[[c for c in no_wx.columns if c.startswith("wx_")]] = np.nan
    fb = forecast_from_table(bundle, no_wx, issue_date=ISSUE, issued_at=now, met_mode="none")
    assert fb.method.startswith("fallback:")
    assert set(fb.values["method"]) <= {"fallback:persistence", "fallback:climatology"}
    assert "target-day weather" in fb.missing_inputs


@pytest.mark.slow
def test_registry_and_stored_forecast_round_trip(trained, db_url, tmp_path):
    from aqcast.service.store import engine_for

    bundle, inputs = trained
    engine = engine_for(db_url)
    now = datetime(2013, 5, 19, 12)
    registry.save_bundle(engine, bundle, tmp_path / "models", now=now, activate=False)
    with pytest.raises(registry.RegistryError, match="no active model"):
        registry.load_bundle(engine)
    registry.activate(engine, "v-test")
    assert registry.active_version(engine) == "v-test"
    loaded = registry.load_bundle(engine)
    assert loaded.version == "v-test" and set(loaded.models) == set(bundle.models)
    listed = registry.list_versions(engine)
    assert listed[0]["active"] and listed[0]["train_end"] == bundle.train_end.isoformat()
    with pytest.raises(registry.RegistryError, match="unknown model version"):
        registry.activate(engine, "v-none")
    (tmp_path / "models" / "v-test.joblib").unlink()
    with pytest.raises(registry.RegistryError, match="missing"):
        registry.load_bundle(engine)

    fc = forecast_from_table(
        loaded, inputs.table, issue_date=ISSUE, issued_at=now, met_mode="observed"
    )
    run_id = store_forecast(engine, fc, now=now)
    back = load_forecast(engine, ISSUE)
    assert isinstance(back, Forecast) and run_id > 0
    assert back.method == fc.method and back.notes == fc.notes
    merged = fc.values.merge(back.values, on=["target_date", "area", "station", "variable"])
    assert len(merged) == len(fc.values)
    np.testing.assert_allclose(merged["q50_x"], merged["q50_y"], rtol=1e-9)
    assert len(back.hourly_o3) == len(fc.hourly_o3)
    assert load_forecast(engine, date(2000, 1, 1)) is None


@pytest.mark.slow
def test_train_models_and_forecast_commands(sqlite_url, monkeypatch):
    import json

    from typer.testing import CliRunner

    from aqcast.service.cli import app
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    net = synthetic_network(2, "2013-02-01", "2013-05-25", seed=9, quirks=QuirkRates(0, 0, 0, 0, 0))
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
    r = runner.invoke(app, ["forecast", "--issue-date", "2013-05-20", "--format", "json"])
    assert r.exit_code == 0, r.output
    fb = json.loads(r.output)
    assert fb["method"].startswith("fallback:") and fb["model_version"] is None
    assert any("model unavailable" in n for n in fb["notes"])

    r = runner.invoke(app, ["train", "--until", "2013-05-15"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0 and r.output.startswith("* v"), r.output
    version = r.output.split()[1]
    r = runner.invoke(app, ["models", "activate", "nope"])
    assert r.exit_code == 1 and "unknown model version" in r.output
    r = runner.invoke(app, ["models", "activate", version])
    assert r.exit_code == 0, r.output

    r = runner.invoke(
        app, ["forecast", "--issue-date", "2013-05-20", "--format", "json", "--met", "observed"]
    )
    assert r.exit_code == 0, r.output
    fc = json.loads(r.output)
    assert fc["method"] == "model" and fc["model_version"] == version
    assert fc["met_mode"] == "observed" and any("perfect prognosis" in n for n in fc["notes"])
    assert {"district"} <= {v["area"] for v in fc["values"]}
    assert load_forecast(engine_for(sqlite_url), date(2013, 5, 20)).model_version == version


def test_back_transform_never_gives_a_negative_concentration():
    from aqcast.models.distribution import from_model_space, to_model_space

    for transform in ("log1p", "none"):
        v = from_model_space(np.array([-0.3, -1e-6, 0.0, 2.0]), transform)
        assert (v >= 0).all()
    assert from_model_space(to_model_space([0.0, 5.0, 80.0], "log1p"), "log1p") == pytest.approx(
        [0.0, 5.0, 80.0]
    )
