"""Messages left on the fallback paths (the dialplan's `nd-voicemail`: the app was down) become
voicemails like any other once the app is back: stored with their checksum, linked to their
call, transcribed, notified, and (critical ones) an incident with its reminder call.

Decisions a caller may rely on:
- The recording's name says what it is: `nachtdienst-fallback-<kind>-<uniqueid>-<epoch>-<number>`
  (kind `critical` or `non_urgent`; when it was recorded; the caller's number may be empty),
  left by the dialplan;
  or `nachtdienst-<kind>-<uniqueid>-<12 hex>` (kind also `addition`), the ARI app's own, which
  is an orphan only when its call's record has ended and no voicemail holds it: the app that
  recorded it died before it could store it (`orphan_of_app`). An addition becomes a critical
  message of its own (what it added to is not known). Other names are not ours and are left
  alone; `parse_name` returns None for them.
- The call: the record the AGI path wrote under the channel's uniqueid; on the static path
  there is none, and one is made (path `static`, outcome `voicemail` or `non_urgent_message`,
  started when the uniqueid says). The voicemail is recorded when the name says (the app's
  own: at the call's start, nothing better being known): deterministic, so importing the same
  recording twice stores it once, and two messages of one call are two voicemails.
- Nothing is imported twice: a voicemail of that call with that Asterisk recording name, or
  recorded at that moment, is returned as it is.
- A critical message keeps Asterisk's copy (for the reminder call's `1`), like the app's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.calls import find_call_by_channel, finish_call, start_call
from core.line_desk import StoredVoicemail, store_voicemail
from core.models import Call, Voicemail
from core.settings import Settings

PREFIX = "nachtdienst-fallback-"
_UNIQUEID = r"((?:[A-Za-z0-9_-]+-)?(\d{9,11})\.\d+)"
_DIALPLAN_NAME = re.compile(rf"^{PREFIX}(critical|non_urgent)-{_UNIQUEID}-(\d{{9,11}})-(\+?\d*)$")
_APP_NAME = re.compile(rf"^nachtdienst-(critical|addition|non_urgent)-{_UNIQUEID}-[0-9a-f]{{12}}$")
_IN_BATCH = 500  # names per IN (...): well under SQLite's and PostgreSQL's limits on parameters


@dataclass(frozen=True)
class FallbackRecording:
    name: str
    kind: str  # critical | non_urgent
    uniqueid: str  # the caller's channel: the call's record key
    started_at: datetime  # the call's, from the uniqueid
    recorded_at: datetime
    caller: str | None
    by_app: bool = False  # the ARI app's own recording (an orphan only if its call ended)


def parse_name(name: str) -> FallbackRecording | None:
    """What a stored recording's name says, or None when it is none of ours."""
    if match := _DIALPLAN_NAME.match(name):
        kind, uniqueid, started, recorded, number = match.groups()
        return FallbackRecording(name, kind, uniqueid, _moment(started), _moment(recorded), number or None)
    if match := _APP_NAME.match(name):
        kind, uniqueid, started = match.groups()
        kind = "critical" if kind == "addition" else kind
        return FallbackRecording(name, kind, uniqueid, _moment(started), _moment(started), None, by_app=True)
    return None


def _moment(epoch: str) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def wanted(session: Session, recordings: Sequence[FallbackRecording]) -> list[FallbackRecording]:
    """Those to import now: no voicemail holds them yet, and (the app's own) their call ended.
    Two queries whatever their number (Asterisk keeps copies for reminder calls up to a day)."""
    names = [recording.name for recording in recordings]
    held: set[str] = set()
    for start in range(0, len(names), _IN_BATCH):
        batch = names[start : start + _IN_BATCH]
        held.update(session.scalars(select(Voicemail.pbx_recording).where(Voicemail.pbx_recording.in_(batch))))
    fresh = [recording for recording in recordings if recording.name not in held]
    by_app = [recording.uniqueid for recording in fresh if recording.by_app]
    ended: set[str] = set()
    for start in range(0, len(by_app), _IN_BATCH):
        batch = by_app[start : start + _IN_BATCH]
        ended.update(session.scalars(select(Call.channel_id).where(Call.channel_id.in_(batch), Call.ended_at.is_not(None))))
    return [recording for recording in fresh if not recording.by_app or recording.uniqueid in ended]


def import_recording(
    session: Session, settings: Settings, recording: FallbackRecording, audio: bytes, *,
    duration_seconds: Decimal | None, now: datetime,
) -> StoredVoicemail:  # fmt: skip
    """Store one fallback message (see the module's decisions); commits."""
    call = find_call_by_channel(session, recording.uniqueid)
    if call is None:
        call = start_call(session, channel_id=recording.uniqueid, from_number=recording.caller, to_number=settings.support_number,
                          at=recording.started_at, path="static", country=settings.country)  # fmt: skip
        outcome = "voicemail" if recording.kind == "critical" else "non_urgent_message"
        finish_call(session, call, outcome=outcome, at=now, detail=f"left on the static path: {recording.name}")
        session.commit()
    existing = session.scalar(
        select(Voicemail).where(Voicemail.call_id == call.id, Voicemail.recorded_at == recording.recorded_at)
    )
    if existing is not None:
        return StoredVoicemail(existing.id, existing.incident_id, existing.path, existing.sha256, existing.size_bytes)
    return store_voicemail(
        session, settings, call_channel_id=recording.uniqueid, audio=audio, audio_format="wav",
        recorded_at=recording.recorded_at, duration_seconds=duration_seconds, partial=False, kind=recording.kind,
        customer_id=call.customer_id, pbx_recording=recording.name,
    )  # fmt: skip
