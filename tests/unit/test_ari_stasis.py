"""The Stasis app against a fake PBX: a flow per inbound call, legs that belong to a call's flow,
and what becomes of calls when events may have been missed (reconnect) or the app stops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.channel import CallAborted, Channel, ChannelHungUp
from ari_app.client import AriError
from ari_app.stasis import StasisApp
from tests.unit.fake_pbx import APP, FakeCallLog, FakePbx, Phone, channel_snapshot, until

EVA_SIP = "sip:eva@127.0.0.1:5080"


class HeldFlows:
    """A flow that answers and holds each call until it hangs up or the app gives up on it."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def __call__(self, channel: Channel, recorder: FakeCallLog) -> None:
        self.started.append(channel.id)
        record = await recorder.start(channel_id=channel.id, from_number=channel.caller_number, to_number=channel.dialed_exten)
        try:
            await channel.answer()
            await record.step("holding")
            await channel.wait_hangup()
            await record.finish("abandoned", abandoned_step="holding")
        except ChannelHungUp:
            await record.finish("abandoned", abandoned_step=record.last_step)
        except CallAborted as exc:
            await channel.hangup()
            await record.finish("failed", detail=exc.reason)


@pytest.fixture
def flows() -> HeldFlows:
    return HeldFlows()


@pytest.fixture
async def pbx():
    fake = FakePbx()
    yield fake
    await fake.close()


@pytest.fixture
async def call_log() -> FakeCallLog:
    return FakeCallLog()


@pytest.fixture
async def app(pbx, call_log, flows):
    app = StasisApp(pbx, APP, call_log, inbound_flow=flows, orphan_settle=0)
    pbx.attach(app)
    yield app
    await app.stop(grace=0.5)


async def holding(call_log: FakeCallLog, *channel_ids: str) -> None:
    await until(lambda: all(c in call_log.records and call_log.records[c].last_step == "holding" for c in channel_ids))


# --- inbound calls ---------------------------------------------------------------------------------


async def test_an_inbound_call_starts_a_flow_and_other_channels_do_not(app, pbx, flows):
    inbound = pbx.call()
    other = pbx.call(args="engineer")
    await until(lambda: flows.started == [inbound])
    await asyncio.sleep(0.01)

    assert flows.started == [inbound]
    assert set(app.channels) == {inbound, other}


async def test_a_finished_call_is_forgotten(app, pbx, call_log):
    channel_id = pbx.call()
    await holding(call_log, channel_id)

    pbx.hang_up(channel_id)
    await until(lambda: channel_id not in app.channels)

    assert call_log.records[channel_id].finishes == [("abandoned", None, "holding")]


# --- legs ------------------------------------------------------------------------------------------


async def test_a_legs_stasis_start_reaches_its_channel_and_starts_no_flow(app, pbx, flows):
    pbx.phones[EVA_SIP] = Phone(0.01)

    leg = await app.originate(f"PJSIP/engineer-phone/{EVA_SIP}", caller_id='"x" <+31612345678>', timeout=25)

    # Registered before Asterisk was asked, so no event of it can be missed.
    assert app.channels[leg.id] is leg
    [originate] = pbx.originated()
    assert (originate.params["channelId"], originate.params["appArgs"], originate.params["app"]) == (leg.id, "leg", APP)
    assert await leg.wait_in_stasis(1) is True
    assert app.channels[leg.id] is leg and flows.started == []
    await leg.hangup()
    app.forget(leg)
    assert leg.id not in app.channels


async def test_a_leg_that_ends_unanswered_reports_why_and_is_removed(app, pbx):
    pbx.phones[EVA_SIP] = Phone.busy()

    leg = await app.originate(f"PJSIP/engineer-phone/{EVA_SIP}", caller_id="x", timeout=25)

    assert await leg.wait_in_stasis(1) is False
    assert leg.hangup_cause == 17
    await until(lambda: leg.id not in app.channels)


async def test_a_leg_destroyed_after_it_answered_is_removed(app, pbx):
    pbx.phones[EVA_SIP] = Phone(0.0)
    leg = await app.originate(f"PJSIP/engineer-phone/{EVA_SIP}", caller_id="x", timeout=25)
    assert await leg.wait_in_stasis(1)

    pbx.hang_up(leg.id)

    assert await leg.wait_hangup(1)
    await until(lambda: leg.id not in app.channels)


async def test_a_leg_asterisk_refuses_is_not_kept(app, pbx):
    pbx.fail("POST", "/channels", status=400, message="Allocation failed")

    with pytest.raises(AriError):
        await app.originate("PJSIP/engineer-phone/sip:x@y", caller_id="x", timeout=25)

    assert app.channels == {}


async def test_a_stray_leg_is_hung_up(app, pbx, flows):
    stray = pbx.stray_leg()

    await until(lambda: f"DELETE /channels/{stray}" in pbx.paths())

    assert stray not in app.channels and flows.started == []


async def test_forget_leaves_a_calls_own_channel_alone(app, pbx, call_log):
    channel_id = pbx.call()
    await holding(call_log, channel_id)

    app.forget(app.channels[channel_id])

    assert channel_id in app.channels


# --- reconnect and stop ----------------------------------------------------------------------------


async def test_after_reconnect_calls_from_the_earlier_connection_are_given_up(app, pbx, call_log):
    channel_id = pbx.call()
    await holding(call_log, channel_id)

    await pbx.reconnect()
    await until(lambda: channel_id not in app.channels)

    assert call_log.records[channel_id].finishes == [("failed", "app reconnected", None)]
    assert f"DELETE /channels/{channel_id}" in pbx.paths()
    assert call_log.orphans == []


async def test_legs_of_the_earlier_connection_are_hung_up_on_reconnect(app, pbx):
    pbx.phones[EVA_SIP] = Phone.never_answers()
    leg = await app.originate(f"PJSIP/engineer-phone/{EVA_SIP}", caller_id="x", timeout=25)

    await pbx.reconnect()

    assert f"DELETE /channels/{leg.id}" in pbx.paths()
    assert leg.id not in app.channels


async def test_calls_that_entered_on_the_new_connection_are_kept(app, pbx, call_log):
    pbx.connection = 2
    channel_id = pbx.call()
    await holding(call_log, channel_id)
    pbx.connection = 1

    await pbx.reconnect()

    assert channel_id in app.channels and call_log.records[channel_id].finishes == []
    assert f"DELETE /channels/{channel_id}" not in pbx.paths()


async def test_a_caller_an_earlier_process_left_goes_on_to_the_fallback_path_and_a_stray_leg_is_hung_up(app, pbx, call_log):
    pbx.existing(channel_snapshot("3.1", number="0201234567", exten="0497842611", app_data=f"{APP},inbound"))
    pbx.existing(channel_snapshot("3.2", number="", exten="s", app_data=f"{APP},leg"))
    pbx.existing(channel_snapshot("3.3", number="0201234567", exten="0497842611", app_data="someone-else,inbound"))
    in_dialplan = channel_snapshot("3.4", number="0201234567", exten="0497842611", app_data="")
    in_dialplan["dialplan"]["app_name"] = "Dial"
    pbx.existing(in_dialplan)

    await pbx.reconnect()

    # The caller goes on in the dialplan's fallback path, a step on its record; a leg is only
    # hung up; channels not in our app are left.
    assert pbx.continued == [("3.1", "nd-agi", "s", 1)]
    assert call_log.continued_orphans == [{"channel_id": "3.1", "from_number": "0201234567", "to_number": "0497842611",
                                           "detail": "app reconnected: on to nd-agi", "outcome": None}]  # fmt: skip
    assert call_log.orphans == []
    assert pbx.paths("DELETE") == ["DELETE /channels/3.2"]


@pytest.mark.parametrize("step", ["voicemail", "non_urgent_message"])
async def test_a_caller_whose_message_was_being_taken_is_thanked_and_the_record_ends(app, pbx, call_log, step):
    pbx.existing(channel_snapshot("3.1", number="0201234567", exten="0497842611", app_data=f"{APP},inbound"))
    call_log.orphan_steps["3.1"] = step

    await pbx.reconnect()

    assert pbx.continued == [("3.1", "nd-after-message", "s", 1)]
    [noted] = call_log.continued_orphans
    assert (noted["outcome"], noted["detail"]) == (step, "app reconnected: on to nd-after-message")


async def test_a_caller_that_cannot_be_sent_on_is_finished_and_hung_up(app, pbx, call_log):
    pbx.existing(channel_snapshot("3.1", number="0201234567", exten="0497842611", app_data=f"{APP},inbound"))
    pbx.fail("POST", "/channels/3.1/continue", status=409)

    await pbx.reconnect()

    assert call_log.orphans == [{"channel_id": "3.1", "from_number": "0201234567", "to_number": "0497842611", "detail": "app reconnected"}]
    assert pbx.paths("DELETE") == ["DELETE /channels/3.1"]


async def test_a_channel_whose_stasis_start_arrives_while_settling_is_not_an_orphan(pbx, call_log, flows):
    app = StasisApp(pbx, APP, call_log, inbound_flow=flows, orphan_settle=0.05)
    pbx.attach(app)
    channel_id = "4.1"
    pbx.existing(channel_snapshot(channel_id, number="0201234567", exten="0497842611", app_data=f"{APP},inbound"))

    reconnect = asyncio.create_task(pbx.reconnect())
    await until(lambda: pbx.paths() == ["GET /channels"])
    pbx.enter(channel_id)  # listed first, its StasisStart read a moment later
    await reconnect

    assert call_log.orphans == [] and flows.started == [channel_id]
    assert f"DELETE /channels/{channel_id}" not in pbx.paths()
    await app.stop(grace=0.5)


async def test_stop_hangs_up_every_call_and_finishes_its_record(app, pbx, call_log):
    calls = [pbx.call(), pbx.call()]
    await holding(call_log, *calls)

    await app.stop(grace=1)

    assert [call_log.records[c].finishes for c in calls] == [[("failed", "app stopped", None)]] * 2
    assert {f"DELETE /channels/{c}" for c in calls} <= set(pbx.paths())
    assert app.channels == {}


async def test_stop_does_not_wait_longer_than_its_grace_for_a_stuck_flow(pbx, call_log):
    async def stuck(channel: Channel, recorder: Any) -> None:
        await asyncio.sleep(60)

    app = StasisApp(pbx, APP, call_log, inbound_flow=stuck, orphan_settle=0)
    pbx.attach(app)
    pbx.call()
    await until(lambda: app.channels)
    started = asyncio.get_running_loop().time()

    await app.stop(grace=0.05)

    assert asyncio.get_running_loop().time() - started < 0.5
    assert app.channels == {}


async def test_on_reconnect_bridges_of_ours_that_no_call_holds_are_removed(app, pbx):
    pbx.bridges.update({"nd-bridge-left-behind": set(), "nd-bridge-in-a-call": set(), "someone-elses": set()})
    app.bridges.add("nd-bridge-in-a-call")

    await app.on_connected(2)

    assert pbx.deleted_bridges == ["nd-bridge-left-behind"]
    assert set(pbx.bridges) == {"nd-bridge-in-a-call", "someone-elses"}
