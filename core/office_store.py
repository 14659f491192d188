"""Office hours as the database and the settings hold them: the calendar, and its closures.

Every function takes a Session and never commits: the caller decides the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AuditEntry, OfficeClosure, utc_now
from core.office_hours import Closure, OfficeCalendar, WeeklySchedule
from core.settings import Settings


@lru_cache(maxsize=8)
def _schedule(text: str) -> WeeklySchedule:
    # The call flow asks for every call; the text (validated by the settings) rarely changes.
    return WeeklySchedule.parse(text)


def office_calendar(settings: Settings, session: Session, at: datetime | None = None) -> OfficeCalendar:
    """The calendar that decides office hours at and after `at` (default: now): the configured
    schedule, zone and public holidays, and the closures that have not ended by then.

    Closures that ended before `at` cannot change anything from `at` on, so they are not
    loaded: the query returns a handful of rows however long the history of closures grows.
    """
    moment = utc_now() if at is None else _aware(at, "office calendar at")
    rows = session.scalars(select(OfficeClosure).where(OfficeClosure.ends_at > moment)).all()
    return OfficeCalendar(
        schedule=_schedule(settings.office.schedule),
        closures=[Closure(row.starts_at, row.ends_at, row.reason) for row in rows],
        timezone=settings.timezone,
        holidays_enabled=settings.office.public_holidays,
    )


def add_closure(session: Session, starts_at: datetime, ends_at: datetime, reason: str, created_by: str | None = None) -> OfficeClosure:
    """Record a closure [starts_at, ends_at). Raises ValueError, naming the value, for naive
    moments, an end not after the start, or a blank reason."""
    closure = Closure(starts_at, ends_at, reason.strip())  # the rules' own checks, one place
    row = OfficeClosure(starts_at=closure.starts_at, ends_at=closure.ends_at, reason=closure.reason, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def list_closures(session: Session, *, include_ended: bool = False, now: datetime | None = None) -> list[OfficeClosure]:
    """Closures by start; by default only those not ended at `now` (ongoing or to come)."""
    query = select(OfficeClosure).order_by(OfficeClosure.starts_at, OfficeClosure.id)
    if not include_ended:
        query = query.where(OfficeClosure.ends_at > (utc_now() if now is None else _aware(now, "closures at")))
    return list(session.scalars(query))


def remove_closure(session: Session, closure_id: int, by: str) -> OfficeClosure:
    """Delete a closure and keep an audit line of what it was. Raises LookupError when there
    is no closure with that id."""
    row = session.get(OfficeClosure, closure_id)
    if row is None:
        raise LookupError(f"no closure with id {closure_id}")
    session.add(AuditEntry(
        actor=by,
        action="closure_removed",
        entity="office_closure",
        entity_id=row.id,
        detail={"starts_at": row.starts_at.isoformat(), "ends_at": row.ends_at.isoformat(), "reason": row.reason,
                "created_by": row.created_by},
    ))
    session.delete(row)
    session.flush()
    return row


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()}: naive datetime refused, pass an aware one")
    return moment.astimezone(UTC)
