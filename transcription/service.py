"""`nachtdienst service transcribe`: the worker that turns queued voicemails into transcripts.

At start it provisions the model (cheap when already assembled) and loads it once. Then it
polls the job queue (a plain read; the write lock is taken only when a job is due), and for
each job: reads the recording, transcribes it within its time budget, extracts the incident
card, and writes transcript, card notification and job status in one transaction. SIGTERM or
SIGINT stops it: a job in progress is given back to the queue (not counted as an attempt) at
the next segment, and the process returns 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.db import DatabaseUnavailable, open_database
from core.heartbeat import beat, heartbeat_file, worker_name
from core.logging import configure_logging
from core.models import utc_now
from core.settings import Settings
from transcription import queue
from transcription.audio import Audio, UnreadableAudio, speech_spans
from transcription.card import extract_card
from transcription.model import ModelUnavailable, load_configured, provision
from transcription.worker import (
    Options,
    Stopped,
    Transcription,
    WhisperLike,
    transcribe_file,
)

log = structlog.get_logger("transcription.service")

POLL_SECONDS = 0.5
DATABASE_RETRY_MAX_SECONDS = 30.0


class TranscriptionService:
    """Takes jobs from the queue one at a time and does them with one loaded model."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        model: WhisperLike,
        *,
        model_label: str,
        worker: str | None = None,
        now: Callable[[], datetime] = utc_now,
        find_speech: Callable[[Audio], Sequence[tuple[float, float]]] = speech_spans,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.model = model
        self.model_label = model_label
        self.worker = worker or worker_name()
        self.now = now
        self.find_speech = find_speech
        self.options = Options.from_settings(settings)

    def process_next(self, stop: threading.Event | None = None) -> bool:
        """Claim and do the next due job; False when none was due."""
        with self.sessions() as session:
            if not queue.has_due_job(session, self.now()):
                return False
            job = queue.claim_next_job(session, self.settings, worker=self.worker, now=self.now())
        if job is None:
            return False
        log.info("transcribing", job=job.job_id, voicemail=job.voicemail_id, attempt=job.attempt, path=str(job.audio_path))
        try:
            transcription = transcribe_file(
                self.model, job.audio_path, self.options, find_speech=self.find_speech,
                on_progress=self._lease_keeper(job), should_stop=(stop.is_set if stop is not None else lambda: False),
            )  # fmt: skip
        except Stopped:
            with self.sessions() as session:
                queue.release_job(session, job.job_id, worker=self.worker, now=self.now())
            log.info("stopping: job given back", job=job.job_id)
            return True
        except UnreadableAudio as exc:
            self._failed(job, str(exc), permanent=True)
            return True
        except Exception as exc:  # any failure of one job must not stop the worker
            log.exception("transcription failed", job=job.job_id)
            self._failed(job, f"{type(exc).__name__}: {exc}", permanent=False)
            return True
        card = self._card(transcription)
        try:
            with self.sessions() as session:
                written = queue.complete_job(session, self.settings, job.job_id, transcription=transcription, card=card,
                                             model=self.model_label, now=self.now())  # fmt: skip
        except SQLAlchemyError:
            raise  # the database is away: the lease runs out and the job is done again later
        except Exception as exc:
            log.exception("storing the transcript failed", job=job.job_id)
            self._failed(job, f"storing the transcript failed: {type(exc).__name__}: {exc}", permanent=False)
            return True
        log.info("job done", job=job.job_id, voicemail=job.voicemail_id, transcript=written.id if written else None,
                 low_confidence=transcription.low_confidence, no_speech=transcription.no_speech)  # fmt: skip
        return True

    def serve(self, stop: threading.Event) -> None:
        """Process jobs until `stop` is set; a database that is away is waited for."""
        retry = POLL_SECONDS
        heartbeat = heartbeat_file(self.settings, "transcribe")
        while not stop.is_set():
            try:
                worked = self.process_next(stop)
                retry = POLL_SECONDS
                beat(heartbeat)
            except (SQLAlchemyError, DatabaseUnavailable) as exc:
                log.error("database unavailable; retrying", error=str(exc).splitlines()[0], retry_seconds=retry)
                stop.wait(retry)
                retry = min(retry * 2, DATABASE_RETRY_MAX_SECONDS)
                continue
            except Exception:  # a bug met by one job must not end the worker
                log.exception("unexpected error; going on", retry_seconds=retry)
                stop.wait(retry)
                retry = min(retry * 2, DATABASE_RETRY_MAX_SECONDS)
                continue
            if not worked:
                stop.wait(POLL_SECONDS)

    def _card(self, transcription: Transcription) -> Any | None:
        if not transcription.text:
            return None
        try:
            own_numbers = (self.settings.support_number, self.settings.office.office_number)
            return extract_card(transcription.text, transcription.language, support_numbers=own_numbers)
        except Exception:  # a card we cannot fill must not cost the transcript
            log.exception("incident card extraction failed; transcript stored without card fields")
            return None

    def _failed(self, job: queue.ClaimedJob, error: str, *, permanent: bool) -> None:
        with self.sessions() as session:
            queue.fail_attempt(session, self.settings, job.job_id, worker=self.worker, error=error, now=self.now(),
                               permanent=permanent)  # fmt: skip

    def _lease_keeper(self, job: queue.ClaimedJob) -> Callable[[float], None]:
        """Renews the lease once half of it has passed, so a long job is not taken over."""
        renewed_at = time.monotonic()
        half = self.settings.transcription.lease_seconds / 2

        def keep(_seconds_done: float) -> None:
            nonlocal renewed_at
            if time.monotonic() - renewed_at < half:
                return
            with self.sessions() as session:
                if not queue.renew_lease(session, self.settings, job.job_id, worker=self.worker, now=self.now()):
                    log.warning("lease lost to another worker; finishing anyway", job=job.job_id)
            renewed_at = time.monotonic()

        return keep


def start(settings: Settings) -> TranscriptionService:
    """Provision and load the model, open the database: everything before the first job."""
    started = time.monotonic()
    path = provision(settings)
    choice, model = load_configured(settings, path)
    log.info("model loaded", model=choice.label, path=str(path), device=choice.device, compute_type=choice.compute_type,
             threads=choice.threads, seconds=round(time.monotonic() - started, 2))  # fmt: skip
    return TranscriptionService(settings, open_database(settings), model, model_label=choice.label)


def run(settings: Settings) -> None:
    """Blocking entry point for the supervisor (one process per service)."""
    if not structlog.is_configured():
        configure_logging(settings)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            service = start(settings)
        except (ModelUnavailable, DatabaseUnavailable) as exc:
            log.error("transcription worker cannot start", error=str(exc))
            raise SystemExit(f"error: {exc}") from None
        log.info("transcription worker running", worker=service.worker)
        service.serve(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("transcription worker stopped")
