"""The supervisor's eye on the call path: when calls would take a fallback path (the ARI app
not registered) for longer than `notify.fallback_alert_minutes`, the engineers on duty get one
"line in fallback" message (mail and webhooks, through the outbox); when the app is back, the
log says so and a later fallback is told again.

Checked every `CHECK_SECONDS`; a check that cannot be made (Asterisk away: the supervisor
restarts it) changes nothing. The message is queued in the database; should that be away,
it is tried again at the next check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.orm import Session, sessionmaker

from core.notify.messages import line_fallback
from core.notify.outbox import queue_message
from core.settings import Settings
from pbx.ari_probe import AriUnreachable
from pbx.call_path import CallPath, call_path

log = structlog.get_logger("supervisor.fallback")

CHECK_SECONDS = 15.0


class FallbackWatch:
    def __init__(
        self, settings: Settings, sessions: Callable[[], sessionmaker[Session]], *,
        probe: Callable[[Settings], CallPath] = call_path, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.settings = settings
        self.sessions = sessions
        self.probe = probe
        self.clock = clock
        self.since: datetime | None = None  # when calls began to take a fallback path
        self.alerted = False
        self._next_check = 0.0

    def due(self, monotonic: float) -> bool:
        if monotonic < self._next_check:
            return False
        self._next_check = monotonic + CHECK_SECONDS
        return True

    def check(self) -> None:
        try:
            path = self.probe(self.settings)
        except AriUnreachable as exc:
            log.warning("call path unknown: Asterisk does not answer", error=str(exc))
            return
        now = self.clock()
        if path.now == "ari":
            if self.since is not None:
                log.info("the line is back on the ARI app", fallback_since=self.since.isoformat())
            self.since, self.alerted = None, False
            return
        if self.since is None:
            self.since = now
            log.warning("calls take a fallback path", path=path.now, why=path.why)
        limit = timedelta(minutes=self.settings.notify.fallback_alert_minutes)
        if self.alerted or now - self.since < limit:
            return
        message = line_fallback(path.now, self.since, ZoneInfo(self.settings.timezone), reason=path.why)
        try:
            with self.sessions()() as session:
                queued = queue_message(session, self.settings, message, now)
                session.commit()
        except Exception as exc:  # the database away: the next check tries again
            log.error("fallback alert not queued; trying again", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        self.alerted = True
        log.error("the line has run in fallback too long; engineers alerted", path=path.now, since=self.since.isoformat(),
                  notifications=len(queued))  # fmt: skip
