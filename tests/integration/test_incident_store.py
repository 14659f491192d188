"""`core.incident_store` and `core.abuse_store` on SQLite and PostgreSQL: what the call flow and
the services call directly (the CLI tests cover what engineers type)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import abuse_store, incident_store
from core.abuse import NothingToLift
from core.calls import start_call
from core.db import open_database
from core.incidents import InvalidTransition, ReasonRequired
from core.models import STANDARD_SLA_NAME, AuditEntry, Customer, CustomerPhone, Engineer, Incident, Sla, WorkLog
from core.settings import Settings

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def session(settings: Settings):
    """A session on a fresh database with an engineer and a customer on the standard SLA."""
    with open_database(settings)() as session:
        standard = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
        session.add(Engineer(name="Eva"))
        session.add(Customer(name="ACME", customer_number="1001", sla=standard, phones=[CustomerPhone(e164="+31612345678")]))
        session.commit()
        yield session


def eva(session: Session) -> Engineer:
    return session.scalar(select(Engineer).where(Engineer.name == "Eva"))


def acme(session: Session) -> Customer:
    return session.scalar(select(Customer).where(Customer.customer_number == "1001"))


def audit(session: Session, entity: str, entity_id: int) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
    return list(session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))


def test_opening_an_incident_for_a_call_is_audited_and_happens_once(session):
    call = start_call(session, channel_id="chan-1", from_number="+31612345678", to_number="0497842611", at=NIGHT)
    incident = incident_store.open_incident(session, None, call, "webshop down", NIGHT)
    again = incident_store.open_incident(session, None, call, "webshop down", NIGHT + MINUTE)  # a retry
    session.commit()
    assert again.id == incident.id
    assert session.scalars(select(Incident)).all() == [incident]
    assert incident.customer == acme(session)  # taken from the call
    assert (incident.status, incident.created_at, incident.call_id) == ("new", NIGHT, call.id)
    [opened] = audit(session, "incident", incident.id)
    assert (opened.action, opened.actor, opened.at, opened.detail["call_id"]) == ("open", "system", NIGHT, call.id)


def test_an_incident_without_customer_or_call_can_be_opened(session):
    incident = incident_store.open_incident(session, None, None, None, NIGHT)
    session.commit()
    assert incident.customer_id is None and incident.call_id is None
    clock = incident_store.incident_sla_clock(session, incident, NIGHT + timedelta(hours=5))
    assert clock.targets.resolution_minutes == 240 and clock.breached_resolution


def test_a_naive_moment_is_refused(session):
    with pytest.raises(ValueError, match="not an aware datetime"):
        incident_store.open_incident(session, acme(session), None, "x", datetime(2026, 2, 3, 1, 0))


def test_a_transition_writes_every_stamped_field_and_one_audit_entry(session):
    incident = incident_store.open_incident(session, acme(session), None, "mail down", NIGHT)
    outcome = incident_store.transition_incident(session, incident, "acknowledged", by=eva(session), at=NIGHT + MINUTE)
    session.commit()
    session.expire_all()  # read back what was stored, not what is in memory
    stored = session.get(Incident, incident.id)
    assert (stored.status, stored.acknowledged_at, stored.acknowledged_by_id) == ("acknowledged", NIGHT + MINUTE, eva(session).id)
    [entry] = outcome.audit
    assert (entry.action, entry.actor, entry.detail["engineer_id"]) == ("acknowledge", "Eva", eva(session).id)
    assert [e.action for e in audit(session, "incident", incident.id)] == ["open", "acknowledge"]


def test_a_refused_transition_changes_nothing(session):
    incident = incident_store.open_incident(session, acme(session), None, "mail down", NIGHT)
    session.commit()
    with pytest.raises(InvalidTransition, match="new → resolved is not allowed"):
        incident_store.transition_incident(session, incident, "resolved", by=eva(session), at=NIGHT + MINUTE)
    with pytest.raises(ReasonRequired):
        incident_store.triage(session, incident, critical=False, by=eva(session), at=NIGHT + MINUTE, reason=" ")
    with pytest.raises(incident_store.BadMoment, match="is in the future"):
        incident_store.transition_incident(session, incident, "acknowledged", by=eva(session), at=NIGHT + 2 * MINUTE,
                                           now=NIGHT + MINUTE)  # fmt: skip
    assert not session.new and not session.dirty
    assert incident.status == "new"


def test_a_rejection_its_customer_status_and_both_audit_entries_commit_or_roll_back_together(session):
    customer = acme(session)
    incident = incident_store.open_incident(session, customer, None, "printer", NIGHT)
    session.commit()
    outcome = incident_store.triage(session, incident, critical=False, by=eva(session), at=NIGHT + MINUTE, reason="a printer")
    assert (outcome.customer_status.before, outcome.customer_status.after) == ("active", "warned")
    assert outcome.customer_status.audit.detail["incident_id"] == incident.id
    session.rollback()
    session.expire_all()
    assert (session.get(Incident, incident.id).status, acme(session).status) == ("new", "active")
    assert [e.action for e in session.scalars(select(AuditEntry))] == ["open"]


def test_the_sla_clock_uses_the_customers_sla(session):
    gold = Sla(name="gold", hourly_rate=Decimal("150"), resolution_target_minutes=120, response_target_minutes=30)
    customer = Customer(name="Initech", customer_number="2001", sla=gold)
    session.add(customer)
    incident = incident_store.open_incident(session, customer, None, "db down", NIGHT)
    incident_store.transition_incident(session, incident, "acknowledged", by=eva(session), at=NIGHT + 5 * MINUTE)
    incident_store.record_first_contact(session, incident, by=eva(session), at=NIGHT + 31 * MINUTE)
    session.commit()
    clock = incident_store.incident_sla_clock(session, incident, NIGHT + 90 * MINUTE)
    assert clock.due_at == NIGHT + 120 * MINUTE and clock.response_due_at == NIGHT + 30 * MINUTE
    assert clock.breached_response and not clock.breached_resolution
    [(listed, listed_clock)] = incident_store.list_incidents(session, NIGHT + 121 * MINUTE, breached=True)
    assert listed.id == incident.id and listed_clock.breached_resolution


def test_logged_work_is_checked_and_audited(session):
    incident = incident_store.open_incident(session, acme(session), None, "db down", NIGHT)
    now = NIGHT + timedelta(hours=2)
    with pytest.raises(incident_store.BadMoment, match="before incident"):
        incident_store.log_work(session, incident, eva(session), 10, NIGHT - MINUTE, now=now)
    with pytest.raises(incident_store.BadWork, match="whole number"):
        incident_store.log_work(session, incident, eva(session), 0, NIGHT, now=now)
    with pytest.raises(incident_store.BadWork, match="end in the future"):
        incident_store.log_work(session, incident, eva(session), 121, NIGHT + MINUTE, now=now)
    work = incident_store.log_work(session, incident, eva(session), 30, NIGHT + MINUTE, " tuned queries ", now=now)
    session.commit()
    assert (work.minutes, work.note, work.engineer.name) == (30, "tuned queries", "Eva")
    assert session.scalars(select(WorkLog)).all() == [work]
    entry = audit(session, "incident", incident.id)[-1]
    assert (entry.action, entry.at, entry.detail["minutes"], entry.detail["work_log_id"]) == ("log_work", now, 30, work.id)


def test_a_billing_adjustment_needs_a_reason_and_a_percentage(session):
    incident = incident_store.open_incident(session, acme(session), None, "db down", NIGHT)
    with pytest.raises(ReasonRequired):
        incident_store.set_billing_adjustment(session, incident, 100, "", eva(session), at=NIGHT)
    for bad in (Decimal("100.01"), 0, "NaN", "-5"):
        with pytest.raises(incident_store.BadAdjustment):
            incident_store.set_billing_adjustment(session, incident, bad, "ours", eva(session), at=NIGHT)
    entry = incident_store.set_billing_adjustment(session, incident, 100, "our patch", eva(session), at=NIGHT)
    session.commit()
    assert (incident.fault_ours, incident.billing_adjustment_pct, incident.billing_adjustment_reason) == (True, Decimal("100"), "our patch")
    assert (entry.action, entry.detail["to"]) == ("waive", {"pct": "100.00", "reason": "our patch"})
    with pytest.raises(incident_store.BadAdjustment, match="no billing adjustment"):
        incident_store.clear_billing_adjustment(session, incident_store.open_incident(session, None, None, None, NIGHT),
                                                "oops", eva(session), at=NIGHT)  # fmt: skip


def test_reassess_all_raises_and_lowers_statuses(session):
    customer = acme(session)
    incidents = [incident_store.open_incident(session, customer, None, "x", NIGHT + timedelta(days=day)) for day in (0, 10, 20)]
    for incident in incidents:  # rejected by something that did not reassess (a bulk import, say)
        incident.status, incident.rejected_at = "rejected_not_critical", incident.created_at + MINUTE
        incident.rejected_by_id, incident.rejection_reason = eva(session).id, "imported"
    session.commit()
    thresholds = abuse_store.AbuseThresholds(warn_at=1, block_at=3)
    [up] = abuse_store.reassess_all(session, NIGHT + timedelta(days=30), thresholds=thresholds)
    assert (up.before, up.after, up.counted) == ("active", "blocked", 3)
    assert abuse_store.reassess_all(session, NIGHT + timedelta(days=31), thresholds=thresholds) == []
    [down] = abuse_store.reassess_all(session, NIGHT + timedelta(days=365 + 21), thresholds=thresholds)
    assert (down.before, down.after, down.counted) == ("blocked", "active", 0)
    session.commit()
    assert [(e.detail["from"], e.detail["to"]) for e in audit(session, "customer", customer.id)] == [
        ("active", "blocked"), ("blocked", "active")]  # fmt: skip


def test_lifts_are_read_back_from_the_audit_trail(session):
    customer = acme(session)
    incident = incident_store.open_incident(session, customer, None, "x", NIGHT)
    incident_store.triage(session, incident, critical=False, by=eva(session), at=NIGHT + MINUTE, reason="not ours")
    result = abuse_store.lift_block(session, customer, by="Anna", reason="renewed", at=NIGHT + timedelta(days=1))
    session.commit()
    assert (result.lifted, result.before, result.after, customer.status) == (True, "warned", "active", "active")
    [lift] = abuse_store.customer_history(session, customer).lifted
    assert (lift.by, lift.at, lift.reason) == ("Anna", NIGHT + timedelta(days=1), "renewed")
    with pytest.raises(NothingToLift, match="customer 1001 is active"):
        abuse_store.lift_block(session, customer, by="Anna", reason="again", at=NIGHT + timedelta(days=2))
    with pytest.raises(ReasonRequired):
        abuse_store.lift_block(session, customer, by="Anna", reason=None, at=NIGHT + timedelta(days=2))
