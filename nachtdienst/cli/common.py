"""What every command shares: the settings, built once, and one way to fail."""

from __future__ import annotations

import functools
import sys
from typing import NoReturn

import typer

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
