"""`nachtdienst engineers …`: who can be rung, and where."""

from __future__ import annotations

import re

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.models import Engineer, EngineerContact
from core.phone import InvalidPhoneNumber, normalise
from nachtdienst.cli import app
from nachtdienst.cli.common import database, fail, print_json, settings
from nachtdienst.engineer_endpoints import refresh_running_pbx

engineers_app = typer.Typer(help="Engineers and where they are rung.", no_args_is_help=True)
app.add_typer(engineers_app, name="engineers")

# sip:USER@HOST[:PORT][;params]: the form PJSIP dials; HOST a name, an IPv4 or an [IPv6].
SIP_URI = re.compile(
    r"^sips?:(?P<user>[A-Za-z0-9_.!~*'()%+-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?(?:;\S*)?$"
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


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
        print_json(rows)
        return
    table = Table("id", "name", "email", "contacts")
    for row in rows:
        table.add_row(str(row["id"]), row["name"], row["email"] or "", ", ".join(c["address"] for c in row["contacts"]))
    Console().print(table)
