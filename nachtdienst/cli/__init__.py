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
from nachtdienst.cli import config_cmd, data_cmds, pbx_cmd, up_cmd  # noqa: E402,F401


def main() -> None:
    app()
