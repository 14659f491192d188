"""The monthly bill read from the database: which incidents a month holds and what each bills.

Reads only; the rules themselves are core.billing. Decisions a caller may rely on:
- **Month**: an incident belongs to the month of its creation's local date (Europe/Amsterdam),
  so 00:30 on the 1st is that month although it is the previous day in UTC.
- **Who is billed**: incidents of identified customers only. An unidentified caller's incident
  has nobody to send the bill to and no SLA to price it; it is left out of the lines, and
  `unidentified_incident_ids` names them so a summary can show what was not billed. Linking
  such an incident to a customer later puts it on that customer's next export.
- **Every status is billed**, `rejected_not_critical` included: the caller pressed 1 after
  hearing that the line is charged at the hourly rate plus 100 % (PRODUCT.md §1, step 5), so
  the time spent was consented to. Not being critical counts against them as abuse; it does
  not make the support free. Open incidents bill the time recorded up to the export.
- **Terms** come from the customer's SLA as it is at export time (no SLA history is kept): an
  SLA changed mid-month reprices the whole month. A customer whose SLA has no after-hours
  support cannot reach the line, but an incident of one that exists anyway is billed by its
  SLA's figures like any other.
- **Talk time**: the accepted legs (`accepted_at` set) of every call linked to the incident,
  from acceptance to the leg's end. Legs never accepted bill nothing (a mobile's voicemail
  answered them, or nobody did). A leg without an end ends with its call (the bridge cannot
  outlive the caller); if the call has not ended either, the export is refused with the call
  named: it is still going on, or its writer died, and a bill that guesses is worse than none.
- **Calls of an incident** are `linked_calls()`: the call that opened it and the calls whose
  voicemail was filed under it (a repeat caller adding to a message). Call-backs, when they get
  a link to their incident (`Call.incident_id`), are one more member of that union and are
  summed the same way.
  A call linked to two incidents would be billed twice and is refused.
- **Work**: every logged work minute. **Adjustment**: `billing_adjustment_pct` (100 waives)
  with its reason; a percentage without a reason is refused. `fault_ours` alone changes nothing:
  the seed says the agency *may* deviate from the rate, so the engineer sets the percentage.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session, contains_eager

from core.billing import (
    Adjustment,
    BillingMonth,
    BillingTerms,
    IncidentLine,
    TalkPiece,
    bill_incident,
    parse_month,
)
from core.models import Call, Customer, DialAttempt, Incident, Voicemail, WorkLog


class BillingDataError(ValueError):
    """A record the bill cannot be made from as it stands; names the incident and what is wrong."""


def linked_calls() -> Select:
    """(incident_id, call_id) of every call whose talk time its incident bills. UNION, not
    UNION ALL: a call reached both ways is one call, summed once."""
    opened = select(Incident.id.label("incident_id"), Incident.call_id.label("call_id")).where(Incident.call_id.is_not(None))
    via_voicemail = select(Voicemail.incident_id, Voicemail.call_id).where(
        Voicemail.incident_id.is_not(None), Voicemail.call_id.is_not(None)
    )
    # Outbound calls about an incident (the reminder call's call-back): only their accepted
    # leg, the customer's, bills; the engineer's menu time does not.
    outbound = select(Call.incident_id, Call.id).where(Call.incident_id.is_not(None))
    return union(opened, via_voicemail, outbound)


def incident_lines(session: Session, month: str | BillingMonth, customer_number: str | None = None) -> list[IncidentLine]:
    """The statement lines of `month` (YYYY-MM, local) of identified customers, or of one;
    in no particular order (core.billing.monthly_statements sorts)."""
    billing_month = parse_month(month) if isinstance(month, str) else month
    # No filter on status: rejected_not_critical is billed too (the caller consented to the rate).
    # The inner join on the customer leaves unidentified callers out.
    query = (
        _in_month(select(Incident), billing_month)
        .join(Incident.customer)
        .join(Customer.sla)
        .options(contains_eager(Incident.customer).contains_eager(Customer.sla))
    )
    if customer_number is not None:
        query = query.where(Customer.customer_number == customer_number)
    incidents = list(session.scalars(query))
    if not incidents:
        return []
    ids = [incident.id for incident in incidents]
    talk = _talk_by_incident(session, ids)
    work: dict[int, list[int]] = defaultdict(list)
    for incident_id, minutes in session.execute(select(WorkLog.incident_id, WorkLog.minutes).where(WorkLog.incident_id.in_(ids))):
        work[incident_id].append(minutes)
    return [_line(incident, talk.get(incident.id, []), work.get(incident.id, [])) for incident in incidents]


def unidentified_incident_ids(session: Session, month: str | BillingMonth) -> list[int]:
    """Incidents of `month` without a customer: not billed (see the module's docstring)."""
    billing_month = parse_month(month) if isinstance(month, str) else month
    query = _in_month(select(Incident.id), billing_month).where(Incident.customer_id.is_(None)).order_by(Incident.id)
    return list(session.scalars(query))


def _in_month(query: Select, month: BillingMonth) -> Select:
    # Stored moments are UTC; the local month is a half-open UTC range (DST included).
    start, end = month.utc_range()
    return query.where(Incident.created_at >= start, Incident.created_at < end)


def _talk_by_incident(session: Session, incident_ids: list[int]) -> dict[int, list[TalkPiece]]:
    pairs = linked_calls().subquery()
    calls_of_these = select(pairs.c.call_id).where(pairs.c.incident_id.in_(incident_ids))
    # Every incident these calls are linked to, also in other months, to see a call billed twice.
    incidents_of_call: dict[int, set[int]] = defaultdict(set)
    for incident_id, call_id in session.execute(select(pairs.c.incident_id, pairs.c.call_id).where(pairs.c.call_id.in_(calls_of_these))):
        incidents_of_call[call_id].add(incident_id)
    for call_id, sharing in sorted(incidents_of_call.items()):
        if len(sharing) > 1:
            raise BillingDataError(
                f"call {call_id} is linked to incidents {sorted(sharing)}: its talk time would be billed twice"
            )
    legs = session.execute(
        select(DialAttempt.id, DialAttempt.call_id, DialAttempt.accepted_at, DialAttempt.ended_at, Call.ended_at)
        .join(Call, DialAttempt.call_id == Call.id)
        .where(DialAttempt.call_id.in_(list(incidents_of_call)), DialAttempt.accepted_at.is_not(None))
        .order_by(DialAttempt.id)
    )
    talk: dict[int, list[TalkPiece]] = defaultdict(list)
    for leg_id, call_id, accepted_at, leg_end, call_end in legs:
        [incident_id] = incidents_of_call[call_id]
        talk[incident_id].append(_talk_span(incident_id, call_id, leg_id, accepted_at, leg_end or call_end))
    return talk


def _talk_span(incident_id: int, call_id: int, leg_id: int, accepted_at: datetime, end: datetime | None) -> tuple[datetime, datetime]:
    where = f"incident {incident_id}: call {call_id}, leg {leg_id}"
    if end is None:
        raise BillingDataError(
            f"{where} was accepted at {accepted_at.isoformat()} and neither the leg nor the call has ended; "
            "export when the call is over (or its record is repaired)"
        )
    if end < accepted_at:
        raise BillingDataError(f"{where} ends at {end.isoformat()}, before it was accepted at {accepted_at.isoformat()}")
    return accepted_at, end


def _line(incident: Incident, talk: list[TalkPiece], work: list[int]) -> IncidentLine:
    customer = incident.customer
    assert customer is not None  # joined on the customer above
    try:
        return bill_incident(
            incident_id=incident.id, customer=customer.customer_number, occurred_at=incident.created_at,
            terms=BillingTerms.from_sla(customer.sla), talk=talk, work_minutes=work, adjustment=_adjustment(incident),
        )  # fmt: skip
    except ValueError as unbillable:
        raise BillingDataError(f"incident {incident.id} of customer {customer.customer_number}: {unbillable}") from None


def _adjustment(incident: Incident) -> Adjustment | None:
    pct = incident.billing_adjustment_pct
    # A reason without a percentage lowers nothing, so there is nothing to explain on the bill.
    if pct is None or Decimal(pct) == 0:
        return None
    return Adjustment(Decimal(pct), incident.billing_adjustment_reason or "")
