"""One channel in our Stasis app, as awaitable call-flow steps.

A `Channel` exists only from its StasisStart on: Asterisk refuses commands for a channel that
has not entered the app yet (422 "Channel not in Stasis application"), and originate returns
before that. The app feeds the channel's events in with `deliver()`; the call flow awaits
`answer()`, `play(...).finished()`, `wait_dtmf()` and so on, and never sees ARI's JSON.

When the caller is gone, every step raises `ChannelHungUp`; when the app gives up on the call
(reconnect, shutdown) it raises `CallAborted`. `hangup()` never raises for a channel that is
already gone, so a flow can always end with it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from ari_app.client import AriError
from ari_app.events import AriEvent

# Events after which the channel can no longer be used from our app.
_GONE_EVENTS = frozenset({"ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"})
# How long a recording waits for its RecordingFinished after the caller hung up: Asterisk sends
# it, but after the hang-up events.
RECORDING_GRACE = 2.0


class Requester(Protocol):
    async def request(self, method: str, path: str, *, json: Any = None, **params: Any) -> Any: ...


class CallEnded(Exception):
    """The call cannot go on; the flow writes its record and stops."""


class ChannelHungUp(CallEnded):
    """The channel is gone: the caller hung up (or it left our app)."""


class CallAborted(CallEnded):
    """The app gave up on this call; `reason` says why ("app reconnected")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class RecordingResult:
    """What a finished recording left: `state` as Asterisk reports it ("done", "failed", or
    "unknown" when no report came), its length in seconds where known, and whether the caller
    hung up during it (the partial recording is kept)."""

    name: str
    state: str
    duration: int | None
    caller_hung_up: bool


class _Changes:
    """Wakes every waiter of a channel when something about it changed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until `condition()` holds (True) or `timeout` seconds passed (False)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not condition():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                return condition()
        return True


class Channel:
    def __init__(self, client: Requester, snapshot: dict[str, Any], *, connection: int = 0):
        self.id: str = snapshot["id"]
        caller = snapshot.get("caller") or {}
        dialplan = snapshot.get("dialplan") or {}
        # Withheld numbers arrive as "" (or "anonymous"): the flow treats both as no number.
        number = str(caller.get("number") or "").strip()
        self.caller_number: str | None = number if number and number.lower() != "anonymous" else None
        self.dialed_exten: str = str(dialplan.get("exten") or "")
        # The events connection that delivered StasisStart: the app gives up on channels from
        # an earlier connection, since events may have been missed in between.
        self.connection = connection
        self.hung_up = False
        self.abort_reason: str | None = None
        # A leg we originate exists before it enters our app (on answer); until then it can
        # only ring, or end with a cause (busy, no answer, unreachable).
        self.in_stasis = (snapshot.get("dialplan") or {}).get("app_name") == "Stasis"
        self.hangup_cause: int | None = None
        self._client = client
        self._dtmf: deque[str] = deque()
        self._playbacks: dict[str, Playback] = {}
        self._recordings: dict[str, Recording] = {}
        self._changes = _Changes()

    def __repr__(self) -> str:
        return f"Channel({self.id!r}, caller={self.caller_number!r}, hung_up={self.hung_up})"

    # --- fed by the app ---------------------------------------------------------------------

    def deliver(self, event: AriEvent) -> None:
        """Take in one of this channel's events (in the order Asterisk sent them)."""
        if event.type == "ChannelDtmfReceived":
            self._dtmf.append(str(event.data.get("digit", "")))
        elif event.type == "StasisStart":
            self.in_stasis = True
        elif event.type in _GONE_EVENTS:
            self.hung_up = True
            if event.data.get("cause") is not None and self.hangup_cause is None:
                self.hangup_cause = int(event.data["cause"])
        elif event.type.startswith("Playback"):
            playback = self._playbacks.get(str(event.data.get("playback", {}).get("id")))
            if playback is not None:
                playback.update(event)
        elif event.type.startswith("Recording"):
            recording = self._recordings.get(str(event.data.get("recording", {}).get("name")))
            if recording is not None:
                recording.update(event)
        self._changes.notify()

    def abort(self, reason: str) -> None:
        """Give up on this call: every step waiting or to come raises CallAborted(reason)."""
        if self.abort_reason is None:
            self.abort_reason = reason
        self._changes.notify()

    # --- call-flow steps --------------------------------------------------------------------

    async def answer(self) -> None:
        await self._command("POST", f"/channels/{self._path_id}/answer")

    async def ring(self) -> None:
        """Let the caller hear ringing (until answer, play or hang-up)."""
        await self._command("POST", f"/channels/{self._path_id}/ring")

    async def stop_ringing(self) -> None:
        await self._command("DELETE", f"/channels/{self._path_id}/ring")

    async def hangup(self, reason: str = "normal") -> None:
        """Hang up; a channel that is already gone is left alone."""
        if self.hung_up:
            return
        self.hung_up = True
        self._changes.notify()
        try:
            await self._client.request("DELETE", f"/channels/{self._path_id}", reason=reason)
        except AriError as exc:
            if exc.status != 404:
                raise

    async def play(self, media: str | list[str]) -> Playback:
        """Start playing `media` ("sound:hello-world", or several in a row)."""
        playback = Playback(self, f"nd-{uuid.uuid4().hex}")
        # Registered before the request: the PlaybackFinished of a short sound can overtake
        # the response.
        self._playbacks[playback.id] = playback
        try:
            await self._command("POST", f"/channels/{self._path_id}/play", media=media, playbackId=playback.id)
        except BaseException:
            del self._playbacks[playback.id]
            raise
        return playback

    async def record(
        self,
        name: str,
        max_duration: int,
        max_silence: int,
        terminate_on: str = "#",
        beep: bool = True,
        format: str = "wav",
        if_exists: str = "fail",
    ) -> Recording:
        """Start recording the caller into stored recording `name`; `await .finished()`."""
        recording = Recording(self, name)
        self._recordings[name] = recording
        try:
            await self._command(
                "POST",
                f"/channels/{self._path_id}/record",
                name=name,
                format=format,
                maxDurationSeconds=max_duration,
                maxSilenceSeconds=max_silence,
                ifExists=if_exists,
                beep=beep,
                terminateOn=terminate_on,
            )
        except BaseException:
            del self._recordings[name]
            raise
        return recording

    async def wait_dtmf(self, timeout: float | None) -> str | None:
        """The next key the caller pressed (keys pressed earlier are kept, oldest first), or
        None when no key came within `timeout` seconds."""
        if not await self._changes.wait_until(lambda: bool(self._dtmf) or self._ended, timeout):
            return None
        if self._dtmf:
            return self._dtmf.popleft()
        self._raise_if_ended()
        return None

    async def wait_key_or(self, done: Callable[[], bool], timeout: float | None = None) -> str | None:
        """The next key, or None as soon as `done()` holds (a prompt ended) or `timeout` passed;
        for questions a caller may answer while the prompt is still playing."""
        if not await self._changes.wait_until(lambda: bool(self._dtmf) or self._ended or done(), timeout):
            return None
        if self._dtmf:
            return self._dtmf.popleft()
        self._raise_if_ended()
        return None

    async def wait_in_stasis(self, timeout: float | None) -> bool:
        """For a leg we originated: True once it answered (entered our app), False when it
        ended without answering or `timeout` passed. Raises CallAborted if the app gave up."""
        await self._changes.wait_until(lambda: self.in_stasis or self._ended, timeout)
        if self.abort_reason is not None:
            raise CallAborted(self.abort_reason)
        return self.in_stasis and not self.hung_up

    def clear_dtmf(self) -> None:
        """Forget keys pressed so far (before a question whose answer must come after it)."""
        self._dtmf.clear()

    async def wait_hangup(self, timeout: float | None = None) -> bool:
        """True once the channel is gone; False if it is still there after `timeout` seconds."""
        await self._changes.wait_until(lambda: self.hung_up or self.abort_reason is not None, timeout)
        if self.abort_reason is not None and not self.hung_up:
            raise CallAborted(self.abort_reason)
        return self.hung_up

    # --- inside -----------------------------------------------------------------------------

    @property
    def _ended(self) -> bool:
        return self.hung_up or self.abort_reason is not None

    @property
    def _path_id(self) -> str:
        return quote(self.id, safe="")

    def _raise_if_ended(self) -> None:
        if self.abort_reason is not None:
            raise CallAborted(self.abort_reason)
        if self.hung_up:
            raise ChannelHungUp(self.id)

    async def _command(self, method: str, path: str, **params: Any) -> Any:
        self._raise_if_ended()
        try:
            return await self._client.request(method, path, **params)
        except AriError as exc:
            # 404: the channel is gone. 409/412/422 for a channel that hung up meanwhile.
            if exc.status == 404:
                self.hung_up = True
            if self.hung_up:
                raise ChannelHungUp(self.id) from exc
            raise


class Playback:
    """A sound being played to a channel."""

    def __init__(self, channel: Channel, playback_id: str):
        self.id = playback_id
        self.state = "queued"
        self.done = False
        self._channel = channel

    def update(self, event: AriEvent) -> None:
        self.state = str(event.data.get("playback", {}).get("state", self.state))
        if event.type == "PlaybackFinished":
            self.done = True

    async def finished(self) -> str:
        """Wait until the playback ended; its final state ("done", "failed"). Raises
        ChannelHungUp if the caller hung up meanwhile, so a flow never goes on past a prompt
        nobody heard."""
        channel = self._channel
        await channel._changes.wait_until(lambda: self.done or channel._ended, None)
        channel._raise_if_ended()
        return self.state

    async def stop(self) -> None:
        """Stop the playback early (a caller who already pressed a key)."""
        if self.done or self._channel._ended:
            return
        try:
            await self._channel._client.request("DELETE", f"/playbacks/{quote(self.id, safe='')}")
        except AriError as exc:
            if exc.status != 404:
                raise


class Recording:
    """A live recording of a channel."""

    def __init__(self, channel: Channel, name: str):
        self.name = name
        self.state = "queued"
        self.duration: int | None = None
        self.done = False
        self._channel = channel

    def update(self, event: AriEvent) -> None:
        data = event.data.get("recording", {})
        self.state = str(data.get("state", self.state))
        if data.get("duration") is not None:
            self.duration = int(data["duration"])
        if event.type in ("RecordingFinished", "RecordingFailed"):
            self.done = True

    async def finished(self, grace: float = RECORDING_GRACE) -> RecordingResult:
        """Wait until the recording ended: by `#`, silence, its maximum length, or the caller
        hanging up (which is not an error here: the partial recording is kept). Raises
        CallAborted when the app gives up on the call."""
        channel = self._channel
        await channel._changes.wait_until(lambda: self.done or channel._ended, None)
        if channel.abort_reason is not None:
            raise CallAborted(channel.abort_reason)
        if not self.done:
            await channel._changes.wait_until(lambda: self.done, grace)
        state = self.state if self.done else "unknown"
        return RecordingResult(self.name, state, self.duration, caller_hung_up=channel.hung_up)
