"""Channel: ARI events turned into awaitable call-flow steps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.channel import CallAborted, Channel, ChannelHungUp
from ari_app.client import AriError
from ari_app.events import AriEvent


class FakeAriRequests:
    """Stands in for AriClient.request: notes each request and answers from `failures`
    ((method, path) → AriError) or with None. `on_request` may deliver events meanwhile, as
    Asterisk does before its answer arrives."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.failures: dict[tuple[str, str], AriError] = {}
        self.answers: dict[tuple[str, str], Any] = {}
        self.on_request = None

    async def request(self, method: str, path: str, *, json: Any = None, **params: Any) -> Any:
        self.requests.append((method, path, params))
        if self.on_request is not None:
            self.on_request(method, path, params)
        await asyncio.sleep(0)
        if (method, path) in self.failures:
            raise self.failures[(method, path)]
        return self.answers.get((method, path))

    def paths(self) -> list[str]:
        return [f"{method} {path}" for method, path, _ in self.requests]


def snapshot(channel_id: str = "1700000000.1", number: str = "0612345678", exten: str = "0497842611") -> dict[str, Any]:
    return {
        "id": channel_id,
        "caller": {"name": "", "number": number},
        "dialplan": {"context": "from-trunk", "exten": exten, "app_name": "Stasis", "app_data": "nachtdienst,inbound"},
    }


def event(event_type: str, channel_id: str = "1700000000.1", connection: int = 1, **data: Any) -> AriEvent:
    return AriEvent(type=event_type, data={"type": event_type, **data}, channel_id=channel_id, connection=connection)


def playback_event(event_type: str, playback_id: str, state: str) -> AriEvent:
    return event(event_type, playback={"id": playback_id, "state": state, "target_uri": "channel:1700000000.1"})


def recording_event(event_type: str, name: str, state: str, duration: int | None = None) -> AriEvent:
    data = {"name": name, "state": state, "target_uri": "channel:1700000000.1"}
    if duration is not None:
        data["duration"] = duration
    return event(event_type, recording=data)


@pytest.fixture
def ari() -> FakeAriRequests:
    return FakeAriRequests()


@pytest.fixture
def channel(ari: FakeAriRequests) -> Channel:
    return Channel(ari, snapshot())


def later(delay: float, action) -> None:
    asyncio.get_running_loop().call_later(delay, action)


def test_caller_number_and_dialled_extension_come_from_the_snapshot():
    channel = Channel(FakeAriRequests(), snapshot(number="0612345678", exten="0497842611"))
    assert (channel.caller_number, channel.dialed_exten) == ("0612345678", "0497842611")


@pytest.mark.parametrize("withheld", ["", "anonymous", "Anonymous"])
def test_withheld_number_is_none(withheld: str):
    assert Channel(FakeAriRequests(), snapshot(number=withheld)).caller_number is None


async def test_answer_ring_and_hangup_use_aris_paths(ari: FakeAriRequests, channel: Channel):
    await channel.answer()
    await channel.ring()
    await channel.hangup(reason="busy")

    assert ari.requests == [
        ("POST", "/channels/1700000000.1/answer", {}),
        ("POST", "/channels/1700000000.1/ring", {}),
        ("DELETE", "/channels/1700000000.1", {"reason": "busy"}),
    ]
    assert channel.hung_up


async def test_playback_finished_waits_for_playback_finished(ari: FakeAriRequests, channel: Channel):
    playback = await channel.play("sound:hello-world")
    method, path, params = ari.requests[0]
    assert (method, path, params["media"]) == ("POST", "/channels/1700000000.1/play", "sound:hello-world")
    assert params["playbackId"] == playback.id

    later(0.02, lambda: channel.deliver(playback_event("PlaybackFinished", playback.id, "done")))
    assert await playback.finished() == "done"


async def test_a_finish_event_that_overtakes_the_answer_is_not_lost(ari: FakeAriRequests, channel: Channel):
    ari.on_request = lambda method, path, params: channel.deliver(
        playback_event("PlaybackFinished", params["playbackId"], "done")
    )
    playback = await channel.play("sound:beep")

    assert await asyncio.wait_for(playback.finished(), 1) == "done"


async def test_caller_hanging_up_during_a_prompt_raises(channel: Channel):
    playback = await channel.play("sound:hello-world")
    later(0.02, lambda: channel.deliver(event("ChannelHangupRequest")))

    with pytest.raises(ChannelHungUp):
        await playback.finished()
    assert channel.hung_up


async def test_steps_after_hangup_raise_without_asking_asterisk(ari: FakeAriRequests, channel: Channel):
    channel.deliver(event("StasisEnd"))

    with pytest.raises(ChannelHungUp):
        await channel.answer()
    assert ari.requests == []


async def test_channel_gone_at_asterisk_counts_as_hung_up(ari: FakeAriRequests, channel: Channel):
    ari.failures[("POST", "/channels/1700000000.1/answer")] = AriError(404, "POST", "/x", "Channel not found")

    with pytest.raises(ChannelHungUp):
        await channel.answer()
    assert channel.hung_up


async def test_other_ari_errors_reach_the_flow(ari: FakeAriRequests, channel: Channel):
    ari.failures[("POST", "/channels/1700000000.1/play")] = AriError(500, "POST", "/x", "Internal Server Error")

    with pytest.raises(AriError):
        await channel.play("sound:hello-world")


async def test_hangup_of_a_channel_already_gone_is_quiet(ari: FakeAriRequests, channel: Channel):
    ari.failures[("DELETE", "/channels/1700000000.1")] = AriError(404, "DELETE", "/x", "Channel not found")

    await channel.hangup()
    await channel.hangup()

    assert len(ari.requests) == 1


async def test_wait_dtmf_returns_keys_in_order_including_ones_pressed_earlier(channel: Channel):
    channel.deliver(event("ChannelDtmfReceived", digit="1"))
    later(0.02, lambda: channel.deliver(event("ChannelDtmfReceived", digit="#")))

    assert await channel.wait_dtmf(timeout=1) == "1"
    assert await channel.wait_dtmf(timeout=1) == "#"


async def test_wait_dtmf_times_out_with_none(channel: Channel):
    assert await channel.wait_dtmf(timeout=0.05) is None


async def test_clear_dtmf_forgets_earlier_keys(channel: Channel):
    channel.deliver(event("ChannelDtmfReceived", digit="5"))
    channel.clear_dtmf()

    assert await channel.wait_dtmf(timeout=0.02) is None


async def test_wait_dtmf_raises_when_the_caller_hangs_up(channel: Channel):
    later(0.02, lambda: channel.deliver(event("ChannelHangupRequest")))

    with pytest.raises(ChannelHungUp):
        await channel.wait_dtmf(timeout=1)


async def test_wait_hangup(channel: Channel):
    assert await channel.wait_hangup(timeout=0.02) is False
    later(0.02, lambda: channel.deliver(event("ChannelDestroyed")))
    assert await channel.wait_hangup(timeout=1) is True


async def test_abort_wakes_every_waiting_step(channel: Channel):
    later(0.02, lambda: channel.abort("app reconnected"))

    with pytest.raises(CallAborted) as raised:
        await asyncio.wait_for(channel.wait_hangup(), 1)
    assert raised.value.reason == "app reconnected"
    with pytest.raises(CallAborted):
        await channel.wait_dtmf(timeout=1)


async def test_record_passes_the_limits_and_reports_the_result(ari: FakeAriRequests, channel: Channel):
    recording = await channel.record("vm-1", max_duration=300, max_silence=10)

    assert ari.requests[0] == (
        "POST",
        "/channels/1700000000.1/record",
        {
            "name": "vm-1",
            "format": "wav",
            "maxDurationSeconds": 300,
            "maxSilenceSeconds": 10,
            "ifExists": "fail",
            "beep": True,
            "terminateOn": "#",
        },
    )
    later(0.02, lambda: channel.deliver(recording_event("RecordingFinished", "vm-1", "done", duration=12)))
    result = await recording.finished()
    assert (result.state, result.duration, result.caller_hung_up) == ("done", 12, False)


async def test_recording_ended_by_hangup_keeps_the_partial_message(channel: Channel):
    recording = await channel.record("vm-2", max_duration=300, max_silence=10)

    def caller_hangs_up() -> None:
        channel.deliver(event("ChannelHangupRequest"))
        channel.deliver(recording_event("RecordingFinished", "vm-2", "done", duration=7))

    later(0.02, caller_hangs_up)
    result = await recording.finished()

    assert (result.state, result.duration, result.caller_hung_up) == ("done", 7, True)


async def test_recording_without_a_finish_report_after_hangup_ends_after_the_grace(channel: Channel):
    recording = await channel.record("vm-3", max_duration=300, max_silence=10)
    channel.deliver(event("StasisEnd"))

    result = await recording.finished(grace=0.05)

    assert (result.state, result.caller_hung_up) == ("unknown", True)
