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
def up() -> None:
    """Run the PBX and all services in the foreground until Ctrl-C."""
    from nachtdienst.supervisor import Supervisor

    current = settings()
    configure_logging(current)
    try:
        code = Supervisor(current, list(SERVICES), engineer_endpoints(current)).run()
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
