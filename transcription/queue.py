"""The transcription job queue in the database, shared by any number of workers.

A job is claimed with a lease: `running`, `leased_by` the worker, `lease_until` now + the
lease. On PostgreSQL the claim is `SELECT … FOR UPDATE SKIP LOCKED`, so workers on several
machines never take the same job and never wait on each other; on SQLite it is one write
transaction (BEGIN IMMEDIATE), which is safe for the one worker SQLite is meant for.

Decisions a caller may rely on:
- An attempt is counted when the job is claimed, so a job that kills its worker (its lease
  expires and another worker takes it over) still uses up its attempts.
- A failed attempt waits `backoff(attempt)` before the job is due again; after
  `max_attempts` attempts, or at once for audio that can never be read, the job is `failed`
  with its error and the engineers are notified without a transcript.
- Completing is idempotent: a voicemail gets one transcript however often its job is done
  (a worker whose lease was taken over may finish after the one that took it); later
  completions change nothing and queue no second notification.
- A worker acts on a job only while the job is still its own (`leased_by`) for failures and
  releases; completing needs no lease, because the work is done and valid either way.
- Every function here commits (or rolls back) its own transaction. Moments are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import begin_write
from core.incidents import check_aware
from core.models import Transcript, TranscriptionJob, Voicemail
from core.notify.outbox import queue_voicemail_card
from core.settings import Settings
from transcription.worker import Transcription

log = structlog.get_logger("transcription.queue")

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_FACTOR = 4
BACKOFF_MAX = timedelta(hours=1)
ERROR_LIMIT = 2000  # characters of an error kept on the job


@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    voicemail_id: int
    attempt: int  # 1 for the first
    audio_path: Path
    lease_until: datetime


def backoff(attempt: int) -> timedelta:
    """Wait after failed attempt number `attempt`: 30 s, 2 min, 8 min, … at most an hour."""
    return min(BACKOFF_FIRST * BACKOFF_FACTOR ** max(attempt - 1, 0), BACKOFF_MAX)


def _due(now: datetime) -> Any:
    return or_(
        and_(TranscriptionJob.status == "queued", TranscriptionJob.next_attempt_at <= now),
        and_(TranscriptionJob.status == "running", TranscriptionJob.lease_until < now),
    )


def has_due_job(session: Session, now: datetime) -> bool:
    """A cheap read (no lock) for polling: is any job due or abandoned?"""
    found = session.scalar(select(TranscriptionJob.id).where(_due(now)).limit(1)) is not None
    session.rollback()  # end the read transaction: SQLite must begin the claim as a writer
    return found


def claim_next_job(
    session: Session, settings: Settings, *, worker: str, now: datetime
) -> ClaimedJob | None:
    """Lease the next due job (queued and due, or running with an expired lease) to `worker`,
    oldest first; None when there is none. An abandoned job that has no attempts left is
    failed on the way (see the module's docstring). Commits."""
    check_aware("now", now)
    lease = timedelta(seconds=settings.transcription.lease_seconds)
    while True:
        begin_write(session)
        query = select(TranscriptionJob).where(_due(now)).order_by(TranscriptionJob.next_attempt_at, TranscriptionJob.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job = session.scalar(query)
        if job is None:
            session.rollback()
            return None
        if job.status == "running" and job.attempts >= settings.transcription.max_attempts:
            error = f"the worker {job.leased_by} stopped during attempt {job.attempts} (lease expired)"
            _fail(session, settings, job, error, now)
            session.commit()
            continue
        taken_over = job.leased_by if job.status == "running" else None
        job.status = "running"
        job.attempts += 1
        job.leased_by = worker
        job.lease_until = now + lease
        claimed = ClaimedJob(job.id, job.voicemail_id, job.attempts, settings.resolved_data_dir / job.voicemail.path, job.lease_until)
        session.commit()
        log.info("job claimed", job=claimed.job_id, voicemail=claimed.voicemail_id, attempt=claimed.attempt,
                 taken_over_from=taken_over)  # fmt: skip
        return claimed


def renew_lease(session: Session, settings: Settings, job_id: int, *, worker: str, now: datetime) -> bool:
    """Extend the lease of a job `worker` still holds; False when it is no longer its own."""
    job = _own_job(session, job_id, worker)
    if job is None:
        return False
    job.lease_until = now + timedelta(seconds=settings.transcription.lease_seconds)
    session.commit()
    return True


def release_job(session: Session, job_id: int, *, worker: str, now: datetime) -> bool:
    """Give a job back without counting the attempt (the worker is stopping): it is due at once."""
    job = _own_job(session, job_id, worker)
    if job is None:
        return False
    job.status, job.leased_by, job.lease_until = "queued", None, None
    job.attempts = max(job.attempts - 1, 0)
    job.next_attempt_at = now
    session.commit()
    return True


def fail_attempt(
    session: Session, settings: Settings, job_id: int, *, worker: str, error: str, now: datetime, permanent: bool = False
) -> str | None:
    """Record a failed attempt of `worker`'s job: queued again after a backoff, or `failed`
    (with the engineers notified) when no attempts are left or the failure is `permanent`.
    Returns the job's new status, or None when the job is no longer `worker`'s."""
    job = _own_job(session, job_id, worker)
    if job is None:
        return None
    if permanent or job.attempts >= settings.transcription.max_attempts:
        _fail(session, settings, job, error, now)
    else:
        job.status, job.leased_by, job.lease_until = "queued", None, None
        job.last_error = error[:ERROR_LIMIT]
        job.next_attempt_at = now + backoff(job.attempts)
    status = job.status
    session.commit()
    log.warning("transcription attempt failed", job=job_id, attempt=job.attempts, status=status, error=error)
    return status


def complete_job(
    session: Session, settings: Settings, job_id: int, *, transcription: Transcription, card: Any | None,
    model: str, now: datetime,
) -> Transcript | None:  # fmt: skip
    """Write the voicemail's transcript (with the incident card's fields from `card`, an
    IncidentCard or None), queue the card notification and mark the job done, in one
    transaction. Returns the new transcript, or None when the voicemail had one already (the
    job is marked done all the same)."""
    check_aware("now", now)
    job = _locked_job(session, job_id)
    if job is None:
        session.rollback()
        return None
    voicemail = job.voicemail
    existing = session.scalar(select(Transcript.id).where(Transcript.voicemail_id == voicemail.id))
    if existing is not None:
        _mark_done(job, now)
        session.commit()
        log.info("transcript exists already; job marked done", job=job_id, voicemail=voicemail.id)
        return None
    transcript = Transcript(
        voicemail=voicemail,
        language=transcription.language,
        text=transcription.text,
        segments=transcription.segments_json(),
        no_speech=transcription.no_speech,
        low_confidence=transcription.low_confidence,
        partial=transcription.partial,
        model=model,
        created_at=now,
        problem=_field(card, "problem"),
        pages=list(_field(card, "pages") or []),
        urgency=_field(card, "urgency"),
        callback_number=_field(card, "callback_number"),
    )
    session.add(transcript)
    if voicemail.duration_seconds is None:
        voicemail.duration_seconds = Decimal(f"{transcription.audio_seconds:.2f}")
    _mark_done(job, now)
    try:
        session.flush()
        _queue_card(session, settings, voicemail, transcript, now)
        session.commit()
    except IntegrityError:
        # Another worker wrote this voicemail's transcript between our check and our write.
        session.rollback()
        job = _locked_job(session, job_id)
        if job is not None:
            _mark_done(job, now)
        session.commit()
        return None
    return transcript


def _mark_done(job: TranscriptionJob, now: datetime) -> None:
    job.status, job.finished_at, job.lease_until, job.last_error = "done", now, None, None


def _fail(session: Session, settings: Settings, job: TranscriptionJob, error: str, now: datetime) -> None:
    job.status, job.leased_by, job.lease_until = "failed", None, None
    job.last_error = error[:ERROR_LIMIT]
    job.finished_at = now
    # The engineers must hear of the voicemail even though nobody can read it to them.
    _queue_card(session, settings, job.voicemail, None, now, failure=job.last_error)


def _queue_card(
    session: Session, settings: Settings, voicemail: Voicemail, transcript: Transcript | None, now: datetime,
    *, failure: str | None = None,
) -> None:  # fmt: skip
    """Queue the card notification in the caller's transaction (an outbox: the mail goes out
    when the transcript, or the failure, is stored). Should queueing fail, only its savepoint
    is undone and the error logged: the transcript is never lost for want of a notification."""
    try:
        with session.begin_nested():
            queue_voicemail_card(session, settings, voicemail, transcript, now, failure=failure)
    except Exception:
        log.exception("transcript stored, but its card notification could not be queued", voicemail_id=voicemail.id)


def _field(card: Any | None, name: str) -> Any:
    return getattr(card, name, None) if card is not None else None


def _locked_job(session: Session, job_id: int) -> TranscriptionJob | None:
    begin_write(session)
    query = select(TranscriptionJob).where(TranscriptionJob.id == job_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def _own_job(session: Session, job_id: int, worker: str) -> TranscriptionJob | None:
    job = _locked_job(session, job_id)
    if job is None or job.status != "running" or job.leased_by != worker:
        session.rollback()
        return None
    return job
