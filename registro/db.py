"""Engine, sessions and schema migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(url: str, *, busy_wait: bool = True) -> Engine:
    """``busy_wait=False``: a SQLite statement that finds the database locked fails at
    once instead of sleeping up to 30 s in the driver (for reads on an event loop)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30 if busy_wait else 0})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine(url: str, *, busy_wait: bool = True) -> Engine:
    """This process's engine for ``url``. Keyed by pid: a Celery pool process forked
    from a worker whose refresh thread holds pooled connections must open its own, not
    share the parent's sockets and pool locks."""
    return _engine(url, os.getpid(), busy_wait)


@lru_cache(maxsize=8)
def _engine(url: str, pid: int, busy_wait: bool) -> Engine:
    return make_engine(url, busy_wait=busy_wait)


def session_factory(url: str, *, busy_wait: bool = True) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url, busy_wait=busy_wait), expire_on_commit=False)


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" (raised by the driver, or wrapped by SQLAlchemy)."""
    return "database is locked" in str(exc)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error."""
    with session_factory(url)() as session, session.begin():
        yield session


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to date (safe to call at every start)."""
    from alembic import command

    parsed = make_url(url)  # fail early on a malformed URL
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
