"""One notification as an e-mail over SMTP (stdlib `smtplib`): STARTTLS, implicit TLS or none,
optional login, a timeout on every step. Certificates are checked against the system's
trusted roots (`ssl.create_default_context`, which honours SSL_CERT_FILE).

An attachment that cannot be read (a recording deleted by retention, a disk gone) does not
stop the mail: it goes without it and its body says what is missing. Any SMTP failure is a
`DeliveryError` naming the server and the reason.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from core.models import Notification
from core.notify import DeliveryError
from core.settings import NotifySettings, Settings

SMTP_TIMEOUT_S = 30.0


def build_email(notification: Notification, settings: Settings) -> EmailMessage:
    """The mail for `notification`: text body (plus a note per attachment that is missing) and
    the attachments read from the data directory."""
    notify = settings.notify
    message = EmailMessage()
    message["From"] = notify.mail_from
    message["To"] = notification.recipient
    message["Subject"] = notification.subject
    message["Date"] = format_datetime(notification.created_at)
    # The same notification sent twice (a send whose success was never recorded) keeps its
    # Message-ID, so mail clients can show it once.
    domain = notify.mail_from.rpartition("@")[2] or "nachtdienst"
    message["Message-ID"] = f"<nachtdienst.{notification.id}.{int(notification.created_at.timestamp())}@{domain}>" \
        if notification.id is not None else make_msgid(domain=domain)  # fmt: skip
    message["X-Nachtdienst-Kind"] = notification.kind
    if notification.incident_id is not None:
        message["X-Nachtdienst-Incident"] = str(notification.incident_id)

    files, notes = _read_attachments(settings.resolved_data_dir, notification.attachments or [])
    body = notification.body
    if notes:
        body = body.rstrip("\n") + "\n\n" + "\n".join(notes) + "\n"
    message.set_content(body)
    for name, data in files:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, subtype = kind.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def send_email(notification: Notification, settings: Settings, *, timeout: float = SMTP_TIMEOUT_S) -> None:
    """Deliver `notification` (channel email) to its recipient. Raises DeliveryError."""
    notify = settings.notify
    if not notify.smtp_host:
        raise DeliveryError("notify.smtp_host is unset: no mail can be sent")
    message = build_email(notification, settings)
    where = f"SMTP {notify.smtp_host}:{notify.smtp_port} ({notify.smtp_security})"
    client: smtplib.SMTP | None = None
    try:
        client = _connect(notify, timeout)
        if notify.smtp_user:
            password = notify.smtp_password.get_secret_value() if notify.smtp_password else ""
            client.login(notify.smtp_user, password)
        client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where}: login as {notify.smtp_user!r} refused: {_reply(exc)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items())
        raise DeliveryError(f"{where}: recipient refused: {refused}") from None
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryError(f"{where}: sender {notify.mail_from!r} refused: {_reply(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{where}: server answered {_reply(exc)}") from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"{where}: {exc}") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{where}: TLS failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise DeliveryError(f"{where}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryError(f"{where}: cannot connect: {exc.strerror or exc}") from None
    finally:
        if client is not None:
            _close(client)


def _connect(notify: NotifySettings, timeout: float) -> smtplib.SMTP:
    host, port = notify.smtp_host or "", notify.smtp_port
    # Our EHLO name: the sender's domain; the default (the machine's FQDN) may need a DNS
    # lookup that hangs on a host without a resolver.
    name = notify.mail_from.rpartition("@")[2] or "localhost"
    context = ssl.create_default_context()
    if notify.smtp_security == "tls":
        return smtplib.SMTP_SSL(host, port, local_hostname=name, timeout=timeout, context=context)
    client = smtplib.SMTP(host, port, local_hostname=name, timeout=timeout)
    if notify.smtp_security == "starttls":
        client.ehlo()
        if not client.has_extn("starttls"):
            _close(client)
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS (notify.smtp_security = starttls)")
        client.starttls(context=context)
        client.ehlo()
    return client


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _read_attachments(data_dir: Path, relatives: list[str]) -> tuple[list[tuple[str, bytes]], list[str]]:
    files, notes = [], []
    for relative in relatives:
        path = (data_dir / str(relative)).resolve()
        if not path.is_relative_to(data_dir):
            notes.append(f"Let op: bijlage {relative} weggelaten: niet in de datamap / attachment left out: outside the data directory.")
            continue
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as exc:
            notes.append(f"Let op: de bijlage {relative} ontbreekt ({exc.strerror or exc}) / the attachment is missing.")
    return files, notes


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
