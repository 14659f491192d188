"""Integration fixtures: the same tests on SQLite (a file in a temporary data directory) and on
a real PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import os
from pathlib import Path

import json

import pytest
from typer.testing import CliRunner

from core.settings import ENV_PREFIX, Settings
from nachtdienst.cli import app
from nachtdienst.cli.common import settings as cli_settings
from tests.pg import postgres_server  # noqa: F401  (a fixture, used by name)


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own NACHTDIENST_* variables must not point a test at their database."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    """An empty database of each kind, one test at a time."""
    if request.param == "sqlite":
        return f"sqlite:///{data_dir / 'nachtdienst.db'}"
    return request.getfixturevalue("postgres_server").fresh_database_url()


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url)


@pytest.fixture
def nachtdienst(monkeypatch, settings: Settings):
    """Runs the command in this process, configured through the environment as a sysadmin would."""
    monkeypatch.setenv("NACHTDIENST_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NACHTDIENST_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        """`input` is what the user types (answers to confirmation questions)."""
        cli_settings.cache_clear()  # the command builds its settings once per process
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    yield run
    cli_settings.cache_clear()


def json_of(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
