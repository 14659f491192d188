"""The call flow's desk: what it asks the database (`core.line_desk`), asked so that the
database can never break a call.

Every question runs in a worker thread with a timeout. When the database cannot answer (down,
hung, or failing), the desk answers from what it still knows and logs "desk fallback":
- office hours: the configured schedule with the closures last read from the database;
- who is calling: `Lookup.unavailable` (unknown, which is not "no such customer");
- a repeat caller's open message: none;
- whom to ring: the last plan read while it is still valid (until the next roster change),
  else `roster.default_contact`, else the last plan read however old (an engineer who was on
  duty beats ringing nobody), else `NoOneToRing`.
A voicemail is written to its file before the database is asked anything; its rows are
retried in the background (as call records are, `ari_app.call_log`), and what is still not
written at shutdown is logged with its file, so no recording is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ari_app.call_log import RETRY_DELAYS, Clock, utc_now
from core import line_desk
from core.line_desk import CallerCustomer, OpenMessage, StoredVoicemail, VoicemailKind
from core.office_hours import (
    Closure,
    OfficeCalendar,
    OfficeStatus,
    WeeklySchedule,
    office_status,
)
from core.office_store import office_calendar
from core.roster import EscalationStepPlan
from core.roster_store import NoFallback, fallback_contacts
from core.settings import Settings

log = structlog.get_logger("ari.desk")

# Longest a call waits for the database on any one question.
DB_TIMEOUT = 3.0
WORKERS = 16
T = TypeVar("T")


class Lookup(Enum):
    """A lookup the database could not answer: the caller is unknown, not known to be nobody."""

    unavailable = "unavailable"


CustomerLookup = CallerCustomer | None | Literal[Lookup.unavailable]


class NoOneToRing(LookupError):
    """Nobody can be rung: no plan from the database, none cached, no default contact."""


@dataclass(frozen=True)
class PendingVoicemail:
    """A recording whose rows wait for the database (retried in the background): on disk in
    `file` (a `pending-…` spool file), or None if even the disk refused it (kept in memory and
    retried too). Deliberately without `path`: that is a StoredVoicemail's."""

    file: Path | None


SavedVoicemail = StoredVoicemail | PendingVoicemail


class Desk(Protocol):
    """What the call flow asks; `at` defaults to now. None of these raise for the database."""

    async def office_status(self, at: datetime | None = None) -> OfficeStatus: ...

    async def find_customer_by_phone(self, e164: str, at: datetime | None = None) -> CustomerLookup: ...

    async def find_customer_by_number(self, keyed: str, at: datetime | None = None) -> CustomerLookup: ...

    async def open_message(
        self, *, customer_id: int | None, e164: str | None, since: datetime | None = None
    ) -> OpenMessage | None: ...  # since: default now - line.repeat_window_hours

    async def escalation_plan(self, at: datetime | None = None) -> list[EscalationStepPlan]: ...  # or NoOneToRing

    async def store_voicemail(
        self, *, call_channel_id: str, audio: bytes, audio_format: str, recorded_at: datetime,
        duration_seconds: Decimal | None, partial: bool, kind: VoicemailKind, add_to_voicemail_id: int | None = None,
        customer_id: int | None = None, pbx_recording: str | None = None,
    ) -> SavedVoicemail: ...  # fmt: skip


@dataclass(frozen=True)
class _CachedPlan:
    plans: list[EscalationStepPlan]
    valid_from: datetime
    valid_until: datetime


@dataclass
class _PendingVoicemail:
    channel_id: str
    audio_format: str
    recorded_at: datetime
    duration_seconds: Decimal | None
    partial: bool
    kind: VoicemailKind
    add_to_voicemail_id: int | None
    customer_id: int | None
    pbx_recording: str | None
    audio: bytes | None  # until it is on disk
    spool: Path | None = None
    stored: StoredVoicemail | None = None
    attempt: asyncio.Future[StoredVoicemail] | None = None  # the latest write, maybe still hanging
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def describe(self) -> dict[str, Any]:
        return {"channel_id": self.channel_id, "file": str(self.spool) if self.spool else None,
                "bytes_in_memory_only": len(self.audio) if self.spool is None and self.audio is not None else None,
                "recorded_at": self.recorded_at.isoformat(), "kind": self.kind, "partial": self.partial,
                "duration_seconds": str(self.duration_seconds) if self.duration_seconds is not None else None,
                "add_to_voicemail_id": self.add_to_voicemail_id, "customer_id": self.customer_id,
                "pbx_recording": self.pbx_recording}  # fmt: skip


class DatabaseDesk:
    """The desk over the database behind `sessions` (swappable: a new engine once it is back)."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, clock: Clock = utc_now, *, timeout: float = DB_TIMEOUT,
        retry_delays: Sequence[float] = RETRY_DELAYS, workers: int = WORKERS,
    ):  # fmt: skip
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        # Our own threads: a hung database holds these, not the loop's default executor (call log).
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="desk")
        self._closures: tuple[Closure, ...] = ()
        self._plan: _CachedPlan | None = None
        self._retries: dict[asyncio.Task[None], _PendingVoicemail] = {}

    # --- questions ----------------------------------------------------------------------------

    async def office_status(self, at: datetime | None = None) -> OfficeStatus:
        at = at or self.clock()
        try:
            calendar = await self._in_session(office_calendar_of, self.settings, at)
        except Exception as exc:
            _fallback("office_status", exc, closures=len(self._closures))
            return office_status(at, self._calendar_without_database(at))
        self._closures = calendar.closures
        return office_status(at, calendar)

    async def find_customer_by_phone(self, e164: str, at: datetime | None = None) -> CustomerLookup:
        return await self._lookup("find_customer_by_phone", line_desk.find_customer_by_phone, e164, at)

    async def find_customer_by_number(self, keyed: str, at: datetime | None = None) -> CustomerLookup:
        return await self._lookup("find_customer_by_number", line_desk.find_customer_by_number, keyed, at)

    async def open_message(
        self, *, customer_id: int | None, e164: str | None, since: datetime | None = None
    ) -> OpenMessage | None:
        hours = self.settings.line.repeat_window_hours
        if since is None:
            if hours <= 0:
                return None
            since = self.clock() - timedelta(hours=hours)
        if customer_id is None and not e164:
            return None
        try:
            return await self._in_session(line_desk.open_message, customer_id=customer_id, e164=e164, since=since,
                                          country=self.settings.country)  # fmt: skip
        except Exception as exc:
            _fallback("open_message", exc)
            return None

    async def escalation_plan(self, at: datetime | None = None) -> list[EscalationStepPlan]:
        at = at or self.clock()
        try:
            plans, valid_until = await self._in_session(line_desk.escalation_plan_until, self.settings, at)
        except NoFallback as exc:  # the database answered: nobody at all is configured
            raise NoOneToRing(str(exc)) from exc
        except Exception as exc:
            return self._plan_without_database(at, exc)
        self._plan = _CachedPlan(plans, at, valid_until)
        return plans

    # --- voicemails ---------------------------------------------------------------------------

    async def store_voicemail(
        self, *, call_channel_id: str, audio: bytes, audio_format: str, recorded_at: datetime,
        duration_seconds: Decimal | None, partial: bool, kind: VoicemailKind, add_to_voicemail_id: int | None = None,
        customer_id: int | None = None, pbx_recording: str | None = None,
    ) -> SavedVoicemail:  # fmt: skip
        """The audio to its file first, then the rows; rows the database does not take now are
        retried in the background. Raises ValueError only for a kind or format the flow got wrong."""
        if kind not in line_desk.VOICEMAIL_KINDS or not line_desk.valid_audio_format(audio_format):
            raise ValueError(f"voicemail kind {kind!r} / audio format {audio_format!r} not accepted")
        item = _PendingVoicemail(call_channel_id, audio_format, recorded_at, duration_seconds, partial, kind,
                                 add_to_voicemail_id, customer_id, pbx_recording, audio)  # fmt: skip
        if not await self._write(item):
            self._retry_later(item)
        return self._saved(item)

    async def close(self) -> None:
        """Stop retrying; one last attempt for each voicemail still pending, the rest is logged
        with its file so a person can put it in by hand."""
        retries = dict(self._retries)
        for task in retries:
            task.cancel()
        await asyncio.gather(*retries, return_exceptions=True)
        for item in retries.values():
            if not await self._write(item):
                log.error("voicemail not written at shutdown", voicemail=item.describe())
        self._executor.shutdown(wait=False)

    @property
    def pending(self) -> int:
        return len(self._retries)

    # --- inside ---------------------------------------------------------------------------------

    def _submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        def work() -> T:
            with self.sessions() as session:
                return function(session, *args, **kwargs)

        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        # A write that outlives its timeout still ends; its error must not be reported as lost.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        return future

    async def _in_session(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # shield: on a timeout the thread runs on (it cannot be stopped) and the call goes on.
        return await asyncio.wait_for(asyncio.shield(self._submit(function, *args, **kwargs)), self.timeout)

    async def _lookup(self, what: str, function: Callable[..., CallerCustomer | None], value: str, at: datetime | None) -> CustomerLookup:
        try:
            return await self._in_session(function, self.settings, value, at or self.clock())
        except Exception as exc:
            _fallback(what, exc)
            return Lookup.unavailable

    def _calendar_without_database(self, at: datetime) -> OfficeCalendar:
        return OfficeCalendar(
            schedule=WeeklySchedule.parse(self.settings.office.schedule),
            closures=tuple(closure for closure in self._closures if closure.ends_at > at),
            timezone=self.settings.timezone,
            holidays_enabled=self.settings.office.public_holidays,
        )

    def _plan_without_database(self, at: datetime, exc: BaseException) -> list[EscalationStepPlan]:
        cached = self._plan
        if cached is not None and cached.valid_from <= at < cached.valid_until:
            _fallback("escalation_plan", exc, using="cached plan", valid_until=cached.valid_until.isoformat())
            return cached.plans
        if self.settings.roster.default_contact:
            try:
                # A configured default contact is read from the settings alone, no session needed.
                legs = fallback_contacts(None, self.settings)  # type: ignore[arg-type]
            except NoFallback as unusable:
                log.error("default contact unusable", error=str(unusable))
            else:
                _fallback("escalation_plan", exc, using="roster.default_contact")
                return [EscalationStepPlan(1, legs, self.settings.roster.step_timeout, is_fallback=True)]
        if cached is not None:
            _fallback("escalation_plan", exc, using="stale cached plan", valid_until=cached.valid_until.isoformat())
            return cached.plans
        _fallback("escalation_plan", exc, using="nobody")
        raise NoOneToRing("the database is unavailable, no plan was read before and roster.default_contact is unset") from exc

    async def _write(self, item: _PendingVoicemail) -> bool:
        """One attempt to put `item` on disk and in the database; True when both are done."""
        async with item.lock:
            if item.stored is not None:
                return True
            if item.spool is None and not await self._spool(item):
                return False
            previous = item.attempt
            if previous is not None:
                if not previous.done():
                    return False  # still hanging in its thread: racing it could store the message twice
                if not previous.cancelled() and previous.exception() is None:
                    item.stored = previous.result()  # it went through after its timeout
                    return True
            item.attempt = self._submit(
                line_desk.store_spooled_voicemail, self.settings, item.spool, call_channel_id=item.channel_id,
                recorded_at=item.recorded_at, duration_seconds=item.duration_seconds, partial=item.partial,
                kind=item.kind, add_to_voicemail_id=item.add_to_voicemail_id, customer_id=item.customer_id,
                pbx_recording=item.pbx_recording,
            )  # fmt: skip
            try:
                item.stored = await asyncio.wait_for(asyncio.shield(item.attempt), self.timeout)
            except Exception as exc:
                log.warning("voicemail not in the database yet", channel_id=item.channel_id, file=str(item.spool),
                            error=_describe(exc))  # fmt: skip
                return False
            return True

    async def _spool(self, item: _PendingVoicemail) -> bool:
        assert item.audio is not None
        audio = item.audio
        try:
            item.spool = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                lambda: line_desk.spool_audio(self.settings, call_channel_id=item.channel_id, audio=audio,
                                              audio_format=item.audio_format, recorded_at=item.recorded_at),
            )  # fmt: skip
        except Exception as exc:
            log.error("recording not written to disk yet", channel_id=item.channel_id, bytes=len(audio), error=_describe(exc))
            return False
        item.audio = None
        return True

    def _saved(self, item: _PendingVoicemail) -> SavedVoicemail:
        return item.stored if item.stored is not None else PendingVoicemail(item.spool)

    def _retry_later(self, item: _PendingVoicemail) -> None:
        task = asyncio.create_task(self._retry(item), name=f"voicemail-retry-{item.channel_id}")
        self._retries[task] = item
        task.add_done_callback(lambda done: self._retries.pop(done, None))

    async def _retry(self, item: _PendingVoicemail) -> None:
        for delay in self.retry_delays:
            await asyncio.sleep(delay)
            if await self._write(item):
                log.info("voicemail written after retry", channel_id=item.channel_id, path=item.stored and item.stored.path)
                return
        log.error("voicemail given up", voicemail=item.describe())


def office_calendar_of(session: Session, settings: Settings, at: datetime) -> OfficeCalendar:
    return office_calendar(settings, session, at)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"  # the database did not answer within the desk's timeout
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _fallback(what: str, exc: BaseException, **details: Any) -> None:
    log.warning("desk fallback", what=what, error=_describe(exc), **details)
