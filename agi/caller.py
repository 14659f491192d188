"""Who is calling and whether the line is open for them, as the ARI flow decides it
(PRODUCT.md §1 steps 2-3): the caller's number first, then a customer number the caller keyed
in; entitlement by `core.entitlement.refusal_for`. Synchronous: the AGI desk runs these in
its threads, each with a session of its own (a stale customer status may be committed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core import line_desk
from core.entitlement import Entitlement, Refusal, keyed_customer_number, refusal_for
from core.line_desk import CallerCustomer
from core.models import Customer
from core.calls import e164_or_none
from core.settings import Settings

# What Asterisk puts in agi_callerid when there is no number to look up.
NO_NUMBER = frozenset({"", "unknown", "anonymous", "restricted", "private", "withheld"})


@dataclass(frozen=True)
class Identification:
    customer: CallerCustomer | None
    # "caller_number" | "customer_number" | "customer_id"; None: unidentified
    by: str | None
    caller_e164: str | None  # the caller's number in E.164, when it is a real number


def caller_number(raw: str | None) -> str | None:
    """The caller's number from `agi_callerid`, or None when withheld or absent."""
    value = (raw or "").strip()
    return None if value.lower() in NO_NUMBER else value


def identify_caller(
    session: Session,
    settings: Settings,
    *,
    number: str | None,
    keyed: str | None,
    at: datetime,
) -> Identification:
    """The customer by the caller's number, else by the customer number keyed in (what the
    caller typed; `#` ends it, garbage identifies nobody)."""
    e164 = e164_or_none(number, settings.country)
    if e164 is not None:
        found = line_desk.find_customer_by_phone(session, settings, e164, at)
        if found is not None:
            return Identification(found, "caller_number", e164)
    entry = keyed_customer_number(keyed) if keyed else None
    if entry is not None:
        found = line_desk.find_customer_by_number(session, settings, entry, at)
        if found is not None:
            return Identification(found, "customer_number", e164)
    return Identification(None, None, e164)


def customer_by_id(
    session: Session,
    settings: Settings,
    customer_id: int,
    *,
    number: str | None,
    at: datetime,
) -> Identification | None:
    """The customer an earlier `identify` found (its id), with its status as of `at`; None
    when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    status = line_desk.current_status(session, settings, customer, at)
    found = CallerCustomer(
        customer.id,
        customer.name,
        customer.customer_number,
        status,
        bool(customer.sla.after_hours_included),
    )
    return Identification(found, "customer_id", e164_or_none(number, settings.country))


def refusal(
    identification: Identification | None, settings: Settings
) -> Refusal | None:
    """Why the line does not wake anyone for this caller, or None. `identification` None means
    the database could not say who calls: that is never a reason to refuse (a paying customer
    must get through while the database is down)."""
    if identification is None:
        return None
    customer = identification.customer
    facts = (
        Entitlement(customer.status, customer.after_hours_included)
        if customer
        else None
    )
    return refusal_for(facts, unidentified=settings.line.unidentified)
