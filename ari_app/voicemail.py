"""Taking a message (PRODUCT.md §1 step 7): instructions, a beep, a recording ended by `#`,
silence, its maximum length or the caller hanging up; a message too short is asked for once
more. The recording is fetched from Asterisk and handed to the desk, which stores it with its
checksum before anything else — a caller's words are never lost, not even half a message.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import quote

import structlog

from ari_app.channel import CallAborted, Channel, ChannelHungUp, RecordingResult
from ari_app.client import AriError

log = structlog.get_logger("ari.voicemail")

FORMAT = "wav"
# A stored recording can be listed a moment after RecordingFinished; fetching retries briefly.
FETCH_RETRIES = (0.2, 0.5, 1.0)


@dataclass(frozen=True)
class Message:
    """What was recorded: the audio (WAV bytes), its length, and whether the caller hung up."""

    name: str
    audio: bytes
    duration_seconds: Decimal | None
    caller_hung_up: bool
    # The app gave up on the call while it was recording (stopping, reconnecting): the message
    # so far is kept all the same, and the flow stops after storing it.
    aborted: str | None = None


@dataclass(frozen=True)
class RecordingLimits:
    max_seconds: int
    max_silence: int
    min_seconds: int


def wav_seconds(audio: bytes) -> Decimal | None:
    """The length of WAV audio, None if it is not readable WAV."""
    try:
        with wave.open(io.BytesIO(audio)) as reader:
            return (Decimal(reader.getnframes()) / Decimal(reader.getframerate())).quantize(Decimal("0.01"))
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


async def record_message(
    channel: Channel, requester, instructions: list[str], too_short: list[str], limits: RecordingLimits, *, label: str
) -> Message | None:
    """Play the instructions, record; ask once more if the message is shorter than the
    minimum (and the caller is still there). None when Asterisk kept nothing at all."""
    message = await _record_once(channel, requester, instructions, limits, label)
    if message is None or message.caller_hung_up or (message.duration_seconds or 0) >= limits.min_seconds:
        return message
    log.info("message too short, asking again", channel_id=channel.id, seconds=str(message.duration_seconds))
    try:
        again = await _record_once(channel, requester, too_short, limits, label)
    except ChannelHungUp:
        # Gone while hearing "too short": the short message is still theirs to keep.
        return replace(message, caller_hung_up=True)
    if again is None or (again.duration_seconds or 0) < (message.duration_seconds or 0):
        if again is not None:
            await _discard(requester, again.name)  # not kept: Asterisk's copy would only fill its spool
        return message
    await _discard(requester, message.name)
    return again


async def _record_once(channel: Channel, requester, instructions: list[str], limits: RecordingLimits, label: str) -> Message | None:
    playback = await channel.play(instructions)
    await playback.finished()
    # The channel in the name: a recording an app that died left behind can still be linked to
    # its call (core.fallback_import).
    name = f"nachtdienst-{label}-{channel.id}-{uuid.uuid4().hex[:12]}"
    recording = await channel.record(
        name, max_duration=limits.max_seconds, max_silence=limits.max_silence, terminate_on="#", beep=True, format=FORMAT
    )
    try:
        result = await recording.finished()
    except CallAborted as exc:
        await _stop_live(requester, name)
        kept = await _fetch(requester, RecordingResult(name, "aborted", None, caller_hung_up=True))
        if kept is None:
            raise
        return replace(kept, aborted=exc.reason)
    return await _fetch(requester, result)


async def _stop_live(requester, name: str) -> None:
    try:
        await requester.request("POST", f"/recordings/live/{quote(name, safe='')}/stop")
    except AriError as exc:
        log.info("live recording not stopped (already over?)", recording=name, error=str(exc))


async def _fetch(requester, result: RecordingResult) -> Message | None:
    path = f"/recordings/stored/{quote(result.name, safe='')}/file"
    audio: object = None
    for delay in (*FETCH_RETRIES, None):
        try:
            audio = await requester.request("GET", path)
            break
        except AriError as exc:
            if exc.status != 404:
                raise
            if delay is None:
                log.info("nothing was recorded", recording=result.name, state=result.state)
                return None
            await asyncio.sleep(delay)
    audio = audio if isinstance(audio, bytes) else b""
    seconds = wav_seconds(audio)
    if seconds is None and result.duration is not None:
        seconds = Decimal(result.duration)
    return Message(result.name, audio, seconds, result.caller_hung_up)


async def discard_stored(requester, message: Message) -> None:
    """Remove Asterisk's copy once ours is safe."""
    await _discard(requester, message.name)


async def _discard(requester, name: str) -> None:
    try:
        await requester.request("DELETE", f"/recordings/stored/{quote(name, safe='')}")
    except AriError as exc:
        log.warning("stored recording not removed", recording=name, error=str(exc))
