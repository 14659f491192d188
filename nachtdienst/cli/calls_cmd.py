"""`nachtdienst calls …`: what the line did with each call."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from core.calls import call_as_dict, list_calls
from core.models import Call
from nachtdienst.cli import app
from nachtdienst.cli.common import database, fail, print_json

calls_app = typer.Typer(help="Calls the line took.", no_args_is_help=True)
app.add_typer(calls_app, name="calls")


@calls_app.command("list")
def calls_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, newest first."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many calls."),
) -> None:
    """Calls, newest first."""
    with database() as session:
        calls = [call_as_dict(call) for call in list_calls(session, limit)]
    if as_json:
        print_json(calls)
        return
    table = Table("id", "started (UTC)", "from", "customer", "outcome", "last step")
    for call in calls:
        table.add_row(
            str(call["id"]),
            call["started_at"][:19],
            call["from_number"] or "withheld",
            call["customer"]["name"] if call["customer"] else "",
            call["outcome"] or "in progress",
            call["steps"][-1]["step"] if call["steps"] else "",
        )
    Console().print(table)


@calls_app.command("show")
def calls_show(call_id: int = typer.Argument(..., help="The call's id."), as_json: bool = typer.Option(False, "--json")) -> None:
    """One call with every step and dial attempt."""
    with database() as session:
        call = session.get(Call, call_id)
        if call is None:
            fail(f"no call with id {call_id}")
        data = call_as_dict(call)
    if as_json:
        print_json(data)
        return
    typer.echo(f"call {data['id']} from {data['from_number'] or 'withheld'} to {data['to_number']}: {data['outcome'] or 'in progress'}")
    for step in data["steps"]:
        typer.echo(f"  {step['at']}  {step['step']}" + (f"  {step['detail']}" if step["detail"] else ""))
    for attempt in data["dial_attempts"]:
        typer.echo(f"  dialled {attempt['contact']} ({attempt['engineer']}): {attempt['result']}")
