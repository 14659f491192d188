"""A fake Asterisk at ARI's REST level, wired to a real StasisApp, for unit tests of the call
flow without a PBX.

`FakePbx.request` stands in for `AriClient.request`: it answers as Asterisk does (404 for a
channel that is gone, 422 for one not in Stasis yet), notes every request, and sends the events
Asterisk would send through the app's real `ChannelDispatcher` (one ordered queue per channel,
as the client does). What the people on the line do is scripted:

- the caller (`Party`): `Reaction`s to what they hear ("press 1 while the greeting plays",
  "type 1001# when asked for a customer number", "hang up once it rings") and the `Message`s
  they leave when recorded;
- each endpoint the app rings (`Phone`): answers after a while and reacts like a caller, never
  answers (cause 19 after the originate's timeout), is busy (17) or unreachable (20) at once.

Playbacks finish after a short simulated time (`play_time`, per prompt in `prompt_times`, 0 =
at once, the finish then overtaking the request's answer). `FakeDesk` and `FakeCallLog` are the
flow's database side; `Switchboard` puts everything together for a test.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import hashlib
import io
import itertools
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ari_app.call import LineConfig
from ari_app.channel import Channel
from ari_app.client import AriError
from ari_app.desk import Lookup, NoOneToRing, PendingVoicemail
from ari_app.dispatch import ChannelDispatcher
from ari_app.events import AriEvent
from ari_app.flow import Line, handle_inbound_call
from ari_app.prompts import Prompts
from ari_app.stasis import StasisApp
from core.line_desk import CallerCustomer, OpenMessage, StoredVoicemail
from core.office_hours import OfficeStatus
from core.roster import Contact, ContactToRing, Engineer, EscalationStepPlan
from core.settings import LineSettings

APP = "nachtdienst"
SUPPORT_NUMBER = "0497842611"
PROMPTS_DIR = "/var/lib/nachtdienst/prompts"
WAV_RATE = 8000
NORMAL_CLEARING, USER_BUSY, NO_ANSWER, UNREACHABLE = 16, 17, 19, 20


def wav_bytes(seconds: float, rate: int = WAV_RATE) -> bytes:
    """A real WAV file (16-bit mono) of `seconds`, with a sample pattern that differs by length."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        size = frames * 2
        pattern = bytes((index * 7 + frames) % 256 for index in range(256))
        writer.writeframes((pattern * (size // 256 + 1))[:size])
    return buffer.getvalue()


def prompt_name(media: str) -> str:
    """"sound:/dir/nl/greeting" → "greeting"; "sound:beep" → "beep"."""
    return media.split(":", 1)[-1].rsplit("/", 1)[-1]


# --- scripts -------------------------------------------------------------------------------------


@dataclass
class Reaction:
    """What a party does on hearing `on`: a prompt's name, or "answered", "ring", "bridged",
    "recording" (the app started recording them). Keys are pressed `after` seconds after it
    started (or after it ended, with `at_end`); `times` reactions at most (None: every time).
    Of several reactions to the same moment, the first with turns left acts (so a list of them
    is what the party does the 1st, 2nd, … time)."""

    on: str
    keys: str = ""
    hang_up: bool = False
    after: float = 0.0
    at_end: bool = False
    times: int | None = 1


def press(keys: str, on: str, *, after: float = 0.0, at_end: bool = False, times: int | None = 1) -> Reaction:
    return Reaction(on, keys=keys, after=after, at_end=at_end, times=times)


def hang_up(on: str, *, after: float = 0.0, at_end: bool = False) -> Reaction:
    return Reaction(on, hang_up=True, after=after, at_end=at_end)


@dataclass
class Message:
    """One recording of a party: `seconds` long as Asterisk reports it (and the WAV's length),
    ended by "#", "silence" or "hang_up" after `wall` seconds here; `kept` False when Asterisk
    stored nothing (GET …/file answers 404)."""

    seconds: int = 5
    end: str = "#"
    wall: float = 0.01
    kept: bool = True


@dataclass
class Party:
    """The caller, or whoever picks up a phone the app rings."""

    reactions: list[Reaction] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def of(cls, *reactions: Reaction, messages: list[Message] | None = None) -> Party:
        return cls(list(reactions), list(messages or []))


@dataclass
class Phone:
    """An endpoint the app rings: `cause` ends it at once (busy, unreachable); else it answers
    after `answer_after` seconds (None: never, cause 19 once the originate's timeout ran out,
    scaled by the PBX's `ring_scale`) and the one who picks up reacts like a `Party`."""

    answer_after: float | None = 0.01
    cause: int | None = None
    party: Party = field(default_factory=Party)

    @classmethod
    def accepts(cls, *, after: float = 0.01, key_after: float = 0.0, then: list[Reaction] | None = None) -> Phone:
        """Picks up after `after` s and presses 1 `key_after` s into the announcement."""
        return cls(after, party=Party.of(press("1", "engineer_critical_call_from", after=key_after), *(then or [])))

    @classmethod
    def silent(cls, *, after: float = 0.01) -> Phone:
        """Picks up (a mobile's own voicemail) and presses nothing."""
        return cls(after)

    @classmethod
    def never_answers(cls) -> Phone:
        return cls(None)

    @classmethod
    def busy(cls) -> Phone:
        return cls(None, cause=USER_BUSY)

    @classmethod
    def unreachable(cls) -> Phone:
        return cls(None, cause=UNREACHABLE)

    @classmethod
    def hangs_up_on_the_announcement(cls, *, after: float = 0.01) -> Phone:
        return cls(after, party=Party.of(hang_up("engineer_critical_call_from")))


# --- what Asterisk holds -------------------------------------------------------------------------


@dataclass
class FakeChannel:
    id: str
    snapshot: dict[str, Any]
    party: Party
    is_leg: bool = False
    endpoint: str | None = None
    in_stasis: bool = False
    answered: bool = False
    gone: bool = False
    ringing: bool = False
    bridge: str | None = None
    heard: list[str] = field(default_factory=list)  # prompt names, in the order played
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    fired: dict[int, int] = field(default_factory=dict)  # reaction index → times fired
    recording: str | None = None
    message: Message | None = None  # the one being recorded
    cause: int | None = None  # why it ended


@dataclass
class FakePlayback:
    id: str
    channel_id: str
    names: list[str]
    media: list[str]
    done: bool = False
    timer: asyncio.TimerHandle | None = None


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    json: Any = None
    at: float = 0.0  # loop time

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class FakePbx:
    """The REST side of Asterisk's ARI, for one Stasis app."""

    def __init__(self, *, play_time: float = 0.005, ring_scale: float = 0.01, connection: int = 1):
        self.play_time = play_time
        self.prompt_times: dict[str, float] = {}
        self.ring_scale = ring_scale
        self.connection = connection
        self.requests: list[Request] = []
        self.channels: dict[str, FakeChannel] = {}
        self.playbacks: dict[str, FakePlayback] = {}
        self.bridges: dict[str, set[str]] = {}
        self.deleted_bridges: list[str] = []
        self.stored: dict[str, bytes] = {}
        self.deleted_recordings: list[str] = []
        self.continued: list[tuple[str, Any, Any, Any]] = []
        self.phones: dict[str, Phone] = {}
        self.variables: dict[str, str] = {"NACHTDIENST_PROMPTS": PROMPTS_DIR}
        self._failures: list[tuple[str, str, int, str, list[int]]] = []
        self._ids = itertools.count(1)
        self._dispatcher: ChannelDispatcher | None = None
        self.app: StasisApp | None = None

    def attach(self, app: StasisApp) -> None:
        self.app = app
        self._dispatcher = ChannelDispatcher(app.handle_channel_event, app.handle_other_event)

    async def close(self) -> None:
        for channel in self.channels.values():
            self._cancel_timers(channel)
        for playback in self.playbacks.values():
            if playback.timer:
                playback.timer.cancel()
        if self._dispatcher is not None:
            await self._dispatcher.close()

    # --- scripting -------------------------------------------------------------------------------

    def fail(self, method: str, pattern: str, status: int = 500, times: int = 1, message: str = "Internal Server Error") -> None:
        """The next `times` requests whose path matches `pattern` (fnmatch) fail with `status`."""
        self._failures.append((method, pattern, status, message, [times]))

    def call(self, party: Party | None = None, *, number: str = "0612345678", exten: str = SUPPORT_NUMBER, args: str = "inbound") -> str:
        """A call from the trunk enters the app; its channel id."""
        channel_id = f"1700000000.{next(self._ids)}"
        snapshot = channel_snapshot(channel_id, number=number, exten=exten, app_data=f"{APP},{args}")
        self.channels[channel_id] = FakeChannel(channel_id, snapshot, party or Party(), in_stasis=True)
        self._emit(channel_id, "StasisStart", args=args.split(",") if args else [], channel=snapshot)
        return channel_id

    def existing(self, snapshot: dict[str, Any]) -> None:
        """A channel Asterisk holds whose StasisStart the app did not see (yet: see `enter`)."""
        self.channels[snapshot["id"]] = FakeChannel(snapshot["id"], snapshot, Party(), in_stasis=True)

    def enter(self, channel_id: str) -> None:
        """The StasisStart of an `existing` channel reaches the app now."""
        snapshot = self.channels[channel_id].snapshot
        args = [arg for arg in snapshot["dialplan"]["app_data"].split(",")[1:] if arg]
        self._emit(channel_id, "StasisStart", args=args, channel=snapshot)

    def stray_leg(self) -> str:
        """A leg an earlier process rang enters the app on answer: no call holds it."""
        channel_id = f"nd-leg-stray{next(self._ids)}"
        snapshot = channel_snapshot(channel_id, number="", exten="s", app_data=f"{APP},leg")
        self.channels[channel_id] = FakeChannel(channel_id, snapshot, Party(), is_leg=True, in_stasis=True)
        self._emit(channel_id, "StasisStart", args=["leg"], channel=snapshot)
        return channel_id

    def hang_up(self, channel_id: str) -> None:
        """The party on `channel_id` hangs up (as a phone does: request, then the channel goes)."""
        channel = self.channels[channel_id]
        if channel.gone:
            return
        channel.gone = True
        self._cancel_timers(channel)
        self._leave_bridge(channel)
        channel.cause = NORMAL_CLEARING
        if channel.in_stasis:
            self._emit(channel_id, "ChannelHangupRequest", cause=NORMAL_CLEARING)
            self._emit(channel_id, "StasisEnd")
        self._finish_recording(channel)
        self._emit(channel_id, "ChannelDestroyed", cause=NORMAL_CLEARING, cause_txt="Normal Clearing")

    async def reconnect(self) -> None:
        """The events WebSocket came back: a new connection, as the client reports it."""
        assert self.app is not None
        self.connection += 1
        await self.app.on_connected(self.connection)

    # --- looking back ----------------------------------------------------------------------------

    def paths(self, method: str | None = None) -> list[str]:
        return [str(r) for r in self.requests if method is None or r.method == method]

    def requests_to(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and fnmatch.fnmatchcase(r.path, pattern)]

    def originated(self) -> list[Request]:
        return self.requests_to("POST", "/channels")

    def legs(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.is_leg]

    def leg_to(self, address: str) -> FakeChannel:
        [leg] = [c for c in self.legs() if c.endpoint == address]
        return leg

    def played(self, channel_id: str) -> list[str]:
        """The prompt names played to a channel, in order."""
        return self.channels[channel_id].heard

    def media_played(self, channel_id: str) -> list[str]:
        return [m for r in self.requests_to("POST", f"/channels/{channel_id}/play") for m in _as_list(r.params["media"])]

    # --- the REST interface ----------------------------------------------------------------------

    async def request(self, method: str, path: str, *, json: Any = None, **params: Any) -> Any:
        loop = asyncio.get_running_loop()
        self.requests.append(Request(method, path, params, json, loop.time()))
        await asyncio.sleep(0)  # a request is a round trip: others run meanwhile
        for fail_method, pattern, status, message, left in self._failures:
            if fail_method == method and fnmatch.fnmatchcase(path, pattern) and left[0] > 0:
                left[0] -= 1
                raise AriError(status, method, path, message)
        try:
            answer = self._route(method, path, params)
        except AriError as exc:  # as the client reports it: the request's method and path
            raise AriError(exc.status, method, path, exc.message) from None
        await asyncio.sleep(0)
        return answer

    def _route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["channels"]:
                return self._originate(params)
            case "GET", ["channels"]:
                return [c.snapshot for c in self.channels.values() if not c.gone]
            case "DELETE", ["channels", channel_id]:
                return self._delete_channel(self._channel(channel_id, stasis=False), params.get("reason", "normal"))
            case "POST", ["channels", channel_id, "continue"]:
                # Back to the dialplan: out of our app, still there.
                channel = self._channel(channel_id)
                channel.in_stasis = False
                self.continued.append((channel_id, params.get("context"), params.get("extension"), params.get("priority")))
                self._emit(channel_id, "StasisEnd")
                return None
            case "POST", ["channels", channel_id, "answer"]:
                channel = self._channel(channel_id)
                channel.answered = True
                self._trigger(channel, "answered")
                return None
            case "POST", ["channels", channel_id, "ring"]:
                channel = self._channel(channel_id)
                channel.ringing = True
                self._trigger(channel, "ring")
                return None
            case "DELETE", ["channels", channel_id, "ring"]:
                self._channel(channel_id).ringing = False
                return None
            case "POST", ["channels", channel_id, "play"]:
                return self._play(self._channel(channel_id), params)
            case "DELETE", ["playbacks", playback_id]:
                playback = self.playbacks.get(playback_id)
                if playback is None or playback.done:
                    raise AriError(404, method, path, "Playback not found")
                self._finish_playback(playback, "done")
                return None
            case "POST", ["channels", channel_id, "record"]:
                return self._record(self._channel(channel_id), params)
            case "POST", ["bridges"]:
                self.bridges[params["bridgeId"]] = set()
                return {"id": params["bridgeId"], "bridge_type": params.get("type"), "channels": []}
            case "POST", ["bridges", bridge_id, "addChannel"]:
                return self._add_to_bridge(bridge_id, params["channel"])
            case "DELETE", ["bridges", bridge_id]:
                if bridge_id not in self.bridges:
                    raise AriError(404, method, path, "Bridge not found")
                for channel_id in self.bridges.pop(bridge_id):
                    self.channels[channel_id].bridge = None
                self.deleted_bridges.append(bridge_id)
                return None
            case "GET", ["bridges"]:
                return [{"id": bridge_id, "channels": sorted(members)} for bridge_id, members in self.bridges.items()]
            case "POST", ["recordings", "live", name, "stop"]:
                recording = next((c for c in self.channels.values() if c.recording == name), None)
                if recording is None:
                    raise AriError(404, method, path, "Recording not found")
                self._finish_recording(recording)
                return None
            case "GET", ["recordings", "stored", name, "file"]:
                if name not in self.stored:
                    raise AriError(404, method, path, "Recording not found")
                return self.stored[name]
            case "DELETE", ["recordings", "stored", name]:
                if name not in self.stored:
                    raise AriError(404, method, path, "Recording not found")
                del self.stored[name]
                self.deleted_recordings.append(name)
                return None
            case "GET", ["asterisk", "variable"]:
                if params.get("variable") not in self.variables:
                    raise AriError(404, method, path, "Provided variable was not found")
                return {"value": self.variables[params["variable"]]}
        raise AriError(404, method, path, "Resource not found")

    def _channel(self, channel_id: str, *, stasis: bool = True) -> FakeChannel:
        channel = self.channels.get(channel_id)
        if channel is None or channel.gone:
            raise AriError(404, "", f"/channels/{channel_id}", "Channel not found")
        if stasis and not channel.in_stasis:
            raise AriError(422, "", f"/channels/{channel_id}", "Channel not in Stasis application")
        return channel

    # --- channels --------------------------------------------------------------------------------

    def _originate(self, params: dict[str, Any]) -> dict[str, Any]:
        assert params.get("app") == APP and params.get("appArgs") == "leg", params
        channel_id = params["channelId"]
        address = _address_of(params["endpoint"])
        phone = self.phones.get(address, Phone.never_answers())
        snapshot = channel_snapshot(channel_id, number=address, exten="s", app_data="")
        snapshot["dialplan"]["app_name"] = ""
        leg = FakeChannel(channel_id, snapshot, replace(phone.party, reactions=list(phone.party.reactions)), is_leg=True, endpoint=address)
        self.channels[channel_id] = leg
        loop = asyncio.get_running_loop()
        if phone.cause is not None:
            leg.timers.append(loop.call_soon(self._end_unanswered, leg, phone.cause))
        elif phone.answer_after is None or phone.answer_after > float(params["timeout"]) * self.ring_scale:
            leg.timers.append(loop.call_later(float(params["timeout"]) * self.ring_scale, self._end_unanswered, leg, NO_ANSWER))
        else:
            leg.timers.append(loop.call_later(phone.answer_after, self._answer_leg, leg))
        return snapshot

    def _end_unanswered(self, leg: FakeChannel, cause: int) -> None:
        if leg.gone:
            return
        leg.gone = True
        leg.cause = cause
        self._cancel_timers(leg)
        self._emit(leg.id, "ChannelDestroyed", cause=cause)

    def _answer_leg(self, leg: FakeChannel) -> None:
        if leg.gone:
            return
        leg.in_stasis = leg.answered = True
        leg.snapshot["dialplan"].update(app_name="Stasis", app_data=f"{APP},leg")
        self._emit(leg.id, "StasisStart", args=["leg"], channel=leg.snapshot)
        self._trigger(leg, "answered")

    def _delete_channel(self, channel: FakeChannel, reason: str) -> None:
        channel.gone = True
        self._cancel_timers(channel)
        self._leave_bridge(channel)
        cause = {"normal": NORMAL_CLEARING, "busy": USER_BUSY, "no_answer": NO_ANSWER}.get(reason, NORMAL_CLEARING)
        channel.cause = cause
        if channel.in_stasis:
            self._emit(channel.id, "StasisEnd")
        self._finish_recording(channel)
        self._emit(channel.id, "ChannelDestroyed", cause=cause)

    def _add_to_bridge(self, bridge_id: str, channel_ids: Any) -> None:
        if bridge_id not in self.bridges:
            raise AriError(404, "POST", f"/bridges/{bridge_id}/addChannel", "Bridge not found")
        channels = [self._channel(channel_id) for channel_id in _as_list(channel_ids)]
        for channel in channels:
            channel.bridge = bridge_id
            channel.ringing = False
            self.bridges[bridge_id].add(channel.id)
        for channel in channels:
            self._trigger(channel, "bridged")

    def _leave_bridge(self, channel: FakeChannel) -> None:
        if channel.bridge is not None:
            self.bridges.get(channel.bridge, set()).discard(channel.id)
            channel.bridge = None

    # --- playbacks and recordings ----------------------------------------------------------------

    def _play(self, channel: FakeChannel, params: dict[str, Any]) -> dict[str, Any]:
        media = _as_list(params["media"])
        playback = FakePlayback(params["playbackId"], channel.id, [prompt_name(m) for m in media], media)
        self.playbacks[playback.id] = playback
        channel.heard += playback.names
        self._emit(channel.id, "PlaybackStarted", playback=self._playback_json(playback, "playing"))
        for name in playback.names:
            self._trigger(channel, name)
        seconds = sum(self.prompt_times.get(name, self.play_time) for name in playback.names)
        missing = [m for m in media if m.startswith("recording:") and m.removeprefix("recording:") not in self.stored]
        if missing:  # Asterisk starts the playback and fails it: the stored recording is not there
            playback.timer = asyncio.get_running_loop().call_soon(self._finish_playback, playback, "failed")
            return self._playback_json(playback, "playing")
        if seconds <= 0:
            self._finish_playback(playback, "done")
        else:
            playback.timer = asyncio.get_running_loop().call_later(seconds, self._finish_playback, playback, "done")
            channel.timers.append(playback.timer)
        return self._playback_json(playback, "playing")

    def _finish_playback(self, playback: FakePlayback, state: str) -> None:
        if playback.done:
            return
        playback.done = True
        if playback.timer is not None:
            playback.timer.cancel()
        channel = self.channels[playback.channel_id]
        if channel.gone:
            return
        self._emit(channel.id, "PlaybackFinished", playback=self._playback_json(playback, state))
        for name in playback.names:
            self._trigger(channel, name, ended=True)

    def _playback_json(self, playback: FakePlayback, state: str) -> dict[str, Any]:
        return {"id": playback.id, "media_uri": playback.media[0], "state": state, "target_uri": f"channel:{playback.channel_id}"}

    def _record(self, channel: FakeChannel, params: dict[str, Any]) -> dict[str, Any]:
        name = params["name"]
        if name in self.stored and params.get("ifExists", "fail") == "fail":
            raise AriError(409, "POST", f"/channels/{channel.id}/record", "Recording with that name already exists")
        message = channel.party.messages.pop(0) if channel.party.messages else Message()
        channel.recording = name
        channel.message = message
        self._emit(channel.id, "RecordingStarted", recording=self._recording_json(channel, name, "recording"))
        self._trigger(channel, "recording")
        if message.end == "hang_up":
            action = functools.partial(self.hang_up, channel.id)
        else:
            action = functools.partial(self._finish_recording, channel)
        channel.timers.append(asyncio.get_running_loop().call_later(message.wall, action))
        return self._recording_json(channel, name, "recording")

    def _finish_recording(self, channel: FakeChannel) -> None:
        name = channel.recording
        if name is None:
            return
        channel.recording = None
        message, channel.message = channel.message, None
        assert message is not None
        if message.kept:
            self.stored[name] = wav_bytes(message.seconds)
        finished = self._recording_json(channel, name, "done")
        finished["duration"] = message.seconds if message.kept else 0
        self._emit(channel.id, "RecordingFinished", recording=finished)

    def _recording_json(self, channel: FakeChannel, name: str, state: str) -> dict[str, Any]:
        return {"name": name, "format": "wav", "state": state, "target_uri": f"channel:{channel.id}"}

    # --- the people on the line ------------------------------------------------------------------

    def _trigger(self, channel: FakeChannel, on: str, *, ended: bool = False) -> None:
        loop = asyncio.get_running_loop()
        for index, reaction in enumerate(channel.party.reactions):
            if reaction.on != on or reaction.at_end != ended:
                continue
            fired = channel.fired.get(index, 0)
            if reaction.times is not None and fired >= reaction.times:
                continue
            channel.fired[index] = fired + 1
            channel.timers.append(loop.call_later(reaction.after, self._act, channel, reaction))
            return  # one reaction per moment: several for the same prompt take turns, in order

    def _act(self, channel: FakeChannel, reaction: Reaction) -> None:
        if channel.gone:
            return
        for key in reaction.keys:
            self._emit(channel.id, "ChannelDtmfReceived", digit=key, duration_ms=100)
        if reaction.hang_up:
            self.hang_up(channel.id)

    def _cancel_timers(self, channel: FakeChannel) -> None:
        for timer in channel.timers:
            timer.cancel()
        channel.timers.clear()

    def _emit(self, channel_id: str, event_type: str, **data: Any) -> None:
        assert self._dispatcher is not None, "FakePbx.attach(app) first"
        channel = self.channels.get(channel_id)
        body: dict[str, Any] = {"type": event_type, "application": APP, **data}
        if "channel" not in body and "playback" not in body and "recording" not in body and channel is not None:
            body["channel"] = channel.snapshot
        self._dispatcher.dispatch(AriEvent.from_json(body, self.connection))


def channel_snapshot(channel_id: str, *, number: str, exten: str, app_data: str) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": f"PJSIP/trunk-{channel_id}",
        "state": "Up",
        "caller": {"name": "", "number": number},
        "dialplan": {"context": "from-trunk", "exten": exten, "priority": 3, "app_name": "Stasis", "app_data": app_data},
    }


def _as_list(value: Any) -> list[str]:
    """A list parameter as the app passes it (a list), or as ARI also takes it (comma-joined)."""
    if isinstance(value, str):
        return value.split(",") if not value.startswith("sound:") else [value]
    return list(value)


def _address_of(endpoint: str) -> str:
    """"PJSIP/engineer-phone/sip:eva@host" → "sip:eva@host"; "PJSIP/+316…@trunk" → "+316…"."""
    if endpoint.startswith("PJSIP/engineer-phone/"):
        return endpoint.removeprefix("PJSIP/engineer-phone/")
    return endpoint.removeprefix("PJSIP/").removesuffix("@trunk")


# --- the database side ---------------------------------------------------------------------------


def customer(number: str = "1001", *, id: int = 1, name: str = "Bakkerij Jansen", status: str = "active", after_hours: bool = True) -> CallerCustomer:
    return CallerCustomer(id=id, name=name, customer_number=number, status=status, after_hours_included=after_hours)


EVA = Engineer(1, "Eva Engineer", (Contact("sip", "sip:eva@127.0.0.1:5080"),))
BOB = Engineer(2, "Bob Backup", (Contact("sip", "sip:bob@127.0.0.1:5081"),))
CAROL = Engineer(3, "Carol Mobile", (Contact("phone", "+31612999999"),))


def step(position: int, *engineers: Engineer, timeout: int = 25) -> EscalationStepPlan:
    """A plan step ringing each engineer's first contact."""
    return EscalationStepPlan(position, tuple(ContactToRing(e, e.contacts_in_order[0]) for e in engineers), timeout)


class FakeDesk:
    """The Desk protocol of ari_app.desk with answers set by the test; notes every question."""

    def __init__(self) -> None:
        self.office = OfficeStatus(False, "weekend/outside schedule", None)
        self.by_phone: dict[str, CallerCustomer] = {}
        self.by_number: dict[str, CallerCustomer] = {}
        self.unavailable: bool | set[str] = False  # True, or the questions it cannot answer
        self.message: OpenMessage | None = None
        self.plan: list[EscalationStepPlan] | NoOneToRing = [step(1, EVA)]
        self.saved_as: str = "stored"  # or "spooled" (rows pending) or "memory" (not even on disk)
        self.asked: list[tuple[str, Any]] = []
        self.voicemails: list[dict[str, Any]] = []

    async def office_status(self, at: datetime | None = None) -> OfficeStatus:
        self.asked.append(("office_status", at))
        return self.office

    async def find_customer_by_phone(self, e164: str, at: datetime | None = None) -> Any:
        self.asked.append(("find_customer_by_phone", e164))
        return Lookup.unavailable if self._unavailable("find_customer_by_phone") else self.by_phone.get(e164)

    async def find_customer_by_number(self, keyed: str, at: datetime | None = None) -> Any:
        self.asked.append(("find_customer_by_number", keyed))
        return Lookup.unavailable if self._unavailable("find_customer_by_number") else self.by_number.get(keyed)

    async def open_message(self, *, customer_id: int | None, e164: str | None, since: datetime | None = None) -> OpenMessage | None:
        self.asked.append(("open_message", (customer_id, e164, since)))
        return self.message

    async def escalation_plan(self, at: datetime | None = None) -> list[EscalationStepPlan]:
        self.asked.append(("escalation_plan", at))
        if isinstance(self.plan, NoOneToRing):
            raise self.plan
        return self.plan

    async def store_voicemail(self, **details: Any) -> Any:
        self.asked.append(("store_voicemail", details["call_channel_id"]))
        self.voicemails.append(details)
        audio = details["audio"]
        if self.saved_as == "stored":
            return StoredVoicemail(len(self.voicemails), None, f"voicemails/{len(self.voicemails)}.wav", hashlib.sha256(audio).hexdigest(), len(audio))
        return PendingVoicemail(Path("pending-1.wav") if self.saved_as == "spooled" else None)

    def _unavailable(self, question: str) -> bool:
        return self.unavailable is True or (isinstance(self.unavailable, set) and question in self.unavailable)

    def questions(self) -> list[str]:
        return [question for question, _ in self.asked]


@dataclass
class Dial:
    contact: str
    engineer_id: int | None
    step_position: int
    started: float
    result: str | None = None
    answered_at: datetime | None = None
    accepted_at: datetime | None = None
    finishes: int = 0


class FakeRecord:
    """A call record (ari_app.flow.CallRecord) kept in memory."""

    def __init__(self, channel_id: str, from_number: str | None, to_number: str):
        self.channel_id, self.from_number, self.to_number = channel_id, from_number, to_number
        self.steps: list[tuple[str, str | None, float]] = []
        self.last_step: str | None = None
        self.finishes: list[tuple[str, str | None, str | None]] = []
        self.customer_id: int | None = None
        self.language: str | None = None
        self.dials: dict[str, Dial] = {}
        self.done = asyncio.Event()

    async def step(self, step: str, detail: str | None = None) -> None:
        self.steps.append((step, detail, asyncio.get_running_loop().time()))
        self.last_step = step

    async def finish(self, outcome: str, *, detail: str | None = None, abandoned_step: str | None = None) -> None:
        self.finishes.append((outcome, detail, abandoned_step))
        self.done.set()

    async def set_customer(self, customer_id: int) -> None:
        self.customer_id = customer_id

    async def set_language(self, language: str) -> None:
        self.language = language

    async def dial_started(self, key: str, *, contact: str, engineer_id: int | None, step_position: int) -> None:
        assert key not in self.dials, f"dial {key} started twice"
        self.dials[key] = Dial(contact, engineer_id, step_position, asyncio.get_running_loop().time())

    async def dial_finished(self, key: str, *, result: str, answered_at: datetime | None = None, accepted_at: datetime | None = None) -> None:
        dial = self.dials[key]
        dial.result, dial.answered_at, dial.accepted_at = result, answered_at, accepted_at
        dial.finishes += 1

    # --- for assertions ---

    @property
    def outcome(self) -> tuple[str, str | None, str | None]:
        assert len(self.finishes) == 1, f"a call is finished exactly once, not {self.finishes}"
        return self.finishes[0]

    def step_names(self) -> list[str]:
        return [name for name, _, _ in self.steps]

    def detail(self, name: str) -> str | None:
        [detail] = [detail for step_name, detail, _ in self.steps if step_name == name]
        return detail

    def at(self, name: str) -> list[float]:
        return [at for step_name, _, at in self.steps if step_name == name]

    def results(self) -> dict[str, str | None]:
        return {dial.contact: dial.result for dial in self.dials.values()}


class FakeCallLog:
    """The app's recorder (CallRecorder + finish_orphan)."""

    def __init__(self) -> None:
        self.records: dict[str, FakeRecord] = {}
        self.orphans: list[dict[str, Any]] = []
        self.continued_orphans: list[dict[str, Any]] = []
        self.orphan_steps: dict[str, str] = {}  # the last step an earlier process recorded

    async def start(self, *, channel_id: str, from_number: str | None, to_number: str) -> FakeRecord:
        assert channel_id not in self.records, f"call {channel_id} started twice"
        record = self.records[channel_id] = FakeRecord(channel_id, from_number, to_number)
        return record

    async def finish_orphan(self, **details: Any) -> None:
        self.orphans.append(details)

    async def note_orphan_continued(self, **details: Any) -> None:
        self.continued_orphans.append(details)

    async def last_step(self, channel_id: str) -> str | None:
        record = self.records.get(channel_id)
        return record.steps[-1][0] if record is not None and record.steps else self.orphan_steps.get(channel_id)


# --- all of it together --------------------------------------------------------------------------


def fast_line(**overrides: Any) -> LineSettings:
    """The line's settings with waits short enough for unit tests (bypassing the minimums
    the settings enforce for people)."""
    values: dict[str, Any] = {"key_timeout": 0.03, "accept_timeout": 0.05, "reassurance_interval": 60, "voicemail_min_seconds": 2}
    return LineSettings().model_copy(update={**values, **overrides})


def line_config(*, office_destination: str | None = None, trunk_available: bool = True, **line: Any) -> LineConfig:
    return LineConfig(
        line=fast_line(**line), zone=ZoneInfo("Europe/Amsterdam"), country="NL", support_number=SUPPORT_NUMBER,
        office_destination=office_destination, trunk_available=trunk_available,
    )  # fmt: skip


NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 03:00 in Amsterdam, a Wednesday night

Flow = Callable[[Channel, Any], Awaitable[None]]


class Switchboard:
    """A FakePbx, a real StasisApp running the real flow, a FakeDesk and a FakeCallLog."""

    def __init__(self, *, flow: Flow | None = None, **pbx: Any) -> None:
        self.pbx = FakePbx(**pbx)
        self.desk = FakeDesk()
        self.call_log = FakeCallLog()
        self.app = StasisApp(self.pbx, APP, self.call_log, orphan_settle=0)
        self.line = Line(desk=self.desk, prompts=Prompts(PROMPTS_DIR), app=self.app, config=line_config(), clock=lambda: NOW)
        self.app.inbound_flow = flow or self._run_flow
        self.pbx.attach(self.app)

    async def _run_flow(self, channel: Channel, recorder: Any) -> None:
        await handle_inbound_call(channel, recorder, self.line)

    def configure(self, **changes: Any) -> None:
        """Change the line's settings (LineConfig fields, or LineSettings fields)."""
        config_fields = {"office_destination", "trunk_available"}
        line_changes = {k: v for k, v in changes.items() if k not in config_fields}
        self.line.config = replace(
            self.line.config, line=self.line.config.line.model_copy(update=line_changes),
            **{k: v for k, v in changes.items() if k in config_fields},
        )  # fmt: skip

    async def call(self, party: Party | None = None, *, number: str = "0612345678", timeout: float = 3.0) -> FakeRecord:
        """Place a call and wait until its record is finished."""
        channel_id = self.pbx.call(party, number=number)
        return await self.finished(channel_id, timeout)

    async def finished(self, channel_id: str, timeout: float = 3.0) -> FakeRecord:
        record = await self.record_of(channel_id)
        await asyncio.wait_for(record.done.wait(), timeout)
        # Let the flow end (its task, hang-ups after the record) before the test looks.
        for _ in range(50):
            if channel_id not in self.app.channels:
                break
            await asyncio.sleep(0.002)
        return record

    async def record_of(self, channel_id: str, timeout: float = 1.0) -> FakeRecord:
        await until(lambda: channel_id in self.call_log.records, timeout)
        return self.call_log.records[channel_id]

    async def close(self) -> None:
        await self.app.stop(grace=0.5)
        await self.pbx.close()
        for record in self.call_log.records.values():
            assert len(record.finishes) == 1, f"call {record.channel_id} finished {len(record.finishes)} times: {record.finishes}"


async def until(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)
