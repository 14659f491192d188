"""The outbox: notifications are rows written in the caller's transaction, so a voicemail and
the news of it commit together (or not at all); the dispatcher delivers them afterwards.

Decisions a caller may rely on:
- Recipients are the e-mail addresses of the engineers the escalation plan rings at `at`
  (every step; de-duplicated, case-insensitively) when `notify.smtp_host` is set, plus every
  `notify.webhook_urls` entry. One row per recipient and channel.
- Nobody to notify is an error in the log (naming what to configure), never silence; no row
  is written then.
- Idempotent per voicemail: queueing a kind again for the same voicemail adds only recipients
  it has not got yet (on PostgreSQL the voicemail's row is locked meanwhile, so two workers
  doing it at once queue each recipient once).
- A voicemail left as non-urgent wakes nobody: nothing is queued for it.
- Nothing here commits; rows are flushed. Moments are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.incident_store import incident_sla_clock
from core.incidents import check_aware
from core.models import CallStep, Notification, Transcript, Voicemail
from core.notify.messages import Caller, Card, Message, VoicemailFacts, voicemail_card, voicemail_received
from core.roster_store import NoFallback, escalation_plan
from core.settings import Settings

log = structlog.get_logger("notify.outbox")

EMAIL = "email"
WEBHOOK = "webhook"
NON_URGENT = "non_urgent"
_VOICEMAIL_STEP = "voicemail_"


@dataclass(frozen=True)
class Recipients:
    emails: tuple[str, ...]
    webhooks: tuple[str, ...]
    why_none: str = ""  # when both are empty: what to configure

    def __bool__(self) -> bool:
        return bool(self.emails or self.webhooks)


def recipients(session: Session, settings: Settings, at: datetime) -> Recipients:
    """Who hears of something that happens at `at` (see the module's decisions)."""
    check_aware("at", at)
    webhooks = tuple(dict.fromkeys(settings.notify.webhook_urls))
    if not settings.notify.smtp_host:
        why = "notify.smtp_host is unset (no mail is sent) and notify.webhook_urls is empty"
        return Recipients((), webhooks, "" if webhooks else why)
    emails = tuple(on_duty_emails(session, settings, at))
    why = "" if emails or webhooks else (
        f"nobody the line rings at {at.isoformat()} has an e-mail address (`nachtdienst engineers`), "
        "and notify.webhook_urls is empty"
    )  # fmt: skip
    return Recipients(emails, webhooks, why)


def on_duty_emails(session: Session, settings: Settings, at: datetime) -> list[str]:
    """The e-mail addresses of every engineer in every step the line would ring at `at`."""
    try:
        plan = escalation_plan(session, settings, at)
    except NoFallback:
        return []
    seen: dict[str, str] = {}
    for step in plan:
        for leg in step.contacts:
            email = (leg.engineer.email or "").strip() if leg.engineer is not None else ""
            if email:
                seen.setdefault(email.lower(), email)
    return list(seen.values())


def queue_voicemail_received(session: Session, settings: Settings, voicemail: Voicemail, at: datetime) -> list[Notification]:
    """Queue "voicemail from …, being transcribed" for whoever is on duty at `at`. Returns the
    rows created now (none when all were queued before, or nobody is to be notified)."""
    kind = voicemail_kind(session, voicemail)
    if kind == NON_URGENT:
        return []
    message = voicemail_received(voicemail_facts(voicemail, kind), ZoneInfo(settings.timezone))
    return _queue_for_voicemail(session, settings, message, voicemail, at, attachments=[])


def queue_voicemail_card(
    session: Session, settings: Settings, voicemail: Voicemail, transcript: Transcript | None, at: datetime,
    *, failure: str | None = None,
) -> list[Notification]:  # fmt: skip
    """Queue the incident card (transcript, card fields, SLA due time; by e-mail with the audio
    attached) for whoever is on duty at `at`. `transcript` None: transcription failed
    (`failure` says why) and the card says so; the audio still goes."""
    kind = voicemail_kind(session, voicemail)
    if kind == NON_URGENT:
        return []
    sla_due_at = incident_sla_clock(session, voicemail.incident, at).due_at if voicemail.incident is not None else None
    message = voicemail_card(voicemail_facts(voicemail, kind), card_of(transcript, failure), ZoneInfo(settings.timezone),
                             sla_due_at=sla_due_at)  # fmt: skip
    return _queue_for_voicemail(session, settings, message, voicemail, at, attachments=[voicemail.path])


def queue_message(
    session: Session, settings: Settings, message: Message, at: datetime, *, incident_id: int | None = None,
    voicemail_id: int | None = None, attachments: Sequence[str] = (),
) -> list[Notification]:  # fmt: skip
    """Queue any composed message (e.g. `messages.line_fallback`) for whoever is on duty at `at`;
    no de-duplication: the caller decides whether it was sent already."""
    found = recipients(session, settings, at)
    if not found:
        log.error("nobody to notify", kind=message.kind, incident_id=incident_id, why=found.why_none)
        return []
    return _add(session, message, found, at, incident_id=incident_id, voicemail_id=voicemail_id,
                attachments=list(attachments), skip=set())  # fmt: skip


# --- voicemails -----------------------------------------------------------------------------


def voicemail_kind(session: Session, voicemail: Voicemail) -> str:
    """critical, addition or non_urgent, as its call's step `voicemail_<kind>` says (the row has
    no kind); a voicemail without such a step (Asterisk's own voicemail on the fallback path)
    counts as critical: somebody must hear it."""
    if voicemail.call_id is None:
        return "critical"
    step = session.scalar(
        select(CallStep.step)
        .where(CallStep.call_id == voicemail.call_id, CallStep.detail == voicemail.path,
               CallStep.step.startswith(_VOICEMAIL_STEP))
        .order_by(CallStep.id)
        .limit(1)
    )  # fmt: skip
    return step.removeprefix(_VOICEMAIL_STEP) if step else "critical"


def voicemail_facts(voicemail: Voicemail, kind: str) -> VoicemailFacts:
    call = voicemail.call
    incident = voicemail.incident
    customer = incident.customer if incident is not None and incident.customer is not None else None
    if customer is None and call is not None:
        customer = call.customer
    number = (call.from_e164 or call.from_number) if call is not None else None
    caller = Caller(number, customer.name if customer else None, customer.customer_number if customer else None)
    return VoicemailFacts(voicemail.id, voicemail.incident_id, kind, voicemail.recorded_at, caller, voicemail.path,
                          voicemail.duration_seconds, bool(voicemail.partial))  # fmt: skip


def card_of(transcript: Transcript | None, failure: str | None = None) -> Card:
    if transcript is None:
        return Card(transcribed=False, failure=failure)
    return Card(
        problem=transcript.problem, pages=tuple(str(page) for page in transcript.pages or ()), urgency=transcript.urgency,
        callback_number=transcript.callback_number, language=transcript.language, transcript=transcript.text or "",
        no_speech=bool(transcript.no_speech), low_confidence=bool(transcript.low_confidence),
        partial=bool(transcript.partial),
    )  # fmt: skip


def _queue_for_voicemail(
    session: Session, settings: Settings, message: Message, voicemail: Voicemail, at: datetime, *, attachments: list[str]
) -> list[Notification]:
    found = recipients(session, settings, at)
    if not found:
        log.error("nobody to notify", kind=message.kind, voicemail_id=voicemail.id, incident_id=voicemail.incident_id,
                  why=found.why_none)  # fmt: skip
        return []
    _lock(session, voicemail)
    queued = session.execute(
        select(Notification.channel, Notification.recipient)
        .where(Notification.voicemail_id == voicemail.id, Notification.kind == message.kind)
    )  # fmt: skip
    skip = {_key(row.channel, row.recipient) for row in queued}
    return _add(session, message, found, at, incident_id=voicemail.incident_id, voicemail_id=voicemail.id,
                attachments=attachments, skip=skip)  # fmt: skip


def _key(channel: str, recipient: str) -> tuple[str, str]:
    # Mail addresses are compared as people write them; a webhook URL's path is a secret token
    # in which case matters.
    return channel, recipient.lower() if channel == EMAIL else recipient


def _lock(session: Session, voicemail: Voicemail) -> None:
    # PostgreSQL: two workers queueing the card of one voicemail at once take turns here, so
    # the second sees the first's rows. SQLite: the caller's write transaction is the lock.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Voicemail.id).where(Voicemail.id == voicemail.id).with_for_update())


def _add(
    session: Session, message: Message, found: Recipients, at: datetime, *, incident_id: int | None,
    voicemail_id: int | None, attachments: list[str], skip: set[tuple[str, str]],
) -> list[Notification]:  # fmt: skip
    check_aware("at", at)
    wanted = [(EMAIL, email) for email in found.emails] + [(WEBHOOK, url) for url in found.webhooks]
    rows = [
        Notification(
            kind=message.kind, channel=channel, recipient=recipient, incident_id=incident_id, voicemail_id=voicemail_id,
            subject=message.subject, body=message.body, payload=message.payload,
            attachments=list(attachments) if channel == EMAIL else [], status="pending", attempts=0,
            next_attempt_at=at, created_at=at,
        )
        for channel, recipient in wanted
        if _key(channel, recipient) not in skip
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    if rows:
        log.info("notifications queued", kind=message.kind, voicemail_id=voicemail_id, incident_id=incident_id,
                 emails=sum(row.channel == EMAIL for row in rows), webhooks=sum(row.channel == WEBHOOK for row in rows))  # fmt: skip
    return rows
