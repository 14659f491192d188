"""`nachtdienst config show`: the effective settings, secrets masked."""

from __future__ import annotations

import json

import typer

from core.settings import masked, reference_rows
from nachtdienst.cli import app
from nachtdienst.cli.common import settings

config_app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective settings (environment + nachtdienst.toml + defaults)."""
    data = masked(settings())
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in _flatten(data):
        typer.echo(f"{key} = {json.dumps(value)}")


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@config_app.command("reference")
def reference() -> None:
    """Print every setting as a Markdown table (the README's settings reference)."""
    typer.echo("| setting | variable | default | meaning |")
    typer.echo("|---|---|---|---|")
    for key, variable, default, meaning in reference_rows():
        typer.echo(f"| `{key}` | `{variable}` | `{default}` | {meaning} |")
