"""`nachtdienst hours …` against SQLite and PostgreSQL: open or closed at a moment and why,
the next days across DST, public holidays, and closures that make the line take over."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import open_database
from core.models import AuditEntry
from core.office_hours import is_office_open
from core.office_store import add_closure, office_calendar
from tests.integration.conftest import json_of

CLOSURE_ADDED = re.compile(r"^closure (\d+) added: ")


def show(nachtdienst, at: str, *more: str) -> dict:
    return json_of(nachtdienst("hours", "show", "--at", at, "--json", *more))


def add_closure_cli(nachtdienst, starts: str, ends: str, reason: str) -> int:
    added = nachtdienst("hours", "closure", "add", "--from", starts, "--to", ends, "--reason", reason)
    assert added.exit_code == 0, added.output
    match = CLOSURE_ADDED.match(added.stdout)
    assert match, added.stdout
    return int(match[1])


# --- open or closed, and why ----------------------------------------------------------------

def test_a_weekday_at_ten_is_open_until_five(nachtdienst):
    status = show(nachtdienst, "2026-06-08T10:00")  # a Monday in summer time
    assert status["at"] == "2026-06-08T08:00:00+00:00"
    assert (status["open"], status["reason"], status["changes_at"]) == (True, "open", "2026-06-08T15:00:00+00:00")

    shown = nachtdienst("hours", "show", "--at", "2026-06-08T10:00")
    assert shown.exit_code == 0, shown.output
    assert "Mon 2026-06-08 10:00 CEST: open; closes Mon 2026-06-08 17:00 CEST" in shown.stdout


def test_five_oclock_exactly_is_closed_until_the_next_morning(nachtdienst):
    status = show(nachtdienst, "2026-06-08T17:00")
    assert (status["open"], status["reason"], status["changes_at"]) == (False, "weekend/outside schedule", "2026-06-09T06:30:00+00:00")
    assert show(nachtdienst, "2026-06-08T16:59:59")["open"] is True


def test_an_explicit_offset_is_taken_as_given(nachtdienst):
    # 15:30 UTC is 17:30 in Amsterdam in June: closed.
    assert show(nachtdienst, "2026-06-08T15:30:00+00:00")["open"] is False
    assert show(nachtdienst, "2026-06-08T14:30:00Z")["open"] is True


def test_kings_day_on_a_monday_is_closed_with_the_holidays_name(nachtdienst):
    status = show(nachtdienst, "2026-04-27T10:00", "--days", "2")
    assert (status["open"], status["reason"], status["changes_at"]) == (False, "holiday: King's Day", "2026-04-28T06:30:00+00:00")
    assert status["holidays"] == [{"date": "2026-04-27", "name": "King's Day"}]
    assert status["days"] == [
        {"date": "2026-04-27", "weekday": "mon", "holiday": "King's Day", "periods": []},
        {"date": "2026-04-28", "weekday": "tue", "holiday": None, "periods": [
            {"opens_at": "2026-04-28T06:30:00+00:00", "closes_at": "2026-04-28T15:00:00+00:00", "local": "08:30-17:00"}]},
    ]
    shown = nachtdienst("hours", "show", "--at", "2026-04-27T10:00")
    assert "closed (holiday: King's Day); opens Tue 2026-04-28 08:30 CEST" in shown.stdout
    assert "holiday 2026-04-27: King's Day" in shown.stdout


def test_holidays_switched_off_leave_kings_day_open(nachtdienst, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_OFFICE__PUBLIC_HOLIDAYS", "false")
    status = show(nachtdienst, "2026-04-27T10:00")
    assert (status["open"], status["public_holidays"], status["holidays"]) == (True, False, [])


def test_the_json_has_the_weekly_schedule_and_every_key(nachtdienst):
    status = show(nachtdienst, "2026-06-08T10:00", "--days", "1")
    assert set(status) == {"at", "timezone", "schedule", "weekly", "public_holidays", "open", "reason", "changes_at",
                           "days", "holidays", "closures"}
    assert status["timezone"] == "Europe/Amsterdam"
    assert status["schedule"] == "mon-fri 08:30-17:00"
    assert status["weekly"] == {**{day: ["08:30-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}, "sat": [], "sun": []}
    assert len(status["days"]) == 1
    assert status["closures"] == []


def test_without_at_it_answers_for_now(nachtdienst):
    before = datetime.now(UTC)
    status = json_of(nachtdienst("hours", "show", "--json"))
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(status["at"]) <= datetime.now(UTC)
    today = datetime.fromisoformat(status["at"]).astimezone(ZoneInfo("Europe/Amsterdam")).date()
    assert status["days"][0]["date"] == today.isoformat()


def test_a_configured_schedule_with_two_intervals_and_saturday(nachtdienst, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_OFFICE__SCHEDULE", "mon-fri 08:30-12:00,13:00-17:00; sat 10:00-12:00")
    lunch = show(nachtdienst, "2026-06-08T12:30", "--days", "6")
    assert (lunch["open"], lunch["changes_at"]) == (False, "2026-06-08T11:00:00+00:00")
    assert [period["local"] for period in lunch["days"][0]["periods"]] == ["08:30-12:00", "13:00-17:00"]
    assert [period["local"] for period in lunch["days"][5]["periods"]] == ["10:00-12:00"]
    assert lunch["weekly"]["sat"] == ["10:00-12:00"]


# --- DST --------------------------------------------------------------------------------------

def test_across_the_march_change_opening_stays_half_past_eight_local_and_moves_in_utc(nachtdienst):
    status = show(nachtdienst, "2026-03-27T12:00", "--days", "4")  # Friday before the last Sunday of March
    friday, saturday, sunday, monday = status["days"]
    assert friday["periods"] == [{"opens_at": "2026-03-27T07:30:00+00:00", "closes_at": "2026-03-27T16:00:00+00:00", "local": "08:30-17:00"}]
    assert saturday["periods"] == sunday["periods"] == []
    assert monday["periods"] == [{"opens_at": "2026-03-30T06:30:00+00:00", "closes_at": "2026-03-30T15:00:00+00:00", "local": "08:30-17:00"}]


def test_a_time_the_march_night_skips_is_read_an_hour_later_and_the_office_is_closed(nachtdienst):
    status = show(nachtdienst, "2026-03-29T02:30")  # does not exist: 02:00 becomes 03:00
    assert status["at"] == "2026-03-29T01:30:00+00:00"
    assert (status["open"], status["changes_at"]) == (False, "2026-03-30T06:30:00+00:00")
    assert "Sun 2026-03-29 03:30 CEST: closed (weekend/outside schedule); opens Mon 2026-03-30 08:30 CEST" in (
        nachtdienst("hours", "show", "--at", "2026-03-29T02:30").stdout)


def test_across_the_october_change_opening_moves_back_in_utc(nachtdienst):
    status = show(nachtdienst, "2026-10-23T12:00", "--days", "4")
    friday, _, sunday, monday = status["days"]
    assert friday["periods"][0]["opens_at"] == "2026-10-23T06:30:00+00:00"
    assert sunday["periods"] == []
    assert monday["periods"] == [{"opens_at": "2026-10-26T07:30:00+00:00", "closes_at": "2026-10-26T16:00:00+00:00", "local": "08:30-17:00"}]
    assert show(nachtdienst, "2026-10-25T02:30")["changes_at"] == "2026-10-26T07:30:00+00:00"


def test_sunday_night_hours_last_three_hours_in_march_and_five_in_october(nachtdienst, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_OFFICE__SCHEDULE", "sun 00:00-04:00")
    march = show(nachtdienst, "2026-03-29T03:30", "--days", "1")
    assert (march["open"], march["changes_at"]) == (True, "2026-03-29T02:00:00+00:00")
    assert march["days"][0]["periods"] == [
        {"opens_at": "2026-03-28T23:00:00+00:00", "closes_at": "2026-03-29T02:00:00+00:00", "local": "00:00-04:00"}]

    october = show(nachtdienst, "2026-10-25T02:30", "--days", "1")  # the first 02:30, still summer time
    assert october["at"] == "2026-10-25T00:30:00+00:00"
    assert (october["open"], october["changes_at"]) == (True, "2026-10-25T03:00:00+00:00")
    assert october["days"][0]["periods"] == [
        {"opens_at": "2026-10-24T22:00:00+00:00", "closes_at": "2026-10-25T03:00:00+00:00", "local": "00:00-04:00"}]


# --- closures ---------------------------------------------------------------------------------

def test_a_closure_makes_an_open_moment_closed_with_its_reason(nachtdienst):
    closure_id = add_closure_cli(nachtdienst, "2026-06-08T09:00", "2026-06-08T12:00", "team outing")
    status = show(nachtdienst, "2026-06-08T10:00", "--days", "1")
    assert (status["open"], status["reason"], status["changes_at"]) == (False, "closure: team outing", "2026-06-08T10:00:00+00:00")
    assert [period["local"] for period in status["days"][0]["periods"]] == ["08:30-09:00", "12:00-17:00"]
    [closure] = status["closures"]
    assert closure["id"] == closure_id
    assert (closure["starts_at"], closure["ends_at"], closure["reason"]) == (
        "2026-06-08T07:00:00+00:00", "2026-06-08T10:00:00+00:00", "team outing")

    shown = nachtdienst("hours", "show", "--at", "2026-06-08T10:00")
    assert "closed (closure: team outing); opens Mon 2026-06-08 12:00 CEST" in shown.stdout
    assert f"closure {closure_id}: Mon 2026-06-08 09:00 CEST to Mon 2026-06-08 12:00 CEST: team outing" in shown.stdout
    # Before and after it, the schedule decides again.
    assert show(nachtdienst, "2026-06-08T08:45")["open"] is True
    assert show(nachtdienst, "2026-06-08T12:00")["open"] is True


def test_closure_add_prints_the_id_and_the_local_period(nachtdienst):
    added = nachtdienst("hours", "closure", "add", "--from", "2099-12-24T12:00", "--to", "2099-12-27T00:00", "--reason", "Christmas")
    assert added.exit_code == 0, added.output
    assert re.fullmatch(r"closure \d+ added: Thu 2099-12-24 12:00 CET to Sun 2099-12-27 00:00 CET: Christmas\n", added.stdout)
    assert added.stderr == ""


def test_closure_list_shows_those_not_ended_and_all_with_all(nachtdienst):
    past = add_closure_cli(nachtdienst, "2000-01-03T09:00", "2000-01-03T17:00", "millennium hangover")
    future = add_closure_cli(nachtdienst, "2099-05-01T00:00", "2099-05-02T00:00", "move")
    listed = json_of(nachtdienst("hours", "closure", "list", "--json"))
    assert [closure["id"] for closure in listed] == [future]
    [closure] = listed
    assert set(closure) == {"id", "starts_at", "ends_at", "reason", "created_at", "created_by"}
    assert (closure["starts_at"], closure["ends_at"], closure["reason"]) == ("2099-04-30T22:00:00+00:00", "2099-05-01T22:00:00+00:00", "move")
    assert closure["created_by"]
    assert closure["created_at"].endswith("+00:00")
    assert [closure["id"] for closure in json_of(nachtdienst("hours", "closure", "list", "--all", "--json"))] == [past, future]

    table = nachtdienst("hours", "closure", "list", "--all")
    assert "2000-01-03 09:00" in table.stdout and "2099-05-01 00:00" in table.stdout
    assert "millennium hangover" in table.stdout and "move" in table.stdout


def test_a_closure_that_ended_already_is_kept_with_a_note(nachtdienst):
    added = nachtdienst("hours", "closure", "add", "--from", "2000-01-03T09:00", "--to", "2000-01-03T17:00", "--reason", "past")
    assert added.exit_code == 0
    assert "already ended" in added.stderr


def test_no_closures_is_an_empty_list(nachtdienst):
    assert json_of(nachtdienst("hours", "closure", "list", "--json")) == []
    assert nachtdienst("hours", "closure", "list").stdout == "no closures ahead (--all shows those that ended)\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "2099-06-08T12:00", "--to", "2099-06-08T09:00", "--reason", "x"),
     "error: --to '2099-06-08T09:00' is not after --from '2099-06-08T12:00'\n"),
    (("--from", "2099-06-08T12:00", "--to", "2099-06-08T12:00", "--reason", "x"),
     "error: --to '2099-06-08T12:00' is not after --from '2099-06-08T12:00'\n"),
    (("--from", "2099-06-08T09:00", "--to", "2099-06-08T12:00", "--reason", "  "),
     "error: --reason is empty; say why the office is closed\n"),
    (("--from", "next monday", "--to", "2099-06-08T12:00", "--reason", "x"),
     "error: --from 'next monday': not an ISO 8601 date/time like 2026-12-24T18:00 or 2026-12-24T18:00+01:00\n"),
])
def test_a_bad_closure_is_one_line_and_nothing_is_added(nachtdienst, args, message):
    refused = nachtdienst("hours", "closure", "add", *args)
    assert refused.exit_code == 1
    assert refused.stderr == message
    assert json_of(nachtdienst("hours", "closure", "list", "--all", "--json")) == []


def test_a_closure_needs_a_reason(nachtdienst):
    refused = nachtdienst("hours", "closure", "add", "--from", "2099-06-08T09:00", "--to", "2099-06-08T12:00")
    assert refused.exit_code != 0
    assert "--reason" in refused.output


def test_removing_a_closure_asks_first_and_keeps_an_audit_line(nachtdienst, settings):
    closure_id = add_closure_cli(nachtdienst, "2099-06-08T09:00", "2099-06-08T12:00", "team outing")
    declined = nachtdienst("hours", "closure", "remove", str(closure_id), input="n\n")
    assert declined.exit_code == 1
    assert "aborted, nothing changed" in declined.stderr
    assert len(json_of(nachtdienst("hours", "closure", "list", "--json"))) == 1

    removed = nachtdienst("hours", "closure", "remove", str(closure_id), "--yes")
    assert removed.exit_code == 0, removed.output
    assert removed.stdout == f"closure {closure_id} removed\n"
    assert json_of(nachtdienst("hours", "closure", "list", "--all", "--json")) == []
    with open_database(settings)() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.entity == "office_closure")).all()
        assert (entry.action, entry.entity_id, entry.detail["reason"]) == ("closure_removed", closure_id, "team outing")

    answered_yes = add_closure_cli(nachtdienst, "2099-06-09T09:00", "2099-06-09T12:00", "second")
    assert nachtdienst("hours", "closure", "remove", str(answered_yes), input="y\n").exit_code == 0


def test_removing_an_unknown_closure_fails(nachtdienst):
    missing = nachtdienst("hours", "closure", "remove", "42", "--yes")
    assert missing.exit_code == 1
    assert missing.stderr == "error: no closure with id 42\n"


def test_days_must_be_at_least_one(nachtdienst):
    refused = nachtdienst("hours", "show", "--days", "0")
    assert refused.exit_code != 0
    assert "--days" in refused.output


# --- the store the call flow uses -------------------------------------------------------------

def test_the_calendar_loads_only_closures_that_have_not_ended(nachtdienst, settings):
    nachtdienst("hours", "show", "--json")  # migrates the database
    ended = datetime(2026, 6, 8, 7, 0, tzinfo=UTC), datetime(2026, 6, 8, 10, 0, tzinfo=UTC)
    later = datetime(2026, 6, 15, 7, 0, tzinfo=UTC), datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
    with open_database(settings)() as session:
        add_closure(session, *ended, "team outing", created_by="test")
        add_closure(session, *later, "training", created_by="test")
        session.commit()

        during = office_calendar(settings, session, at=datetime(2026, 6, 8, 8, 0, tzinfo=UTC))
        assert [closure.reason for closure in during.closures] == ["team outing", "training"]
        assert not is_office_open(datetime(2026, 6, 8, 8, 0, tzinfo=UTC), during)

        after = office_calendar(settings, session, at=datetime(2026, 6, 8, 10, 0, tzinfo=UTC))
        assert [closure.reason for closure in after.closures] == ["training"]
        assert is_office_open(datetime(2026, 6, 8, 10, 0, tzinfo=UTC), after)

        # Without a moment it is now: both closures of June 2026 lie in the past by then.
        assert office_calendar(settings, session).closures == ()


def test_the_calendar_follows_the_settings(nachtdienst, settings, monkeypatch):
    nachtdienst("hours", "show", "--json")
    configured = settings.model_copy(update={"timezone": "Europe/London",
                                             "office": settings.office.model_copy(update={"schedule": "sat 10:00-12:00",
                                                                                          "public_holidays": False})})
    with open_database(settings)() as session:
        calendar = office_calendar(configured, session, at=datetime(2026, 6, 13, 9, 30, tzinfo=UTC))
    assert (calendar.timezone, str(calendar.schedule), calendar.holidays_enabled) == ("Europe/London", "sat 10:00-12:00", False)
    assert is_office_open(datetime(2026, 6, 13, 9, 30, tzinfo=UTC), calendar)  # 10:30 in London


def test_the_store_refuses_what_the_rules_refuse(nachtdienst, settings):
    nachtdienst("hours", "show", "--json")
    start = datetime(2099, 1, 1, 9, tzinfo=UTC)
    with open_database(settings)() as session:
        with pytest.raises(ValueError, match="the reason is empty"):
            add_closure(session, start, start + timedelta(hours=1), "  ")
        with pytest.raises(ValueError, match="not after it starts"):
            add_closure(session, start, start, "x")
        with pytest.raises(ValueError, match="naive datetime refused"):
            add_closure(session, start.replace(tzinfo=None), start + timedelta(hours=1), "x")
