"""The call flow of PRODUCT.md §1. For now only its first step: the call is answered, greeted
and held until the caller hangs up; every step lands on the call's record, and every call ends
with a finished record, whenever and however it ends.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from ari_app.channel import CallAborted, Channel, ChannelHungUp

log = structlog.get_logger("ari.flow")

GREETING = "sound:hello-world"
# Until the rest of the flow exists, a caller who stays on is not kept forever.
HOLD_LIMIT = 60.0


class CallRecord(Protocol):
    """The record of one call, as the flow writes it (see ari_app.call_log.CallLog)."""

    last_step: str | None

    async def step(self, step: str, detail: str | None = None) -> None: ...

    async def finish(self, outcome: str, *, detail: str | None = None, abandoned_step: str | None = None) -> None: ...


class CallRecorder(Protocol):
    async def start(self, *, channel_id: str, from_number: str | None, to_number: str) -> CallRecord: ...


class Call:
    """One inbound call as the flow's steps see it: the caller's channel and the record."""

    def __init__(self, channel: Channel, record: CallRecord):
        self.channel = channel
        self.record = record
        self.log = log.bind(channel_id=channel.id)

    async def step(self, name: str, detail: str | None = None) -> None:
        self.log.info("call step", step=name, detail=detail)
        await self.record.step(name, detail)


async def handle_inbound_call(channel: Channel, recorder: CallRecorder, *, hold_limit: float = HOLD_LIMIT) -> None:
    """Run one inbound call from StasisStart to its finished record. Never raises for anything
    the call itself does (hang-up, ARI errors, an app that gives up on it)."""
    record = await recorder.start(channel_id=channel.id, from_number=channel.caller_number, to_number=channel.dialed_exten)
    call = Call(channel, record)
    await call.step("stasis_start")
    try:
        await answer(call)
        await greet(call)
        await hold_until_flow_exists(call, hold_limit)
    except ChannelHungUp:
        call.log.info("caller hung up", step=record.last_step)
        await record.finish("abandoned", abandoned_step=record.last_step)
    except CallAborted as exc:
        call.log.warning("call given up", reason=exc.reason, step=record.last_step)
        await _hang_up_quietly(call)
        await record.finish("failed", detail=exc.reason)
    except Exception as exc:
        call.log.exception("call flow failed", step=record.last_step)
        await _hang_up_quietly(call)
        await record.finish("failed", detail=f"{record.last_step}: {exc}")


async def answer(call: Call) -> None:
    await call.channel.answer()
    await call.step("answered")


async def greet(call: Call) -> None:
    await call.step("greeting")
    playback = await call.channel.play(GREETING)
    await playback.finished()


async def hold_until_flow_exists(call: Call, hold_limit: float) -> None:
    """The rest of the flow comes in a later issue: wait for the caller to hang up."""
    await call.step("holding")
    if await call.channel.wait_hangup(timeout=hold_limit):
        raise ChannelHungUp(call.channel.id)
    await call.channel.hangup()
    await call.record.finish("failed", detail="call flow not implemented yet")


async def _hang_up_quietly(call: Call) -> None:
    try:
        await call.channel.hangup()
    except Exception:
        call.log.exception("hang-up failed")
