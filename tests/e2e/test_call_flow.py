"""PRODUCT.md §1 over real SIP: a SIPp caller dials the line, SIPp phones are the engineers,
and each branch of the flow ends with the record `calls list --json` shows."""

from __future__ import annotations

import hashlib
import wave
from datetime import datetime, timedelta

import pytest

from core.db import open_database
from core.incident_store import open_incident
from core.models import Customer
from core.settings import Settings
from tests import sipp

pytestmark = pytest.mark.e2e

# Customers of this module, each test calling from its own number (so no test is the repeat
# caller of another).
CUSTOMER = ("Bakkerij Jansen", "1001")


@pytest.fixture(scope="module", autouse=True)
def customers(line):
    line.cli("customers", "add", CUSTOMER[0], "--number", CUSTOMER[1], "--phone", "0612340001", "--phone", "0612340002")
    line.cli("customers", "add", "Fietsenwinkel", "--number", "1003", "--phone", "0612340004", "--phone", "0612340005")


def steps_of(call) -> list[str]:
    return [step["step"] for step in call["steps"]]


def test_critical_call_is_answered_by_the_engineer_who_presses_1(line):
    phone = sipp.engineer_phone("answer", answer_after=1.0, digits=[(1.5, "1")], stay=60)
    # Greeting starts at once; 1 = critical. The caller stays on 25 s, talking to Eva.
    caller = sipp.place_call(line.pbx_address, from_number="0612340001", dtmf=[(2.0, "1")], hangup_after=25).wait(90)
    assert caller.final_response == 200, caller.describe()
    phone.wait(30)

    call = line.wait_for_call(lambda c: c["from_number"] == "0612340001" and c["ended_at"])
    assert call["outcome"] == "answered", steps_of(call)
    assert call["customer"]["customer_number"] == "1001"
    steps = steps_of(call)
    for expected in ("office_closed", "identified", "greeting", "consent", "ringing", "ring_step", "connected"):
        assert expected in steps, steps
    [attempt] = call["dial_attempts"]
    assert attempt["engineer"] == "Eva Engineer" and attempt["contact"] == "sip:eva@127.0.0.1:5080"
    assert attempt["result"] == "accepted"
    assert attempt["answered_at"] and attempt["accepted_at"] and attempt["ended_at"]
    assert attempt["answered_at"] <= attempt["accepted_at"] <= attempt["ended_at"]
    # The caller hung up: the app hung up the engineer's leg too.
    assert phone.received_bye, phone.describe()


def voicemail_file(line, call) -> bytes:
    voicemail = call["voicemail"]
    assert voicemail is not None, steps_of(call)
    return (line.data_dir / voicemail["path"]).read_bytes()


def test_nobody_accepts_so_the_caller_leaves_a_voicemail_that_is_kept(line, spoken_wav):
    phone = sipp.engineer_phone("never", stay=40)
    # 1 at 2 s; "connecting" (5 s); Eva rings 8 s; the instructions (15 s) and the beep; the
    # caller speaks all along and ends the message with # at 42 s, then hears the thanks.
    caller = sipp.place_call(
        line.pbx_address, from_number="0612340002", wav=spoken_wav, wav_loops=-1,
        dtmf=[(2.0, "1"), (42.0, "#")], hangup_after=None, wait_for_bye=40, timeout=120,
    ).wait(130)  # fmt: skip
    assert caller.final_response == 200, caller.describe()
    assert caller.received_bye, "the line hangs up after the thanks"
    phone.wait(30)

    call = line.wait_for_call(lambda c: c["from_number"] == "0612340002" and c["ended_at"])
    assert call["outcome"] == "voicemail", steps_of(call)
    assert [a["result"] for a in call["dial_attempts"]] == ["no_answer"]
    assert {"nobody_accepted", "voicemail", "voicemail_stored"} <= set(steps_of(call))
    audio = voicemail_file(line, call)
    assert hashlib.sha256(audio).hexdigest() == call["voicemail"]["sha256"]
    assert call["voicemail"]["partial"] is False
    with wave.open(str(line.data_dir / call["voicemail"]["path"])) as recording:
        seconds = recording.getnframes() / recording.getframerate()
    assert 5 < seconds < 15 and call["voicemail"]["duration_seconds"] == pytest.approx(seconds, abs=0.05)

    [incident] = [i for i in line.json("incidents", "list", "--json") if i["call_id"] == call["id"]]
    assert incident["status"] == "new" and incident["customer"]["customer_number"] == "1001"


def test_the_same_customer_calling_again_hears_the_message_arrived(line):
    # 0612340002 left a message in the test above; 0612340001 is the same customer.
    caller = sipp.place_call(line.pbx_address, from_number="0612340001", hangup_after=None, wait_for_bye=40).wait(60)
    assert caller.received_bye
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340001" and c["outcome"] == "repeat_caller")
    assert "repeat_caller" in steps_of(call) and "ringing" not in steps_of(call)
    assert call["dial_attempts"] == []


def test_a_repeat_caller_pressing_1_adds_to_the_message(line, spoken_wav):
    # 1 during "your message of HH:MM arrived"; the addition is recorded and ended with #.
    caller = sipp.place_call(
        line.pbx_address, from_number="0612340001", wav=spoken_wav, wav_loops=-1,
        dtmf=[(3.0, "1"), (16.0, "#")], hangup_after=None, wait_for_bye=30, timeout=60,
    ).wait(70)  # fmt: skip
    assert caller.received_bye
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340001" and c["ended_at"] and c["voicemail"])
    assert call["outcome"] == "voicemail" and "repeat_caller" in steps_of(call), steps_of(call)
    assert call["dial_attempts"] == []
    # The addition joins the first message's incident: one incident, two messages.
    [incident] = [i for i in line.json("incidents", "list", "--json") if i["customer"] and i["customer"]["customer_number"] == "1001"]
    assert incident["voicemails"] == 2


def test_an_unknown_number_keys_in_the_customer_number(line):
    # Asked at once; 1001# at 1 s; the customer is known from then on (and hears, as a repeat
    # caller, that their message arrived).
    caller = sipp.place_call(line.pbx_address, from_number="0201111111", dtmf=[(1.0, "1001#")], hangup_after=12).wait(40)
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0201111111" and c["ended_at"])
    assert call["customer"]["customer_number"] == "1001", steps_of(call)
    identified = next(s for s in call["steps"] if s["step"] == "identified")
    assert "by customer number" in identified["detail"]


def test_garbage_keys_leave_the_caller_unidentified_and_the_line_goes_on(line):
    caller = sipp.place_call(
        line.pbx_address, from_number="0202222222", dtmf=[(1.0, "*#"), (4.0, "99#"), (9.0, "#")], hangup_after=22
    ).wait(50)
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0202222222" and c["ended_at"])
    steps = steps_of(call)
    assert call["customer"] is None
    assert steps.count("customer_number_invalid") + steps.count("customer_number_unknown") == 3, steps
    assert "unidentified" in steps and "greeting" in steps


def test_a_customer_without_after_hours_support_hears_why_and_nobody_is_rung(line):
    line.cli("sla", "add", "kantoortijden", "--rate", "80", "--no-after-hours")
    line.cli("customers", "add", "Kantoorklant", "--number", "1002", "--phone", "0612340003", "--sla", "kantoortijden")
    caller = sipp.place_call(line.pbx_address, from_number="0612340003", hangup_after=None, wait_for_bye=40).wait(60)
    assert caller.received_bye
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340003" and c["ended_at"])
    assert (call["outcome"], call["outcome_detail"]) == ("blocked", "no_after_hours")
    assert call["dial_attempts"] == [] and "greeting" not in steps_of(call)


def test_a_non_urgent_message_wakes_nobody(line, spoken_wav):
    caller = sipp.place_call(
        line.pbx_address, from_number="0612340005", wav=spoken_wav, wav_loops=-1,
        dtmf=[(2.0, "2"), (14.0, "#")], hangup_after=None, wait_for_bye=30, timeout=60,
    ).wait(70)  # fmt: skip
    assert caller.received_bye
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340005" and c["ended_at"])
    assert call["outcome"] == "non_urgent_message", steps_of(call)
    assert call["dial_attempts"] == [] and call["voicemail"] is not None


def test_nine_switches_to_english_for_the_rest_of_the_call(line):
    # 9 during the Dutch greeting, 1 during the English one: the line rings (in English).
    caller = sipp.place_call(line.pbx_address, from_number="0612340004", dtmf=[(2.0, "9"), (5.0, "1")], hangup_after=9).wait(30)
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340004" and c["ended_at"])
    steps = [(s["step"], s["detail"]) for s in call["steps"]]
    assert ("language", "en") in steps and ("consent", "critical") in steps, steps
    assert steps.index(("language", "en")) < steps.index(("consent", "critical"))


def test_in_office_hours_the_call_goes_to_the_office(line):
    [closure] = [c for c in line.json("hours", "closure", "list", "--json") if c["reason"] == "e2e: after hours"]
    line.cli("hours", "closure", "remove", str(closure["id"]), "--yes")
    try:
        office = sipp.engineer_phone("answer", port=5082, answer_after=0.5, stay=30)
        caller = sipp.place_call(line.pbx_address, from_number="0612347777", hangup_after=12).wait(40)
        office.wait(30)
    finally:
        line.cli("hours", "closure", "add", "--from", "2000-01-01T00:00", "--to", "2100-01-01T00:00", "--reason", "e2e: after hours")
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0612347777" and c["ended_at"])
    assert call["outcome"] == "office_hours", steps_of(call)
    assert "transferred" in steps_of(call) and office.received_bye


def test_a_busy_engineer_gives_way_to_the_next_step_at_once(line):
    line.cli("engineers", "add", "Piet Reserve", "--contact", "sip:piet@127.0.0.1:5083")
    line.cli("roster", "set", "--start", "2026-01-05", "--primary", "Eva Engineer", "--secondary", "Piet Reserve", "--yes")
    try:
        eva = sipp.engineer_phone("busy", stay=40)
        piet = sipp.engineer_phone("answer", port=5083, answer_after=0.5, digits=[(1.0, "1")], stay=40)
        caller = sipp.place_call(line.pbx_address, from_number="0612340004", dtmf=[(2.0, "1")], hangup_after=20).wait(60)
        eva.wait(30)
        piet.wait(30)
    finally:
        line.cli("roster", "set", "--start", "2026-01-05", "--primary", "Eva Engineer", "--yes")
        line.cli("engineers", "edit", "Piet Reserve", "--inactive")
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340004" and c["ended_at"] and c["dial_attempts"])
    assert call["outcome"] == "answered", steps_of(call)
    assert [(a["engineer"], a["result"]) for a in call["dial_attempts"]] == [("Eva Engineer", "busy"), ("Piet Reserve", "accepted")]
    first, second = call["dial_attempts"]
    # Busy ends step 1 at once: step 2 rings well before step 1's 8 s would have run out.
    gap = datetime.fromisoformat(second["started_at"]) - datetime.fromisoformat(first["started_at"])
    assert gap.total_seconds() < 3, gap


def test_an_engineer_who_answers_but_does_not_press_1_has_not_accepted(line):
    eva = sipp.engineer_phone("silent", answer_after=0.5, stay=40)
    # The caller gives up while hearing the voicemail instructions.
    caller = sipp.place_call(line.pbx_address, from_number="0612340005", dtmf=[(2.0, "1")], hangup_after=20).wait(60)
    eva.wait(30)
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340005" and c["ended_at"] and c["dial_attempts"])
    [attempt] = call["dial_attempts"]
    assert attempt["result"] == "not_accepted" and attempt["answered_at"] and attempt["accepted_at"] is None
    assert eva.received_bye, "the unaccepted leg is hung up by the line"
    assert call["outcome"] == "abandoned" and call["abandoned_step"] == "voicemail", steps_of(call)


def test_a_caller_who_hangs_up_while_recording_keeps_the_partial_message(line, spoken_wav):
    line.cli("customers", "add", "Drukkerij", "--number", "1004", "--phone", "0612340006")
    # Nobody answers (Eva's phone rings on); recording starts about 30 s in; hang up at 36 s.
    # (A phone that rings, not none at all: an INVITE to a port nobody listens on is resent
    # for 32 s and would reach the next test's phone.)
    phone = sipp.engineer_phone("never", stay=40)
    caller = sipp.place_call(
        line.pbx_address, from_number="0612340006", wav=spoken_wav, wav_loops=-1, dtmf=[(2.0, "1")],
        hangup_after=36, timeout=60,
    ).wait(70)  # fmt: skip
    assert caller.final_response == 200, caller.describe()
    assert phone.wait(30).received_invites == 1, phone.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340006" and c["ended_at"] and c["voicemail"])
    assert call["outcome"] == "voicemail", steps_of(call)
    assert call["voicemail"]["partial"] is True and call["voicemail"]["duration_seconds"] > 1
    assert "caller hung up while recording" in call["outcome_detail"]
    assert (line.data_dir / call["voicemail"]["path"]).stat().st_size > 8000


def test_a_customer_blocked_for_abuse_hears_why_and_nobody_is_rung(line):
    line.cli("customers", "add", "Webshop Zonder Geduld", "--number", "1005", "--phone", "0612340007")
    # Three incidents triaged as not critical in the last year: blocked (standard thresholds).
    sessions = open_database(Settings(data_dir=line.data_dir))
    with sessions() as session:
        customer = session.query(Customer).filter_by(customer_number="1005").one()
        ids = []
        for hours_ago in (72, 48, 24):
            incident = open_incident(session, customer, None, "site slow", datetime.now().astimezone() - timedelta(hours=hours_ago))
            session.flush()
            ids.append(incident.id)
        session.commit()
    for incident_id in ids:
        line.cli("incidents", "triage", str(incident_id), "--not-critical", "--reason", "not an outage", "--by", "Eva Engineer")
    assert [c["status"] for c in line.json("customers", "list", "--json") if c["customer_number"] == "1005"] == ["blocked"]

    caller = sipp.place_call(line.pbx_address, from_number="0612340007", hangup_after=None, wait_for_bye=40).wait(60)
    assert caller.received_bye
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340007" and c["ended_at"])
    assert (call["outcome"], call["outcome_detail"]) == ("blocked", "blocked")
    assert call["dial_attempts"] == [] and "greeting" not in steps_of(call)


def test_every_contact_of_a_step_rings_at_once_and_the_first_to_accept_wins(line, eva_has_a_mobile):
    desk_phone = sipp.engineer_phone("silent", answer_after=0.3, stay=40)
    mobile = sipp.engineer_phone("answer", port=5081, answer_after=1.0, digits=[(1.0, "1")], stay=40)
    caller = sipp.place_call(line.pbx_address, from_number="0612340004", dtmf=[(2.0, "1")], hangup_after=20).wait(60)
    desk_phone.wait(30)
    mobile.wait(30)
    assert caller.final_response == 200, caller.describe()
    call = line.wait_for_call(lambda c: c["from_number"] == "0612340004" and c["ended_at"] and len(c["dial_attempts"]) == 2)
    results = {a["contact"]: a for a in call["dial_attempts"]}
    assert results["sip:eva-mobile@127.0.0.1:5081"]["result"] == "accepted", call["dial_attempts"]
    assert results["sip:eva@127.0.0.1:5080"]["result"] in ("answered_elsewhere", "not_accepted")
    assert results["sip:eva@127.0.0.1:5080"]["step_position"] == results["sip:eva-mobile@127.0.0.1:5081"]["step_position"] == 1
    assert desk_phone.received_bye, "the other leg is hung up"
    assert call["outcome"] == "answered"
