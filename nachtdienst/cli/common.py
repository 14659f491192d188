"""What every command shares: the settings, built once, and one way to fail."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NoReturn
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session, sessionmaker

from core.db import SQLITE_BEGIN, DatabaseUnavailable, open_database
from core.settings import Settings, SettingsError, load_settings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line (or a few) to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@functools.cache
def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo("error: invalid settings:", err=True)
        for line in str(exc).splitlines():
            typer.echo(f"  {line}", err=True)
        sys.exit(2)


@contextmanager
def database() -> Iterator[Session]:
    """A session on the configured database; a database that is down is one clear line."""
    try:
        factory = open_database(settings())
    except DatabaseUnavailable as exc:
        fail(str(exc))
    engine = factory.kw["bind"]
    if engine.dialect.name == "sqlite":
        # A command reads, then writes, while the services write too: in WAL mode a deferred
        # transaction is refused at once ("database is locked") when a service commits in
        # between, whatever the busy timeout. Taking the write lock first waits instead.
        factory = sessionmaker(engine.execution_options(**{SQLITE_BEGIN: "immediate"}), expire_on_commit=False)
    with factory() as session:
        yield session


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def parse_moment(value: str, option: str) -> datetime:
    """An ISO 8601 moment from the command line. Without an offset it is wall-clock time in the
    configured zone (what a sysadmin in Amsterdam means by 2026-03-29T02:30); the result is UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} {value!r}: not an ISO 8601 date/time like 2026-12-24T18:00 or 2026-12-24T18:00+01:00")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings().timezone))
    return moment.astimezone(UTC)


def confirm(question: str, yes: bool) -> None:
    """Destructive commands ask first; `--yes` answers for scripts. No answer (no terminal) is no."""
    if yes:
        return
    try:
        agreed = typer.confirm(question, default=False)
    except typer.Abort:  # no terminal to answer on, or Ctrl-C/Ctrl-D
        agreed = False
    if not agreed:
        fail("aborted, nothing changed (pass --yes to skip this question)")


def current_user() -> str:
    """Who is at the keyboard, for audit entries when no engineer is named."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
