"""Abuse of the line: incidents rejected as not critical count against the customer for a year.

Pure rules over plain data: nothing here reads the clock or the database. The caller passes the
moments of a customer's rejections (`IncidentState.rejected_at`) and its lifts, and stores the
audit records these rules return.

Decisions a caller may rely on:
- The window is half-open: at `at`, a rejection counts when `at − 365 days < rejected_at <= at`.
  So a rejection exactly 365 days old no longer counts: it expires at `rejected_at + 365 days`
  (`expires_at`). 365 days of elapsed time, not a calendar year, so a leap day does not stretch
  it. A rejection after `at` does not count yet, so a status as of a past moment is truthful.
- The status depends on the counted number alone and never falls as it rises: `block_at` or more
  is blocked, `warn_at` or more is warned, fewer is active. With the standard thresholds
  (1 and 3), 2 rejections are still warned.
- A lift resets the count: only rejections strictly after the latest lift at or before `at`
  count. A lift needs a reason, and is refused for a customer who is already active.
- The status is derived, never taken from storage: `reassess` compares it with the stored one
  and returns an audit record when they differ (a rejection, a lift, or a rejection expiring).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.incidents import Actor, AuditRecord, ReasonRequired, check_actor, check_aware

ABUSE_WINDOW = timedelta(days=365)
SYSTEM_ACTOR = "system"  # who reassesses when no engineer acted, e.g. a rejection expiring


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    WARNED = "warned"
    BLOCKED = "blocked"


ACTIVE, WARNED, BLOCKED = CustomerStatus
SEVERITY = {ACTIVE: 0, WARNED: 1, BLOCKED: 2}  # for sorting and comparing statuses


class NothingToLift(ValueError):
    """A lift was asked for a customer whose status is already active."""


@dataclass(frozen=True)
class AbuseThresholds:
    """Counted rejections from which a customer is warned and blocked (standard: 1 and 3)."""

    warn_at: int = 1
    block_at: int = 3

    def __post_init__(self) -> None:
        # warn_at 0 would warn every customer; block_at below warn_at would skip nothing sensible.
        if type(self.warn_at) is not int or type(self.block_at) is not int or not 1 <= self.warn_at <= self.block_at:
            raise ValueError(f"abuse thresholds warn_at={self.warn_at!r}, block_at={self.block_at!r}: "
                             "need 1 <= warn_at <= block_at")  # fmt: skip


STANDARD_THRESHOLDS = AbuseThresholds()


@dataclass(frozen=True)
class Lift:
    """An engineer lifting a customer's warning or block: who, when and why (required)."""

    by: Actor
    at: datetime
    reason: str

    def __post_init__(self) -> None:
        check_actor(self.by)
        check_aware("at", self.at)
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ReasonRequired(f"lift by {self.by} at {self.at.isoformat()}: a reason is required")
        object.__setattr__(self, "reason", self.reason.strip())


def expires_at(rejected_at: datetime) -> datetime:
    """The first moment a rejection no longer counts."""
    return rejected_at + ABUSE_WINDOW


def latest_lift(lifted: Iterable[Lift], at: datetime) -> Lift | None:
    """The lift in force at `at`: the latest at or before it (later lifts have not happened yet)."""
    in_force = [lift for lift in lifted if lift.at <= at]
    return max(in_force, key=lambda lift: lift.at, default=None)


def counted_rejections(rejections: Iterable[datetime], at: datetime, lifted: Iterable[Lift] = ()) -> list[datetime]:
    """The rejections that count against the customer at `at`, oldest first."""
    check_aware("at", at)
    moments = list(rejections)
    for index, moment in enumerate(moments):
        check_aware(f"rejections[{index}]", moment)
    lift = latest_lift(lifted, at)
    counted = [moment for moment in moments if at - ABUSE_WINDOW < moment <= at]
    return sorted(moment for moment in counted if lift is None or moment > lift.at)


def status_for_count(count: int, thresholds: AbuseThresholds = STANDARD_THRESHOLDS) -> CustomerStatus:
    """The status that `count` counted rejections give."""
    if count >= thresholds.block_at:
        return BLOCKED
    return WARNED if count >= thresholds.warn_at else ACTIVE


def customer_status(
    rejections: Iterable[datetime], at: datetime,
    thresholds: AbuseThresholds = STANDARD_THRESHOLDS, lifted: Iterable[Lift] = (),
) -> CustomerStatus:  # fmt: skip
    """The customer's status at `at`, from its rejections and lifts."""
    return status_for_count(len(counted_rejections(rejections, at, lifted)), thresholds)


def lift_customer(
    customer_id: int | None, rejections: Iterable[datetime], lifted: Iterable[Lift], *,
    by: Actor, at: datetime, reason: str | None, thresholds: AbuseThresholds = STANDARD_THRESHOLDS,
) -> tuple[Lift, AuditRecord]:  # fmt: skip
    """Lift a warned or blocked customer back to active: the `Lift` to store and its audit record.

    Raises `ReasonRequired` without a reason and `NothingToLift` when the customer is active."""
    lift = Lift(by=by, at=at, reason=reason or "")
    counted = counted_rejections(rejections, at, lifted)
    before = status_for_count(len(counted), thresholds)
    if before is ACTIVE:
        raise NothingToLift(f"customer {customer_id}: status is active, there is nothing to lift")
    record = AuditRecord(at=at, actor=str(by), action="lift", entity="customer", entity_id=customer_id,
                         detail={"from": str(before), "to": str(ACTIVE), "reason": lift.reason,
                                 "counted_rejections": len(counted)})  # fmt: skip
    return lift, record


def reassess(
    customer_id: int | None, stored_status: CustomerStatus | str, rejections: Iterable[datetime], at: datetime, *,
    thresholds: AbuseThresholds = STANDARD_THRESHOLDS, lifted: Iterable[Lift] = (), by: Actor = SYSTEM_ACTOR,
) -> tuple[CustomerStatus, AuditRecord | None]:  # fmt: skip
    """The status the customer should have at `at`, and an audit record when it differs from
    `stored_status` (None when it does not). Call it after a rejection, a lift, and now and then
    for rejections that expire."""
    if stored_status not in set(CustomerStatus):
        raise ValueError(f"customer {customer_id}: stored status {stored_status!r} is not one of {list(CustomerStatus)}")
    stored = CustomerStatus(stored_status)
    counted = counted_rejections(rejections, at, lifted)
    status = status_for_count(len(counted), thresholds)
    if status is stored:
        return status, None
    record = AuditRecord(at=at, actor=str(by), action="status_change", entity="customer", entity_id=customer_id,
                         detail={"from": str(stored), "to": str(status), "counted_rejections": len(counted),
                                 "warn_at": thresholds.warn_at, "block_at": thresholds.block_at})  # fmt: skip
    return status, record


@dataclass(frozen=True)
class CustomerAbuseHistory:
    """What `abuse_report` needs of one customer."""

    customer_id: int
    name: str
    rejections: tuple[datetime, ...] = ()
    lifted: tuple[Lift, ...] = ()


@dataclass(frozen=True)
class AbuseReportLine:
    """One line of `nachtdienst abuse list`."""

    customer_id: int
    name: str
    counted: int
    status: CustomerStatus
    oldest_counted_at: datetime | None
    oldest_expires_at: datetime | None  # when the oldest counted rejection leaves the window
    status_until: datetime | None  # when the status falls if nothing new happens; None for active
    last_lift: Lift | None


def _status_until(counted: list[datetime], thresholds: AbuseThresholds) -> datetime | None:
    status = status_for_count(len(counted), thresholds)
    if status is ACTIVE:
        return None
    threshold = thresholds.block_at if status is BLOCKED else thresholds.warn_at
    # The status falls once fewer than `threshold` remain: when the (n − threshold + 1)-th oldest
    # of the n counted expires.
    return expires_at(counted[len(counted) - threshold])


def abuse_report(
    customers: Iterable[CustomerAbuseHistory], at: datetime,
    thresholds: AbuseThresholds = STANDARD_THRESHOLDS, *, include_clean: bool = False,
) -> list[AbuseReportLine]:  # fmt: skip
    """Customers with counted rejections at `at` (all of them with `include_clean`), blocked
    first, then warned, then by count (most first) and name."""
    lines = []
    for customer in customers:
        counted = counted_rejections(customer.rejections, at, customer.lifted)
        if not counted and not include_clean:
            continue
        lines.append(AbuseReportLine(
            customer_id=customer.customer_id, name=customer.name, counted=len(counted),
            status=status_for_count(len(counted), thresholds),
            oldest_counted_at=counted[0] if counted else None,
            oldest_expires_at=expires_at(counted[0]) if counted else None,
            status_until=_status_until(counted, thresholds), last_lift=latest_lift(customer.lifted, at),
        ))  # fmt: skip
    return sorted(lines, key=lambda line: (-SEVERITY[line.status], -line.counted, line.name, line.customer_id))
