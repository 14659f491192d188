"""What the call flow asks the database, and the one thing it writes besides the call record:
voicemails. Synchronous SQLAlchemy only (the ARI app runs it in threads, the AGI server as is).

Every function takes a Session and only flushes, except where its docstring says it commits.
Moments are passed in (aware); nothing here reads the clock.

Decisions a caller may rely on:
- A customer's status is the one its rejections and lifts give at the moment asked; a stored
  status that has gone stale (a rejection left the rolling year) is corrected and committed.
- A recording reaches the disk before the database is asked anything: `spool_audio` writes it
  under a name that needs no database (`pending-…`), `store_spooled_voicemail` renames it to
  `call-<call id>-<n>.<format>` in the same directory and writes the rows. Retrying either is
  safe: a voicemail is one per (call, recorded_at), and a second spool of it is dropped.
- A voicemail's kind is visible on its call as a step `voicemail_<kind>` (detail: the path):
  the Voicemail model has no kind column. Non-urgent messages have no incident.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core import roster as rules
from core.abuse import customer_status
from core.abuse_store import (
    customer_history,
    lock_customer,
    reassess_customer,
    thresholds_from,
)
from core.calls import find_call_by_channel, record_step
from core.db import begin_write
from core.durable import fsync_directory
from core.incident_store import open_incident
from core.incidents import FINAL_STATUSES, check_aware
from core.models import (
    Call,
    CallStep,
    Customer,
    CustomerPhone,
    Incident,
    TranscriptionJob,
    Voicemail,
)
from core.notify.outbox import queue_voicemail_received
from core.office_hours import OfficeStatus
from core.office_hours import office_status as office_status_at
from core.office_store import office_calendar
from core.phone import InvalidPhoneNumber, normalise
from core.reminders import schedule_reminder
from core.roster_store import escalation_plan as roster_escalation_plan
from core.roster_store import fallback_contacts, load_policy, load_roster
from core.settings import Settings

VoicemailKind = Literal["critical", "non_urgent", "addition"]
VOICEMAIL_KINDS: tuple[str, ...] = ("critical", "non_urgent", "addition")
NON_URGENT_OUTCOME = "non_urgent_message"
SPOOL_PREFIX = "pending-"
# How far ahead escalation_plan_until looks for the next change of whom a call rings.
PLAN_HORIZON = timedelta(days=7)
log = structlog.get_logger("line_desk")
_FORMAT = re.compile(r"[a-z0-9]{1,10}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def valid_audio_format(audio_format: str) -> bool:
    """A format is a file suffix: a short lowercase name such as `wav`."""
    return bool(_FORMAT.fullmatch(audio_format))


def voicemail_step(kind: str) -> str:
    """The call step that marks a stored voicemail's kind."""
    return f"voicemail_{kind}"


# --- who is calling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerCustomer:
    id: int
    name: str
    customer_number: str
    status: str  # "active" | "warned" | "blocked", as of the moment asked
    after_hours_included: bool  # from the customer's SLA


def find_customer_by_phone(session: Session, settings: Settings, e164: str, at: datetime) -> CallerCustomer | None:
    """The customer who has this number (E.164, or any national/international form), or None.
    May commit (see `current_status`)."""
    try:
        number = normalise(e164, settings.country)
    except InvalidPhoneNumber:
        return None
    customer = session.scalar(select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == number))
    return _caller(session, settings, customer, at) if customer is not None else None


def find_customer_by_number(session: Session, settings: Settings, keyed: str, at: datetime) -> CallerCustomer | None:
    """The customer whose number the caller keyed (digits, without '#'): the exact number, else
    the one number equal to it ignoring leading zeros, spaces and dashes (two such: None, a
    caller is better unidentified than taken for someone else). May commit."""
    keyed = keyed.strip()
    if not keyed.isdigit():
        return None
    customer = session.scalar(select(Customer).where(Customer.customer_number == keyed))
    if customer is None:
        wanted = keyed.lstrip("0")
        if not wanted:
            return None
        stored = func.ltrim(func.replace(func.replace(Customer.customer_number, " ", ""), "-", ""), "0")
        matches = session.scalars(select(Customer).where(stored == wanted).limit(2)).all()
        customer = matches[0] if len(matches) == 1 else None
    return _caller(session, settings, customer, at) if customer is not None else None


def _caller(session: Session, settings: Settings, customer: Customer, at: datetime) -> CallerCustomer:
    status = current_status(session, settings, customer, at)
    return CallerCustomer(customer.id, customer.name, customer.customer_number, status, bool(customer.sla.after_hours_included))


def current_status(session: Session, settings: Settings, customer: Customer, at: datetime) -> str:
    """The customer's abuse status at `at`. Usually a read; when the stored status is stale it is
    reassessed as a writer (`core.abuse_store.reassess_customer`, audited) and committed, so
    call it in a session of its own. Should that write fail, the derived status is still the
    answer: the stored one is only a cache, which the periodic reassessment fixes later."""
    check_aware("at", at)
    thresholds = thresholds_from(settings)
    history = customer_history(session, customer)
    derived = str(customer_status(history.rejections, at, thresholds, history.lifted))
    if derived == customer.status:
        return derived
    try:
        session.commit()  # end the read; SQLite must begin the write transaction as a writer
        begin_write(session)
        lock_customer(session, customer)
        session.refresh(customer)  # another call may have corrected it meanwhile
        change = reassess_customer(session, customer, at, thresholds=thresholds, cause={"reassessed_by": "call"})
        session.commit()
        return str(change.after)
    except SQLAlchemyError:
        session.rollback()
        return derived


# --- repeat callers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenMessage:
    voicemail_id: int
    incident_id: int | None
    recorded_at: datetime  # aware UTC


def open_message(
    session: Session, *, customer_id: int | None, e164: str | None, since: datetime, country: str = "NL"
) -> OpenMessage | None:
    """The newest message since `since` that nobody has called back yet: from the customer (any
    of its calls, or its incidents) or, without a customer, from the number. A message counts
    while its incident is open; one without an incident counts unless it was non-urgent. An
    empty recording (the caller hung up at the beep) is no message to point a caller to."""
    check_aware("since", since)
    non_urgent = and_(
        Voicemail.incident_id.is_(None),
        or_(
            func.coalesce(Call.outcome, "") == NON_URGENT_OUTCOME,
            exists().where(CallStep.call_id == Voicemail.call_id, CallStep.step == voicemail_step("non_urgent")),
        ),
    )
    query = (
        select(Voicemail.id, Voicemail.incident_id, Voicemail.recorded_at)
        .outerjoin(Call, Voicemail.call_id == Call.id)
        .outerjoin(Incident, Voicemail.incident_id == Incident.id)
        .where(Voicemail.recorded_at >= since, Voicemail.called_back_at.is_(None), Voicemail.size_bytes > 0)
        .where(or_(Incident.status.not_in([str(status) for status in FINAL_STATUSES]), and_(Incident.id.is_(None), not_(non_urgent))))
        .order_by(Voicemail.recorded_at.desc(), Voicemail.id.desc())
        .limit(1)
    )
    if customer_id is not None:
        query = query.where(or_(Call.customer_id == customer_id, Incident.customer_id == customer_id))
    elif e164:
        try:
            e164 = normalise(e164, country)
        except InvalidPhoneNumber:
            pass  # compared as given: a number the trunk sent twice the same way still matches
        query = query.where(Call.from_e164 == e164)
    else:
        return None
    row = session.execute(query).first()
    return OpenMessage(row.id, row.incident_id, row.recorded_at) if row is not None else None


# --- office hours and the roster ----------------------------------------------------------------


def office_status(session: Session, settings: Settings, at: datetime) -> OfficeStatus:
    """Whether the office is open at `at`, with the configured closures from the database."""
    return office_status_at(at, office_calendar(settings, session, at))


def escalation_plan(session: Session, settings: Settings, at: datetime) -> list[rules.EscalationStepPlan]:
    """What a call at `at` rings (`core.roster_store.escalation_plan`); may raise NoFallback."""
    return roster_escalation_plan(session, settings, at)


def escalation_plan_until(session: Session, settings: Settings, at: datetime) -> tuple[list[rules.EscalationStepPlan], datetime]:
    """What a call at `at` rings, and the first moment a call may ring something else (the next
    change of the roster, at most `PLAN_HORIZON` ahead): until then the plan may be reused
    without the database. Raises NoFallback like `escalation_plan`."""
    check_aware("at", at)
    roster = load_roster(session, ZoneInfo(settings.timezone), overrides_ending_after=at)
    policy = load_policy(session, settings.roster.step_timeout)
    fallback = fallback_contacts(session, settings)
    first = rules.escalation_between(roster, policy, at, at + PLAN_HORIZON, fallback, settings.roster.step_timeout)[0]
    return list(first.plans), first.ends_at


# --- voicemails ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredVoicemail:
    voicemail_id: int
    incident_id: int | None
    path: str  # relative to the data directory
    sha256: str
    size_bytes: int


class CallNotRecorded(LookupError):
    """The call's record is not in the database yet (it is written behind, and the database was
    away): retry later with `store_spooled_voicemail(…, spool)`; the audio is safe in `spool`."""

    def __init__(self, channel_id: str, spool: Path):
        self.channel_id, self.spool = channel_id, spool
        super().__init__(f"no call record for channel {channel_id} yet; the recording waits in {spool}")


def store_voicemail(
    session: Session, settings: Settings, *, call_channel_id: str, audio: bytes, audio_format: str, recorded_at: datetime,
    duration_seconds: Decimal | None, partial: bool, kind: VoicemailKind, add_to_voicemail_id: int | None = None,
    customer_id: int | None = None, pbx_recording: str | None = None,
) -> StoredVoicemail:  # fmt: skip
    """Write the recording to its file (atomically), then its rows; commits. See
    `store_spooled_voicemail`; raises CallNotRecorded (the audio is kept) when the call's record
    does not exist yet."""
    spool = spool_audio(settings, call_channel_id=call_channel_id, audio=audio, audio_format=audio_format, recorded_at=recorded_at)
    return store_spooled_voicemail(session, settings, spool, call_channel_id=call_channel_id, recorded_at=recorded_at,
                                   duration_seconds=duration_seconds, partial=partial, kind=kind,
                                   add_to_voicemail_id=add_to_voicemail_id, customer_id=customer_id,
                                   pbx_recording=pbx_recording)  # fmt: skip


def spool_audio(settings: Settings, *, call_channel_id: str, audio: bytes, audio_format: str, recorded_at: datetime) -> Path:
    """Write `audio` (atomically: temp file, fsync, rename) into the recording's day directory
    under a name that needs no database; the same audio spooled twice is one file. Returns it."""
    check_aware("recorded_at", recorded_at)
    if not valid_audio_format(audio_format):
        raise ValueError(f"audio format {audio_format!r}: expected a short lowercase name such as 'wav'")
    digest = hashlib.sha256(audio).hexdigest()
    stamp = recorded_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"{SPOOL_PREFIX}{_UNSAFE.sub('_', call_channel_id)}-{stamp}-{digest[:12]}.{audio_format}"
    path = _day_directory(settings, recorded_at) / name
    _write_atomically(path, audio)
    return path


def store_spooled_voicemail(
    session: Session, settings: Settings, spool: Path, *, call_channel_id: str, recorded_at: datetime,
    duration_seconds: Decimal | None, partial: bool, kind: VoicemailKind, add_to_voicemail_id: int | None = None,
    customer_id: int | None = None, pbx_recording: str | None = None,
) -> StoredVoicemail:  # fmt: skip
    """Move the spooled recording to `recordings/YYYY/MM/DD/call-<call id>-<n>.<format>` (the
    local date) and write its Voicemail row (source "ari"), a queued TranscriptionJob, the
    step `voicemail_<kind>` on the call, and for a critical message the call's incident (one per
    call). An addition joins the incident of `add_to_voicemail_id`; one whose message has none
    (or is gone) opens the call's own, so it is heard. Non-urgent: no incident. `customer_id`
    (the flow's identification) is the incident's customer when the call has none yet.
    `pbx_recording`: Asterisk's copy, kept for the reminder call (not for non-urgent messages).
    A message that opens an incident schedules its reminder call (core.reminders). Commits.

    Raises CallNotRecorded when the call's record is not written yet. Safe to retry: a
    voicemail of this call recorded at `recorded_at` already stored is returned as it is."""
    if kind not in VOICEMAIL_KINDS:
        raise ValueError(f"voicemail kind {kind!r}: one of {', '.join(VOICEMAIL_KINDS)}")
    check_aware("recorded_at", recorded_at)
    call = find_call_by_channel(session, call_channel_id)
    if call is None:
        raise CallNotRecorded(call_channel_id, spool)
    data_dir = settings.resolved_data_dir
    existing = session.scalar(select(Voicemail).where(Voicemail.call_id == call.id, Voicemail.recorded_at == recorded_at))
    if existing is not None:
        _settle_duplicate(spool, data_dir / existing.path)
        return _stored(existing)
    digest, size = _digest(spool)
    relative = _free_name(session, data_dir, _day_directory(settings, recorded_at), call.id, spool.suffix)
    incident = None
    if kind != "non_urgent":
        target = session.get(Voicemail, add_to_voicemail_id) if kind == "addition" and add_to_voicemail_id else None
        incident = target.incident if target is not None else None
        if incident is None:
            customer = session.get(Customer, customer_id) if customer_id is not None and call.customer_id is None else None
            incident = open_incident(session, customer, call, None, recorded_at)
    voicemail = Voicemail(call=call, incident=incident, recorded_at=recorded_at, duration_seconds=duration_seconds,
                          path=relative, sha256=digest, size_bytes=size, audio_format=spool.suffix[1:], source="ari",
                          partial=partial, pbx_recording=pbx_recording if kind != "non_urgent" else None)  # fmt: skip
    session.add(voicemail)
    session.add(TranscriptionJob(voicemail=voicemail, status="queued", next_attempt_at=recorded_at))
    record_step(session, call, voicemail_step(kind), recorded_at, relative)
    session.flush()
    if kind != "non_urgent":
        _queue_notification(session, settings, voicemail, recorded_at)
        _schedule_reminder(session, settings, voicemail, recorded_at)
    final = data_dir / relative
    os.replace(spool, final)
    fsync_directory(final.parent)
    try:
        session.commit()
    except BaseException:
        if final.exists() and not spool.exists():
            os.replace(final, spool)  # back where a retry looks for it, before anything else can fail
        session.rollback()
        raise
    return _stored(voicemail)


def _queue_notification(session: Session, settings: Settings, voicemail: Voicemail, at: datetime) -> None:
    # The engineers hear of the voicemail from rows committed with it; should queueing fail,
    # only its savepoint is undone: a recording is never lost for want of a notification.
    try:
        with session.begin_nested():
            queue_voicemail_received(session, settings, voicemail, at)
    except Exception:
        log.exception("voicemail stored, but its notification could not be queued", voicemail_id=voicemail.id)


def _schedule_reminder(session: Session, settings: Settings, voicemail: Voicemail, at: datetime) -> None:
    # Like the notification: a reminder that cannot be scheduled never costs the recording.
    try:
        with session.begin_nested():
            schedule_reminder(session, settings, voicemail, at)
    except Exception:
        log.exception("voicemail stored, but its reminder call could not be scheduled", voicemail_id=voicemail.id)


def _stored(voicemail: Voicemail) -> StoredVoicemail:
    return StoredVoicemail(voicemail.id, voicemail.incident_id, voicemail.path, voicemail.sha256, voicemail.size_bytes)


def _settle_duplicate(spool: Path, stored: Path) -> None:
    # A retry after a commit that went through although it reported an error.
    if not spool.exists():
        return
    if stored.exists():
        spool.unlink()
    else:
        os.replace(spool, stored)


def _day_directory(settings: Settings, recorded_at: datetime) -> Path:
    local = recorded_at.astimezone(ZoneInfo(settings.timezone))
    return settings.recordings_dir / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}"


def _free_name(session: Session, data_dir: Path, directory: Path, call_id: int, suffix: str) -> str:
    """The first `call-<id>-<n><suffix>` in `directory` that neither a row nor a file uses."""
    base = directory.relative_to(data_dir).as_posix()
    taken = set(session.scalars(select(Voicemail.path).where(Voicemail.call_id == call_id)))
    n = 1
    while (relative := f"{base}/call-{call_id}-{n}{suffix}") in taken or (data_dir / relative).exists():
        n += 1
    return relative


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as audio:
        while chunk := audio.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
