"""The database: engine, migrations applied at start, sessions.

SQLite (WAL) under the data directory is the embedded default; PostgreSQL by URL in
production. Every service calls `open_database(settings)` once at start.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used; the message names it (without password)."""


def _url(raw: str) -> URL:
    url = make_url(raw)
    # Plain postgresql:// means the driver we ship.
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def make_engine(settings: Settings) -> Engine:
    """An engine for the configured database; SQLite gets WAL, foreign keys and a busy timeout."""
    url = _url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while a service writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(f"cannot connect to {_shown(engine.url)}: {reason}") from None
    command.upgrade(alembic_config(engine), "head")


def open_database(settings: Settings) -> sessionmaker[Session]:
    """Engine + migrations + a session factory: what a service needs at start."""
    engine = make_engine(settings)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
