"""A forecast for issue date D uses only what was known at D 07:00 local.

Altering everything observed from D 07:00 on (pollutants and weather; with --met
observed all but the target days' weather, the declared perfect-prognosis input) must
leave that issue's features and forecasts unchanged, from frames and from the store.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.feature_table import feature_columns, load_feature_spec
from aqcast.features.nomenclature import POLLUTANTS
from aqcast.models.inputs import frames_to_table, issue_time_utc, local_midnight_utc
from aqcast.models.predict import predict_table
from aqcast.models.train import load_training_config, train_bundle
from aqcast.service.forecasts import make_forecast
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"
ISSUE = date(2013, 5, 20)
NO_QUIRKS = QuirkRates(0, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def network(synthetic_world):
    return synthetic_world.network


@pytest.fixture(scope="module")
def small_config(small_training_config):
    return small_training_config


@pytest.fixture(scope="module")
def store_bundle(daily_bundle):
    """A model trained on target days before the issue date (perfect-prognosis training),
    shared by the session (tests.support.training)."""
    return daily_bundle


def _altered(hourly: pd.DataFrame, after: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    out = hourly.copy()
    late = out["time"] >= after
    rng = np.random.default_rng(0)
    for c in columns:
        out.loc[late, c] = out.loc[late, c] * rng.uniform(0.2, 3.0, late.sum()) + 5.0
    return out


def _issue_rows(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["issue_date"] == pd.Timestamp(ISSUE)]
    return rows[["entity", "lead_days", *feature_columns(rows)]].reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize("met", ["observed", "none"])
def test_features_and_forecast_ignore_everything_after_issue_time(network, small_config, met):
    spec = load_feature_spec()
    areas = {"district": network.stations["station"].tolist()}
    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    pollutants = list(POLLUTANTS)
    weather = [c for c in network.hourly.columns if c not in ("station", "time", *pollutants)]
    changed = _altered(network.hourly, cutoff, pollutants)
    if met == "observed":
        # Weather after the last target day is not a declared input either.
        end_of_targets = local_midnight_utc(date(2013, 5, 24), TZ)
        changed = _altered(changed, end_of_targets, weather)
    else:
        changed = _altered(changed, cutoff, weather)
    assert not changed.equals(network.hourly)

    a = frames_to_table(network.hourly, areas, spec=spec, tz=TZ, issue_dates=None, met=met)
    b = frames_to_table(changed, areas, spec=spec, tz=TZ, issue_dates=None, met=met)
    pd.testing.assert_frame_equal(_issue_rows(a.table), _issue_rows(b.table))
    # The targets did change, so the alteration reached what the forecast must not see.
    ya = a.table.loc[a.table["issue_date"] == pd.Timestamp(ISSUE), "y_pm25_24h"]
    yb = b.table.loc[b.table["issue_date"] == pd.Timestamp(ISSUE), "y_pm25_24h"]
    assert not np.allclose(ya.to_numpy(), yb.to_numpy(), equal_nan=True)

    # Training sees target days before D only, so one model serves both replays.
    bundle = train_bundle(
        a.table,
        a.hourly,
        spec=spec,
        tz=TZ,
        train_start=None,
        train_until=ISSUE,
        version="a",
        config=small_config,
    )
    rows_a = a.table[a.table["issue_date"] == pd.Timestamp(ISSUE)]
    rows_b = b.table[b.table["issue_date"] == pd.Timestamp(ISSUE)]
    pa, pb = predict_table(bundle, rows_a), predict_table(bundle, rows_b)
    cols = ["q10", "q50", "q90", "p_exceed"]
    np.testing.assert_allclose(pa[cols].to_numpy(float), pb[cols].to_numpy(float))


@pytest.mark.slow
def test_stored_forecast_ignores_observations_ingested_after_issue_time(
    network, store_bundle, sqlite_url
):
    bundle = store_bundle
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    hourly = network.hourly[network.hourly["time"] >= pd.Timestamp("2013-03-01", tz="UTC")]
    ingest_frame(
        engine,
        hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    before = make_forecast(engine, ISSUE, met="stored", bundle=bundle)

    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    late = hourly[hourly["time"] >= cutoff]
    altered = _altered(late, cutoff, list(POLLUTANTS))
    ingest_frame(engine, altered, source="test", file_label="late", refresh_daily=False, tz=TZ)
    after = make_forecast(engine, ISSUE, met="stored", bundle=bundle)

    pd.testing.assert_frame_equal(before.values, after.values)
    pd.testing.assert_frame_equal(before.critical, after.critical)
    assert before.met_mode == "stored"
    # No stored weather forecasts: the models lack inputs and the baselines answer.
    assert before.method.startswith("fallback:")
    assert "target-day weather" in before.missing_inputs


@pytest.mark.slow
def test_stored_weather_forecasts_issued_after_issue_time_are_ignored(
    network, store_bundle, sqlite_url
):
    bundle = store_bundle
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.store import engine_for

    engine = engine_for(sqlite_url)
    hourly = network.hourly[network.hourly["time"] >= pd.Timestamp("2013-04-01", tz="UTC")]
    ingest_frame(
        engine,
        hourly,
        source="test",
        file_label="synthetic",
        stations=network.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    cutoff = issue_time_utc(ISSUE, TZ, pd.Timestamp("07:00").time())
    window = (hourly["time"] >= cutoff - pd.Timedelta(days=2)) & (
        hourly["time"] < cutoff + pd.Timedelta(days=5)
    )
    weather = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]
    met = hourly.loc[window, ["station", "time", *weather]].rename(columns={"time": "valid_at"})
    met["issued_at"] = cutoff - pd.Timedelta(hours=7)
    ingest_met_forecasts(engine, met, source="test", file_label="met-early")
    first = make_forecast(engine, ISSUE, met="stored", bundle=bundle)
    assert first.method == "model" and first.missing_inputs == []

    late = met.copy()
    late["issued_at"] = cutoff  # issued at the issue time: not known before it
    late[weather] = late[weather] * 1.5 + 3.0
    ingest_met_forecasts(engine, late, source="test", file_label="met-late")
    second = make_forecast(engine, ISSUE, met="stored", bundle=bundle)
    pd.testing.assert_frame_equal(first.values, second.values)


# --- the whole path: ingest (quality control) -> store -> features -> training -> forecast


def _store_with(hourly: pd.DataFrame, stations: pd.DataFrame, url: str):
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    engine = engine_for(url)
    ingest_frame(
        engine,
        hourly,
        source="test",
        file_label="whole-series",
        stations=stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=TZ,
    )
    return engine


@pytest.mark.slow
def test_tripling_everything_after_a_cut_changes_no_earlier_forecast_bit_for_bit(
    tmp_path, monkeypatch
):
    """The issue's experiment on a synthetic network with sensor quirks (spikes, stuck
    runs, outages): two stores, one of them with every observation (pollutants and
    weather) from the cut on multiplied by three, each loaded as one whole series. Every
    forecast of a replay whose target days end before the cut, with its monthly
    trainings, is identical bit for bit; so are the quality flags before the cut."""
    from aqcast.service.evaluation import run_hindcast
    from aqcast.service.observations import load_hourly
    from aqcast.service.store import migrate

    net = synthetic_network(3, "2013-01-01", "2013-06-20", seed=11, quirks=QuirkRates())
    cut = local_midnight_utc(date(2013, 6, 1), TZ)
    # A sensor stuck from 8 hours before the cut to 8 hours after: flagging the whole run
    # once it is long enough (as a non-causal test would) re-flags hours before the cut.
    hourly = net.hourly.copy()
    stuck = (
        (hourly["station"] == hourly["station"].iloc[0])
        & (hourly["time"] >= cut - pd.Timedelta(hours=8))
        & (hourly["time"] < cut + pd.Timedelta(hours=8))
    )
    hourly.loc[stuck, "o3"] = 77.0
    net = type(net)(stations=net.stations, hourly=hourly, quirks=net.quirks)
    tripled = net.hourly.copy()
    late = tripled["time"] >= cut
    cols = [c for c in tripled.columns if c not in ("station", "time")]
    tripled.loc[late, cols] = tripled.loc[late, cols] * 3.0
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 30, "min_rounds": 10}
        ),
    )
    engines = []
    for name, frame in (("a", net.hourly), ("b", tripled)):
        url = f"sqlite:///{tmp_path / name}.db"
        migrate(url)
        engines.append(_store_with(frame, net.stations, url))
    fa, fb = (load_hourly(e, "2013-01-01", cut, valid_only=False, with_flags=True) for e in engines)
    pd.testing.assert_frame_equal(fa, fb, check_exact=True)
    assert (fa.filter(like="_qc") == 3).to_numpy().sum() > 0  # spikes were judged
    after_a, after_b = (
        load_hourly(e, cut, "2013-06-21", valid_only=False, with_flags=True) for e in engines
    )
    assert not after_a.equals(after_b)

    runs = [
        run_hindcast(e, date(2013, 4, 20), date(2013, 5, 27), train_from=date(2013, 1, 1))
        for e in engines
    ]
    assert len(runs[0].meta["trainings"]) == 2
    pd.testing.assert_frame_equal(runs[0].rows, runs[1].rows, check_exact=True)


def test_a_spike_in_the_last_hour_before_issue_was_valid_at_issue_time(sqlite_url):
    """The spike test of 06:00 needs 07:00, which arrives after the 07:00 issue: the
    forecast (and a replay) sees the 06:00 value as it was then; the day's statistics,
    computed later, leave it out."""
    from aqcast.service.configured import configured_areas
    from aqcast.service.model_inputs import load_inputs
    from aqcast.service.store import engine_for

    net = synthetic_network(2, "2013-04-01", "2013-05-25", seed=4, quirks=NO_QUIRKS)
    hourly = net.hourly.copy()
    six = issue_time_utc(ISSUE, TZ, pd.Timestamp("06:00").time())
    at = (hourly["time"] == six) & (hourly["station"] == hourly["station"].iloc[0])
    hourly.loc[at, "pm25"] = hourly.loc[at, "pm25"] + 900.0
    engine = engine_for(sqlite_url)
    _store_with(hourly, net.stations, sqlite_url)
    from aqcast.service.observations import load_hourly

    stored = load_hourly(
        engine, six, six + pd.Timedelta(hours=1), valid_only=False, with_flags=True
    )
    assert (stored["pm25_qc"] == 3).sum() == 1  # judged a spike once 07:00 arrived
    inputs = load_inputs(
        engine,
        [ISSUE],
        spec=load_feature_spec(),
        tz=TZ,
        issue_time=pd.Timestamp("07:00").time(),
        areas=configured_areas(),
        met="none",
    )
    t = inputs.table
    row = t[(t["entity"] == hourly["station"].iloc[0]) & (t["lead_days"] == 0)].iloc[0]
    assert row["pm25_morning_last"] == pytest.approx(float(hourly.loc[at, "pm25"].iloc[0]))


@pytest.mark.slow
def test_tripling_the_real_data_after_a_cut_changes_no_earlier_forecast(
    beijing_dir, tmp_path, monkeypatch
):
    """The same experiment on two real PRSA stations (three years each, loaded whole):
    flags before the cut and a replay whose target days end before it are identical."""
    from aqcast.service.evaluation import run_hindcast
    from aqcast.service.observations import load_hourly
    from aqcast.service.sources.prsa import read_prsa, read_prsa_stations
    from aqcast.service.store import migrate

    files = sorted(beijing_dir.glob("PRSA_Data_*.csv"))[:2]
    hourly = pd.concat([read_prsa(f) for f in files], ignore_index=True)
    meta = read_prsa_stations(beijing_dir / "stations.csv")
    meta = meta[meta["station"].isin(hourly["station"].unique())]
    if "name" not in meta.columns:
        meta = meta.assign(name=meta["station"])
    cut = local_midnight_utc(date(2015, 7, 1), TZ)
    tripled = hourly.copy()
    late = tripled["time"] >= cut
    cols = [c for c in tripled.columns if c not in ("station", "time")]
    tripled.loc[late, cols] = tripled.loc[late, cols] * 3.0
    monkeypatch.setattr(
        "aqcast.models.train.load_training_config",
        lambda path=None: load_training_config().model_copy(
            update={"max_rounds": 30, "min_rounds": 10}
        ),
    )
    engines = []
    for name, frame in (("a", hourly), ("b", tripled)):
        url = f"sqlite:///{tmp_path / name}.db"
        migrate(url)
        engines.append(_store_with(frame, meta, url))
    fa, fb = (load_hourly(e, "2015-01-01", cut, valid_only=False, with_flags=True) for e in engines)
    pd.testing.assert_frame_equal(fa, fb, check_exact=True)
    runs = [
        run_hindcast(
            e, date(2015, 6, 1), date(2015, 6, 26), retrain="none", train_from=date(2014, 6, 1)
        )
        for e in engines
    ]
    pd.testing.assert_frame_equal(runs[0].rows, runs[1].rows, check_exact=True)
