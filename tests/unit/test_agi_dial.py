"""Dial strings of the AGI path (the same as the ARI app's), the dial results the `log`
command writes from Asterisk's DIALSTATUS, and a call's start read from its uniqueid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.call_record import DialEntry, results_of, started_at_of
from agi.dial import contact_of, contacts_in, dial_string
from ari_app.ringing import dial_string as ari_dial_string
from core.roster import Contact, ContactToRing

CONTACTS = [
    Contact("sip", "sip:eva@127.0.0.1:5080"),
    Contact("sip", "sips:piet@pbx.example"),
    Contact("phone", "+31612345678"),
]


@pytest.mark.parametrize("contact", CONTACTS, ids=lambda c: c.address)
@pytest.mark.parametrize("trunk_available", [True, False])
def test_a_contact_is_dialled_as_the_ari_app_rings_it(contact, trunk_available):
    leg = ContactToRing(None, contact)
    assert dial_string(leg, trunk_available=trunk_available) == ari_dial_string(
        leg, trunk_available=trunk_available
    )


def test_an_external_number_needs_the_trunk():
    assert dial_string(ContactToRing(None, CONTACTS[2]), trunk_available=False) is None


@given(st.lists(st.sampled_from(CONTACTS), min_size=1, max_size=4))
def test_the_contacts_of_a_dial_string_come_back_in_order(contacts):
    dial = "&".join(
        dial_string(ContactToRing(None, contact), trunk_available=True)
        for contact in contacts
    )
    assert contacts_in(dial) == [contact.address for contact in contacts]


@pytest.mark.parametrize(
    ("peer", "contact"),
    [
        # DIALEDPEERNUMBER
        ("engineer-phone/sip:eva@127.0.0.1:5080", "sip:eva@127.0.0.1:5080"),
        ("+31612345678@trunk", "+31612345678"),
        ("PJSIP/+31612345678@trunk", "+31612345678"),
        ("+31612345678", "+31612345678"),
        ("sip:eva@127.0.0.1:5080", "sip:eva@127.0.0.1:5080"),
        # DIALEDPEERNAME: a channel, not a contact
        ("PJSIP/engineer-phone-00000003", None),
        ("0612345678@trunk", None),
        ("SIP/eva", None),
        ("", None),
    ],
)
def test_a_dialled_peer_is_read_back_as_its_contact(peer, contact):
    assert contact_of(peer) == contact


def test_a_dial_string_with_a_foreign_target_is_refused_naming_it():
    with pytest.raises(
        ValueError, match="'Local/100@internal' is not one of nachtdienst's"
    ):
        contacts_in("PJSIP/+31612345678@trunk&Local/100@internal")


EVA, PIET = "sip:eva@127.0.0.1:5080", "+31612345678"


@pytest.mark.parametrize(
    ("status", "answered", "contacts", "results"),
    [
        ("ANSWER", PIET, (EVA, PIET), ["answered_elsewhere", "accepted"]),
        ("ANSWER", None, (PIET,), ["accepted"]),  # one leg: it was that one
        # Asterisk did not say which leg answered
        ("ANSWER", None, (EVA, PIET), ["answered", "answered"]),
        ("NOTACCEPTED", EVA, (EVA, PIET), ["not_accepted", "no_answer"]),
        ("NOANSWER", None, (EVA, PIET), ["no_answer", "no_answer"]),
        ("CANCEL", None, (EVA,), ["no_answer"]),
        ("BUSY", None, (EVA,), ["busy"]),
        ("CHANUNAVAIL", None, (EVA,), ["unreachable"]),
        ("CONGESTION", None, (EVA,), ["unreachable"]),
        ("DONTCALL", None, (EVA,), ["declined"]),
        ("", None, (EVA,), ["failed"]),
        ("INVALIDARGS", None, (EVA,), ["failed"]),
    ],
)
def test_dial_results_follow_dialstatus(status, answered, contacts, results):
    assert results_of(DialEntry(1, status, contacts, answered)) == results


@pytest.mark.parametrize(
    ("status", "answered", "legs", "results"),
    [
        # Eva answered and did not press 1: her leg ended; Piet's rang on and he accepted.
        ("ANSWER", PIET, ("NOTACCEPTED", ""), ["not_accepted", "accepted"]),
        # Eva's leg could not be reached; Piet's rang until the step's time was up.
        ("NOANSWER", None, ("CHANUNAVAIL", ""), ["unreachable", "no_answer"]),
        # Both legs ended by themselves: each says why, whatever the step's status.
        ("CHANUNAVAIL", None, ("NOTACCEPTED", "BUSY"), ["not_accepted", "busy"]),
        # The accepted leg's own status (written when its bridge ended) changes nothing.
        ("ANSWER", EVA, ("ANSWER", ""), ["accepted", "answered_elsewhere"]),
        # Fewer statuses than contacts: the rest were cut off.
        ("NOANSWER", None, ("BUSY",), ["busy", "no_answer"]),
    ],
)
def test_each_legs_own_status_decides_its_contacts_result(status, answered, legs, results):
    assert results_of(DialEntry(1, status, (EVA, PIET), answered, leg_statuses=legs)) == results


NOW = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("uniqueid", "started"),
    [
        (f"{int(NOW.timestamp()) - 90}.17", NOW - timedelta(seconds=90)),
        # systemname set in asterisk.conf
        (f"pbx1-{int(NOW.timestamp()) - 5}.3", NOW - timedelta(seconds=5)),
        # in the future: not this call's start
        (f"{int(NOW.timestamp()) + 60}.1", None),
        # too old to be a live call
        (f"{int((NOW - timedelta(days=2)).timestamp())}.1", None),
        ("b2f4c1e0-nonsense", None),
    ],
)
def test_a_new_records_start_is_read_from_the_uniqueid_when_plausible(
    uniqueid, started
):
    assert started_at_of(uniqueid, NOW) == started
