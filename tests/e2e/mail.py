"""A real SMTP server (aiosmtpd) on a loopback port, keeping the mails the line delivers."""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller


class MailServer:
    def __init__(self, port: int) -> None:
        self.received: list[tuple[float, EmailMessage]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((time.time(), BytesParser(policy=default_policy).parsebytes(envelope.content)))
        return "250 Message accepted for delivery"

    def wait_for(self, kind: str, incident_id: int | None, timeout: float) -> tuple[float, EmailMessage]:
        """The first mail of `kind` (its X-Nachtdienst-Kind) about `incident_id` (None: about
        no incident), and when it arrived."""
        wanted = None if incident_id is None else str(incident_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, mail in self.received:
                if mail["X-Nachtdienst-Kind"] == kind and mail["X-Nachtdienst-Incident"] == wanted:
                    return at, mail
            time.sleep(0.2)
        kinds = [(m["X-Nachtdienst-Kind"], m["X-Nachtdienst-Incident"]) for _, m in self.received]
        raise AssertionError(f"no {kind} mail for incident {incident_id} within {timeout} s; received: {kinds}")
