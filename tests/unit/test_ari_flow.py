"""The call flow of PRODUCT.md §1 against a fake PBX (tests/unit/fake_pbx.py): each branch, and
that every call ends with exactly one finished record however it ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ari_app.desk import NoOneToRing
from core.line_desk import OpenMessage
from core.office_hours import OfficeStatus
from tests.unit.fake_pbx import (
    EVA,
    NOW,
    Message,
    Party,
    Reaction,
    Phone,
    Switchboard,
    customer,
    hang_up,
    press,
    step,
)

CALLER = "0612345678"
CALLER_E164 = "+31612345678"
OFFICE_SIP = "sip:office@127.0.0.1:5090"
EVA_SIP = "sip:eva@127.0.0.1:5080"


@pytest.fixture
async def switch():
    board = Switchboard()
    yield board
    await board.close()


def known_caller(switch: Switchboard, **details) -> None:
    switch.desk.by_phone[CALLER_E164] = customer(**details)


def played(switch: Switchboard, record) -> list[str]:
    return switch.pbx.played(record.channel_id)


def hung_up_by_app(switch: Switchboard, record) -> bool:
    return f"DELETE /channels/{record.channel_id}" in switch.pbx.paths()


# --- 1. office hours -------------------------------------------------------------------------------


def office_open(switch: Switchboard, destination: str | None) -> None:
    switch.desk.office = OfficeStatus(True, "open", None)
    switch.configure(office_destination=destination)


async def test_office_open_transfers_the_caller_to_the_office_destination(switch):
    office_open(switch, OFFICE_SIP)
    switch.pbx.phones[OFFICE_SIP] = Phone(0.01, party=Party.of(hang_up("bridged", after=0.02)))

    record = await switch.call()

    assert record.outcome == ("office_hours", f"transferred to {OFFICE_SIP}", None)
    assert record.step_names()[:4] == ["stasis_start", "answered", "office_open", "transferred"]
    assert played(switch, record) == ["office_open"]
    [originate] = switch.pbx.originated()
    assert originate.params["endpoint"] == f"PJSIP/engineer-phone/{OFFICE_SIP}"
    leg = switch.pbx.leg_to(OFFICE_SIP)
    [add] = switch.pbx.requests_to("POST", "/bridges/*/addChannel")
    assert add.params["channel"] == [record.channel_id, leg.id]
    # The office hung up: the caller is hung up too, the bridge removed; nobody asked about customers.
    assert hung_up_by_app(switch, record) and len(switch.pbx.deleted_bridges) == 1
    assert switch.desk.questions() == ["office_status"]


async def test_office_open_without_a_destination_reads_out_the_office_number(switch):
    office_open(switch, None)

    record = await switch.call()

    assert record.outcome == ("office_hours", "told the office number", None)
    assert played(switch, record) == ["office_open_call_us"]
    assert switch.pbx.originated() == [] and hung_up_by_app(switch, record)


async def test_office_destination_that_does_not_answer_gives_the_office_number(switch):
    office_open(switch, OFFICE_SIP)
    switch.pbx.phones[OFFICE_SIP] = Phone.never_answers()
    switch.pbx.ring_scale = 0.002  # the office rings 30 s: 0.06 s here

    record = await switch.call()

    assert record.outcome == ("office_hours", "told the office number", None)
    assert "office_unreachable" in record.step_names()
    assert played(switch, record) == ["office_open", "office_open_call_us"]
    # The caller heard ringing while the office was rung, and it stopped before the number.
    assert [str(r) for r in switch.pbx.requests if r.path.endswith("/ring")] == [
        f"POST /channels/{record.channel_id}/ring",
        f"DELETE /channels/{record.channel_id}/ring",
    ]


async def test_office_destination_number_is_rung_over_the_trunk(switch):
    office_open(switch, "020 123 4567")
    switch.pbx.phones["+31201234567"] = Phone.busy()

    record = await switch.call()

    [originate] = switch.pbx.originated()
    assert originate.params["endpoint"] == "PJSIP/+31201234567@trunk"
    assert record.outcome == ("office_hours", "told the office number", None)


async def test_office_destination_number_without_a_trunk_is_not_rung(switch):
    office_open(switch, "0201234567")
    switch.configure(trunk_available=False)

    record = await switch.call()

    assert switch.pbx.originated() == []
    assert record.outcome == ("office_hours", "told the office number", None)


async def test_office_destination_asterisk_refuses_to_ring_gives_the_office_number(switch):
    office_open(switch, OFFICE_SIP)
    switch.pbx.fail("POST", "/channels", status=400, message="Allocation failed")

    record = await switch.call()

    assert record.outcome == ("office_hours", "told the office number", None)
    # The ringing the caller heard meanwhile stops before the number is read out.
    caller = f"/channels/{record.channel_id}"
    assert [str(r) for r in switch.pbx.requests if r.path.startswith(caller + "/")] == [
        f"POST {caller}/answer", f"POST {caller}/play", f"POST {caller}/ring", f"DELETE {caller}/ring", f"POST {caller}/play",
    ]  # fmt: skip
    assert played(switch, record) == ["office_open", "office_open_call_us"]


async def test_caller_hanging_up_while_the_office_rings_is_abandoned_and_the_office_leg_hung_up(switch):
    office_open(switch, OFFICE_SIP)
    switch.pbx.phones[OFFICE_SIP] = Phone.never_answers()

    record = await switch.call(Party.of(hang_up("ring", after=0.02)))

    assert record.outcome == ("abandoned", None, "office_open")
    leg = switch.pbx.leg_to(OFFICE_SIP)
    assert f"DELETE /channels/{leg.id}" in switch.pbx.paths()
    assert leg.id not in switch.app.channels


# --- 2. who is calling -----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["0612345678", "+31612345678", "0031612345678", "06-12345678"])
async def test_known_caller_number_identifies_the_customer_in_any_form(switch, number):
    known_caller(switch)

    record = await switch.call(Party.of(hang_up("greeting")), number=number)

    assert ("find_customer_by_phone", CALLER_E164) in switch.desk.asked
    assert record.customer_id == 1
    assert record.detail("identified") == "1001 (Bakkerij Jansen) by caller number"
    assert "enter_customer_number" not in played(switch, record)
    assert record.outcome == ("abandoned", None, "greeting")


async def test_unknown_number_keys_in_the_customer_number(switch):
    switch.desk.by_number["1001"] = customer()

    record = await switch.call(Party.of(press("1001#", "enter_customer_number"), hang_up("greeting")))

    assert ("find_customer_by_phone", CALLER_E164) in switch.desk.asked
    assert ("find_customer_by_number", "1001") in switch.desk.asked
    assert record.customer_id == 1
    assert record.detail("identified") == "1001 (Bakkerij Jansen) by customer number"
    assert played(switch, record)[:2] == ["enter_customer_number", "greeting"]


async def test_withheld_number_is_asked_for_the_customer_number_without_a_phone_lookup(switch):
    switch.desk.by_number["1001"] = customer()

    record = await switch.call(Party.of(press("1001", "enter_customer_number"), hang_up("greeting")), number="anonymous")

    # Without `#` the entry ends when no key follows.
    assert "find_customer_by_phone" not in switch.desk.questions()
    assert ("find_customer_by_number", "1001") in switch.desk.asked
    assert record.customer_id == 1 and record.from_number is None


async def test_customer_number_typed_after_a_wrong_one_identifies_on_the_second_try(switch):
    switch.desk.by_number["1001"] = customer()
    caller = Party.of(
        press("9999#", "enter_customer_number"),
        press("1001#", "enter_customer_number"),
        hang_up("greeting"),
    )

    record = await switch.call(caller)

    assert record.detail("customer_number_unknown") == "try 1: 9999"
    assert record.customer_id == 1
    assert played(switch, record)[:4] == ["enter_customer_number", "customer_number_unknown", "enter_customer_number", "greeting"]


async def test_garbage_keys_three_times_continue_as_unidentified(switch):
    caller = Party.of(
        press("*#", "enter_customer_number"),
        press("AB#", "enter_customer_number"),
        press("12*3#", "enter_customer_number"),
        hang_up("greeting"),
    )

    record = await switch.call(caller)

    invalid = [detail for name, detail, _ in record.steps if name == "customer_number_invalid"]
    assert invalid == ["try 1: '*#'", "try 2: 'AB#'", "try 3: '12*3#'"]
    assert "find_customer_by_number" not in switch.desk.questions()
    assert record.customer_id is None
    assert "unidentified" in record.step_names()
    assert played(switch, record) == [
        "enter_customer_number", "invalid_key",
        "enter_customer_number", "invalid_key",
        "enter_customer_number", "continue_unidentified", "greeting",
    ]  # fmt: skip
    assert record.outcome == ("abandoned", None, "greeting")


async def test_no_keys_at_all_three_times_continue_as_unidentified(switch):
    record = await switch.call(Party.of(hang_up("greeting")))

    assert [name for name in record.step_names() if name.startswith("customer_number")] == ["customer_number_invalid"] * 3
    assert played(switch, record).count("enter_customer_number") == 3
    assert "unidentified" in record.step_names()


async def test_unknown_customer_numbers_three_times_continue_as_unidentified(switch):
    caller = Party.of(press("4242#", "enter_customer_number", times=3), hang_up("greeting"))

    record = await switch.call(caller)

    assert switch.desk.questions().count("find_customer_by_number") == 3
    assert [detail for name, detail, _ in record.steps if name == "customer_number_unknown"] == [
        "try 1: 4242", "try 2: 4242", "try 3: 4242",
    ]  # fmt: skip
    assert record.customer_id is None


async def test_database_unavailable_for_a_keyed_number_stops_asking(switch):
    switch.desk.unavailable = {"find_customer_by_number"}

    record = await switch.call(Party.of(press("1001#", "enter_customer_number", times=None), hang_up("greeting")))

    # Asking again would not help: one try, then on as unidentified.
    assert switch.desk.questions().count("find_customer_by_number") == 1
    assert played(switch, record)[:3] == ["enter_customer_number", "continue_unidentified", "greeting"]
    assert record.customer_id is None


async def test_unidentified_caller_is_refused_when_the_settings_say_so(switch):
    switch.configure(unidentified="refuse")

    record = await switch.call(Party.of(press("4242#", "enter_customer_number", times=3)))

    assert record.outcome == ("blocked", "refused_unidentified", None)
    assert played(switch, record)[-2:] == ["refused_unidentified", "goodbye"]
    assert "continue_unidentified" not in played(switch, record)
    assert switch.pbx.originated() == [] and hung_up_by_app(switch, record)


async def test_database_unavailable_continues_unidentified_without_asking_for_a_number(switch):
    switch.desk.unavailable = True
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.02)])

    record = await switch.call(Party.of(press("1", "greeting")))

    assert record.detail("unidentified") == "database unavailable"
    assert "enter_customer_number" not in played(switch, record)
    # The engineer is still rung (from the plan the desk falls back to).
    assert record.outcome == ("answered", "Eva Engineer", None)


# --- 3. entitlement --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "why"),
    [({"status": "blocked"}, "blocked"), ({"after_hours": False}, "no_after_hours"), ({"status": "blocked", "after_hours": False}, "blocked")],
)
async def test_refused_customer_hears_why_and_nobody_is_rung(switch, details, why):
    known_caller(switch, **details)

    record = await switch.call()

    assert record.outcome == ("blocked", why, None)
    assert record.detail("refused") == why
    assert played(switch, record) == [why, "goodbye"]
    assert switch.pbx.originated() == []
    assert "escalation_plan" not in switch.desk.questions()
    assert hung_up_by_app(switch, record)


async def test_warned_customer_still_gets_through(switch):
    known_caller(switch, status="warned")

    record = await switch.call(Party.of(hang_up("greeting")))

    assert "refused" not in record.step_names() and record.outcome == ("abandoned", None, "greeting")


# --- 4. repeat caller ------------------------------------------------------------------------------

EARLIER = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)  # 02:30 in Amsterdam


async def test_repeat_caller_is_told_the_message_arrived_and_the_call_ends(switch):
    known_caller(switch)
    switch.desk.message = OpenMessage(voicemail_id=7, incident_id=3, recorded_at=EARLIER)

    record = await switch.call()

    assert record.outcome == ("repeat_caller", "message of 02:30 already received", None)
    assert record.detail("repeat_caller") == "message of 02:30"
    assert played(switch, record) == [
        "repeat_caller_before_time", "number_2", "time_hour_word", "number_30", "repeat_caller_after_time", "goodbye",
    ]  # fmt: skip
    assert ("open_message", (1, CALLER_E164, NOW - timedelta(hours=6))) in switch.desk.asked
    assert switch.pbx.originated() == [] and hung_up_by_app(switch, record)


async def test_repeat_caller_pressing_1_adds_to_the_earlier_message(switch):
    known_caller(switch)
    switch.desk.message = OpenMessage(voicemail_id=7, incident_id=3, recorded_at=EARLIER)
    caller = Party.of(press("1", "repeat_caller_after_time"), messages=[Message(seconds=8)])

    record = await switch.call(caller)

    assert record.outcome == ("voicemail", None, None)
    [voicemail] = switch.desk.voicemails
    assert (voicemail["kind"], voicemail["add_to_voicemail_id"], voicemail["customer_id"]) == ("addition", 7, 1)
    assert "greeting" not in played(switch, record) and "voicemail_add" in played(switch, record)
    assert switch.pbx.originated() == []


async def test_unknown_number_is_a_repeat_caller_by_number(switch):
    switch.desk.message = OpenMessage(voicemail_id=9, incident_id=None, recorded_at=EARLIER)

    record = await switch.call(Party.of(press("#", "enter_customer_number", times=3)))

    assert ("open_message", (None, CALLER_E164, NOW - timedelta(hours=6))) in switch.desk.asked
    assert record.outcome[0] == "repeat_caller"


async def test_no_repeat_window_never_asks_for_an_open_message(switch):
    known_caller(switch)
    switch.configure(repeat_window_hours=0)
    switch.desk.message = OpenMessage(voicemail_id=7, incident_id=3, recorded_at=EARLIER)

    record = await switch.call(Party.of(hang_up("greeting")))

    assert "open_message" not in switch.desk.questions()
    assert record.outcome == ("abandoned", None, "greeting")


# --- 5. greeting and consent -----------------------------------------------------------------------


async def test_pressing_1_during_the_greeting_stops_it_and_continues_as_critical(switch):
    known_caller(switch)
    switch.pbx.prompt_times["greeting"] = 0.5
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(press("1", "greeting", after=0.01)))

    assert record.detail("consent") == "critical"
    [greeting] = [r for r in switch.pbx.requests_to("POST", f"/channels/{record.channel_id}/play")][:1]
    assert f"DELETE /playbacks/{greeting.params['playbackId']}" in switch.pbx.paths()
    assert record.outcome == ("answered", "Eva Engineer", None)


async def test_keys_other_than_the_choices_are_ignored_during_the_greeting(switch):
    known_caller(switch)
    switch.pbx.prompt_times["greeting"] = 0.05

    record = await switch.call(Party.of(press("57*2", "greeting", after=0.01), messages=[Message()]))

    assert record.detail("consent") == "non_urgent"


async def test_2_leaves_a_non_urgent_message_and_nobody_is_rung(switch):
    known_caller(switch)

    record = await switch.call(Party.of(press("2", "greeting"), messages=[Message(seconds=12)]))

    assert record.outcome == ("non_urgent_message", None, None)
    assert "non_urgent_message" in record.step_names()
    [voicemail] = switch.desk.voicemails
    assert (voicemail["kind"], voicemail["customer_id"], voicemail["partial"]) == ("non_urgent", 1, False)
    assert played(switch, record) == ["greeting", "non_urgent_instructions", "non_urgent_thanks"]
    assert switch.pbx.originated() == []
    assert "escalation_plan" not in switch.desk.questions()


async def test_9_switches_to_english_for_the_rest_of_the_call(switch):
    known_caller(switch)
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(press("9", "greeting"), press("1", "greeting")))

    assert record.language == "en" and record.detail("language") == "en"
    caller_media = switch.pbx.media_played(record.channel_id)
    assert caller_media[0].endswith("/nl/greeting")
    assert all("/en/" in media for media in caller_media[1:]), caller_media
    assert [m.rsplit("/", 1)[-1] for m in caller_media] == ["greeting", "greeting", "connecting"]
    # The engineer hears the announcement in Dutch all the same.
    leg = switch.pbx.leg_to(EVA_SIP)
    assert all("/nl/" in media for media in switch.pbx.media_played(leg.id))
    assert record.outcome == ("answered", "Eva Engineer", None)


async def test_9_a_second_time_is_no_choice_in_english(switch):
    known_caller(switch)

    record = await switch.call(Party.of(press("9", "greeting"), press("9", "greeting"), hang_up("greeting")))

    # The second 9 is ignored (no key, then), the greeting is asked again, in English.
    assert [d for name, d, _ in record.steps if name == "language"] == ["en"]
    assert [m.rsplit("/", 2)[-2] for m in switch.pbx.media_played(record.channel_id)] == ["nl", "en", "en"]
    assert record.outcome == ("abandoned", None, "language")


async def test_no_key_twice_is_treated_as_critical(switch):
    known_caller(switch)
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call()

    assert played(switch, record)[:3] == ["greeting", "greeting", "connecting"]
    assert record.detail("consent") == "no key twice: critical"
    assert record.outcome == ("answered", "Eva Engineer", None)


# --- robustness: every call ends with exactly one record ------------------------------------------


async def test_an_ari_500_fails_that_call_with_a_record_and_the_app_takes_the_next(switch):
    known_caller(switch)
    switch.pbx.fail("POST", "/channels/*/ring")
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    first = await switch.call(Party.of(press("1", "greeting")))
    second = await switch.call(Party.of(press("1", "greeting")))

    outcome, detail, _ = first.outcome
    assert outcome == "failed" and detail.startswith("ringing: ") and "Internal Server Error" in detail
    assert hung_up_by_app(switch, first)
    assert second.outcome == ("answered", "Eva Engineer", None)
    assert switch.app.channels == {}


async def test_a_call_gone_before_the_answer_is_abandoned_at_stasis_start(switch):
    switch.pbx.fail("POST", "/channels/*/answer", status=404, message="Channel not found")

    record = await switch.call()

    assert record.outcome == ("abandoned", None, "stasis_start")


async def test_stopping_the_app_fails_the_call_and_hangs_it_up(switch):
    known_caller(switch)
    switch.desk.plan = [step(1, EVA)]
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    channel_id = switch.pbx.call(Party.of(press("1", "greeting")))
    record = await switch.record_of(channel_id)
    await wait_for_step(record, "ring_step")

    await switch.app.stop(grace=1)

    assert record.outcome == ("failed", "app stopped", None)
    assert f"DELETE /channels/{channel_id}" in switch.pbx.paths()
    leg = switch.pbx.leg_to(EVA_SIP)
    assert f"DELETE /channels/{leg.id}" in switch.pbx.paths()
    assert switch.app.channels == {}


async def test_an_unexpected_error_in_a_step_fails_the_call_with_the_step(switch):
    async def broken(*args, **kwargs):
        raise RuntimeError("desk exploded")

    switch.desk.office_status = broken

    record = await switch.call()

    assert record.outcome == ("failed", "answered: desk exploded", None)
    assert hung_up_by_app(switch, record)


@pytest.mark.parametrize(
    ("moment", "last_step"),
    [
        ("enter_customer_number", "identify_caller"),
        ("greeting", "greeting"),
        ("connecting", "ringing"),
        ("ring", "ring_step"),
        ("voicemail_instructions", "voicemail"),
    ],
)
async def test_caller_hanging_up_at_any_moment_leaves_one_abandoned_record(switch, moment, last_step):
    switch.desk.plan = [step(1, EVA, timeout=5)]
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    caller = Party.of(hang_up(moment, after=0.005))
    if moment != "greeting":
        caller.reactions.insert(0, press("1", "greeting"))

    record = await switch.call(caller)

    assert record.outcome == ("abandoned", None, last_step)
    assert switch.app.channels == {}
    assert all(dial.finishes == 1 for dial in record.dials.values())


async def test_no_one_to_ring_goes_straight_to_the_voicemail(switch):
    known_caller(switch)
    switch.desk.plan = NoOneToRing("nobody on duty and no default contact")

    record = await switch.call(Party.of(press("1", "greeting")))

    assert record.detail("nobody_to_ring") == "nobody on duty and no default contact"
    assert switch.pbx.originated() == []
    assert "connecting" not in played(switch, record)
    assert record.outcome == ("voicemail", None, None)
    assert switch.desk.voicemails[0]["kind"] == "critical"


async def wait_for_step(record, name: str, timeout: float = 1.0) -> None:
    for _ in range(int(timeout / 0.002)):
        if name in record.step_names():
            return
        await asyncio.sleep(0.002)
    raise AssertionError(f"step {name} not reached: {record.step_names()}")


async def test_a_reconnect_while_ringing_gives_the_call_up_with_its_legs(switch):
    known_caller(switch)
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    channel_id = switch.pbx.call(Party.of(press("1", "greeting")))
    record = await switch.record_of(channel_id)
    await wait_for_step(record, "ring_step")
    await asyncio.sleep(0.01)

    await switch.pbx.reconnect()
    await switch.finished(channel_id)

    assert record.outcome == ("failed", "app reconnected", None)
    leg = switch.pbx.leg_to(EVA_SIP)
    assert {f"DELETE /channels/{channel_id}", f"DELETE /channels/{leg.id}"} <= set(switch.pbx.paths())
    assert switch.app.channels == {}


async def test_two_calls_at_once_go_their_own_ways(switch):
    switch.desk.by_phone["+31612340001"] = customer("1001", id=1)
    switch.desk.by_phone["+31612340002"] = customer("2002", id=2, name="Slagerij Smit")
    switch.pbx.prompt_times["non_urgent_instructions"] = 0.1
    switch.pbx.phones[EVA_SIP] = Phone.accepts(after=0.02, then=[hang_up("bridged", after=0.05)])

    critical = switch.pbx.call(Party.of(press("1", "greeting")), number="0612340001")
    non_urgent = switch.pbx.call(Party.of(press("2", "greeting"), messages=[Message(seconds=4)]), number="0612340002")
    first, second = await asyncio.gather(switch.finished(critical), switch.finished(non_urgent))

    assert (first.outcome, first.customer_id) == (("answered", "Eva Engineer", None), 1)
    assert (second.outcome, second.customer_id) == (("non_urgent_message", None, None), 2)
    assert [vm["call_channel_id"] for vm in switch.desk.voicemails] == [non_urgent]
    [add] = switch.pbx.requests_to("POST", "/bridges/*/addChannel")
    assert add.params["channel"][0] == critical


# --- what is never lost ----------------------------------------------------------------------------


async def test_engineer_who_presses_1_and_hangs_up_at_once_leaves_the_caller_the_voicemail(switch):
    known_caller(switch)
    switch.desk.plan = [step(1, EVA)]
    switch.pbx.phones[EVA_SIP] = Phone(0.01, party=Party.of(Reaction("engineer_critical_call_from", keys="1", hang_up=True)))

    record = await switch.call(Party.of(press("1", "greeting")))

    assert record.outcome == ("voicemail", None, None), record.step_names()
    [dial] = record.dials.values()
    assert dial.result == "declined" and dial.finishes == 1
    assert "connected" not in record.step_names() and switch.desk.voicemails


async def test_database_down_never_refuses_an_unidentified_caller(switch):
    switch.configure(unidentified="refuse")
    switch.desk.unavailable = True
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.02)])

    record = await switch.call(Party.of(press("1", "greeting")))

    assert "refused" not in record.step_names()
    assert record.outcome == ("answered", "Eva Engineer", None)


async def test_stopping_the_app_while_recording_keeps_the_message_so_far(switch):
    known_caller(switch)
    switch.desk.plan = NoOneToRing("nobody")
    # The caller is still talking when the app stops.
    channel_id = switch.pbx.call(Party.of(press("1", "greeting"), messages=[Message(seconds=30, end="#", wall=5.0)]))
    record = await switch.record_of(channel_id)
    await wait_for_step(record, "voicemail")
    await asyncio.sleep(0.05)

    await switch.app.stop(grace=2)

    assert record.outcome == ("failed", "app stopped", None)
    [voicemail] = switch.desk.voicemails
    assert voicemail["partial"] is True and voicemail["audio"]
