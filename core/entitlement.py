"""Whether the line may wake an engineer for a caller (PRODUCT.md §1 step 3), and the keys a
caller types, as pure rules. The call flow and the AGI fallback both ask these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_CUSTOMER_NUMBER_DIGITS = 20


class Refusal(StrEnum):
    """Why nobody is woken; the value is the prompt the caller hears."""

    BLOCKED = "blocked"
    NO_AFTER_HOURS = "no_after_hours"
    UNIDENTIFIED = "refused_unidentified"


@dataclass(frozen=True)
class Entitlement:
    """The parts of a customer that decide entitlement."""

    status: str  # active | warned | blocked
    after_hours_included: bool


def refusal_for(customer: Entitlement | None, *, unidentified: str) -> Refusal | None:
    """None when the line goes on; otherwise why not. `unidentified` is the setting
    line.unidentified ("continue" or "refuse") for a caller nothing identified."""
    if customer is None:
        return Refusal.UNIDENTIFIED if unidentified == "refuse" else None
    if customer.status == "blocked":
        return Refusal.BLOCKED
    if not customer.after_hours_included:
        return Refusal.NO_AFTER_HOURS
    return None


def keyed_customer_number(keys: str) -> str | None:
    """The customer number in what a caller typed, or None when it cannot be one: `#` ends
    the entry (and anything after it is ignored), `*` or anything but digits makes it garbage,
    nothing typed or an absurd length is no number."""
    entry = keys.split("#", 1)[0]
    if not entry or not entry.isdigit() or len(entry) > MAX_CUSTOMER_NUMBER_DIGITS:
        return None
    return entry
