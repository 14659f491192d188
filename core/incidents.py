"""Incidents: the triage lifecycle, its audit trail and the SLA clock.

Pure rules over plain data: nothing here reads the clock or the database. Moments are aware
datetimes passed in by the caller. `IncidentState` mirrors `core.models.Incident`, plus
`started_at/by`, `rejected_at/by` and `rejection_reason`, which the model lacks yet.

    new ──▶ acknowledged ──▶ in_progress ──▶ resolved            (acknowledged ──▶ resolved too)
    new | acknowledged | in_progress ──▶ rejected_not_critical  (a reason is required)

Decisions a caller may rely on:
- Acknowledging comes first (`new` goes only to `acknowledged` or is rejected), so every incident
  worked on has a time to acknowledge; "resolve" on a new incident is two transitions, two records.
- `resolved` and `rejected_not_critical` are final. A problem that comes back is a new incident
  with its own clock, so the first one's SLA figures stay true; a rejection made in error comes
  off the customer's record by an audited lift (`core.abuse`).
- An accepted transition returns exactly one `AuditRecord` for the caller to store; a refused one
  raises and changes nothing. No transition is earlier than the incident's latest transition.
- First contact is kept once; a later contact does not move it. It may come in any status (a live
  call the engineer accepts is first contact while the incident is still new).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

Actor = str | int  # an engineer's id or name, or a service name such as "system"


class IncidentStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED_NOT_CRITICAL = "rejected_not_critical"


NEW, ACKNOWLEDGED, IN_PROGRESS, RESOLVED, REJECTED = IncidentStatus

ALLOWED_TRANSITIONS: Mapping[IncidentStatus, frozenset[IncidentStatus]] = MappingProxyType({
    NEW: frozenset({ACKNOWLEDGED, REJECTED}),
    ACKNOWLEDGED: frozenset({IN_PROGRESS, RESOLVED, REJECTED}),
    IN_PROGRESS: frozenset({RESOLVED, REJECTED}),
    RESOLVED: frozenset(), REJECTED: frozenset(),
})  # fmt: skip
FINAL_STATUSES = frozenset(status for status, onward in ALLOWED_TRANSITIONS.items() if not onward)
ACTIONS = MappingProxyType({ACKNOWLEDGED: "acknowledge", IN_PROGRESS: "start_work", RESOLVED: "resolve",
                            REJECTED: "reject_not_critical"})  # fmt: skip


class InvalidTransition(ValueError):
    """A transition the lifecycle refuses; names the incident, from, to and why."""

    def __init__(self, from_status: str, to_status: str, *, incident_id: int | None, why: str) -> None:
        self.from_status, self.to_status, self.incident_id, self.why = from_status, to_status, incident_id, why
        super().__init__(f"incident {incident_id}: {from_status} → {to_status} is not allowed ({why})")


class ReasonRequired(ValueError):
    """An action that must say why (rejecting an incident, lifting a block) was given no reason."""


class InvalidIncidentState(ValueError):
    """Incident data that no sequence of transitions can produce (e.g. resolved without a time)."""


def check_aware(name: str, moment: object) -> None:
    """Refuse what is not an aware datetime: a naive one would shift SLA figures by hours."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name}={moment!r}: not an aware datetime (a naive one is refused; pass UTC)")


def check_actor(by: object) -> None:
    """Refuse an actor the audit trail could not name: empty, blank, or not a str or int."""
    if isinstance(by, bool) or not isinstance(by, str | int) or (isinstance(by, str) and not by.strip()):
        raise ValueError(f"by={by!r}: an actor (engineer id or name) is required")


@dataclass(frozen=True)
class AuditRecord:
    """One audit line, field for field: `AuditEntry(**dataclasses.asdict(record))`; `detail` is JSON."""

    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentState:
    """What the lifecycle knows of one incident. Constructing it checks consistency, so a value
    of this type is always a state the lifecycle can reach (`consistency_problems` is empty)."""

    created_at: datetime  # the call that raised it; every clock starts here
    status: IncidentStatus = NEW
    id: int | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: Actor | None = None
    first_contact_at: datetime | None = None
    first_contact_by: Actor | None = None
    started_at: datetime | None = None  # work began (in_progress)
    started_by: Actor | None = None
    resolved_at: datetime | None = None
    resolved_by: Actor | None = None
    rejected_at: datetime | None = None
    rejected_by: Actor | None = None
    rejection_reason: str | None = None

    def __post_init__(self) -> None:
        problems = consistency_problems(self)
        if problems:
            raise InvalidIncidentState(f"incident {self.id}: " + "; ".join(problems))
        object.__setattr__(self, "status", IncidentStatus(self.status))

    @classmethod
    def from_incident(cls, row: object) -> IncidentState:
        """The state of anything with `core.models.Incident`'s attributes (an ORM row)."""
        return cls(created_at=row.created_at, status=row.status, id=row.id,
                   acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by_id,
                   first_contact_at=row.first_contact_at, first_contact_by=row.first_contact_by_id,
                   resolved_at=row.resolved_at, resolved_by=row.resolved_by_id,
                   started_at=row.started_at, started_by=row.started_by_id,
                   rejected_at=row.rejected_at, rejected_by=row.rejected_by_id,
                   rejection_reason=row.rejection_reason)  # fmt: skip

    @property
    def closed_at(self) -> datetime | None:
        """When it became final (resolved or rejected); None while open."""
        return self.resolved_at or self.rejected_at

    @property
    def transition_moments(self) -> list[datetime]:
        """Creation and each recorded transition, in lifecycle order, which is also time order."""
        return [moment for moment in (self.created_at, self.acknowledged_at, self.started_at, self.closed_at) if moment]


def consistency_problems(state: IncidentState) -> list[str]:
    """Everything wrong with `state`, in words; empty for every state the lifecycle can reach."""
    if state.status not in set(IncidentStatus):
        return [f"unknown status {state.status!r}"]
    problems: list[str] = []
    moments = {f.name: getattr(state, f.name) for f in fields(state) if f.name.endswith("_at")}
    for name, moment in moments.items():
        if moment is not None and (not isinstance(moment, datetime) or moment.utcoffset() is None):
            problems.append(f"{name}={moment!r} is not an aware datetime")
    if problems or moments["created_at"] is None:
        return problems or ["created_at is missing"]
    for name in ("acknowledged", "first_contact", "started", "resolved", "rejected"):
        if (getattr(state, f"{name}_at") is None) != (getattr(state, f"{name}_by") is None):
            problems.append(f"{name}_at and {name}_by must be set together")
    status = IncidentStatus(state.status)
    # A rejection may come before or after an acknowledgement, so rejected fits either way.
    needs_acknowledgement = status in (ACKNOWLEDGED, IN_PROGRESS, RESOLVED)
    if (needs_acknowledgement and state.acknowledged_at is None) or (status is NEW and state.acknowledged_at):
        problems.append(f"acknowledged_at={state.acknowledged_at} does not fit status {status}")
    if (state.resolved_at is None) == (status is RESOLVED):
        problems.append(f"resolved_at={state.resolved_at} does not fit status {status}")
    rejected = state.rejected_at is not None
    if rejected != (status is REJECTED) or rejected != bool(state.rejection_reason):
        problems.append(f"rejected_at={state.rejected_at}, reason={state.rejection_reason!r} do not fit {status}")
    if state.started_at and status not in (IN_PROGRESS, RESOLVED, REJECTED):
        problems.append(f"started_at={state.started_at} does not fit status {status}")
    if state.transition_moments != sorted(state.transition_moments):
        problems.append("transitions out of order (created, acknowledged, started, closed)")
    if state.first_contact_at and state.first_contact_at < state.created_at:
        problems.append("first contact before created_at")
    return problems


def _why_refused(from_status: IncidentStatus, to_status: IncidentStatus) -> str:
    if from_status in FINAL_STATUSES:
        return f"{from_status} is final; a problem that comes back is a new incident"
    if from_status is NEW and to_status in (IN_PROGRESS, RESOLVED):
        return "acknowledge it first"
    return f"from {from_status} it can go to: " + ", ".join(sorted(ALLOWED_TRANSITIONS[from_status]))


def transition(
    state: IncidentState, to: IncidentStatus | str, *, by: Actor, at: datetime, reason: str | None = None
) -> tuple[IncidentState, AuditRecord]:
    """Move `state` to `to` as `by` at `at`: the new state and its one audit record; `state` is
    never changed. Raises `InvalidTransition` (not in `ALLOWED_TRANSITIONS`, or before the latest
    transition), `ReasonRequired` (rejecting without a reason), `ValueError` (naive `at`, no actor)."""
    if to not in set(IncidentStatus):
        raise InvalidTransition(state.status, str(to), incident_id=state.id, why="unknown status")
    target = IncidentStatus(to)
    check_aware("at", at)
    check_actor(by)
    if target not in ALLOWED_TRANSITIONS[state.status]:
        raise InvalidTransition(state.status, target, incident_id=state.id, why=_why_refused(state.status, target))
    reason = reason.strip() if reason and reason.strip() else None
    if target is REJECTED and reason is None:
        raise ReasonRequired(f"incident {state.id}: {state.status} → {target} needs a reason (why not critical)")
    if at < (latest := state.transition_moments[-1]):
        raise InvalidTransition(state.status, target, incident_id=state.id,
                                why=f"{at.isoformat()} is before its latest transition {latest.isoformat()}")
    stamps: dict[IncidentStatus, dict[str, Any]] = {
        ACKNOWLEDGED: {"acknowledged_at": at, "acknowledged_by": by}, IN_PROGRESS: {"started_at": at, "started_by": by},
        RESOLVED: {"resolved_at": at, "resolved_by": by},
        REJECTED: {"rejected_at": at, "rejected_by": by, "rejection_reason": reason}}
    record = AuditRecord(at=at, actor=str(by), action=ACTIONS[target], entity="incident", entity_id=state.id,
                         detail={"from": str(state.status), "to": str(target), "reason": reason})  # fmt: skip
    return replace(state, status=target, **stamps[target]), record


def record_first_contact(state: IncidentState, at: datetime, by: Actor) -> tuple[IncidentState, AuditRecord | None]:
    """Note the first contact with the customer (a call-back, or the engineer taking the call). The
    first one recorded stays: a later contact returns `state` unchanged and no audit record.
    Raises `ValueError` for a naive `at`, a missing actor, or `at` before the incident's creation."""
    check_aware("at", at)
    check_actor(by)
    if at < state.created_at:
        raise ValueError(f"incident {state.id}: contact at {at.isoformat()} is before its creation")
    if state.first_contact_at is not None:
        return state, None
    record = AuditRecord(at=at, actor=str(by), action="first_contact", entity="incident",
                         entity_id=state.id, detail={"status": str(state.status)})  # fmt: skip
    return replace(state, first_contact_at=at, first_contact_by=by), record


@dataclass(frozen=True)
class SlaTargets:
    """An SLA's targets (mirrors `core.models.Sla`); response is first contact with the customer."""

    resolution_minutes: int = 240  # the seed page: "we aim to resolve within 4 hours"
    response_minutes: int | None = None

    def __post_init__(self) -> None:
        for name, minutes in vars(self).items():
            if (minutes is not None or name == "resolution_minutes") and (type(minutes) is not int or minutes <= 0):
                raise ValueError(f"{name}={minutes!r}: must be a positive number of minutes")

    @classmethod
    def from_sla(cls, sla: object) -> SlaTargets:
        """Targets from anything with the `Sla` attributes (an ORM row, a namespace)."""
        return cls(resolution_minutes=sla.resolution_target_minutes, response_minutes=sla.response_target_minutes)


@dataclass(frozen=True)
class Stopwatch:
    """From the incident's creation to an event (acknowledgement, first contact, resolution), or
    `running` while open without it; closing without the event stops it (`reached_at` None)."""

    elapsed: timedelta
    reached_at: datetime | None
    running: bool


@dataclass(frozen=True)
class SlaClock:
    """An incident against its SLA at `now`. Breaches are strict (exactly on target is in time);
    a rejected incident owes no SLA: `sla_applies` is False and nothing is breached."""

    to_acknowledge: Stopwatch
    to_first_contact: Stopwatch
    to_resolution: Stopwatch
    targets: SlaTargets
    due_at: datetime  # resolution due
    response_due_at: datetime | None
    sla_applies: bool
    breached_response: bool
    breached_resolution: bool


def _stopwatch(state: IncidentState, event_at: datetime | None, now: datetime) -> Stopwatch:
    if event_at is not None:
        return Stopwatch(event_at - state.created_at, event_at, running=False)
    if state.closed_at is not None:
        return Stopwatch(state.closed_at - state.created_at, None, running=False)
    return Stopwatch(now - state.created_at, None, running=True)


def sla_clock(state: IncidentState, targets: SlaTargets, now: datetime) -> SlaClock:
    """Time to acknowledge, to first contact and to resolution as of `now` (final once reached), the
    due moments, and the breaches (also when resolved late). Raises `ValueError` when `now` is naive
    or earlier than a moment the state records."""
    check_aware("now", now)
    latest = max(state.transition_moments + [state.first_contact_at or state.created_at])
    if now < latest:
        raise ValueError(f"incident {state.id}: now={now.isoformat()} is before its recorded {latest.isoformat()}")
    to_contact = _stopwatch(state, state.first_contact_at, now)
    to_resolution = _stopwatch(state, state.resolved_at, now)
    resolution_target = timedelta(minutes=targets.resolution_minutes)
    response_target = timedelta(minutes=targets.response_minutes) if targets.response_minutes else None
    applies = state.status is not REJECTED
    return SlaClock(
        to_acknowledge=_stopwatch(state, state.acknowledged_at, now), to_first_contact=to_contact,
        to_resolution=to_resolution, targets=targets, due_at=state.created_at + resolution_target,
        response_due_at=state.created_at + response_target if response_target else None, sla_applies=applies,
        breached_response=applies and response_target is not None and to_contact.elapsed > response_target,
        breached_resolution=applies and to_resolution.elapsed > resolution_target,
    )  # fmt: skip
