"""`nachtdienst roster …`, `oncall` and `engineers edit|remove` against SQLite and PostgreSQL: a
sysadmin sets up a team and a rotation from the command line alone, and `oncall --json` says
whom a call at any moment rings — at hand-overs, across DST, in overrides, gaps and absences."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import open_database
from core.models import EngineerContact
from tests.integration.conftest import json_of

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ANNA_SIP, ANNA_PHONE = "sip:anna@192.0.2.10:5060", "+31612345678"
BRAM_PHONE = "+31687654321"
CEES_SIP = "sip:cees@192.0.2.12"
PRIMARIES = ["Anna", "Bram", "Cees"]
SECONDARIES = ["Bram", "Cees", "Anna"]
START = date(2026, 1, 5)  # a Monday


def utc(moment: str) -> str:
    """The JSON form of a local wall-clock moment in Amsterdam."""
    return datetime.fromisoformat(moment).replace(tzinfo=AMSTERDAM).astimezone(UTC).isoformat()


def turn(names: list[str], first_handover: date, handover_day: date) -> str:
    """Who has the turn in the week that begins on `handover_day` (week N: turn N mod len)."""
    return names[((handover_day - first_handover).days // 7) % len(names)]


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def add_team(nachtdienst) -> None:
    ok(nachtdienst("engineers", "add", "Anna", "--contact", ANNA_SIP, "--contact", "06 1234 5678", "--email", "anna@example.com"))
    ok(nachtdienst("engineers", "add", "Bram", "--contact", "0687654321"))
    ok(nachtdienst("engineers", "add", "Cees", "--contact", CEES_SIP))


def set_up(nachtdienst, handover: str = "mon 09:00", start: date = START, secondaries: list[str] | None = SECONDARIES) -> None:
    add_team(nachtdienst)
    args = ["roster", "set", "--start", start.isoformat(), "--primary", ",".join(PRIMARIES), "--handover", handover]
    if secondaries:
        args += ["--secondary", ",".join(secondaries)]
    ok(nachtdienst(*args))


def oncall(nachtdienst, at: str, *more: str) -> dict:
    return json_of(nachtdienst("oncall", "--json", "--at", at, *more))


def on_duty(answer: dict) -> tuple[str | None, str | None, str]:
    names = tuple(answer[role]["name"] if answer[role] else None for role in ("primary", "secondary"))
    return (*names, answer["source"])


def rung(answer: dict) -> list[tuple[int, bool, list[str]]]:
    return [(step["position"], step["is_fallback"], [c["address"] for c in step["contacts"]]) for step in answer["escalation"]]


def json_exiting(result, code: int) -> dict:
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def roster_json(nachtdienst, *args: str) -> dict:
    return json_of(nachtdienst("roster", "show", "--json", *args))


# --- a team and a rotation from the command line ------------------------------------------------


def test_mid_week_oncall_names_both_roles_their_contacts_the_steps_and_the_coming_shifts(nachtdienst):
    set_up(nachtdienst)
    answer = oncall(nachtdienst, "2026-01-07T03:00")

    assert answer["at"] == utc("2026-01-07T03:00")
    assert answer["timezone"] == "Europe/Amsterdam"
    assert answer["primary"] == {
        "id": answer["primary"]["id"],
        "name": "Anna",
        "email": "anna@example.com",
        "contacts": [{"kind": "sip", "address": ANNA_SIP}, {"kind": "phone", "address": ANNA_PHONE}],
    }
    assert on_duty(answer) == ("Anna", "Bram", "rotation")
    assert answer["secondary_source"] == "rotation"
    assert answer["escalation"] == [
        {
            "position": 1,
            "timeout_seconds": 25,
            "is_fallback": False,
            "contacts": [
                {"engineer": "Anna", "kind": "sip", "address": ANNA_SIP},
                {"engineer": "Anna", "kind": "phone", "address": ANNA_PHONE},
            ],
        },
        {"position": 2, "timeout_seconds": 25, "is_fallback": False, "contacts": [{"engineer": "Bram", "kind": "phone", "address": BRAM_PHONE}]},
    ]
    # Seven days from Wednesday 03:00: Anna/Bram until Monday's hand-over, then Bram/Cees.
    assert [(s["engineer"], s["role"], s["starts_at"], s["ends_at"], s["source"]) for s in answer["shifts"]] == [
        ("Anna", "primary", utc("2026-01-07T03:00"), utc("2026-01-12T09:00"), "rotation"),
        ("Bram", "secondary", utc("2026-01-07T03:00"), utc("2026-01-12T09:00"), "rotation"),
        ("Bram", "primary", utc("2026-01-12T09:00"), utc("2026-01-14T03:00"), "rotation"),
        ("Cees", "secondary", utc("2026-01-12T09:00"), utc("2026-01-14T03:00"), "rotation"),
    ]
    assert answer["gaps"] == []


def test_oncall_days_sets_how_far_the_shifts_reach(nachtdienst):
    set_up(nachtdienst)
    answer = oncall(nachtdienst, "2026-01-07T03:00", "--days", "21")
    primaries = [s["engineer"] for s in answer["shifts"] if s["role"] == "primary"]
    assert primaries == ["Anna", "Bram", "Cees", "Anna"]
    assert max(s["ends_at"] for s in answer["shifts"]) == utc("2026-01-28T03:00")


def test_oncall_for_humans_names_who_is_on_duty_and_what_a_call_rings(nachtdienst):
    set_up(nachtdienst)
    shown = ok(nachtdienst("oncall", "--at", "2026-01-07T03:00"))
    assert "primary:   Anna (rotation)" in shown
    assert "secondary: Bram (rotation)" in shown
    assert f"step 1 (25 s): Anna {ANNA_SIP}, Anna {ANNA_PHONE}" in shown
    assert f"step 2 (25 s): Bram {BRAM_PHONE}" in shown


def test_oncall_without_at_answers_for_now(nachtdienst):
    set_up(nachtdienst, start=date(2020, 1, 6))
    before = datetime.now(UTC)
    answer = json_of(nachtdienst("oncall", "--json"))
    assert before <= datetime.fromisoformat(answer["at"]) <= datetime.now(UTC)
    assert answer["source"] == "rotation"


@pytest.mark.parametrize(
    ("handover", "start", "last_moment_before", "handover_moment"),
    [
        # Midnight: Sunday 23:59:59 still the old week, Monday 00:00 the new one.
        ("mon 00:00", date(2026, 1, 5), "2026-01-11T23:59:59", "2026-01-12T00:00"),
        # One minute before midnight, on a Sunday.
        ("sun 23:59", date(2026, 1, 4), "2026-01-11T23:58:59", "2026-01-11T23:59"),
        # The usual Monday morning.
        ("mon 09:00", date(2026, 1, 5), "2026-01-12T08:59:59", "2026-01-12T09:00"),
    ],
)
def test_at_the_hand_over_instant_the_next_engineer_is_on(nachtdienst, handover, start, last_moment_before, handover_moment):
    set_up(nachtdienst, handover=handover, start=start)
    assert on_duty(oncall(nachtdienst, last_moment_before)) == ("Anna", "Bram", "rotation")
    assert on_duty(oncall(nachtdienst, handover_moment)) == ("Bram", "Cees", "rotation")


@pytest.mark.parametrize(
    ("handover", "start", "day", "local_handover", "utc_handover"),
    [
        # Last Sunday of March: clocks go 02:00 CET -> 03:00 CEST.
        ("mon 09:00", date(2026, 1, 5), date(2026, 3, 30), "2026-03-30T09:00", "2026-03-30T07:00:00+00:00"),
        ("sun 09:00", date(2026, 1, 4), date(2026, 3, 29), "2026-03-29T09:00", "2026-03-29T07:00:00+00:00"),
        # 02:30 does not exist that night: taken an hour later, 03:30 CEST.
        ("sun 02:30", date(2026, 1, 4), date(2026, 3, 29), "2026-03-29T03:30+02:00", "2026-03-29T01:30:00+00:00"),
        # Last Sunday of October: clocks go 03:00 CEST -> 02:00 CET.
        ("mon 09:00", date(2026, 1, 5), date(2026, 10, 26), "2026-10-26T09:00", "2026-10-26T08:00:00+00:00"),
        ("sun 09:00", date(2026, 1, 4), date(2026, 10, 25), "2026-10-25T09:00", "2026-10-25T08:00:00+00:00"),
        # 02:30 happens twice that night: the first one, still CEST.
        ("sun 02:30", date(2026, 1, 4), date(2026, 10, 25), "2026-10-25T02:30+02:00", "2026-10-25T00:30:00+00:00"),
    ],
)
def test_hand_over_across_dst_is_at_the_same_local_time(nachtdienst, handover, start, day, local_handover, utc_handover):
    set_up(nachtdienst, handover=handover, start=start)
    previous = date.fromordinal(day.toordinal() - 7)
    one_second_before = datetime.fromisoformat(utc_handover).replace(second=0).timestamp() - 1
    before = datetime.fromtimestamp(one_second_before, UTC).isoformat()

    assert oncall(nachtdienst, before)["primary"]["name"] == turn(PRIMARIES, start, previous)
    at_handover = oncall(nachtdienst, local_handover)
    assert at_handover["at"] == utc_handover
    assert at_handover["primary"]["name"] == turn(PRIMARIES, start, day)
    assert at_handover["secondary"]["name"] == turn(SECONDARIES, start, day)
    # The week before ends exactly there in the shifts, too.
    shifts = oncall(nachtdienst, before, "--days", "1")["shifts"]
    assert [s["ends_at"] for s in shifts if s["starts_at"] == before] == [utc_handover, utc_handover]


def test_a_week_across_the_march_dst_change_lasts_167_hours(nachtdienst):
    set_up(nachtdienst)
    shifts = oncall(nachtdienst, "2026-03-23T09:00", "--days", "7")["shifts"]
    [week] = [s for s in shifts if s["role"] == "primary"]
    length = datetime.fromisoformat(week["ends_at"]) - datetime.fromisoformat(week["starts_at"])
    assert length.total_seconds() == 167 * 3600
    assert week["engineer"] == turn(PRIMARIES, START, date(2026, 3, 23))


# --- overrides, swaps, absences --------------------------------------------------------------


def test_during_an_override_its_engineer_is_rung_and_the_rotation_resumes_at_its_end(nachtdienst):
    set_up(nachtdienst)
    made = ok(nachtdienst("roster", "override", "Cees", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00", "--note", "Anna at a wedding"))
    assert made.startswith("override ")

    during = oncall(nachtdienst, "2026-01-07T22:00")
    assert on_duty(during) == ("Cees", "Bram", "override")
    assert during["secondary_source"] == "rotation"
    assert rung(during) == [(1, False, [CEES_SIP]), (2, False, [BRAM_PHONE])]
    assert ("Cees", "primary", utc("2026-01-07T22:00"), utc("2026-01-08T08:00"), "override") in [
        (s["engineer"], s["role"], s["starts_at"], s["ends_at"], s["source"]) for s in during["shifts"]
    ]
    assert on_duty(oncall(nachtdienst, "2026-01-08T08:00")) == ("Anna", "Bram", "rotation")
    [listed] = json_of(nachtdienst("roster", "overrides", "--all", "--json"))
    assert listed == {
        "id": listed["id"],
        "engineer": "Cees",
        "engineer_id": listed["engineer_id"],
        "role": "primary",
        "starts_at": utc("2026-01-07T18:00"),
        "ends_at": utc("2026-01-08T08:00"),
        "note": "Anna at a wedding",
    }


def test_a_secondary_override_leaves_the_primary_alone(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("roster", "override", "Cees", "--from", "2026-01-07T00:00", "--to", "2026-01-08T00:00", "--role", "secondary"))
    answer = oncall(nachtdienst, "2026-01-07T12:00")
    assert on_duty(answer) == ("Anna", "Cees", "rotation")
    assert answer["secondary_source"] == "override"


def test_an_override_is_listed_until_removed_and_then_the_rotation_applies(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("roster", "override", "Cees", "--from", "2099-01-07T18:00", "--to", "2099-01-08T08:00"))
    [current] = json_of(nachtdienst("roster", "overrides", "--json"))
    refused = nachtdienst("roster", "unoverride", str(current["id"]), input="n\n")
    assert refused.exit_code == 1
    assert len(json_of(nachtdienst("roster", "overrides", "--json"))) == 1

    ok(nachtdienst("roster", "unoverride", str(current["id"]), input="y\n"))
    assert json_of(nachtdienst("roster", "overrides", "--all", "--json")) == []
    again = nachtdienst("roster", "unoverride", str(current["id"]), "--yes")
    assert again.exit_code == 1
    assert again.stderr == f"error: override {current['id']}: no such override (see `nachtdienst roster overrides --all`)\n"


def test_overrides_that_are_over_are_listed_with_all_only(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("roster", "override", "Cees", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00"))
    assert json_of(nachtdienst("roster", "overrides", "--json")) == []
    assert len(json_of(nachtdienst("roster", "overrides", "--all", "--json"))) == 1
    assert "Cees" in ok(nachtdienst("roster", "overrides", "--all"))
    assert ok(nachtdienst("roster", "overrides")) == "no overrides\n"


def test_a_swap_exchanges_two_rotation_weeks(nachtdienst):
    set_up(nachtdienst)
    swapped = ok(nachtdienst("roster", "swap", "Anna", "Bram", "--week-of", "2026-01-07"))
    assert "Bram takes Anna's primary week" in swapped
    # Anna's week 0 goes to Bram; Anna takes Bram's next turn, week 1.
    assert on_duty(oncall(nachtdienst, "2026-01-07T12:00"))[:1] == ("Bram",)
    assert oncall(nachtdienst, "2026-01-14T12:00")["primary"]["name"] == "Anna"
    assert oncall(nachtdienst, "2026-01-21T12:00")["primary"]["name"] == "Cees"
    overrides = json_of(nachtdienst("roster", "overrides", "--all", "--json"))
    assert [(o["engineer"], o["starts_at"], o["ends_at"]) for o in overrides] == [
        ("Bram", utc("2026-01-05T09:00"), utc("2026-01-12T09:00")),
        ("Anna", utc("2026-01-12T09:00"), utc("2026-01-19T09:00")),
    ]
    assert all(o["note"] == "swap Anna ↔ Bram" for o in overrides)


def test_a_swap_with_a_chosen_week_and_one_that_is_not_the_engineers(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("roster", "swap", "Anna", "Cees", "--week-of", "2026-01-05", "--and-week-of", "2026-01-22"))
    assert oncall(nachtdienst, "2026-01-05T12:00")["primary"]["name"] == "Cees"
    assert oncall(nachtdienst, "2026-01-22T12:00")["primary"]["name"] == "Anna"

    wrong = nachtdienst("roster", "swap", "Anna", "Bram", "--week-of", "2026-01-14")
    assert wrong.exit_code == 1
    assert wrong.stderr == "error: --week-of 2026-01-14: 'Anna' has no primary turn that week (Bram has)\n"
    assert len(json_of(nachtdienst("roster", "overrides", "--all", "--json"))) == 2


def test_an_inactive_primary_is_a_gap_and_the_secondary_is_rung_first(nachtdienst):
    set_up(nachtdienst)
    deactivated = nachtdienst("engineers", "edit", "Anna", "--inactive")
    assert deactivated.exit_code == 0, deactivated.output
    assert "warning: Anna is inactive but has primary turn 1 in the rotation" in deactivated.stderr

    answer = oncall(nachtdienst, "2026-01-07T03:00")
    assert on_duty(answer) == (None, "Bram", "gap")
    assert rung(answer) == [(2, False, [BRAM_PHONE])]
    assert answer["gaps"][0] == {"role": "primary", "starts_at": utc("2026-01-07T03:00"), "ends_at": utc("2026-01-12T09:00")}
    # Anna is the secondary in week 2: a gap there too, and Cees (primary) alone is rung.
    assert rung(oncall(nachtdienst, "2026-01-21T03:00")) == [(1, False, [CEES_SIP])]


def test_an_inactive_engineers_override_is_a_gap_ringing_the_fallback(nachtdienst):
    set_up(nachtdienst, secondaries=None)
    ok(nachtdienst("roster", "override", "Bram", "--from", "2026-01-07T00:00", "--to", "2026-01-08T00:00"))
    ok(nachtdienst("engineers", "edit", "Bram", "--inactive"))
    answer = oncall(nachtdienst, "2026-01-07T12:00")
    assert on_duty(answer) == (None, None, "gap")
    # Every active engineer's first contact; never Bram, who is inactive.
    assert rung(answer) == [(1, True, [ANNA_SIP, CEES_SIP])]
    assert [c["engineer"] for c in answer["escalation"][0]["contacts"]] == ["Anna", "Cees"]


def test_in_a_gap_the_fallback_is_rung_never_nobody(nachtdienst):
    set_up(nachtdienst)
    answer = oncall(nachtdienst, "2026-01-01T03:00")  # before the rotation begins
    assert on_duty(answer) == (None, None, "gap")
    assert answer["escalation"] == [
        {
            "position": 1,
            "timeout_seconds": 25,
            "is_fallback": True,
            "contacts": [
                {"engineer": "Anna", "kind": "sip", "address": ANNA_SIP},
                {"engineer": "Bram", "kind": "phone", "address": BRAM_PHONE},
                {"engineer": "Cees", "kind": "sip", "address": CEES_SIP},
            ],
        }
    ]
    assert {g["role"] for g in answer["gaps"]} == {"primary", "secondary"}


def test_a_configured_default_contact_and_step_timeout_are_used(nachtdienst, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_ROSTER__DEFAULT_CONTACT", "020 123 4567")
    monkeypatch.setenv("NACHTDIENST_ROSTER__STEP_TIMEOUT", "40")
    set_up(nachtdienst)
    in_gap = oncall(nachtdienst, "2026-01-01T03:00")
    assert in_gap["escalation"] == [
        {"position": 1, "timeout_seconds": 40, "is_fallback": True, "contacts": [{"engineer": None, "kind": "phone", "address": "+31201234567"}]}
    ]
    assert [step["timeout_seconds"] for step in oncall(nachtdienst, "2026-01-07T03:00")["escalation"]] == [40, 40]


def test_an_unusable_default_contact_is_one_clear_error(nachtdienst, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_ROSTER__DEFAULT_CONTACT", "12ab")
    set_up(nachtdienst)
    refused = nachtdienst("oncall", "--json", "--at", "2026-01-01T03:00")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: roster.default_contact is unusable: roster.default_contact: '12ab'")
    assert refused.stderr.count("\n") == 1


def test_with_no_engineers_at_all_oncall_says_nobody_can_be_rung(nachtdienst):
    refused = nachtdienst("oncall", "--json")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "error: nobody to ring in a gap of the roster: roster.default_contact is unset and no active engineer has a contact; "
        "add an engineer (`nachtdienst engineers add`) or set roster.default_contact\n"
    )


def test_with_only_a_default_contact_oncall_rings_it(nachtdienst, monkeypatch):
    monkeypatch.setenv("NACHTDIENST_ROSTER__DEFAULT_CONTACT", "sip:desk@192.0.2.99")
    answer = oncall(nachtdienst, "2026-01-07T03:00")
    assert rung(answer) == [(1, True, ["sip:desk@192.0.2.99"])]
    assert answer["shifts"] == []


# --- roster set / show -------------------------------------------------------------------------


def test_roster_show_lists_the_rotation_overrides_and_shifts(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("roster", "override", "Cees", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00"))
    shown = roster_json(nachtdienst, "--from", "2026-01-06T00:00", "--days", "14")
    assert shown["from"] == utc("2026-01-06T00:00")
    assert shown["to"] == utc("2026-01-20T00:00")
    assert shown["rotation"] == {
        "name": "default",
        "start_date": "2026-01-05",
        "handover": "mon 09:00",
        "handover_weekday": 0,
        "handover_time": "09:00",
        "timezone": "Europe/Amsterdam",
        "primaries": [{"id": p["id"], "name": name, "active": True} for p, name in zip(shown["rotation"]["primaries"], PRIMARIES)],
        "secondaries": [{"id": s["id"], "name": name, "active": True} for s, name in zip(shown["rotation"]["secondaries"], SECONDARIES)],
    }
    assert [o["engineer"] for o in shown["overrides"]] == ["Cees"]
    primaries = [(s["engineer"], s["source"]) for s in shown["shifts"] if s["role"] == "primary"]
    assert primaries == [("Anna", "rotation"), ("Cees", "override"), ("Anna", "rotation"), ("Bram", "rotation"), ("Cees", "rotation")]
    assert shown["gaps"] == []

    human = ok(nachtdienst("roster", "show", "--from", "2026-01-06T00:00"))
    assert "rotation from 2026-01-05, hand-over mon 09:00 (Europe/Amsterdam)" in human
    assert "primary:   Anna → Bram → Cees" in human
    assert "  primary   Tue 2026-01-06 00:00 CET – Wed 2026-01-07 18:00 CET  Anna (rotation)\n" in human
    assert "Wed 2026-01-07 18:00 CET – Thu 2026-01-08 08:00 CET  Cees (override)" in human
    assert "overrides:\n  #" in human


def test_roster_show_with_nothing_set_up_is_an_empty_roster_and_a_gap(nachtdienst):
    shown = roster_json(nachtdienst, "--from", "2026-01-06T00:00", "--days", "1")
    assert shown["rotation"] is None
    assert (shown["overrides"], shown["shifts"]) == ([], [])
    assert shown["gaps"] == [
        {"role": role, "starts_at": utc("2026-01-06T00:00"), "ends_at": utc("2026-01-07T00:00")} for role in ("primary", "secondary")
    ]
    assert "no rotation yet" in ok(nachtdienst("roster", "show"))


def test_replacing_the_rotation_asks_first(nachtdienst):
    set_up(nachtdienst)
    declined = nachtdienst("roster", "set", "--start", "2026-02-02", "--primary", "Cees", input="n\n")
    assert declined.exit_code == 1
    assert "Replace the rotation from 2026-01-05 (primary Anna → Bram → Cees)?" in declined.stdout
    assert roster_json(nachtdienst)["rotation"]["start_date"] == "2026-01-05"

    ok(nachtdienst("roster", "set", "--start", "2026-02-02", "--primary", "Cees,Anna", "--handover", "Friday 17:30", input="y\n"))
    rotation = roster_json(nachtdienst)["rotation"]
    assert (rotation["start_date"], rotation["handover"]) == ("2026-02-02", "fri 17:30")
    assert [p["name"] for p in rotation["primaries"]] == ["Cees", "Anna"]
    assert rotation["secondaries"] == []

    ok(nachtdienst("roster", "set", "--start", "2026-03-02", "--primary", "Bram", "--yes"))
    assert roster_json(nachtdienst)["rotation"]["primaries"][0]["name"] == "Bram"


def test_an_engineer_may_take_several_turns(nachtdienst):
    add_team(nachtdienst)
    ok(nachtdienst("roster", "set", "--start", "2026-01-05", "--primary", "Anna,Bram,Anna"))
    assert [oncall(nachtdienst, f"2026-01-{day:02d}T12:00")["primary"]["name"] for day in (6, 13, 20, 27)] == ["Anna", "Bram", "Anna", "Anna"]


# --- bad input: one clear line, non-zero, nothing changed ---------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--primary", "Anna,Zoe,Xavier"], "error: --primary: no engineer named 'Zoe', 'Xavier' (known: Anna, Bram, Cees)\n"),
        (["--primary", "Anna", "--secondary", "Zoe"], "error: --secondary: no engineer named 'Zoe' (known: Anna, Bram, Cees)\n"),
        (["--primary", " , "], "error: --primary: name at least one engineer\n"),
        (["--primary", "Anna", "--handover", "mon 25:00"], "error: --handover 'mon 25:00': 25:00 is not a time of day (00:00 to 23:59)\n"),
        (["--primary", "Anna", "--handover", "someday 09:00"], "error: --handover 'someday 09:00': not a weekday and time like 'mon 09:00'\n"),
        (["--primary", "Anna", "--handover", "09:00"], "error: --handover '09:00': not a weekday and time like 'mon 09:00'\n"),
        (["--primary", "Anna", "--start", "5 January"], "error: --start '5 January': not a date like 2026-03-02\n"),
    ],
)
def test_roster_set_refuses_bad_input_naming_it(nachtdienst, args, message):
    add_team(nachtdienst)
    full = ["roster", "set", *(["--start", "2026-01-05"] if "--start" not in args else []), *args]
    refused = nachtdienst(*full)
    assert refused.exit_code == 1
    assert refused.stderr == message
    assert roster_json(nachtdienst)["rotation"] is None


def test_an_inactive_engineer_cannot_join_the_rotation_or_take_an_override(nachtdienst):
    add_team(nachtdienst)
    ok(nachtdienst("engineers", "edit", "Bram", "--inactive"))
    refused = nachtdienst("roster", "set", "--start", "2026-01-05", "--primary", "Anna,Bram")
    assert refused.exit_code == 1
    assert refused.stderr == "error: --primary: 'Bram' inactive; an inactive engineer cannot take turns\n"
    override = nachtdienst("roster", "override", "Bram", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00")
    assert override.exit_code == 1
    assert override.stderr == "error: engineer 'Bram': the engineer is inactive (`nachtdienst engineers edit 'Bram' --active` first)\n"
    assert roster_json(nachtdienst)["rotation"] is None
    assert json_of(nachtdienst("roster", "overrides", "--all", "--json")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Zoe", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00"], "error: engineer 'Zoe': no such engineer (known: Anna, Bram, Cees)\n"),
        (["Anna", "--from", "2026-01-08T08:00", "--to", "2026-01-07T18:00"], "error: --to '2026-01-07T18:00': not after --from '2026-01-08T08:00'\n"),
        (["Anna", "--from", "2026-01-08T08:00", "--to", "2026-01-08T08:00"], "error: --to '2026-01-08T08:00': not after --from '2026-01-08T08:00'\n"),
        (
            ["Anna", "--from", "next tuesday", "--to", "2026-01-08T08:00"],
            "error: --from 'next tuesday': not an ISO 8601 date/time like 2026-12-24T18:00 or 2026-12-24T18:00+01:00\n",
        ),
        (["Anna", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00", "--role", "boss"], "error: --role 'boss': one of primary, secondary\n"),
    ],
)
def test_roster_override_refuses_bad_input_naming_it(nachtdienst, args, message):
    add_team(nachtdienst)
    refused = nachtdienst("roster", "override", *args)
    assert refused.exit_code == 1
    assert refused.stderr == message
    assert json_of(nachtdienst("roster", "overrides", "--all", "--json")) == []


def test_oncall_and_show_refuse_a_garbage_moment(nachtdienst):
    set_up(nachtdienst)
    refused = nachtdienst("oncall", "--json", "--at", "2026-13-45T99:00")
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert refused.stderr.startswith("error: --at '2026-13-45T99:00': not an ISO 8601 date/time")
    shown = nachtdienst("roster", "show", "--from", "yesterday")
    assert shown.exit_code == 1
    assert shown.stderr.startswith("error: --from 'yesterday':")


def test_a_swap_refuses_unknown_names_bad_dates_and_a_roster_without_rotation(nachtdienst):
    add_team(nachtdienst)
    no_rotation = nachtdienst("roster", "swap", "Anna", "Bram", "--week-of", "2026-01-07")
    assert no_rotation.stderr == "error: no rotation to swap weeks in (`nachtdienst roster set` first)\n"
    ok(nachtdienst("roster", "set", "--start", "2026-01-05", "--primary", "Anna,Bram"))
    for args, message in [
        (["Anna", "Zoe", "--week-of", "2026-01-07"], "error: engineer 'Zoe': no such engineer (known: Anna, Bram, Cees)\n"),
        (["Anna", "Bram", "--week-of", "7-1-2026"], "error: --week-of '7-1-2026': not a date like 2026-03-02\n"),
        (["Anna", "Bram", "--week-of", "2025-12-31"], "error: --week-of 2025-12-31: before the rotation begins (2026-01-05)\n"),
        (["Anna", "Anna", "--week-of", "2026-01-07"], "error: 'Anna' cannot swap with themselves\n"),
        (["Anna", "Cees", "--week-of", "2026-01-07"], "error: 'Cees' takes no primary turns in the rotation; use `nachtdienst roster override` instead\n"),
    ]:
        refused = nachtdienst("roster", "swap", *args)
        assert (refused.exit_code, refused.stderr) == (1, message)
    assert json_of(nachtdienst("roster", "overrides", "--all", "--json")) == []


# --- roster check ------------------------------------------------------------------------------


def test_check_of_a_covered_roster_exits_0(nachtdienst):
    set_up(nachtdienst)
    checked = nachtdienst("roster", "check", "--from", "2026-01-05T09:00")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == "no primary gaps from Mon 2026-01-05 09:00 CET to Mon 2026-02-02 09:00 CET\n"
    report = json_exiting(nachtdienst("roster", "check", "--from", "2026-01-05T09:00", "--json"), 0)
    assert report == {
        "from": utc("2026-01-05T09:00"),
        "to": utc("2026-02-02T09:00"),
        "ok": True,
        "fallback": [
            {"engineer": "Anna", "kind": "sip", "address": ANNA_SIP},
            {"engineer": "Bram", "kind": "phone", "address": BRAM_PHONE},
            {"engineer": "Cees", "kind": "sip", "address": CEES_SIP},
        ],
        "gaps": [],
        "warnings": [],
    }


def test_check_with_secondary_gaps_only_exits_0_and_lists_them(nachtdienst):
    set_up(nachtdienst, secondaries=None)
    report = json_exiting(nachtdienst("roster", "check", "--from", "2026-01-05T09:00", "--days", "7", "--json"), 0)
    assert report["ok"] is True
    [gap] = report["gaps"]
    assert (gap["role"], gap["starts_at"], gap["ends_at"]) == ("secondary", utc("2026-01-05T09:00"), utc("2026-01-12T09:00"))
    # In a secondary gap the primary is still rung (and the fallback is not).
    assert [[step["is_fallback"] for step in period["escalation"]] for period in gap["rung_instead"]] == [[False]]


def test_check_reports_primary_gaps_with_who_is_rung_instead_and_exits_1(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("engineers", "edit", "Anna", "--inactive"))
    checked = nachtdienst("roster", "check", "--from", "2026-01-01T00:00", "--days", "14", "--json")
    report = json_exiting(checked, 1)
    assert report["ok"] is False
    assert report["warnings"] == [
        "Anna is inactive but has primary turn 1 in the rotation",
        "Anna is inactive but has secondary turn 3 in the rotation",
    ]
    [gap] = [g for g in report["gaps"] if g["role"] == "primary"]
    # Before the rotation and in Anna's week, one gap; nobody rostered, then the secondary.
    assert (gap["starts_at"], gap["ends_at"]) == (utc("2026-01-01T00:00"), utc("2026-01-12T09:00"))
    assert [(p["starts_at"], p["ends_at"], rung({"escalation": p["escalation"]})) for p in gap["rung_instead"]] == [
        (utc("2026-01-01T00:00"), utc("2026-01-05T09:00"), [(1, True, [BRAM_PHONE, CEES_SIP])]),
        (utc("2026-01-05T09:00"), utc("2026-01-12T09:00"), [(2, False, [BRAM_PHONE])]),
    ]

    human = nachtdienst("roster", "check", "--from", "2026-01-01T00:00", "--days", "14")
    assert human.exit_code == 1
    assert "warning: Anna is inactive but has primary turn 1 in the rotation" in human.stdout
    assert "primary gap: Thu 2026-01-01 00:00 CET – Mon 2026-01-12 09:00 CET" in human.stdout
    assert f"a call rings fallback (25 s): Bram {BRAM_PHONE}, Cees {CEES_SIP}" in human.stdout
    assert f"a call rings step 2 (25 s): Bram {BRAM_PHONE}" in human.stdout
    assert human.stdout.endswith("1 primary gap(s) from Thu 2026-01-01 00:00 CET to Thu 2026-01-15 00:00 CET\n")


def test_check_exits_2_when_a_gap_would_ring_nobody(nachtdienst):
    checked = nachtdienst("roster", "check", "--json")
    assert checked.exit_code == 2
    assert checked.stdout == ""
    assert checked.stderr.startswith("error: nobody to ring in a gap of the roster")
    assert "would reach nobody" in checked.stderr


def test_check_exits_2_on_bad_input(nachtdienst):
    set_up(nachtdienst)
    refused = nachtdienst("roster", "check", "--from", "soon")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --from 'soon':")
    assert nachtdienst("roster", "check", "--days", "0").exit_code == 2


# --- engineers edit / remove -------------------------------------------------------------------


def engineer(nachtdienst, name: str) -> dict:
    [found] = [e for e in json_of(nachtdienst("engineers", "list", "--json")) if e["name"] == name]
    return found


def test_edit_renames_changes_email_and_replaces_contacts(nachtdienst):
    add_team(nachtdienst)
    edited = nachtdienst("engineers", "edit", "Anna", "--name", "Anna de Vries", "--email", "anna@vries.example", "--contact", "0612345678", "--contact", "sip:anna@192.0.2.20")
    assert edited.exit_code == 0, edited.output
    assert edited.stdout == "engineer 'Anna de Vries' updated\n"
    anna = engineer(nachtdienst, "Anna de Vries")
    assert anna["email"] == "anna@vries.example"
    # The phone number was a contact before; replaced lists may reuse an address.
    assert anna["contacts"] == [
        {"kind": "phone", "address": ANNA_PHONE, "position": 1},
        {"kind": "sip", "address": "sip:anna@192.0.2.20", "position": 2},
    ]
    ok(nachtdienst("engineers", "edit", "Anna de Vries", "--email", ""))
    assert engineer(nachtdienst, "Anna de Vries")["email"] is None


def test_a_contact_that_stays_keeps_its_endpoint_when_the_list_is_edited(nachtdienst, settings):
    def contact_ids() -> dict[str, int]:
        with open_database(settings)() as session:
            return {c.address: c.id for c in session.scalars(select(EngineerContact))}

    ok(nachtdienst("engineers", "add", "Eva", "--contact", "sip:eva@192.0.2.30"))
    before = contact_ids()["sip:eva@192.0.2.30"]
    ok(nachtdienst("engineers", "edit", "Eva", "--contact", "0612345679", "--contact", "sip:eva@192.0.2.30"))
    assert contact_ids()["sip:eva@192.0.2.30"] == before  # so PJSIP/engineer-<id> stays the same
    assert [c["address"] for c in engineer(nachtdienst, "Eva")["contacts"]] == ["+31612345679", "sip:eva@192.0.2.30"]


def test_edit_toggles_active_and_the_roster_follows(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("engineers", "edit", "Anna", "--inactive"))
    assert engineer(nachtdienst, "Anna")["active"] is False
    assert oncall(nachtdienst, "2026-01-07T03:00")["primary"] is None
    ok(nachtdienst("engineers", "edit", "Anna", "--active"))
    assert oncall(nachtdienst, "2026-01-07T03:00")["primary"]["name"] == "Anna"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Zoe", "--email", "z@example.com"], "error: engineer 'Zoe': no such engineer (known: Anna, Bram, Cees)\n"),
        (["Anna"], "error: nothing to change: give --name, --email, --contact, --active or --inactive\n"),
        (["Anna", "--name", "Bram"], "error: --name 'Bram': an engineer with this name exists already\n"),
        (["Anna", "--name", " "], "error: --name is empty\n"),
        (["Anna", "--email", "anna"], "error: --email 'anna': not an e-mail address\n"),
        (["Anna", "--contact", "sip:anna"], "error: --contact 'sip:anna': not a SIP URI like sip:user@host:port\n"),
        (["Anna", "--contact", "0612345678", "--contact", "+31612345678"], "error: the same --contact is given twice\n"),
    ],
)
def test_edit_refuses_bad_input_and_changes_nothing(nachtdienst, args, message):
    add_team(nachtdienst)
    before = json_of(nachtdienst("engineers", "list", "--json"))
    refused = nachtdienst("engineers", "edit", *args)
    assert refused.exit_code == 1
    assert refused.stderr == message
    assert json_of(nachtdienst("engineers", "list", "--json")) == before


def test_remove_refuses_an_engineer_with_duties_naming_them(nachtdienst):
    set_up(nachtdienst)
    ok(nachtdienst("roster", "override", "Cees", "--from", "2099-01-07T18:00", "--to", "2099-01-08T08:00"))
    [override] = json_of(nachtdienst("roster", "overrides", "--json"))
    refused = nachtdienst("engineers", "remove", "Cees", "--yes")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: engineer 'Cees' still has primary turn 3 in the rotation; secondary turn 2 in the rotation; "
        f"override(s) not over yet: {override['id']}: change the roster first\n"
    )
    assert len(json_of(nachtdienst("engineers", "list", "--json"))) == 3


def test_remove_asks_and_takes_past_overrides_along(nachtdienst):
    add_team(nachtdienst)
    ok(nachtdienst("roster", "set", "--start", "2026-01-05", "--primary", "Anna,Bram"))
    ok(nachtdienst("roster", "override", "Cees", "--from", "2026-01-07T18:00", "--to", "2026-01-08T08:00"))
    declined = nachtdienst("engineers", "remove", "Cees", input="n\n")
    assert declined.exit_code == 1
    assert len(json_of(nachtdienst("engineers", "list", "--json"))) == 3

    ok(nachtdienst("engineers", "remove", "Cees", input="y\n"))
    assert [e["name"] for e in json_of(nachtdienst("engineers", "list", "--json"))] == ["Anna", "Bram"]
    assert json_of(nachtdienst("roster", "overrides", "--all", "--json")) == []
    missing = nachtdienst("engineers", "remove", "Cees", "--yes")
    assert (missing.exit_code, missing.stderr) == (1, "error: engineer 'Cees': no such engineer (known: Anna, Bram)\n")
