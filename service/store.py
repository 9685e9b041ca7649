"""Engine, sessions and migrations. The only place that creates database connections."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from threading import Lock

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from aqcast.service.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StoreUnavailableError(RuntimeError):
    """The database cannot be reached (server down, closed port, wrong host)."""


def _create_private_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600) before SQLite creates it with the umask's
    mode: it holds webhook signing secrets and API key hashes."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                _create_private_file(Path(path))
            except FileExistsError:  # created by another process meanwhile
                pass
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str | None = None) -> None:
    """Bring the database at ``url`` (default: settings) to the latest schema."""
    url = url or get_settings().database_url
    cfg = alembic_config(url)
    with engine_for(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_migrated: set[str] = set()
_migrate_lock = Lock()


def open_store(url: str | None = None) -> Engine:
    """The engine of the store at ``url`` (default: settings), migrated to the latest
    schema once per process: every command works on a store nobody set up."""
    url = url or get_settings().database_url
    with _migrate_lock:
        if url not in _migrated:
            migrate(url)
            _migrated.add(url)
    return engine_for(url)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (as opposed to a bad query)."""
    if isinstance(exc, StoreUnavailableError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        text = str(getattr(exc, "orig", exc)).lower()
        return any(
            s in text
            for s in (
                "connection refused",
                "could not connect",
                "connection failed",
                "could not translate host",
                "server closed the connection",
                "timeout expired",
                "unable to open database file",
                "name or service not known",
                "no route to host",
            )
        )
    return False


def describe_unavailable(url: str, exc: BaseException) -> str:
    """One line: which database (password hidden) and why it cannot be reached."""
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown by its host part only
        shown = url.split("@")[-1]
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    return f"database unavailable at {shown}: {first}"


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(bind=engine or get_engine(), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
