"""A new user's first commands: a store nobody set up, an unreachable database, user
errors answered in one line (the traceback only with --debug), help without type
placeholders, and the store file readable by its owner only."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aqcast.service import settings as settings_module
from aqcast.service.cli import app
from tests.support.api_seed import make_client

runner = CliRunner()
FIRST_COMMANDS = [
    ["keys", "list"],
    ["keys", "create", "--role", "officer", "--name", "duty"],
    ["prompt", "--date", "2015-06-15"],
    ["forecast", "--issue-date", "2020-01-01"],
    ["stats", "--from", "2015-06-01", "--to", "2015-06-02"],
    ["events"],
    ["warnings"],
    ["models"],
    ["deliveries", "list"],
]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fresh_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "new" / "aqcast.db"
    monkeypatch.setenv("AQCAST_DATABASE_URL", f"sqlite:///{path}")
    settings_module.get_settings.cache_clear()
    return path


@pytest.mark.parametrize("args", FIRST_COMMANDS, ids=" ".join)
def test_commands_on_a_never_migrated_store_answer_without_traceback(fresh_store, args):
    result = runner.invoke(app, args)
    assert "no such table" not in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(lines) <= 1, result.output


def test_keys_create_on_a_new_store_makes_the_schema_and_the_key(fresh_store):
    created = runner.invoke(app, ["keys", "create", "--role", "officer", "--name", "duty"])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(app, ["keys", "list"])
    assert "\tofficer\tduty\t" in listed.output


def test_forecast_far_from_any_data_says_what_is_missing(fresh_store):
    result = runner.invoke(app, ["forecast", "--issue-date", "2020-01-01"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: no observations stored from 2019-12-02 to the issue time of 2020-01-01: "
        "ingest observations for those days first (`aqcast ingest`)"
    ]


def test_closed_port_database_is_one_line_and_debug_shows_the_traceback(monkeypatch):
    port = closed_port()
    monkeypatch.setenv(
        "AQCAST_DATABASE_URL", f"postgresql+psycopg://aq:hunter2@127.0.0.1:{port}/aqcast"
    )
    settings_module.get_settings.cache_clear()
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(
        f"error: database unavailable at postgresql+psycopg://aq:***@127.0.0.1:{port}/aqcast"
    )
    assert "hunter2" not in result.output
    debug = runner.invoke(app, ["--debug", "keys", "list"])
    assert debug.exit_code != 0
    assert debug.exception is not None and not isinstance(debug.exception, SystemExit)


def test_api_answers_503_when_the_database_is_unreachable(monkeypatch):
    url = f"postgresql+psycopg://aq@127.0.0.1:{closed_port()}/aqcast"
    monkeypatch.setenv("AQCAST_DATABASE_URL", url)
    settings_module.get_settings.cache_clear()
    with make_client(url) as client:
        r = client.get("/v1/forecasts", headers={"Authorization": "Bearer aqk_whatever"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert r.headers["retry-after"] == "30"


@pytest.mark.parametrize(
    "args", [["--help"], ["prompt", "--help"], ["keys", "create", "--help"], ["stats", "--help"]]
)
def test_help_has_no_type_placeholders(args):
    result = runner.invoke(app, args, terminal_width=120)
    assert result.exit_code == 0
    for placeholder in ("<bool>", "<str>", "<int>", "<float>", "<Path>", "<datetime>"):
        assert placeholder not in result.output, result.output


def test_help_names_value_metavars():
    result = runner.invoke(app, ["prompt", "--help"], terminal_width=120)
    assert "--date" in result.output and "TEXT" in result.output


def test_sqlite_store_file_is_created_owner_only(fresh_store):
    assert runner.invoke(app, ["keys", "list"]).exit_code == 0
    mode = stat.S_IMODE(fresh_store.stat().st_mode)
    assert mode == 0o600, oct(mode)
