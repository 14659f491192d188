"""The database: engine, migrations applied at start, sessions.

SQLite (WAL) under the data directory is the embedded default; PostgreSQL (psycopg 3) by URL
in production. Every service calls `open_database(settings)` once at start; sessions it
hands out never expire objects on commit, so a service may keep using what it just wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_CONNECT_TIMEOUT_S = 10
# Any fixed number: PostgreSQL processes starting together queue on this lock for migrating.
MIGRATION_LOCK_KEY = 0x6E616368  # "nach"
# Execution option: how a SQLite transaction begins ("deferred" or "immediate").
SQLITE_BEGIN = "nachtdienst_sqlite_begin"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; one line naming it (never its password)."""


def database_url(raw: str) -> URL:
    """The URL as SQLAlchemy should use it: plain `postgresql://` means psycopg 3, the driver
    this project ships (SQLAlchemy's default would be psycopg2, which is not installed)."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def shown_url(url: URL | str) -> str:
    """The URL for messages: backend, user, host, database; no password, no driver."""
    url = make_url(url) if isinstance(url, str) else url
    bare = URL.create(url.get_backend_name(), url.username, None, url.host, url.port, url.database)
    return bare.render_as_string(hide_password=False)


def make_engine(settings: Settings) -> Engine:
    """An engine for the configured database. SQLite gets its data directory created and, on
    every connection, WAL, foreign keys and a busy timeout."""
    url = database_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # A host that does not answer must give an error, not a service hanging at start.
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    # pre_ping: a PostgreSQL restart costs the next query nothing instead of an error.
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL, settings: Settings) -> Engine:
    directories = [settings.resolved_data_dir]
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        directories.append(Path(url.database).expanduser().parent)
    for directory in directories:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot open {shown_url(url)}: cannot create {directory}: {exc.strerror}") from None
    engine = create_engine(url)
    event.listen(engine, "connect", _prepare_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _prepare_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 begins transactions on its own, late, and never around DDL, so two
    # processes migrating at once would both create tables. We turn that off and begin every
    # transaction ourselves (_begin_sqlite_transaction).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Busy timeout first: switching to WAL needs a lock another process may hold just now.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL lets the CLI and the dashboard read while a service writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite ignores foreign keys unless told, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    # Deferred by default, so a long reader never blocks the services' writes; "immediate"
    # takes the write lock (waiting up to the busy timeout) before reading, for a
    # read-then-write that must not fail halfway, such as migrating or leasing a job.
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "deferred")
    connection.exec_driver_sql(f"BEGIN {mode.upper()}")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini is needed in the working directory.
    With `connection`, migrations run on it (inside its transaction)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already.

    Safe on every start and when several processes start at once: all revisions run in one
    transaction that first takes a lock (SQLite's write lock, PostgreSQL's advisory lock), so
    a second process waits and then finds nothing to do. Raises DatabaseUnavailable when the
    database cannot be reached."""
    connection = connect(engine)
    with connection:
        if engine.dialect.name == "sqlite":
            connection.execution_options(**{SQLITE_BEGIN: "immediate"})
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            command.upgrade(alembic_config(connection), "head")


def connect(engine: Engine) -> Connection:
    """A connection, or DatabaseUnavailable with one line saying which database and why."""
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot connect to {shown_url(engine.url)}: {_reason(exc, engine.url)}") from None


def _reason(exc: DBAPIError, url: URL) -> str:
    message = str(exc.orig if exc.orig is not None else exc).strip()
    first_line = message.splitlines()[0].strip() if message else type(exc.orig).__name__
    # psycopg says `connection failed: connection to server at "h", port 5432 failed: Connection
    # refused`; the host and port are in the URL we show already.
    reason = first_line.rsplit(" failed: ", 1)[-1].strip()
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason


def open_database(settings: Settings) -> sessionmaker[Session]:
    """Engine, migrations, and the session factory: the one call a service makes at start.
    Raises DatabaseUnavailable when the database cannot be reached."""
    engine = make_engine(settings)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def in_session(sessions: sessionmaker[Session], function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(session, *args, **kwargs)` in a session of its own (for a worker thread)."""
    with sessions() as session:
        return function(session, *args, **kwargs)


def begin_write(session: Session) -> None:
    """Begin the session's transaction as a writer. On SQLite that takes the write lock before
    the first read (BEGIN IMMEDIATE, waiting up to the busy timeout): a deferred transaction
    that reads and then writes is refused at once in WAL mode when another writer came between
    ("database is locked"), whatever the timeout. PostgreSQL needs nothing here. Only
    effective as the transaction's first statement; later it changes nothing."""
    if not session.in_transaction() and session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={SQLITE_BEGIN: "immediate"})
