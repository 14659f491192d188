"""The `nachtdienst` command: one typer app, each group of commands in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="nachtdienst",
    help="Self-hosted after-hours line for critical production outages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# The modules register their commands on `app` when imported.
from nachtdienst.cli import (  # noqa: E402,F401
    abuse_cmd,
    billing_cmd,
    calls_cmd,
    config_cmd,
    customers_cmd,
    engineers_cmd,
    hours_cmd,
    incidents_cmd,
    pbx_cmd,
    roster_cmd,
    sla_cmd,
    up_cmd,
)


def main() -> None:
    app()
