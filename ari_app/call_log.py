"""Call records in the database, written so that the database can never break a call.

Each change (start, step, customer, language, a dial leg's start and end, finish) is kept in memory with the time it happened and written in
one transaction with any earlier change that could not be written yet. A database that is
briefly away therefore delays a record, loses nothing, and never reaches the call flow: a write
that fails is logged and retried, at the next change and in the background after the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from core.calls import (
    find_call_by_channel,
    finish_call,
    finish_dial_attempt,
    record_step,
    set_call_customer,
    set_call_language,
    start_call,
    start_dial_attempt,
)
from core.db import begin_write
from core.models import DialAttempt

log = structlog.get_logger("ari.call_log")

Clock = Callable[[], datetime]
# Background retries for a finished call whose record could not be written yet; after the
# last one the record is logged in full, so it is at least in the logs.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0) + (300.0,) * 12


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Change:
    kind: str  # "start", "step", "customer", "language", "dial_start", "dial_finish" or "finish"
    at: datetime
    values: dict[str, Any] = field(default_factory=dict)


class CallLogRecord:
    """The record of one call; see ari_app.flow.CallRecord."""

    def __init__(self, call_log: CallLog, channel_id: str, start: _Change):
        self.channel_id = channel_id
        self.last_step: str | None = None
        self.finished = False
        self._call_log = call_log
        self._pending: list[_Change] = [start]
        self._lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        # Dial legs by key (the leg's channel id) -> their DialAttempt id, once written.
        self._dial_ids: dict[str, int] = {}

    @property
    def written(self) -> bool:
        return not self._pending

    async def step(self, step: str, detail: str | None = None) -> None:
        self.last_step = step
        await self._change("step", {"step": step, "detail": detail})

    async def set_customer(self, customer_id: int) -> None:
        """The customer the flow identified (by number, or by the customer number keyed in)."""
        await self._change("customer", {"customer_id": customer_id})

    async def set_language(self, language: str) -> None:
        await self._change("language", {"language": language})

    async def dial_started(self, key: str, *, contact: str, engineer_id: int | None, step_position: int) -> None:
        """A leg to `contact` is rung from now; `key` (the leg's channel id) names it in dial_finished."""
        values = {"key": key, "contact": contact, "engineer_id": engineer_id, "step_position": step_position}
        await self._change("dial_start", values)

    async def dial_finished(
        self, key: str, *, result: str, answered_at: datetime | None = None, accepted_at: datetime | None = None
    ) -> None:
        """How the leg `key` ended, now (`accepted`, `no_answer`, `not_accepted`, `busy`, …)."""
        await self._change("dial_finish", {"key": key, "result": result, "answered_at": answered_at, "accepted_at": accepted_at})

    async def _change(self, kind: str, values: dict[str, Any]) -> None:
        # Noted with its time and written in the background: the caller never waits for the
        # database (ringing the engineer starts while "ringing" is being written).
        self._pending.append(_Change(kind, self._call_log.clock(), values))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=f"call-record-{self.channel_id}")

    async def _drain(self) -> None:
        # Until nothing is pending: changes noted while a write was in flight go in the next
        # write, not when (or if: the process may die first) the call makes its next change.
        while self._pending and await self._write_pending():
            pass

    async def settled(self) -> None:
        """Wait until the background write of the changes so far has been tried."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def finish(self, outcome: str, *, detail: str | None = None, abandoned_step: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        values = {"outcome": outcome, "detail": detail, "abandoned_step": abandoned_step}
        self._pending.append(_Change("finish", self._call_log.clock(), values))
        await self.settled()
        await self.flush()
        if self._pending:
            self._call_log.retry_later(self)

    async def flush(self) -> bool:
        """Write what is pending; True when nothing is left pending."""
        return await self._write_pending() and not self._pending

    async def _write_pending(self) -> bool:
        """One write of what is pending now; False when it failed (it stays pending)."""
        async with self._lock:
            changes = list(self._pending)
            if not changes:
                return True
            try:
                dial_ids = await asyncio.to_thread(self._call_log.write, self.channel_id, changes, dict(self._dial_ids))
            except Exception as exc:
                log.warning("call record not written yet", channel_id=self.channel_id, pending=len(changes), error=repr(exc))
                return False
            self._dial_ids.update(dial_ids or {})
            del self._pending[: len(changes)]
            return True

    def describe_pending(self) -> list[dict[str, Any]]:
        return [
            {"kind": change.kind, "at": change.at.isoformat(), **{k: _plain(v) for k, v in change.values.items()}}
            for change in self._pending
        ]


class CallLog:
    """Opens and writes call records (core.calls) through `sessions`."""

    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock = utc_now, retry_delays: Sequence[float] = RETRY_DELAYS):
        self.sessions = sessions
        self.clock = clock
        self.retry_delays = tuple(retry_delays)
        self._retries: dict[asyncio.Task[None], CallLogRecord] = {}

    async def start(self, *, channel_id: str, from_number: str | None, to_number: str) -> CallLogRecord:
        start = _Change("start", self.clock(), {"from_number": from_number, "to_number": to_number})
        record = CallLogRecord(self, channel_id, start)
        await record.flush()
        return record

    async def finish_orphan(self, *, channel_id: str, from_number: str | None, to_number: str, detail: str) -> None:
        """Finish the record of a channel found in our app that no flow of ours holds (left by
        an earlier connection or process) as failed; open one if there is none."""
        at = self.clock()
        try:
            await asyncio.to_thread(self._finish_orphan, channel_id, from_number, to_number, detail, at)
        except Exception:
            log.exception("orphan call record not written", channel_id=channel_id, from_number=from_number, detail=detail)

    async def last_step(self, channel_id: str) -> str | None:
        """The latest step the call's record has (None: no record, or the database away)."""
        try:
            return await asyncio.to_thread(self._last_step, channel_id)
        except Exception:
            log.exception("call record not read", channel_id=channel_id)
            return None

    async def note_orphan_continued(
        self, *, channel_id: str, from_number: str | None, to_number: str, detail: str, outcome: str | None = None
    ) -> None:
        """A channel an earlier process left in our app was sent on in the dialplan: a step on
        its record (opened if there is none), which the fallback path goes on with; `outcome`:
        the record ends here with it."""
        at = self.clock()
        try:
            await asyncio.to_thread(self._note_orphan_continued, channel_id, from_number, to_number, detail, outcome, at)
        except Exception:
            log.exception("orphan call step not written", channel_id=channel_id, from_number=from_number, detail=detail)

    def retry_later(self, record: CallLogRecord) -> None:
        task = asyncio.create_task(self._retry(record), name=f"call-log-retry-{record.channel_id}")
        self._retries[task] = record
        task.add_done_callback(lambda done: self._retries.pop(done, None))

    async def close(self) -> None:
        """Stop retrying; one last attempt for each record still pending, the rest is logged."""
        retries = dict(self._retries)
        for task in retries:
            task.cancel()
        await asyncio.gather(*retries, return_exceptions=True)
        for record in retries.values():
            if not await record.flush():
                log.error("call record not written at shutdown", channel_id=record.channel_id, record=record.describe_pending())

    # --- in a worker thread -----------------------------------------------------------------

    def write(self, channel_id: str, changes: Sequence[_Change], dial_ids: dict[str, int] | None = None) -> dict[str, int]:
        """Write `changes` in one transaction. `dial_ids` are the legs written before (key ->
        DialAttempt id); returns them with the legs written now."""
        dial_ids = dict(dial_ids or {})
        with self.sessions() as session:
            begin_write(session)  # calls write at once: each must wait its turn, not fail
            call = None
            for change in changes:
                if change.kind == "start":
                    call = start_call(session, channel_id=channel_id, at=change.at, **change.values)
                    continue
                if call is None:
                    call = find_call_by_channel(session, channel_id)
                    if call is None:
                        raise LookupError(f"no call record for channel {channel_id}")
                values = change.values
                if change.kind == "step":
                    record_step(session, call, values["step"], change.at, values["detail"])
                elif change.kind == "customer":
                    set_call_customer(session, call, values["customer_id"])
                elif change.kind == "language":
                    set_call_language(session, call, values["language"])
                elif change.kind == "dial_start":
                    attempt = start_dial_attempt(session, call, contact=values["contact"], at=change.at,
                                                 engineer_id=values["engineer_id"], step_position=values["step_position"])  # fmt: skip
                    dial_ids[values["key"]] = attempt.id
                elif change.kind == "dial_finish":
                    self._finish_dial(session, channel_id, dial_ids, change)
                else:
                    finish_call(session, call, at=change.at, **values)
            session.commit()
        return dial_ids

    def _finish_dial(self, session: Session, channel_id: str, dial_ids: dict[str, int], change: _Change) -> None:
        values = change.values
        attempt_id = dial_ids.get(values["key"])
        attempt = session.get(DialAttempt, attempt_id) if attempt_id is not None else None
        if attempt is None:
            # A leg the flow never reported started: nothing to finish. Skipped rather than
            # raised, or this one change would hold back every later change of the call forever.
            log.error("dial attempt finished but never started", channel_id=channel_id, leg=values["key"])
            return
        finish_dial_attempt(session, attempt, result=values["result"], at=change.at,
                            answered_at=values["answered_at"], accepted_at=values["accepted_at"])  # fmt: skip

    def _finish_orphan(self, channel_id: str, from_number: str | None, to_number: str, detail: str, at: datetime) -> None:
        with self.sessions() as session:
            begin_write(session)
            call = find_call_by_channel(session, channel_id)
            if call is None:
                call = start_call(session, channel_id=channel_id, from_number=from_number, to_number=to_number, at=at)
            elif getattr(call, "outcome", None) is not None:
                return
            finish_call(session, call, outcome="failed", at=at, detail=detail)
            session.commit()

    def _last_step(self, channel_id: str) -> str | None:
        with self.sessions() as session:
            call = find_call_by_channel(session, channel_id)
            return call.steps[-1].step if call is not None and call.steps else None

    def _note_orphan_continued(
        self, channel_id: str, from_number: str | None, to_number: str, detail: str, outcome: str | None, at: datetime
    ) -> None:
        with self.sessions() as session:
            begin_write(session)
            call = find_call_by_channel(session, channel_id)
            if call is None:
                call = start_call(session, channel_id=channel_id, from_number=from_number, to_number=to_number, at=at)
            record_step(session, call, "app_restarted", at, detail)
            if outcome is not None and call.outcome is None:
                finish_call(session, call, outcome=outcome, at=at, detail=detail)
            session.commit()

    async def _retry(self, record: CallLogRecord) -> None:
        for delay in self.retry_delays:
            await asyncio.sleep(delay)
            if await record.flush():
                log.info("call record written after retry", channel_id=record.channel_id)
                return
        log.error("call record given up", channel_id=record.channel_id, record=record.describe_pending())


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
