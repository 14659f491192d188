"""Never lose a call (issue 6) over real SIP: with the ARI app stopped the dialplan takes the
AGI path (the FastAGI server answers from the database: the engineer accepts with 1, or the
caller leaves a message); with the FastAGI server stopped too, the static path rings the
contacts the app last set in Asterisk's globals and records a message. Messages are imported
and transcribed once the app is back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import sipp
from tests.e2e.line import EVA, EVA_MOBILE
from tests.e2e.speech import compose_message, recall

pytestmark = pytest.mark.e2e

CUSTOMER = ("Glasatelier De Vries", "1031")
PHONES = ("0612340031", "0612340032", "0612340033", "0612340034")


@pytest.fixture(scope="module", autouse=True)
def customer(line):
    line.cli("customers", "add", CUSTOMER[0], "--number", CUSTOMER[1], *[arg for phone in PHONES for arg in ("--phone", phone)])


@pytest.fixture(scope="module", autouse=True)
def transcription_worker(line) -> Iterator[None]:
    """`nachtdienst service transcribe`, so imported messages are transcribed like any other
    (it also works through the session's earlier voicemails meanwhile)."""
    line.start_service("transcribe")
    try:
        yield
    finally:
        line.stop_service("transcribe")


@pytest.fixture(scope="module")
def english_message(tmp_path_factory) -> tuple[Path, str, float]:
    """Real human speech (about 5 s), looped by the caller: the transcript can be checked."""
    return compose_message(tmp_path_factory.mktemp("speech"), ["tt-somethingwrong", "sorry-youre-having-problems"])


@pytest.fixture
def app_down(line) -> Iterator[None]:
    """The ARI app stopped for the test (the static contacts it set in Asterisk stay)."""
    line.stop_app()
    try:
        yield
    finally:
        if "ari" not in line.services:
            line.start_app()


@pytest.fixture
def agi_server(line, app_down) -> Iterator[None]:
    start_agi(line)
    try:
        yield
    finally:
        line.stop_service("agi")


def start_agi(line) -> None:
    """`nachtdienst service agi`, once it accepts connections on its port."""
    line.start_service("agi")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", 4573), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the FastAGI server did not listen within 20 s")


def call_from(line, number: str, **matching: Any) -> dict[str, Any]:
    return line.wait_for_call(lambda c: c["from_number"] == number and c["ended_at"] and all(c[k] == v for k, v in matching.items()),
                              timeout=30)  # fmt: skip


def steps_of(call) -> list[str]:
    return [step["step"] for step in call["steps"]]


def test_with_the_app_down_the_agi_path_rings_the_engineer_who_accepts_with_1(line, agi_server):
    assert "calls: the AGI path (fallback): the ARI app is not registered; the FastAGI server answers" in line.cli("pbx", "status").stdout
    # Eva hears "Kritieke oproep van 1 0 3 1, toets 1": she presses 1 two seconds in.
    phone = sipp.engineer_phone("answer", answer_after=1.0, digits=[(2.0, "1")], stay=60)
    # The caller presses 1 in the greeting (consent), then talks to Eva until 30 s.
    caller = sipp.place_call(line.pbx_address, from_number=PHONES[0], dtmf=[(2.0, "1")], hangup_after=30).wait(90)
    assert caller.final_response == 200, caller.describe()
    phone.wait(30)
    assert phone.received_bye, phone.describe()

    call = call_from(line, PHONES[0])
    assert call["path"] == "agi" and call["outcome"] == "answered", steps_of(call)
    assert call["customer"]["customer_number"] == CUSTOMER[1]
    assert {"agi_path", "office_hours", "consent", "dial"} <= set(steps_of(call))
    # Every contact of Eva's step rang at once (an earlier test gave her a second one).
    attempts = {a["contact"]: a for a in call["dial_attempts"]}
    attempt = attempts.pop(EVA)
    assert (attempt["engineer"], attempt["result"]) == ("Eva Engineer", "accepted")
    assert attempt["accepted_at"] and attempt["ended_at"]
    assert all(a["result"] == "answered_elsewhere" for a in attempts.values()), attempts


def test_on_the_agi_path_an_engineer_who_does_not_accept_ends_only_her_own_leg_and_the_others_ring_on(line, agi_server, eva_has_a_mobile):
    # Her desk phone answers at once and gets 9 (not 1): that leg ends. Her mobile, ringing on,
    # answers four seconds in and she accepts with 1.
    desk = sipp.engineer_phone("answer", answer_after=0.5, digits=[(0.5, "9")], stay=60)
    mobile = sipp.engineer_phone("answer", port=5081, answer_after=4.0, digits=[(1.0, "1")], stay=60)
    caller = sipp.place_call(line.pbx_address, from_number=PHONES[3], dtmf=[(2.0, "1")], hangup_after=30).wait(90)
    assert caller.final_response == 200, caller.describe()
    desk.wait(30)
    mobile.wait(30)
    assert mobile.received_bye, mobile.describe()

    call = call_from(line, PHONES[3])
    assert (call["path"], call["outcome"]) == ("agi", "answered"), steps_of(call)
    results = {a["contact"]: a["result"] for a in call["dial_attempts"]}
    assert results == {EVA: "not_accepted", EVA_MOBILE: "accepted"}, call["dial_attempts"]
    # Talk time counts from her 1 (about five seconds into the step), not from the ringing.
    accepted = next(a for a in call["dial_attempts"] if a["contact"] == EVA_MOBILE)
    rang = (datetime.fromisoformat(accepted["accepted_at"]) - datetime.fromisoformat(accepted["started_at"])).total_seconds()
    assert 3.0 <= rang <= 9.0, accepted


def test_on_the_agi_path_an_engineer_who_does_not_press_1_has_not_accepted_and_the_caller_leaves_a_message(line, agi_server, english_message):
    wav, spoken, _ = english_message
    phone = sipp.engineer_phone("silent", answer_after=1.0, stay=60)
    # 1 at 2 s; "connecting"; Eva answers and stays silent (her accept window is 5 s); the
    # instructions and the beep; the caller speaks and ends with # at 45 s.
    caller = sipp.place_call(
        line.pbx_address, from_number=PHONES[1], wav=wav, wav_loops=-1, dtmf=[(2.0, "1"), (45.0, "#")],
        hangup_after=None, wait_for_bye=40, timeout=120,
    ).wait(130)  # fmt: skip
    assert caller.final_response == 200 and caller.received_bye, caller.describe()
    phone.wait(30)

    call = call_from(line, PHONES[1])
    assert call["path"] == "agi" and call["outcome"] == "voicemail", steps_of(call)
    assert {a["contact"]: a["result"] for a in call["dial_attempts"]}[EVA] == "not_accepted"
    # The message waits in Asterisk until the app is back.
    names = [r["name"] for r in line.ari("GET", "/recordings/stored")]
    [name] = [n for n in names if n.startswith("nachtdienst-fallback-critical-") and n.endswith(PHONES[1])]

    line.start_app()
    imported = wait_for(lambda: voicemail_of(line, call["id"]), "the message was not imported")
    assert imported["path"].startswith("recordings/") and imported["sha256"]
    [incident] = [i for i in line.json("incidents", "list", "--json") if i["call_id"] == call["id"]]
    assert incident["status"] == "new" and incident["customer"]["customer_number"] == CUSTOMER[1]
    # ... and transcribed like any other message: the caller's words are in the transcript.
    transcript = wait_for(lambda: transcript_of(line, incident["id"]), "the imported message was not transcribed", timeout=240)
    assert transcript["language"] == "en" and not transcript["no_speech"], transcript
    assert recall(spoken, transcript["text"]) >= 0.8, (transcript["text"], spoken)


def test_with_app_and_agi_server_down_the_static_path_rings_the_contacts_the_app_set_and_records(line, app_down, spoken_wav):
    status = line.cli("pbx", "status").stdout
    assert "calls: the static path (fallback): neither the ARI app nor the FastAGI server answers" in status, status
    # The app set Eva (the roster) as the static path's contacts when it started.
    assert f"PJSIP/engineer-phone/{EVA}" in line.ari("GET", "/asterisk/variable", variable="ND_STATIC_DIAL")["value"].split("&")
    phone = sipp.engineer_phone("never", stay=40)
    # No greeting on the static path: "connecting", Eva rings, the instructions, the beep.
    caller = sipp.place_call(line.pbx_address, from_number=PHONES[2], wav=spoken_wav, wav_loops=-1, dtmf=[(38.0, "#")],
                             hangup_after=None, wait_for_bye=40, timeout=100).wait(110)  # fmt: skip
    assert caller.final_response == 200, caller.describe()
    phone.wait(30)
    assert phone.received_invites == 1, phone.describe()
    names = [r["name"] for r in line.ari("GET", "/recordings/stored")]
    [name] = [n for n in names if n.startswith("nachtdienst-fallback-critical-") and n.endswith(PHONES[2])]

    assert "last fallback call: the static path (fallback) at " in line.cli("pbx", "status").stdout
    line.start_app()
    call = call_from(line, PHONES[2])
    assert (call["path"], call["outcome"]) == ("static", "voicemail")
    assert call["channel_id"] in name
    assert wait_for(lambda: voicemail_of(line, call["id"]), "the message was not imported")


def voicemail_of(line, call_id: int) -> dict[str, Any] | None:
    return line.json("calls", "show", str(call_id), "--json").get("voicemail")


def transcript_of(line, incident_id: int) -> dict[str, Any] | None:
    [voicemail] = line.json("incidents", "show", str(incident_id), "--json")["voicemails"]
    return voicemail["transcript"]


def wait_for(found, failure: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(failure)


KILLED = {"ringing": ("Drukkerij Kill", "1041", "0612340041"), "recording": ("Bakkerij Kill", "1042", "0612340042")}


@pytest.mark.parametrize(("moment", "kill_at", "hash_at"), [("ringing", 10.0, 125.0), ("recording", 36.0, 60.0)])
def test_an_app_killed_mid_call_leaves_no_caller_in_silence_and_a_complete_record(line, moment, kill_at, hash_at, spoken_wav):
    """SIGKILL while Eva's phone rings (or while the caller speaks their message); the app is
    back two seconds later. Ringing: the caller goes on along the fallback path (the FastAGI
    server answers) from the greeting, and leaves a message there. Recording: Asterisk records
    on until the caller's #, then the caller hears the thanks; the message is imported. Either
    way the line ends the call and the record says what happened."""
    name, customer_number, number = KILLED[moment]
    line.cli("customers", "add", name, "--number", customer_number, "--phone", number)
    start_agi(line)
    phone = sipp.engineer_phone("never", stay=30)
    try:
        caller = sipp.place_call(
            line.pbx_address, from_number=number, wav=spoken_wav, wav_loops=-1, dtmf=[(2.0, "1"), (hash_at, "#")],
            hangup_after=None, wait_for_bye=60, timeout=hash_at + 80,
        )  # fmt: skip
        time.sleep(kill_at)
        line.stop_app(kill=True)
        time.sleep(2.0)
        line.start_app()
        caller.wait(hash_at + 90)
    finally:
        line.stop_service("agi")
        phone.stop()
        if "ari" not in line.services:
            line.start_app()
    # The line, not the caller, ended the call: nobody was left in silence.
    assert caller.final_response == 200 and caller.received_bye, caller.describe()

    call = call_from(line, number)
    steps = {step["step"]: step["detail"] for step in call["steps"]}
    assert call["outcome"] == "voicemail", steps
    if moment == "ringing":
        assert steps["app_restarted"] == "app reconnected: on to nd-agi" and "agi_path" in steps, steps
    else:
        assert steps["app_restarted"] == "app reconnected: on to nd-after-message", steps
    # The message is imported: the fallback path's, or the one the killed app was recording.
    [voicemail] = wait_for(lambda: voicemails_of(line, call["id"]), "the message was not imported")
    assert voicemail["duration_seconds"] > 5


def voicemails_of(line, call_id: int) -> list[dict[str, Any]]:
    [incident] = [i for i in line.json("incidents", "list", "--json") if i["call_id"] == call_id] or [None]
    if incident is None:
        return []
    return line.json("incidents", "show", str(incident["id"]), "--json")["voicemails"]
