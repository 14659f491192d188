"""Reminder calls (PRODUCT.md §1 step 8): an incident nobody acknowledged within
`notify.unacknowledged_call_minutes` makes the PBX call the engineer on duty; the rows here say
when, for which incident, and what came of it. The call itself is ari_app/reminder_call.py.

Decisions a caller may rely on:
- One reminder per incident, scheduled with the voicemail that opened it (an addition to an
  incident that has one adds none). `unacknowledged_call_minutes` 0 schedules nothing.
- Claiming is a lease (`LEASE`), like the transcription queue: an app that dies mid-call leaves
  a reminder that another (or the restarted) app claims when the lease has run out; the call
  record the dead one left open is finished as `failed` then.
- A reminder whose incident is no longer `new` (acknowledged, triaged, resolved) is cancelled
  when it comes up, whatever its attempts.
- Nobody answered, or the engineer answered and chose nothing (a mobile's voicemail takes
  calls too): tried again `unacknowledged_call_minutes` later, `unacknowledged_call_attempts`
  calls in all, then `failed` with an error in the log. Any other result is `done`.
- The number the engineer's `2` calls: the call-back number from the transcript's card when it
  is a valid phone number, else the number the voicemail came from; None when neither is.
- The outbound call is a Call (direction `outbound`, linked to the incident) whose legs are
  dial attempts; only the customer's leg is `accepted`, so only the call-back's talk time is
  billed. A call-back that reached the customer is the incident's first contact (if none was
  recorded) and the voicemail's `called_back_at`.
- Asterisk's copy of a voicemail (`Voicemail.pbx_recording`, the menu's `1`) is wanted while
  its incident is new and for at most `PBX_RECORDING_KEEP`; `expired_pbx_recordings` names the
  ones to remove.

Nothing here commits except where a function says so; moments are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.calls import finish_call, record_step, start_call
from core.db import begin_write
from core.incident_store import record_first_contact
from core.incidents import IncidentStatus, check_aware
from core.models import Call, DialAttempt, Engineer, Incident, ReminderCall, Transcript, Voicemail
from core.phone import InvalidPhoneNumber, normalise
from core.roster import EscalationStepPlan
from core.roster_store import NoFallback, escalation_plan
from core.settings import Settings

log = structlog.get_logger("reminders")

LEASE = timedelta(minutes=10)  # longer than any reminder call's ringing and menu
PBX_RECORDING_KEEP = timedelta(hours=24)
RETRIED_RESULTS = frozenset({"not_reached", "no_choice"})
RESULTS = frozenset({"called_back", "heard", "not_reached", "customer_not_reached", "no_choice"})


def schedule_reminder(session: Session, settings: Settings, voicemail: Voicemail, at: datetime) -> ReminderCall | None:
    """The reminder for `voicemail`'s incident, due `unacknowledged_call_minutes` after `at`;
    None when reminders are off, the voicemail has no incident, or its incident has one."""
    check_aware("at", at)
    minutes = settings.notify.unacknowledged_call_minutes
    if minutes <= 0 or voicemail.incident_id is None:
        return None
    if session.scalar(select(ReminderCall.id).where(ReminderCall.incident_id == voicemail.incident_id)) is not None:
        return None
    reminder = ReminderCall(incident_id=voicemail.incident_id, voicemail_id=voicemail.id, status="pending",
                            due_at=at + timedelta(minutes=minutes), attempts=0, created_at=at)  # fmt: skip
    session.add(reminder)
    session.flush()
    return reminder


@dataclass(frozen=True)
class ReminderTask:
    """A claimed reminder and everything its call needs, read at claim time."""

    reminder_id: int
    incident_id: int
    attempt: int
    voicemail_id: int | None
    pbx_recording: str | None
    caller_number: str | None  # who left the message, as the engineer hears it read out
    callback_number: str | None  # E.164: what `2` dials
    customer_id: int | None
    plan: tuple[EscalationStepPlan, ...]


def claim_due_reminder(session: Session, settings: Settings, *, worker: str, now: datetime) -> ReminderTask | None:
    """Claim the next due reminder whose incident is still new (cancelling those that are not
    on the way); commits. None when nothing is due."""
    check_aware("now", now)
    due = or_(
        (ReminderCall.status == "pending") & (ReminderCall.due_at <= now),
        (ReminderCall.status == "calling") & (ReminderCall.lease_until < now),
    )
    # A plain read first: the write lock (SQLite's is the whole database) only when one is due.
    if session.scalar(select(ReminderCall.id).where(due).limit(1)) is None:
        session.rollback()
        return None
    session.rollback()
    while True:
        begin_write(session)
        query = select(ReminderCall).where(due).order_by(ReminderCall.due_at, ReminderCall.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        reminder = session.scalar(query)
        if reminder is None:
            session.rollback()
            return None
        _finish_abandoned_call(session, reminder, now)
        incident = session.get(Incident, reminder.incident_id)
        if incident is None or incident.status != IncidentStatus.NEW:
            reminder.status, reminder.finished_at, reminder.lease_until = "cancelled", now, None
            session.commit()
            log.info("reminder cancelled: incident no longer new", reminder=reminder.id, incident=reminder.incident_id)
            continue
        reminder.status = "calling"
        reminder.attempts += 1
        reminder.lease_until = now + LEASE
        reminder.leased_by = worker
        task = _task(session, settings, reminder, incident, now)
        session.commit()
        return task


class CannotRemind(ValueError):
    """The incident is not one to call an engineer about (not new), or a call is going on."""


def remind_now(session: Session, incident: Incident, *, at: datetime) -> ReminderCall:
    """Make the incident's reminder call due at `at` (`nachtdienst incidents remind`): a new
    one, or the incident's again with its attempts counted afresh. Does not commit."""
    check_aware("at", at)
    if incident.status != IncidentStatus.NEW:
        raise CannotRemind(f"incident {incident.id} is {incident.status}: only a new incident is called about")
    reminder = session.scalar(select(ReminderCall).where(ReminderCall.incident_id == incident.id))
    if reminder is not None and reminder.status == "calling" and reminder.lease_until and reminder.lease_until > at:
        raise CannotRemind(f"incident {incident.id}: a reminder call is going on now (try #{reminder.attempts})")
    if reminder is None:
        latest = incident.voicemails[-1] if incident.voicemails else None
        reminder = ReminderCall(incident_id=incident.id, voicemail_id=latest.id if latest else None, created_at=at)
        session.add(reminder)
    reminder.status, reminder.due_at, reminder.attempts = "pending", at, 0
    reminder.lease_until = reminder.finished_at = reminder.result = reminder.last_error = None
    session.flush()
    return reminder


def still_new(session: Session, incident_id: int) -> bool:
    """Whether the incident still waits for an engineer (a reminder call checks before it rings)."""
    return session.scalar(select(Incident.status).where(Incident.id == incident_id)) == IncidentStatus.NEW


def _task(session: Session, settings: Settings, reminder: ReminderCall, incident: Incident, now: datetime) -> ReminderTask:
    voicemail = session.get(Voicemail, reminder.voicemail_id) if reminder.voicemail_id is not None else None
    call = voicemail.call if voicemail is not None else incident.call
    caller_number = (call.from_e164 or call.from_number) if call is not None else None
    try:
        plan = tuple(escalation_plan(session, settings, now))
    except NoFallback:
        plan = ()
    return ReminderTask(
        reminder_id=reminder.id, incident_id=incident.id, attempt=reminder.attempts,
        voicemail_id=voicemail.id if voicemail is not None else None,
        pbx_recording=voicemail.pbx_recording if voicemail is not None else None,
        caller_number=caller_number, callback_number=callback_number(session, settings, voicemail, call),
        customer_id=incident.customer_id, plan=plan,
    )  # fmt: skip


def callback_number(session: Session, settings: Settings, voicemail: Voicemail | None, call: Call | None) -> str | None:
    """The card's call-back number when it is a phone number, else the caller's (E.164)."""
    candidates: list[str | None] = []
    if voicemail is not None:
        candidates.append(session.scalar(select(Transcript.callback_number).where(Transcript.voicemail_id == voicemail.id)))
    if call is not None:
        candidates += [call.from_e164, call.from_number]
    for number in candidates:
        if not number:
            continue
        try:
            return normalise(number, settings.country)
        except InvalidPhoneNumber:
            continue
    return None


def _finish_abandoned_call(session: Session, reminder: ReminderCall, now: datetime) -> None:
    """A lease that ran out: the app holding the call died; its record is finished, not left open."""
    if reminder.status != "calling" or reminder.call_id is None:
        return
    call = session.get(Call, reminder.call_id)
    if call is not None and call.ended_at is None:
        finish_call(session, call, outcome="failed", at=now, detail="the app holding the reminder call stopped")
        for attempt in call.dial_attempts:
            if attempt.ended_at is None:
                attempt.ended_at, attempt.result = now, attempt.result or "failed"
    log.warning("reminder call abandoned by its app; calling again", reminder=reminder.id, call=reminder.call_id)


def start_reminder_call(session: Session, settings: Settings, task: ReminderTask, *, at: datetime) -> int:
    """The outbound call's record, written before anything rings; commits. Returns its id."""
    call = start_call(session, channel_id=f"nd-reminder-{task.reminder_id}-{task.attempt}", from_number=settings.support_number,
                      to_number="engineer on duty", at=at, country=settings.country)  # fmt: skip
    call.direction = "outbound"
    call.incident_id = task.incident_id
    call.customer_id = task.customer_id
    record_step(session, call, "reminder", at, f"incident {task.incident_id}, attempt {task.attempt}")
    session.execute(update(ReminderCall).where(ReminderCall.id == task.reminder_id).values(call_id=call.id))
    session.commit()
    return call.id


@dataclass(frozen=True)
class LegRecord:
    """One leg the reminder call placed: an engineer's, or the customer's (engineer_id None)."""

    contact: str
    started_at: datetime
    result: str
    ended_at: datetime
    engineer_id: int | None = None
    step_position: int = 1
    answered_at: datetime | None = None
    accepted_at: datetime | None = None  # the customer's leg only: its talk time is billed


@dataclass
class ReminderOutcome:
    """What the reminder call did, written at its end in one transaction."""

    result: str
    ended_at: datetime
    detail: str | None = None
    engineer_id: int | None = None  # the engineer who answered
    called_back_at: datetime | None = None  # the customer answered
    steps: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    legs: list[LegRecord] = field(default_factory=list)


def finish_reminder_call(session: Session, settings: Settings, task: ReminderTask, call_id: int, outcome: ReminderOutcome) -> str:
    """Write the call's steps, legs and outcome, the first contact, and the reminder's new
    status (returned: done, pending again, or failed); commits."""
    if outcome.result not in RESULTS:
        raise ValueError(f"reminder result {outcome.result!r}: one of {', '.join(sorted(RESULTS))}")
    call = session.get(Call, call_id)
    if call is None:
        raise LookupError(f"reminder call {call_id} has no record")
    for at, step, detail in outcome.steps:
        record_step(session, call, step, at, detail)
    for leg in outcome.legs:
        session.add(DialAttempt(call=call, contact=leg.contact, engineer_id=leg.engineer_id, step_position=leg.step_position,
                                started_at=leg.started_at, answered_at=leg.answered_at, accepted_at=leg.accepted_at,
                                ended_at=leg.ended_at, result=leg.result))  # fmt: skip
    finish_call(session, call, outcome=outcome.result, at=outcome.ended_at, detail=outcome.detail)
    if outcome.called_back_at is not None:
        _note_call_back(session, task, outcome)
    reminder = session.get(ReminderCall, task.reminder_id)
    assert reminder is not None
    reminder.result, reminder.lease_until, reminder.last_error = outcome.result, None, None
    if outcome.result not in RETRIED_RESULTS:
        reminder.status, reminder.finished_at = "done", outcome.ended_at
    elif reminder.attempts >= settings.notify.unacknowledged_call_attempts:
        reminder.status, reminder.finished_at = "failed", outcome.ended_at
        reminder.last_error = f"{outcome.result} after {reminder.attempts} calls"
        log.error("nobody took the reminder call; giving up", reminder=reminder.id, incident=task.incident_id,
                  attempts=reminder.attempts, result=outcome.result)  # fmt: skip
    else:
        reminder.status = "pending"
        reminder.due_at = outcome.ended_at + timedelta(minutes=max(1, settings.notify.unacknowledged_call_minutes))
    session.commit()
    return reminder.status


def _note_call_back(session: Session, task: ReminderTask, outcome: ReminderOutcome) -> None:
    assert outcome.called_back_at is not None
    if task.voicemail_id is not None:
        voicemail = session.get(Voicemail, task.voicemail_id)
        if voicemail is not None and voicemail.called_back_at is None:
            voicemail.called_back_at = outcome.called_back_at
    engineer = session.get(Engineer, outcome.engineer_id) if outcome.engineer_id is not None else None
    incident = session.get(Incident, task.incident_id)
    if engineer is not None and incident is not None:
        record_first_contact(session, incident, by=engineer, at=outcome.called_back_at)


def reminder_failed(session: Session, task: ReminderTask, error: str, *, now: datetime) -> None:
    """The call could not be made (a bug, Asterisk away): its record is finished as failed and
    the reminder is due again in a minute, the attempt not counted; commits."""
    reminder = session.get(ReminderCall, task.reminder_id)
    if reminder is None:
        return
    call = session.get(Call, reminder.call_id) if reminder.call_id is not None else None
    if call is not None and call.ended_at is None:
        finish_call(session, call, outcome="failed", at=now, detail=error[:500])
    reminder.status, reminder.lease_until, reminder.last_error = "pending", None, error
    reminder.attempts = max(0, reminder.attempts - 1)
    reminder.due_at = now + timedelta(minutes=1)
    session.commit()


def expired_pbx_recordings(session: Session, *, now: datetime, limit: int = 100) -> list[tuple[int, str]]:
    """(voicemail id, Asterisk recording name) of copies no longer wanted: the incident is no
    longer new (or gone), or the copy is older than PBX_RECORDING_KEEP."""
    check_aware("now", now)
    rows = session.execute(
        select(Voicemail.id, Voicemail.pbx_recording)
        .outerjoin(Incident, Voicemail.incident_id == Incident.id)
        .where(Voicemail.pbx_recording.is_not(None))
        .where(or_(Incident.id.is_(None), Incident.status != IncidentStatus.NEW,
                   Voicemail.recorded_at < now - PBX_RECORDING_KEEP))
        .order_by(Voicemail.id)
        .limit(limit)
    )  # fmt: skip
    return [(voicemail_id, name) for voicemail_id, name in rows]


def forget_pbx_recording(session: Session, voicemail_ids: Sequence[int]) -> None:
    """Asterisk's copies of these voicemails are gone; commits."""
    if voicemail_ids:
        session.execute(update(Voicemail).where(Voicemail.id.in_(list(voicemail_ids))).values(pbx_recording=None))
    session.commit()
