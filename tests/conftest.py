"""Shared fixtures: databases on both backends, the shared real data, settings isolation."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from aqcast.service import settings as settings_module

pytest_plugins = ["tests.support.training"]

PG_ADMIN_URL = os.environ.get(
    "AQCAST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own AQCAST_HOME (and so its own SQLite file) unless it sets one;
    settings follow the environment (service.settings.get_settings), so no cache to clear."""
    monkeypatch.setenv("AQCAST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AQCAST_DATABASE_URL", raising=False)
    yield


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL)
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable in CI")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is not reachable")
    return PG_ADMIN_URL


def make_pg_database(admin_url: str) -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    name = f"aqcast_t_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, url: str) -> None:
    from aqcast.service.store import engine_for

    engine_for.cache_clear()
    name = url.rsplit("/", 1)[1]
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A migrated, empty database on each backend; also set as AQCAST_DATABASE_URL."""
    from aqcast.service.store import engine_for, migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aqcast.db'}"
    else:
        admin = request.getfixturevalue("pg_server")
        url = make_pg_database(admin)
    monkeypatch.setenv("AQCAST_DATABASE_URL", url)
    migrate(url)
    yield url
    engine_for(url).dispose()
    if request.param == "postgres":
        drop_pg_database(request.getfixturevalue("pg_server"), url)
    engine_for.cache_clear()


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database only (for tests that need no second backend)."""
    from aqcast.service.store import migrate

    url = f"sqlite:///{tmp_path / 'aqcast.db'}"
    monkeypatch.setenv("AQCAST_DATABASE_URL", url)
    migrate(url)
    return url


@pytest.fixture(scope="session")
def beijing_dir() -> Path:
    """The shared Beijing multi-site data; skips (or fails in CI) when absent."""
    path = settings_module.Settings().beijing_dir
    if not any(path.glob("PRSA_Data_*.csv")):
        msg = f"shared data not found at {path} (set AQCAST_DATA_DIR)"
        if os.environ.get("AQCAST_REQUIRE_DATA", "").lower() in {"1", "true", "yes"}:
            pytest.fail(msg + "; AQCAST_REQUIRE_DATA is set, so this is an error")
        pytest.skip(msg)
    return path
