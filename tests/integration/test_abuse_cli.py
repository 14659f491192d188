"""`nachtdienst abuse …` and what `incidents triage --not-critical` does to a customer, against
SQLite and PostgreSQL: the thresholds, the rolling year, lifting with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.abuse_store import reassess_all, thresholds_from
from core.db import open_database
from core.models import AuditEntry, Customer
from core.settings import Settings
from tests.integration.conftest import json_of
from tests.integration.test_incidents_cli import Clock, audit_entries, fixed_clock, iso, open_incidents, refused, set_up_desk

JAN = datetime(2026, 1, 10, 1, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return fixed_clock(monkeypatch)


def reject(nachtdienst, clock, settings: Settings, opened: datetime, customer: str = "1001"):
    """A call at `opened`, triaged as not critical an hour later (the clock moves there)."""
    [incident] = open_incidents(settings, customer, opened)
    clock.now = opened + timedelta(hours=1)
    result = nachtdienst("incidents", "triage", str(incident), "--not-critical", "--reason", "a test server", "--by", "Eva")
    assert result.exit_code == 0, result.output
    return result


def stored_status(settings: Settings, number: str = "1001") -> str:
    with open_database(settings)() as session:
        return session.scalar(select(Customer.status).where(Customer.customer_number == number))


def customer_id(settings: Settings, number: str = "1001") -> int:
    with open_database(settings)() as session:
        return session.scalar(select(Customer.id).where(Customer.customer_number == number))


def abuse_row(nachtdienst, number: str = "1001") -> dict:
    [row] = [row for row in json_of(nachtdienst("abuse", "list", "--all", "--json")) if row["customer"]["customer_number"] == number]
    return row


def test_one_rejection_warns_three_block_and_a_fourth_after_one_expired_blocks_again(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    first = reject(nachtdienst, clock, settings, JAN)
    assert first.stdout.splitlines()[-1] == "customer 1001 is now warned (1 rejection in the last 12 months)"
    second = reject(nachtdienst, clock, settings, JAN + timedelta(days=50))
    assert second.stdout.splitlines()[-1] == "customer 1001 stays warned (2 rejections in the last 12 months)"
    third = reject(nachtdienst, clock, settings, JAN + timedelta(days=100))
    assert third.stdout.splitlines()[-1] == "customer 1001 is now blocked (3 rejections in the last 12 months)"
    assert stored_status(settings) == "blocked"

    row = abuse_row(nachtdienst)
    assert (row["status"], row["stored_status"], row["counted_rejections"]) == ("blocked", "blocked", 3)
    first_rejected = JAN + timedelta(hours=1)
    assert row["oldest_counted_at"] == iso(first_rejected)
    assert row["status_until"] == iso(first_rejected + YEAR)  # the first one leaving drops it to warned

    changes = [(e.action, e.actor, e.detail["from"], e.detail["to"], e.detail["incident_id"])
               for e in audit_entries(settings, "customer", customer_id(settings))]  # fmt: skip
    assert [change[:4] for change in changes] == [
        ("status_change", "Eva", "active", "warned"), ("status_change", "Eva", "warned", "blocked")]  # fmt: skip

    # The periodic reassessment: exactly a year after the first rejection it no longer counts.
    with open_database(settings)() as session:
        assert reassess_all(session, first_rejected + YEAR - timedelta(seconds=1), thresholds=thresholds_from(settings)) == []
        [change] = reassess_all(session, first_rejected + YEAR, thresholds=thresholds_from(settings))
        session.commit()
    assert (change.before, change.after, change.counted) == ("blocked", "warned", 2)
    assert stored_status(settings) == "warned"
    last = audit_entries(settings, "customer", customer_id(settings))[-1]
    assert (last.actor, last.detail["from"], last.detail["to"]) == ("system", "blocked", "warned")

    fourth = reject(nachtdienst, clock, settings, JAN + YEAR + timedelta(days=10))
    assert fourth.stdout.splitlines()[-1] == "customer 1001 is now blocked (3 rejections in the last 12 months)"


def test_a_rejection_reassesses_even_when_the_expiry_was_not_yet_reassessed(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    for day in (0, 50, 100):
        reject(nachtdienst, clock, settings, JAN + timedelta(days=day))
    # No periodic reassessment ran: the 4th rejection still finds 3 counted, not 4.
    fourth = reject(nachtdienst, clock, settings, JAN + YEAR + timedelta(days=10))
    assert fourth.stdout.splitlines()[-1] == "customer 1001 stays blocked (3 rejections in the last 12 months)"


def test_lifting_a_block_restores_active_is_audited_and_later_rejections_count_again(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    for day in (0, 1, 2):
        reject(nachtdienst, clock, settings, JAN + timedelta(days=day))
    clock.now = JAN + timedelta(days=3)

    declined = nachtdienst("abuse", "lift", "1001", "--reason", "contract renewed", "--by", "Anna", input="n\n")
    assert declined.exit_code == 1
    assert "error: aborted, nothing changed" in declined.stderr
    assert stored_status(settings) == "blocked"

    lifted = nachtdienst("abuse", "lift", "1001", "--reason", "contract renewed", "--by", "Anna", input="y\n")
    assert lifted.exit_code == 0, lifted.output
    assert lifted.stdout.splitlines()[-1] == "customer 1001 is now active (lifted by Anna: contract renewed; 3 rejections no longer count)"
    assert stored_status(settings) == "active"
    entry = audit_entries(settings, "customer", customer_id(settings))[-1]
    assert (entry.action, entry.actor, entry.at) == ("lift", "Anna", clock.now)
    assert (entry.detail["from"], entry.detail["to"], entry.detail["reason"]) == ("blocked", "active", "contract renewed")

    row = abuse_row(nachtdienst)
    assert (row["status"], row["counted_rejections"]) == ("active", 0)
    assert row["last_lift"] == {"at": iso(clock.now), "by": "Anna", "reason": "contract renewed"}
    assert json_of(nachtdienst("abuse", "list", "--json")) == []  # nothing counted: only --all shows it

    again = reject(nachtdienst, clock, settings, JAN + timedelta(days=4))
    assert again.stdout.splitlines()[-1] == "customer 1001 is now warned (1 rejection in the last 12 months)"
    # A rejection back-dated to before the lift stays lifted.
    [old] = open_incidents(settings, "1001", JAN + timedelta(days=2, hours=12))
    result = nachtdienst("incidents", "triage", str(old), "--not-critical", "--reason", "test", "--by", "Eva",
                         "--at", iso(JAN + timedelta(days=2, hours=13)))  # fmt: skip
    assert result.stdout.splitlines()[-1] == "customer 1001 stays warned (1 rejection in the last 12 months)"


def test_lift_with_yes_asks_nothing_and_defaults_to_the_os_user(nachtdienst, settings, clock, monkeypatch):
    set_up_desk(nachtdienst)
    reject(nachtdienst, clock, settings, JAN)
    monkeypatch.setattr("nachtdienst.cli.abuse_cmd.current_user", lambda: "sysadmin")
    lifted = nachtdienst("abuse", "lift", "1001", "--reason", "goodwill", "--yes")
    assert lifted.stdout == "customer 1001 is now active (lifted by sysadmin: goodwill; 1 rejection no longer counts)\n"
    assert audit_entries(settings, "customer", customer_id(settings))[-1].actor == "sysadmin"


def test_a_lift_is_refused_for_an_active_or_unknown_customer_or_without_reason(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    refused(nachtdienst("abuse", "lift", "1001", "--reason", "why not", "--yes"), "customer 1001 is active; there is nothing to lift")
    refused(nachtdienst("abuse", "lift", "9999", "--reason", "why not", "--yes"), "no customer with customer number '9999'")
    reject(nachtdienst, clock, settings, JAN)
    refused(nachtdienst("abuse", "lift", "1001", "--reason", " ", "--yes"), "--reason is empty (say why the block is lifted)")
    assert nachtdienst("abuse", "lift", "1001", "--yes").exit_code != 0  # --reason is required
    assert stored_status(settings) == "warned"
    with open_database(settings)() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "lift")).all() == []


def test_a_stored_status_left_behind_by_an_expiry_is_corrected_not_lifted(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    reject(nachtdienst, clock, settings, JAN)
    clock.now = JAN + YEAR + timedelta(days=1)
    row = abuse_row(nachtdienst)
    assert (row["status"], row["stored_status"], row["counted_rejections"]) == ("active", "warned", 0)
    assert [r["customer"]["customer_number"] for r in json_of(nachtdienst("abuse", "list", "--json"))] == ["1001"]
    result = nachtdienst("abuse", "lift", "1001", "--reason", "expired anyway", "--yes")
    assert result.stdout == "customer 1001 is now active: its rejections have left the last 12 months, nothing was left to lift\n"
    assert stored_status(settings) == "active"
    entry = audit_entries(settings, "customer", customer_id(settings))[-1]
    assert (entry.action, entry.detail["to"], entry.detail["corrected_by"]) == ("status_change", "active", "lift")


def test_abuse_list_orders_blocked_first_and_shows_a_table(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    reject(nachtdienst, clock, settings, JAN, customer="1002")
    for day in (1, 2, 3):
        reject(nachtdienst, clock, settings, JAN + timedelta(days=day))
    rows = json_of(nachtdienst("abuse", "list", "--json"))
    assert [(r["customer"]["customer_number"], r["status"], r["counted_rejections"]) for r in rows] == [
        ("1001", "blocked", 3), ("1002", "warned", 1)]  # fmt: skip
    assert set(rows[0]) == {"customer", "status", "stored_status", "counted_rejections", "oldest_counted_at",
                            "oldest_expires_at", "status_until", "last_lift"}  # fmt: skip
    table = nachtdienst("abuse", "list")
    assert table.exit_code == 0
    assert "blocked" in table.stdout and "Globex" in table.stdout


def test_abuse_list_when_nobody_has_rejections(nachtdienst, settings, clock):
    assert json_of(nachtdienst("abuse", "list", "--json")) == []
    assert nachtdienst("abuse", "list").stdout == "no customer has rejections counted in the last 12 months\n"
    set_up_desk(nachtdienst)
    everyone = json_of(nachtdienst("abuse", "list", "--all", "--json"))
    assert [(r["customer"]["customer_number"], r["status"], r["last_lift"]) for r in everyone] == [
        ("1001", "active", None), ("1002", "active", None)]  # fmt: skip


def test_thresholds_come_from_the_settings(nachtdienst, settings, clock, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_ABUSE__WARN_AT", "2")
    monkeypatch.setenv("NACHTDIENST_ABUSE__BLOCK_AT", "2")
    set_up_desk(nachtdienst)
    assert reject(nachtdienst, clock, settings, JAN).stdout.splitlines()[-1] == (
        "customer 1001 stays active (1 rejection in the last 12 months)")  # fmt: skip
    assert reject(nachtdienst, clock, settings, JAN + timedelta(days=1)).stdout.splitlines()[-1] == (
        "customer 1001 is now blocked (2 rejections in the last 12 months)")  # fmt: skip


def test_a_rejection_without_a_customer_counts_against_nobody(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, None, JAN)
    result = nachtdienst("incidents", "triage", str(incident), "--not-critical", "--reason", "wrong number", "--by", "Eva")
    assert result.stdout.splitlines()[-1] == "no customer is known for this incident; the rejection counts against nobody"
    assert json_of(nachtdienst("abuse", "list", "--json")) == []
