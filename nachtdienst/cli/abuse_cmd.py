"""`nachtdienst abuse …`: customers warned or blocked for calls that were not critical, and lifting blocks.

Incidents rejected as not critical count against the customer for 365 days; the thresholds are
`abuse.warn_at` and `abuse.block_at` (standard 1 and 3). A lift (audited, with a reason) sets the
customer back to active: only rejections after it count from then on.

`abuse list --json`: an array, blocked first, then warned, then by count and name, each

    {"customer": {"id", "name", "customer_number"}, "status": "active|warned|blocked" (as of now),
     "stored_status": the status the line acts on (differs only until the next reassessment),
     "counted_rejections": int, "oldest_counted_at": ISO|null, "oldest_expires_at": ISO|null,
     "status_until": ISO|null (when the status falls if nothing new happens),
     "last_lift": {"at": ISO, "by": str, "reason": str}|null}
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from core import abuse_store, incident_store
from core.db import begin_write
from core.abuse import ACTIVE, BLOCKED, NothingToLift, customer_status
from core.incidents import ReasonRequired
from core.models import Customer
from nachtdienst.cli import app
from nachtdienst.cli.common import confirm, current_user, database, fail, print_json, settings
from nachtdienst.cli.incidents_cmd import local, plural

abuse_app = typer.Typer(help="Customers warned or blocked for calls that were not critical.", no_args_is_help=True)
app.add_typer(abuse_app, name="abuse")


def now() -> datetime:
    """The current moment; one place, so tests can move the clock."""
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@abuse_app.command("list")
def abuse_list(
    everyone: bool = typer.Option(False, "--all", help="Every customer, also those with nothing counted."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array (shape in the module docs)."),
) -> None:
    """Customers with rejections counted in the rolling year: status, until when, last lift."""
    with database() as session:
        lines = abuse_store.abuse_lines(session, now(), thresholds=abuse_store.thresholds_from(settings()),
                                        include_clean=everyone)  # fmt: skip
        rows = [
            {
                "customer": incident_store.customer_as_dict(customer),
                "status": str(line.status),
                "stored_status": customer.status,
                "counted_rejections": line.counted,
                "oldest_counted_at": _iso(line.oldest_counted_at),
                "oldest_expires_at": _iso(line.oldest_expires_at),
                "status_until": _iso(line.status_until),
                "last_lift": (
                    {"at": _iso(line.last_lift.at), "by": str(line.last_lift.by), "reason": line.last_lift.reason}
                    if line.last_lift else None
                ),
            }
            for customer, line in lines
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no customer has rejections counted in the last 12 months")
        return
    table = Table("customer", "name", "status", "counted", "until", "last lift")
    for row in rows:
        lift = row["last_lift"]
        status = row["status"] + (f" (stored: {row['stored_status']})" if row["stored_status"] != row["status"] else "")
        until = local(datetime.fromisoformat(row["status_until"])) if row["status_until"] else ""
        lifted = f"{local(datetime.fromisoformat(lift['at']))} by {lift['by']}: {lift['reason']}" if lift else ""
        table.add_row(row["customer"]["customer_number"], row["customer"]["name"], status, str(row["counted_rejections"]), until, lifted)
    Console().print(table)


@abuse_app.command("lift")
def abuse_lift(
    customer_number: str = typer.Argument(..., help="The customer's number."),
    reason: str = typer.Option(..., "--reason", help="Why the warning or block is lifted (kept in the audit trail)."),
    by: str | None = typer.Option(None, "--by", help="Who lifts it (default: the OS user)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Lift a customer's warning or block: back to active; only later rejections count again."""
    if not reason.strip():
        fail("--reason is empty (say why the block is lifted)")
    actor = (by if by is not None else current_user()).strip()
    if not actor:
        fail("--by is empty")
    moment = now()
    thresholds = abuse_store.thresholds_from(settings())
    with database() as session:
        customer = session.scalar(select(Customer).where(Customer.customer_number == customer_number))
        if customer is None:
            fail(f"no customer with customer number {customer_number!r}")
        history = abuse_store.customer_history(session, customer)
        if customer_status(history.rejections, moment, thresholds, history.lifted) is ACTIVE and customer.status == ACTIVE:
            fail(f"customer {customer_number} is active; there is nothing to lift")
        what = "blocked: after-hours support refused" if customer.status == BLOCKED else customer.status
        # End the read before asking: the question must not hold the database while it waits.
        session.rollback()
        confirm(f"Lift customer {customer_number} ({customer.name}), now {what}, back to active?", yes)
        begin_write(session)
        customer = session.scalar(select(Customer).where(Customer.customer_number == customer_number).with_for_update())
        if customer is None:
            fail(f"customer {customer_number!r} was removed meanwhile; nothing changed")
        try:
            result = abuse_store.lift_block(session, customer, by=actor, reason=reason, at=now(), thresholds=thresholds)
        except (NothingToLift, ReasonRequired) as exc:
            fail(str(exc))
        session.commit()
    if result.lifted:
        typer.echo(f"customer {customer_number} is now {result.after} (lifted by {actor}: {reason.strip()}; "
                   f"{plural(result.counted_before, 'rejection')} no longer {'counts' if result.counted_before == 1 else 'count'})")  # fmt: skip
    else:
        typer.echo(f"customer {customer_number} is now {result.after}: its rejections have left the last 12 months, "
                   "nothing was left to lift")  # fmt: skip
