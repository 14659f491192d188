"""Delivering the outbox: claim what is due, send it outside any transaction, record the outcome.

Decisions a caller may rely on:
- A claim is a short transaction: due rows (pending, or `sending` whose lease has expired,
  with `next_attempt_at <= now`) become `sending` with a lease of `LEASE` and one more attempt.
  On PostgreSQL the rows are taken with `FOR UPDATE SKIP LOCKED`, so dispatchers on several
  machines never claim one row together; on SQLite the write lock (`begin_write`) serialises
  the claims.
- A process that dies mid-send leaves its rows `sending`; once the lease has expired another
  (or the restarted) dispatcher claims them again. Delivery is therefore at least once: a send
  that succeeded but was never recorded is repeated (mails keep their Message-ID).
- An outcome is recorded only while the row's lease is still the one this dispatcher set: a
  dispatcher that lost its lease (it was too slow) leaves the row to the one that took it over.
- Failure: back to pending with `last_error` and a growing delay (`BACKOFF`); after
  `notify.max_attempts` attempts (an interrupted one counts) the row is `failed` and an error
  is logged with the recipient and the last error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.db import begin_write
from core.incidents import check_aware
from core.models import Notification
from core.notify import DeliveryError
from core.notify.email import send_email
from core.notify.webhook import post_webhook, shown_url
from core.settings import Settings

log = structlog.get_logger("notify.dispatcher")

# Longer than the slowest send (SMTP and webhook timeouts apply per step): a lease that runs
# out while its sender is still at work would let a second dispatcher send the same message.
LEASE = timedelta(minutes=2)
BACKOFF = tuple(timedelta(seconds=s) for s in (10, 30, 60, 5 * 60, 15 * 60, 30 * 60, 60 * 60))
MAX_PARALLEL = 4  # a slow webhook must not hold up the mail

Sender = Callable[[Notification, Settings], None]


def send(notification: Notification, settings: Settings) -> None:
    """Deliver one notification on its channel; raises DeliveryError."""
    if notification.channel == "email":
        send_email(notification, settings)
    elif notification.channel == "webhook":
        post_webhook(notification.recipient, notification.payload or {})
    else:
        raise DeliveryError(f"unknown channel {notification.channel!r}")


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1: 10 s, 2: 30 s, 3: 1 min, 4: 5 min …)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def shown_recipient(notification: Notification) -> str:
    return shown_url(notification.recipient) if notification.channel == "webhook" else notification.recipient


@dataclass(frozen=True)
class Delivery:
    notification_id: int
    outcome: str  # sent | retry | failed | lease_lost
    error: str | None = None


@dataclass
class DeliveryReport:
    """What one `deliver_due` did, per notification."""

    deliveries: list[Delivery] = field(default_factory=list)

    def _with(self, outcome: str) -> list[int]:
        return [d.notification_id for d in self.deliveries if d.outcome == outcome]

    @property
    def claimed(self) -> int:
        return len(self.deliveries)

    @property
    def sent(self) -> list[int]:
        return self._with("sent")

    @property
    def retried(self) -> list[int]:
        return self._with("retry")

    @property
    def failed(self) -> list[int]:
        return self._with("failed")


def deliver_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, worker_id: str, limit: int = 20,
    *, sender: Sender = send,
) -> DeliveryReport:  # fmt: skip
    """Claim up to `limit` notifications due at `now`, send them (a few at once) and record each
    outcome. Outcome moments are `now` plus the time spent sending."""
    check_aware("now", now)
    started = time.monotonic()
    claimed, report = claim_due(sessions, settings, now, worker_id, limit)
    if not claimed:
        return report

    def deliver(notification: Notification) -> Delivery:
        error = _attempt(notification, settings, sender)
        finished = now + timedelta(seconds=time.monotonic() - started)
        return record_outcome(sessions, settings, notification, finished, error, worker_id)

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(claimed)), thread_name_prefix="notify") as pool:
        report.deliveries.extend(pool.map(deliver, claimed))
    return report


def claim_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, worker_id: str, limit: int
) -> tuple[list[Notification], DeliveryReport]:
    """Lease the due notifications (see the module's decisions). Returns the claimed rows
    (detached, to send) and a report holding those given up at once: interrupted on their
    last allowed attempt."""
    check_aware("now", now)
    report = DeliveryReport()
    due = and_(
        Notification.next_attempt_at <= now,
        or_(Notification.status == "pending", and_(Notification.status == "sending", Notification.lease_until <= now)),
    )
    with sessions() as session:
        # Polled every second: look before taking SQLite's write lock, which would make the
        # call flow's writes wait.
        if session.scalar(select(Notification.id).where(due).limit(1)) is None:
            return [], report
        session.rollback()
        begin_write(session)
        query = select(Notification).where(due).order_by(Notification.next_attempt_at, Notification.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for row in session.scalars(query):
            if row.status == "sending":
                row.last_error = f"attempt {row.attempts} interrupted: its dispatcher stopped mid-send (lease expired)"
                log.warning("delivery interrupted; retrying", notification_id=row.id, attempts=row.attempts,
                            recipient=shown_recipient(row), worker=worker_id)  # fmt: skip
                if row.attempts >= settings.notify.max_attempts:
                    _give_up(row)
                    report.deliveries.append(Delivery(row.id, "failed", row.last_error))
                    continue
            row.status, row.lease_until, row.attempts = "sending", now + LEASE, row.attempts + 1
            claimed.append(row)
        session.commit()
    return claimed, report


def record_outcome(
    sessions: sessionmaker[Session], settings: Settings, claimed: Notification, at: datetime, error: str | None,
    worker_id: str,
) -> Delivery:  # fmt: skip
    """Mark `claimed` sent (error None) or failed at `at`: retried later, or given up after the
    last attempt. Does nothing when the lease is no longer ours."""
    try:
        with sessions() as session:
            begin_write(session)
            query = select(Notification).where(
                Notification.id == claimed.id, Notification.status == "sending", Notification.lease_until == claimed.lease_until
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            row = session.scalar(query)
            if row is None:
                log.warning("lease lost; the dispatcher that took over records the outcome", notification_id=claimed.id,
                            worker=worker_id)  # fmt: skip
                return Delivery(claimed.id, "lease_lost", error)
            row.lease_until = None
            if error is None:
                row.status, row.sent_at = "sent", at
                outcome = "sent"
                log.info("notification sent", notification_id=row.id, kind=row.kind, channel=row.channel,
                         recipient=shown_recipient(row), attempts=row.attempts)  # fmt: skip
            elif row.attempts >= settings.notify.max_attempts:
                row.last_error = error
                _give_up(row)
                outcome = "failed"
            else:
                row.status, row.last_error, row.next_attempt_at = "pending", error, at + backoff(row.attempts)
                outcome = "retry"
                log.warning("delivery failed; will retry", notification_id=row.id, channel=row.channel,
                            recipient=shown_recipient(row), attempts=row.attempts, error=error,
                            retry_at=row.next_attempt_at.isoformat())  # fmt: skip
            session.commit()
            return Delivery(row.id, outcome, error)
    except SQLAlchemyError as exc:
        # The row stays `sending`; when its lease expires it is claimed and sent again.
        log.error("cannot record a delivery; it will be retried after its lease", notification_id=claimed.id,
                  sent=error is None, error=str(exc).splitlines()[0])  # fmt: skip
        return Delivery(claimed.id, "lease_lost", error)


def _attempt(notification: Notification, settings: Settings, sender: Sender) -> str | None:
    try:
        sender(notification, settings)
    except DeliveryError as exc:
        return str(exc)
    except Exception as exc:  # a bug in a sender must cost one notification an attempt, not the service
        log.exception("unexpected error while sending", notification_id=notification.id)
        return f"unexpected {type(exc).__name__}: {exc}"
    return None


def _give_up(row: Notification) -> None:
    row.status, row.lease_until = "failed", None
    log.error("notification failed; giving up", notification_id=row.id, kind=row.kind, channel=row.channel,
              recipient=shown_recipient(row), incident_id=row.incident_id, attempts=row.attempts, error=row.last_error)  # fmt: skip
