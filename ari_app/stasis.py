"""The Stasis app: which channels are ours, a flow task per inbound call, and what happens to
calls when the events connection was lost (events missed) or the app stops."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

import structlog

from ari_app.channel import Channel, Requester
from ari_app.client import AriError
from ari_app.events import AriEvent
from ari_app.call import BRIDGE_PREFIX
from ari_app.flow import CallRecorder

log = structlog.get_logger("ari.stasis")

InboundFlow = Callable[[Channel, CallRecorder], Awaitable[None]]


class AppRecorder(CallRecorder, Protocol):
    """Call records as the app needs them (see ari_app.call_log.CallLog)."""

    async def finish_orphan(self, *, channel_id: str, from_number: str | None, to_number: str, detail: str) -> None: ...

    async def note_orphan_continued(
        self, *, channel_id: str, from_number: str | None, to_number: str, detail: str, outcome: str | None = None
    ) -> None: ...

    async def last_step(self, channel_id: str) -> str | None: ...

INBOUND_ARGS = ["inbound"]
# Where a caller an earlier process left in our app goes on (dialplan/templates/
# extensions.conf.j2), rather than silence or a hang-up: the fallback path from its start; or,
# when they were leaving a message (Asterisk finished recording it; it is imported from
# Asterisk's recordings), the thanks and goodbye.
FALLBACK_CONTEXT = "nd-agi"
AFTER_MESSAGE_CONTEXT = "nd-after-message"
MESSAGE_STEPS = {"voicemail": "voicemail", "non_urgent_message": "non_urgent_message"}
# Legs the app rings (engineers, the office) enter Stasis with this argument when answered.
LEG_ARG = "leg"
# A channel that entered our app on a fresh connection can show in GET /channels before its
# StasisStart is read from the WebSocket; it is not an orphan. Asterisk sends StasisStart as
# the channel enters, so a second is ample.
ORPHAN_SETTLE = 1.0
# How long flows get to hang up and finish their records when the app stops.
STOP_GRACE = 3.0


class StasisApp:
    def __init__(
        self,
        client: Requester,
        app_name: str,
        recorder: AppRecorder,
        *,
        inbound_flow: InboundFlow | None = None,
        orphan_settle: float = ORPHAN_SETTLE,
    ):
        self.client = client
        self.app_name = app_name
        self.recorder = recorder
        # Set by whoever wires the app (the flow needs the app to ring legs).
        self.inbound_flow = inbound_flow
        self.orphan_settle = orphan_settle
        self.channels: dict[str, Channel] = {}
        self._flows: dict[str, asyncio.Task[None]] = {}
        # The events connection now open (see on_connected): legs belong to it.
        self.connection = 0
        self._background: set[asyncio.Task[None]] = set()
        # Bridges calls of this process hold (ari_app.steps adds and removes them).
        self.bridges: set[str] = set()

    async def handle_channel_event(self, event: AriEvent) -> None:
        """The client's channel-event handler: events of one channel arrive here in order."""
        assert event.channel_id is not None
        channel = self.channels.get(event.channel_id)
        if event.type == "StasisStart" and channel is None:
            self._enter(event)
            return
        if channel is None:
            log.debug("event for a channel not in our app", channel_id=event.channel_id, event_type=event.type)
            return
        channel.deliver(event)
        if event.type in ("StasisEnd", "ChannelDestroyed") and event.channel_id not in self._flows:
            self.channels.pop(event.channel_id, None)

    async def originate(self, endpoint: str, *, caller_id: str, timeout: int, variables: dict[str, str] | None = None) -> Channel:
        """Ring `endpoint` (PJSIP/...) for at most `timeout` seconds. The leg is ours from the
        start: its events (ringing, busy, its StasisStart when answered) reach the returned
        Channel, which the caller's flow owns; it never gets a flow of its own."""
        channel_id = f"nd-leg-{uuid.uuid4().hex}"
        channel = Channel(self.client, {"id": channel_id}, connection=self.connection)
        # Registered before the request: a leg can be refused (and its events sent) before
        # the answer to POST /channels arrives.
        self.channels[channel_id] = channel
        try:
            await self.client.request(
                "POST", "/channels", json={"variables": variables} if variables else None,
                endpoint=endpoint, app=self.app_name, appArgs=LEG_ARG, channelId=channel_id,
                callerId=caller_id, timeout=timeout,
            )
        except BaseException:
            self.channels.pop(channel_id, None)
            raise
        return channel

    def forget(self, channel: Channel) -> None:
        """A leg the flow is done with (hung up): no more events needed."""
        if channel.id not in self._flows:
            self.channels.pop(channel.id, None)

    async def handle_other_event(self, event: AriEvent) -> None:
        log.debug("ari event", event_type=event.type)

    async def on_connected(self, connection: int) -> None:
        """After every (re)connect: events may have been missed, and Asterisk does not replay
        them. Give up on every call from an earlier connection, and finish channels in our app
        that no flow holds (a previous process's calls)."""
        self.connection = connection
        for channel in list(self.channels.values()):
            if channel.connection < connection:
                await self._give_up(channel, "app reconnected")
        listed = await self.client.request("GET", "/channels") or []
        candidates = [snapshot for snapshot in listed if self._is_ours(snapshot) and snapshot["id"] not in self.channels]
        if candidates and self.orphan_settle > 0:
            await asyncio.sleep(self.orphan_settle)
        for snapshot in candidates:
            if snapshot["id"] not in self.channels:
                await self._finish_orphan(snapshot, "app reconnected")
        await self._remove_orphan_bridges()

    async def _remove_orphan_bridges(self) -> None:
        """Bridges of ours that no call holds (an earlier process's) only take resources."""
        try:
            bridges = await self.client.request("GET", "/bridges") or []
        except AriError as exc:
            log.error("bridges not listed after reconnect", error=str(exc))
            return
        for bridge in bridges:
            bridge_id = str(bridge.get("id", ""))
            if bridge_id.startswith(BRIDGE_PREFIX) and bridge_id not in self.bridges:
                log.warning("removing a bridge no call holds", bridge_id=bridge_id)
                try:
                    await self.client.request("DELETE", f"/bridges/{quote(bridge_id, safe='')}")
                except AriError as exc:
                    if exc.status != 404:
                        log.error("bridge not removed", bridge_id=bridge_id, error=str(exc))

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Give up on every call (hang up, finish the record), waiting at most `grace` seconds."""
        for channel in list(self.channels.values()):
            channel.abort("app stopped")
        flows = list(self._flows.values())
        if not flows:
            return
        _, unfinished = await asyncio.wait(flows, timeout=grace)
        for flow in unfinished:
            flow.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    # --- inside -----------------------------------------------------------------------------

    def _enter(self, event: AriEvent) -> None:
        channel = Channel(self.client, event.data["channel"], connection=event.connection)
        self.channels[channel.id] = channel
        args = event.data.get("args") or []
        if args == [LEG_ARG]:
            # A leg whose call this process does not hold (rung by an earlier process).
            log.warning("hanging up a leg no call holds", channel_id=channel.id)
            self.channels.pop(channel.id, None)
            task = asyncio.create_task(self._hang_up(channel.id, "leg without a call"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        if args != INBOUND_ARGS:
            log.info("channel entered the app without a flow", channel_id=channel.id, args=args)
            return
        log.info("inbound call", channel_id=channel.id, caller=channel.caller_number, exten=channel.dialed_exten)
        assert self.inbound_flow is not None, "StasisApp.inbound_flow is not set"
        flow = asyncio.create_task(self.inbound_flow(channel, self.recorder), name=f"call-{channel.id}")
        self._flows[channel.id] = flow
        flow.add_done_callback(lambda task: self._flow_done(channel.id, task))

    def _flow_done(self, channel_id: str, task: asyncio.Task[None]) -> None:
        self._flows.pop(channel_id, None)
        self.channels.pop(channel_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("call flow crashed", channel_id=channel_id, exc_info=task.exception())

    async def _give_up(self, channel: Channel, reason: str) -> None:
        if channel.id in self._flows:
            # The flow hangs up and finishes the record itself.
            channel.abort(reason)
            return
        self.channels.pop(channel.id, None)
        await self._hang_up(channel.id, reason)

    async def _finish_orphan(self, snapshot: dict[str, Any], reason: str) -> None:
        channel_id = snapshot["id"]
        if _stasis_args(snapshot) == INBOUND_ARGS:
            caller = Channel(self.client, snapshot)
            outcome = MESSAGE_STEPS.get(await self.recorder.last_step(channel_id) or "")
            context = AFTER_MESSAGE_CONTEXT if outcome else FALLBACK_CONTEXT
            if await self._continue_in(channel_id, context):
                log.warning("a caller an earlier process left was sent on in the dialplan", channel_id=channel_id, context=context,
                            reason=reason)  # fmt: skip
                await self.recorder.note_orphan_continued(channel_id=channel_id, from_number=caller.caller_number,
                                                          to_number=caller.dialed_exten, detail=f"{reason}: on to {context}",
                                                          outcome=outcome)  # fmt: skip
                return
            await self.recorder.finish_orphan(
                channel_id=channel_id, from_number=caller.caller_number, to_number=caller.dialed_exten, detail=reason
            )
        log.warning("hanging up a channel no flow holds", channel_id=channel_id, reason=reason)
        await self._hang_up(channel_id, reason)

    async def _continue_in(self, channel_id: str, context: str) -> bool:
        try:
            await self.client.request("POST", f"/channels/{quote(channel_id, safe='')}/continue",
                                      context=context, extension="s", priority=1)  # fmt: skip
        except AriError as exc:
            log.warning("orphan not sent to the fallback path; hanging up", channel_id=channel_id, error=str(exc))
            return False
        return True

    async def _hang_up(self, channel_id: str, reason: str) -> None:
        try:
            await self.client.request("DELETE", f"/channels/{quote(channel_id, safe='')}", reason="normal")
        except AriError as exc:
            if exc.status != 404:
                log.error("hang-up failed", channel_id=channel_id, reason=reason, error=str(exc))

    def _is_ours(self, snapshot: dict[str, Any]) -> bool:
        dialplan = snapshot.get("dialplan") or {}
        if dialplan.get("app_name") != "Stasis":
            return False
        return str(dialplan.get("app_data", "")).split(",")[0] == self.app_name


def _stasis_args(snapshot: dict[str, Any]) -> list[str]:
    """The arguments of the Stasis() call a channel is in ("nachtdienst,inbound" → ["inbound"])."""
    app_data = str((snapshot.get("dialplan") or {}).get("app_data", ""))
    return [arg for arg in app_data.split(",")[1:] if arg]
