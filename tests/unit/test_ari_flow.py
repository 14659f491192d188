"""The first step of the call flow and the Stasis app around it, with a fake call log and ARI
requests answered by a fake: every call must end with a finished record."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.channel import Channel
from ari_app.client import AriError
from ari_app.flow import GREETING, handle_inbound_call
from ari_app.stasis import StasisApp
from tests.unit.test_ari_channel import FakeAriRequests, event, playback_event, snapshot

CHANNEL = "1700000000.1"


class FakeRecord:
    def __init__(self, channel_id: str, from_number: str | None, to_number: str):
        self.channel_id, self.from_number, self.to_number = channel_id, from_number, to_number
        self.steps: list[str] = []
        self.last_step: str | None = None
        self.outcome: tuple[str, str | None, str | None] | None = None

    async def step(self, step: str, detail: str | None = None) -> None:
        self.steps.append(step)
        self.last_step = step

    async def finish(self, outcome: str, *, detail: str | None = None, abandoned_step: str | None = None) -> None:
        assert self.outcome is None, "a call is finished once"
        self.outcome = (outcome, detail, abandoned_step)


class FakeCallLog:
    def __init__(self) -> None:
        self.records: dict[str, FakeRecord] = {}
        self.orphans: list[dict[str, Any]] = []

    async def start(self, *, channel_id: str, from_number: str | None, to_number: str) -> FakeRecord:
        record = self.records[channel_id] = FakeRecord(channel_id, from_number, to_number)
        return record

    async def finish_orphan(self, **details: Any) -> None:
        self.orphans.append(details)


@pytest.fixture
def ari() -> FakeAriRequests:
    return FakeAriRequests()


@pytest.fixture
def call_log() -> FakeCallLog:
    return FakeCallLog()


@pytest.fixture
def channel(ari: FakeAriRequests) -> Channel:
    return Channel(ari, snapshot(CHANNEL, number="0612345678", exten="0497842611"))


async def until(condition, timeout: float = 1.0) -> None:
    for _ in range(int(timeout / 0.005)):
        try:
            if condition():
                return
        except KeyError:
            pass
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def greeting_id(ari: FakeAriRequests) -> str:
    return next(params["playbackId"] for method, path, params in ari.requests if path.endswith("/play"))


# --- the flow ----------------------------------------------------------------------------------


async def test_caller_hanging_up_during_the_greeting_is_abandoned_at_that_step(ari, call_log, channel):
    flow = asyncio.create_task(handle_inbound_call(channel, call_log))
    await until(lambda: any(path.endswith("/play") for _, path, _ in ari.requests))

    channel.deliver(event("ChannelHangupRequest"))
    channel.deliver(playback_event("PlaybackFinished", greeting_id(ari), "done"))
    await asyncio.wait_for(flow, 1)

    record = call_log.records[CHANNEL]
    assert (record.from_number, record.to_number) == ("0612345678", "0497842611")
    assert record.steps == ["stasis_start", "answered", "greeting"]
    assert record.outcome == ("abandoned", None, "greeting")
    assert ari.paths() == [f"POST /channels/{CHANNEL}/answer", f"POST /channels/{CHANNEL}/play"]
    assert ari.requests[1][2]["media"] == GREETING


async def test_caller_hanging_up_after_the_greeting_is_abandoned_while_holding(ari, call_log, channel):
    flow = asyncio.create_task(handle_inbound_call(channel, call_log))
    await until(lambda: any(path.endswith("/play") for _, path, _ in ari.requests))
    channel.deliver(playback_event("PlaybackFinished", greeting_id(ari), "done"))
    await until(lambda: call_log.records[CHANNEL].last_step == "holding")

    channel.deliver(event("ChannelHangupRequest"))
    await asyncio.wait_for(flow, 1)

    assert call_log.records[CHANNEL].outcome == ("abandoned", None, "holding")


async def test_caller_who_stays_on_is_hung_up_as_not_implemented_yet(ari, call_log, channel):
    ari.on_request = lambda method, path, params: (
        channel.deliver(playback_event("PlaybackFinished", params["playbackId"], "done")) if path.endswith("/play") else None
    )

    await asyncio.wait_for(handle_inbound_call(channel, call_log, hold_limit=0.05), 1)

    assert call_log.records[CHANNEL].outcome == ("failed", "call flow not implemented yet", None)
    assert ari.paths()[-1] == f"DELETE /channels/{CHANNEL}"


async def test_caller_gone_before_the_answer_is_abandoned_at_stasis_start(ari, call_log, channel):
    ari.failures[("POST", f"/channels/{CHANNEL}/answer")] = AriError(404, "POST", "/answer", "Channel not found")

    await asyncio.wait_for(handle_inbound_call(channel, call_log), 1)

    assert call_log.records[CHANNEL].outcome == ("abandoned", None, "stasis_start")


async def test_an_ari_error_fails_the_call_and_hangs_up(ari, call_log, channel):
    ari.failures[("POST", f"/channels/{CHANNEL}/play")] = AriError(500, "POST", "/play", "Internal Server Error")

    await asyncio.wait_for(handle_inbound_call(channel, call_log), 1)

    outcome, detail, _ = call_log.records[CHANNEL].outcome
    assert outcome == "failed" and detail.startswith("greeting:") and "Internal Server Error" in detail
    assert ari.paths()[-1] == f"DELETE /channels/{CHANNEL}"


async def test_an_aborted_call_is_hung_up_and_failed_with_the_reason(ari, call_log, channel):
    flow = asyncio.create_task(handle_inbound_call(channel, call_log))
    await until(lambda: any(path.endswith("/play") for _, path, _ in ari.requests))

    channel.abort("app reconnected")
    await asyncio.wait_for(flow, 1)

    assert call_log.records[CHANNEL].outcome == ("failed", "app reconnected", None)
    assert ari.paths()[-1] == f"DELETE /channels/{CHANNEL}"


# --- the Stasis app ----------------------------------------------------------------------------


def stasis_start(channel_id: str, args: list[str], connection: int = 1) -> Any:
    return event("StasisStart", channel_id, connection=connection, args=args, channel=snapshot(channel_id))


class HeldFlows:
    """A flow that holds each call until the channel hangs up or is given up on."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def __call__(self, channel: Channel, recorder: FakeCallLog) -> None:
        self.started.append(channel.id)
        await handle_inbound_call(channel, recorder, hold_limit=10)


@pytest.fixture
def flows() -> HeldFlows:
    return HeldFlows()


@pytest.fixture
def app(ari, call_log, flows) -> StasisApp:
    # Greetings end at once, so calls reach the holding step.
    def finish_playbacks(method: str, path: str, params: dict[str, Any]) -> None:
        channel_id = path.split("/")[-2]
        if path.endswith("/play") and channel_id in app_.channels:
            app_.channels[channel_id].deliver(
                event("PlaybackFinished", channel_id, playback={"id": params["playbackId"], "state": "done"})
            )

    app_ = StasisApp(ari, "nachtdienst", call_log, inbound_flow=flows, orphan_settle=0)
    ari.on_request = finish_playbacks
    return app_


async def test_inbound_stasis_start_starts_a_flow_and_other_channels_do_not(app, flows):
    await app.handle_channel_event(stasis_start("1.1", ["inbound"]))
    await app.handle_channel_event(stasis_start("1.2", ["engineer"]))
    await until(lambda: flows.started == ["1.1"])

    assert set(app.channels) == {"1.1", "1.2"}


async def test_events_reach_the_channel_and_a_finished_call_is_forgotten(app, call_log):
    await app.handle_channel_event(stasis_start("1.1", ["inbound"]))
    await until(lambda: call_log.records["1.1"].last_step == "holding")

    await app.handle_channel_event(event("ChannelHangupRequest", "1.1"))
    await app.handle_channel_event(event("StasisEnd", "1.1"))
    await until(lambda: "1.1" not in app.channels)

    assert call_log.records["1.1"].outcome == ("abandoned", None, "holding")


async def test_after_reconnect_calls_from_the_earlier_connection_are_given_up(app, ari, call_log):
    await app.handle_channel_event(stasis_start("1.1", ["inbound"], connection=1))
    await until(lambda: call_log.records["1.1"].last_step == "holding")
    ari.answers[("GET", "/channels")] = [snapshot("1.1")]

    await app.on_connected(2)
    await until(lambda: "1.1" not in app.channels)

    assert call_log.records["1.1"].outcome == ("failed", "app reconnected", None)
    assert "DELETE /channels/1.1" in ari.paths()
    assert call_log.orphans == []


async def test_calls_that_entered_on_the_new_connection_are_kept(app, ari, call_log):
    await app.handle_channel_event(stasis_start("2.1", ["inbound"], connection=2))
    await until(lambda: call_log.records["2.1"].last_step == "holding")
    ari.answers[("GET", "/channels")] = [snapshot("2.1")]

    await app.on_connected(2)

    assert "2.1" in app.channels and call_log.records["2.1"].outcome is None
    assert "DELETE /channels/2.1" not in ari.paths()
    await app.stop()


async def test_channels_in_our_app_that_no_flow_holds_are_finished_and_hung_up(app, ari, call_log):
    other_app = snapshot("3.3")
    other_app["dialplan"]["app_data"] = "someone-else,inbound"
    in_dialplan = snapshot("3.4")
    in_dialplan["dialplan"]["app_name"] = "Dial"
    ari.answers[("GET", "/channels")] = [snapshot("3.1", number="0201234567"), other_app, in_dialplan]

    await app.on_connected(1)

    assert call_log.orphans == [
        {"channel_id": "3.1", "from_number": "0201234567", "to_number": "0497842611", "detail": "app reconnected"}
    ]
    assert [path for path in ari.paths() if path.startswith("DELETE")] == ["DELETE /channels/3.1"]


async def test_a_channel_whose_stasis_start_arrives_while_settling_is_not_an_orphan(ari, call_log, flows):
    app = StasisApp(ari, "nachtdienst", call_log, inbound_flow=flows, orphan_settle=0.05)
    ari.answers[("GET", "/channels")] = [snapshot("4.1")]

    reconnect = asyncio.create_task(app.on_connected(1))
    await until(lambda: ari.requests)
    await app.handle_channel_event(stasis_start("4.1", ["inbound"], connection=1))
    await reconnect

    assert call_log.orphans == []
    assert "DELETE /channels/4.1" not in ari.paths()
    await app.stop(grace=0.5)


async def test_stop_hangs_up_every_call_and_finishes_its_record(app, ari, call_log):
    for channel_id in ("5.1", "5.2"):
        await app.handle_channel_event(stasis_start(channel_id, ["inbound"]))
    await until(lambda: all(r.last_step == "holding" for r in call_log.records.values()) and len(call_log.records) == 2)

    await app.stop(grace=1)

    assert {r.outcome for r in call_log.records.values()} == {("failed", "app stopped", None)}
    assert {"DELETE /channels/5.1", "DELETE /channels/5.2"} <= set(ari.paths())
    assert app.channels == {}
