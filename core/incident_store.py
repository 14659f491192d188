"""Incidents over the database: opened by the call flow, moved through triage by engineers.

The rules are `core.incidents` (lifecycle, first contact, SLA clock) and `core.abuse` (what a
rejection does to the customer); this module loads an incident's state, asks the rules, and
writes back every field they stamped plus one `AuditEntry` per change.

Decisions a caller may rely on:
- Nothing here commits. One call's changes (the incident's fields, its audit entries and, on a
  rejection, the customer's new status with its audit entry) go into the caller's transaction,
  so they commit or roll back as one. Call `begin_write` first when the transaction reads
  before it writes (every transition does): two engineers acknowledging at once then queue, and
  the second is refused cleanly instead of overwriting the first.
- Moments are passed in, never read from the clock. Functions that take `now` refuse a moment
  after it (`BadMoment`): an engineer may back-date what they did on the phone, not foretell it.
  Nothing is placed before the incident was opened.
- Engineers act as `Engineer` rows: the incident keeps their ids, the audit trail their names
  (with the id in the detail), so the trail reads well and survives a rename.
- An incident's SLA is its customer's; an incident without a customer (a withheld number that
  left a voicemail) runs against the standard SLA.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from core.abuse import SYSTEM_ACTOR, AbuseThresholds, STANDARD_THRESHOLDS
from core.abuse_store import StatusChange, reassess_customer, store_audit

from core.incidents import (
    FINAL_STATUSES,
    AuditRecord,
    IncidentState,
    IncidentStatus,
    ReasonRequired,
    SlaClock,
    SlaTargets,
    check_aware,
    record_first_contact as first_contact_rule,
    sla_clock,
    transition,
)
from core.models import STANDARD_SLA_NAME, AuditEntry, Call, Customer, Engineer, Incident, Sla, Voicemail, WorkLog

INCIDENT_ENTITY = "incident"
CENT = Decimal("0.01")
MAX_WORK_MINUTES = 24 * 60  # one log covers at most a day: 6000 minutes is a typo, not a night's work


class BadMoment(ValueError):
    """A moment an action cannot have happened at: in the future, or before the incident."""

    def __init__(self, moment: datetime, problem: str, bound: datetime) -> None:
        self.moment, self.problem, self.bound = moment, problem, bound
        super().__init__(f"{moment.astimezone(UTC).isoformat()} {problem} ({bound.astimezone(UTC).isoformat()})")


class BadWork(ValueError):
    """Logged work that cannot be right (no minutes, more than a day, ending in the future)."""


class BadAdjustment(ValueError):
    """A billing adjustment outside 0 < pct <= 100, or with more than two decimals."""


def check_moment(incident: Incident, at: datetime, now: datetime | None) -> None:
    """Refuse `at` after `now` or before the incident was opened (raises `BadMoment`)."""
    check_aware("at", at)
    if now is not None and at > now:
        raise BadMoment(at, "is in the future", now)
    if at < incident.created_at:
        raise BadMoment(at, f"is before incident {incident.id} was opened", incident.created_at)


def _audit(session: Session, record: AuditRecord, engineer: Engineer | None, **detail: Any) -> AuditEntry:
    """Store `record` with the engineer's name as actor and their id (and `detail`) in the detail."""
    extra = {"engineer_id": engineer.id} if engineer is not None else {}
    actor = engineer.name if engineer is not None else record.actor
    return store_audit(session, replace(record, actor=actor, detail={**record.detail, **extra, **detail}))


# --- opening and loading --------------------------------------------------------------------


def open_incident(
    session: Session, customer: Customer | None, call: Call | None, summary: str | None, at: datetime,
    *, by: str = SYSTEM_ACTOR,
) -> Incident:  # fmt: skip
    """A new incident for `customer` (None: unknown; the call's customer is taken when it has one),
    raised by `call` at `at`, with an audit entry "open". A call that has an incident already gets
    that incident back, so a writer retrying after an unclear failure never opens a second."""
    check_aware("at", at)
    if call is not None:
        existing = session.scalar(select(Incident).where(Incident.call_id == call.id).order_by(Incident.id).limit(1))
        if existing is not None:
            return existing
        customer = customer or call.customer
    incident = Incident(customer=customer, call=call, summary=summary, created_at=at, status=str(IncidentStatus.NEW))
    session.add(incident)
    session.flush()
    opened = {"customer_id": incident.customer_id, "call_id": incident.call_id}
    store_audit(session, AuditRecord(at=at, actor=by, action="open", entity=INCIDENT_ENTITY, entity_id=incident.id,
                                     detail=opened))  # fmt: skip
    return incident


def _with_everything(query: Select[tuple[Incident]]) -> Select[tuple[Incident]]:
    return query.options(
        selectinload(Incident.customer).selectinload(Customer.sla),
        selectinload(Incident.voicemails).selectinload(Voicemail.transcript),
        selectinload(Incident.work_logs).selectinload(WorkLog.engineer),
    )


def load_incident(session: Session, incident_id: int, *, for_update: bool = False) -> Incident | None:
    """The incident with its customer, SLA, voicemails and work logs; with `for_update` its row is
    locked until the transaction ends (PostgreSQL; SQLite locks the database by `begin_write`)."""
    query = _with_everything(select(Incident).where(Incident.id == incident_id))
    if for_update:
        query = query.with_for_update(of=Incident)
    return session.scalars(query).first()


def find_engineer(session: Session, name: str) -> Engineer | None:
    """The engineer called `name`: exactly, else the one whose name matches ignoring case."""
    exact = session.scalar(select(Engineer).where(Engineer.name == name))
    if exact is not None:
        return exact
    folded = [e for e in session.scalars(select(Engineer)) if e.name.casefold() == name.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def engineer_names(session: Session) -> dict[int, str]:
    return {engineer_id: name for engineer_id, name in session.execute(select(Engineer.id, Engineer.name))}


# --- transitions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionOutcome:
    """What a transition (or a triage of two) stored: its audit entries, in order, and on a
    rejection the customer's reassessed status (None without a customer)."""

    incident: Incident
    audit: list[AuditEntry]
    customer_status: StatusChange | None = None


def _write_back(incident: Incident, before: IncidentState, after: IncidentState) -> None:
    """Copy every field the rule changed onto the row (`x_by` is the column `x_by_id`)."""
    for field in fields(after):
        value = getattr(after, field.name)
        if field.name in ("id", "created_at") or value == getattr(before, field.name):
            continue
        column = f"{field.name}_id" if field.name.endswith("_by") else field.name
        setattr(incident, column, str(value) if isinstance(value, IncidentStatus) else value)


def transition_incident(
    session: Session, incident: Incident, to: IncidentStatus | str, *, by: Engineer, at: datetime,
    now: datetime | None = None, reason: str | None = None, note: str | None = None,
    thresholds: AbuseThresholds = STANDARD_THRESHOLDS,
) -> TransitionOutcome:  # fmt: skip
    """Move `incident` to `to` as `by` at `at`: the stamped fields and one audit entry (with
    `note` in its detail when given). A rejection as not critical reassesses the customer's abuse
    status at once (as of `now`, or `at` without it). Raises `InvalidTransition`,
    `ReasonRequired`, `BadMoment`; nothing is changed then."""
    check_moment(incident, at, now)
    before = IncidentState.from_incident(incident)
    after, record = transition(before, to, by=by.id, at=at, reason=reason)
    _write_back(incident, before, after)
    entry = _audit(session, record, by, **({"note": note.strip()} if note and note.strip() else {}))
    status_change = None
    if after.status is IncidentStatus.REJECTED_NOT_CRITICAL and incident.customer is not None:
        status_change = reassess_customer(session, incident.customer, max(at, now or at), thresholds=thresholds,
                                          by=by.name, cause={"incident_id": incident.id})  # fmt: skip
    return TransitionOutcome(incident, [entry], status_change)


def triage(
    session: Session, incident: Incident, *, critical: bool, by: Engineer, at: datetime, now: datetime | None = None,
    reason: str | None = None, thresholds: AbuseThresholds = STANDARD_THRESHOLDS,
) -> TransitionOutcome:  # fmt: skip
    """Critical: work starts (in_progress); a new incident is acknowledged first, at the same
    moment, since triaging it is looking at it. Not critical: rejected with `reason` (required),
    and the customer's abuse status reassessed."""
    if not critical:
        if not reason or not reason.strip():
            raise ReasonRequired(f"incident {incident.id}: rejecting as not critical needs a reason")
        return transition_incident(session, incident, IncidentStatus.REJECTED_NOT_CRITICAL, by=by, at=at, now=now,
                                   reason=reason, thresholds=thresholds)  # fmt: skip
    entries: list[AuditEntry] = []
    if incident.status == IncidentStatus.NEW:
        entries += transition_incident(session, incident, IncidentStatus.ACKNOWLEDGED, by=by, at=at, now=now).audit
    started = transition_incident(session, incident, IncidentStatus.IN_PROGRESS, by=by, at=at, now=now, reason=reason)
    return TransitionOutcome(incident, entries + started.audit)


def record_first_contact(
    session: Session, incident: Incident, *, by: Engineer, at: datetime, now: datetime | None = None,
) -> AuditEntry | None:  # fmt: skip
    """Note the first contact with the customer; a later one keeps the first (returns None)."""
    check_moment(incident, at, now)
    before = IncidentState.from_incident(incident)
    after, record = first_contact_rule(before, at, by.id)
    if record is None:
        return None
    _write_back(incident, before, after)
    return _audit(session, record, by)


# --- work and billing -----------------------------------------------------------------------


def log_work(
    session: Session, incident: Incident, engineer: Engineer, minutes: int, started_at: datetime,
    note: str | None = None, *, now: datetime | None = None,
) -> WorkLog:  # fmt: skip
    """Log `minutes` of work by `engineer` from `started_at` (audited "log_work"). Work in any
    status may be logged, after the fact too; it must not start before the incident or end
    after `now`. Raises `BadWork`, `BadMoment`."""
    if type(minutes) is not int or not 0 < minutes <= MAX_WORK_MINUTES:
        raise BadWork(f"{minutes!r} minutes: must be a whole number from 1 to {MAX_WORK_MINUTES}")
    check_moment(incident, started_at, now)
    ends_at = started_at + timedelta(minutes=minutes)
    if now is not None and ends_at > now:
        raise BadWork(f"{minutes} minutes from {started_at.astimezone(UTC).isoformat()} end in the future "
                      f"({ends_at.astimezone(UTC).isoformat()})")  # fmt: skip
    work = WorkLog(incident=incident, engineer=engineer, started_at=started_at, minutes=minutes,
                   note=note.strip() if note and note.strip() else None)  # fmt: skip
    session.add(work)
    session.flush()
    # Audited when logged (`now`), which is when the work was entered, not when it was done.
    detail = {"work_log_id": work.id, "minutes": minutes, "started_at": _iso(started_at), "note": work.note}
    record = AuditRecord(at=now or ends_at, actor=engineer.name, action="log_work", entity=INCIDENT_ENTITY,
                         entity_id=incident.id, detail=detail)  # fmt: skip
    _audit(session, record, engineer)
    return work


def adjustment_pct(value: Decimal | int | str) -> Decimal:
    """A discount in percent as stored: more than 0, at most 100, at most two decimals."""
    try:
        pct = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadAdjustment(f"{value!r} is not a number") from None
    if not pct.is_finite() or not Decimal(0) < pct <= Decimal(100):
        raise BadAdjustment(f"{value} must be more than 0 and at most 100 (percent)")
    if pct != pct.quantize(CENT):
        raise BadAdjustment(f"{value} has more than two decimals")
    return pct.quantize(CENT)


def set_billing_adjustment(
    session: Session, incident: Incident, pct: Decimal | int | str, reason: str | None, by: Engineer, *, at: datetime,
) -> AuditEntry:  # fmt: skip
    """Mark the fault as ours and discount the incident's line by `pct` percent (100 waives it),
    keeping `reason` (required). A later adjustment replaces the earlier one; both are audited."""
    check_aware("at", at)
    pct = adjustment_pct(pct)
    if not reason or not reason.strip():
        raise ReasonRequired(f"incident {incident.id}: a billing adjustment needs a reason (why the fault was ours)")
    before = _adjustment_as_dict(incident)
    incident.fault_ours = True
    incident.billing_adjustment_pct = pct
    incident.billing_adjustment_reason = reason.strip()
    detail = {"from": before, "to": _adjustment_as_dict(incident)}
    record = AuditRecord(at=at, actor=by.name, action="waive" if pct == 100 else "discount", entity=INCIDENT_ENTITY,
                         entity_id=incident.id, detail=detail)  # fmt: skip
    return _audit(session, record, by)


def clear_billing_adjustment(
    session: Session, incident: Incident, reason: str | None, by: Engineer, *, at: datetime
) -> AuditEntry:
    """Undo a billing adjustment made in error (the fault was not ours after all), audited with a reason."""
    check_aware("at", at)
    if not reason or not reason.strip():
        raise ReasonRequired(f"incident {incident.id}: clearing a billing adjustment needs a reason")
    before = _adjustment_as_dict(incident)
    if before is None:
        raise BadAdjustment(f"incident {incident.id} has no billing adjustment to clear")
    incident.fault_ours = False
    incident.billing_adjustment_pct = None
    incident.billing_adjustment_reason = None
    record = AuditRecord(at=at, actor=by.name, action="clear_adjustment", entity=INCIDENT_ENTITY, entity_id=incident.id,
                         detail={"from": before, "to": None, "reason": reason.strip()})  # fmt: skip
    return _audit(session, record, by)


def _adjustment_as_dict(incident: Incident) -> dict[str, str] | None:
    if incident.billing_adjustment_pct is None:
        return None
    pct = Decimal(incident.billing_adjustment_pct).quantize(CENT)
    return {"pct": str(pct), "reason": incident.billing_adjustment_reason or ""}


# --- the SLA clock and listings -------------------------------------------------------------


def sla_targets(session: Session, incident: Incident) -> SlaTargets:
    """The customer's SLA targets; the standard SLA's for an incident without a customer."""
    if incident.customer is not None:
        return SlaTargets.from_sla(incident.customer.sla)
    return standard_sla_targets(session)


def standard_sla_targets(session: Session) -> SlaTargets:
    """The standard SLA's targets (the rule's defaults should the row be gone)."""
    sla = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
    return SlaTargets.from_sla(sla) if sla is not None else SlaTargets()


def incident_sla_clock(
    session: Session, incident: Incident, now: datetime, targets: SlaTargets | None = None
) -> SlaClock:
    """The incident's SLA clock at `now` (`core.incidents.sla_clock`)."""
    state = IncidentState.from_incident(incident)
    # A moment another process stamped a little ahead of our clock must not make a listing fail.
    latest = max(state.transition_moments + [state.first_contact_at or state.created_at])
    return sla_clock(state, targets or sla_targets(session, incident), max(now, latest))


def list_incidents(
    session: Session, now: datetime, *, status: IncidentStatus | str | None = None, open_only: bool = False,
    customer: Customer | None = None, breached: bool = False, limit: int | None = None,
) -> list[tuple[Incident, SlaClock]]:  # fmt: skip
    """Incidents newest first, each with its SLA clock at `now`; `breached` keeps those whose
    response or resolution target is breached (an open one past its due moment is)."""
    query = _with_everything(select(Incident)).order_by(Incident.created_at.desc(), Incident.id.desc())
    if status is not None:
        query = query.where(Incident.status == str(IncidentStatus(status)))
    if open_only:
        query = query.where(Incident.status.not_in([str(s) for s in FINAL_STATUSES]))
    if customer is not None:
        query = query.where(Incident.customer_id == customer.id)
    if limit is not None and not breached:
        query = query.limit(limit)
    standard = standard_sla_targets(session)
    rows = []
    for incident in session.scalars(query):
        targets = SlaTargets.from_sla(incident.customer.sla) if incident.customer is not None else standard
        clock = incident_sla_clock(session, incident, now, targets)
        if not breached or clock.breached_response or clock.breached_resolution:
            rows.append((incident, clock))
    return rows[:limit] if limit is not None else rows


def audit_trail(session: Session, incident: Incident) -> list[AuditEntry]:
    """The incident's audit entries in the order they happened."""
    query = select(AuditEntry).where(AuditEntry.entity == INCIDENT_ENTITY, AuditEntry.entity_id == incident.id)
    return list(session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))


# --- the JSON shapes ------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _seconds(watch: Any) -> int | None:
    return int(watch.elapsed.total_seconds()) if watch.reached_at is not None else None


def sla_as_dict(clock: SlaClock) -> dict[str, Any]:
    return {
        "applies": clock.sla_applies,
        "resolution_target_minutes": clock.targets.resolution_minutes,
        "response_target_minutes": clock.targets.response_minutes,
        "resolution_due_at": _iso(clock.due_at),
        "response_due_at": _iso(clock.response_due_at),
        "breached_response": clock.breached_response,
        "breached_resolution": clock.breached_resolution,
        "time_to_acknowledge_seconds": _seconds(clock.to_acknowledge),
        "time_to_first_contact_seconds": _seconds(clock.to_first_contact),
        "time_to_resolution_seconds": _seconds(clock.to_resolution),
    }


def customer_as_dict(customer: Customer) -> dict[str, Any]:
    """How a customer appears in incident and abuse listings."""
    return {"id": customer.id, "name": customer.name, "customer_number": customer.customer_number}


def incident_as_dict(incident: Incident, clock: SlaClock, names: dict[int, str]) -> dict[str, Any]:
    """One element of `nachtdienst incidents list --json` (a stable interface; keys documented
    there). Engineers by name; `voicemails` is their number here (`incident_detail` lists them)."""
    customer = incident.customer

    def name(engineer_id: int | None) -> str | None:
        return names.get(engineer_id, f"#{engineer_id}") if engineer_id is not None else None

    return {
        "id": incident.id,
        "status": incident.status,
        "summary": incident.summary,
        "customer": customer_as_dict(customer) if customer is not None else None,
        "call_id": incident.call_id,
        "created_at": _iso(incident.created_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "acknowledged_by": name(incident.acknowledged_by_id),
        "first_contact_at": _iso(incident.first_contact_at),
        "first_contact_by": name(incident.first_contact_by_id),
        "started_at": _iso(incident.started_at),
        "started_by": name(incident.started_by_id),
        "resolved_at": _iso(incident.resolved_at),
        "resolved_by": name(incident.resolved_by_id),
        "rejected_at": _iso(incident.rejected_at),
        "rejected_by": name(incident.rejected_by_id),
        "rejection_reason": incident.rejection_reason,
        "fault_ours": bool(incident.fault_ours),
        "billing_adjustment": _adjustment_as_dict(incident),
        "work_minutes": sum(work.minutes for work in incident.work_logs),
        "sla": sla_as_dict(clock),
        "voicemails": len(incident.voicemails),
    }


def incident_detail(
    incident: Incident, clock: SlaClock, names: dict[int, str], trail: Iterable[AuditEntry]
) -> dict[str, Any]:
    """`nachtdienst incidents show --json`: the list element, with the voicemails (and their
    transcripts and incident cards), the work logs and the audit trail written out."""
    data = incident_as_dict(incident, clock, names)
    data["voicemails"] = [_voicemail_as_dict(voicemail) for voicemail in incident.voicemails]
    data["work_logs"] = [
        {"id": work.id, "engineer": work.engineer.name if work.engineer else None, "started_at": _iso(work.started_at),
         "minutes": work.minutes, "note": work.note}
        for work in incident.work_logs
    ]  # fmt: skip
    data["audit"] = [
        {"at": _iso(entry.at), "actor": entry.actor, "action": entry.action, "detail": entry.detail or {}}
        for entry in trail
    ]
    reminder = incident.reminder_call
    data["reminder_call"] = (
        {"status": reminder.status, "due_at": _iso(reminder.due_at), "attempts": reminder.attempts,
         "result": reminder.result, "last_error": reminder.last_error, "call_id": reminder.call_id}
        if reminder is not None else None
    )  # fmt: skip
    return data


def _voicemail_as_dict(voicemail: Voicemail) -> dict[str, Any]:
    transcript = voicemail.transcript
    return {
        "id": voicemail.id,
        "call_id": voicemail.call_id,
        "recorded_at": _iso(voicemail.recorded_at),
        "duration_seconds": float(voicemail.duration_seconds) if voicemail.duration_seconds is not None else None,
        "path": voicemail.path,
        "partial": voicemail.partial,
        "called_back_at": _iso(voicemail.called_back_at),
        "transcript": (
            {
                "text": transcript.text, "language": transcript.language, "no_speech": transcript.no_speech,
                "low_confidence": transcript.low_confidence, "partial": transcript.partial, "problem": transcript.problem,
                "pages": list(transcript.pages or []), "urgency": transcript.urgency,
                "callback_number": transcript.callback_number,
            }
            if transcript is not None else None
        ),
    }  # fmt: skip
