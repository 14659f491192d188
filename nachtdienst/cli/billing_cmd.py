"""`nachtdienst billing …`: the monthly after-hours bill per customer.

What is billed and how is decided in core.billing (the rules) and core.billing_store (which
incidents, calls and work a month holds). Every export is re-read and verified before anyone
sees it: a bill that does not add up is an error, never printed.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core.billing import (
    CENT,
    CURRENCY,
    BillingMonth,
    MonthlyStatement,
    StatementDoesNotAddUp,
    export_csv,
    monthly_statements,
    parse_month,
    verify_statement,
)
from core.billing_store import BillingDataError, incident_lines, unidentified_incident_ids
from core.models import Customer
from nachtdienst.cli import app
from nachtdienst.cli.common import confirm, database, fail, print_json

billing_app = typer.Typer(help="The monthly after-hours bill per customer.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")

MONTH_OPTION = typer.Option(..., "--month", help="The month, YYYY-MM, by Europe/Amsterdam dates.")
CUSTOMER_OPTION = typer.Option(None, "--customer", help="Only this customer (customer number).")


@billing_app.command("export")
def billing_export(
    month: str = MONTH_OPTION,
    customer: str | None = CUSTOMER_OPTION,
    output: Path | None = typer.Option(None, "--output", help="Write the CSV to this file instead of stdout."),
    yes: bool = typer.Option(False, "--yes", help="Overwrite --output without asking."),
) -> None:
    """The month's bill as CSV: per customer one row per incident and a total row, one header.

    Customers are identified by customer number; amounts are EUR. A month with nothing to
    bill is the header alone."""
    billing_month = _month(month)
    if output is not None:
        _check_output(output, yes)
    with database() as session:
        statements, exported = _verified_statements(session, billing_month, customer)
    if output is None:
        typer.echo(exported, nl=False)
        return
    _write(output, exported)
    net = sum((statement.total_net for statement in statements), Decimal(0))
    incidents = sum(len(statement.lines) for statement in statements)
    typer.echo(
        f"{billing_month}: {incidents} incident(s) of {len(statements)} customer(s), net {CURRENCY} {_money(net)}, "
        f"written to {output}"
    )


@billing_app.command("summary")
def billing_summary(
    month: str = MONTH_OPTION,
    customer: str | None = CUSTOMER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (money as strings)."),
) -> None:
    """Per customer: incidents, billable minutes, gross and net; and what was not billed."""
    billing_month = _month(month)
    with database() as session:
        statements, _ = _verified_statements(session, billing_month, customer)
        numbers = [statement.customer for statement in statements]
        customers = {
            row.customer_number: row
            for row in session.scalars(
                select(Customer).options(joinedload(Customer.sla)).where(Customer.customer_number.in_(numbers))
            )
        }
        rows = [_summary_row(statement, customers[statement.customer]) for statement in statements]
        # Naming a customer asks about that customer; callers nobody could identify are not theirs.
        unidentified = unidentified_incident_ids(session, billing_month) if customer is None else []
    summary = {
        "month": str(billing_month),
        "currency": CURRENCY,
        "customers": rows,
        "total": {
            "incidents": sum(row["incidents"] for row in rows),
            "billable_minutes": sum(row["billable_minutes"] for row in rows),
            "gross": _money(sum((statement.total_gross for statement in statements), Decimal(0))),
            "net": _money(sum((statement.total_net for statement in statements), Decimal(0))),
        },
        "unidentified_incidents": unidentified,
    }
    if as_json:
        print_json(summary)
        return
    _print_summary(summary)


def _month(value: str) -> BillingMonth:
    try:
        return parse_month(value)
    except ValueError:
        fail(f"--month {value!r}: expected YYYY-MM with a month 01-12, e.g. 2026-11")


def _verified_statements(
    session: Session, month: BillingMonth, customer: str | None
) -> tuple[list[MonthlyStatement], str]:
    if customer is not None and session.scalar(select(Customer.id).where(Customer.customer_number == customer)) is None:
        fail(f"--customer {customer!r}: no customer has this customer number")
    try:
        lines = incident_lines(session, month, customer)
    except BillingDataError as unbillable:
        fail(f"cannot bill {month}: {unbillable}")
    statements = monthly_statements(lines, str(month))
    exported = export_csv(statements)
    try:
        verify_statement(exported)
    except StatementDoesNotAddUp as wrong:
        fail(f"the bill of {month} does not add up, so it is not given out: {wrong}")
    return statements, exported


def _check_output(output: Path, yes: bool) -> None:
    # Checked before the database is read, so a typo costs nothing.
    if output.is_dir():
        fail(f"--output {str(output)!r}: is a directory; name a file")
    if not output.parent.is_dir():
        fail(f"--output {str(output)!r}: directory {str(output.parent)!r} does not exist")
    if output.exists():
        confirm(f"{output} exists; overwrite it?", yes)


def _write(output: Path, text: str) -> None:
    # Through a temporary file and a rename: an interrupted write never leaves half a bill.
    partial = output.with_name(f".{output.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8", newline="")
        os.replace(partial, output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"--output {str(output)!r}: cannot write: {exc.strerror}")


def _summary_row(statement: MonthlyStatement, customer: Customer) -> dict[str, object]:
    return {
        "customer_number": customer.customer_number,
        "name": customer.name,
        "sla": customer.sla.name,
        "incidents": len(statement.lines),
        "billable_minutes": statement.total_billable_minutes,
        "gross": _money(statement.total_gross),
        "net": _money(statement.total_net),
    }


def _money(amount: Decimal) -> str:
    return format(amount.quantize(CENT), "f")


def _print_summary(summary: dict) -> None:
    month, rows, total = summary["month"], summary["customers"], summary["total"]
    if not rows:
        typer.echo(f"{month}: nothing to bill")
    else:
        table = Table("number", "customer", "SLA", "incidents", "minutes", "gross", "net", title=f"after-hours bill {month}, {CURRENCY}")
        for numeric in table.columns[3:]:
            numeric.justify = "right"
        for row in rows:
            table.add_row(
                row["customer_number"], row["name"], row["sla"], str(row["incidents"]), str(row["billable_minutes"]),
                row["gross"], row["net"],
            )  # fmt: skip
        table.add_section()
        table.add_row(
            "total", "", "", str(total["incidents"]), str(total["billable_minutes"]), total["gross"], total["net"]
        )
        Console().print(table)
    if unidentified := summary["unidentified_incidents"]:
        typer.echo(
            f"not billed: {len(unidentified)} incident(s) of unidentified callers "
            f"({', '.join(map(str, unidentified))}): no customer to bill"
        )
