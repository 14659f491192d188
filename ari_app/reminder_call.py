"""The reminder call (PRODUCT.md §1 step 8): the PBX calls the engineer on duty about an
incident nobody acknowledged: "new critical voicemail from <number>; 1 = hear it now, 2 = call
the customer back now".

What the engineer can rely on:
- The escalation plan's steps ring in order, every contact of a step at once, showing the
  support number; the first to answer gets the menu, the others are hung up. No `1` to accept
  here: the menu is the question, and a mobile's voicemail that answers presses nothing
  (`no_choice`: core.reminders tries again later).
- The menu is read up to `MENU_ROUNDS` times without a key. `1` plays the voicemail (Asterisk's
  own copy; when it is gone the engineer hears that it is in the mail) and the menu again. `2`
  rings the customer on the call-back number showing the support number, with ringing tone for
  the engineer meanwhile; when the customer answers both are bridged until either hangs up.
  A customer who does not answer (or no number, or no trunk to dial out on) is said so and the
  menu comes back.
- Whatever happens, the outcome says what was done (`called_back` > `customer_not_reached` >
  `heard` > `no_choice`; `not_reached` when nobody answered) and every leg placed is in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ari_app.call import BRIDGE_PREFIX, LineConfig
from ari_app.channel import CallEnded, Channel
from ari_app.client import AriError
from ari_app.keys import ask
from ari_app.prompts import Prompts
from ari_app.ringing import RING_SLACK, dial_string, result_of_unanswered
from core.reminders import LegRecord, ReminderOutcome, ReminderTask
from core.roster import ContactToRing, EscalationStepPlan

log = structlog.get_logger("ari.reminder")

MENU_ROUNDS = 3
CUSTOMER_RING_SECONDS = 30
LANGUAGE = "nl"  # the engineers' language: the line's own
RING_TONE = "tone:ring;tonezone=nl"
# What the call did, strongest last: the outcome is the strongest thing that happened.
_STRENGTH = ("no_choice", "heard", "customer_not_reached", "called_back")


@dataclass
class ReminderLine:
    """What a reminder call needs: the Stasis app (to place legs and bridges), the prompts, the
    line's settings and a clock."""

    app: Any  # ari_app.stasis.StasisApp
    prompts: Prompts
    config: LineConfig
    clock: Callable[[], datetime]


@dataclass
class _Story:
    clock: Callable[[], datetime]
    steps: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    legs: list[LegRecord] = field(default_factory=list)
    result: str = "no_choice"
    engineer_id: int | None = None
    called_back_at: datetime | None = None

    def step(self, name: str, detail: str | None = None) -> None:
        self.steps.append((self.clock(), name, detail))

    def did(self, result: str) -> None:
        if _STRENGTH.index(result) > _STRENGTH.index(self.result):
            self.result = result

    def outcome(self, result: str | None = None, detail: str | None = None) -> ReminderOutcome:
        return ReminderOutcome(result=result or self.result, ended_at=self.clock(), detail=detail, engineer_id=self.engineer_id,
                               called_back_at=self.called_back_at, steps=self.steps, legs=self.legs)  # fmt: skip


@dataclass
class _Leg:
    contact: ContactToRing
    position: int
    channel: Channel
    started_at: datetime
    answered_at: datetime | None = None
    result: str | None = None


async def call_engineer(task: ReminderTask, line: ReminderLine) -> ReminderOutcome:
    """Ring the engineer on duty and serve the menu; what was done."""
    story = _Story(line.clock)
    if not task.plan:
        return story.outcome("not_reached", "nobody to ring: no roster and no roster.default_contact")
    leg = await _ring_engineers(task.plan, line, story)
    if leg is None:
        return story.outcome("not_reached", "no engineer answered")
    engineer = leg.contact.engineer
    story.engineer_id = engineer.id if engineer else None
    story.step("engineer_answered", engineer.name if engineer else leg.contact.contact.address)
    try:
        await _menu(leg.channel, task, line, story)
    except CallEnded:
        story.step("engineer_hung_up")
    finally:
        await _hang_up(line, leg.channel)
        story.legs.append(LegRecord(leg.contact.contact.address, leg.started_at, "answered", line.clock(),
                                    engineer_id=story.engineer_id, step_position=leg.position,
                                    answered_at=leg.answered_at))  # fmt: skip
    return story.outcome()


# --- ringing the engineers ---------------------------------------------------------------------


async def _ring_engineers(plan: tuple[EscalationStepPlan, ...], line: ReminderLine, story: _Story) -> _Leg | None:
    for step in plan:
        story.step("ring_step", f"step {step.position}: {', '.join(c.contact.address for c in step.contacts)}")
        legs = [leg for leg in [await _place(contact, step, line, story) for contact in step.contacts] if leg]
        if not legs:
            continue
        winner = await _first_to_answer(legs, step.timeout_seconds + RING_SLACK, line)
        for leg in legs:
            if leg is winner:
                continue
            await _hang_up(line, leg.channel)
            result = leg.result or ("answered_elsewhere" if winner else "no_answer")
            story.legs.append(LegRecord(leg.contact.contact.address, leg.started_at, result, line.clock(),
                                        engineer_id=leg.contact.engineer.id if leg.contact.engineer else None,
                                        step_position=leg.position, answered_at=leg.answered_at))  # fmt: skip
        if winner is not None:
            return winner
    return None


async def _place(contact: ContactToRing, step: EscalationStepPlan, line: ReminderLine, story: _Story) -> _Leg | None:
    endpoint = dial_string(contact, trunk_available=line.config.trunk_available)
    started = line.clock()
    engineer_id = contact.engineer.id if contact.engineer else None
    if endpoint is None:
        story.legs.append(LegRecord(contact.contact.address, started, "unreachable", started, engineer_id=engineer_id,
                                    step_position=step.position))  # fmt: skip
        return None
    try:
        channel = await line.app.originate(endpoint, caller_id=line.config.support_number, timeout=step.timeout_seconds)
    except AriError as exc:
        log.warning("reminder leg not placed", contact=contact.contact.address, error=str(exc))
        story.legs.append(LegRecord(contact.contact.address, started, "failed", line.clock(), engineer_id=engineer_id,
                                    step_position=step.position))  # fmt: skip
        return None
    return _Leg(contact, step.position, channel, started)


async def _first_to_answer(legs: list[_Leg], seconds: float, line: ReminderLine) -> _Leg | None:
    waits = {asyncio.create_task(leg.channel.wait_in_stasis(seconds)): leg for leg in legs}
    winner: _Leg | None = None
    try:
        pending = set(waits)
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                leg = waits[task]
                if task.result():
                    leg.answered_at = line.clock()
                    winner = winner or leg
                else:
                    leg.result = result_of_unanswered(leg.channel) if leg.channel.hung_up else "no_answer"
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    return winner


# --- the menu -------------------------------------------------------------------------------


async def _menu(engineer: Channel, task: ReminderTask, line: ReminderLine, story: _Story) -> None:
    prompts = line.prompts
    intro = [prompts("engineer_voicemail_from", LANGUAGE)]
    if task.caller_number:
        intro += prompts.digits(task.caller_number, LANGUAGE)
    else:
        intro.append(prompts("engineer_voicemail_unknown_caller", LANGUAGE))
    menu = [prompts("engineer_voicemail_menu", LANGUAGE)]
    silent_rounds = 0
    first = True
    while silent_rounds < MENU_ROUNDS:
        key = await ask(engineer, (intro if first else []) + menu, accept="12", timeout=line.config.line.key_timeout)
        first = False
        if key is None:
            silent_rounds += 1
            continue
        silent_rounds = 0
        story.step("menu", key)
        if key == "1":
            await _play_voicemail(engineer, task, line, story)
        elif await _call_customer(engineer, task, line, story):
            return


async def _play_voicemail(engineer: Channel, task: ReminderTask, line: ReminderLine, story: _Story) -> None:
    state = "missing"
    if task.pbx_recording:
        try:
            playback = await engineer.play(f"recording:{task.pbx_recording}")
            state = await playback.finished()
        except AriError as exc:
            if exc.status not in (400, 404, 422):
                raise
            state = f"refused: {exc}"
    if state == "done":
        story.step("voicemail_played", task.pbx_recording)
        story.did("heard")
        return
    story.step("voicemail_not_playable", state)
    await _say(engineer, line, "engineer_voicemail_unavailable")


async def _call_customer(engineer: Channel, task: ReminderTask, line: ReminderLine, story: _Story) -> bool:
    """Ring the customer and bridge; True when they talked (the call is then over)."""
    number = task.callback_number
    if not number:
        story.step("no_callback_number")
        await _say(engineer, line, "engineer_no_callback_number")
        return False
    story.step("calling_customer", number)
    started = line.clock()
    if not line.config.trunk_available:
        story.legs.append(LegRecord(number, started, "unreachable", started))
        story.step("customer_not_reached", "no trunk to dial out on (pbx.trunk_contact)")
        story.did("customer_not_reached")
        await _say(engineer, line, "engineer_customer_not_reached")
        return False
    await _say(engineer, line, "engineer_calling_customer")
    try:
        customer = await line.app.originate(f"PJSIP/{number}@trunk", caller_id=line.config.support_number,
                                            timeout=CUSTOMER_RING_SECONDS)  # fmt: skip
    except AriError as exc:
        story.legs.append(LegRecord(number, started, "failed", line.clock()))
        story.step("customer_not_reached", str(exc))
        story.did("customer_not_reached")
        await _say(engineer, line, "engineer_customer_not_reached")
        return False
    ringing = await engineer.play(RING_TONE)
    try:
        answered = await _answered_while_engineer_waits(customer, engineer)
    except CallEnded:
        await _hang_up(line, customer)
        story.legs.append(LegRecord(number, started, "cancelled", line.clock()))
        story.did("customer_not_reached")
        raise
    finally:
        with contextlib.suppress(AriError, CallEnded):
            await ringing.stop()
    if not answered:
        result = result_of_unanswered(customer) if customer.hung_up else "no_answer"
        await _hang_up(line, customer)
        story.legs.append(LegRecord(number, started, result, line.clock()))
        story.step("customer_not_reached", result)
        story.did("customer_not_reached")
        await _say(engineer, line, "engineer_customer_not_reached")
        return False
    answered_at = line.clock()
    story.called_back_at = answered_at
    story.did("called_back")
    story.step("connected", number)
    try:
        await _talk(line, engineer, customer)
    finally:
        story.legs.append(LegRecord(number, started, "accepted", line.clock(), answered_at=answered_at, accepted_at=answered_at))
    return True


async def _answered_while_engineer_waits(customer: Channel, engineer: Channel) -> bool:
    """True once the customer answered; False when they did not. Raises CallEnded when the
    engineer hangs up first."""
    answered = asyncio.create_task(customer.wait_in_stasis(CUSTOMER_RING_SECONDS + RING_SLACK))
    engineer_gone = asyncio.create_task(engineer.wait_hangup())
    try:
        done, _ = await asyncio.wait({answered, engineer_gone}, return_when=asyncio.FIRST_COMPLETED)
        if engineer_gone in done and engineer_gone.result():
            raise CallEnded("engineer hung up while the customer was rung")
        return answered.result()
    finally:
        for task in (answered, engineer_gone):
            task.cancel()
        await asyncio.gather(answered, engineer_gone, return_exceptions=True)


async def _talk(line: ReminderLine, engineer: Channel, customer: Channel) -> None:
    """Engineer and customer in one bridge until either hangs up; then both are hung up."""
    client = line.app.client
    bridge_id = f"{BRIDGE_PREFIX}{uuid.uuid4().hex}"
    line.app.bridges.add(bridge_id)
    try:
        await client.request("POST", "/bridges", type="mixing", bridgeId=bridge_id)
        await client.request("POST", f"/bridges/{bridge_id}/addChannel", channel=[engineer.id, customer.id])
        gone = [asyncio.create_task(engineer.wait_hangup()), asyncio.create_task(customer.wait_hangup())]
        try:
            await asyncio.wait(gone, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in gone:
                task.cancel()
            await asyncio.gather(*gone, return_exceptions=True)
    finally:
        await _hang_up(line, customer)
        await _hang_up(line, engineer)
        with contextlib.suppress(AriError):
            await client.request("DELETE", f"/bridges/{bridge_id}")
        line.app.bridges.discard(bridge_id)


# --- shared ----------------------------------------------------------------------------------


async def _say(channel: Channel, line: ReminderLine, name: str) -> None:
    playback = await channel.play(line.prompts(name, LANGUAGE))
    await playback.finished()


async def _hang_up(line: ReminderLine, channel: Channel) -> None:
    try:
        await channel.hangup()
    except AriError as exc:
        log.warning("reminder leg hang-up failed", leg=channel.id, error=str(exc))
    line.app.forget(channel)
