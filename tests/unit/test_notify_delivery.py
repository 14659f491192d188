"""The pieces of delivery that need no server: the mail as built (attachments from the data
directory, a missing one noted in the body), the retry delays, and webhook URLs kept secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import Notification
from core.notify.dispatcher import backoff
from core.notify.email import build_email
from core.notify.webhook import shown_url
from core.settings import NotifySettings, Settings

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)
RECORDING = "recordings/2026/02/03/call-3-1.wav"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, notify=NotifySettings(smtp_host="127.0.0.1", mail_from="nachtdienst@gsd.example"))


def card(attachments: list[str], notification_id: int | None = 9) -> Notification:
    return Notification(id=notification_id, kind="voicemail_card", channel="email", recipient="anna@gsd.example",
                        incident_id=17, subject="Incident 17: webshop stuk — ACME", body="Probleem: webshop stuk\n",
                        payload={}, attachments=attachments, created_at=NIGHT)  # fmt: skip


def test_the_recording_is_attached_from_the_data_directory(settings):
    audio = settings.resolved_data_dir / RECORDING
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"RIFF....WAVEfmt ")
    mail = build_email(card([RECORDING]), settings)
    assert (mail["From"], mail["To"], mail["Subject"]) == ("nachtdienst@gsd.example", "anna@gsd.example", "Incident 17: webshop stuk — ACME")
    assert (mail["X-Nachtdienst-Kind"], mail["X-Nachtdienst-Incident"]) == ("voicemail_card", "17")
    assert mail["Message-ID"] == f"<nachtdienst.9.{int(NIGHT.timestamp())}@gsd.example>"
    assert mail["Date"] == "Tue, 03 Feb 2026 01:00:00 +0000"
    assert mail.get_body(preferencelist=("plain",)).get_content() == "Probleem: webshop stuk\n"
    [attachment] = mail.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content_type()) == ("call-3-1.wav", "audio/x-wav")
    assert attachment.get_content() == b"RIFF....WAVEfmt "


def test_a_missing_recording_is_said_in_the_body_and_the_mail_goes_without_it(settings):
    mail = build_email(card([RECORDING]), settings)
    assert not list(mail.iter_attachments())
    assert mail.get_content() == (
        "Probleem: webshop stuk\n\n"
        f"Let op: de bijlage {RECORDING} ontbreekt (No such file or directory) / the attachment is missing.\n"
    )


def test_an_attachment_outside_the_data_directory_is_never_read(settings, tmp_path):
    secret = tmp_path.parent / "secret.txt"
    secret.write_text("password")
    mail = build_email(card(["../secret.txt"]), settings)
    assert not list(mail.iter_attachments())
    assert "bijlage ../secret.txt weggelaten: niet in de datamap" in mail.get_content()


def test_a_notification_not_yet_stored_gets_a_fresh_message_id(settings):
    first, second = build_email(card([], None), settings), build_email(card([], None), settings)
    assert first["Message-ID"] != second["Message-ID"] and first["Message-ID"].endswith("@gsd.example>")


def test_retries_wait_longer_each_time_up_to_an_hour():
    waits = [backoff(attempt) for attempt in range(1, 10)]
    assert waits[:5] == [timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=5),
                         timedelta(minutes=15)]  # fmt: skip
    assert waits == sorted(waits) and waits[-1] == timedelta(hours=1)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/…"),
        ("http://chat.example:8065/hooks/abc123?x=1", "http://chat.example:8065/…"),
    ],
)
def test_a_webhook_url_is_shown_without_its_secret_path(url, shown):
    assert shown_url(url) == shown
