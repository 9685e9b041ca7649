"""``aqcast hindcast --warning-rules NAME --risk-out R.csv``: the replayed alerts under a
named rule set, and the risk rows with exactly the contract columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from aqcast.models.risk import RISK_COLUMNS
from aqcast.models.train import load_training_config
from aqcast.synthetic import QuirkRates, synthetic_network

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def network():
    return synthetic_network(
        3, "2013-01-01", "2013-05-15", seed=11, quirks=QuirkRates(0, 0, 0, 0, 0)
    )


def _args(tmp_path, *extra: str) -> list[str]:
    return [
        "hindcast",
        "--start",
        "2013-05-01",
        "--end",
        "2013-05-06",
        "--out",
        str(tmp_path / "hc.csv"),
        "--met",
        "observed",
        "--retrain",
        "none",
        *extra,
    ]


@pytest.mark.slow
def test_hindcast_replays_a_named_rule_set_and_writes_the_risk_rows(
    network, sqlite_url, tmp_path, monkeypatch
):
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
    risk = tmp_path / "risk.csv"
    alerts = tmp_path / "alerts.jsonl"
    r = CliRunner().invoke(
        app,
        _args(
            tmp_path,
            "--warning-rules",
            "tianjin-2018",
            "--risk-out",
            str(risk),
            "--alerts-out",
            str(alerts),
        ),
    )
    assert r.exit_code == 0, r.output
    with risk.open() as fh:
        assert fh.readline().strip() == ",".join(RISK_COLUMNS)
    rows = pd.read_csv(risk)
    assert set(rows["area"]) == {"district"}
    assert rows["issue_date"].min() == "2013-05-01" and rows["issue_date"].max() == "2013-05-06"
    assert rows["p_heavy"].between(0, 1).all()
    assert set(rows["lead_days"]) == {0, 1, 2, 3}
    lines = [json.loads(x) for x in alerts.read_text().splitlines()]
    assert lines and all(x["area"] == "district" for x in lines)
    assert all(x["rule_set"] == "tianjin-2018" for x in lines if x["type"] == "warning")


def test_an_unknown_rule_set_is_refused_before_any_work(sqlite_url, tmp_path):
    from typer.testing import CliRunner

    from aqcast.service.cli import app

    r = CliRunner().invoke(app, _args(tmp_path, "--warning-rules", "nope-1999"))
    assert r.exit_code == 2
    assert "--warning-rules" in r.output and "nope-1999" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "hc.csv").exists()
