"""`nachtdienst pbx start|stop|status|render`: the line's own Asterisk."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import SQLAlchemyError

from core.db import DatabaseUnavailable
from core.secrets import ari_password
from nachtdienst.cli import app
from nachtdienst.cli.common import fail, settings
from nachtdienst.engineer_endpoints import engineer_endpoints
from pbx import control
from pbx.ari_probe import AriUnreachable
from pbx.call_path import call_path
from pbx.installation import PbxError
from pbx.prompts import PromptError, render_prompts
from pbx.render import AsteriskDirs, EngineerContact, is_engineer_endpoint, render, write_config

pbx_app = typer.Typer(help="Run and inspect the line's Asterisk.", no_args_is_help=True)
app.add_typer(pbx_app, name="pbx")


def _log(message: str) -> None:
    typer.echo(message, err=True)


@pbx_app.command("start")
def start() -> None:
    """Start Asterisk (building its Debian root once if the host has none) and wait for ARI."""
    current = settings()
    try:
        state = control.start(current, engineer_endpoints(current), log=_log)
    except PbxError as exc:
        fail(str(exc))
    typer.echo(f"PBX running (pid {state.pid}), ARI at {current.ari_url}")


@pbx_app.command("stop")
def stop() -> None:
    """Stop Asterisk and unmount its root's /proc."""
    if control.stop(settings(), log=_log):
        typer.echo("PBX stopped")
    else:
        typer.echo("PBX was not running")


@pbx_app.command("status")
def status() -> None:
    """Asterisk's version, ARI reachability and endpoints; exits 1 when the PBX is not usable."""
    current = settings()
    result = control.status(current)
    typer.echo(f"Asterisk {result.version or 'unknown'}")
    typer.echo("ARI: ok" if result.ari_error is None else f"ARI: unreachable: {result.ari_error}")
    if result.pid:
        typer.echo(f"PBX: running, pid {result.pid}, {result.where}")
    elif result.ari_error is None:
        typer.echo("PBX: running (not started by this data directory)")
    else:
        typer.echo("PBX: not running")
    if result.usable:
        _print_call_path(current)
    if result.endpoints:
        for line in endpoint_lines(result.endpoints, _contacts_by_endpoint(current)):
            typer.echo(line)
    if not result.usable:
        raise typer.Exit(1)


def _contacts_by_endpoint(current) -> dict[str, EngineerContact] | None:
    try:
        return {contact.endpoint: contact for contact in engineer_endpoints(current)}
    except (DatabaseUnavailable, SQLAlchemyError) as exc:
        typer.echo(f"engineers' contacts: unknown ({exc})")
        return None


def endpoint_lines(endpoints: list[dict], contacts: dict[str, EngineerContact] | None) -> list[str]:
    """One line per endpoint, an engineer's with the engineer and the contact. Asterisk keeps
    a removed PJSIP endpoint in its list (offline) until it restarts: a contact taken off the
    roster is left out rather than shown as a phone that is down. Without the database
    (`contacts` None) every endpoint is listed as Asterisk reports it."""
    lines = []
    for endpoint in endpoints:
        resource = endpoint.get("resource") or ""
        line = f"endpoint {endpoint.get('technology')}/{resource}: {endpoint.get('state')}"
        if contacts is not None and is_engineer_endpoint(resource):
            contact = contacts.get(resource)
            if contact is None:
                continue
            line += f" ({contact.engineer_name}, {contact.uri})"
        lines.append(line)
    return lines


def _print_call_path(current) -> None:
    try:
        path = call_path(current)
    except AriUnreachable as exc:
        typer.echo(f"calls: unknown ({exc})")
        return
    names = {"ari": "the ARI app", "agi": "the AGI path (fallback)", "static": "the static path (fallback)"}
    typer.echo(f"calls: {names[path.now]}: {path.why}")
    if path.last_fallback_at is not None:
        local = path.last_fallback_at.astimezone(ZoneInfo(current.timezone))
        typer.echo(f"last fallback call: {names[path.last_fallback or 'agi']} at {local:%Y-%m-%d %H:%M:%S %Z}")


@pbx_app.command("render")
def render_config(
    etc_dir: Path = typer.Option(..., "--etc-dir", help="Write the configuration here (e.g. /etc/asterisk)."),
    with_prompts: bool = typer.Option(True, "--prompts/--no-prompts", help="Also make the spoken prompts."),
    prompts_dir: Path | None = typer.Option(None, "--prompts-dir", help="Where the prompts go (default: the layout's)."),
) -> None:
    """Render the configuration for an Asterisk with Debian's standard layout (the image), and
    make its prompts (under /var/lib/asterisk/sounds/nachtdienst unless --prompts-dir)."""
    current = settings()
    dirs = AsteriskDirs.standard()
    files = render(current, dirs, ari_password(current), engineer_endpoints(current))
    try:
        write_config(files, etc_dir)
    except OSError as exc:
        fail(f"cannot write {etc_dir}: {exc.strerror}")
    typer.echo(f"wrote {len(files)} files to {etc_dir}")
    if not with_prompts:
        return
    target = prompts_dir or dirs.prompts
    try:
        report = render_prompts(current, target, current.resolved_data_dir / "prompts", log=typer.echo)
    except (PromptError, OSError) as exc:
        fail(f"prompts: {exc}")
    typer.echo(f"prompts in {target}: {report.generated} made, {report.recorded} from recordings, {report.unchanged} unchanged")


@pbx_app.command("dialplan")
def dialplan() -> None:
    """Print the dialplan the running Asterisk has loaded (every context)."""
    try:
        typer.echo(control.cli_command(settings(), "dialplan show"), nl=False)
    except PbxError as exc:
        fail(str(exc))
