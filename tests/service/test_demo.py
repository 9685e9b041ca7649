"""`aqcast demo --no-serve` on the real Beijing data: load, train, replay three June days
through the scheduler with a simulated clock; the page then shows a real forecast."""

from __future__ import annotations

import re
import time
import warnings
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aqcast.service.cli import app
from aqcast.service.settings import get_settings
from aqcast.service.store import engine_for
from aqcast.service.tables import AlertEvent, ForecastRun, JobRun

with warnings.catch_warnings():
    # starlette asks for the httpx2 fork; httpx works the same for in-process tests
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

STATIONS = ("Dongsi", "Tiantan")
DAYS = [date(2015, 6, 1), date(2015, 6, 2), date(2015, 6, 3)]


@pytest.fixture
def two_stations(beijing_dir: Path, tmp_path: Path) -> Path:
    """Two of the twelve stations (the demo on all twelve is the same code, only slower)."""
    data = tmp_path / "data"
    data.mkdir()
    for f in beijing_dir.glob("PRSA_Data_*.csv"):
        if f.name.split("_")[2] in STATIONS:
            (data / f.name).symlink_to(f)
    lines = (beijing_dir / "stations.csv").read_text(encoding="utf-8").splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[0] in STATIONS]
    (data / "stations.csv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return data


def counts(engine) -> tuple[int, int, int]:  # noqa: ANN001
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(ForecastRun)).scalar_one(),
            conn.execute(select(func.count()).select_from(AlertEvent)).scalar_one(),
            conn.execute(select(func.count()).select_from(JobRun)).scalar_one(),
        )


@pytest.mark.realdata
def test_demo_replays_days_through_the_scheduler_and_the_page_shows_them(
    two_stations: Path,
) -> None:
    args = [
        "demo",
        str(two_stations),
        "--start",
        "2015-06-01",
        "--end",
        "2015-06-03",
        "--train-from",
        "2014-03-01",
        "--no-serve",
    ]
    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    first_s = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 prompts published, 0 failed" in out
    assert "http://127.0.0.1:8000/prompt/2015-06-03" in out
    key = re.search(r"officer API key \(kept in [^)]+\): (\S+)", out).group(1)

    engine = engine_for(get_settings().database_url)
    with engine.connect() as conn:
        runs = conn.execute(select(ForecastRun).order_by(ForecastRun.issue_date)).all()
        jobs = dict(
            conn.execute(
                select(JobRun.job, func.count()).where(JobRun.status == "done").group_by(JobRun.job)
            ).all()
        )
        prompts = (
            conn.execute(
                select(AlertEvent.issue_date)
                .where(AlertEvent.type == "prompt")
                .order_by("issue_date")
            )
            .scalars()
            .all()
        )
    # one forecast and one prompt per replayed day, made by the scheduler's jobs
    assert [r.issue_date for r in runs] == DAYS
    assert {r.met_mode for r in runs} == {"observed"}  # perfect prognosis, and it says so
    assert {r.method for r in runs} == {"model"}
    assert prompts == DAYS
    assert jobs["forecast"] == jobs["publish"] == 3
    assert jobs["pull_observations"] == 72
    assert jobs["intraday_critical_value"] == 3 * 13  # 08:20..20:20 in the ozone season

    # the issue of 2 June knows only what was observed before 07:00 that day
    from aqcast.service.forecasts import load_forecast

    fc = load_forecast(engine, date(2015, 6, 2))
    crit = fc.critical[
        (fc.critical["area"] == "district")
        & (fc.critical["target_date"].astype(str) == "2015-06-02")
    ]
    assert len(crit) and 60 < float(crit["critical_value_ugm3"].iloc[0]) < 400

    # the page and the API serve the replayed days
    from aqcast.service.api.app import create_app

    with TestClient(create_app()) as client:
        page = client.get("/prompt/2015-06-02")
        assert page.status_code == 200
        assert "2015" in page.text and "<svg" in page.text
        assert f"{round(float(crit['critical_value_ugm3'].iloc[0]))}" in page.text
        api = client.get(
            "/v1/forecasts",
            params={"issue_date": "2015-06-02"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert api.status_code == 200, api.text

    # run again: nothing re-ingested, retrained or published twice
    before = counts(engine)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already loaded; nothing to ingest" in again.output
    assert "is ready" in again.output
    assert "0 prompts published, 0 failed" in again.output
    assert again.output.count("already published earlier: nothing published twice") == 3
    assert counts(engine) == before
    # the same officer key again, not one more key per run
    assert (
        re.search(r"officer API key \(reused, kept in [^)]+\): (\S+)", again.output).group(1) == key
    )
    from aqcast.service.tables import ApiKey

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 1
    assert first_s < 90, f"demo took {first_s:.0f} s"


def test_demo_without_data_says_where_it_looked_and_how_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AQCAST_DATA_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 2
    assert str(tmp_path / "nowhere" / "beijing-multisite") in result.output
    assert "AQCAST_DATA_DIR" in result.output
