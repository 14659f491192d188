"""`nachtdienst engineers|customers|calls …`: the data a line needs, from the command line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.calls import call_as_dict, list_calls
from core.db import DatabaseUnavailable, open_database
from core.models import STANDARD_SLA_NAME, Call, Customer, CustomerPhone, Engineer, EngineerContact, Sla
from core.phone import InvalidPhoneNumber, normalise
from nachtdienst.cli import app
from nachtdienst.cli.common import fail, settings
from nachtdienst.engineer_endpoints import refresh_running_pbx

engineers_app = typer.Typer(help="Engineers and where they are rung.", no_args_is_help=True)
customers_app = typer.Typer(help="Customers and the numbers they call from.", no_args_is_help=True)
calls_app = typer.Typer(help="Calls the line took.", no_args_is_help=True)
app.add_typer(engineers_app, name="engineers")
app.add_typer(customers_app, name="customers")
app.add_typer(calls_app, name="calls")

# sip:USER@HOST[:PORT][;params]: the form PJSIP dials; HOST a name, an IPv4 or an [IPv6].
SIP_URI = re.compile(
    r"^sips?:(?P<user>[A-Za-z0-9_.!~*'()%+-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?(?:;\S*)?$"
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@contextmanager
def database() -> Iterator[Session]:
    try:
        factory = open_database(settings())
    except DatabaseUnavailable as exc:
        fail(str(exc))
    with factory() as session:
        yield session


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _contact(value: str, index: int) -> tuple[str, str]:
    """('sip', uri) or ('phone', e164); a clear error names the bad value."""
    if value.lower().startswith(("sip:", "sips:")):
        match = SIP_URI.match(value)
        if not match or (match["port"] and not 1 <= int(match["port"]) <= 65535):
            fail(f"--contact {value!r}: not a SIP URI like sip:user@host:port")
        return "sip", value
    try:
        return "phone", normalise(value, settings().country, field=f"--contact #{index}")
    except InvalidPhoneNumber as exc:
        fail(f"{exc} (a contact is a sip: URI or a phone number)")


@engineers_app.command("add")
def engineers_add(
    name: str = typer.Argument(..., help="The engineer's name (unique)."),
    contact: list[str] = typer.Option(..., "--contact", help="sip:USER@HOST:PORT or a phone number; repeatable, rung in this order."),
    email: str | None = typer.Option(None, "--email", help="Where notifications go."),
) -> None:
    """Add an engineer with the contacts the line rings."""
    if not name.strip():
        fail("the engineer's name is empty")
    if email is not None and not EMAIL.fullmatch(email):
        fail(f"--email {email!r}: not an e-mail address")
    contacts = [_contact(value, i) for i, value in enumerate(contact, start=1)]
    with database() as session:
        if session.scalar(select(Engineer).where(Engineer.name == name)):
            fail(f"an engineer named {name!r} exists already")
        engineer = Engineer(name=name, email=email)
        engineer.contacts = [EngineerContact(kind=kind, address=address, position=i) for i, (kind, address) in enumerate(contacts, 1)]
        session.add(engineer)
        try:
            session.commit()
        except IntegrityError:
            fail(f"engineer {name!r}: a contact is given twice")
        engineer_id = engineer.id
    refreshed = refresh_running_pbx(settings())
    typer.echo(f"engineer {engineer_id} {name!r} added with {len(contacts)} contact(s)" + ("; PBX reloaded" if refreshed else ""))


@engineers_app.command("list")
def engineers_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Engineers and their contacts."""
    with database() as session:
        engineers = session.scalars(select(Engineer).order_by(Engineer.name)).all()
        rows = [
            {
                "id": e.id,
                "name": e.name,
                "email": e.email,
                "active": e.active,
                "contacts": [{"kind": c.kind, "address": c.address, "position": c.position} for c in e.contacts],
            }
            for e in engineers
        ]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "name", "email", "contacts")
    for row in rows:
        table.add_row(str(row["id"]), row["name"], row["email"] or "", ", ".join(c["address"] for c in row["contacts"]))
    Console().print(table)


@customers_app.command("add")
def customers_add(
    name: str = typer.Argument(..., help="The customer's name."),
    number: str = typer.Option(..., "--number", help="Customer number (unique; callers key it in)."),
    phone: list[str] = typer.Option(..., "--phone", help="A number the customer calls from; repeatable."),
    sla: str = typer.Option(STANDARD_SLA_NAME, "--sla", help="SLA name."),
) -> None:
    """Add a customer with the numbers they call from."""
    if not name.strip():
        fail("the customer's name is empty")
    if not number.strip():
        fail("--number is empty")
    numbers = []
    for i, value in enumerate(phone, start=1):
        try:
            numbers.append(normalise(value, settings().country, field=f"--phone #{i}"))
        except InvalidPhoneNumber as exc:
            fail(str(exc))
    with database() as session:
        agreement = session.scalar(select(Sla).where(Sla.name == sla))
        if agreement is None:
            known = ", ".join(session.scalars(select(Sla.name).order_by(Sla.name)))
            fail(f"--sla {sla!r}: no such SLA (known: {known})")
        if session.scalar(select(Customer).where(Customer.customer_number == number)):
            fail(f"--number {number!r}: another customer has this customer number")
        for e164 in numbers:
            owner = session.scalar(select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == e164))
            if owner:
                fail(f"--phone {e164}: already a number of customer {owner.customer_number} ({owner.name})")
        if len(set(numbers)) != len(numbers):
            fail("the same --phone is given twice")
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
        customers = session.scalars(select(Customer).order_by(Customer.name)).all()
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "customer_number": c.customer_number,
                "status": c.status,
                "sla": c.sla.name,
                "phones": [p.e164 for p in c.phones],
            }
            for c in customers
        ]
    if as_json:
        _print_json(rows)
        return
    table = Table("number", "name", "status", "SLA", "phones")
    for row in rows:
        table.add_row(row["customer_number"], row["name"], row["status"], row["sla"], ", ".join(row["phones"]))
    Console().print(table)


@calls_app.command("list")
def calls_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, newest first."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many calls."),
) -> None:
    """Calls, newest first."""
    with database() as session:
        calls = [call_as_dict(call) for call in list_calls(session, limit)]
    if as_json:
        _print_json(calls)
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
        _print_json(data)
        return
    typer.echo(f"call {data['id']} from {data['from_number'] or 'withheld'} to {data['to_number']}: {data['outcome'] or 'in progress'}")
    for step in data["steps"]:
        typer.echo(f"  {step['at']}  {step['step']}" + (f"  {step['detail']}" if step["detail"] else ""))
    for attempt in data["dial_attempts"]:
        typer.echo(f"  dialled {attempt['contact']} ({attempt['engineer']}): {attempt['result']}")
