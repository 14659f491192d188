"""Ringing the engineers on duty (PRODUCT.md §1 step 6) against a fake PBX: legs per step, accept
with 1, the first to accept wins, busy and unreachable legs give way at once."""

from __future__ import annotations

import pytest

from ari_app.channel import Channel
from ari_app.ringing import dial_string, result_of_unanswered
from core.roster import Contact, ContactToRing
from tests.unit.fake_pbx import (
    BOB,
    CAROL,
    EVA,
    Party,
    Phone,
    Switchboard,
    customer,
    hang_up,
    press,
    step,
)
from tests.unit.test_ari_channel import FakeAriRequests, event

EVA_SIP = "sip:eva@127.0.0.1:5080"
BOB_SIP = "sip:bob@127.0.0.1:5081"
CAROL_PHONE = "+31612999999"
CRITICAL = press("1", "greeting")


@pytest.fixture
async def switch():
    board = Switchboard()
    board.desk.by_phone["+31612345678"] = customer()
    yield board
    await board.close()


def first_at(switch: Switchboard, method: str, path: str) -> float:
    [request] = [r for r in switch.pbx.requests if r.method == method and r.path == path][:1]
    return request.at


async def test_every_contact_of_a_step_is_rung_at_once_and_the_first_to_press_1_wins(switch):
    switch.desk.plan = [step(1, EVA, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.accepts(after=0.01, then=[hang_up("bridged", after=0.02)])
    switch.pbx.phones[BOB_SIP] = Phone.accepts(after=0.01, key_after=0.2)

    record = await switch.call(Party.of(CRITICAL))

    assert record.outcome == ("answered", "Eva Engineer", None)
    eva, bob = switch.pbx.leg_to(EVA_SIP), switch.pbx.leg_to(BOB_SIP)
    originates = switch.pbx.originated()
    assert [r.params["endpoint"] for r in originates] == [f"PJSIP/engineer-phone/{EVA_SIP}", f"PJSIP/engineer-phone/{BOB_SIP}"]
    # Both were placed before either answered (at once, not one after the other).
    assert max(r.at for r in originates) < first_at(switch, "POST", f"/channels/{eva.id}/play")
    # Bob was hung up at once, before he got to press 1 (0.2 s into his announcement).
    bob_heard_at = first_at(switch, "POST", f"/channels/{bob.id}/play")
    assert first_at(switch, "DELETE", f"/channels/{bob.id}") < bob_heard_at + 0.2
    [add] = switch.pbx.requests_to("POST", "/bridges/*/addChannel")
    assert add.params["channel"] == [record.channel_id, eva.id]
    assert record.results() == {EVA_SIP: "accepted", BOB_SIP: "answered_elsewhere"}
    assert all(dial.finishes == 1 for dial in record.dials.values())
    eva_dial = record.dials[eva.id]
    assert (eva_dial.engineer_id, eva_dial.step_position) == (1, 1)
    assert eva_dial.answered_at is not None and eva_dial.accepted_at is not None
    assert "still_connecting" not in switch.pbx.played(record.channel_id)


async def test_the_engineer_hears_who_calls_and_the_leg_carries_the_callers_id(switch):
    switch.desk.plan = [step(1, EVA)]
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    eva = switch.pbx.leg_to(EVA_SIP)
    assert switch.pbx.played(eva.id) == ["engineer_critical_call_from", "number_1", "number_0", "number_0", "number_1", "engineer_press_1"]
    [originate] = switch.pbx.originated()
    assert originate.params["callerId"] == '"Bakkerij Jansen" <+31612345678>'
    assert (originate.params["appArgs"], originate.params["timeout"]) == ("leg", 25)
    # The engineer hung up: the caller is hung up too and the bridge removed.
    assert f"DELETE /channels/{record.channel_id}" in switch.pbx.paths()
    assert switch.pbx.bridges == {} and len(switch.pbx.deleted_bridges) == 1
    assert record.outcome == ("answered", "Eva Engineer", None)


async def test_an_unidentified_callers_number_is_read_to_the_engineer(switch):
    switch.desk.by_phone.clear()
    switch.desk.plan = [step(1, EVA)]
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    await switch.call(Party.of(press("#", "enter_customer_number", times=3), CRITICAL), number="0201234567")

    eva = switch.pbx.leg_to(EVA_SIP)
    heard = switch.pbx.played(eva.id)
    assert heard[1:-1] == [f"number_{digit}" for digit in "0201234567"]
    assert switch.pbx.originated()[0].params["callerId"] == '"nachtdienst" <+31201234567>'


async def test_an_engineer_who_answers_but_does_not_press_1_is_not_accepted_and_the_next_step_rings(switch):
    switch.desk.plan = [step(1, EVA), step(2, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.silent()
    switch.pbx.phones[BOB_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    assert record.results() == {EVA_SIP: "not_accepted", BOB_SIP: "accepted"}
    eva = switch.pbx.leg_to(EVA_SIP)
    assert f"DELETE /channels/{eva.id}" in switch.pbx.paths()
    assert record.dials[eva.id].answered_at is not None and record.dials[eva.id].accepted_at is None
    assert [d for name, d, _ in record.steps if name == "ring_step"] == [
        f"step 1 (25 s): Eva Engineer {EVA_SIP}",
        f"step 2 (25 s): Bob Backup {BOB_SIP}",
    ]
    assert record.outcome == ("answered", "Bob Backup", None)


async def test_a_key_other_than_1_does_not_accept(switch):
    switch.desk.plan = [step(1, EVA)]
    switch.pbx.phones[EVA_SIP] = Phone(0.01, party=Party.of(press("2#", "engineer_press_1")))

    record = await switch.call(Party.of(CRITICAL))

    assert record.results() == {EVA_SIP: "not_accepted"}
    assert record.outcome == ("voicemail", None, None)


async def test_busy_and_unreachable_legs_give_way_to_the_next_step_at_once():
    board = Switchboard(ring_scale=1.0)  # a leg left ringing would ring the full 25 s
    board.desk.by_phone["+31612345678"] = customer()
    board.desk.plan = [step(1, EVA, CAROL), step(2, BOB)]
    board.pbx.phones[EVA_SIP] = Phone.busy()
    board.pbx.phones[CAROL_PHONE] = Phone.unreachable()
    board.pbx.phones[BOB_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])
    try:
        record = await board.call(Party.of(CRITICAL))
    finally:
        await board.close()

    first, second = record.at("ring_step")
    assert second - first < 1.0  # the step's timeout is 25 s
    assert record.results() == {EVA_SIP: "busy", CAROL_PHONE: "unreachable", BOB_SIP: "accepted"}
    assert record.outcome == ("answered", "Bob Backup", None)


async def test_a_leg_that_never_answers_ends_with_the_steps_timeout(switch):
    switch.desk.plan = [step(1, EVA, timeout=10), step(2, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    switch.pbx.phones[BOB_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    first, second = record.at("ring_step")
    assert second - first >= 10 * switch.pbx.ring_scale
    assert record.results() == {EVA_SIP: "no_answer", BOB_SIP: "accepted"}


async def test_an_engineer_hanging_up_on_the_announcement_declines(switch):
    switch.desk.plan = [step(1, EVA), step(2, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.hangs_up_on_the_announcement()
    switch.pbx.phones[BOB_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    assert record.results() == {EVA_SIP: "declined", BOB_SIP: "accepted"}


async def test_an_external_number_without_a_trunk_is_unreachable_without_ringing(switch):
    switch.configure(trunk_available=False)
    switch.desk.plan = [step(1, CAROL), step(2, EVA)]
    switch.pbx.phones[EVA_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    assert [r.params["endpoint"] for r in switch.pbx.originated()] == [f"PJSIP/engineer-phone/{EVA_SIP}"]
    assert record.results() == {CAROL_PHONE: "unreachable", EVA_SIP: "accepted"}
    assert all(dial.finishes == 1 for dial in record.dials.values())


async def test_an_external_number_is_rung_over_the_trunk(switch):
    switch.desk.plan = [step(1, CAROL)]
    switch.pbx.phones[CAROL_PHONE] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    assert [r.params["endpoint"] for r in switch.pbx.originated()] == [f"PJSIP/{CAROL_PHONE}@trunk"]
    assert record.outcome == ("answered", "Carol Mobile", None)


async def test_a_leg_asterisk_refuses_to_place_is_failed_and_the_others_still_ring(switch):
    switch.desk.plan = [step(1, EVA, BOB)]
    switch.pbx.fail("POST", "/channels", status=400, message="Allocation failed")
    switch.pbx.phones[BOB_SIP] = Phone.accepts(then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    assert record.results() == {EVA_SIP: "failed", BOB_SIP: "accepted"}
    assert not any(channel.id.startswith("nd-leg") for channel in switch.app.channels.values())


async def test_nobody_accepting_in_any_step_leads_to_the_voicemail(switch):
    switch.desk.plan = [step(1, EVA, timeout=5), step(2, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    switch.pbx.phones[BOB_SIP] = Phone.silent()

    record = await switch.call(Party.of(CRITICAL))

    assert record.results() == {EVA_SIP: "no_answer", BOB_SIP: "not_accepted"}
    assert "nobody_accepted" in record.step_names()
    assert f"DELETE /channels/{record.channel_id}/ring" in switch.pbx.paths()
    assert record.outcome == ("voicemail", None, None)
    assert switch.desk.voicemails[0]["kind"] == "critical"


async def test_caller_hanging_up_while_ringing_hangs_up_every_leg(switch):
    switch.desk.plan = [step(1, EVA, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    switch.pbx.phones[BOB_SIP] = Phone.silent(after=0.01)

    record = await switch.call(Party.of(CRITICAL, hang_up("ring", after=0.03)))

    assert record.outcome == ("abandoned", None, "ring_step")
    for leg in switch.pbx.legs():
        assert f"DELETE /channels/{leg.id}" in switch.pbx.paths()
    assert all(dial.finishes == 1 for dial in record.dials.values())
    assert switch.app.channels == {}


async def test_the_caller_hears_we_are_connecting_you_now_and_then(switch):
    switch.configure(reassurance_interval=0.05)
    switch.desk.plan = [step(1, EVA, timeout=60)]
    switch.pbx.phones[EVA_SIP] = Phone.accepts(after=0.3, then=[hang_up("bridged", after=0.01)])

    record = await switch.call(Party.of(CRITICAL))

    heard = switch.pbx.played(record.channel_id)
    assert heard.count("still_connecting") >= 2, heard
    assert record.outcome == ("answered", "Eva Engineer", None)
    # Ringing stopped for each reassurance and started again after it (the last one may be cut
    # short by the engineer's 1).
    paths = switch.pbx.paths()
    assert paths.count(f"DELETE /channels/{record.channel_id}/ring") >= heard.count("still_connecting")
    assert paths.count(f"POST /channels/{record.channel_id}/ring") >= heard.count("still_connecting")


# --- pure parts ------------------------------------------------------------------------------------


def test_dial_strings_for_sip_and_external_contacts():
    sip = ContactToRing(EVA, Contact("sip", EVA_SIP))
    phone = ContactToRing(None, Contact("phone", CAROL_PHONE))
    assert dial_string(sip, trunk_available=False) == f"PJSIP/engineer-phone/{EVA_SIP}"
    assert dial_string(phone, trunk_available=True) == f"PJSIP/{CAROL_PHONE}@trunk"
    assert dial_string(phone, trunk_available=False) is None


@pytest.mark.parametrize(("cause", "result"), [(17, "busy"), (21, "declined"), (20, "unreachable"), (1, "unreachable"), (19, "no_answer"), (16, "no_answer"), (None, "no_answer")])
def test_the_hang_up_cause_of_an_unanswered_leg_names_its_result(cause, result):
    leg = Channel(FakeAriRequests(), {"id": "nd-leg-1"})
    if cause is not None:
        leg.deliver(event("ChannelDestroyed", "nd-leg-1", cause=cause))
    assert result_of_unanswered(leg) == result


async def test_two_engineers_pressing_1_together_make_one_winner(switch):
    switch.desk.plan = [step(1, EVA, BOB)]
    switch.pbx.phones[EVA_SIP] = Phone.accepts(after=0.01, then=[hang_up("bridged", after=0.02)])
    switch.pbx.phones[BOB_SIP] = Phone.accepts(after=0.01, then=[hang_up("bridged", after=0.02)])

    record = await switch.call(Party.of(CRITICAL))

    assert sorted(record.results().values()) == ["accepted", "answered_elsewhere"]
    [add] = switch.pbx.requests_to("POST", "/bridges/*/addChannel")
    winner = next(key for key, dial in record.dials.items() if dial.result == "accepted")
    assert add.params["channel"] == [record.channel_id, winner]
    [loser] = [leg for leg in switch.pbx.legs() if leg.id != winner]
    assert f"DELETE /channels/{loser.id}" in switch.pbx.paths()
    assert record.dials[loser.id].accepted_at is None
