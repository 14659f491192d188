"""What the AGI commands ask the database, asked so that the database can never hang a
channel: every question runs in a worker thread of our own with a timeout.

Decisions a caller may rely on:
- `ask(function, …)` runs `function(session, …)` in a thread with a fresh session and returns
  its result; a database that is not opened yet, down, failing or slower than `timeout` is
  DatabaseDown with a one-line reason. Other exceptions (the command's own) pass through.
- Without the database, two answers still come (as in the ARI app's desk): office hours from
  the configured schedule (no closures), and whom to ring from the last plan read while it is
  still valid (until the next roster change), else `roster.default_contact`, else the last
  plan however old. Each such answer says where it came from.
- Threads are ours, not the loop's default executor: a hung database holds these, and a
  question that times out runs on in its thread (it cannot be stopped) while the call goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core import line_desk
from core.db import DatabaseUnavailable
from core.office_hours import (
    OfficeCalendar,
    OfficeStatus,
    WeeklySchedule,
    office_status,
)
from core.roster import EscalationStepPlan
from core.roster_store import NoFallback, fallback_contacts
from core.settings import Settings

log = structlog.get_logger("agi.desk")

# Longest a channel waits for the database on any one question (as the ARI app's desk).
DB_TIMEOUT = 3.0
WORKERS = 16
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class DatabaseDown(Exception):
    """The database did not answer; the message says why in one line."""


@dataclass(frozen=True)
class Plan:
    """Whom a call rings, and where that came from: "database", "cached plan",
    "roster.default_contact" or "stale cached plan"."""

    steps: list[EscalationStepPlan]
    source: str
    problem: str | None = None  # why not from the database


@dataclass(frozen=True)
class Office:
    status: OfficeStatus
    problem: str | None = None  # set when the closures could not be read


@dataclass(frozen=True)
class _CachedPlan:
    steps: list[EscalationStepPlan]
    valid_from: datetime
    valid_until: datetime


class AgiDesk:
    """The database behind `sessions`; None until the service has opened it."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session] | None = None,
        *,
        timeout: float = DB_TIMEOUT,
        workers: int = WORKERS,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.settings = settings
        self.sessions = sessions
        self.timeout = timeout
        self.clock = clock
        self.not_open_reason = "the database is not opened yet"
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="agi-db"
        )
        self._plan: _CachedPlan | None = None

    async def ask(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(session, *args, **kwargs)` in a worker thread; DatabaseDown when the
        database does not answer within the timeout."""
        sessions = self.sessions
        if sessions is None:
            raise DatabaseDown(self.not_open_reason)

        def work() -> T:
            with sessions() as session:
                return function(session, *args, **kwargs)

        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        # A question that outlives its timeout still ends; its error is no one's to report.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            raise DatabaseDown(f"no answer within {self.timeout:g} s") from None
        except (SQLAlchemyError, DatabaseUnavailable) as exc:
            raise DatabaseDown(describe(exc)) from None

    async def ping(self) -> bool:
        """Whether the database answers a trivial query now."""
        try:
            await self.ask(lambda session: session.execute(text("SELECT 1")).scalar())
        except DatabaseDown:
            return False
        return True

    async def office(self, at: datetime) -> Office:
        try:
            status = await self.ask(line_desk.office_status, self.settings, at)
        except DatabaseDown as exc:
            calendar = OfficeCalendar(
                schedule=WeeklySchedule.parse(self.settings.office.schedule),
                timezone=self.settings.timezone,
                holidays_enabled=self.settings.office.public_holidays,
            )
            _fallback("office", exc, using="schedule without closures")
            return Office(office_status(at, calendar), f"database unavailable: {exc}")
        return Office(status)

    async def plan(self, at: datetime) -> Plan:
        """Whom a call at `at` rings. Raises NoFallback when the database says nobody at all
        can be rung, DatabaseDown when it is away and nothing else is known."""
        try:
            steps, valid_until = await self.ask(
                line_desk.escalation_plan_until, self.settings, at
            )
        except DatabaseDown as exc:
            return self._plan_without_database(at, exc)
        self._plan = _CachedPlan(steps, at, valid_until)
        return Plan(steps, "database")

    def _plan_without_database(self, at: datetime, exc: DatabaseDown) -> Plan:
        problem = f"database unavailable: {exc}"
        cached = self._plan
        if cached is not None and cached.valid_from <= at < cached.valid_until:
            _fallback("plan", exc, using="cached plan")
            return Plan(cached.steps, "cached plan", problem)
        if self.settings.roster.default_contact:
            try:
                # A configured default contact comes from the settings alone: no session.
                legs = fallback_contacts(None, self.settings)  # type: ignore[arg-type]
            except NoFallback as unusable:
                log.error("default contact unusable", error=str(unusable))
            else:
                _fallback("plan", exc, using="roster.default_contact")
                timeout = self.settings.roster.step_timeout
                return Plan(
                    [EscalationStepPlan(1, legs, timeout, is_fallback=True)],
                    "roster.default_contact",
                    problem,
                )
        if cached is not None:
            _fallback("plan", exc, using="stale cached plan")
            return Plan(cached.steps, "stale cached plan", problem)
        _fallback("plan", exc, using="nothing")
        raise exc

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def describe(exc: BaseException) -> str:
    """An exception in one line: its type and the first line of its message."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def _fallback(what: str, exc: BaseException, **details: Any) -> None:
    log.warning("agi desk fallback", what=what, error=str(exc), **details)
