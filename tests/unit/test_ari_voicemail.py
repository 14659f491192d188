"""Taking a message (PRODUCT.md §1 step 7) against a fake PBX: recorded, fetched from Asterisk,
handed to the desk byte for byte, Asterisk's copy removed; too short is asked again once; a
caller hanging up mid-message keeps what was said."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from ari_app import voicemail
from ari_app.voicemail import wav_seconds
from tests.unit.fake_pbx import (
    EVA,
    NOW,
    Message,
    Party,
    Phone,
    Switchboard,
    customer,
    hang_up,
    press,
    step,
    wav_bytes,
)

EVA_SIP = "sip:eva@127.0.0.1:5080"


@pytest.fixture
async def switch():
    board = Switchboard()
    board.desk.by_phone["+31612345678"] = customer()
    board.desk.plan = [step(1, EVA, timeout=5)]  # nobody answers: 5 s, 0.05 s here
    board.pbx.phones[EVA_SIP] = Phone.never_answers()
    yield board
    await board.close()


def critical(*messages: Message, then=()) -> Party:
    """A caller who says it is critical; nobody accepts, so they leave `messages`."""
    return Party.of(press("1", "greeting"), *then, messages=list(messages))


def recordings(switch: Switchboard):
    return switch.pbx.requests_to("POST", "/channels/*/record")


async def test_the_message_is_recorded_fetched_stored_and_asterisks_copy_removed(switch):
    record = await switch.call(critical(Message(seconds=42)))

    assert record.outcome == ("voicemail", None, None)
    [recording] = recordings(switch)
    name = recording.params["name"]
    assert {k: recording.params[k] for k in ("format", "maxDurationSeconds", "maxSilenceSeconds", "terminateOn", "beep")} == {
        "format": "wav", "maxDurationSeconds": 300, "maxSilenceSeconds": 10, "terminateOn": "#", "beep": True,
    }  # fmt: skip
    assert name.startswith("nachtdienst-critical-")
    [stored] = switch.desk.voicemails
    assert stored["audio"] == wav_bytes(42)  # exactly what Asterisk served
    assert (stored["call_channel_id"], stored["kind"], stored["partial"], stored["customer_id"]) == (record.channel_id, "critical", False, 1)
    assert (stored["audio_format"], stored["duration_seconds"], stored["recorded_at"]) == ("wav", Decimal("42.00"), NOW)
    assert f"GET /recordings/stored/{name}/file" in switch.pbx.paths()
    assert switch.pbx.deleted_recordings == [name] and switch.pbx.stored == {}
    assert switch.pbx.played(record.channel_id)[-2:] == ["voicemail_instructions", "voicemail_thanks"]
    assert record.detail("voicemail_stored").startswith("42.00 s, voicemails/1.wav")
    assert f"DELETE /channels/{record.channel_id}" in switch.pbx.paths()


async def test_with_reminder_calls_on_asterisks_copy_of_a_critical_message_is_kept_for_the_engineer(switch):
    switch.line.config = replace(switch.line.config, keep_pbx_recordings=True)
    record = await switch.call(critical(Message(seconds=12)))

    assert record.outcome == ("voicemail", None, None)
    [recording] = recordings(switch)
    [stored] = switch.desk.voicemails
    assert stored["pbx_recording"] == recording.params["name"]
    assert switch.pbx.deleted_recordings == [] and recording.params["name"] in switch.pbx.stored


async def test_with_reminder_calls_on_a_non_urgent_messages_copy_still_goes(switch):
    switch.line.config = replace(switch.line.config, keep_pbx_recordings=True)
    record = await switch.call(Party.of(press("2", "greeting"), messages=[Message(seconds=12)]))

    assert record.outcome == ("non_urgent_message", None, None)
    [stored] = switch.desk.voicemails
    assert stored["pbx_recording"] is None and switch.pbx.stored == {}


async def test_the_recording_starts_only_after_the_instructions_were_heard(switch):
    switch.pbx.prompt_times["voicemail_instructions"] = 0.05

    record = await switch.call(critical(Message()))

    [play] = [r for r in switch.pbx.requests_to("POST", f"/channels/{record.channel_id}/play") if "voicemail_instructions" in r.params["media"][0]]
    [recording] = recordings(switch)
    assert recording.at - play.at >= 0.05


async def test_a_message_too_short_is_asked_for_again_once(switch):
    record = await switch.call(critical(Message(seconds=1), Message(seconds=1), Message(seconds=30)))

    first, second = recordings(switch)
    assert switch.pbx.played(record.channel_id)[-3:] == ["voicemail_instructions", "voicemail_too_short", "voicemail_thanks"]
    # The second try is kept (not shorter), the first removed at Asterisk; no third try.
    [stored] = switch.desk.voicemails
    assert stored["audio"] == wav_bytes(1) and stored["duration_seconds"] == Decimal("1.00")
    assert sorted(switch.pbx.deleted_recordings) == sorted([first.params["name"], second.params["name"]])
    assert record.outcome == ("voicemail", None, None)


async def test_a_second_try_shorter_than_the_first_keeps_the_first(switch):
    await switch.call(critical(Message(seconds=1), Message(seconds=0)))

    first, second = recordings(switch)
    [stored] = switch.desk.voicemails
    assert stored["audio"] == wav_bytes(1)
    # Neither copy is left at Asterisk: the unused second try at once, the first once stored.
    assert switch.pbx.deleted_recordings == [second.params["name"], first.params["name"]]
    assert switch.pbx.stored == {}


async def test_a_message_long_enough_is_not_asked_again(switch):
    record = await switch.call(critical(Message(seconds=2)))

    assert len(recordings(switch)) == 1
    assert "voicemail_too_short" not in switch.pbx.played(record.channel_id)


async def test_caller_hanging_up_mid_recording_keeps_the_partial_message(switch):
    record = await switch.call(critical(Message(seconds=17, end="hang_up")))

    assert record.outcome == ("voicemail", "caller hung up while recording; the message is kept", None)
    [stored] = switch.desk.voicemails
    assert stored["partial"] is True and stored["audio"] == wav_bytes(17)
    assert "voicemail_thanks" not in switch.pbx.played(record.channel_id)
    assert len(switch.pbx.deleted_recordings) == 1


async def test_caller_hanging_up_on_a_short_message_keeps_it(switch):
    record = await switch.call(critical(Message(seconds=1, end="hang_up")))

    assert len(recordings(switch)) == 1
    [stored] = switch.desk.voicemails
    assert stored["partial"] is True and stored["audio"] == wav_bytes(1)
    assert record.outcome[0] == "voicemail"


async def test_caller_hanging_up_while_told_the_message_is_too_short_keeps_it(switch):
    record = await switch.call(critical(Message(seconds=1), then=[hang_up("voicemail_too_short")]))

    [stored] = switch.desk.voicemails
    assert stored["partial"] is True and stored["audio"] == wav_bytes(1)
    assert record.outcome == ("voicemail", "caller hung up while recording; the message is kept", None)


async def test_nothing_recorded_stores_nothing(switch, monkeypatch):
    monkeypatch.setattr(voicemail, "FETCH_RETRIES", (0.0, 0.0))

    record = await switch.call(critical(Message(kept=False)))

    assert switch.desk.voicemails == []
    assert "nothing_recorded" in record.step_names()
    # Asked three times in all before giving up; an empty recording is not asked for again.
    [recording] = recordings(switch)
    name = recording.params["name"]
    assert switch.pbx.paths().count(f"GET /recordings/stored/{name}/file") == 3
    assert record.outcome == ("failed", "nothing was recorded", None)


async def test_caller_hanging_up_before_anything_was_recorded_is_abandoned(switch, monkeypatch):
    monkeypatch.setattr(voicemail, "FETCH_RETRIES", (0.0,))

    record = await switch.call(critical(Message(kept=False, end="hang_up")))

    assert switch.desk.voicemails == []
    assert record.outcome == ("abandoned", "nothing was recorded", "nothing_recorded")


async def test_a_recording_listed_late_is_still_fetched(switch, monkeypatch):
    monkeypatch.setattr(voicemail, "FETCH_RETRIES", (0.01, 0.01, 0.01))
    switch.pbx.fail("GET", "/recordings/stored/*/file", status=404, times=2, message="Recording not found")

    await switch.call(critical(Message(seconds=6)))

    [stored] = switch.desk.voicemails
    assert stored["audio"] == wav_bytes(6)


@pytest.mark.parametrize(("saved_as", "removed"), [("spooled", True), ("memory", False)])
async def test_asterisks_copy_is_removed_only_once_ours_is_on_disk(switch, saved_as, removed):
    switch.desk.saved_as = saved_as

    record = await switch.call(critical(Message(seconds=9)))

    assert bool(switch.pbx.deleted_recordings) is removed
    assert len(switch.pbx.stored) == (0 if removed else 1)
    assert record.outcome == ("voicemail", None, None)


async def test_an_unidentified_callers_message_has_no_customer(switch):
    switch.desk.by_phone.clear()

    await switch.call(Party.of(press("#", "enter_customer_number", times=3), press("1", "greeting"), messages=[Message()]))

    assert switch.desk.voicemails[0]["customer_id"] is None


def test_wav_seconds_reads_the_length_of_real_wav_audio():
    assert wav_seconds(wav_bytes(3)) == Decimal("3.00")
    assert wav_seconds(wav_bytes(0.5)) == Decimal("0.50")
    assert wav_seconds(b"not audio") is None
    assert wav_seconds(b"") is None
