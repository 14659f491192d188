"""Ringing the engineers on duty (PRODUCT.md §1 step 6): the escalation steps in order, every
contact of a step at once; an engineer who picks up hears who calls and accepts with `1`
within the accept window (so a mobile's own voicemail never takes the call). The first to
accept wins and every other leg is hung up at once; busy, unreachable and declined legs end
their part of the step at once, and a step whose legs are all done gives way to the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from ari_app.channel import CallEnded, Channel, ChannelHungUp
from ari_app.client import AriError
from ari_app.keys import ask
from core.roster import ContactToRing, EscalationStepPlan

log = structlog.get_logger("ari.ringing")

# Q.850 causes a leg that never answered ends with.
BUSY_CAUSES = frozenset({17})
DECLINED_CAUSES = frozenset({21})
UNREACHABLE_CAUSES = frozenset({1, 2, 3, 20, 27, 34, 38, 41, 42, 47, 58, 66, 88, 127})
# Asterisk ends an unanswered originate itself after its timeout; a little slack on ours.
RING_SLACK = 2.0


class Originator(Protocol):
    async def originate(self, endpoint: str, *, caller_id: str, timeout: int) -> Channel: ...

    def forget(self, channel: Channel) -> None: ...


class DialRecord(Protocol):
    async def dial_started(self, key: str, *, contact: str, engineer_id: int | None, step_position: int) -> None: ...

    async def dial_finished(
        self, key: str, *, result: str, answered_at: datetime | None = None, accepted_at: datetime | None = None
    ) -> None: ...


def dial_string(contact: ContactToRing, *, trunk_available: bool) -> str | None:
    """How Asterisk reaches a contact: a SIP URI through the `engineer-phone` endpoint, an
    external number over the trunk; None when there is no way (no trunk to dial out on)."""
    if contact.contact.kind == "sip":
        return f"PJSIP/engineer-phone/{contact.contact.address}"
    return f"PJSIP/{contact.contact.address}@trunk" if trunk_available else None


def result_of_unanswered(leg: Channel) -> str:
    cause = leg.hangup_cause
    if cause in BUSY_CAUSES:
        return "busy"
    if cause in DECLINED_CAUSES:
        return "declined"
    if cause in UNREACHABLE_CAUSES:
        return "unreachable"
    return "no_answer"


@dataclass
class Leg:
    """One engineer contact being rung, and what became of it."""

    contact: ContactToRing
    step_position: int
    channel: Channel | None = None
    result: str | None = None
    answered_at: datetime | None = None
    accepted_at: datetime | None = None

    @property
    def key(self) -> str:
        return self.channel.id if self.channel else f"unplaced-{id(self)}"


@dataclass
class Ringing:
    """What ringing needs from the call: the caller, the media an engineer hears, and the
    ways to place legs and write them on the call's record."""

    caller: Channel
    originator: Originator
    record: DialRecord
    announcement: Sequence[str]
    caller_id: str
    accept_timeout: float
    trunk_available: bool
    clock: Callable[[], datetime]
    legs: list[Leg] = field(default_factory=list)

    async def run(self, plan: Sequence[EscalationStepPlan], on_step: Callable[[EscalationStepPlan], Awaitable[None]]) -> Leg | None:
        """Ring the plan's steps in order; the accepted leg (its channel in our app, answered)
        or None when nobody accepted. Raises ChannelHungUp when the caller hangs up."""
        for step in plan:
            await on_step(step)
            winner = await self._ring_step(step)
            if winner is not None:
                return winner
        return None

    async def _ring_step(self, step: EscalationStepPlan) -> Leg | None:
        legs = [Leg(contact, step.position) for contact in step.contacts]
        self.legs += legs
        placed = [leg for leg in await asyncio.gather(*(self._place(leg, step.timeout_seconds) for leg in legs)) if leg]
        if not placed:
            return None
        tasks = {asyncio.create_task(self._offer(leg, step.timeout_seconds), name=f"leg-{leg.key}"): leg for leg in placed}
        caller_gone = asyncio.create_task(self.caller.wait_hangup(), name="caller-gone")
        winner: Leg | None = None
        try:
            pending = set(tasks)
            while pending and winner is None:
                done, pending = await asyncio.wait(pending | {caller_gone}, return_when=asyncio.FIRST_COMPLETED)
                if caller_gone in done and caller_gone.result():  # CallAborted raises here too
                    raise ChannelHungUp(self.caller.id)
                pending.discard(caller_gone)
                for task in done - {caller_gone}:
                    if task.result():
                        winner = tasks[task]
                        break
        finally:
            caller_gone.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, caller_gone, return_exceptions=True)
            await asyncio.gather(*(self._end(leg, winner) for leg in placed))
        return winner

    async def _place(self, leg: Leg, ring_seconds: int) -> Leg | None:
        endpoint = dial_string(leg.contact, trunk_available=self.trunk_available)
        engineer_id = leg.contact.engineer.id if leg.contact.engineer else None
        if endpoint is None:
            leg.result = "unreachable"
            await self._note_unplaced(leg, engineer_id, "no trunk to ring an external number")
            return None
        try:
            leg.channel = await self.originator.originate(endpoint, caller_id=self.caller_id, timeout=ring_seconds)
        except AriError as exc:
            leg.result = "failed"
            await self._note_unplaced(leg, engineer_id, str(exc))
            return None
        await self.record.dial_started(leg.key, contact=leg.contact.contact.address, engineer_id=engineer_id, step_position=leg.step_position)
        return leg

    async def _note_unplaced(self, leg: Leg, engineer_id: int | None, why: str) -> None:
        log.warning("leg not placed", contact=leg.contact.contact.address, why=why)
        await self.record.dial_started(leg.key, contact=leg.contact.contact.address, engineer_id=engineer_id, step_position=leg.step_position)
        await self.record.dial_finished(leg.key, result=leg.result or "failed")

    async def _offer(self, leg: Leg, ring_seconds: int) -> bool:
        """Ring one leg; True when the engineer accepted with 1."""
        channel = leg.channel
        assert channel is not None
        try:
            if not await channel.wait_in_stasis(ring_seconds + RING_SLACK):
                leg.result = result_of_unanswered(channel) if channel.hung_up else "no_answer"
                return False
            leg.answered_at = self.clock()
            key = await ask(channel, self.announcement, accept="1", timeout=self.accept_timeout)
        except CallEnded:
            # The engineer hung up on the announcement: a decline.
            leg.result = leg.result or ("declined" if leg.answered_at else result_of_unanswered(channel))
            return False
        if key != "1":
            leg.result = "not_accepted"
            return False
        leg.accepted_at = self.clock()
        leg.result = "accepted"
        return True

    async def _end(self, leg: Leg, winner: Leg | None) -> None:
        """Hang up every leg but the winner and write its result (the winner's is written when
        its conversation ends: its talk time is billed)."""
        if leg is winner:
            return
        # "accepted" too: an engineer who pressed 1 a moment after the winner did not get the call.
        if leg.result in (None, "accepted"):
            leg.result = "answered_elsewhere" if winner else "no_answer"
        channel = leg.channel
        if channel is not None:
            try:
                await channel.hangup()
            except AriError as exc:
                log.warning("leg hang-up failed", leg=channel.id, error=str(exc))
            self.originator.forget(channel)
        await self.record.dial_finished(leg.key, result=leg.result, answered_at=leg.answered_at)
