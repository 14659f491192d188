"""`nachtdienst sla …`: service level agreements."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import Customer, Sla
from nachtdienst.cli import app
from nachtdienst.cli.common import database, fail, print_json

sla_app = typer.Typer(help="Service level agreements: rates, surcharges, targets, billing increments.", no_args_is_help=True)
app.add_typer(sla_app, name="sla")

CENT = Decimal("0.01")
# The columns' sizes: Numeric(10, 2) for the rate, Numeric(5, 2) for the surcharge.
MAX_RATE = Decimal("99999999.99")
MAX_SURCHARGE = Decimal("999.99")
DECIMAL_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
NAME_LENGTH = 100


def parse_amount(value: str, option: str, maximum: Decimal, unit: str) -> Decimal:
    """A non-negative Decimal with at most two decimals, or one clear line naming the value.
    Only digits and a point: "95,50" could mean 95.50 or 9550, so it is refused, not guessed."""
    text = value.strip()
    if not DECIMAL_NUMBER.fullmatch(text):
        fail(f"{option} {value!r}: not {unit} like 95 or 95.50 (digits, a point for cents)")
    amount = Decimal(text)
    if amount < 0:
        fail(f"{option} {value!r}: must not be negative")
    if amount != amount.quantize(CENT):
        fail(f"{option} {value!r}: more than 2 decimals")
    if amount > maximum:
        fail(f"{option} {value!r}: more than {maximum}")
    return amount.quantize(CENT)


def sla_as_dict(sla: Sla, customers: int) -> dict[str, Any]:
    return {
        "id": sla.id,
        "name": sla.name,
        "hourly_rate": str(Decimal(sla.hourly_rate).quantize(CENT)),
        "currency": sla.currency,
        "after_hours_surcharge_pct": str(Decimal(sla.after_hours_surcharge_pct).quantize(CENT)),
        "after_hours_included": sla.after_hours_included,
        "response_target_minutes": sla.response_target_minutes,
        "resolution_target_minutes": sla.resolution_target_minutes,
        "billing_increment_minutes": sla.billing_increment_minutes,
        "billing_minimum_minutes": sla.billing_minimum_minutes,
        "customers": customers,
    }


def _find(session: Session, name: str) -> Sla:
    sla = session.scalar(select(Sla).where(Sla.name == name))
    if sla is None:
        known = ", ".join(session.scalars(select(Sla.name).order_by(Sla.name)))
        fail(f"no SLA named {name!r} (known: {known})")
    return sla


def describe_sla(sla: Sla) -> str:
    response = f"response {sla.response_target_minutes} min, " if sla.response_target_minutes else ""
    included = "after hours included" if sla.after_hours_included else "after hours not included"
    return (f"EUR {Decimal(sla.hourly_rate):.2f}/h + {Decimal(sla.after_hours_surcharge_pct):.2f}% after hours, {included}, "
            f"{response}resolution {sla.resolution_target_minutes} min, per {sla.billing_increment_minutes} min, "
            f"minimum {sla.billing_minimum_minutes} min")


# Shared by add and edit; the defaults of `add` are the standard SLA's.
RATE_HELP = "Hourly rate in EUR, e.g. 95 or 112.50."
SURCHARGE_HELP = "After-hours surcharge in percent."
AFTER_HOURS_HELP = "Whether after-hours support is included in the agreement."
RESPONSE_HELP = "Target minutes to respond (acknowledge); none when left out."
RESOLUTION_HELP = "Target minutes to resolve."
INCREMENT_HELP = "Billing increment in minutes: every started increment is billed."
MINIMUM_HELP = "Minimum billed minutes per incident."


@sla_app.command("add")
def sla_add(
    name: str = typer.Argument(..., help="The SLA's name (unique)."),
    rate: str = typer.Option(..., "--rate", help=RATE_HELP),
    surcharge: str = typer.Option("100", "--surcharge", help=SURCHARGE_HELP),
    after_hours: bool = typer.Option(True, "--after-hours/--no-after-hours", help=AFTER_HOURS_HELP),
    response_minutes: int | None = typer.Option(None, "--response-minutes", min=1, help=RESPONSE_HELP),
    resolution_minutes: int = typer.Option(240, "--resolution-minutes", min=1, help=RESOLUTION_HELP),
    increment: int = typer.Option(15, "--increment", min=1, help=INCREMENT_HELP),
    minimum: int = typer.Option(0, "--minimum", min=0, help=MINIMUM_HELP),
) -> None:
    """Add an SLA."""
    name = name.strip()
    if not name:
        fail("the SLA's name is empty")
    if len(name) > NAME_LENGTH:
        fail(f"SLA name {name[:20]!r}…: longer than {NAME_LENGTH} characters")
    sla = Sla(
        name=name,
        hourly_rate=parse_amount(rate, "--rate", MAX_RATE, "an amount in euros"),
        after_hours_surcharge_pct=parse_amount(surcharge, "--surcharge", MAX_SURCHARGE, "a percentage"),
        after_hours_included=after_hours,
        response_target_minutes=response_minutes,
        resolution_target_minutes=resolution_minutes,
        billing_increment_minutes=increment,
        billing_minimum_minutes=minimum,
    )
    with database() as session:
        if session.scalar(select(Sla).where(Sla.name == name)):
            fail(f"an SLA named {name!r} exists already (change it with `sla edit`)")
        session.add(sla)
        try:
            session.commit()
        except IntegrityError:
            fail(f"an SLA named {name!r} was added just now")
        typer.echo(f"SLA {name!r} added: {describe_sla(sla)}")


@sla_app.command("edit")
def sla_edit(
    name: str = typer.Argument(..., help="The SLA to change."),
    rate: str | None = typer.Option(None, "--rate", help=RATE_HELP),
    surcharge: str | None = typer.Option(None, "--surcharge", help=SURCHARGE_HELP),
    after_hours: bool | None = typer.Option(None, "--after-hours/--no-after-hours", help=AFTER_HOURS_HELP, show_default=False),
    response_minutes: int | None = typer.Option(None, "--response-minutes", min=1, help="Target minutes to respond (acknowledge)."),
    no_response_target: bool = typer.Option(False, "--no-response-target", help="Drop the response target."),
    resolution_minutes: int | None = typer.Option(None, "--resolution-minutes", min=1, help=RESOLUTION_HELP),
    increment: int | None = typer.Option(None, "--increment", min=1, help=INCREMENT_HELP),
    minimum: int | None = typer.Option(None, "--minimum", min=0, help=MINIMUM_HELP),
) -> None:
    """Change an SLA; options left out keep their value. Customers on it get the new terms."""
    if response_minutes is not None and no_response_target:
        fail("--response-minutes and --no-response-target contradict each other")
    changes: dict[str, Any] = {}
    if rate is not None:
        changes["hourly_rate"] = parse_amount(rate, "--rate", MAX_RATE, "an amount in euros")
    if surcharge is not None:
        changes["after_hours_surcharge_pct"] = parse_amount(surcharge, "--surcharge", MAX_SURCHARGE, "a percentage")
    if after_hours is not None:
        changes["after_hours_included"] = after_hours
    if response_minutes is not None or no_response_target:
        changes["response_target_minutes"] = response_minutes
    if resolution_minutes is not None:
        changes["resolution_target_minutes"] = resolution_minutes
    if increment is not None:
        changes["billing_increment_minutes"] = increment
    if minimum is not None:
        changes["billing_minimum_minutes"] = minimum
    if not changes:
        fail("nothing to change: give at least one option (see `nachtdienst sla edit --help`)")
    with database() as session:
        sla = _find(session, name)
        for field, value in changes.items():
            setattr(sla, field, value)
        session.commit()
        typer.echo(f"SLA {name!r} changed: {describe_sla(sla)}")


@sla_app.command("list")
def sla_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """SLAs and how many customers each has."""
    with database() as session:
        counts = dict(session.execute(select(Customer.sla_id, func.count()).group_by(Customer.sla_id)).all())
        rows = [sla_as_dict(sla, counts.get(sla.id, 0)) for sla in session.scalars(select(Sla).order_by(Sla.name))]
    if as_json:
        print_json(rows)
        return
    # Narrow enough for an 80-column terminal: no edges, one space between columns.
    table = Table("name", "EUR/h", "after hours", "respond", "resolve", "per", "minimum", "used by",
                  box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for row in rows:
        respond = row["response_target_minutes"]
        table.add_row(
            row["name"],
            row["hourly_rate"],
            f"{'yes' if row['after_hours_included'] else 'no'} +{Decimal(row['after_hours_surcharge_pct']).normalize():f}%",
            f"{respond} min" if respond else "-",
            f"{row['resolution_target_minutes']} min",
            f"{row['billing_increment_minutes']} min",
            f"{row['billing_minimum_minutes']} min",
            str(row["customers"]),
        )
    Console().print(table)
