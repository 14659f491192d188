"""`nachtdienst customers …`: who may call, from which numbers, under which SLA."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.models import STANDARD_SLA_NAME, Customer, CustomerPhone, Sla
from core.phone import InvalidPhoneNumber, normalise
from nachtdienst.cli import app
from nachtdienst.cli.common import database, fail, print_json, settings

customers_app = typer.Typer(help="Customers and the numbers they call from.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


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
        print_json(rows)
        return
    table = Table("number", "name", "status", "SLA", "phones")
    for row in rows:
        table.add_row(row["customer_number"], row["name"], row["status"], row["sla"], ", ".join(row["phones"]))
    Console().print(table)
