"""`nachtdienst customers …`: who may call, from which numbers, under which SLA."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.customer_import import CustomerRow, ImportProblem, check_against_existing, parse_customer_csv
from core.models import STANDARD_SLA_NAME, Call, Customer, CustomerPhone, Incident, Sla
from core.phone import InvalidPhoneNumber, normalise
from nachtdienst.cli import app
from nachtdienst.cli.common import confirm, database, fail, print_json, settings
from nachtdienst.cli.sla_cmd import describe_sla, sla_as_dict

customers_app = typer.Typer(help="Customers and the numbers they call from.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")

# The database's column sizes (core.models): a longer value is refused with a clear line.
NAME_LENGTH = 200
NUMBER_LENGTH = 50
OPEN_INCIDENT_STATUSES = ("new", "acknowledged", "in_progress")


def _sla_named(session: Session, name: str) -> Sla:
    agreement = session.scalar(select(Sla).where(Sla.name == name))
    if agreement is None:
        known = ", ".join(session.scalars(select(Sla.name).order_by(Sla.name)))
        fail(f"--sla {name!r}: no such SLA (known: {known})")
    return agreement


def _customer_numbered(session: Session, number: str) -> Customer:
    customer = session.scalar(select(Customer).where(Customer.customer_number == number.strip()))
    if customer is None:
        fail(f"no customer with number {number!r} (see `nachtdienst customers list`)")
    return customer


def _normalised(values: list[str], option: str) -> list[str]:
    numbers = []
    for i, value in enumerate(values, start=1):
        try:
            numbers.append(normalise(value, settings().country, field=f"{option} #{i}"))
        except InvalidPhoneNumber as exc:
            fail(str(exc))
    if len(set(numbers)) != len(numbers):
        fail(f"the same {option} is given twice")
    return numbers


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        fail("the customer's name is empty")
    if len(name) > NAME_LENGTH:
        fail(f"the customer's name is longer than {NAME_LENGTH} characters")
    return name


def _refuse_phones_of_others(session: Session, numbers: list[str], option: str, customer: Customer | None = None) -> None:
    for e164 in numbers:
        owner = session.scalar(select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == e164))
        if owner is not None and owner is not customer:
            fail(f"{option} {e164}: already a number of customer {owner.customer_number} ({owner.name})")


def _in_order_added(phones: list[CustomerPhone]) -> list[CustomerPhone]:
    # The relationship has no order of its own; PostgreSQL may return rows in any order.
    return sorted(phones, key=lambda phone: phone.id)


def _customer_dict(customer: Customer) -> dict[str, Any]:
    # The first six keys are what `customers list --json` has always printed; scripts rely on them.
    return {
        "id": customer.id,
        "name": customer.name,
        "customer_number": customer.customer_number,
        "status": customer.status,
        "sla": customer.sla.name,
        "phones": [phone.e164 for phone in _in_order_added(customer.phones)],
        "notes": customer.notes,
    }


@customers_app.command("add")
def customers_add(
    name: str = typer.Argument(..., help="The customer's name."),
    number: str = typer.Option(..., "--number", help="Customer number (unique; callers key it in)."),
    phone: list[str] = typer.Option(..., "--phone", help="A number the customer calls from; repeatable."),
    sla: str = typer.Option(STANDARD_SLA_NAME, "--sla", help="SLA name."),
) -> None:
    """Add a customer with the numbers they call from."""
    name = _check_name(name)
    number = number.strip()
    if not number:
        fail("--number is empty")
    if len(number) > NUMBER_LENGTH:
        fail(f"--number {number[:20]!r}…: longer than {NUMBER_LENGTH} characters")
    numbers = _normalised(phone, "--phone")
    with database() as session:
        agreement = _sla_named(session, sla)
        if session.scalar(select(Customer).where(Customer.customer_number == number)):
            fail(f"--number {number!r}: another customer has this customer number")
        _refuse_phones_of_others(session, numbers, "--phone")
        customer = Customer(name=name, customer_number=number, sla=agreement)
        customer.phones = [CustomerPhone(e164=e164) for e164 in numbers]
        session.add(customer)
        try:
            session.commit()
        except IntegrityError:
            # Someone added the same number in the moment between our check and our write.
            fail(f"customer {number!r}: the customer number or a phone number was taken just now")
        typer.echo(f"customer {customer.customer_number} {name!r} added with {len(numbers)} phone number(s), SLA {sla}")


@customers_app.command("list")
def customers_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Customers, their numbers and SLA."""
    with database() as session:
        rows = [_customer_dict(c) for c in session.scalars(select(Customer).order_by(Customer.name))]
    if as_json:
        print_json(rows)
        return
    table = Table("number", "name", "status", "SLA", "phones")
    for row in rows:
        table.add_row(row["customer_number"], row["name"], row["status"], row["sla"], ", ".join(row["phones"]))
    Console().print(table)


@customers_app.command("edit")
def customers_edit(
    number: str = typer.Argument(..., help="The customer's number."),
    name: str | None = typer.Option(None, "--name", help="New name."),
    sla: str | None = typer.Option(None, "--sla", help="Another SLA, by name."),
    add_phone: list[str] | None = typer.Option(None, "--add-phone", help="A number the customer calls from; repeatable."),
    remove_phone: list[str] | None = typer.Option(None, "--remove-phone", help="A number to forget; repeatable."),
    notes: str | None = typer.Option(None, "--notes", help="Free text; --notes '' clears it."),
) -> None:
    """Change a customer's name, SLA, phone numbers or notes."""
    if name is None and sla is None and not add_phone and not remove_phone and notes is None:
        fail("nothing to change: give --name, --sla, --add-phone, --remove-phone or --notes")
    new_name = _check_name(name) if name is not None else None
    adding = _normalised(add_phone or [], "--add-phone")
    removing = _normalised(remove_phone or [], "--remove-phone")
    with database() as session:
        customer = _customer_numbered(session, number)
        agreement = _sla_named(session, sla) if sla is not None else None
        have = {phone.e164: phone for phone in customer.phones}
        for e164 in removing:
            if e164 not in have:
                fail(f"--remove-phone {e164}: not a number of customer {customer.customer_number} "
                     f"(it has: {', '.join(have) or 'none'})")
        for e164 in adding:
            if e164 in have and e164 not in removing:
                fail(f"--add-phone {e164}: already a number of customer {customer.customer_number}")
        _refuse_phones_of_others(session, adding, "--add-phone", customer)

        # Forget first and flush: a number removed and added again must not meet itself in
        # the unique index.
        customer.phones = [phone for phone in customer.phones if phone.e164 not in removing]
        session.flush()
        customer.phones.extend(CustomerPhone(e164=e164) for e164 in adding)
        if new_name is not None:
            customer.name = new_name
        if agreement is not None:
            customer.sla = agreement
        if notes is not None:
            customer.notes = notes.strip() or None
        try:
            session.commit()
        except IntegrityError:
            fail(f"customer {customer.customer_number}: a phone number was taken by another customer just now")
        phones = ", ".join(phone.e164 for phone in _in_order_added(customer.phones)) or "no phone numbers"
        typer.echo(f"customer {customer.customer_number} {customer.name!r} changed: SLA {customer.sla.name}, {phones}")


def _history(session: Session, customer: Customer) -> tuple[int, int, int]:
    """(calls, incidents, open incidents) of the customer."""
    calls = session.scalar(select(func.count()).select_from(Call).where(Call.customer_id == customer.id)) or 0
    incidents = dict(session.execute(
        select(Incident.status, func.count()).where(Incident.customer_id == customer.id).group_by(Incident.status)
    ).all())
    return calls, sum(incidents.values()), sum(incidents.get(status, 0) for status in OPEN_INCIDENT_STATUSES)


@customers_app.command("show")
def customers_show(
    number: str = typer.Argument(..., help="The customer's number."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One customer: numbers, SLA terms, notes and how much history it has."""
    with database() as session:
        customer = _customer_numbered(session, number)
        calls, incidents, open_incidents = _history(session, customer)
        data = {
            **_customer_dict(customer),
            "created_at": customer.created_at.astimezone(UTC).isoformat(),
            "sla_terms": sla_as_dict(customer.sla, session.scalar(
                select(func.count()).select_from(Customer).where(Customer.sla_id == customer.sla_id)) or 0),
            "calls": calls,
            "incidents": incidents,
            "open_incidents": open_incidents,
        }
        terms = describe_sla(customer.sla)
    if as_json:
        print_json(data)
        return
    zone = ZoneInfo(settings().timezone)
    typer.echo(f"customer {data['customer_number']}: {data['name']} ({data['status']})")
    typer.echo(f"SLA:     {data['sla']}: {terms}")
    typer.echo(f"phones:  {', '.join(data['phones']) or 'none'}")
    typer.echo(f"notes:   {data['notes'] or ''}")
    typer.echo(f"history: {calls} call(s), {incidents} incident(s), {open_incidents} open")
    typer.echo(f"added:   {customer.created_at.astimezone(zone):%Y-%m-%d %H:%M %Z}")


@customers_app.command("remove")
def customers_remove(
    number: str = typer.Argument(..., help="The customer's number."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Remove a customer who never called: one with calls or incidents is kept for their history."""
    with database() as session:
        customer = _customer_numbered(session, number)
        calls, incidents, _ = _history(session, customer)
        if calls or incidents:
            fail(f"customer {customer.customer_number} ({customer.name}) has {calls} call(s) and {incidents} incident(s); "
                 "removing it would lose their history and billing. Keep it, e.g. "
                 f"`nachtdienst customers edit {customer.customer_number} --notes 'contract ended'`")
        confirm(f"Remove customer {customer.customer_number} ({customer.name}) and its {len(customer.phones)} "
                "phone number(s)?", yes)
        shown = f"{customer.customer_number} {customer.name!r}"
        session.delete(customer)
        session.commit()
    typer.echo(f"customer {shown} removed")


def _write_import(session: Session, rows: tuple[CustomerRow, ...], slas: dict[str, Sla]) -> tuple[int, int]:
    """Add or replace the customers of checked rows; (added, updated). Does not commit."""
    existing = {customer.customer_number: customer for customer in session.scalars(
        select(Customer).where(Customer.customer_number.in_([row.customer_number for row in rows])))}
    # Numbers leave their old customers before any customer gets them: a number moving
    # between two customers in one file must never be in the unique index twice.
    for row in rows:
        if customer := existing.get(row.customer_number):
            customer.phones = [phone for phone in customer.phones if phone.e164 in row.phones]
    session.flush()
    for row in rows:
        customer = existing.get(row.customer_number)
        if customer is None:
            customer = Customer(customer_number=row.customer_number, phones=[])
            session.add(customer)
        customer.name = row.name
        customer.sla = slas[row.sla or STANDARD_SLA_NAME]
        if row.notes_given:
            customer.notes = row.notes
        kept = {phone.e164 for phone in customer.phones}
        customer.phones.extend(CustomerPhone(e164=e164) for e164 in row.phones if e164 not in kept)
    session.flush()
    updated = sum(row.customer_number in existing for row in rows)
    return len(rows) - updated, updated


@customers_app.command("import")
def customers_import(
    file: Path = typer.Argument(..., help="CSV with a header: customer_number,name,phones,sla[,notes]; ';' between fields works too."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and say what would change; write nothing."),
    update: bool = typer.Option(False, "--update", help="Replace name, phones, SLA and notes of customers that exist."),
) -> None:
    """Add customers from a CSV file: all of them, or none when any line has a problem.

    Phones are separated by ';' or '|' (quote the field when ';' also separates the fields);
    an empty sla is the standard SLA. Without a notes column, --update keeps the notes."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror}")
    parsed = parse_customer_csv(data, settings().country)
    with database() as session:
        slas = {agreement.name: agreement for agreement in session.scalars(select(Sla))}
        problems = list(parsed.problems) + check_against_existing(
            parsed.rows,
            existing_numbers=dict(session.execute(select(Customer.customer_number, Customer.name)).all()),
            phone_owners=dict(session.execute(
                select(CustomerPhone.e164, Customer.customer_number).join(Customer, CustomerPhone.customer_id == Customer.id)
            ).all()),
            sla_names=slas,
            update=update,
        )
        if problems:
            _report(file, problems)
        try:
            # A dry run writes too, and rolls back: the database's own checks then run as well.
            added, updated = _write_import(session, parsed.rows, slas)
            if dry_run:
                session.rollback()
                typer.echo(f"dry run: {added} would be added, {updated} updated; nothing written")
                return
            session.commit()
        except IntegrityError:
            fail(f"{file}: a customer number or phone number was taken by someone else just now; nothing imported")
    typer.echo(f"{added} added, {updated} updated")


def _report(file: Path, problems: list[ImportProblem]) -> None:
    for problem in sorted(problems, key=lambda problem: problem.line):
        typer.echo(f"error: {file}: {problem}", err=True)
    fail(f"{file}: {len(problems)} problem(s); nothing imported")
