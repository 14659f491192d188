"""The call flow of PRODUCT.md §1, from StasisStart to a finished record: office hours, who is
calling, entitlement, repeat caller, greeting and consent, ringing the engineers on duty, and
the voicemail when nobody accepts. The steps are in ari_app/steps.py; this module runs them in
order and makes sure every call ends with a finished record, whenever and however it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from ari_app import steps
from ari_app.call import Call, LineConfig, utc_now
from ari_app.channel import CallAborted, Channel, ChannelHungUp
from ari_app.prompts import Prompts

log = structlog.get_logger("ari.flow")


class CallRecord(Protocol):
    """The record of one call, as the flow writes it (see ari_app.call_log.CallLog)."""

    last_step: str | None

    async def step(self, step: str, detail: str | None = None) -> None: ...

    async def finish(self, outcome: str, *, detail: str | None = None, abandoned_step: str | None = None) -> None: ...

    async def set_customer(self, customer_id: int) -> None: ...

    async def set_language(self, language: str) -> None: ...

    async def dial_started(self, key: str, *, contact: str, engineer_id: int | None, step_position: int) -> None: ...

    async def dial_finished(
        self, key: str, *, result: str, answered_at: datetime | None = None, accepted_at: datetime | None = None
    ) -> None: ...


class CallRecorder(Protocol):
    async def start(self, *, channel_id: str, from_number: str | None, to_number: str) -> CallRecord: ...


@dataclass
class Line:
    """What every call shares: the desk, the prompts, the app (to ring legs), the settings."""

    desk: Any  # ari_app.desk.Desk
    prompts: Prompts
    app: Any  # ari_app.stasis.StasisApp
    config: LineConfig
    clock: Callable[[], datetime] = utc_now


async def handle_inbound_call(channel: Channel, recorder: CallRecorder, line: Line) -> None:
    """Run one inbound call to its finished record. Never raises for anything the call itself
    does (hang-up, ARI errors, an app that gives up on it)."""
    record = await recorder.start(channel_id=channel.id, from_number=channel.caller_number, to_number=channel.dialed_exten)
    call = Call(channel, record, line.desk, line.prompts, line.app, line.config, line.clock)
    await call.step("stasis_start")
    try:
        await channel.answer()
        await call.step("answered")
        outcome = await run_steps(call)
        # A step may end the call as abandoned too (nothing recorded): the record names the step.
        abandoned_step = record.last_step if outcome.outcome == "abandoned" else None
        await record.finish(outcome.outcome, detail=outcome.detail, abandoned_step=abandoned_step)
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


async def run_steps(call: Call) -> steps.Outcome:
    """PRODUCT.md §1 in order; the first step that ends the call gives its outcome."""
    if outcome := await steps.office_hours(call):
        return outcome
    await steps.identify_caller(call)
    if outcome := await steps.entitlement(call):
        return outcome
    if outcome := await steps.repeat_caller(call):
        return outcome
    if await steps.greet(call) == "non_urgent":
        return await steps.take_message(call, kind="non_urgent")
    if outcome := await steps.ring_on_duty(call):
        return outcome
    return await steps.take_message(call, kind="critical")


async def _hang_up_quietly(call: Call) -> None:
    try:
        await call.channel.hangup()
    except Exception:
        call.log.exception("hang-up failed")
