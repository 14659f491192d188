"""`nachtdienst up` (the whole line, supervised) and `nachtdienst service NAME` (one service)."""

from __future__ import annotations

import typer

from core.logging import configure_logging
from nachtdienst.cli import app
from nachtdienst.cli.common import fail, settings
from nachtdienst.engineer_endpoints import engineer_endpoints
from nachtdienst.services import SERVICES, runner
from pbx.installation import PbxError


@app.command("up")
def up(
    without: list[str] = typer.Option(
        [], "--without", metavar="SERVICE",
        help=f"A service not to run here (it runs elsewhere, e.g. on another host); repeatable. One of: {', '.join(SERVICES)}.",
    ),
) -> None:  # fmt: skip
    """Run the PBX and all services in the foreground until Ctrl-C."""
    from nachtdienst.supervisor import Supervisor

    unknown = sorted(set(without) - set(SERVICES))
    if unknown:
        fail(f"--without {', '.join(unknown)}: no such service; known: {', '.join(SERVICES)}")
    current = settings()
    configure_logging(current)
    try:
        code = Supervisor(current, [name for name in SERVICES if name not in without], engineer_endpoints(current)).run()
    except PbxError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command("service")
def service(name: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}.")) -> None:
    """Run one service in the foreground (the supervisor and containers use this)."""
    try:
        run = runner(name)
    except KeyError as exc:
        fail(str(exc.args[0]))
    current = settings()
    configure_logging(current)
    run(current)
