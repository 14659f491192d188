"""Roster and escalation: who is on duty when, and whom the line rings for a call."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.roster import (
    DEFAULT_STEP_TIMEOUT_SECONDS,
    LOCAL_ZONE,
    PRIMARY,
    SECONDARY,
    Contact,
    Engineer,
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    Gap,
    Override,
    Rotation,
    RotationMember,
    Roster,
    ScheduledShift,
    escalation_for,
    roster_gaps,
    schedule,
    swap,
    who_is_on_duty,
)

ANNA = Engineer(1, "Anna", (Contact("sip", "sip:anna@10.0.0.5:5060", 1), Contact("phone", "+31612345678", 2)))
BRAM = Engineer(2, "Bram", (Contact("phone", "+31687654321"),))
CEES = Engineer(3, "Cees", (Contact("sip", "sip:cees@10.0.0.7"),))
DIRK = Engineer(4, "Dirk")  # no contacts: cannot be rung
OFFICE = Contact("phone", "+31201234567")

# 5 January 2026 is a Monday; hand-over Monday 09:00 local.
ROTATION = Rotation.weekly(date(2026, 1, 5), primaries=[ANNA, BRAM, CEES], secondaries=[BRAM, CEES])
ROSTER = Roster(ROTATION)

PRIMARY_ONLY = EscalationPolicy((EscalationStep(1, (EscalationTarget(role=PRIMARY),)),))
BOTH_ROLES = EscalationPolicy((EscalationStep(1, (EscalationTarget(role=PRIMARY), EscalationTarget(role=SECONDARY))),))
PRIMARY_THEN_SECONDARY = EscalationPolicy(
    (
        EscalationStep(1, (EscalationTarget(role=PRIMARY),)),
        EscalationStep(2, (EscalationTarget(role=SECONDARY), EscalationTarget(engineer=CEES)), timeout_seconds=40),
    )
)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_ZONE)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def primary_at(roster: Roster, at: datetime) -> Engineer | None:
    return who_is_on_duty(roster, at).primary


def addresses(plan) -> list[str]:
    return [leg.contact.address for leg in plan.contacts]


# --- weekly rotation -------------------------------------------------------------------------


def test_week_n_after_the_start_has_turn_n_mod_len_on_duty():
    mondays = [local(2026, 1, 5, 9) + timedelta(weeks=n) for n in range(7)]
    assert [primary_at(ROSTER, monday) for monday in mondays] == [ANNA, BRAM, CEES] * 2 + [ANNA]
    assert [who_is_on_duty(ROSTER, monday).secondary for monday in mondays[:3]] == [BRAM, CEES, BRAM]


def test_a_whole_week_belongs_to_one_engineer_until_the_hand_over():
    on_duty = who_is_on_duty(ROSTER, local(2026, 1, 12, 8, 59))
    assert (on_duty.primary, on_duty.secondary, on_duty.source, on_duty.secondary_source) == (ANNA, BRAM, "rotation", "rotation")


def test_nobody_is_on_duty_before_the_rotation_begins():
    on_duty = who_is_on_duty(ROSTER, local(2026, 1, 5, 8, 59))
    assert (on_duty.primary, on_duty.secondary, on_duty.source) == (None, None, "gap")


def test_a_rotation_starting_midweek_has_a_short_first_week():
    rotation = Rotation.weekly(date(2026, 1, 7), primaries=[ANNA, BRAM])  # a Wednesday
    roster = Roster(rotation)
    assert primary_at(roster, local(2026, 1, 7, 8, 59)) is None
    assert primary_at(roster, local(2026, 1, 7, 9)) == ANNA
    assert primary_at(roster, local(2026, 1, 12, 9)) == BRAM


def test_turn_order_follows_positions_not_listing_order():
    members = (RotationMember(BRAM, 2), RotationMember(ANNA, 1))
    roster = Roster(Rotation(date(2026, 1, 5), members))
    assert primary_at(roster, local(2026, 1, 6)) == ANNA


@pytest.mark.parametrize(
    ("start_date", "handover_weekday", "handover_time", "minute_before", "at_handover"),
    [
        (date(2026, 1, 5), 0, time(0, 0), local(2026, 1, 11, 23, 59), local(2026, 1, 12, 0, 0)),  # Monday 00:00
        (date(2026, 1, 4), 6, time(23, 59), local(2026, 1, 11, 23, 58), local(2026, 1, 11, 23, 59)),  # Sunday 23:59
    ],
)
def test_hand_over_at_midnight_happens_at_the_minute_and_not_before(
    start_date, handover_weekday, handover_time, minute_before, at_handover
):
    rotation = Rotation.weekly(start_date, [ANNA, BRAM], handover_weekday=handover_weekday, handover_time=handover_time)
    roster = Roster(rotation)
    assert primary_at(roster, minute_before) == ANNA
    assert primary_at(roster, at_handover - timedelta(microseconds=1)) == ANNA
    assert primary_at(roster, at_handover) == BRAM


def test_hand_over_after_the_march_dst_change_is_still_0900_local():
    # Clocks go forward on Sunday 29 March 2026: 09:00 is 08:00 UTC before it, 07:00 UTC after.
    roster = Roster(Rotation.weekly(date(2026, 3, 23), [ANNA, BRAM]))
    assert primary_at(roster, local(2026, 3, 23, 9)) == ANNA
    assert primary_at(roster, local(2026, 3, 30, 8, 59)) == ANNA
    assert primary_at(roster, local(2026, 3, 30, 9)) == BRAM
    shifts = [s for s in schedule(roster, local(2026, 3, 23, 9), days=8) if s.role == PRIMARY]
    assert [(s.engineer, s.starts_at, s.ends_at) for s in shifts] == [
        (ANNA, utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)),
        (BRAM, utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)),
    ]
    assert shifts[0].ends_at - shifts[0].starts_at == timedelta(hours=167)


def test_hand_over_after_the_october_dst_change_is_still_0900_local():
    # Clocks go back on Sunday 25 October 2026: the week across it lasts 169 hours.
    roster = Roster(Rotation.weekly(date(2026, 10, 19), [ANNA, BRAM]))
    assert primary_at(roster, local(2026, 10, 26, 8, 59)) == ANNA
    assert primary_at(roster, local(2026, 10, 26, 9)) == BRAM
    shift = next(s for s in schedule(roster, local(2026, 10, 19, 9)) if s.role == PRIMARY)
    assert (shift.engineer, shift.starts_at, shift.ends_at) == (ANNA, utc(2026, 10, 19, 7), utc(2026, 10, 26, 8))
    assert shift.ends_at - shift.starts_at == timedelta(hours=169)


def test_hand_over_in_the_night_the_clocks_change_takes_a_documented_moment():
    rotation = Rotation.weekly(date(2026, 3, 1), [ANNA, BRAM], handover_weekday=6, handover_time=time(2, 30))
    roster = Roster(rotation)
    # 02:30 does not exist on 29 March: the hand-over is an hour later on the clock, 03:30 CEST.
    assert primary_at(roster, utc(2026, 3, 29, 1, 29)) == primary_at(roster, utc(2026, 3, 28, 12))
    assert primary_at(roster, utc(2026, 3, 29, 1, 30)) != primary_at(roster, utc(2026, 3, 28, 12))
    # 02:30 happens twice on 25 October: the hand-over is the first time, 00:30 UTC.
    assert primary_at(roster, utc(2026, 10, 25, 0, 29)) == primary_at(roster, utc(2026, 10, 24, 12))
    assert primary_at(roster, utc(2026, 10, 25, 0, 30)) != primary_at(roster, utc(2026, 10, 24, 12))


# --- overrides and swaps ---------------------------------------------------------------------


def test_override_covering_part_of_a_shift_wins_only_for_its_period():
    override = Override(DIRK, local(2026, 1, 6, 18), local(2026, 1, 7, 8), note="Anna at a wedding")
    roster = Roster(ROTATION, (override,))
    assert primary_at(roster, local(2026, 1, 6, 17, 59)) == ANNA
    on_duty = who_is_on_duty(roster, local(2026, 1, 6, 18))
    assert (on_duty.primary, on_duty.source, on_duty.secondary, on_duty.secondary_source) == (DIRK, "override", BRAM, "rotation")
    assert primary_at(roster, local(2026, 1, 7, 8)) == ANNA
    shifts = schedule(roster, local(2026, 1, 5, 9), days=3)
    periods = [(s.engineer, s.source, s.starts_at, s.ends_at) for s in shifts if s.role == PRIMARY]
    assert periods == [
        (ANNA, "rotation", utc(2026, 1, 5, 8), utc(2026, 1, 6, 17)),
        (DIRK, "override", utc(2026, 1, 6, 17), utc(2026, 1, 7, 7)),
        (ANNA, "rotation", utc(2026, 1, 7, 7), utc(2026, 1, 8, 8)),
    ]


def test_override_straddling_a_hand_over_keeps_its_engineer_across_it():
    override = Override(DIRK, local(2026, 1, 11, 20), local(2026, 1, 12, 12))
    roster = Roster(ROTATION, (override,))
    assert primary_at(roster, local(2026, 1, 11, 19, 59)) == ANNA
    assert primary_at(roster, local(2026, 1, 12, 9)) == DIRK
    assert primary_at(roster, local(2026, 1, 12, 12)) == BRAM
    periods = [(s.engineer, s.starts_at) for s in schedule(roster, local(2026, 1, 11, 12), days=2) if s.role == PRIMARY]
    assert periods == [(ANNA, utc(2026, 1, 11, 11)), (DIRK, utc(2026, 1, 11, 19)), (BRAM, utc(2026, 1, 12, 11))]


def test_an_override_keeps_its_own_period_in_the_schedule_even_for_the_engineer_on_duty():
    # `oncall` shows where a period comes from, so Anna's confirmed night is not folded into her week.
    roster = Roster(ROTATION, (Override(ANNA, local(2026, 1, 6, 18), local(2026, 1, 7, 8)),))
    periods = [(s.engineer, s.source) for s in schedule(roster, local(2026, 1, 6, 12), days=1) if s.role == PRIMARY]
    assert periods == [(ANNA, "rotation"), (ANNA, "override"), (ANNA, "rotation")]


def test_override_for_the_secondary_leaves_the_primary_alone():
    override = Override(DIRK, local(2026, 1, 6), local(2026, 1, 7), role=SECONDARY)
    on_duty = who_is_on_duty(Roster(ROTATION, (override,)), local(2026, 1, 6, 12))
    assert (on_duty.primary, on_duty.source, on_duty.secondary, on_duty.secondary_source) == (ANNA, "rotation", DIRK, "override")


def test_of_overlapping_overrides_the_one_entered_last_wins():
    first = Override(CEES, local(2026, 1, 6), local(2026, 1, 8))
    later = Override(DIRK, local(2026, 1, 7), local(2026, 1, 9))
    roster = Roster(ROTATION, (first, later))
    assert [primary_at(roster, local(2026, 1, d, 12)) for d in (6, 7, 8, 9)] == [CEES, DIRK, DIRK, ANNA]


def test_swap_exchanges_two_engineers_weeks():
    anna_week = (local(2026, 1, 5, 9), local(2026, 1, 12, 9))
    bram_week = (local(2026, 1, 12, 9), local(2026, 1, 19, 9))
    roster = Roster(ROTATION, swap(ANNA, anna_week, BRAM, bram_week, note="holiday"))
    assert who_is_on_duty(roster, local(2026, 1, 8)).primary == BRAM
    assert who_is_on_duty(roster, local(2026, 1, 15)).primary == ANNA
    assert who_is_on_duty(roster, local(2026, 1, 15)).source == "override"
    assert who_is_on_duty(roster, local(2026, 1, 20)).primary == CEES


def test_override_refuses_a_naive_time_and_an_end_before_its_start():
    with pytest.raises(ValueError, match="naive"):
        Override(DIRK, datetime(2026, 1, 6, 18), local(2026, 1, 7))
    with pytest.raises(ValueError, match="not after it starts"):
        Override(DIRK, local(2026, 1, 7), local(2026, 1, 6))
    with pytest.raises(ValueError, match="role 'tertiary'"):
        Override(DIRK, local(2026, 1, 6), local(2026, 1, 7), role="tertiary")


def test_who_is_on_duty_refuses_a_naive_moment():
    with pytest.raises(ValueError, match="naive datetime refused"):
        who_is_on_duty(ROSTER, datetime(2026, 1, 6, 12))


# --- schedule and gaps -----------------------------------------------------------------------


def test_schedule_shows_now_and_the_next_seven_days_cut_to_that_window():
    now = local(2026, 1, 14, 22, 15)  # Wednesday in Bram's week
    shifts = schedule(ROSTER, now)
    assert shifts == [
        ScheduledShift(BRAM, PRIMARY, now.astimezone(UTC), utc(2026, 1, 19, 8), "rotation"),
        ScheduledShift(CEES, SECONDARY, now.astimezone(UTC), utc(2026, 1, 19, 8), "rotation"),
        ScheduledShift(CEES, PRIMARY, utc(2026, 1, 19, 8), utc(2026, 1, 21, 21, 15), "rotation"),
        ScheduledShift(BRAM, SECONDARY, utc(2026, 1, 19, 8), utc(2026, 1, 21, 21, 15), "rotation"),
    ]


def test_seven_days_across_a_dst_change_end_at_the_same_local_time():
    shifts = schedule(ROSTER, local(2026, 3, 26, 12))
    assert max(s.ends_at for s in shifts) == local(2026, 4, 2, 12).astimezone(UTC)


def test_a_gap_is_reported_and_filled_by_the_default_contact():
    # No rotation yet; Anna covers one night by override.
    roster = Roster(overrides=(Override(ANNA, local(2026, 2, 2, 18), local(2026, 2, 3, 8)),))
    gaps = roster_gaps(roster, local(2026, 2, 2, 12), local(2026, 2, 3, 12))
    assert gaps == [
        Gap(utc(2026, 2, 2, 11), utc(2026, 2, 2, 17)),
        Gap(utc(2026, 2, 3, 7), utc(2026, 2, 3, 11)),
    ]
    in_gap = escalation_for(roster, PRIMARY_ONLY, local(2026, 2, 2, 13), OFFICE)
    assert len(in_gap) == 1
    assert (in_gap[0].is_fallback, in_gap[0].timeout_seconds) == (True, DEFAULT_STEP_TIMEOUT_SECONDS)
    assert addresses(in_gap[0]) == ["+31201234567"]
    assert in_gap[0].contacts[0].engineer is None


def test_roster_without_gaps_reports_none():
    assert roster_gaps(ROSTER, local(2026, 1, 5, 9), local(2026, 6, 1)) == []
    assert roster_gaps(ROSTER, local(2026, 1, 5, 9), local(2026, 6, 1), role=SECONDARY) == []


def test_roster_check_reports_the_time_before_the_rotation_begins():
    assert roster_gaps(ROSTER, local(2026, 1, 1), local(2026, 1, 6)) == [Gap(utc(2025, 12, 31, 23), utc(2026, 1, 5, 8))]
    midweek = Roster(Rotation.weekly(date(2026, 1, 7), [ANNA, BRAM]))  # begins Wednesday 09:00
    assert roster_gaps(midweek, local(2026, 1, 5), local(2026, 1, 8)) == [Gap(utc(2026, 1, 4, 23), utc(2026, 1, 7, 8))]


# --- escalation ------------------------------------------------------------------------------


def test_escalation_has_two_steps_and_rings_two_contacts_at_once():
    plans = escalation_for(ROSTER, PRIMARY_THEN_SECONDARY, local(2026, 1, 6, 3), OFFICE)
    assert [(p.position, p.timeout_seconds, p.is_fallback) for p in plans] == [(1, 25, False), (2, 40, False)]
    assert addresses(plans[0]) == ["sip:anna@10.0.0.5:5060", "+31612345678"]
    assert [leg.engineer for leg in plans[0].contacts] == [ANNA, ANNA]
    assert addresses(plans[1]) == ["+31687654321", "sip:cees@10.0.0.7"]


def test_contacts_are_rung_in_the_engineers_contact_order():
    eva = Engineer(5, "Eva", (Contact("phone", "+31611111111", 2), Contact("sip", "sip:eva@pbx", 1)))
    policy = EscalationPolicy((EscalationStep(1, (EscalationTarget(engineer=eva),)),))
    assert addresses(escalation_for(ROSTER, policy, local(2026, 1, 6), OFFICE)[0]) == ["sip:eva@pbx", "+31611111111"]


def test_an_engineer_without_contacts_is_skipped():
    roster = Roster(ROTATION, (Override(DIRK, local(2026, 1, 6), local(2026, 1, 7)),))
    plans = escalation_for(roster, PRIMARY_THEN_SECONDARY, local(2026, 1, 6, 3), OFFICE)
    assert [p.position for p in plans] == [2]
    assert addresses(plans[0]) == ["+31687654321", "sip:cees@10.0.0.7"]


def test_only_uncontactable_engineers_on_duty_still_rings_the_default_contact():
    roster = Roster(overrides=(Override(DIRK, local(2026, 1, 6), local(2026, 1, 7)),))
    (plan,) = escalation_for(roster, BOTH_ROLES, local(2026, 1, 6, 3), OFFICE)
    assert plan.is_fallback and addresses(plan) == ["+31201234567"]


def test_a_policy_without_steps_still_rings_the_default_contact():
    (plan,) = escalation_for(ROSTER, EscalationPolicy(()), local(2026, 1, 6), Contact.of("sip:desk@pbx"))
    assert plan.is_fallback and plan.contacts[0].contact == Contact("sip", "sip:desk@pbx")


def test_one_person_named_twice_in_a_step_is_rung_once():
    policy = EscalationPolicy((EscalationStep(1, (EscalationTarget(role=PRIMARY), EscalationTarget(engineer=ANNA))),))
    (plan,) = escalation_for(ROSTER, policy, local(2026, 1, 6), OFFICE)
    assert addresses(plan) == ["sip:anna@10.0.0.5:5060", "+31612345678"]


def test_steps_are_taken_in_position_order():
    second, first = EscalationStep(2, (EscalationTarget(role=SECONDARY),)), EscalationStep(1, (EscalationTarget(role=PRIMARY),))
    policy = EscalationPolicy((second, first))
    assert [p.position for p in escalation_for(ROSTER, policy, local(2026, 1, 6), OFFICE)] == [1, 2]


# --- values that cannot be right -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "address", "message"),
    [("phone", "0612345678", "E.164"), ("sip", "anna@pbx", "sip:"), ("fax", "+31612345678", "kind 'fax'")],
)
def test_a_contact_the_line_cannot_ring_is_refused(kind, address, message):
    with pytest.raises(ValueError, match=message):
        Contact(kind, address)


def test_invalid_rotations_and_targets_are_refused():
    with pytest.raises(ValueError, match="weekday 7"):
        Rotation.weekly(date(2026, 1, 5), [ANNA], handover_weekday=7)
    with pytest.raises(ValueError, match="share a role and position"):
        Rotation(date(2026, 1, 5), (RotationMember(ANNA, 1), RotationMember(BRAM, 1)))
    with pytest.raises(ValueError, match="exactly one"):
        EscalationTarget(role=PRIMARY, engineer=ANNA)
    with pytest.raises(ValueError, match="must be positive"):
        EscalationStep(1, (EscalationTarget(role=PRIMARY),), timeout_seconds=0)


def test_an_engineer_is_known_by_id():
    assert Engineer(1, "Anna (renamed)") == ANNA
    assert len({ANNA, Engineer(1, "Anna")}) == 1


# --- properties ------------------------------------------------------------------------------

POOL = (ANNA, BRAM, CEES, DIRK)
ZONES = st.sampled_from([UTC, LOCAL_ZONE])
instants = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=ZONES, allow_imaginary=False)
engineers = st.sampled_from(POOL)
rotations = st.builds(
    Rotation.weekly,
    start_date=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    primaries=st.lists(engineers, min_size=1, max_size=4),
    secondaries=st.lists(engineers, max_size=3),
    handover_weekday=st.integers(0, 6),
    handover_time=st.times(),
)


@st.composite
def overrides(draw):
    # In UTC: wall-clock arithmetic on a local time in the autumn's repeated hour can go backwards.
    starts_at = draw(instants).astimezone(UTC)
    length = timedelta(minutes=draw(st.integers(1, 20 * 24 * 60)))
    return Override(draw(engineers), starts_at, starts_at + length, role=draw(st.sampled_from([PRIMARY, SECONDARY])))


rosters = st.builds(Roster, rotation=st.none() | rotations, overrides=st.lists(overrides(), max_size=4).map(tuple))


def hand_overs_passed(rotation: Rotation, at: datetime) -> int:
    """Counted day by day: the slow, obvious reading of 'week N after the start'."""
    at = at.astimezone(UTC)
    count, day = 0, rotation.start_date + timedelta(days=1)
    while day <= at.astimezone(LOCAL_ZONE).date():
        moment = datetime.combine(day, rotation.handover_time, tzinfo=LOCAL_ZONE).astimezone(UTC)
        count += day.weekday() == rotation.handover_weekday and moment <= at
        day += timedelta(days=1)
    return count


@settings(max_examples=200, deadline=None)
@given(rotation=rotations, at=instants)
def test_after_the_start_exactly_the_rotation_turn_is_primary(rotation, at):
    begins = datetime.combine(rotation.start_date, rotation.handover_time, tzinfo=LOCAL_ZONE)
    on_duty = who_is_on_duty(Roster(rotation), at)
    if at.astimezone(UTC) < begins.astimezone(UTC):
        assert (on_duty.primary, on_duty.source) == (None, "gap")
    else:
        turns = rotation.turns(PRIMARY)
        assert on_duty.primary == turns[hand_overs_passed(rotation, at) % len(turns)]
        assert on_duty.source == "rotation"


def assert_tiles(periods, start, end):
    ordered = sorted(periods, key=lambda p: p.starts_at)
    assert ordered[0].starts_at == start and ordered[-1].ends_at == end
    for before, after in zip(ordered, ordered[1:]):
        assert before.ends_at == after.starts_at
    assert all(p.starts_at < p.ends_at for p in ordered)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roster=rosters, start=instants, days=st.integers(1, 10), data=st.data())
def test_schedule_is_contiguous_and_agrees_with_who_is_on_duty(roster, start, days, data):
    if roster.rotation and data.draw(st.booleans(), label="window around the rotation's start"):
        begins = datetime.combine(roster.rotation.start_date, roster.rotation.handover_time, tzinfo=LOCAL_ZONE)
        start = begins - timedelta(minutes=data.draw(st.integers(0, days * 24 * 60)))
    shifts = schedule(roster, start, days)
    start = start.astimezone(UTC)
    end = (start.astimezone(LOCAL_ZONE) + timedelta(days=days)).astimezone(UTC)
    for role in (PRIMARY, SECONDARY):
        in_role = [s for s in shifts if s.role == role]
        assert_tiles(in_role + roster_gaps(roster, start, end, role=role), start, end)
        for before, after in zip(in_role, in_role[1:]):
            touching = before.ends_at == after.starts_at
            assert not (touching and before.engineer == after.engineer and before.source == after.source), "not merged"
    moments = [s.starts_at for s in shifts] + [s.ends_at - timedelta(microseconds=1) for s in shifts]
    moments += data.draw(st.lists(st.datetimes(start.replace(tzinfo=None), end.replace(tzinfo=None) - timedelta(microseconds=1),
                                               timezones=st.just(UTC)), max_size=5))  # fmt: skip
    for at in moments:
        on_duty = who_is_on_duty(roster, at)
        holding = {s.role: (s.engineer, s.source) for s in shifts if s.starts_at <= at < s.ends_at}
        assert holding.get(PRIMARY, (None, "gap")) == (on_duty.primary, on_duty.source)
        assert holding.get(SECONDARY, (None, "gap")) == (on_duty.secondary, on_duty.secondary_source)


@settings(max_examples=200, deadline=None)
@given(roster=rosters, at=instants)
def test_escalation_never_rings_nobody(roster, at):
    plans = escalation_for(roster, BOTH_ROLES, at, OFFICE)
    assert plans and all(plan.contacts for plan in plans)
    on_duty = who_is_on_duty(roster, at)
    reachable = any(e.contacts for e in (on_duty.primary, on_duty.secondary) if e is not None)
    assert plans[0].is_fallback is not reachable
