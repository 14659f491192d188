"""What a notification says: subject, plain-text body and webhook JSON, composed from plain
facts. Pure: no database, no clock, no network; times are shown in the zone passed in.

The engineers are Dutch: every message is in Dutch, with one English line so a colleague
from elsewhere (or a mail filter) knows what it is about. The webhook's `text` is Markdown
that both Slack and Mattermost render (no bold: the two disagree on its syntax); the other
fields of the payload carry the same facts as data for a bot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

VOICEMAIL_RECEIVED = "voicemail_received"
VOICEMAIL_CARD = "voicemail_card"
LINE_FALLBACK = "line_fallback"
KINDS = (VOICEMAIL_RECEIVED, VOICEMAIL_CARD, LINE_FALLBACK)

SUBJECT_MAX = 200  # the column holds 300; mail clients cut far earlier
WEBHOOK_TRANSCRIPT_MAX = 3000  # Mattermost refuses posts over 16383 characters, Slack cuts at 40000
EMPTY = "—"
_WEEKDAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")
_MONTHS = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
_WHITESPACE = re.compile(r"\s+")
FALLBACK_PATHS = {
    "agi": ("de FastAGI-server", "the FastAGI server"),
    "static": ("het statische kiesplan en de voicemail van Asterisk", "the static dialplan and Asterisk's own voicemail"),
}


@dataclass(frozen=True)
class Caller:
    """Who left the message: the number the trunk gave (E.164 when it could be read) and the
    customer it belongs to, when known."""

    number: str | None = None
    customer_name: str | None = None
    customer_number: str | None = None

    @property
    def label(self) -> str:
        """`ACME (1001) / +31612345678`, `+31612345678`, `ACME (1001)`, or `onbekend nummer`."""
        customer = None
        if self.customer_name:
            customer = f"{self.customer_name} ({self.customer_number})" if self.customer_number else self.customer_name
        parts = [part for part in (customer, self.number) if part]
        return " / ".join(parts) if parts else "onbekend nummer"

    def as_payload(self) -> tuple[dict[str, Any] | None, str | None]:
        customer = {"name": self.customer_name, "number": self.customer_number} if self.customer_name else None
        return customer, self.number


@dataclass(frozen=True)
class VoicemailFacts:
    """A stored voicemail as the notifications tell of it. `kind`: critical or addition (an
    addition adds to a message already left). `audio_path` is relative to the data directory."""

    voicemail_id: int
    incident_id: int | None
    kind: str
    recorded_at: datetime
    caller: Caller
    audio_path: str
    duration_seconds: Decimal | None = None
    partial: bool = False


@dataclass(frozen=True)
class Card:
    """The incident card from the transcript. Every field may be empty: nothing is guessed.
    `transcribed` False: transcription failed (`failure` says why); the audio is all there is."""

    problem: str | None = None
    pages: tuple[str, ...] = ()
    urgency: str | None = None
    callback_number: str | None = None
    language: str | None = None
    transcript: str = ""
    no_speech: bool = False
    low_confidence: bool = False
    partial: bool = False  # the time budget stopped the model before the end of the audio
    transcribed: bool = True
    failure: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return {
            "problem": self.problem, "pages": list(self.pages), "urgency": self.urgency,
            "callback_number": self.callback_number, "language": self.language, "transcript": self.transcript,
            "no_speech": self.no_speech, "low_confidence": self.low_confidence, "partial": self.partial,
            "transcribed": self.transcribed, "failure": self.failure,
        }  # fmt: skip


@dataclass(frozen=True)
class Message:
    """One notification's content, the same for every recipient."""

    kind: str
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


# --- the messages -------------------------------------------------------------------------------


def voicemail_received(facts: VoicemailFacts, zone: ZoneInfo) -> Message:
    """The first message, at once: a voicemail is in and being transcribed."""
    who = facts.caller.label
    what = _what(facts)
    subject = _subject(f"{what} van {who}, wordt uitgeschreven")
    recorded = local_time(facts.recorded_at, zone)
    lines = [
        f"{what} van {who}, opgenomen {recorded}, {_duration(facts)}.",
        "De uitgeschreven tekst en de incidentkaart volgen in een tweede bericht, met de opname.",
        *_partial_note(facts),
        "",
        f"English: {_what_en(facts).lower()} from {who}, being transcribed; the incident card follows.",
        *_hints(facts.incident_id),
    ]
    text_lines = [
        f"{what} van {who}, wordt uitgeschreven.",
        f"Opgenomen {recorded}, {_duration(facts)}.",
        *_partial_note(facts),
        f"_{_what_en(facts)} from {who}, being transcribed; the card follows._",
        *_markdown_hints(facts.incident_id),
    ]
    return Message(VOICEMAIL_RECEIVED, subject, "\n".join(lines) + "\n", _payload(VOICEMAIL_RECEIVED, facts, text_lines))


def voicemail_card(facts: VoicemailFacts, card: Card, zone: ZoneInfo, *, sla_due_at: datetime | None) -> Message:
    """The second message: the incident card, the transcript, and (by e-mail) the audio."""
    who = facts.caller.label
    incident = f"Incident {facts.incident_id}" if facts.incident_id is not None else "Voicemail"
    headline = card.problem if card.problem else _what(facts).lower()
    subject = _subject(f"{incident}: {headline} — {who}")
    fields_ = _card_fields(card, facts, zone, sla_due_at)
    width = max(len(name) for name, _ in fields_)
    transcript_title, transcript = _transcript(card)
    lines = [
        f"{incident}: {_what(facts).lower()} van {who}",
        f"Opgenomen {local_time(facts.recorded_at, zone)}, {_duration(facts)}.",
        *_partial_note(facts),
        "",
        *(f"{name + ':':<{width + 1}} {value}" for name, value in fields_),
        "",
        transcript_title,
        *(f"  {line}" for line in transcript.splitlines()),
        "",
        f"Opname / recording: bijgevoegd als {_file_name(facts.audio_path)} (in de datamap: {facts.audio_path}).",
        "",
        f"English: incident card of a {_what_en(facts).lower()} from {who}; transcript above, recording attached.",
        *_hints(facts.incident_id),
    ]
    quoted = _cut(transcript, WEBHOOK_TRANSCRIPT_MAX)
    text_lines = [
        f"{incident}: {_what(facts).lower()} van {who}",
        *(f"{name}: {value}" for name, value in fields_),
        transcript_title,
        *(f"> {line}" for line in quoted.splitlines()),
        f"_Incident card of a {_what_en(facts).lower()} from {who}._",
        *_markdown_hints(facts.incident_id),
    ]
    payload = _payload(VOICEMAIL_CARD, facts, text_lines)
    payload["card"] = card.as_payload()
    payload["sla_due_at"] = _iso(sla_due_at)
    return Message(VOICEMAIL_CARD, subject, "\n".join(lines) + "\n", payload)


def line_fallback(path: str, since: datetime, zone: ZoneInfo, *, reason: str | None = None) -> Message:
    """The line runs on a fallback path (`agi` or `static`) because the ARI app is not there:
    calls still reach the engineer, but with less (no repeat-caller check, no card)."""
    if path not in FALLBACK_PATHS:
        raise ValueError(f"fallback path {path!r}: one of {', '.join(FALLBACK_PATHS)}")
    dutch, english = FALLBACK_PATHS[path]
    at = local_time(since, zone)
    subject = _subject(f"Lijn in noodstand: oproepen via {dutch}")
    lines = [
        f"De lijn draait sinds {at} in noodstand: de ARI-app is er niet, oproepen lopen via {dutch}.",
        "Oproepen bereiken de dienstdoende engineer nog, maar de ARI-app moet zo snel mogelijk terug.",
        *([f"Oorzaak: {reason}"] if reason else []),
        "",
        f"English: the line is in fallback since {at}: the ARI app is down, calls go through {english}.",
        "Controleer de diensten / check the services: `nachtdienst up` (of `nachtdienst service ari`) en de logs.",
    ]
    text_lines = [
        f"Lijn in noodstand sinds {at}: oproepen via {dutch}.",
        *([f"Oorzaak: {reason}"] if reason else []),
        f"_The line is in fallback: the ARI app is down, calls go through {english}._",
    ]
    payload = {"text": "\n".join(text_lines), "kind": LINE_FALLBACK, "path": path, "since": _iso(since), "reason": reason}
    return Message(LINE_FALLBACK, subject, "\n".join(lines) + "\n", payload)


# --- pieces ---------------------------------------------------------------------------------------


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """`di 3 feb 2026 02:00 (Europe/Amsterdam)`: Dutch names whatever the machine's locale."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} refused: pass an aware one")
    local = moment.astimezone(zone)
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} {local:%H:%M} ({zone.key})"


def _what(facts: VoicemailFacts) -> str:
    if facts.kind == "addition":
        target = f" op incident {facts.incident_id}" if facts.incident_id is not None else ""
        return f"Aanvulling{target}: voicemail"
    return "Voicemail"


def _what_en(facts: VoicemailFacts) -> str:
    return "Additional voicemail" if facts.kind == "addition" else "Critical voicemail"


def _duration(facts: VoicemailFacts) -> str:
    if facts.duration_seconds is None:
        return "duur onbekend"
    seconds = round(float(facts.duration_seconds))
    return f"{seconds // 60}:{seconds % 60:02d} min"


def _partial_note(facts: VoicemailFacts) -> list[str]:
    return ["Let op: de opname is onvolledig (de verbinding viel weg) / the recording is incomplete."] if facts.partial else []


def _card_fields(card: Card, facts: VoicemailFacts, zone: ZoneInfo, sla_due_at: datetime | None) -> list[tuple[str, str]]:
    rows = [
        ("Probleem", card.problem or EMPTY),
        ("Pagina's", ", ".join(card.pages) if card.pages else EMPTY),
        ("Waarom urgent", card.urgency or EMPTY),
        ("Terugbellen", card.callback_number or (f"{EMPTY} (beller: {facts.caller.number})" if facts.caller.number else EMPTY)),
        ("Taal", card.language or EMPTY),
    ]
    if sla_due_at is not None:
        rows.append(("Oplossen vóór (SLA)", local_time(sla_due_at, zone)))
    return rows


def _transcript(card: Card) -> tuple[str, str]:
    if not card.transcribed:
        why = f" ({card.failure})" if card.failure else ""
        return (f"Uitschrijven mislukt{why}; luister de opname / transcription failed, listen to the recording:",
                "(geen tekst / no text)")  # fmt: skip
    if card.no_speech or not card.transcript.strip():
        return ("Geen spraak herkend; luister de opname / no speech recognised, listen to the recording:",
                "(geen tekst / no text)")  # fmt: skip
    if card.partial:
        return ("Uitgeschreven tekst, ONVOLLEDIG: alleen het begin is uitgeschreven (tijdslimiet), luister de opname / "
                "partial transcript (time limit reached), listen to the recording:", card.transcript.strip())  # fmt: skip
    if card.low_confidence:
        return ("Uitgeschreven tekst, ONZEKER: het model kon dit slecht verstaan, luister de opname / "
                "low-confidence transcript, listen to the recording:", card.transcript.strip())  # fmt: skip
    return "Uitgeschreven tekst (automatisch, kan fouten bevatten) / transcript:", card.transcript.strip()


def _hints(incident_id: int | None) -> list[str]:
    if incident_id is None:
        return []
    return [
        "",
        f"Bekijken / show:          nachtdienst incidents show {incident_id}",
        f"Bevestigen / acknowledge: nachtdienst incidents ack {incident_id} --by NAAM",
    ]


def _markdown_hints(incident_id: int | None) -> list[str]:
    if incident_id is None:
        return []
    return [f"`nachtdienst incidents show {incident_id}` · `nachtdienst incidents ack {incident_id} --by NAAM`"]


def _payload(kind: str, facts: VoicemailFacts, text_lines: list[str]) -> dict[str, Any]:
    customer, caller = facts.caller.as_payload()
    return {
        "text": "\n".join(text_lines), "kind": kind, "voicemail_kind": facts.kind, "incident_id": facts.incident_id,
        "voicemail_id": facts.voicemail_id, "customer": customer, "caller": caller,
        "recorded_at": _iso(facts.recorded_at),
        "duration_seconds": str(facts.duration_seconds) if facts.duration_seconds is not None else None,
        "partial": facts.partial, "audio_path": facts.audio_path,
    }  # fmt: skip


def _subject(text: str) -> str:
    # A header is one line: a newline from a transcript must not end it (or inject another).
    return _cut(_WHITESPACE.sub(" ", text).strip(), SUBJECT_MAX)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None
