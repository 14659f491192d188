"""A real PostgreSQL for tests.

`TEST_POSTGRES_URL` (any SQLAlchemy/libpq URL to a database the tests may use) is taken when
it is set and answers. Otherwise a private throw-away cluster is made from the PostgreSQL
server binaries installed on this machine (Debian: /usr/lib/postgresql/<version>/bin),
listening on 127.0.0.1 on a free port with its sockets in its own temporary directory, and
removed at the end of the session. No binaries is a failure, never a skip: the PostgreSQL half
of the tests would otherwise silently not run.

Each test gets a database of its own (`PostgresServer.fresh_database_url()`).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

URL_VARIABLE = "TEST_POSTGRES_URL"
MISSING_BINARIES = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin; "
    f"run scripts/test.sh (it installs them), or set {URL_VARIABLE} to a PostgreSQL the tests may use"
)
START_TIMEOUT_S = 30


class PostgresServer:
    """A server the tests may create databases on."""

    def __init__(self, url: URL):
        self.url = url.set(drivername="postgresql+psycopg")
        self._numbers = itertools.count(1)

    def fresh_database_url(self) -> str:
        """The URL of an empty database nobody else uses."""
        name = f"nachtdienst_test_{os.getpid()}_{next(self._numbers)}"
        try:
            with psycopg.connect(_libpq(self.url), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
        except psycopg.errors.InsufficientPrivilege:
            # A server where we may not create databases: empty the one we were given instead.
            with psycopg.connect(_libpq(self.url), autocommit=True) as connection:
                connection.execute("DROP SCHEMA public CASCADE")
                connection.execute("CREATE SCHEMA public")
            return self.url.render_as_string(hide_password=False)
        return self.url.set(database=name).render_as_string(hide_password=False)


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _reachable(url: URL) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def server_binaries() -> Path | None:
    """The bin directory of the newest PostgreSQL installed, or None."""
    found = [Path(initdb).parent for initdb in glob("/usr/lib/postgresql/*/bin/initdb")]
    if not found:
        return None
    return max(found, key=lambda bin_dir: _version_key(bin_dir.parent.name))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowAwayCluster:
    """initdb + pg_ctl into a temporary directory; as the `postgres` user when we are root,
    because PostgreSQL refuses to run as root."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="nachtdienst-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.run_as = _unprivileged_user()

    def start(self) -> URL:
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} "
            # Durability is worth nothing in a database deleted after the tests.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "server.log"), "-w", "-t", str(START_TIMEOUT_S), "start")
        return URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=self.port, database="postgres")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.base)
        if result.returncode != 0:
            log = self.base / "server.log"
            server_log = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{server_log}")


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root, and there is no `postgres` user to run a throw-away PostgreSQL as")
    return "postgres"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    configured = os.environ.get(URL_VARIABLE)
    if configured and _reachable(make_url(configured)):
        yield PostgresServer(make_url(configured))
        return
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.fail(MISSING_BINARIES)
    cluster = ThrowAwayCluster(bin_dir)
    try:
        url = cluster.start()
        yield PostgresServer(url)
    finally:
        cluster.stop()
