"""The record of a call on the AGI path, as the `log` command writes it. Synchronous: the AGI
desk runs it in a thread; each entry is one transaction (commits).

Decisions a caller may rely on:
- A call is keyed by its channel's `agi_uniqueid`, the id the ARI app keys calls by: the AGI
  path goes on with the record the ARI app started for the same channel (its path stays
  "ari"), or starts one with path "agi". A new record's start is the channel's creation time
  read from the uniqueid (`<epoch>.<n>`), when that is plausible, else the entry's time.
- The first entry the AGI path writes on a call is the step `agi_path` (detail "new record",
  or "after <path> step <last step>"); it marks where the AGI part of the record begins.
- Entries are written once: a step whose name and detail the AGI part already has is not
  written again, so a `log` retried after an unclear failure adds nothing. A dial entry is the
  step `dial` (detail: step, DIALSTATUS, targets) with one DialAttempt per contact, together.
- The outcome is written once: a later `end` (a retry, or the `h` extension after the
  dialplan ended the call) changes nothing.
- Dial results per contact, from Asterisk's DIALSTATUS: ANSWER gives the answered contact
  "accepted" (the dialplan bridges only after the engineer pressed 1) and the others
  "answered_elsewhere"; when Asterisk did not say which contact answered and the step had
  several, all get "answered". NOTACCEPTED (the dialplan's own word: its confirmation routine
  hung up an engineer who did not press 1) gives that contact "not_accepted". NOANSWER and
  CANCEL give "no_answer", BUSY "busy", CONGESTION and CHANUNAVAIL "unreachable", DONTCALL
  and TORTURE "declined", anything else "failed".
- Each contact rings on a leg of its own (a Local channel), which ends by itself when its
  engineer does not accept, is busy or cannot be reached, while the step's other contacts
  ring on. A leg's own status (NOTACCEPTED or its DIALSTATUS, in the entry's leg statuses)
  decides that contact's result by the same words, except for the accepted contact; a leg
  without one (cut off when the step ended) takes the step's result above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.calls import (
    finish_call,
    finish_dial_attempt,
    record_step,
    set_call_customer,
    start_call,
    start_dial_attempt,
)
from core.db import begin_write
from core.models import CALL_OUTCOMES, Call, CallStep, Customer, EngineerContact
from core.settings import Settings

AGI_MARKER = "agi_path"
DIAL_STEP = "dial"
IDENTIFIED_STEP = "identified"
# A uniqueid's time older than this (or in the future) is not the call's start.
PLAUSIBLE_CALL_AGE = timedelta(hours=24)
_UNIQUEID = re.compile(r"^(?:.*-)?(\d{9,11})\.\d+$")
_RESULTS = {
    "NOANSWER": "no_answer",
    "CANCEL": "no_answer",
    "BUSY": "busy",
    "CONGESTION": "unreachable",
    "CHANUNAVAIL": "unreachable",
    "DONTCALL": "declined",
    "TORTURE": "declined",
}


class BadEntry(ValueError):
    """An entry that cannot be written as given; the message says what is wrong."""


@dataclass(frozen=True)
class CallKey:
    """Which call an entry belongs to, and what a new record starts with."""

    channel_id: str
    from_number: str | None
    to_number: str
    started_at: datetime | None = None  # None: the entry's time


@dataclass(frozen=True)
class StepEntry:
    name: str
    detail: str | None = None


@dataclass(frozen=True)
class CustomerEntry:
    customer_id: int
    how: str | None = None


@dataclass(frozen=True)
class DialEntry:
    step: int
    status: str  # Asterisk's DIALSTATUS, or NOTACCEPTED
    contacts: tuple[str, ...]
    answered_contact: str | None = None
    dialed_seconds: int | None = None  # DIALEDTIME
    answered_seconds: int | None = None  # ANSWEREDTIME
    # Each contact's own leg result, in the order of `contacts` ("" where the step's end cut
    # the leg off): NOTACCEPTED, or the leg's DIALSTATUS. Empty: the dialplan gave none.
    leg_statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndEntry:
    outcome: str
    detail: str | None = None


Entry = StepEntry | CustomerEntry | DialEntry | EndEntry


@dataclass(frozen=True)
class Written:
    call_id: int
    written: bool  # False: the entry was there already


def started_at_of(uniqueid: str, now: datetime) -> datetime | None:
    """When Asterisk created the channel, from its uniqueid (`[system-]<epoch>.<n>`), if that
    is a moment of the last day; None otherwise."""
    match = _UNIQUEID.match(uniqueid)
    if match is None:
        return None
    moment = datetime.fromtimestamp(int(match.group(1)), UTC)
    return moment if now - PLAUSIBLE_CALL_AGE <= moment <= now else None


def write_entry(
    session: Session, settings: Settings, key: CallKey, entry: Entry, at: datetime
) -> Written:
    """Write `entry` on the call of `key` (made when missing) at `at`; commits. BadEntry for
    an entry that names what does not exist (an unknown customer or outcome)."""
    try:
        return _write(session, settings, key, entry, at)
    except IntegrityError:
        # Another connection made the call's record just now: write onto that one.
        session.rollback()
        return _write(session, settings, key, entry, at)


def _write(
    session: Session, settings: Settings, key: CallKey, entry: Entry, at: datetime
) -> Written:
    begin_write(session)
    call = session.scalar(
        select(Call).where(Call.channel_id == key.channel_id).with_for_update()
    )
    created = call is None
    if call is None:
        call = start_call(
            session,
            channel_id=key.channel_id,
            from_number=key.from_number,
            to_number=key.to_number,
            at=key.started_at or at,
            path="agi",
            country=settings.country,
        )
    marker = _marker(session, call, created, at)
    if isinstance(entry, StepEntry):
        written = _step_once(session, call, marker, entry.name, entry.detail, at)
    elif isinstance(entry, CustomerEntry):
        written = _customer(session, call, marker, entry, at)
    elif isinstance(entry, DialEntry):
        written = _dial(session, call, marker, entry, at)
    else:
        written = _end(session, call, entry, at)
    session.commit()
    return Written(call.id, written)


def _marker(session: Session, call: Call, created: bool, at: datetime) -> CallStep:
    marker = session.scalar(
        select(CallStep)
        .where(CallStep.call_id == call.id, CallStep.step == AGI_MARKER)
        .order_by(CallStep.id)
        .limit(1)
    )
    if marker is not None:
        return marker
    if created:
        detail = "new record"
    else:
        last = session.scalar(
            select(CallStep.step)
            .where(CallStep.call_id == call.id)
            .order_by(CallStep.at.desc(), CallStep.id.desc())
            .limit(1)
        )
        detail = f"after {call.path} step {last}" if last else f"after {call.path}"
    return record_step(session, call, AGI_MARKER, at, detail)


def _step_once(
    session: Session,
    call: Call,
    marker: CallStep,
    name: str,
    detail: str | None,
    at: datetime,
) -> bool:
    same = select(CallStep.id).where(
        CallStep.call_id == call.id,
        CallStep.id > marker.id,
        CallStep.step == name,
        CallStep.detail.is_(None) if detail is None else CallStep.detail == detail,
    )
    if session.scalar(same.limit(1)) is not None:
        return False
    record_step(session, call, name, at, detail)
    return True


def _customer(
    session: Session, call: Call, marker: CallStep, entry: CustomerEntry, at: datetime
) -> bool:
    customer = session.get(Customer, entry.customer_id)
    if customer is None:
        raise BadEntry(f"no customer with id {entry.customer_id}")
    how = f" by {entry.how}" if entry.how else ""
    written = _step_once(
        session,
        call,
        marker,
        IDENTIFIED_STEP,
        f"{customer.customer_number} ({customer.name}){how}",
        at,
    )
    if call.customer_id != customer.id:
        set_call_customer(session, call, customer.id)
        written = True
    return written


def _dial(
    session: Session, call: Call, marker: CallStep, entry: DialEntry, at: datetime
) -> bool:
    if not entry.contacts:
        raise BadEntry("a dial entry needs the dial string (its contacts)")
    detail = f"step {entry.step}: {entry.status or 'no DIALSTATUS'}: {'&'.join(entry.contacts)}"
    if entry.answered_contact:
        detail += f" (answered: {entry.answered_contact})"
    if not _step_once(session, call, marker, DIAL_STEP, detail, at):
        return False
    started_at = (
        at - timedelta(seconds=entry.dialed_seconds) if entry.dialed_seconds else at
    )
    # ANSWEREDTIME is the bridged time: the answer (and the press of 1) came that long ago.
    answered_at = None
    if entry.answered_seconds is not None and entry.status.upper() == "ANSWER":
        answered_at = max(started_at, at - timedelta(seconds=entry.answered_seconds))
    for contact, result in zip(entry.contacts, results_of(entry), strict=True):
        engineer_id = session.scalar(
            select(EngineerContact.engineer_id)
            .where(EngineerContact.address == contact)
            .order_by(EngineerContact.id)
            .limit(1)
        )
        attempt = start_dial_attempt(
            session,
            call,
            contact=contact,
            at=started_at,
            engineer_id=engineer_id,
            step_position=entry.step,
        )
        finish_dial_attempt(
            session,
            attempt,
            result=result,
            at=at,
            answered_at=answered_at if result in ("accepted", "answered") else None,
            accepted_at=answered_at if result == "accepted" else None,
        )
    return True


def results_of(entry: DialEntry) -> list[str]:
    """Each contact's result, in the order of `entry.contacts` (see the module's rules)."""
    status = entry.status.upper()
    answered = entry.answered_contact
    if answered is None and len(entry.contacts) == 1:
        answered = entry.contacts[0]
    if status == "ANSWER":
        if answered not in entry.contacts:
            whole_step = ["answered"] * len(entry.contacts)
        else:
            whole_step = ["accepted" if contact == answered else "answered_elsewhere" for contact in entry.contacts]
    elif status == "NOTACCEPTED":
        whole_step = ["not_accepted" if contact == answered else "no_answer" for contact in entry.contacts]
    else:
        whole_step = [_RESULTS.get(status, "failed")] * len(entry.contacts)
    legs = entry.leg_statuses + ("",) * (len(entry.contacts) - len(entry.leg_statuses))
    return [
        result if result == "accepted" or not leg or leg == "ANSWER" else _leg_result(leg)
        for result, leg in zip(whole_step, legs, strict=True)
    ]


def _leg_result(leg_status: str) -> str:
    """A leg that ended before the step did: its own result."""
    if leg_status == "NOTACCEPTED":
        return "not_accepted"
    return _RESULTS.get(leg_status, "failed")


def _end(session: Session, call: Call, entry: EndEntry, at: datetime) -> bool:
    if entry.outcome not in CALL_OUTCOMES:
        raise BadEntry(
            f"outcome {entry.outcome!r} is not one of {', '.join(CALL_OUTCOMES)}"
        )
    if call.outcome is not None:
        return False
    abandoned_step = None
    if entry.outcome == "abandoned":
        abandoned_step = session.scalar(
            select(CallStep.step)
            .where(CallStep.call_id == call.id, CallStep.step != AGI_MARKER)
            .order_by(CallStep.at.desc(), CallStep.id.desc())
            .limit(1)
        )
    finish_call(
        session,
        call,
        outcome=entry.outcome,
        at=at,
        detail=entry.detail,
        abandoned_step=abandoned_step,
    )
    return True
