"""`aqcast train`, `aqcast hindcast` and `aqcast ingest met-forecast` on a Dask cluster
(`--dask ADDRESS` or AQCAST_DASK_SCHEDULER), and the one-line error without dask."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from aqcast.models.train import load_training_config
from aqcast.service import settings as settings_module
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from distributed import LocalCluster

    # One in-process worker: quick, and LightGBM's network is one per process.
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
    ) as c:
        yield c


def _prefixes(cluster) -> set[str]:
    return set(cluster.scheduler.task_prefixes)


@pytest.fixture
def stored_network(sqlite_url, monkeypatch):
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.store import engine_for

    net = synthetic_network(
        3, "2013-01-01", "2013-04-10", seed=11, quirks=QuirkRates(0, 0, 0, 0, 0)
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
            update={"max_rounds": 20, "min_rounds": 5, "ensemble_size": 1}
        ),
    )
    monkeypatch.setenv("AQCAST_HOME", str(sqlite_url.split("///", 1)[1].rsplit("/", 1)[0]))
    settings_module.get_settings.cache_clear()
    return sqlite_url


@pytest.mark.slow
def test_train_fits_its_final_models_on_the_cluster(cluster, stored_network) -> None:
    from aqcast.models import train as train_module
    from aqcast.service.cli import app

    before = _prefixes(cluster)
    r = CliRunner().invoke(
        app, ["train", "--until", "2013-04-01", "--dask", cluster.scheduler_address]
    )
    assert r.exit_code == 0, r.output
    assert f"training on the Dask cluster at {cluster.scheduler_address}" in r.output
    assert "(active)" in r.output
    new = _prefixes(cluster) - before
    assert any("train_part" in p for p in new), new  # lightgbm.dask's training tasks
    assert train_module.FINAL_FITTER["fit"] is None  # the cluster is left on exit


@pytest.mark.slow
def test_hindcast_trains_on_the_cluster_named_by_the_environment(
    cluster, stored_network, tmp_path, monkeypatch
) -> None:
    from aqcast.service.cli import app

    monkeypatch.setenv("AQCAST_DASK_SCHEDULER", cluster.scheduler_address)
    settings_module.get_settings.cache_clear()
    ran = []
    from aqcast.models import distributed

    real = distributed.fit_booster
    monkeypatch.setattr(distributed, "fit_booster", lambda *a, **k: ran.append(1) or real(*a, **k))
    out = tmp_path / "hc.csv"
    r = CliRunner().invoke(
        app,
        [
            "hindcast",
            "--start",
            "2013-04-01",
            "--end",
            "2013-04-05",
            "--out",
            str(out),
            "--retrain",
            "none",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "training on the Dask cluster" in r.output
    assert ran, "no model was fitted on the cluster"
    assert len(out.read_text().splitlines()) > 1


def test_without_dask_the_option_names_the_extra(stored_network, monkeypatch) -> None:
    from aqcast.service.cli import app

    monkeypatch.delitem(sys.modules, "aqcast.models.distributed", raising=False)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)  # as if dask were not installed
    r = CliRunner().invoke(app, ["train", "--until", "2013-04-01", "--dask", "tcp://x:8786"])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert "aqcast[dask]" in lines[0] and "Traceback" not in r.output


@pytest.mark.slow
def test_gridded_ingest_runs_in_dask_chunks_on_the_cluster(cluster, sqlite_url, tmp_path):
    from aqcast.service.cli import app
    from aqcast.service.ingest import upsert_stations
    from aqcast.service.sources.met_files import read_met_forecast_grid
    from aqcast.service.store import engine_for
    from tests.service.sources.test_grid_dask import STATIONS, _write_grid

    engine = engine_for(sqlite_url)
    inside = STATIONS[STATIONS["station"].isin(["A", "B"])]
    with engine.begin() as conn:
        upsert_stations(conn, ["A", "B"], inside, source="test", label="stations")
    path = _write_grid(tmp_path / "ifs.nc")
    expected = len(read_met_forecast_grid(path, inside))
    before = _prefixes(cluster)
    r = CliRunner().invoke(
        app, ["ingest", "met-forecast", str(path), "--dask", cluster.scheduler_address]
    )
    assert r.exit_code == 0, r.output
    assert f"{expected} forecast rows: {expected} new" in r.output
    assert _prefixes(cluster) - before  # the interpolation ran as tasks of the cluster
