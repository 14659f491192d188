"""The steps of PRODUCT.md §1, one function each, in the order a call meets them. Each step
returns what the next needs, or an `Outcome` that ends the call. None of them knows ARI's
JSON: they play prompts, wait for keys, ring legs and record through ari_app's awaitables.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from ari_app.call import BRIDGE_PREFIX, Call
from ari_app.channel import CallAborted, CallEnded, Channel, ChannelHungUp
from ari_app.client import AriError
from ari_app.desk import CustomerLookup, Lookup, NoOneToRing, PendingVoicemail
from ari_app.keys import ask, collect_digits
from ari_app.ringing import Leg, Ringing, dial_string
from ari_app.voicemail import Message, RecordingLimits, discard_stored, record_message
from core.entitlement import Entitlement, keyed_customer_number, refusal_for
from core.line_desk import CallerCustomer
from core.phone import InvalidPhoneNumber, normalise
from core.roster import Contact, ContactToRing

# How long the office destination may ring before the caller hears the office number instead.
OFFICE_RING_SECONDS = 30


@dataclass(frozen=True)
class Outcome:
    """How a call ended, for its record (core.models.CALL_OUTCOMES)."""

    outcome: str
    detail: str | None = None


# --- 1. office hours -----------------------------------------------------------------------


async def office_hours(call: Call) -> Outcome | None:
    """Within office hours the office takes the call; None when it is closed (the line goes on)."""
    status = await call.desk.office_status(call.now())
    if not status.open:
        await call.step("office_closed", status.reason)
        return None
    await call.step("office_open", status.reason)
    destination = call.config.office_destination
    if destination:
        await call.say("office_open")
        leg = await _ring_office(call, destination)
        if leg is not None:
            await call.step("transferred", destination)
            await _talk(call, leg)
            return Outcome("office_hours", f"transferred to {destination}")
        await call.step("office_unreachable", destination)
    await call.say("office_open_call_us")
    await call.channel.hangup()
    return Outcome("office_hours", "told the office number")


async def _ring_office(call: Call, destination: str) -> Channel | None:
    contact = ContactToRing(None, Contact.of(destination if destination.startswith("sip") else normalise(destination, call.config.country)))
    endpoint = dial_string(contact, trunk_available=call.config.trunk_available)
    if endpoint is None:
        return None
    await call.channel.ring()
    try:
        leg = await call.app.originate(endpoint, caller_id=_caller_id(call), timeout=OFFICE_RING_SECONDS)
    except AriError as exc:
        call.log.warning("office not rung", error=str(exc))
        await call.channel.stop_ringing()
        return None
    try:
        answered = await _first(call.channel, leg.wait_in_stasis(OFFICE_RING_SECONDS + 2))
    except CallEnded:
        await _hang_up(call, leg)
        raise
    if not answered:
        await _hang_up(call, leg)
        await call.channel.stop_ringing()
        return None
    return leg


# --- 2. who is calling ---------------------------------------------------------------------


async def identify_caller(call: Call):
    """The customer by the caller's number, else by a keyed-in customer number (3 tries); None
    when still unknown (the line goes on as unidentified unless the settings refuse that)."""
    await call.step("identify_caller")
    number = call.channel.caller_number
    if number:
        try:
            call.caller_e164 = normalise(number, call.config.country)
        except InvalidPhoneNumber:
            await call.step("caller_number_invalid", number[:40])
    if call.caller_e164:
        found = await call.desk.find_customer_by_phone(call.caller_e164, call.now())
        if _is_customer(found):
            return await _identified(call, found, "by caller number")
        if found is Lookup.unavailable:
            call.identity_unavailable = True
            await call.step("unidentified", "database unavailable")
            return None
    line = call.config.line
    prompt = ["enter_customer_number"]
    for attempt in range(1, line.customer_number_tries + 1):
        typed = await collect_digits(call.channel, call.media(*prompt), timeout=line.key_timeout)
        keyed = keyed_customer_number(typed)
        # One prompt per retry, so a caller who starts typing during "unknown number" is heard.
        if keyed is None:
            await call.step("customer_number_invalid", f"try {attempt}: {typed[:24]!r}")
            prompt = ["invalid_key", "enter_customer_number"] if typed else ["enter_customer_number"]
        else:
            found = await call.desk.find_customer_by_number(keyed, call.now())
            if _is_customer(found):
                return await _identified(call, found, "by customer number")
            await call.step("customer_number_unknown", f"try {attempt}: {keyed}")
            if found is Lookup.unavailable:  # asking again will not help
                call.identity_unavailable = True
                break
            prompt = ["customer_number_unknown", "enter_customer_number"]
    await call.step("unidentified")
    if line.unidentified == "continue":
        await call.say("continue_unidentified")
    return None


def _is_customer(found: CustomerLookup) -> bool:
    return isinstance(found, CallerCustomer)


async def _identified(call: Call, customer, how: str):
    call.customer = customer
    await call.record.set_customer(customer.id)
    await call.step("identified", f"{customer.customer_number} ({customer.name}) {how}")
    return customer


# --- 3. entitlement ------------------------------------------------------------------------


async def entitlement(call: Call) -> Outcome | None:
    customer = call.customer
    facts = Entitlement(customer.status, customer.after_hours_included) if customer else None
    # A caller the database could not look up is unknown, not known to be nobody: never
    # refused for that (a paying customer must get through while the database is down).
    unidentified = "continue" if call.identity_unavailable else call.config.line.unidentified
    refusal = refusal_for(facts, unidentified=unidentified)
    if refusal is None:
        return None
    await call.step("refused", refusal.value)
    await call.say(refusal.value, "goodbye")
    await call.channel.hangup()
    return Outcome("blocked", refusal.value)


# --- 4. repeat caller ----------------------------------------------------------------------


async def repeat_caller(call: Call) -> Outcome | None:
    """A message of this caller not yet called back: say so; `1` adds to it."""
    hours = call.config.line.repeat_window_hours
    if not hours:
        return None
    customer_id = call.customer.id if call.customer else None
    since = call.now() - timedelta(hours=hours)
    message = await call.desk.open_message(customer_id=customer_id, e164=call.caller_e164, since=since)
    if message is None:
        return None
    local = message.recorded_at.astimezone(call.config.zone)
    await call.step("repeat_caller", f"message of {local:%H:%M}")
    media = call.media("repeat_caller_before_time") + call.prompts.time_of_day(local, call.language) + call.media("repeat_caller_after_time")
    key = await ask(call.channel, media, accept="1", timeout=call.config.line.key_timeout)
    if key != "1":
        await call.say("goodbye")
        await call.channel.hangup()
        return Outcome("repeat_caller", f"message of {local:%H:%M} already received")
    return await take_message(call, kind="addition", add_to_voicemail_id=message.voicemail_id)


# --- 5. greeting and consent ---------------------------------------------------------------


async def greet(call: Call) -> str:
    """"critical" or "non_urgent". `9` switches to English for the rest of the call; no key
    twice counts as critical (a panicking caller must still get through)."""
    await call.step("greeting")
    silent = 0
    while True:
        accept = "129" if call.language == "nl" else "12"
        key = await ask(call.channel, call.media("greeting"), accept=accept, timeout=call.config.line.key_timeout)
        if key == "9":
            call.language = "en"
            await call.record.set_language("en")
            await call.step("language", "en")
            continue
        if key == "1":
            await call.step("consent", "critical")
            return "critical"
        if key == "2":
            await call.step("consent", "non_urgent")
            return "non_urgent"
        silent += 1
        if silent >= 2:
            await call.step("consent", "no key twice: critical")
            return "critical"


# --- 6. ring the engineers on duty ---------------------------------------------------------


async def ring_on_duty(call: Call) -> Outcome | None:
    """Ring the escalation plan; the answered call's outcome, or None when nobody accepted."""
    await call.step("ringing")
    try:
        plan = await call.desk.escalation_plan(call.now())
    except NoOneToRing as exc:  # nobody to ring at all: straight to voicemail
        await call.step("nobody_to_ring", str(exc))
        return None
    await call.say("connecting")
    await call.channel.ring()
    ringing = Ringing(
        caller=call.channel,
        originator=call.app,
        record=call.record,
        announcement=_announcement(call),
        caller_id=_caller_id(call),
        accept_timeout=call.config.line.accept_timeout,
        trunk_available=call.config.trunk_available,
        clock=call.clock,
    )
    reassurance = asyncio.create_task(_reassure(call), name=f"reassure-{call.channel.id}")
    try:
        winner = await ringing.run(plan, on_step=lambda step: call.step("ring_step", _describe_step(step)))
    finally:
        reassurance.cancel()
        await asyncio.gather(reassurance, return_exceptions=True)
    if winner is not None:
        outcome = await _connect(call, winner)
        if outcome is not None:
            return outcome
    await call.step("nobody_accepted")
    with contextlib.suppress(AriError):
        await call.channel.stop_ringing()
    return None


def _describe_step(step) -> str:
    contacts = ", ".join(f"{c.engineer.name if c.engineer else 'default'} {c.contact.address}" for c in step.contacts)
    return f"step {step.position} ({step.timeout_seconds} s): {contacts}"


def _announcement(call: Call) -> list[str]:
    """What an engineer who picks up hears, in Dutch (the engineers' language)."""
    media = [call.prompts("engineer_critical_call_from", "nl")]
    if call.customer is not None:
        media += call.prompts.digits(call.customer.customer_number, "nl")
    elif call.channel.caller_number:
        media += call.prompts.digits(call.channel.caller_number, "nl")
    return media + [call.prompts("engineer_press_1", "nl")]


def _caller_id(call: Call) -> str:
    number = call.caller_e164 or call.channel.caller_number or call.config.support_number
    name = call.customer.name.replace('"', "") if call.customer else "nachtdienst"
    return f'"{name}" <{number}>'


async def _reassure(call: Call) -> None:
    """Ringing for the caller, with a 'we are connecting you' now and then."""
    interval = call.config.line.reassurance_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await call.channel.stop_ringing()
            await call.say("still_connecting")
            await call.channel.ring()
        except (CallEnded, AriError):
            return


async def _connect(call: Call, winner: Leg) -> Outcome | None:
    """Bridge the caller with the engineer who accepted; None when that leg is gone before the
    bridge (pressed 1 and hung up): the caller then leaves a message rather than silence."""
    leg = winner.channel
    assert leg is not None
    engineer = winner.contact.engineer.name if winner.contact.engineer else winner.contact.contact.address
    try:
        if leg.hung_up:
            raise ChannelHungUp(leg.id)
        await call.step("connected", engineer)
        await _talk(call, leg)
    except (ChannelHungUp, AriError) as exc:
        if call.channel.hung_up or not leg.hung_up:
            await call.record.dial_finished(winner.key, result="accepted", answered_at=winner.answered_at, accepted_at=winner.accepted_at)
            raise
        call.log.warning("engineer gone before the bridge", leg=leg.id, error=str(exc))
        await call.record.dial_finished(winner.key, result="declined", answered_at=winner.answered_at, accepted_at=winner.accepted_at)
        call.app.forget(leg)
        return None
    await call.record.dial_finished(winner.key, result="accepted", answered_at=winner.answered_at, accepted_at=winner.accepted_at)
    return Outcome("answered", engineer)


async def _talk(call: Call, leg: Channel) -> None:
    """Bridge caller and leg until either hangs up, then hang up the other. If the bridge
    cannot be made (the leg is gone), the caller stays on for what comes next."""
    client = call.app.client
    bridge_id = f"{BRIDGE_PREFIX}{uuid.uuid4().hex}"
    bridged = False
    call.app.bridges.add(bridge_id)
    try:
        await client.request("POST", "/bridges", type="mixing", bridgeId=bridge_id)
    except BaseException:
        call.app.bridges.discard(bridge_id)
        raise
    try:
        with contextlib.suppress(AriError):
            await call.channel.stop_ringing()
        await client.request("POST", f"/bridges/{bridge_id}/addChannel", channel=[call.channel.id, leg.id])
        bridged = True
        await _first(call.channel, leg.wait_hangup(), caller_hangup_is_error=False)
    finally:
        await _hang_up(call, leg)
        if bridged:
            with contextlib.suppress(AriError):
                await call.channel.hangup()
        with contextlib.suppress(AriError):
            await client.request("DELETE", f"/bridges/{bridge_id}")
        call.app.bridges.discard(bridge_id)


# --- 7. voicemail --------------------------------------------------------------------------


async def take_message(call: Call, *, kind: str = "critical", add_to_voicemail_id: int | None = None) -> Outcome:
    """Record a message and hand it to the desk; the caller hears it was received."""
    instructions = {"critical": "voicemail_instructions", "non_urgent": "non_urgent_instructions", "addition": "voicemail_add"}[kind]
    await call.step("voicemail" if kind != "non_urgent" else "non_urgent_message")
    line = call.config.line
    limits = RecordingLimits(line.voicemail_max_seconds, line.voicemail_max_silence, line.voicemail_min_seconds)
    recorded_at = call.now()
    message = await record_message(
        call.channel, call.app.client, call.media(instructions), call.media("voicemail_too_short"), limits, label=kind
    )
    outcome = "non_urgent_message" if kind == "non_urgent" else "voicemail"
    if message is None:
        await call.step("nothing_recorded")
        if call.channel.hung_up:
            return Outcome("abandoned", "nothing was recorded")
        await call.channel.hangup()
        return Outcome("failed", "nothing was recorded")
    await _store(call, message, kind, recorded_at, add_to_voicemail_id)
    if message.aborted:
        raise CallAborted(message.aborted)
    if message.caller_hung_up:
        return Outcome(outcome, "caller hung up while recording; the message is kept")
    with contextlib.suppress(CallEnded):
        await call.say("non_urgent_thanks" if kind == "non_urgent" else "voicemail_thanks")
        await call.channel.hangup()
    return Outcome(outcome)


async def _store(call: Call, message: Message, kind: str, recorded_at, add_to_voicemail_id: int | None) -> None:
    keep_pbx_copy = call.config.keep_pbx_recordings and kind != "non_urgent"
    stored = await call.desk.store_voicemail(
        call_channel_id=call.channel.id,
        audio=message.audio,
        audio_format="wav",
        recorded_at=recorded_at,
        duration_seconds=message.duration_seconds,
        partial=message.caller_hung_up,
        kind=kind,
        add_to_voicemail_id=add_to_voicemail_id,
        customer_id=call.customer.id if call.customer else None,
        pbx_recording=message.name if keep_pbx_copy else None,
    )
    if isinstance(stored, PendingVoicemail):
        where = f"{stored.file or 'memory only'} (database rows pending)"
    else:
        where = stored.path
    await call.step("voicemail_stored", f"{message.duration_seconds} s, {where}")
    if not keep_pbx_copy and (not isinstance(stored, PendingVoicemail) or stored.file is not None):
        # Ours is on disk: Asterisk's copy would only fill its spool. (A kept copy is removed
        # by the reminder loop once its incident is acknowledged: ari_app/reminder_loop.py.)
        await discard_stored(call.app.client, message)


# --- shared --------------------------------------------------------------------------------


async def _first(caller: Channel, other, *, caller_hangup_is_error: bool = True):
    """Await `other` unless the caller hangs up first (then ChannelHungUp, or just return)."""
    other_task = asyncio.ensure_future(other)
    caller_gone = asyncio.create_task(caller.wait_hangup())
    try:
        done, _ = await asyncio.wait({other_task, caller_gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (other_task, caller_gone):
            task.cancel()
        await asyncio.gather(other_task, caller_gone, return_exceptions=True)
    if other_task in done and not other_task.cancelled() and other_task.exception() is None:
        return other_task.result()
    if caller_gone in done and not caller_gone.cancelled():
        caller_gone.result()  # CallAborted
        if caller_hangup_is_error:
            raise ChannelHungUp(caller.id)
        return None
    if other_task in done and other_task.exception() is not None:
        raise other_task.exception()
    return None


async def _hang_up(call: Call, leg: Channel) -> None:
    try:
        await leg.hangup()
    except AriError as exc:
        call.log.warning("leg hang-up failed", leg=leg.id, error=str(exc))
    call.app.forget(leg)
