"""The transcription job queue and the worker service on SQLite and PostgreSQL (with a fake
model): leases, takeover of a crashed worker's job, retries with backoff, failure after N
attempts with the engineers notified, idempotent completion, and workers sharing a queue."""

from __future__ import annotations

import threading
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import open_database
from core.models import Notification, Transcript, TranscriptionJob, Voicemail
from core.settings import NotifySettings, Settings, TranscriptionSettings
from transcription import queue
from transcription.service import TranscriptionService
from transcription.worker import Transcription

T0 = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOOK = "http://127.0.0.1:9/hooks/engineers"  # only queued here; nothing is sent


@pytest.fixture
def qsettings(settings: Settings) -> Settings:
    return Settings(
        data_dir=settings.data_dir,
        database_url=settings.resolved_database_url,
        notify=NotifySettings(webhook_urls=[HOOK]),
        transcription=TranscriptionSettings(max_attempts=3, lease_seconds=60),
    )


@pytest.fixture
def sessions(qsettings: Settings) -> sessionmaker[Session]:
    factory = open_database(qsettings)
    yield factory
    factory.kw["bind"].dispose()


def add_voicemail(sessions: sessionmaker[Session], settings: Settings, name: str, *, at: datetime = T0,
                  audio: np.ndarray | None = None, content: bytes | None = None) -> int:  # fmt: skip
    """A stored voicemail (a WAV under the data directory) with its queued job; its id."""
    relative = f"recordings/2026/02/03/{name}.wav"
    path = settings.resolved_data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is not None:
        path.write_bytes(content)
    else:
        samples = audio if audio is not None else 0.3 * np.sin(np.arange(8000 * 3) * 0.2)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes((samples * 32767).astype("<i2").tobytes())
    with sessions() as session:
        voicemail = Voicemail(recorded_at=at, path=relative, sha256="0" * 64, size_bytes=path.stat().st_size)
        session.add(voicemail)
        session.add(TranscriptionJob(voicemail=voicemail, status="queued", next_attempt_at=at))
        session.commit()
        return voicemail.id


def job_of(sessions: sessionmaker[Session], voicemail_id: int) -> TranscriptionJob:
    with sessions() as session:
        return session.scalar(select(TranscriptionJob).where(TranscriptionJob.voicemail_id == voicemail_id))


def cards_for(sessions: sessionmaker[Session], voicemail_id: int) -> list[Notification]:
    with sessions() as session:
        return list(session.scalars(select(Notification).where(
            Notification.voicemail_id == voicemail_id, Notification.kind == "voicemail_card")))  # fmt: skip


def claim(sessions, settings, worker: str = "w1", now: datetime = T0) -> queue.ClaimedJob | None:
    with sessions() as session:
        return queue.claim_next_job(session, settings, worker=worker, now=now)


def a_transcription(text: str = "Onze webshop ligt plat. Bel me terug op 06 12 34 56 78.") -> Transcription:
    from transcription.worker import Segment

    segments = [Segment(0.0, 4.0, text, -0.25, 0.05, 1.3)]
    return Transcription(text, "nl", 0.97, segments, no_speech=False, low_confidence=False, partial=False,
                         audio_seconds=4.0, processing_seconds=0.5)  # fmt: skip


def complete(sessions, settings, job_id: int, now: datetime = T0, text: str | None = None):
    with sessions() as session:
        transcription = a_transcription(text) if text else a_transcription()
        return queue.complete_job(session, settings, job_id, transcription=transcription, card=None, model="base", now=now)


def fail(sessions, settings, job_id: int, worker: str = "w1", now: datetime = T0, **kwargs):
    with sessions() as session:
        return queue.fail_attempt(session, settings, job_id, worker=worker, error="RuntimeError: boom", now=now, **kwargs)


def test_a_transcript_the_time_budget_cut_short_is_stored_and_mailed_as_partial(sessions, qsettings: Settings) -> None:
    from dataclasses import replace

    voicemail = add_voicemail(sessions, qsettings, "a")
    job = claim(sessions, qsettings)
    with sessions() as session:
        cut = replace(a_transcription(), low_confidence=True, partial=True)
        queue.complete_job(session, qsettings, job.job_id, transcription=cut, card=None, model="base", now=T0)
    with sessions() as session:
        assert session.scalar(select(Transcript.partial).where(Transcript.voicemail_id == voicemail)) is True
    [card] = cards_for(sessions, voicemail)
    assert "ONVOLLEDIG" in card.body and card.payload["card"]["partial"] is True


# --- claiming --------------------------------------------------------------------------------


def test_the_oldest_due_job_is_leased_to_the_worker(sessions, qsettings: Settings) -> None:
    first = add_voicemail(sessions, qsettings, "a", at=T0)
    add_voicemail(sessions, qsettings, "b", at=T0 + SECOND)
    add_voicemail(sessions, qsettings, "later", at=T0 + timedelta(hours=1))
    job = claim(sessions, qsettings, now=T0 + 5 * SECOND)
    assert (job.voicemail_id, job.attempt) == (first, 1)
    assert job.audio_path == qsettings.resolved_data_dir / "recordings/2026/02/03/a.wav"
    stored = job_of(sessions, first)
    assert (stored.status, stored.attempts, stored.leased_by) == ("running", 1, "w1")
    assert stored.lease_until == T0 + 5 * SECOND + timedelta(seconds=60)
    assert claim(sessions, qsettings, now=T0 + 5 * SECOND).voicemail_id != first
    assert claim(sessions, qsettings, now=T0 + 5 * SECOND) is None  # "later" is not due yet


def test_an_empty_queue_gives_nothing(sessions, qsettings: Settings) -> None:
    assert claim(sessions, qsettings) is None
    with sessions() as session:
        assert not queue.has_due_job(session, T0)


def test_a_crashed_workers_job_is_taken_over_when_its_lease_expires(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    assert claim(sessions, qsettings, worker="crashed").attempt == 1
    assert claim(sessions, qsettings, worker="w2", now=T0 + 59 * SECOND) is None  # lease still held
    with sessions() as session:
        assert queue.has_due_job(session, T0 + 61 * SECOND)
    job = claim(sessions, qsettings, worker="w2", now=T0 + 61 * SECOND)
    assert (job.voicemail_id, job.attempt) == (voicemail, 2)
    assert job_of(sessions, voicemail).leased_by == "w2"


def test_a_job_that_keeps_killing_its_worker_fails_and_the_engineers_hear_of_it(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    now = T0
    for attempt in (1, 2, 3):
        assert claim(sessions, qsettings, worker=f"w{attempt}", now=now).attempt == attempt
        now += 2 * timedelta(seconds=60)
    assert claim(sessions, qsettings, worker="w4", now=now) is None
    job = job_of(sessions, voicemail)
    assert (job.status, job.attempts, job.finished_at) == ("failed", 3, now)
    assert "w3 stopped during attempt 3" in job.last_error
    [card] = cards_for(sessions, voicemail)
    assert card.recipient == HOOK


def test_the_lease_is_renewed_only_by_its_holder(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    job = claim(sessions, qsettings)
    with sessions() as session:
        assert queue.renew_lease(session, qsettings, job.job_id, worker="w1", now=T0 + 50 * SECOND)
    with sessions() as session:
        assert not queue.renew_lease(session, qsettings, job.job_id, worker="other", now=T0 + 50 * SECOND)
    assert job_of(sessions, voicemail).lease_until == T0 + 110 * SECOND
    assert claim(sessions, qsettings, worker="w2", now=T0 + 100 * SECOND) is None


# --- failures --------------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_after_a_growing_backoff(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    job = claim(sessions, qsettings)
    assert fail(sessions, qsettings, job.job_id) == "queued"
    stored = job_of(sessions, voicemail)
    assert (stored.status, stored.attempts, stored.last_error, stored.leased_by) == ("queued", 1, "RuntimeError: boom", None)
    assert stored.next_attempt_at == T0 + timedelta(seconds=30)
    assert claim(sessions, qsettings, now=T0 + 29 * SECOND) is None
    job = claim(sessions, qsettings, now=T0 + 30 * SECOND)
    assert job.attempt == 2
    fail(sessions, qsettings, job.job_id, now=T0 + 30 * SECOND)
    assert job_of(sessions, voicemail).next_attempt_at == T0 + 30 * SECOND + timedelta(minutes=2)
    assert cards_for(sessions, voicemail) == []
    assert [queue.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5, 9)] == [30, 120, 480, 1920, 3600, 3600]


def test_after_the_last_attempt_the_job_fails_and_the_engineers_get_the_card_without_transcript(sessions, qsettings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    now = T0
    statuses = []
    for _ in range(3):
        job = claim(sessions, qsettings, now=now)
        statuses.append(fail(sessions, qsettings, job.job_id, now=now))
        now += timedelta(hours=1)
    assert statuses == ["queued", "queued", "failed"]
    assert claim(sessions, qsettings, now=now) is None
    stored = job_of(sessions, voicemail)
    assert (stored.status, stored.attempts, stored.last_error) == ("failed", 3, "RuntimeError: boom")
    [card] = cards_for(sessions, voicemail)
    assert "RuntimeError: boom" in card.body
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Transcript)) == 0


def test_a_permanent_failure_fails_at_once(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    job = claim(sessions, qsettings)
    assert fail(sessions, qsettings, job.job_id, permanent=True) == "failed"
    assert job_of(sessions, voicemail).attempts == 1
    assert len(cards_for(sessions, voicemail)) == 1


def test_a_worker_whose_job_was_taken_over_cannot_fail_or_release_it(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    slow = claim(sessions, qsettings, worker="slow")
    claim(sessions, qsettings, worker="fast", now=T0 + 61 * SECOND)
    assert fail(sessions, qsettings, slow.job_id, worker="slow") is None
    with sessions() as session:
        assert not queue.release_job(session, slow.job_id, worker="slow", now=T0)
    assert (job_of(sessions, voicemail).status, job_of(sessions, voicemail).leased_by) == ("running", "fast")


def test_a_released_job_is_due_at_once_and_the_attempt_is_not_counted(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    job = claim(sessions, qsettings)
    with sessions() as session:
        assert queue.release_job(session, job.job_id, worker="w1", now=T0 + 5 * SECOND)
    stored = job_of(sessions, voicemail)
    assert (stored.status, stored.attempts, stored.leased_by) == ("queued", 0, None)
    assert claim(sessions, qsettings, worker="w2", now=T0 + 5 * SECOND).attempt == 1


# --- completion -------------------------------------------------------------------------------


def test_completing_writes_the_transcript_queues_the_card_and_marks_the_job_done(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    job = claim(sessions, qsettings)
    transcript = complete(sessions, qsettings, job.job_id, now=T0 + 3 * SECOND)
    assert transcript is not None
    with sessions() as session:
        stored = session.scalar(select(Transcript).where(Transcript.voicemail_id == voicemail))
        assert stored.text.startswith("Onze webshop ligt plat.")
        assert (stored.language, stored.model, stored.no_speech, stored.low_confidence) == ("nl", "base", False, False)
        assert stored.segments == [{"start": 0.0, "end": 4.0, "text": stored.text, "avg_logprob": -0.25,
                                    "no_speech_prob": 0.05, "compression_ratio": 1.3, "doubtful": False}]  # fmt: skip
        assert session.get(Voicemail, voicemail).duration_seconds == pytest.approx(4.0)
    done = job_of(sessions, voicemail)
    assert (done.status, done.finished_at, done.lease_until) == ("done", T0 + 3 * SECOND, None)
    assert len(cards_for(sessions, voicemail)) == 1


def test_a_job_done_twice_writes_one_transcript_and_one_card(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    slow = claim(sessions, qsettings, worker="slow")
    fast = claim(sessions, qsettings, worker="fast", now=T0 + 61 * SECOND)
    assert complete(sessions, qsettings, fast.job_id, now=T0 + 62 * SECOND, text="Eerste.") is not None
    assert complete(sessions, qsettings, slow.job_id, now=T0 + 63 * SECOND, text="Tweede.") is None
    with sessions() as session:
        texts = session.scalars(select(Transcript.text).where(Transcript.voicemail_id == voicemail)).all()
    assert texts == ["Eerste."]
    assert job_of(sessions, voicemail).status == "done"
    assert len(cards_for(sessions, voicemail)) == 1


def test_two_workers_never_take_the_same_job(sessions, qsettings: Settings) -> None:
    ids = {add_voicemail(sessions, qsettings, f"vm{n}") for n in range(12)}
    taken: dict[str, list[int]] = {"w1": [], "w2": []}
    start = threading.Barrier(2)

    def work(name: str) -> None:
        start.wait()
        while (job := claim(sessions, qsettings, worker=name, now=T0 + SECOND)) is not None:
            taken[name].append(job.voicemail_id)

    threads = [threading.Thread(target=work, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken["w1"] + taken["w2"]) == sorted(ids)  # each once, none twice


@pytest.mark.postgres
def test_on_postgresql_a_locked_job_is_skipped_not_waited_for(postgres_server, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, database_url=postgres_server.fresh_database_url(),
                        notify=NotifySettings(webhook_urls=[HOOK]))  # fmt: skip
    sessions = open_database(settings)
    try:
        first = add_voicemail(sessions, settings, "a")
        second = add_voicemail(sessions, settings, "b", at=T0 + SECOND)
        with sessions() as holder:
            # Another worker in the middle of claiming the first job holds its row lock.
            holder.scalar(select(TranscriptionJob).where(TranscriptionJob.voicemail_id == first).with_for_update())
            job = claim(sessions, settings, worker="w2", now=T0 + 5 * SECOND)
            assert job.voicemail_id == second
            holder.rollback()
        assert claim(sessions, settings, worker="w3", now=T0 + 5 * SECOND).voicemail_id == first
    finally:
        sessions.kw["bind"].dispose()


# --- the service, with a fake model ------------------------------------------------------------


class ScriptedModel:
    """Hears whatever it is told to, or raises."""

    def __init__(self, text: str = "", error: Exception | None = None, language: str = "nl") -> None:
        self.text, self.error, self.language = text, error, language

    def detect_language(self, audio, **options):
        return self.language, 0.97, [(self.language, 0.97)]

    def transcribe(self, audio, **options):
        if self.error is not None:
            raise self.error
        from types import SimpleNamespace

        segment = SimpleNamespace(start=0.0, end=3.0, text=" " + self.text, avg_logprob=-0.2, no_speech_prob=0.02,
                                  compression_ratio=1.3)  # fmt: skip
        return iter([segment]), None


def service(sessions, settings, model, now: datetime = T0 + SECOND) -> TranscriptionService:
    return TranscriptionService(settings, sessions, model, model_label="base", worker="test-worker",
                                now=lambda: now, find_speech=lambda audio: [(0.0, audio.duration_seconds)])  # fmt: skip


def test_the_service_transcribes_a_voicemail_and_fills_the_card(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    text = ("Goedenavond, onze webshop ligt plat, de pagina shop punt nl slash checkout geeft een foutmelding. "
            "Het is dringend want klanten kunnen niet betalen. Bel me terug op nul zes twaalf vierendertig zesenvijftig achtenzeventig.")  # fmt: skip
    worker = service(sessions, qsettings, ScriptedModel(text))
    assert worker.process_next()
    assert not worker.process_next()
    with sessions() as session:
        transcript = session.scalar(select(Transcript).where(Transcript.voicemail_id == voicemail))
    assert transcript.text == text and transcript.language == "nl"
    assert transcript.callback_number == "+31612345678"
    assert any("checkout" in page for page in transcript.pages)
    assert transcript.problem and transcript.urgency
    assert job_of(sessions, voicemail).status == "done"
    assert len(cards_for(sessions, voicemail)) == 1


def test_the_service_fails_unreadable_audio_at_once_with_a_clear_error(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "broken", content=b"ID3 this is an mp3")
    assert service(sessions, qsettings, ScriptedModel("never asked")).process_next()
    job = job_of(sessions, voicemail)
    assert job.status == "failed" and job.attempts == 1
    assert "not a WAV file" in job.last_error and "broken.wav" in job.last_error
    assert len(cards_for(sessions, voicemail)) == 1


def test_the_service_retries_a_model_error_later(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    assert service(sessions, qsettings, ScriptedModel(error=RuntimeError("CUDA out of memory"))).process_next()
    job = job_of(sessions, voicemail)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error == "RuntimeError: CUDA out of memory"
    assert not service(sessions, qsettings, ScriptedModel("Hallo.")).process_next()  # backing off
    assert service(sessions, qsettings, ScriptedModel("Hallo."), now=T0 + timedelta(minutes=1)).process_next()
    assert job_of(sessions, voicemail).status == "done"


def test_a_stopping_service_gives_its_job_back(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "a")
    stop = threading.Event()
    stop.set()
    assert service(sessions, qsettings, ScriptedModel("Hallo.")).process_next(stop)
    job = job_of(sessions, voicemail)
    assert (job.status, job.attempts, job.leased_by) == ("queued", 0, None)


def test_silence_is_stored_as_no_speech_and_still_notified(sessions, qsettings: Settings) -> None:
    voicemail = add_voicemail(sessions, qsettings, "quiet", audio=np.zeros(8000 * 4))
    assert service(sessions, qsettings, ScriptedModel("Bedankt voor het kijken!")).process_next()
    with sessions() as session:
        transcript = session.scalar(select(Transcript).where(Transcript.voicemail_id == voicemail))
    assert (transcript.text, transcript.no_speech, transcript.segments, transcript.callback_number) == ("", True, [], None)
    assert len(cards_for(sessions, voicemail)) == 1


def test_a_notification_that_cannot_be_queued_does_not_cost_the_transcript(sessions, qsettings: Settings,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    voicemail = add_voicemail(sessions, qsettings, "a")

    def broken(*args, **kwargs):
        raise ValueError("template error")

    monkeypatch.setattr(queue, "queue_voicemail_card", broken)
    assert service(sessions, qsettings, ScriptedModel("Onze site ligt plat.")).process_next()
    with sessions() as session:
        assert session.scalar(select(Transcript.text).where(Transcript.voicemail_id == voicemail)) == "Onze site ligt plat."
    assert job_of(sessions, voicemail).status == "done"


def test_the_service_loop_works_through_the_queue_until_stopped(sessions, qsettings: Settings) -> None:
    voicemails = [add_voicemail(sessions, qsettings, f"vm{n}") for n in range(3)]
    worker = TranscriptionService(qsettings, sessions, ScriptedModel("Hallo."), model_label="base",
                                  find_speech=lambda audio: [(0.0, audio.duration_seconds)])  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=worker.serve, args=(stop,))
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while datetime.now(UTC) < deadline and any(job_of(sessions, v).status != "done" for v in voicemails):
            stop.wait(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [job_of(sessions, v).status for v in voicemails] == ["done"] * 3
