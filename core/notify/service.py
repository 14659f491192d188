"""`nachtdienst service notify`: delivers the outbox, polling about once a second.

Runs until SIGTERM or SIGINT; a batch being sent is finished (every send has a timeout), then
the process returns, so it exits 0. A database that goes away is logged and waited for; the
notifications wait in their table meanwhile. Several of these may run (on PostgreSQL, on
several machines): the dispatcher's leases keep them from sending one notification twice.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import structlog
from sqlalchemy.exc import SQLAlchemyError

from core.db import open_database
from core.heartbeat import beat, heartbeat_file, worker_name
from core.logging import configure_logging
from core.notify.dispatcher import deliver_due
from core.settings import Settings

log = structlog.get_logger("notify.service")

POLL_INTERVAL_S = 1.0
BATCH = 20
DATABASE_RETRY_MAX_S = 30.0


def run(settings: Settings) -> None:
    """Blocking entry point for the supervisor (one process per service)."""
    if not structlog.is_configured():
        configure_logging(settings)
    serve(settings)


def serve(settings: Settings, stop: threading.Event | None = None, *, poll_interval: float = POLL_INTERVAL_S) -> None:
    """Deliver due notifications until `stop` is set (or SIGTERM/SIGINT arrives, when called
    from the main thread)."""
    stop = stop or threading.Event()
    previous = _stop_on_signals(stop)
    sessions = open_database(settings)
    worker_id = worker_name()
    log.info("notify service starting", worker=worker_id, smtp=settings.notify.smtp_host,
             webhooks=len(settings.notify.webhook_urls))  # fmt: skip
    heartbeat = heartbeat_file(settings, "notify")
    failures = 0
    try:
        while not stop.is_set():
            try:
                report = deliver_due(sessions, settings, datetime.now(UTC), worker_id, BATCH)
            except SQLAlchemyError as exc:
                failures += 1
                wait = min(DATABASE_RETRY_MAX_S, poll_interval * 2**failures)
                log.error("database unavailable; notifications wait", error=str(exc).splitlines()[0], retry_in_seconds=wait)
                stop.wait(wait)
                continue
            failures = 0
            beat(heartbeat)
            if report.claimed < BATCH:  # a full batch: more may be due at once
                stop.wait(poll_interval)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sessions.kw["bind"].dispose()
    log.info("notify service stopped")


def _stop_on_signals(stop: threading.Event) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    return {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
