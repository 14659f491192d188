"""The reminder call (PRODUCT.md §1 step 8) against a fake PBX: the engineer on duty is rung,
hears "new critical voicemail from …", `1` plays the message, `2` rings the customer and
bridges them; every leg and what was done comes back for the record."""

from __future__ import annotations

import pytest

from ari_app.prompts import Prompts
from ari_app.reminder_call import MENU_ROUNDS, ReminderLine, call_engineer
from core.reminders import ReminderTask
from tests.unit.fake_pbx import (
    BOB,
    EVA,
    NOW,
    PROMPTS_DIR,
    Party,
    Phone,
    Switchboard,
    hang_up,
    line_config,
    press,
    step,
    wav_bytes,
)

EVA_SIP = "sip:eva@127.0.0.1:5080"
BOB_SIP = "sip:bob@127.0.0.1:5081"
CUSTOMER = "+31612345678"
RECORDING = "nachtdienst-critical-abc"


@pytest.fixture
async def switch():
    board = Switchboard()
    board.pbx.stored[RECORDING] = wav_bytes(3)
    yield board
    await board.close()


def reminder_line(switch: Switchboard, **config) -> ReminderLine:
    return ReminderLine(switch.app, Prompts(PROMPTS_DIR), line_config(**config), lambda: NOW)


def task(*, plan=None, recording: str | None = RECORDING, callback: str | None = CUSTOMER, caller: str | None = "+31201234567") -> ReminderTask:
    return ReminderTask(reminder_id=7, incident_id=3, attempt=1, voicemail_id=5, pbx_recording=recording,
                        caller_number=caller, callback_number=callback, customer_id=1,
                        plan=tuple(plan if plan is not None else [step(1, EVA)]))  # fmt: skip


def engineer(*reactions) -> Phone:
    return Phone(0.01, party=Party.of(*reactions))


def steps(outcome) -> list[tuple[str, str | None]]:
    return [(name, detail) for _, name, detail in outcome.steps]


async def test_the_engineer_hears_whose_voicemail_and_1_plays_it(switch):
    switch.pbx.phones[EVA_SIP] = engineer(press("1", "engineer_voicemail_menu"))

    outcome = await call_engineer(task(), reminder_line(switch))

    eva = switch.pbx.leg_to(EVA_SIP)
    heard = switch.pbx.played(eva.id)
    assert heard[:11] == ["engineer_voicemail_from", *[f"number_{d}" for d in "31201234567"][:10]]
    assert heard[heard.index("engineer_voicemail_menu") + 1] == RECORDING
    # After the message the menu comes back (MENU_ROUNDS times without a key), then goodbye.
    assert heard.count("engineer_voicemail_menu") == 1 + MENU_ROUNDS
    assert ("menu", "1") in steps(outcome) and ("voicemail_played", RECORDING) in steps(outcome)
    assert outcome.result == "heard" and outcome.engineer_id == EVA.id and outcome.called_back_at is None
    [leg] = outcome.legs
    assert (leg.contact, leg.result, leg.answered_at, leg.accepted_at) == (EVA_SIP, "answered", NOW, None)
    [originate] = switch.pbx.originated()
    assert originate.params["callerId"] == "0497842611"  # the support number: the engineer knows the line
    assert eva.gone


async def test_2_rings_the_customer_showing_the_support_number_and_bridges_them(switch):
    switch.pbx.phones[EVA_SIP] = engineer(press("2", "engineer_voicemail_from"))
    switch.pbx.phones[CUSTOMER] = Phone(0.02, party=Party.of(hang_up("bridged", after=0.02)))

    outcome = await call_engineer(task(), reminder_line(switch))

    eva, customer = switch.pbx.leg_to(EVA_SIP), switch.pbx.leg_to(CUSTOMER)
    endpoints = [(r.params["endpoint"], r.params["callerId"]) for r in switch.pbx.originated()]
    assert endpoints == [(f"PJSIP/engineer-phone/{EVA_SIP}", "0497842611"), (f"PJSIP/{CUSTOMER}@trunk", "0497842611")]
    [add] = switch.pbx.requests_to("POST", "/bridges/*/addChannel")
    assert add.params["channel"] == [eva.id, customer.id]
    assert "engineer_calling_customer" in switch.pbx.played(eva.id)
    assert any(m.startswith("tone:ring") for m in switch.pbx.media_played(eva.id))  # ringing while the customer is rung
    assert eva.gone and customer.gone and switch.pbx.bridges == {} and len(switch.pbx.deleted_bridges) == 1
    assert outcome.result == "called_back" and outcome.called_back_at == NOW
    legs = {leg.contact: leg for leg in outcome.legs}
    assert (legs[CUSTOMER].result, legs[CUSTOMER].accepted_at, legs[CUSTOMER].engineer_id) == ("accepted", NOW, None)
    assert legs[EVA_SIP].accepted_at is None  # only the call-back's talk time is billed
    assert ("connected", CUSTOMER) in steps(outcome)


async def test_a_customer_who_does_not_answer_is_said_and_the_menu_comes_back(switch):
    switch.pbx.phones[EVA_SIP] = engineer(press("2", "engineer_voicemail_from"), hang_up("engineer_customer_not_reached", at_end=True))
    switch.pbx.phones[CUSTOMER] = Phone.never_answers()

    outcome = await call_engineer(task(), reminder_line(switch))

    assert outcome.result == "customer_not_reached" and outcome.called_back_at is None
    legs = {leg.contact: leg for leg in outcome.legs}
    assert legs[CUSTOMER].result == "no_answer" and legs[CUSTOMER].accepted_at is None
    assert switch.pbx.leg_to(CUSTOMER).gone
    assert ("engineer_hung_up", None) in steps(outcome)


async def test_a_busy_customer_is_said_too(switch):
    switch.pbx.phones[EVA_SIP] = engineer(press("2", "engineer_voicemail_from"), hang_up("engineer_customer_not_reached", at_end=True))
    switch.pbx.phones[CUSTOMER] = Phone.busy()

    outcome = await call_engineer(task(), reminder_line(switch))

    assert {leg.contact: leg.result for leg in outcome.legs}[CUSTOMER] == "busy"
    assert ("customer_not_reached", "busy") in steps(outcome)


async def test_without_a_trunk_the_customer_cannot_be_rung_and_the_engineer_hears_so(switch):
    switch.pbx.phones[EVA_SIP] = engineer(press("2", "engineer_voicemail_from"), hang_up("engineer_customer_not_reached", at_end=True))

    outcome = await call_engineer(task(), reminder_line(switch, trunk_available=False))

    assert [r.params["endpoint"] for r in switch.pbx.originated()] == [f"PJSIP/engineer-phone/{EVA_SIP}"]
    assert {leg.contact: leg.result for leg in outcome.legs}[CUSTOMER] == "unreachable"
    assert outcome.result == "customer_not_reached"


async def test_no_number_to_call_back_is_said(switch):
    switch.pbx.phones[EVA_SIP] = engineer(press("2", "engineer_voicemail_from"), hang_up("engineer_no_callback_number", at_end=True))

    outcome = await call_engineer(task(callback=None, caller=None), reminder_line(switch))

    eva = switch.pbx.leg_to(EVA_SIP)
    assert switch.pbx.played(eva.id)[:2] == ["engineer_voicemail_from", "engineer_voicemail_unknown_caller"]
    assert "engineer_no_callback_number" in switch.pbx.played(eva.id)
    assert len(switch.pbx.originated()) == 1 and outcome.result == "no_choice"


async def test_a_voicemail_asterisk_no_longer_has_is_said_to_be_in_the_mail(switch):
    del switch.pbx.stored[RECORDING]
    switch.pbx.phones[EVA_SIP] = engineer(press("1", "engineer_voicemail_menu"), hang_up("engineer_voicemail_unavailable", at_end=True))

    outcome = await call_engineer(task(), reminder_line(switch))

    assert ("voicemail_not_playable", "failed") in steps(outcome)
    assert outcome.result == "no_choice"  # nothing was heard


async def test_an_engineer_who_answers_and_chooses_nothing_is_no_choice(switch):
    switch.pbx.phones[EVA_SIP] = Phone.silent()

    outcome = await call_engineer(task(), reminder_line(switch))

    assert outcome.result == "no_choice"
    assert switch.pbx.played(switch.pbx.leg_to(EVA_SIP).id).count("engineer_voicemail_menu") == MENU_ROUNDS


async def test_nobody_answering_rings_the_next_step_and_then_is_not_reached(switch):
    switch.pbx.phones[EVA_SIP] = Phone.never_answers()
    switch.pbx.phones[BOB_SIP] = Phone.busy()

    outcome = await call_engineer(task(plan=[step(1, EVA), step(2, BOB)]), reminder_line(switch))

    assert outcome.result == "not_reached" and outcome.engineer_id is None
    assert {leg.contact: leg.result for leg in outcome.legs} == {EVA_SIP: "no_answer", BOB_SIP: "busy"}
    assert [name for name, _ in steps(outcome)] == ["ring_step", "ring_step"]


async def test_the_first_of_a_step_to_answer_gets_the_menu_and_the_other_is_hung_up(switch):
    switch.pbx.phones[EVA_SIP] = Phone(0.2)
    switch.pbx.phones[BOB_SIP] = engineer(press("1", "engineer_voicemail_menu"))

    outcome = await call_engineer(task(plan=[step(1, EVA, BOB)]), reminder_line(switch))

    results = {leg.contact: leg.result for leg in outcome.legs}
    assert results == {EVA_SIP: "answered_elsewhere", BOB_SIP: "answered"}
    assert switch.pbx.leg_to(EVA_SIP).gone and outcome.engineer_id == BOB.id and outcome.result == "heard"


async def test_nobody_to_ring_is_not_reached_with_the_reason(switch):
    outcome = await call_engineer(task(plan=[]), reminder_line(switch))

    assert outcome.result == "not_reached" and "roster" in (outcome.detail or "")
    assert switch.pbx.originated() == []
