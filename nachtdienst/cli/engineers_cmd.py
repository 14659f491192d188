"""`nachtdienst engineers …`: who can be rung, and where."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import roster_store
from core.models import DialAttempt, Engineer, EngineerContact, EscalationTarget, Incident, WorkLog
from core.phone import InvalidPhoneNumber, normalise
from nachtdienst.cli import app
from nachtdienst.cli.common import confirm, database, fail, print_json, settings
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
    table = Table("id", "name", "email", "active", "contacts")
    for row in rows:
        active = "yes" if row["active"] else "no"
        table.add_row(str(row["id"]), row["name"], row["email"] or "", active, ", ".join(c["address"] for c in row["contacts"]))
    Console().print(table)


def _named(session: Session, name: str) -> Engineer:
    engineer = session.scalar(select(Engineer).where(Engineer.name == name))
    if engineer is None:
        known = ", ".join(session.scalars(select(Engineer.name).order_by(Engineer.name))) or "none yet"
        fail(f"engineer {name!r}: no such engineer (known: {known})")
    return engineer


def _duties(session: Session, engineer: Engineer) -> list[str]:
    """What still puts `engineer` on duty: rotation turns, overrides not over yet."""
    duties = [f"{turn.role} turn {turn.position} in the rotation" for turn in roster_store.rotation_turns_of(session, engineer.id)]
    overrides = roster_store.overrides_of(session, engineer.id, ending_after=datetime.now(UTC))
    if overrides:
        duties.append(f"override(s) not over yet: {', '.join(str(o.id) for o in overrides)}")
    return duties


@engineers_app.command("edit")
def engineers_edit(
    name: str = typer.Argument(..., help="The engineer's current name."),
    new_name: str | None = typer.Option(None, "--name", help="A new name (unique)."),
    email: str | None = typer.Option(None, "--email", help="Where notifications go; '' clears it."),
    contact: list[str] | None = typer.Option(None, "--contact", help="Replaces all contacts; repeatable, rung in this order."),
    active: bool | None = typer.Option(None, "--active/--inactive", help="An inactive engineer is never on duty nor rung."),
) -> None:
    """Change an engineer's name, e-mail, contacts or whether they are active."""
    if new_name is None and email is None and not contact and active is None:
        fail("nothing to change: give --name, --email, --contact, --active or --inactive")
    if new_name is not None and not new_name.strip():
        fail("--name is empty")
    if email and not EMAIL.fullmatch(email):
        fail(f"--email {email!r}: not an e-mail address")
    contacts = [_contact(value, i) for i, value in enumerate(contact or [], start=1)]
    if len({address for _, address in contacts}) != len(contacts):
        fail("the same --contact is given twice")
    with database() as session:
        engineer = _named(session, name)
        if new_name is not None and new_name != name and session.scalar(select(Engineer).where(Engineer.name == new_name)):
            fail(f"--name {new_name!r}: an engineer with this name exists already")
        engineer.name = new_name if new_name is not None else engineer.name
        engineer.email = (email or None) if email is not None else engineer.email
        if contacts:
            # A contact that stays keeps its row, so its endpoint (engineer-<id>) and the
            # dial attempts that name it stay the same; only what changed is added or removed.
            kept = {row.address: row for row in engineer.contacts}
            engineer.contacts = [kept.pop(a, None) or EngineerContact(kind=k, address=a) for k, a in contacts]
            for position, row in enumerate(engineer.contacts, 1):
                row.position = position
        if active is not None:
            engineer.active = active
        duties = _duties(session, engineer) if active is False else []
        try:
            session.commit()
        except IntegrityError:
            # Someone took the name in the moment between our check and our write.
            fail(f"engineer {name!r}: the new name was taken just now, nothing changed")
        shown = engineer.name
    for duty in duties:
        typer.echo(f"warning: {shown} is inactive but has {duty}; those are gaps now (`nachtdienst roster check`)", err=True)
    refreshed = refresh_running_pbx(settings())
    typer.echo(f"engineer {shown!r} updated" + ("; PBX reloaded" if refreshed else ""))


@engineers_app.command("remove")
def engineers_remove(
    name: str = typer.Argument(..., help="The engineer's name."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
) -> None:
    """Remove an engineer who has no duties and no history; otherwise use `edit --inactive`."""
    with database() as session:
        engineer = _named(session, name)
        duties = _duties(session, engineer)
        if duties:
            fail(f"engineer {name!r} still has {'; '.join(duties)}: change the roster first")
        history = _history(session, engineer.id)
        if history:
            fail(f"engineer {name!r} appears in {history}; keep the record with `nachtdienst engineers edit {name!r} --inactive`")
        confirm(f"Remove engineer {name!r} and their {len(engineer.contacts)} contact(s)?", yes)
        # Past overrides say who was on duty; without the engineer they mean nothing.
        for override in roster_store.overrides_of(session, engineer.id):
            session.delete(override)
        session.delete(engineer)
        session.commit()
    refreshed = refresh_running_pbx(settings())
    typer.echo(f"engineer {name!r} removed" + ("; PBX reloaded" if refreshed else ""))


def _history(session: Session, engineer_id: int) -> str:
    """The records naming the engineer, as 'N dial attempt(s), …'; '' when none."""
    incident_roles = (Incident.acknowledged_by_id, Incident.first_contact_by_id, Incident.started_by_id, Incident.resolved_by_id, Incident.rejected_by_id)
    counts = {
        "dial attempt(s)": session.scalar(select(func.count()).where(DialAttempt.engineer_id == engineer_id)),
        "incident(s)": session.scalar(select(func.count()).where(or_(*(column == engineer_id for column in incident_roles)))),
        "work log(s)": session.scalar(select(func.count()).where(WorkLog.engineer_id == engineer_id)),
        "escalation step target(s)": session.scalar(select(func.count()).where(EscalationTarget.engineer_id == engineer_id)),
    }
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)
