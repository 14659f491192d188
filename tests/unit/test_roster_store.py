"""The roster read from and written to the database (SQLite), and the rules it needed besides
`test_roster.py`: inactive engineers, several fallback contacts, hand-over input, rotation weeks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from core import models
from core import roster as rules
from core import roster_store as store
from core.db import open_database
from core.roster import LOCAL_ZONE, PRIMARY, SECONDARY, Contact, ContactToRing, Engineer, Override, Rotation, Roster
from core.settings import Settings

ANNA = Engineer(1, "Anna", (Contact("sip", "sip:anna@10.0.0.5"),))
BRAM = Engineer(2, "Bram", (Contact("phone", "+31687654321"),))
GONE = Engineer(3, "Gone", (Contact("phone", "+31611111111"),), active=False)
DESK = Contact("sip", "sip:desk@pbx")
STANDARD = store.standard_policy()


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_ZONE)


# --- inactive engineers (pure rules) -----------------------------------------------------------


def test_an_inactive_engineers_turn_is_a_gap_reported_by_roster_gaps():
    roster = Roster(Rotation.weekly(date(2026, 1, 5), [ANNA, GONE]))
    week_1 = (local(2026, 1, 12, 9), local(2026, 1, 19, 9))
    on_duty = rules.who_is_on_duty(roster, local(2026, 1, 14))
    assert (on_duty.primary, on_duty.source) == (None, rules.GAP)
    assert rules.roster_gaps(roster, local(2026, 1, 5, 9), local(2026, 1, 26, 9)) == [
        rules.Gap(week_1[0].astimezone(UTC), week_1[1].astimezone(UTC))
    ]
    assert [s.engineer for s in rules.shifts_between(roster, *week_1)] == []


def test_an_inactive_engineers_override_still_displaces_the_rotation():
    roster = Roster(Rotation.weekly(date(2026, 1, 5), [ANNA]), (Override(GONE, local(2026, 1, 6), local(2026, 1, 7)),))
    assert rules.who_is_on_duty(roster, local(2026, 1, 6, 12)).primary is None
    assert rules.who_is_on_duty(roster, local(2026, 1, 7, 12)).primary == ANNA
    (plan,) = rules.escalation_for(roster, STANDARD, local(2026, 1, 6, 12), DESK)
    assert plan.is_fallback


def test_an_escalation_target_naming_an_inactive_engineer_is_skipped():
    policy = rules.EscalationPolicy((rules.EscalationStep(1, (rules.EscalationTarget(engineer=GONE),)),
                                     rules.EscalationStep(2, (rules.EscalationTarget(role=PRIMARY),))))  # fmt: skip
    plans = rules.escalation_for(Roster(Rotation.weekly(date(2026, 1, 5), [ANNA])), policy, local(2026, 1, 6), DESK)
    assert [(p.position, p.contacts[0].engineer) for p in plans] == [(2, ANNA)]


def test_several_fallback_contacts_are_rung_at_once_for_the_given_timeout():
    legs = (ContactToRing(ANNA, ANNA.contacts[0]), DESK)
    (plan,) = rules.escalation_for(Roster(), STANDARD, local(2026, 1, 6), legs, fallback_timeout_seconds=40)
    assert plan == rules.EscalationStepPlan(1, (ContactToRing(ANNA, ANNA.contacts[0]), ContactToRing(None, DESK)), 40, True)


def test_an_empty_fallback_is_refused_even_when_the_roster_is_covered():
    with pytest.raises(ValueError, match="would ring nobody"):
        rules.escalation_for(Roster(Rotation.weekly(date(2026, 1, 5), [ANNA])), STANDARD, local(2026, 1, 6), ())


def test_escalation_between_cuts_at_every_change_of_whom_a_call_rings():
    roster = Roster(Rotation.weekly(date(2026, 1, 5), [ANNA], [BRAM]), (Override(GONE, local(2026, 1, 6), local(2026, 1, 7)),))
    periods = rules.escalation_between(roster, STANDARD, local(2026, 1, 5), local(2026, 1, 8), DESK)
    assert [(p.starts_at, p.ends_at, [s.position for s in p.plans]) for p in periods] == [
        (local(2026, 1, 5).astimezone(UTC), local(2026, 1, 5, 9).astimezone(UTC), [1]),  # before: fallback
        (local(2026, 1, 5, 9).astimezone(UTC), local(2026, 1, 6).astimezone(UTC), [1, 2]),
        (local(2026, 1, 6).astimezone(UTC), local(2026, 1, 7).astimezone(UTC), [2]),  # Gone's override: Bram only
        (local(2026, 1, 7).astimezone(UTC), local(2026, 1, 8).astimezone(UTC), [1, 2]),
    ]
    assert periods[0].plans[0].is_fallback


# --- hand-over input and rotation weeks --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("mon 09:00", (0, time(9))), ("Sunday 23:59", (6, time(23, 59))), ("  fri   7:30 ", (4, time(7, 30))), ("wed 00:00", (2, time(0)))],
)
def test_a_hand_over_is_a_weekday_and_a_time(text, expected):
    assert rules.parse_handover(text) == expected


@pytest.mark.parametrize("text", ["09:00", "mo 09:00", "mondays 09:00", "mon 9", "mon 24:00", "mon 09:60", "mon 09:00 CET", ""])
def test_a_malformed_hand_over_is_refused(text):
    with pytest.raises(ValueError, match=repr(text)):
        rules.parse_handover(text)


def test_rotation_weeks_start_short_and_keep_local_time_across_dst():
    rotation = Rotation.weekly(date(2026, 3, 18), [ANNA, BRAM])  # a Wednesday; hand-over Monday 09:00
    assert rules.rotation_week(rotation, local(2026, 3, 18, 8)) is None
    first = rules.rotation_week(rotation, local(2026, 3, 20))
    assert first == (local(2026, 3, 18, 9).astimezone(UTC), local(2026, 3, 23, 9).astimezone(UTC))
    across_dst = rules.rotation_week_of(rotation, date(2026, 3, 23))
    assert across_dst is not None and across_dst[1] - across_dst[0] == timedelta(hours=167)
    assert rules.rotation_week_of(rotation, date(2026, 3, 29)) == across_dst


def test_next_week_of_finds_the_engineers_next_turn():
    rotation = Rotation.weekly(date(2026, 1, 5), [ANNA, BRAM, GONE])
    assert rules.next_week_of(rotation, BRAM, PRIMARY, local(2026, 1, 12, 9)) == (
        local(2026, 1, 12, 9).astimezone(UTC), local(2026, 1, 19, 9).astimezone(UTC))  # fmt: skip
    assert rules.next_week_of(rotation, BRAM, PRIMARY, local(2026, 1, 12, 10))[0] == local(2026, 2, 2, 9).astimezone(UTC)
    assert rules.next_week_of(rotation, ANNA, SECONDARY, local(2026, 1, 5)) is None


# --- the database ------------------------------------------------------------------------------


@pytest.fixture
def session(tmp_path: Path):
    factory = open_database(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'roster.db'}"))
    with factory() as session:
        yield session


def engineer(session, name: str, *addresses: str, active: bool = True) -> models.Engineer:
    row = models.Engineer(name=name, active=active)
    row.contacts = [models.EngineerContact(kind=Contact.of(a).kind, address=a, position=i) for i, a in enumerate(addresses, 1)]
    session.add(row)
    session.flush()
    return row


def settings(tmp_path: Path, **roster: object) -> Settings:
    return Settings(data_dir=tmp_path, roster=roster)


def test_an_empty_database_is_an_empty_roster_and_the_standard_policy(session):
    assert store.load_roster(session, LOCAL_ZONE) == Roster()
    assert store.load_policy(session, 30) == store.standard_policy(30)
    assert [s.timeout_seconds for s in store.standard_policy(30).steps] == [30, 30]


def test_a_saved_rotation_loads_back_and_is_replaced_in_place(session):
    anna, bram = engineer(session, "Anna", "sip:anna@pbx"), engineer(session, "Bram", "+31687654321", "sip:bram@pbx")
    store.save_rotation(session, date(2026, 1, 5), [anna, bram], [bram], 6, time(23, 59))
    rotation = store.load_roster(session, LOCAL_ZONE).rotation
    assert rotation is not None
    assert (rotation.start_date, rotation.handover_weekday, rotation.handover_time) == (date(2026, 1, 5), 6, time(23, 59))
    assert [e.name for e in rotation.turns(PRIMARY)] == ["Anna", "Bram"]
    assert rotation.turns(SECONDARY)[0].contacts_in_order == (Contact("phone", "+31687654321", 1), Contact("sip", "sip:bram@pbx", 2))

    store.save_rotation(session, date(2026, 2, 2), [bram, anna])  # same (role, position) pairs, new people
    session.commit()
    rotation = store.load_roster(session, LOCAL_ZONE).rotation
    assert [e.name for e in rotation.turns(PRIMARY)] == ["Bram", "Anna"]
    assert rotation.turns(SECONDARY) == ()
    assert session.query(models.Rotation).count() == 1


def test_a_rotation_needs_a_primary_and_active_engineers(session):
    gone = engineer(session, "Gone", "sip:gone@pbx", active=False)
    with pytest.raises(ValueError, match="at least one primary"):
        store.save_rotation(session, date(2026, 1, 5), [])
    with pytest.raises(ValueError, match="'Gone' is inactive"):
        store.save_rotation(session, date(2026, 1, 5), [engineer(session, "Anna", "sip:anna@pbx")], [gone])
    with pytest.raises(ValueError, match="weekday 7"):
        store.save_rotation(session, date(2026, 1, 5), [engineer(session, "Bram", "sip:bram@pbx")], handover_weekday=7)


def test_overrides_load_in_entry_order_and_can_be_removed(session):
    anna, bram = engineer(session, "Anna", "sip:anna@pbx"), engineer(session, "Bram", "sip:bram@pbx")
    first = store.add_override(session, anna, local(2026, 1, 6), local(2026, 1, 8), note="first")
    store.add_override(session, bram, local(2026, 1, 7), local(2026, 1, 8), SECONDARY)
    last = store.add_override(session, bram, local(2026, 1, 7), local(2026, 1, 8))
    roster = store.load_roster(session, LOCAL_ZONE)
    assert [(o.engineer.name, o.role, o.note) for o in roster.overrides] == [("Anna", PRIMARY, "first"), ("Bram", SECONDARY, None), ("Bram", PRIMARY, None)]
    assert rules.who_is_on_duty(roster, local(2026, 1, 7, 12)).primary.name == "Bram"  # the last entered wins
    assert len(store.load_roster(session, LOCAL_ZONE, overrides_ending_after=local(2026, 1, 8)).overrides) == 0

    store.remove_override(session, last.id)
    assert rules.who_is_on_duty(store.load_roster(session, LOCAL_ZONE), local(2026, 1, 7, 12)).primary.name == "Anna"
    with pytest.raises(LookupError, match=f"no override with id {last.id}"):
        store.remove_override(session, last.id)
    assert [o.id for o in store.overrides_of(session, anna.id)] == [first.id]


def test_an_override_refuses_an_inactive_engineer_and_an_end_before_its_start(session):
    with pytest.raises(ValueError, match="'Gone' is inactive"):
        store.add_override(session, engineer(session, "Gone", "sip:gone@pbx", active=False), local(2026, 1, 6), local(2026, 1, 7))
    with pytest.raises(ValueError, match="not after it starts"):
        store.add_override(session, engineer(session, "Anna", "sip:anna@pbx"), local(2026, 1, 7), local(2026, 1, 6))
    assert store.override_rows(session) == []


def test_the_default_policy_of_the_database_is_used(session):
    anna = engineer(session, "Anna", "sip:anna@pbx")
    policy = models.EscalationPolicy(name="boss last", is_default=True)
    policy.steps = [
        models.EscalationStep(position=1, timeout_seconds=30, targets=[models.EscalationTarget(role="primary")]),
        models.EscalationStep(position=2, timeout_seconds=60, targets=[models.EscalationTarget(engineer=anna)]),
    ]
    session.add_all([policy, models.EscalationPolicy(name="unused", is_default=False)])
    session.flush()
    loaded = store.load_policy(session)
    assert loaded.name == "boss last"
    assert [(s.position, s.timeout_seconds, s.targets[0].role, s.targets[0].engineer) for s in loaded.steps] == [
        (1, 30, "primary", None),
        (2, 60, None, rules.Engineer(anna.id, "Anna")),
    ]


def test_the_fallback_is_the_configured_contact_normalised(session, tmp_path):
    engineer(session, "Anna", "sip:anna@pbx")
    assert store.fallback_contacts(session, settings(tmp_path, default_contact="020-123 4567")) == (ContactToRing(None, Contact("phone", "+31201234567")),)
    assert store.fallback_contacts(session, settings(tmp_path, default_contact="sip:desk@pbx")) == (ContactToRing(None, DESK),)
    with pytest.raises(store.NoFallback, match="roster.default_contact is unusable: roster.default_contact: '12ab'"):
        store.fallback_contacts(session, settings(tmp_path, default_contact="12ab"))


def test_without_a_configured_contact_every_active_engineer_is_the_fallback(session, tmp_path):
    with pytest.raises(store.NoFallback, match="no active engineer has a contact"):
        store.fallback_contacts(session, settings(tmp_path))
    engineer(session, "Anna", "sip:anna@pbx", "+31612345678")
    engineer(session, "Gone", "sip:gone@pbx", active=False)
    engineer(session, "Mute")
    engineer(session, "Bram", "+31687654321")
    fallback = store.fallback_contacts(session, settings(tmp_path))
    assert [(leg.engineer.name, leg.contact.address) for leg in fallback] == [("Anna", "sip:anna@pbx"), ("Bram", "+31687654321")]


def test_escalation_plan_reads_everything_from_the_database(session, tmp_path):
    anna, bram = engineer(session, "Anna", "sip:anna@pbx"), engineer(session, "Bram", "+31687654321")
    store.save_rotation(session, date(2026, 1, 5), [anna], [bram])
    store.add_override(session, bram, local(2026, 1, 6), local(2026, 1, 7))
    plans = store.escalation_plan(session, settings(tmp_path, step_timeout=30), local(2026, 1, 6, 12))
    assert [(p.position, p.timeout_seconds, [leg.contact.address for leg in p.contacts]) for p in plans] == [
        (1, 30, ["+31687654321"]),  # Bram, primary by override
        (2, 30, ["+31687654321"]),  # and Bram again, as the secondary of the rotation
    ]
    (gap,) = store.escalation_plan(session, settings(tmp_path, step_timeout=30), local(2026, 1, 1))
    assert (gap.is_fallback, gap.timeout_seconds, [leg.engineer.name for leg in gap.contacts]) == (True, 30, ["Anna", "Bram"])
