"""What the engineers read: `core.notify.messages` composes subject, body and webhook JSON from
plain facts, in Dutch with an English line, times in Europe/Amsterdam."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.notify.messages import (
    SUBJECT_MAX,
    WEBHOOK_TRANSCRIPT_MAX,
    Caller,
    Card,
    VoicemailFacts,
    line_fallback,
    local_time,
    voicemail_card,
    voicemail_received,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam (winter time)
ACME = Caller("+31612345678", "ACME", "1001")
CARD = Card(
    problem="Webshop geeft een foutmelding bij afrekenen", pages=("https://acme.example/checkout", "acme.example/login"),
    urgency="klanten kunnen niet betalen", callback_number="+31687654321", language="nl",
    transcript="Hallo, met Jan van ACME.\nDe webshop is stuk.",
)  # fmt: skip


def facts(caller: Caller = ACME, *, kind: str = "critical", incident_id: int | None = 17, partial: bool = False,
          at: datetime = NIGHT, duration: Decimal | None = Decimal("72.5")) -> VoicemailFacts:  # fmt: skip
    return VoicemailFacts(5, incident_id, kind, at, caller, "recordings/2026/02/03/call-3-1.wav", duration, partial)


@pytest.mark.parametrize(
    ("caller", "label"),
    [
        (ACME, "ACME (1001) / +31612345678"),
        (Caller("+31612345678"), "+31612345678"),
        (Caller(None, "ACME", "1001"), "ACME (1001)"),
        (Caller("+31612345678", "ACME", None), "ACME / +31612345678"),
        (Caller(), "onbekend nummer"),
    ],
)
def test_the_caller_is_named_by_customer_and_number_as_far_as_known(caller, label):
    assert caller.label == label
    assert voicemail_received(facts(caller), AMSTERDAM).subject == f"Voicemail van {label}, wordt uitgeschreven"


def test_the_first_message_says_a_voicemail_is_in_and_being_transcribed():
    message = voicemail_received(facts(), AMSTERDAM)
    assert message.kind == "voicemail_received"
    assert message.body.splitlines() == [
        "Voicemail van ACME (1001) / +31612345678, opgenomen di 3 feb 2026 02:00 (Europe/Amsterdam), 1:12 min.",
        "De uitgeschreven tekst en de incidentkaart volgen in een tweede bericht, met de opname.",
        "",
        "English: critical voicemail from ACME (1001) / +31612345678, being transcribed; the incident card follows.",
        "",
        "Bekijken / show:          nachtdienst incidents show 17",
        "Bevestigen / acknowledge: nachtdienst incidents ack 17 --by NAAM",
    ]


def test_the_webhook_payload_has_slack_text_and_the_facts_as_data():
    payload = voicemail_received(facts(), AMSTERDAM).payload
    assert json.loads(json.dumps(payload)) == payload
    assert payload["text"].splitlines() == [
        "Voicemail van ACME (1001) / +31612345678, wordt uitgeschreven.",
        "Opgenomen di 3 feb 2026 02:00 (Europe/Amsterdam), 1:12 min.",
        "_Critical voicemail from ACME (1001) / +31612345678, being transcribed; the card follows._",
        "`nachtdienst incidents show 17` · `nachtdienst incidents ack 17 --by NAAM`",
    ]
    assert {key: payload[key] for key in ("kind", "voicemail_kind", "incident_id", "voicemail_id", "customer", "caller")} == {
        "kind": "voicemail_received", "voicemail_kind": "critical", "incident_id": 17, "voicemail_id": 5,
        "customer": {"name": "ACME", "number": "1001"}, "caller": "+31612345678",
    }  # fmt: skip
    assert (payload["recorded_at"], payload["duration_seconds"], payload["partial"]) == ("2026-02-03T01:00:00+00:00", "72.5", False)


def test_an_unknown_caller_has_no_customer_in_the_payload():
    payload = voicemail_received(facts(Caller()), AMSTERDAM).payload
    assert (payload["customer"], payload["caller"]) == (None, None)


def test_times_are_local_in_summer_too():
    summer = datetime(2026, 7, 4, 1, 5, tzinfo=UTC)
    assert local_time(summer, AMSTERDAM) == "za 4 jul 2026 03:05 (Europe/Amsterdam)"
    with pytest.raises(ValueError, match="naive"):
        local_time(datetime(2026, 7, 4, 1, 5), AMSTERDAM)


def test_an_addition_names_the_incident_it_adds_to():
    message = voicemail_received(facts(kind="addition"), AMSTERDAM)
    assert message.subject == "Aanvulling op incident 17: voicemail van ACME (1001) / +31612345678, wordt uitgeschreven"
    assert "English: additional voicemail from" in message.body


def test_an_incomplete_recording_and_an_unknown_length_are_said():
    message = voicemail_received(facts(partial=True, duration=None), AMSTERDAM)
    assert "duur onbekend" in message.body and "de opname is onvolledig" in message.body
    assert "de opname is onvolledig" in message.payload["text"]


def test_without_an_incident_there_are_no_incident_commands():
    message = voicemail_received(facts(incident_id=None), AMSTERDAM)
    assert "nachtdienst incidents" not in message.body and "nachtdienst incidents" not in message.payload["text"]


def test_the_card_lists_every_field_and_the_transcript():
    message = voicemail_card(facts(), CARD, AMSTERDAM, sla_due_at=datetime(2026, 2, 3, 5, 0, tzinfo=UTC))
    assert message.kind == "voicemail_card"
    assert message.subject == "Incident 17: Webshop geeft een foutmelding bij afrekenen — ACME (1001) / +31612345678"
    lines = message.body.splitlines()
    assert lines[:12] == [
        "Incident 17: voicemail van ACME (1001) / +31612345678",
        "Opgenomen di 3 feb 2026 02:00 (Europe/Amsterdam), 1:12 min.",
        "",
        "Probleem:            Webshop geeft een foutmelding bij afrekenen",
        "Pagina's:            https://acme.example/checkout, acme.example/login",
        "Waarom urgent:       klanten kunnen niet betalen",
        "Terugbellen:         +31687654321",
        "Taal:                nl",
        "Oplossen vóór (SLA): di 3 feb 2026 06:00 (Europe/Amsterdam)",
        "",
        "Uitgeschreven tekst (automatisch, kan fouten bevatten) / transcript:",
        "  Hallo, met Jan van ACME.",
    ]
    assert "Opname / recording: bijgevoegd als call-3-1.wav (in de datamap: recordings/2026/02/03/call-3-1.wav)." in lines
    assert "Bevestigen / acknowledge: nachtdienst incidents ack 17 --by NAAM" in lines
    payload = message.payload
    assert payload["card"]["pages"] == ["https://acme.example/checkout", "acme.example/login"]
    assert payload["sla_due_at"] == "2026-02-03T05:00:00+00:00"
    assert "> Hallo, met Jan van ACME.\n> De webshop is stuk." in payload["text"]


def test_empty_fields_are_shown_empty_never_guessed():
    message = voicemail_card(facts(), Card(transcript="eh"), AMSTERDAM, sla_due_at=None)
    assert "Probleem:      —" in message.body and "Pagina's:      —" in message.body and "Taal:          —" in message.body
    assert "Terugbellen:   — (beller: +31612345678)" in message.body  # the number it came from, labelled as such
    assert "SLA" not in message.body
    assert message.subject == "Incident 17: voicemail — ACME (1001) / +31612345678"
    assert message.payload["card"]["problem"] is None and message.payload["sla_due_at"] is None


@pytest.mark.parametrize(
    ("card", "says"),
    [
        (Card(no_speech=True), "Geen spraak herkend; luister de opname"),
        (Card(transcript="   "), "Geen spraak herkend; luister de opname"),
        (Card(transcript="kapot iets", low_confidence=True), "Uitgeschreven tekst, ONZEKER"),
        (Card(transcript="de kassa", low_confidence=True, partial=True), "Uitgeschreven tekst, ONVOLLEDIG"),
        (Card(transcribed=False, failure="time budget exceeded"), "Uitschrijven mislukt (time budget exceeded)"),
    ],
)
def test_a_transcript_that_cannot_be_trusted_says_so(card, says):
    message = voicemail_card(facts(), card, AMSTERDAM, sla_due_at=None)
    assert says in message.body and says in message.payload["text"]


def test_the_subject_is_one_line_of_limited_length():
    card = Card(problem="De site\r\nBcc: iedereen@example.com " + "lang " * 100)
    subject = voicemail_card(facts(), card, AMSTERDAM, sla_due_at=None).subject
    assert "\n" not in subject and "\r" not in subject and subject.startswith("Incident 17: De site Bcc: iedereen")
    assert len(subject) == SUBJECT_MAX and subject.endswith("…")


def test_a_long_transcript_is_cut_in_the_webhook_but_whole_in_the_mail():
    words = "woord " * 2000
    message = voicemail_card(facts(), Card(transcript=words), AMSTERDAM, sla_due_at=None)
    assert words.strip() in message.body
    quoted = "".join(line[2:] for line in message.payload["text"].splitlines() if line.startswith("> "))
    assert len(quoted) == WEBHOOK_TRANSCRIPT_MAX and quoted.endswith("…")
    assert message.payload["card"]["transcript"] == words  # the data keeps it all


def test_the_line_in_fallback_message():
    message = line_fallback("static", NIGHT, AMSTERDAM, reason="ARI app not registered")
    assert message.kind == "line_fallback"
    assert message.subject == "Lijn in noodstand: oproepen via het statische kiesplan en de voicemail van Asterisk"
    assert "sinds di 3 feb 2026 02:00 (Europe/Amsterdam)" in message.body and "Oorzaak: ARI app not registered" in message.body
    assert "English: the line is in fallback" in message.body
    assert message.payload == {
        "text": message.payload["text"], "kind": "line_fallback", "path": "static",
        "since": "2026-02-03T01:00:00+00:00", "reason": "ARI app not registered",
    }  # fmt: skip
    assert message.payload["text"].startswith("Lijn in noodstand sinds di 3 feb 2026 02:00")
    with pytest.raises(ValueError, match="fallback path 'ari'"):
        line_fallback("ari", NIGHT, AMSTERDAM)
