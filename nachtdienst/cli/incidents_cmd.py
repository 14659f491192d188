"""`nachtdienst incidents …`: triage, the SLA clock and logged work.

Incidents are opened by the call flow (`core.incident_store.open_incident`); engineers move them
on from here. Every command that changes one takes `--by ENGINEER` (a name from `engineers
list`) and most take `--at` to back-date what the engineer did on the phone: not in the future,
not before the incident. Each change is audited (`incidents show ID` lists the trail).

`incidents list --json` is a stable interface: a JSON array, newest first, each element

    {"id": int, "status": "new|acknowledged|in_progress|resolved|rejected_not_critical",
     "summary": str|null, "customer": {"id", "name", "customer_number"}|null, "call_id": int|null,
     "created_at", "acknowledged_at", "first_contact_at", "started_at", "resolved_at", "rejected_at":
         ISO 8601 UTC with offset, or null,
     "acknowledged_by", "first_contact_by", "started_by", "resolved_by", "rejected_by":
         engineer names, or null,
     "rejection_reason": str|null, "fault_ours": bool,
     "billing_adjustment": {"pct": "100.00", "reason": str}|null, "work_minutes": int,
     "sla": {"applies": bool (false once rejected), "resolution_target_minutes": int,
             "response_target_minutes": int|null, "resolution_due_at": ISO, "response_due_at": ISO|null,
             "breached_response": bool, "breached_resolution": bool (an open incident past due is),
             "time_to_acknowledge_seconds", "time_to_first_contact_seconds",
             "time_to_resolution_seconds": int once reached, else null},
     "voicemails": int (how many)}

`incidents show ID --json` is the same object with "voicemails" a list ({"id", "call_id",
"recorded_at", "duration_seconds", "path", "partial", "called_back_at", "transcript": {"text",
"language", "no_speech", "low_confidence", "problem", "pages", "urgency", "callback_number"}|null}),
plus "work_logs" ([{"id", "engineer", "started_at", "minutes", "note"}]) and "audit"
([{"at", "actor", "action", "detail"}], oldest first).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import incident_store as store
from core.db import begin_write
from core.abuse_store import StatusChange, thresholds_from
from core.incidents import IncidentStatus, InvalidTransition, SlaClock
from core.models import Customer, Engineer, Incident
from core.reminders import CannotRemind, remind_now
from nachtdienst.cli import app
from nachtdienst.cli.common import database, fail, parse_moment, print_json, settings

incidents_app = typer.Typer(help="Incidents: triage, the SLA clock and logged work.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")

BY_HELP = "The engineer who did it (a name from `nachtdienst engineers list`)."
AT_HELP = "When it happened, ISO 8601 (no offset: local time); default now. Not in the future, not before the incident."


def now() -> datetime:
    """The current moment; one place, so tests can move the clock."""
    return datetime.now(UTC)


def local(moment: datetime | None, *, seconds: bool = False) -> str:
    """A moment as people here read it: in the configured zone, to the minute (or second)."""
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(settings().timezone)).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h" + (f" {minutes % 60:02d} min" if minutes % 60 else "")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --- shared lookups and error translation --------------------------------------------------


@contextmanager
def writing(at: str | None = None) -> Iterator[Session]:
    """A session whose transaction is begun as a writer, with the rules' refusals turned into one
    line each (`at`: what `--at` said, to name it); the caller commits, a failure changes nothing."""
    with database() as session:
        begin_write(session)
        try:
            yield session
        except InvalidTransition as exc:
            fail(str(exc))
        except store.BadMoment as exc:
            refuse_bad_moment(exc, at)
        except store.BadWork as exc:
            fail(f"--minutes: {exc}")  # the command checks first; this is the store's word on it


def engineer_named(session: Session, name: str, option: str = "--by") -> Engineer:
    engineer = store.find_engineer(session, name)
    if engineer is None:
        known = ", ".join(session.scalars(select(Engineer.name).order_by(Engineer.name))) or "none yet"
        fail(f"{option} {name!r}: no engineer of that name (known: {known})")
    return engineer


def incident_numbered(session: Session, incident_id: int) -> Incident:
    incident = store.load_incident(session, incident_id, for_update=True)
    if incident is None:
        fail(f"no incident with id {incident_id}")
    return incident


def moment_option(value: str | None, current: datetime, option: str = "--at") -> datetime:
    return parse_moment(value, option) if value is not None else current


def refuse_bad_moment(exc: store.BadMoment, value: str | None, option: str = "--at") -> NoReturn:
    shown = f"{option} {value!r}" if value is not None else f"{option} (default, {local(exc.moment, seconds=True)})"
    fail(f"{shown}: {exc.problem} ({local(exc.bound, seconds=True)} {settings().timezone})")


def customer_line(change: StatusChange) -> str:
    number = change.customer.customer_number
    verb = "is now" if change.changed else "stays"
    return f"customer {number} {verb} {change.after} ({plural(change.counted, 'rejection')} in the last 12 months)"


def sla_cell(clock: SlaClock) -> str:
    """The SLA in a table cell: breached, met, or when resolution is due."""
    if not clock.sla_applies:
        return "-"
    if clock.breached_response or clock.breached_resolution:
        return "BREACHED"
    return "met" if clock.to_resolution.reached_at is not None else f"due {local(clock.due_at)}"


def sla_verdict(clock: SlaClock) -> str:
    if not clock.sla_applies:
        return "no SLA (rejected as not critical)"
    target = duration(clock.targets.resolution_minutes * 60)
    if clock.to_resolution.reached_at is not None:
        took = duration(clock.to_resolution.elapsed.total_seconds())
        late = "BREACHED" if clock.breached_resolution else "within"
        return f"resolved in {took}, {late} the {target} target"
    state = "BREACHED" if clock.breached_resolution else "due"
    return f"resolution {state} {local(clock.due_at)} ({target} target)"


# --- reading --------------------------------------------------------------------------------


@incidents_app.command("list")
def incidents_list(
    status: str | None = typer.Option(None, "--status", help="Only this status: " + ", ".join(IncidentStatus) + "."),
    open_only: bool = typer.Option(False, "--open", help="Only open ones (neither resolved nor rejected)."),
    customer_number: str | None = typer.Option(None, "--customer", help="Only this customer's (customer number)."),
    breached: bool = typer.Option(False, "--breached", help="Only those whose SLA response or resolution target is breached."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, newest first (shape in the module docs)."),
) -> None:
    """Incidents, newest first, with their SLA clock.

    \f
    The JSON element is `core.incident_store.incident_as_dict`; its shape is documented at the
    top of this module and is a stable interface.
    """
    if status is not None and status not in set(IncidentStatus):
        fail(f"--status {status!r}: not a status (one of: {', '.join(IncidentStatus)})")
    moment = now()
    with database() as session:
        customer = None
        if customer_number is not None:
            customer = session.scalar(select(Customer).where(Customer.customer_number == customer_number))
            if customer is None:
                fail(f"--customer {customer_number!r}: no customer with this customer number")
        rows = store.list_incidents(session, moment, status=status, open_only=open_only, customer=customer,
                                    breached=breached, limit=limit)  # fmt: skip
        names = store.engineer_names(session)
        data = [(store.incident_as_dict(incident, clock, names), clock) for incident, clock in rows]
    if as_json:
        print_json([element for element, _ in data])
        return
    if not data:
        typer.echo("no incidents" + (" match" if status or open_only or customer_number or breached else ""))
        return
    table = Table("id", "opened", "customer", "status", "summary", "SLA")
    for element, clock in data:
        customer_cell = f"{element['customer']['customer_number']} {element['customer']['name']}" if element["customer"] else "unknown"
        summary = element["summary"] or ""
        opened = local(datetime.fromisoformat(element["created_at"]))
        short = summary if len(summary) <= 50 else summary[:49] + "…"
        table.add_row(str(element["id"]), opened, customer_cell, element["status"], short, sla_cell(clock))
    Console().print(table)


@incidents_app.command("show")
def incidents_show(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: the list element plus voicemails, work logs and audit trail."),
) -> None:
    """One incident: its times, SLA clock, voicemails with transcripts, logged work and audit trail."""
    with database() as session:
        incident = store.load_incident(session, incident_id)
        if incident is None:
            fail(f"no incident with id {incident_id}")
        clock = store.incident_sla_clock(session, incident, now())
        data = store.incident_detail(incident, clock, store.engineer_names(session), store.audit_trail(session, incident))
    if as_json:
        print_json(data)
        return
    customer = data["customer"]
    who = f"customer {customer['customer_number']} {customer['name']}" if customer else "unknown customer"
    typer.echo(f"incident {data['id']} ({who}): {data['status']}" + (f" — {data['summary']}" if data["summary"] else ""))
    for label, key in [("opened", "created"), ("acknowledged", "acknowledged"), ("first contact", "first_contact"),
                       ("work started", "started"), ("resolved", "resolved"), ("rejected", "rejected")]:  # fmt: skip
        if data[f"{key}_at"]:
            by = data.get(f"{key}_by")
            typer.echo(f"  {label:<14}{local(datetime.fromisoformat(data[f'{key}_at']))}" + (f"  by {by}" if by else ""))
    if data["rejection_reason"]:
        typer.echo(f"  not critical because: {data['rejection_reason']}")
    typer.echo(f"  SLA: {sla_verdict(clock)}")
    if clock.breached_response:
        typer.echo(f"  first contact BREACHED the {duration(clock.targets.response_minutes * 60)} response target")
    if data["billing_adjustment"]:
        adjustment = data["billing_adjustment"]
        typer.echo(f"  fault ours: billed less {adjustment['pct']}% ({adjustment['reason']})")
    for voicemail in data["voicemails"]:
        seconds = voicemail["duration_seconds"]
        typer.echo(f"  voicemail {voicemail['path']}" + (f" ({seconds:.0f} s)" if seconds is not None else ""))
        transcript = voicemail["transcript"]
        if transcript:
            typer.echo(f"    \"{transcript['text']}\"")
            for field in ("problem", "urgency", "callback_number"):
                if transcript[field]:
                    typer.echo(f"    {field.replace('_', ' ')}: {transcript[field]}")
            if transcript["pages"]:
                typer.echo(f"    pages: {', '.join(map(str, transcript['pages']))}")
    for work in data["work_logs"]:
        typer.echo(f"  work {work['minutes']} min by {work['engineer']} from {local(datetime.fromisoformat(work['started_at']))}"
                   + (f": {work['note']}" if work["note"] else ""))  # fmt: skip
    typer.echo("  audit:")
    for entry in data["audit"]:
        typer.echo(f"    {local(datetime.fromisoformat(entry['at']))}  {entry['actor']}  {entry['action']}")


# --- transitions ----------------------------------------------------------------------------


@incidents_app.command("ack")
def incidents_ack(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
) -> None:
    """Acknowledge a new incident: an engineer has seen it (stops the time-to-acknowledge clock)."""
    current = now()
    moment = moment_option(at, current)
    with writing(at) as session:
        engineer = engineer_named(session, by)
        incident = incident_numbered(session, incident_id)
        store.transition_incident(session, incident, IncidentStatus.ACKNOWLEDGED, by=engineer, at=moment, now=current)
        session.commit()
    typer.echo(f"incident {incident_id} acknowledged by {engineer.name} at {local(moment)}")


@incidents_app.command("remind")
def incidents_remind(incident_id: int = typer.Argument(..., help="The incident's id.")) -> None:
    """Have the PBX call the engineer on duty about a new incident now ("new critical voicemail
    from …; 1 = hear it, 2 = call the customer back"), as it does by itself once the incident
    has gone unacknowledged for notify.unacknowledged_call_minutes. The ARI app makes the call
    within seconds."""
    current = now()
    with writing() as session:
        incident = incident_numbered(session, incident_id)
        try:
            remind_now(session, incident, at=current)
        except CannotRemind as exc:
            fail(str(exc))
        session.commit()
    typer.echo(f"incident {incident_id}: the engineer on duty will be called now (the ARI app must be running)")


@incidents_app.command("triage")
def incidents_triage(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    critical: bool | None = typer.Option(None, "--critical/--not-critical", help="Critical: work starts. Not critical: rejected; counts against the customer."),
    reason: str | None = typer.Option(None, "--reason", help="Why (required for --not-critical)."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
) -> None:
    """Decide whether an incident is critical. Critical: in progress (a new one is acknowledged
    at the same moment). Not critical: rejected, and the customer's abuse status is reassessed."""
    if critical is None:
        fail("say --critical or --not-critical")
    if not critical and (reason is None or not reason.strip()):
        fail("--reason is required with --not-critical (why it is not critical)")
    current = now()
    moment = moment_option(at, current)
    with writing(at) as session:
        engineer = engineer_named(session, by)
        incident = incident_numbered(session, incident_id)
        was = incident.status
        outcome = store.triage(session, incident, critical=critical, by=engineer, at=moment, now=current,
                               reason=reason, thresholds=thresholds_from(settings()))  # fmt: skip
        session.commit()
        if critical:
            steps = "acknowledged and in progress" if was == IncidentStatus.NEW else "in progress"
            typer.echo(f"incident {incident_id} is critical: {steps} ({engineer.name}, {local(moment)})")
            return
        typer.echo(f"incident {incident_id} rejected as not critical by {engineer.name}: {reason.strip()}")
        if outcome.customer_status is None:
            typer.echo("no customer is known for this incident; the rejection counts against nobody")
        else:
            typer.echo(customer_line(outcome.customer_status))


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    note: str | None = typer.Option(None, "--note", help="What was done (kept in the audit trail)."),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
) -> None:
    """Resolve an acknowledged or in-progress incident (stops the resolution clock)."""
    current = now()
    moment = moment_option(at, current)
    with writing(at) as session:
        engineer = engineer_named(session, by)
        incident = incident_numbered(session, incident_id)
        store.transition_incident(session, incident, IncidentStatus.RESOLVED, by=engineer, at=moment, now=current, note=note)
        session.commit()
        clock = store.incident_sla_clock(session, incident, current)
    typer.echo(f"incident {incident_id} resolved by {engineer.name} at {local(moment)}: {sla_verdict(clock)}")


@incidents_app.command("contact")
def incidents_contact(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
) -> None:
    """Record the first contact with the customer (a call-back); a later one keeps the first."""
    current = now()
    moment = moment_option(at, current)
    with writing(at) as session:
        engineer = engineer_named(session, by)
        incident = incident_numbered(session, incident_id)
        recorded = store.record_first_contact(session, incident, by=engineer, at=moment, now=current)
        session.commit()
        if recorded is None:
            first_by = session.get(Engineer, incident.first_contact_by_id)
            typer.echo(f"incident {incident_id} had its first contact already at {local(incident.first_contact_at)}"
                       f" ({first_by.name if first_by else 'unknown'}); kept")  # fmt: skip
            return
    typer.echo(f"incident {incident_id}: first contact with the customer by {engineer.name} at {local(moment)}")


# --- work and billing -----------------------------------------------------------------------


@incidents_app.command("log-work")
def incidents_log_work(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    minutes: int = typer.Option(..., "--minutes", help=f"Minutes worked outside a call, 1 to {store.MAX_WORK_MINUTES}."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    at: str | None = typer.Option(None, "--at", help="When the work started, ISO 8601 (no offset: local time); "
                                  "default: MINUTES ago, or when the incident was opened if that is later."),  # fmt: skip
    note: str | None = typer.Option(None, "--note", help="What was done."),
) -> None:
    """Log time worked on an incident outside a call (billable after-hours work)."""
    if not 0 < minutes <= store.MAX_WORK_MINUTES:
        fail(f"--minutes {minutes}: must be a whole number from 1 to {store.MAX_WORK_MINUTES}")
    current = now()
    started = parse_moment(at, "--at") if at is not None else None
    with writing(at) as session:
        engineer = engineer_named(session, by)
        incident = incident_numbered(session, incident_id)
        if started is None:
            started = max(current - timedelta(minutes=minutes), incident.created_at)
        store.check_moment(incident, started, current)  # a start in the future or too early names --at
        if started + timedelta(minutes=minutes) > current:
            fail(f"--minutes {minutes}: from {local(started)} the work would end at "
                 f"{local(started + timedelta(minutes=minutes))}, after now")  # fmt: skip
        store.log_work(session, incident, engineer, minutes, started, note, now=current)
        session.commit()
    typer.echo(f"logged {minutes} min on incident {incident_id} for {engineer.name}, from {local(started)}")


@incidents_app.command("adjust")
def incidents_adjust(
    incident_id: int = typer.Argument(..., help="The incident's id."),
    waive: bool = typer.Option(False, "--waive", help="The fault was ours: bill nothing for this incident."),
    discount: str | None = typer.Option(None, "--discount", metavar="PCT", help="The fault was ours: bill PCT percent less (0 < PCT <= 100)."),
    clear: bool = typer.Option(False, "--clear", help="Undo an adjustment made in error."),
    reason: str | None = typer.Option(None, "--reason", help="Why (required; the customer may ask)."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
) -> None:
    """Mark the fault as ours and waive or discount the incident's billed line (audited)."""
    if [waive, discount is not None, clear].count(True) != 1:
        fail("say one of --waive, --discount PCT or --clear")
    if reason is None or not reason.strip():
        fail("--reason is required (why the fault was ours, or why the adjustment is undone)")
    pct = None
    if discount is not None:
        try:
            pct = store.adjustment_pct(discount.rstrip("%"))
        except store.BadAdjustment as exc:
            fail(f"--discount {discount!r}: {exc}")
    current = now()
    with writing() as session:
        engineer = engineer_named(session, by)
        incident = incident_numbered(session, incident_id)
        try:
            if clear:
                store.clear_billing_adjustment(session, incident, reason, engineer, at=current)
            else:
                store.set_billing_adjustment(session, incident, pct if pct is not None else 100, reason, engineer, at=current)
        except store.BadAdjustment as exc:
            fail(str(exc))
        session.commit()
    if clear:
        typer.echo(f"incident {incident_id}: billing adjustment cleared by {engineer.name}")
    elif pct is None:
        typer.echo(f"incident {incident_id}: fault ours, line waived (100%) by {engineer.name}: {reason.strip()}")
    else:
        typer.echo(f"incident {incident_id}: fault ours, line discounted {pct}% by {engineer.name}: {reason.strip()}")
