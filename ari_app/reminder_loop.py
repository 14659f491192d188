"""The ARI app's reminder loop: every few seconds, claim the reminder calls that are due
(core.reminders) and make them (ari_app.reminder_call), each in its own task; every minute,
remove Asterisk's copies of voicemails nobody needs to hear from the phone any more.

The database is asked in worker threads; when it is away the loop logs it and tries again
later, and calls already going on are not disturbed. A call that fails to start (Asterisk
away, a bug) goes back to the queue for the next minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ari_app.client import AriError
from ari_app.reminder_call import ReminderLine, call_engineer
from core.db import in_session
from core.heartbeat import worker_name
from core import reminders
from core.settings import Settings

log = structlog.get_logger("ari.reminders")

POLL_SECONDS = 5.0
SWEEP_SECONDS = 60.0
DATABASE_RETRY_MAX_SECONDS = 60.0
MAX_CONCURRENT_CALLS = 4


class ReminderLoop:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], line: ReminderLine, *,
        clock: Callable[[], datetime], poll_seconds: float = POLL_SECONDS,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.sessions = sessions
        self.line = line
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.worker = worker_name()
        self.calls: set[asyncio.Task[None]] = set()
        self._last_sweep = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        retry = self.poll_seconds
        while not stop.is_set():
            try:
                await self.tick()
                retry = self.poll_seconds
            except Exception as exc:  # the database away, or a bug: the loop must go on
                log.error("reminder loop: retrying", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                          retry_seconds=retry)  # fmt: skip
                retry = min(retry * 2, DATABASE_RETRY_MAX_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry)

    async def tick(self) -> None:
        """Start every due reminder call (up to MAX_CONCURRENT_CALLS at once), then sweep."""
        while len(self.calls) < MAX_CONCURRENT_CALLS:
            task = await self._db(reminders.claim_due_reminder, self.settings, worker=self.worker, now=self.clock())
            if task is None:
                break
            call = asyncio.create_task(self._make(task), name=f"reminder-{task.reminder_id}")
            self.calls.add(call)
            call.add_done_callback(self.calls.discard)
        if time.monotonic() - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = time.monotonic()
            await self.sweep_recordings()

    async def stop(self) -> None:
        """Give the calls in progress up (the app is stopping; their legs are hung up by it)."""
        for call in list(self.calls):
            call.cancel()
        await asyncio.gather(*self.calls, return_exceptions=True)

    async def _make(self, task: reminders.ReminderTask) -> None:
        log.info("reminder call", reminder=task.reminder_id, incident=task.incident_id, attempt=task.attempt)
        try:
            call_id = await self._db(reminders.start_reminder_call, self.settings, task, at=self.clock())
            outcome = await call_engineer(task, self.line)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("reminder call failed", reminder=task.reminder_id, incident=task.incident_id)
            with contextlib.suppress(Exception):
                await self._db(reminders.reminder_failed, task, f"{type(exc).__name__}: {exc}", now=self.clock())
            return
        status = await self._db(reminders.finish_reminder_call, self.settings, task, call_id, outcome)
        log.info("reminder call done", reminder=task.reminder_id, incident=task.incident_id, result=outcome.result,
                 detail=outcome.detail, reminder_status=status)  # fmt: skip

    async def sweep_recordings(self) -> None:
        """Remove Asterisk's copies of voicemails whose incident is taken care of (or old)."""
        expired = await self._db(reminders.expired_pbx_recordings, now=self.clock())
        removed: list[int] = []
        for voicemail_id, name in expired:
            try:
                await self.line.app.client.request("DELETE", f"/recordings/stored/{quote(name, safe='')}")
            except AriError as exc:
                if exc.status != 404:
                    log.warning("Asterisk's copy of a voicemail not removed", voicemail=voicemail_id, recording=name,
                                error=str(exc))  # fmt: skip
                    continue
            removed.append(voicemail_id)
        if removed:
            await self._db(reminders.forget_pbx_recording, removed)
            log.info("Asterisk's copies of voicemails removed", voicemails=removed)

    async def _db(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(in_session, self.sessions, function, *args, **kwargs)
