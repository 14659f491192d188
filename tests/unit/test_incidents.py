"""Incidents: the triage lifecycle, its audit trail, first contact and the SLA clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.incidents import (
    ALLOWED_TRANSITIONS,
    AuditRecord,
    IncidentState,
    IncidentStatus,
    InvalidIncidentState,
    InvalidTransition,
    ReasonRequired,
    SlaTargets,
    consistency_problems,
    record_first_contact,
    sla_clock,
    transition,
)
from core.models import AuditEntry, Incident

CALL = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)  # a Thursday night
STATUSES = [status.value for status in IncidentStatus]
# The lifecycle written out independently of the module, so the property test checks the rule.
EXPECTED_EDGES = {
    ("new", "acknowledged"), ("new", "rejected_not_critical"),
    ("acknowledged", "in_progress"), ("acknowledged", "resolved"), ("acknowledged", "rejected_not_critical"),
    ("in_progress", "resolved"), ("in_progress", "rejected_not_critical"),
}  # fmt: skip


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def incident(**kwargs) -> IncidentState:
    return IncidentState(created_at=CALL, id=7, **kwargs)


def walk(*targets: str, by: str = "anna", reason: str | None = None) -> tuple[IncidentState, list[AuditRecord]]:
    """Take a new incident through `targets`, one every 10 minutes."""
    state, records = incident(), []
    for step, target in enumerate(targets, start=1):
        state, record = transition(state, target, by=by, at=CALL + minutes(10 * step), reason=reason)
        records.append(record)
    return state, records


# --- lifecycle -----------------------------------------------------------------------------


def test_the_lifecycle_table_is_the_documented_one():
    actual = {(str(source), str(target)) for source, targets in ALLOWED_TRANSITIONS.items() for target in targets}
    assert actual == EXPECTED_EDGES


def test_acknowledging_keeps_who_and_when():
    state, record = transition(incident(), "acknowledged", by="anna", at=CALL + minutes(5))
    assert state.status == "acknowledged"
    assert (state.acknowledged_at, state.acknowledged_by) == (CALL + minutes(5), "anna")


def test_every_transition_is_audited_with_who_when_and_from_to():
    state, records = walk("acknowledged", "in_progress", "resolved")
    assert state.status == "resolved" and state.resolved_by == "anna" and state.resolved_at == CALL + minutes(30)
    assert [(r.action, r.detail["from"], r.detail["to"]) for r in records] == [
        ("acknowledge", "new", "acknowledged"),
        ("start_work", "acknowledged", "in_progress"),
        ("resolve", "in_progress", "resolved"),
    ]
    assert [r.at for r in records] == [CALL + minutes(10), CALL + minutes(20), CALL + minutes(30)]
    assert {(r.actor, r.entity, r.entity_id) for r in records} == {("anna", "incident", 7)}


def test_an_engineer_id_is_kept_on_the_state_and_named_in_the_audit():
    state, record = transition(incident(), "acknowledged", by=3, at=CALL + minutes(1))
    assert state.acknowledged_by == 3 and record.actor == "3"


def test_audit_record_becomes_an_audit_entry_row_field_for_field():
    _, (record,) = walk("acknowledged")
    row = AuditEntry(**dataclasses.asdict(record))
    assert (row.actor, row.action, row.entity, row.entity_id) == ("anna", "acknowledge", "incident", 7)
    assert row.at == record.at
    assert row.detail == {"from": "new", "to": "acknowledged", "reason": None}


def test_an_acknowledged_incident_can_be_resolved_without_starting_work():
    state, _ = walk("acknowledged", "resolved")
    assert state.status == "resolved"


@pytest.mark.parametrize("target", ["in_progress", "resolved"])
def test_a_new_incident_must_be_acknowledged_first(target):
    with pytest.raises(InvalidTransition, match="acknowledge it first") as refused:
        transition(incident(), target, by="anna", at=CALL + minutes(1))
    assert (refused.value.from_status, refused.value.to_status, refused.value.incident_id) == ("new", target, 7)
    assert f"new → {target}" in str(refused.value)


@pytest.mark.parametrize("final", [("acknowledged", "resolved"), ("rejected_not_critical",)])
@pytest.mark.parametrize("target", STATUSES)
def test_resolved_and_rejected_are_final(final, target):
    state, _ = walk(*final, reason="a typo on the contact page")
    with pytest.raises(InvalidTransition, match="is final"):
        transition(state, target, by="anna", at=CALL + minutes(60))


def test_acknowledging_twice_is_refused():
    state, _ = walk("acknowledged")
    with pytest.raises(InvalidTransition, match="acknowledged → acknowledged"):
        transition(state, "acknowledged", by="bob", at=CALL + minutes(20))


def test_nothing_goes_back_to_new():
    state, _ = walk("acknowledged", "in_progress")
    with pytest.raises(InvalidTransition, match="in_progress → new"):
        transition(state, "new", by="anna", at=CALL + minutes(30))


def test_an_unknown_status_is_refused_by_name():
    with pytest.raises(InvalidTransition, match="new → closed is not allowed .unknown status"):
        transition(incident(), "closed", by="anna", at=CALL + minutes(1))


@pytest.mark.parametrize("before", [(), ("acknowledged",), ("acknowledged", "in_progress")])
def test_rejection_is_possible_before_and_after_acknowledgement_and_keeps_the_reason(before):
    state, _ = walk(*before)
    at = CALL + minutes(40)
    rejected, record = transition(state, "rejected_not_critical", by="bob", at=at, reason="  font colour  ")
    assert (rejected.status, rejected.rejected_at, rejected.rejected_by) == ("rejected_not_critical", at, "bob")
    assert rejected.rejection_reason == "font colour"
    assert record.action == "reject_not_critical"
    assert record.detail == {"from": state.status, "to": "rejected_not_critical", "reason": "font colour"}
    assert rejected.acknowledged_at == state.acknowledged_at


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_rejecting_needs_a_reason(reason):
    with pytest.raises(ReasonRequired, match="incident 7: new → rejected_not_critical needs a reason"):
        transition(incident(), "rejected_not_critical", by="anna", at=CALL + minutes(1), reason=reason)


def test_a_reason_on_other_transitions_is_kept_in_the_audit():
    _, record = transition(incident(), "acknowledged", by="anna", at=CALL, reason="listening now")
    assert record.detail["reason"] == "listening now"


def test_starting_work_keeps_who_and_when_and_nothing_closes_before_it():
    state, _ = walk("acknowledged", "in_progress")
    assert (state.started_at, state.started_by) == (CALL + minutes(20), "anna")
    for target, reason in (("resolved", None), ("rejected_not_critical", "a typo")):
        with pytest.raises(InvalidTransition, match="before its latest transition"):
            transition(state, target, by="anna", at=CALL + minutes(15), reason=reason)


def test_a_transition_before_the_latest_one_is_refused():
    state, _ = walk("acknowledged")
    with pytest.raises(InvalidTransition, match="before its latest transition"):
        transition(state, "resolved", by="anna", at=CALL + minutes(9))
    with pytest.raises(InvalidTransition, match="before its latest transition"):
        transition(incident(), "acknowledged", by="anna", at=CALL - timedelta(seconds=1))


def test_naive_times_and_missing_actors_are_refused():
    with pytest.raises(ValueError, match="naive"):
        transition(incident(), "acknowledged", by="anna", at=datetime(2026, 11, 12, 3, 0))
    for nobody in ("", "  ", None, True):
        with pytest.raises(ValueError, match="actor"):
            transition(incident(), "acknowledged", by=nobody, at=CALL)


def test_a_refused_transition_leaves_the_state_as_it_was():
    state, _ = walk("acknowledged")
    before = dataclasses.replace(state)
    with pytest.raises(InvalidTransition):
        transition(state, "new", by="anna", at=CALL + minutes(30))
    assert state == before


# --- first contact -------------------------------------------------------------------------


def test_first_contact_is_kept_once_and_later_contacts_do_not_move_it():
    state, _ = walk("acknowledged")
    contacted, record = record_first_contact(state, CALL + minutes(15), "anna")
    assert (contacted.first_contact_at, contacted.first_contact_by) == (CALL + minutes(15), "anna")
    assert (record.action, record.actor, record.at, record.detail) == (
        "first_contact", "anna", CALL + minutes(15), {"status": "acknowledged"})  # fmt: skip
    again, no_record = record_first_contact(contacted, CALL + minutes(50), "bob")
    assert again is contacted and no_record is None


def test_a_live_call_is_first_contact_while_the_incident_is_still_new():
    contacted, _ = record_first_contact(incident(), CALL, "anna")
    assert contacted.status == "new" and contacted.first_contact_at == CALL


def test_first_contact_before_the_call_is_refused():
    with pytest.raises(ValueError, match="before its creation"):
        record_first_contact(incident(), CALL - minutes(1), "anna")


# --- state -----------------------------------------------------------------------------------


@pytest.mark.parametrize("broken", [
    {"status": "resolved"},
    {"status": "acknowledged"},
    {"status": "new", "acknowledged_at": CALL, "acknowledged_by": "anna"},
    {"status": "rejected_not_critical", "rejected_at": CALL, "rejected_by": "anna"},
    {"status": "acknowledged", "acknowledged_at": CALL},
    {"status": "acknowledged", "acknowledged_at": CALL - minutes(1), "acknowledged_by": "anna"},
    {"status": "closed"},
    {"status": "acknowledged", "acknowledged_at": datetime(2026, 11, 12, 3), "acknowledged_by": "anna"},
])  # fmt: skip
def test_a_state_no_transition_can_reach_cannot_be_built(broken):
    with pytest.raises(InvalidIncidentState, match="incident 7"):
        incident(**broken)


def test_the_state_of_an_orm_row():
    row = Incident(id=4, status="acknowledged", created_at=CALL, acknowledged_at=CALL + minutes(3),
                   acknowledged_by_id=2)  # fmt: skip
    state = IncidentState.from_incident(row)
    assert (state.id, state.status, state.acknowledged_by, state.rejected_at) == (4, "acknowledged", 2, None)


# --- SLA clock -------------------------------------------------------------------------------

STANDARD = SlaTargets()


@pytest.mark.parametrize(("elapsed", "breached"), [
    (timedelta(minutes=239, seconds=59), False),
    (timedelta(minutes=240), False),
    (timedelta(minutes=240, seconds=1), True),
])  # fmt: skip
def test_resolution_breach_is_strictly_after_240_minutes_while_open(elapsed, breached):
    clock = sla_clock(incident(), STANDARD, CALL + elapsed)
    assert clock.breached_resolution is breached
    assert clock.to_resolution.elapsed == elapsed and clock.to_resolution.running


@pytest.mark.parametrize(("elapsed", "breached"), [
    (timedelta(minutes=240), False),
    (timedelta(minutes=240, seconds=1), True),
])  # fmt: skip
def test_resolved_late_stays_breached_and_resolved_on_time_stays_in_time(elapsed, breached):
    state, _ = walk("acknowledged")
    state, _ = transition(state, "resolved", by="anna", at=CALL + elapsed)
    clock = sla_clock(state, STANDARD, CALL + timedelta(days=30))
    assert clock.breached_resolution is breached
    assert clock.to_resolution.elapsed == elapsed and not clock.to_resolution.running
    assert clock.to_resolution.reached_at == CALL + elapsed


def test_due_at_follows_the_customers_sla():
    sla = SimpleNamespace(resolution_target_minutes=120, response_target_minutes=30)
    clock = sla_clock(incident(), SlaTargets.from_sla(sla), CALL + minutes(1))
    assert (clock.due_at, clock.response_due_at) == (CALL + minutes(120), CALL + minutes(30))
    assert sla_clock(incident(), STANDARD, CALL).due_at == CALL + minutes(240)
    assert sla_clock(incident(), STANDARD, CALL).response_due_at is None


def test_times_to_acknowledge_and_first_contact_are_final_once_reached():
    state, _ = walk("acknowledged")
    state, _ = record_first_contact(state, CALL + minutes(25), "anna")
    clock = sla_clock(state, STANDARD, CALL + minutes(90))
    assert (clock.to_acknowledge.elapsed, clock.to_acknowledge.running) == (minutes(10), False)
    assert clock.to_first_contact.elapsed == minutes(25) and clock.to_first_contact.reached_at == CALL + minutes(25)
    assert clock.to_resolution.elapsed == minutes(90) and clock.to_resolution.running


def test_response_target_is_judged_on_first_contact():
    targets = SlaTargets(response_minutes=30)
    assert not sla_clock(incident(), targets, CALL + minutes(30)).breached_response
    assert sla_clock(incident(), targets, CALL + minutes(31)).breached_response
    contacted, _ = record_first_contact(incident(), CALL + minutes(20), "anna")
    assert not sla_clock(contacted, targets, CALL + minutes(300)).breached_response
    assert not sla_clock(incident(), STANDARD, CALL + minutes(300)).breached_response


def test_a_rejected_incident_owes_no_sla_and_its_watches_stop_at_rejection():
    state, _ = walk("rejected_not_critical", reason="a question about invoices")
    clock = sla_clock(state, SlaTargets(response_minutes=5), CALL + timedelta(days=2))
    assert not clock.sla_applies and not clock.breached_resolution and not clock.breached_response
    assert clock.to_acknowledge == clock.to_resolution
    assert (clock.to_resolution.elapsed, clock.to_resolution.reached_at, clock.to_resolution.running) == (
        minutes(10), None, False)  # fmt: skip


def test_the_clock_refuses_a_now_before_what_was_recorded():
    state, _ = walk("acknowledged")
    with pytest.raises(ValueError, match="before its recorded"):
        sla_clock(state, STANDARD, CALL + minutes(5))
    with pytest.raises(ValueError, match="naive"):
        sla_clock(state, STANDARD, datetime(2026, 11, 12, 5))


@pytest.mark.parametrize("bad", [
    {"resolution_minutes": 0}, {"response_minutes": -5}, {"resolution_minutes": 2.5}, {"resolution_minutes": None},
])  # fmt: skip
def test_targets_must_be_positive_whole_minutes(bad):
    with pytest.raises(ValueError, match="positive number of minutes"):
        SlaTargets(**bad)


# --- properties ------------------------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.sampled_from([*STATUSES, "first_contact"]),
        st.integers(min_value=-30, max_value=300),  # minutes after the previous step
        st.sampled_from(["anna", "bob", 3]),
        st.sampled_from([None, "", "not critical: a typo"]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_random_transition_sequences_only_reach_valid_states_with_one_record_each(sequence):
    state, moment, latest_transition, records, accepted = incident(), CALL, CALL, [], 0
    for target, offset, by, reason in sequence:
        moment = max(moment + minutes(offset), CALL)
        if target == "first_contact":
            state, record = record_first_contact(state, moment, by)
            records += [record] if record else []
            continue
        allowed = (str(state.status), target) in EXPECTED_EDGES
        expected_ok = allowed and moment >= latest_transition and (target != "rejected_not_critical" or reason)
        try:
            new_state, record = transition(state, target, by=by, at=moment, reason=reason)
        except (InvalidTransition, ReasonRequired):
            assert not expected_ok
            continue
        assert expected_ok
        assert consistency_problems(new_state) == []
        assert (record.detail["from"], record.detail["to"]) == (state.status, target)
        assert (record.at, record.actor) == (moment, str(by))
        state, latest_transition, accepted = new_state, moment, accepted + 1
        records.append(record)
    assert len([r for r in records if r.action != "first_contact"]) == accepted
    assert consistency_problems(state) == []
    now = max(moment, latest_transition, state.first_contact_at or CALL)
    assert sla_clock(state, STANDARD, now).to_resolution.elapsed >= timedelta(0)
