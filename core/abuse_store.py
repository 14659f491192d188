"""Abuse over the database: customers' rejections and lifts read back, statuses written, lifts audited.

The rules are `core.abuse`; this module feeds them from the tables and stores what they decide:
- a rejection is an incident of the customer with `rejected_at` set (triaged as not critical);
- a lift is an `AuditEntry` with entity "customer", action "lift" and the reason in its detail,
  exactly the record `core.abuse.lift_customer` returns, so the audit trail *is* the lift history;
- the customer's `status` column is a cache of the derived status, kept current by `reassess_*`
  (after a rejection, after a lift, and periodically as rejections leave the rolling year).

Nothing here commits or reads the clock: the caller passes the moment and decides the
transaction, so a rejection, the customer's new status and both audit entries commit together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.abuse import (
    ABUSE_WINDOW,
    ACTIVE,
    STANDARD_THRESHOLDS,
    SYSTEM_ACTOR,
    AbuseReportLine,
    AbuseThresholds,
    CustomerAbuseHistory,
    CustomerStatus,
    Lift,
    NothingToLift,
    abuse_report,
    counted_rejections,
    lift_customer,
    reassess,
)
from core.incidents import Actor, AuditRecord, check_aware
from core.models import AuditEntry, Customer, Incident
from core.settings import Settings

LIFT_ACTION = "lift"
CUSTOMER_ENTITY = "customer"


def thresholds_from(settings: Settings) -> AbuseThresholds:
    """The configured thresholds (`abuse.warn_at`, `abuse.block_at`)."""
    return AbuseThresholds(warn_at=settings.abuse.warn_at, block_at=settings.abuse.block_at)


def store_audit(session: Session, record: AuditRecord) -> AuditEntry:
    """Add the audit entry for `record` (field for field) to the session."""
    entry = AuditEntry(**asdict(record))
    session.add(entry)
    return entry


def _lift_of(entry: AuditEntry) -> Lift:
    return Lift(by=entry.actor, at=entry.at, reason=str((entry.detail or {}).get("reason") or "(no reason recorded)"))


def histories(
    session: Session, customers: Sequence[Customer], since: datetime | None = None
) -> dict[int, CustomerAbuseHistory]:
    """Each customer's rejections and lifts, by customer id, in two queries however many customers.

    With `since`, rejections at or before it are left out: they cannot count at any moment up to
    `since + ABUSE_WINDOW`, and a customer with years of history need not be read whole."""
    ids = [customer.id for customer in customers]
    rejections: dict[int, list[datetime]] = defaultdict(list)
    lifts: dict[int, list[Lift]] = defaultdict(list)
    if ids:
        query = select(Incident.customer_id, Incident.rejected_at).where(
            Incident.customer_id.in_(ids), Incident.rejected_at.is_not(None)
        )
        if since is not None:
            query = query.where(Incident.rejected_at > since)
        for customer_id, rejected_at in session.execute(query):
            rejections[customer_id].append(rejected_at)
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == CUSTOMER_ENTITY, AuditEntry.action == LIFT_ACTION, AuditEntry.entity_id.in_(ids)
            )
        )
        for entry in entries:
            lifts[entry.entity_id].append(_lift_of(entry))
    return {
        customer.id: CustomerAbuseHistory(
            customer_id=customer.id, name=customer.name,
            rejections=tuple(sorted(rejections[customer.id])),
            lifted=tuple(sorted(lifts[customer.id], key=lambda lift: lift.at)),
        )
        for customer in customers
    }  # fmt: skip


def customer_history(session: Session, customer: Customer) -> CustomerAbuseHistory:
    """One customer's rejections and lifts, as `core.abuse` takes them."""
    session.flush()  # a rejection made in this transaction must count
    return histories(session, [customer])[customer.id]


def lock_customer(session: Session, customer: Customer) -> None:
    """Hold the customer's row until the transaction ends (PostgreSQL; SQLite's writer lock does
    it there), so two rejections triaged at once cannot both reassess without seeing the other:
    the second waits, then reads the first's committed rejection."""
    session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())


@dataclass(frozen=True)
class StatusChange:
    """A customer's status as reassessed: `before` (stored) and `after`, and what was counted."""

    customer: Customer
    before: CustomerStatus
    after: CustomerStatus
    counted: int
    audit: AuditEntry | None  # None when the status did not change

    @property
    def changed(self) -> bool:
        return self.before is not self.after


def _reassess(
    session: Session, customer: Customer, history: CustomerAbuseHistory, at: datetime,
    thresholds: AbuseThresholds, by: Actor, cause: dict[str, object] | None,
) -> StatusChange:  # fmt: skip
    before = CustomerStatus(customer.status)
    after, record = reassess(customer.id, before, history.rejections, at, thresholds=thresholds,
                             lifted=history.lifted, by=by)  # fmt: skip
    counted = len(counted_rejections(history.rejections, at, history.lifted))
    entry = None
    if record is not None:
        customer.status = str(after)
        entry = store_audit(session, AuditRecord(**{**asdict(record), "detail": {**record.detail, **(cause or {})}}))
    return StatusChange(customer=customer, before=before, after=after, counted=counted, audit=entry)


def reassess_customer(
    session: Session, customer: Customer, at: datetime, *, thresholds: AbuseThresholds = STANDARD_THRESHOLDS,
    by: Actor = SYSTEM_ACTOR, cause: dict[str, object] | None = None,
) -> StatusChange:  # fmt: skip
    """Bring `customer.status` to what its rejections and lifts give at `at`, with an audit entry
    ("status_change", `cause` merged into its detail) when it changes."""
    check_aware("at", at)
    lock_customer(session, customer)
    return _reassess(session, customer, customer_history(session, customer), at, thresholds, by, cause)


def reassess_all(
    session: Session, at: datetime, *, thresholds: AbuseThresholds = STANDARD_THRESHOLDS, by: Actor = SYSTEM_ACTOR,
) -> list[StatusChange]:  # fmt: skip
    """Reassess every customer at `at` (the services call it periodically): statuses rise for
    rejections stored without a reassessment, and fall when rejections leave the rolling year.
    Returns the changes only; each has its audit entry."""
    check_aware("at", at)
    session.flush()
    customers = list(session.scalars(select(Customer).order_by(Customer.id)))
    # Rejections older than the window cannot count at `at`; a lift at any age still matters
    # only through the rejections after it, so the window bounds what has to be read.
    found = histories(session, customers, since=at - ABUSE_WINDOW)
    changes = [_reassess(session, customer, found[customer.id], at, thresholds, by, None) for customer in customers]
    return [change for change in changes if change.changed]


@dataclass(frozen=True)
class LiftResult:
    """What `lift_block` did: lifted (with the lift's audit entry), or only corrected a stored
    status that was out of date (its rejections had left the year: nothing left to lift)."""

    customer: Customer
    before: CustomerStatus
    after: CustomerStatus
    lifted: bool
    counted_before: int
    audit: AuditEntry


def lift_block(
    session: Session, customer: Customer, *, by: Actor, reason: str | None, at: datetime,
    thresholds: AbuseThresholds = STANDARD_THRESHOLDS,
) -> LiftResult:  # fmt: skip
    """Lift a warned or blocked customer back to active, audited with `by` and `reason`.

    The stored status is reassessed first: one that is merely out of date is corrected (audited
    as a status change) rather than lifted. Raises `ReasonRequired` without a reason and
    `NothingToLift` for a customer who is active."""
    lock_customer(session, customer)
    history = customer_history(session, customer)
    stored = CustomerStatus(customer.status)
    try:
        lift, record = lift_customer(customer.id, history.rejections, history.lifted, by=by, at=at, reason=reason,
                                     thresholds=thresholds)  # fmt: skip
    except NothingToLift:
        if stored is ACTIVE:
            raise NothingToLift(f"customer {customer.customer_number} is active; there is nothing to lift") from None
        change = _reassess(session, customer, history, at, thresholds, by, {"corrected_by": LIFT_ACTION})
        assert change.audit is not None  # stored was not active, the derived status is
        return LiftResult(customer, stored, ACTIVE, lifted=False, counted_before=0, audit=change.audit)
    entry = store_audit(session, record)
    customer.status = str(ACTIVE)
    return LiftResult(customer, stored, ACTIVE, lifted=True, counted_before=int(record.detail["counted_rejections"]),
                      audit=entry)  # fmt: skip


def abuse_lines(
    session: Session, at: datetime, *, thresholds: AbuseThresholds = STANDARD_THRESHOLDS, include_clean: bool = False,
) -> list[tuple[Customer, AbuseReportLine]]:  # fmt: skip
    """`core.abuse.abuse_report` at `at` over every customer, each line with its customer row.
    Without `include_clean`, a customer with nothing counted is still listed when its stored
    status is not active (out of date until the next reassessment)."""
    check_aware("at", at)
    customers = list(session.scalars(select(Customer)))
    by_id = {customer.id: customer for customer in customers}
    found = histories(session, customers)
    lines = abuse_report(found.values(), at, thresholds, include_clean=True)
    return [
        (by_id[line.customer_id], line)
        for line in lines
        if include_clean or line.counted or by_id[line.customer_id].status != ACTIVE
    ]

