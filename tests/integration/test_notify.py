"""Notifications end to end on SQLite and PostgreSQL: a voicemail stored by the line queues its
notifications, the dispatcher delivers them to a real SMTP server (aiosmtpd, on 127.0.0.1) and
a real web server (aiohttp) standing in for Slack/Mattermost; failures are retried with
backoff, given up after the last attempt (and logged), and never sent twice by two
dispatchers. The SMTP transport is also tested on its own: STARTTLS with login, implicit TLS
with a self-signed certificate generated here by `openssl`, and the ways it fails."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import line_desk
from core.calls import start_call
from core.db import begin_write, open_database
from core.line_desk import StoredVoicemail
from core.models import (
    STANDARD_SLA_NAME,
    Customer,
    CustomerPhone,
    Engineer,
    EngineerContact,
    Notification,
    Sla,
    Transcript,
    Voicemail,
)
from core.notify import DeliveryError
from core.notify.dispatcher import LEASE, claim_due, deliver_due
from core.notify.email import send_email
from core.notify.outbox import queue_voicemail_card, queue_voicemail_received
from core.notify.webhook import post_webhook
from core.roster_store import save_rotation
from core.settings import NotifySettings, Settings

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam
SECOND = timedelta(seconds=1)
ACME_PHONE = "+31612345678"
SUPPORT = "0497842611"
ANNA, BRAM = "anna@gsd.example", "bram@gsd.example"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def a_wav(seconds: float = 0.5) -> bytes:
    """A real 8 kHz mono WAV, as Asterisk records."""
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(bytes(range(256)) * int(seconds * 8000 * 2 / 256))
    return out.getvalue()


WAV = a_wav()


# --- the real peers ---------------------------------------------------------------------------


class MailServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping every message it accepts."""

    def __init__(self, port: int | None = None, **smtp_parameters: Any):
        self.port = port or free_port()
        self.parameters = smtp_parameters
        self.envelopes: list[Any] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def start(self) -> MailServer:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.parameters)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def mails(self) -> list[EmailMessage]:
        return [message_from_bytes(envelope.content, policy=default_policy) for envelope in self.envelopes]

    @staticmethod
    def text(mail: EmailMessage) -> str:
        """The plain-text body, with the line ends as written (SMTP carries CRLF)."""
        return mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")

    def mail(self, to: str, kind: str) -> EmailMessage:
        [found] = [m for m in self.mails if m["To"] == to and m["X-Nachtdienst-Kind"] == kind]
        return found


class WebhookServer:
    """A real web server (aiohttp, in a thread of its own) answering POSTs like Slack would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000/secret-token"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append({"path": request.path, "content_type": request.content_type, "json": body})
        return web.Response(status=self.status, text="ok" if self.status < 300 else "no such hook")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> WebhookServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def smtp():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def hook():
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(certificate: tuple[Path, Path]):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def notify_settings(settings: Settings, smtp_port: int, webhooks: list[str] = (), **extra: Any) -> Settings:
    notify = NotifySettings(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none", mail_from="nachtdienst@gsd.example",
                            webhook_urls=list(webhooks), **extra)  # fmt: skip
    return settings.model_copy(update={"notify": notify})


# --- the line's data --------------------------------------------------------------------------


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = open_database(settings)
    with factory() as session:
        standard = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
        session.add(Customer(name="ACME", customer_number="1001", sla=standard, phones=[CustomerPhone(e164=ACME_PHONE)]))
        session.commit()
    yield factory
    factory.kw["bind"].dispose()


def on_duty(sessions: sessionmaker[Session], anna_email: str | None = ANNA, bram_email: str | None = BRAM) -> None:
    """Anna is primary, Bram secondary this week; the standard policy rings both in turn."""
    with sessions() as session:
        anna = Engineer(name="Anna", email=anna_email, contacts=[EngineerContact(kind="sip", address="sip:anna@10.0.0.5")])
        bram = Engineer(name="Bram", email=bram_email, contacts=[EngineerContact(kind="phone", address="+31687654321")])
        session.add_all([anna, bram])
        session.flush()
        save_rotation(session, date(2026, 2, 2), [anna], [bram])
        session.commit()


def leave_voicemail(sessions: sessionmaker[Session], settings: Settings, channel: str = "chan-1", *, kind: str = "critical",
                    at: datetime = NIGHT, **extra: Any) -> StoredVoicemail:  # fmt: skip
    with sessions() as session:
        start_call(session, channel_id=channel, from_number=ACME_PHONE, to_number=SUPPORT, at=at)
        session.commit()
        return line_desk.store_voicemail(session, settings, call_channel_id=channel, audio=WAV, audio_format="wav",
                                         recorded_at=at, duration_seconds=Decimal("72.5"), partial=False, kind=kind,
                                         **extra)  # fmt: skip


def transcribe(sessions: sessionmaker[Session], settings: Settings, stored: StoredVoicemail, at: datetime) -> list[int]:
    """What the transcription worker does when it is done: the transcript and the card's rows."""
    with sessions() as session:
        begin_write(session)
        voicemail = session.get(Voicemail, stored.voicemail_id)
        transcript = Transcript(
            voicemail=voicemail, language="nl", model="base",
            text="Hallo, met Jan van ACME. De webshop geeft een foutmelding bij het afrekenen. Bel me terug op nul zes twaalf.",
            problem="Webshop geeft een foutmelding bij afrekenen", pages=["https://acme.example/checkout"],
            urgency="klanten kunnen niet betalen", callback_number="+31612345678",
        )  # fmt: skip
        session.add(transcript)
        session.flush()
        rows = queue_voicemail_card(session, settings, voicemail, transcript, at)
        session.commit()
        return [row.id for row in rows]


def notifications(sessions: sessionmaker[Session], **where: Any) -> list[Notification]:
    with sessions() as session:
        query = select(Notification).filter_by(**where).order_by(Notification.id)
        return list(session.scalars(query))


# --- a voicemail reaches the engineers on duty -----------------------------------------------------


def test_a_stored_voicemail_is_mailed_and_posted_to_the_engineers_on_duty_at_once(sessions, settings, smtp, hook):
    settings = notify_settings(settings, smtp.port, [hook.url])
    on_duty(sessions)
    stored = leave_voicemail(sessions, settings)

    queued = notifications(sessions)
    assert [(n.kind, n.channel, n.recipient, n.status) for n in queued] == [
        ("voicemail_received", "email", ANNA, "pending"),
        ("voicemail_received", "email", BRAM, "pending"),
        ("voicemail_received", "webhook", hook.url, "pending"),
    ]
    assert {(n.voicemail_id, n.incident_id, n.next_attempt_at) for n in queued} == {(stored.voicemail_id, stored.incident_id, NIGHT)}

    report = deliver_due(sessions, settings, NIGHT + SECOND, "test", 20)

    assert sorted(report.sent) == [n.id for n in queued]
    subject = "Voicemail van ACME (1001) / +31612345678, wordt uitgeschreven"
    assert sorted((m["To"], m["Subject"]) for m in smtp.mails) == [(ANNA, subject), (BRAM, subject)]
    mail = smtp.mail(ANNA, "voicemail_received")
    assert mail["From"] == "nachtdienst@gsd.example" and mail["X-Nachtdienst-Incident"] == str(stored.incident_id)
    body = smtp.text(mail)
    assert "opgenomen di 3 feb 2026 02:00 (Europe/Amsterdam), 1:12 min" in body
    assert f"nachtdienst incidents ack {stored.incident_id} --by NAAM" in body and "English: critical voicemail" in body
    assert not list(mail.iter_attachments())
    [posted] = hook.received
    assert posted["path"] == "/hooks/T000/B000/secret-token" and posted["content_type"] == "application/json"
    assert posted["json"]["kind"] == "voicemail_received" and posted["json"]["incident_id"] == stored.incident_id
    assert posted["json"]["customer"] == {"name": "ACME", "number": "1001"} and posted["json"]["caller"] == ACME_PHONE
    assert posted["json"]["text"].startswith("Voicemail van ACME (1001) / +31612345678, wordt uitgeschreven.")
    sent = notifications(sessions)
    assert {(n.status, n.attempts, n.lease_until) for n in sent} == {("sent", 1, None)}
    assert all(NIGHT + SECOND <= n.sent_at < NIGHT + 10 * SECOND for n in sent)
    assert deliver_due(sessions, settings, NIGHT + 60 * SECOND, "test", 20).claimed == 0  # sent once, done


def test_the_card_mail_carries_the_transcript_and_the_recording(sessions, settings, smtp, hook):
    settings = notify_settings(settings, smtp.port, [hook.url])
    on_duty(sessions)
    stored = leave_voicemail(sessions, settings)
    transcribed_at = NIGHT + 20 * SECOND
    card_ids = transcribe(sessions, settings, stored, transcribed_at)
    assert len(card_ids) == 3

    deliver_due(sessions, settings, transcribed_at, "test", 20)

    mail = smtp.mail(BRAM, "voicemail_card")
    assert mail["Subject"] == f"Incident {stored.incident_id}: Webshop geeft een foutmelding bij afrekenen — ACME (1001) / +31612345678"
    assert mail.is_multipart() and mail.get_content_type() == "multipart/mixed"
    text = smtp.text(mail)
    for line in ("Probleem:            Webshop geeft een foutmelding bij afrekenen",
                 "Pagina's:            https://acme.example/checkout",
                 "Waarom urgent:       klanten kunnen niet betalen",
                 "Terugbellen:         +31612345678",
                 "Taal:                nl",
                 "Oplossen vóór (SLA): di 3 feb 2026 06:00 (Europe/Amsterdam)",  # standard SLA: 4 h
                 "  Hallo, met Jan van ACME. De webshop geeft een foutmelding",
                 f"nachtdienst incidents show {stored.incident_id}"):  # fmt: skip
        assert line in text
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == Path(stored.path).name
    assert attachment.get_content_type() == "audio/x-wav"
    assert attachment.get_content() == WAV
    [card] = [r["json"] for r in hook.received if r["json"]["kind"] == "voicemail_card"]
    assert card["card"]["problem"] == "Webshop geeft een foutmelding bij afrekenen"
    assert card["card"]["pages"] == ["https://acme.example/checkout"] and card["card"]["callback_number"] == "+31612345678"
    assert card["sla_due_at"] == "2026-02-03T05:00:00+00:00"
    assert "> Hallo, met Jan van ACME." in card["text"]
    assert {n.status for n in notifications(sessions, kind="voicemail_card")} == {"sent"}


def test_a_card_without_transcript_still_goes_with_the_recording(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    on_duty(sessions, bram_email=None)
    stored = leave_voicemail(sessions, settings)
    with sessions() as session:
        voicemail = session.get(Voicemail, stored.voicemail_id)
        queue_voicemail_card(session, settings, voicemail, None, NIGHT + SECOND, failure="model could not read the audio")
        session.commit()

    deliver_due(sessions, settings, NIGHT + SECOND, "test", 20)

    mail = smtp.mail(ANNA, "voicemail_card")
    assert mail["Subject"] == f"Incident {stored.incident_id}: voicemail — ACME (1001) / +31612345678"
    text = smtp.text(mail)
    assert "Uitschrijven mislukt (model could not read the audio)" in text and "Terugbellen:         — (beller: +31612345678)" in text
    assert [a.get_content() for a in mail.iter_attachments()] == [WAV]


def test_a_missing_recording_does_not_stop_the_card(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    on_duty(sessions)
    stored = leave_voicemail(sessions, settings)
    transcribe(sessions, settings, stored, NIGHT + SECOND)
    (settings.resolved_data_dir / stored.path).unlink()

    report = deliver_due(sessions, settings, NIGHT + SECOND, "test", 20)

    assert len(report.sent) == 4 and not report.retried
    mail = smtp.mail(ANNA, "voicemail_card")
    assert not list(mail.iter_attachments())
    assert f"Let op: de bijlage {stored.path} ontbreekt (No such file or directory)" in smtp.text(mail)


def test_an_addition_says_which_incident_it_adds_to(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    on_duty(sessions, bram_email=None)
    first = leave_voicemail(sessions, settings, "chan-1")
    leave_voicemail(sessions, settings, "chan-2", kind="addition", at=NIGHT + timedelta(hours=1), add_to_voicemail_id=first.voicemail_id)

    deliver_due(sessions, settings, NIGHT + timedelta(hours=1), "test", 20)

    assert sorted(m["Subject"] for m in smtp.mails) == [
        f"Aanvulling op incident {first.incident_id}: voicemail van ACME (1001) / +31612345678, wordt uitgeschreven",
        "Voicemail van ACME (1001) / +31612345678, wordt uitgeschreven",
    ]


def test_a_non_urgent_message_wakes_nobody(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    on_duty(sessions)
    stored = leave_voicemail(sessions, settings, kind="non_urgent")
    with sessions() as session:
        voicemail = session.get(Voicemail, stored.voicemail_id)
        assert queue_voicemail_received(session, settings, voicemail, NIGHT) == []
        assert queue_voicemail_card(session, settings, voicemail, None, NIGHT) == []
    assert notifications(sessions) == []


def test_queueing_again_creates_no_duplicates(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    on_duty(sessions)
    stored = leave_voicemail(sessions, settings)  # queues the first message
    transcribe(sessions, settings, stored, NIGHT + SECOND)
    with sessions() as session:
        voicemail = session.get(Voicemail, stored.voicemail_id)
        assert queue_voicemail_received(session, settings, voicemail, NIGHT) == []
        assert queue_voicemail_card(session, settings, voicemail, voicemail.transcript, NIGHT + SECOND) == []
        session.commit()
    assert sorted((n.kind, n.recipient) for n in notifications(sessions)) == [
        ("voicemail_card", ANNA), ("voicemail_card", BRAM), ("voicemail_received", ANNA), ("voicemail_received", BRAM),
    ]  # fmt: skip


def test_one_engineer_in_two_steps_gets_one_mail(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    with sessions() as session:
        anna = Engineer(name="Anna", email=ANNA, contacts=[EngineerContact(kind="sip", address="sip:anna@10.0.0.5")])
        twin = Engineer(name="Anna (mobiel)", email=ANNA.upper(), contacts=[EngineerContact(kind="phone", address="+31687654321")])
        session.add_all([anna, twin])
        session.flush()
        save_rotation(session, date(2026, 2, 2), [anna], [twin])
        session.commit()
    leave_voicemail(sessions, settings)
    assert [n.recipient for n in notifications(sessions)] == [ANNA]


def test_nobody_to_notify_is_an_error_in_the_log_and_the_voicemail_is_kept(sessions, settings, smtp):
    on_duty(sessions, anna_email=None, bram_email=None)
    with_smtp = notify_settings(settings, smtp.port)
    with structlog.testing.capture_logs() as logs:
        stored = leave_voicemail(sessions, with_smtp, "chan-1")
        leave_voicemail(sessions, settings, "chan-2", at=NIGHT + SECOND)  # no SMTP server configured at all

    assert notifications(sessions) == []
    with sessions() as session:
        assert session.get(Voicemail, stored.voicemail_id) is not None
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert [(e["event"], e["kind"]) for e in errors] == [("nobody to notify", "voicemail_received")] * 2
    assert "has an e-mail address" in errors[0]["why"] and "notify.webhook_urls is empty" in errors[0]["why"]
    assert "notify.smtp_host is unset" in errors[1]["why"]


# --- failures ---------------------------------------------------------------------------------


def test_smtp_down_is_retried_with_backoff_and_sent_when_it_is_back(sessions, settings):
    down = MailServer()  # its port, with nothing listening yet
    settings = notify_settings(settings, down.port)
    on_duty(sessions, bram_email=None)
    leave_voicemail(sessions, settings)

    first = deliver_due(sessions, settings, NIGHT, "test", 20)
    [row] = notifications(sessions)
    assert first.retried == [row.id] and (row.status, row.attempts, row.lease_until) == ("pending", 1, None)
    assert f"SMTP 127.0.0.1:{down.port} (none): cannot connect: Connection refused" == row.last_error
    assert NIGHT + 10 * SECOND <= row.next_attempt_at < NIGHT + 15 * SECOND

    assert deliver_due(sessions, settings, NIGHT + 5 * SECOND, "test", 20).claimed == 0  # not due yet
    deliver_due(sessions, settings, row.next_attempt_at, "test", 20)
    [row] = notifications(sessions)
    assert row.attempts == 2 and row.status == "pending"
    assert NIGHT + 40 * SECOND <= row.next_attempt_at < NIGHT + 50 * SECOND  # then 30 s

    down.start()
    try:
        report = deliver_due(sessions, settings, row.next_attempt_at, "test", 20)
        assert report.sent == [row.id] and [m["To"] for m in down.mails] == [ANNA]
    finally:
        down.stop()
    [row] = notifications(sessions)
    assert (row.status, row.attempts) == ("sent", 3)


def test_after_the_last_attempt_a_notification_is_failed_and_logged(sessions, settings, hook):
    hook.status = 503
    settings = notify_settings(settings, free_port(), [hook.url], max_attempts=2)
    on_duty(sessions, anna_email=None, bram_email=None)
    leave_voicemail(sessions, settings)

    with structlog.testing.capture_logs() as logs:
        deliver_due(sessions, settings, NIGHT, "test", 20)
        [row] = notifications(sessions)
        report = deliver_due(sessions, settings, row.next_attempt_at, "test", 20)
        later = deliver_due(sessions, settings, row.next_attempt_at + timedelta(days=1), "test", 20)

    [row] = notifications(sessions)
    assert report.failed == [row.id] and later.claimed == 0
    assert (row.status, row.attempts, row.lease_until) == ("failed", 2, None)
    assert row.last_error == "webhook http://127.0.0.1:%d/…: HTTP 503 Service Unavailable: no such hook" % hook.port
    assert len(hook.received) == 2
    [given_up] = [entry for entry in logs if entry["log_level"] == "error"]
    assert given_up["event"] == "notification failed; giving up"
    assert given_up["recipient"] == f"http://127.0.0.1:{hook.port}/…"  # the URL's secret path is not logged
    assert given_up["error"] == row.last_error and given_up["attempts"] == 2


def test_two_dispatchers_at_once_never_send_one_notification_twice(sessions, settings, hook):
    settings = notify_settings(settings, free_port())
    with sessions() as session:
        session.add_all(
            Notification(kind="line_fallback", channel="webhook", recipient=hook.url, subject=f"n{n}", body="",
                         payload={"text": f"n{n}", "n": n}, next_attempt_at=NIGHT, created_at=NIGHT)
            for n in range(40)
        )  # fmt: skip
        session.commit()
    start = threading.Barrier(2)
    claimed: dict[str, int] = {"A": 0, "B": 0}

    def dispatcher(name: str) -> None:
        start.wait()
        # Small batches: many claims, each racing the other dispatcher's.
        while (report := deliver_due(sessions, settings, NIGHT + SECOND, name, 2)).claimed:
            claimed[name] += report.claimed

    workers = [threading.Thread(target=dispatcher, args=(name,)) for name in claimed]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert sorted(r["json"]["n"] for r in hook.received) == list(range(40))
    assert claimed["A"] + claimed["B"] == 40
    assert {(n.status, n.attempts) for n in notifications(sessions)} == {("sent", 1)}


CRASHING_DISPATCHER = """
import sys
from datetime import datetime
from core.db import open_database
from core.notify.dispatcher import deliver_due
from core.settings import NotifySettings, Settings

data_dir, database_url, port, now = sys.argv[1:]
settings = Settings(data_dir=data_dir, database_url=database_url,
                    notify=NotifySettings(smtp_host="127.0.0.1", smtp_port=int(port), smtp_security="none"))
deliver_due(open_database(settings), settings, datetime.fromisoformat(now), "doomed", 10)
"""


def test_a_send_cut_off_by_a_crash_is_retried_once_its_lease_expires(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port)
    on_duty(sessions, bram_email=None)
    leave_voicemail(sessions, settings)
    # An SMTP server that accepts the connection and never says a word: the send hangs.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        doomed = subprocess.Popen(
            [sys.executable, "-c", CRASHING_DISPATCHER, str(settings.data_dir), settings.resolved_database_url,
             str(silent.getsockname()[1]), NIGHT.isoformat()], cwd=ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while notifications(sessions)[0].status != "sending":
                assert doomed.poll() is None and time.monotonic() < deadline, "the dispatcher never claimed the notification"
                time.sleep(0.05)
            time.sleep(0.3)  # connected and waiting for the greeting
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)

    [row] = notifications(sessions)
    assert (row.status, row.attempts, row.lease_until) == ("sending", 1, NIGHT + LEASE)
    assert deliver_due(sessions, settings, NIGHT + LEASE - SECOND, "heir", 10).claimed == 0  # the lease still holds

    report = deliver_due(sessions, settings, NIGHT + LEASE, "heir", 10)

    assert report.sent == [row.id] and [m["To"] for m in smtp.mails] == [ANNA]
    [row] = notifications(sessions)
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.last_error == "attempt 1 interrupted: its dispatcher stopped mid-send (lease expired)"


def test_a_send_cut_off_on_its_last_attempt_is_failed_not_retried_forever(sessions, settings, smtp):
    settings = notify_settings(settings, smtp.port, max_attempts=1)
    on_duty(sessions, bram_email=None)
    leave_voicemail(sessions, settings)
    claimed, _ = claim_due(sessions, settings, NIGHT, "doomed", 10)  # and then the process dies
    assert [n.status for n in claimed] == ["sending"]

    with structlog.testing.capture_logs() as logs:
        report = deliver_due(sessions, settings, NIGHT + LEASE, "heir", 10)

    [row] = notifications(sessions)
    assert report.failed == [row.id] and smtp.mails == []
    assert (row.status, row.attempts, row.lease_until) == ("failed", 1, None)
    assert [(e["event"], e["recipient"]) for e in logs if e["log_level"] == "error"] == [("notification failed; giving up", ANNA)]


def test_the_service_delivers_until_it_is_told_to_stop(sessions, settings, hook):
    with sessions() as session:
        session.add(Notification(kind="line_fallback", channel="webhook", recipient=hook.url, subject="s", body="",
                                 payload={"text": "Lijn in noodstand"}, next_attempt_at=datetime.now(UTC) - SECOND))  # fmt: skip
        session.commit()
    env = {"NACHTDIENST_DATA_DIR": str(settings.data_dir), "NACHTDIENST_DATABASE_URL": settings.resolved_database_url,
           "NACHTDIENST_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin"}  # fmt: skip
    service = subprocess.Popen([sys.executable, "-m", "nachtdienst", "service", "notify"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not hook.received:
            assert service.poll() is None and time.monotonic() < deadline, "the service delivered nothing"
            time.sleep(0.05)
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=15)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    assert service.returncode == 0, output
    assert '"notify service stopped"' in output
    assert [r["json"]["text"] for r in hook.received] == ["Lijn in noodstand"]
    # The heartbeat the container's healthcheck reads.
    assert time.time() - (settings.resolved_data_dir / "run" / "notify.alive").stat().st_mtime < 30
    assert [n.status for n in notifications(sessions)] == ["sent"]


# --- the transports on their own ---------------------------------------------------------------


def a_mail(recipient: str = ANNA) -> Notification:
    return Notification(id=7, kind="voicemail_received", channel="email", recipient=recipient, subject="Voicemail van ACME",
                        body="Voicemail van ACME, wordt uitgeschreven.\n", payload={}, attachments=[], created_at=NIGHT)  # fmt: skip


@pytest.fixture
def transport_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'unused.db'}")


def with_notify(settings: Settings, **notify: Any) -> Settings:
    return settings.model_copy(update={"notify": NotifySettings(smtp_host="127.0.0.1", mail_from="nachtdienst@gsd.example", **notify)})


def only_the_right_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"nachtdienst", b"s3cret")
    return AuthResult(success=good, handled=False)


def test_starttls_with_login(transport_settings, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # our self-signed certificate is trusted here
    server = MailServer(tls_context=server_tls(certificate), require_starttls=True, authenticator=only_the_right_login,
                        auth_require_tls=True).start()  # fmt: skip
    try:
        settings = with_notify(transport_settings, smtp_port=server.port, smtp_security="starttls", smtp_user="nachtdienst",
                               smtp_password="s3cret")  # fmt: skip
        send_email(a_mail(), settings)
        wrong = with_notify(transport_settings, smtp_port=server.port, smtp_security="starttls", smtp_user="nachtdienst",
                            smtp_password="guess")  # fmt: skip
        with pytest.raises(DeliveryError) as refused:
            send_email(a_mail(BRAM), wrong)
        plain = with_notify(transport_settings, smtp_port=server.port, smtp_security="none")
        with pytest.raises(DeliveryError) as no_tls:
            send_email(a_mail(BRAM), plain)
    finally:
        server.stop()
    [mail] = server.mails
    assert (mail["To"], mail["Subject"]) == (ANNA, "Voicemail van ACME")
    assert mail["Message-ID"] == f"<nachtdienst.7.{int(NIGHT.timestamp())}@gsd.example>"
    assert server.envelopes[0].mail_from == "nachtdienst@gsd.example" and server.envelopes[0].rcpt_tos == [ANNA]
    assert str(refused.value) == f"SMTP 127.0.0.1:{server.port} (starttls): login as 'nachtdienst' refused: 535 5.7.8 Authentication credentials invalid"
    assert str(no_tls.value) == (f"SMTP 127.0.0.1:{server.port} (none): sender 'nachtdienst@gsd.example' refused: "
                                 "530 Must issue a STARTTLS command first")


def test_implicit_tls_checks_the_certificate(transport_settings, certificate, monkeypatch):
    server = MailServer(ssl_context=server_tls(certificate)).start()
    try:
        settings = with_notify(transport_settings, smtp_port=server.port, smtp_security="tls")
        with pytest.raises(DeliveryError) as untrusted:
            send_email(a_mail(), settings)
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        send_email(a_mail(), settings)
    finally:
        server.stop()
    assert "TLS failed: CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
    assert [m["To"] for m in server.mails] == [ANNA]


def test_starttls_that_the_server_does_not_offer_is_refused(transport_settings):
    server = MailServer().start()
    try:
        with pytest.raises(DeliveryError) as refused:
            send_email(a_mail(), with_notify(transport_settings, smtp_port=server.port, smtp_security="starttls"))
    finally:
        server.stop()
    assert "does not offer STARTTLS" in str(refused.value) and server.mails == []


def test_webhook_failures_say_what_happened(hook):
    hook.status = 404
    with pytest.raises(DeliveryError) as not_found:
        post_webhook(hook.url, {"text": "hallo"})
    port = free_port()
    with pytest.raises(DeliveryError) as refused:
        post_webhook(f"http://127.0.0.1:{port}/hooks/secret", {"text": "hallo"})
    assert str(not_found.value) == f"webhook http://127.0.0.1:{hook.port}/…: HTTP 404 Not Found: no such hook"
    assert str(refused.value) == f"webhook http://127.0.0.1:{port}/…: cannot connect: Connection refused"
