"""Abuse: rejections as not critical over a rolling year, thresholds, lifts and the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.abuse import (
    ABUSE_WINDOW,
    AbuseThresholds,
    CustomerAbuseHistory,
    CustomerStatus,
    Lift,
    NothingToLift,
    abuse_report,
    counted_rejections,
    customer_status,
    expires_at,
    lift_customer,
    reassess,
    status_for_count,
)
from core.incidents import ReasonRequired
from core.models import CUSTOMER_STATUSES

NOW = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def nights(*ages_in_days: float) -> list[datetime]:
    return [days_ago(age) for age in ages_in_days]


def test_statuses_are_the_ones_the_customer_table_allows():
    assert tuple(CustomerStatus) == CUSTOMER_STATUSES


@pytest.mark.parametrize(("count", "status"), [
    (0, "active"), (1, "warned"), (2, "warned"), (3, "blocked"), (4, "blocked"),
])  # fmt: skip
def test_standard_thresholds_warn_at_one_and_block_at_three(count, status):
    assert customer_status(nights(*range(1, count + 1)), NOW) == status


def test_thresholds_are_configurable():
    lenient = AbuseThresholds(warn_at=2, block_at=5)
    assert [status_for_count(n, lenient) for n in range(7)] == [
        "active", "active", "warned", "warned", "warned", "blocked", "blocked"]  # fmt: skip
    assert status_for_count(1, AbuseThresholds(warn_at=1, block_at=1)) == "blocked"


@pytest.mark.parametrize(("warn_at", "block_at"), [(0, 3), (3, 2), (1.5, 3), (1, None)])
def test_thresholds_that_make_no_sense_are_refused(warn_at, block_at):
    with pytest.raises(ValueError, match="1 <= warn_at <= block_at"):
        AbuseThresholds(warn_at=warn_at, block_at=block_at)


def test_a_rejection_exactly_365_days_old_no_longer_counts():
    assert customer_status([NOW - ABUSE_WINDOW], NOW) == "active"
    assert customer_status([NOW - ABUSE_WINDOW + SECOND], NOW) == "warned"
    assert expires_at(days_ago(10)) == days_ago(10) + timedelta(days=365)


def test_the_window_is_365_days_of_time_across_a_leap_day():
    rejected = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # 2028 is a leap year
    assert expires_at(rejected) == datetime(2028, 2, 29, 2, 0, tzinfo=UTC)
    assert customer_status([rejected], datetime(2028, 2, 29, 1, 59, tzinfo=UTC)) == "warned"
    assert customer_status([rejected], datetime(2028, 2, 29, 2, 0, tzinfo=UTC)) == "active"


def test_a_rejection_after_the_moment_asked_about_does_not_count_yet():
    assert customer_status([NOW + SECOND], NOW) == "active"
    assert customer_status([NOW], NOW) == "warned"


def test_counted_rejections_are_oldest_first_and_only_in_the_window():
    assert counted_rejections(nights(3, 400, 200, 365), NOW) == nights(200, 3)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match=r"rejections\[1\]"):
        customer_status([days_ago(1), datetime(2026, 11, 1)], NOW)
    with pytest.raises(ValueError, match="naive"):
        customer_status([], datetime(2026, 11, 12))


# --- lifts ---------------------------------------------------------------------------------


def test_a_lift_resets_the_count_and_a_new_rejection_counts_from_there():
    rejections = nights(30, 20, 10)
    lift, record = lift_customer(42, rejections, [], by="anna", at=days_ago(5), reason="agreed a new contact person")
    assert customer_status(rejections, days_ago(6)) == "blocked"
    assert customer_status(rejections, NOW, lifted=[lift]) == "active"
    rejections.append(days_ago(1))
    assert customer_status(rejections, NOW, lifted=[lift]) == "warned"
    assert counted_rejections(rejections, NOW, [lift]) == [days_ago(1)]


def test_the_lift_is_audited_with_who_when_why_and_what_it_changed():
    _, record = lift_customer(42, nights(30, 20, 10), [], by="anna", at=days_ago(5), reason=" our mistake ")
    assert (record.actor, record.at, record.action, record.entity, record.entity_id) == (
        "anna", days_ago(5), "lift", "customer", 42)  # fmt: skip
    assert record.detail == {"from": "blocked", "to": "active", "reason": "our mistake", "counted_rejections": 3}


def test_a_warning_can_be_lifted_too():
    lift, record = lift_customer(42, nights(10), [], by="anna", at=NOW, reason="it was critical after all")
    assert record.detail["from"] == "warned" and customer_status(nights(10), NOW, lifted=[lift]) == "active"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_lifting_without_a_reason_is_refused(reason):
    with pytest.raises(ReasonRequired, match="a reason is required"):
        lift_customer(42, nights(30, 20, 10), [], by="anna", at=NOW, reason=reason)
    with pytest.raises(ReasonRequired):
        Lift(by="anna", at=NOW, reason=reason)


def test_lifting_a_customer_who_is_active_is_refused():
    with pytest.raises(NothingToLift, match="customer 42: status is active"):
        lift_customer(42, nights(400), [], by="anna", at=NOW, reason="just in case")


def test_a_rejection_at_the_moment_of_the_lift_is_lifted_with_it():
    lift = Lift(by="anna", at=days_ago(1), reason="talked it through")
    assert customer_status([days_ago(1)], NOW, lifted=[lift]) == "active"


def test_a_lift_later_than_the_moment_asked_about_is_not_in_force():
    lift = Lift(by="anna", at=NOW + SECOND, reason="talked it through")
    assert customer_status(nights(3, 2, 1), NOW, lifted=[lift]) == "blocked"


def test_the_latest_lift_counts_when_there_are_several():
    lifts = [Lift(by="anna", at=days_ago(25), reason="first"), Lift(by="bob", at=days_ago(15), reason="second")]
    assert counted_rejections(nights(30, 20, 10), NOW, lifts) == nights(10)


# --- status changes ----------------------------------------------------------------------------


def test_reassessing_after_a_rejection_audits_the_change():
    status, record = reassess(42, "warned", nights(20, 10, 0), NOW, by="bob")
    assert status == "blocked"
    assert (record.actor, record.at, record.action, record.entity, record.entity_id) == (
        "bob", NOW, "status_change", "customer", 42)  # fmt: skip
    assert record.detail == {"from": "warned", "to": "blocked", "counted_rejections": 3, "warn_at": 1, "block_at": 3}


def test_reassessing_without_a_change_audits_nothing():
    assert reassess(42, "warned", nights(10), NOW) == ("warned", None)


def test_an_unknown_stored_status_is_named():
    with pytest.raises(ValueError, match="customer 42: stored status 'banned'"):
        reassess(42, "banned", [], NOW)


def test_an_expired_rejection_lowers_the_status_as_the_system():
    status, record = reassess(42, "warned", [NOW - ABUSE_WINDOW], NOW)
    assert status == "active" and record.actor == "system" and record.detail["from"] == "warned"


# --- report ------------------------------------------------------------------------------------


def test_the_abuse_list_shows_count_status_oldest_and_when_it_expires():
    customers = [
        CustomerAbuseHistory(1, "Bakkerij Jansen", tuple(nights(100))),
        CustomerAbuseHistory(2, "Garage de Vries", tuple(nights(300, 200, 100, 50))),
        CustomerAbuseHistory(3, "Schoenen Smit", ()),
        CustomerAbuseHistory(4, "Fietsen Bakker", tuple(nights(400))),
        CustomerAbuseHistory(5, "Apotheek Aarts", tuple(nights(90, 80, 70)),
                             (Lift(by="anna", at=days_ago(75), reason="new contact person"),)),
    ]  # fmt: skip
    lines = abuse_report(customers, NOW)
    assert [(line.name, line.counted, line.status) for line in lines] == [
        ("Garage de Vries", 4, "blocked"), ("Apotheek Aarts", 1, "warned"), ("Bakkerij Jansen", 1, "warned")]
    garage, pharmacy, bakery = lines
    assert (garage.oldest_counted_at, garage.oldest_expires_at) == (days_ago(300), days_ago(300) + ABUSE_WINDOW)
    assert garage.status_until == days_ago(200) + ABUSE_WINDOW  # then 2 remain: warned
    assert bakery.status_until == bakery.oldest_expires_at == days_ago(100) + ABUSE_WINDOW
    assert pharmacy.last_lift.reason == "new contact person" and bakery.last_lift is None


def test_the_abuse_list_can_include_customers_with_a_clean_record():
    lines = abuse_report([CustomerAbuseHistory(3, "Schoenen Smit")], NOW, include_clean=True)
    assert [(line.counted, line.status, line.oldest_counted_at, line.status_until) for line in lines] == [
        (0, "active", None, None)]  # fmt: skip


# --- properties --------------------------------------------------------------------------------

thresholds = st.integers(1, 6).flatmap(lambda warn: st.builds(AbuseThresholds, st.just(warn), st.integers(warn, 10)))
ages = st.lists(st.integers(min_value=-10 * 86400, max_value=400 * 86400), max_size=12)  # seconds before NOW
SEVERITY = {"active": 0, "warned": 1, "blocked": 2}


@given(thresholds, st.integers(0, 20), st.integers(0, 20))
def test_status_never_falls_as_the_count_rises(limits, fewer, more_extra):
    assert SEVERITY[status_for_count(fewer, limits)] <= SEVERITY[status_for_count(fewer + more_extra, limits)]


@settings(deadline=None)
@given(thresholds, ages, st.integers(min_value=1, max_value=364 * 86400))
def test_one_more_counted_rejection_never_lowers_the_status(limits, rejection_ages, extra_age):
    rejections = [NOW - timedelta(seconds=age) for age in rejection_ages]
    before = customer_status(rejections, NOW, limits)
    after = customer_status([*rejections, NOW - timedelta(seconds=extra_age)], NOW, limits)
    assert SEVERITY[before] <= SEVERITY[after]
    assert before == status_for_count(len(counted_rejections(rejections, NOW)), limits)
