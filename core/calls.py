"""Call records: what the ARI app, the AGI server and the CLI write and read about calls.

Functions take a Session and never commit: the caller decides the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.models import CALL_OUTCOMES, CALL_PATHS, Call, CallStep, DialAttempt
from core.phone import InvalidPhoneNumber, normalise


def start_call(
    session: Session,
    *,
    channel_id: str,
    from_number: str | None,
    to_number: str,
    at: datetime,
    path: str = "ari",
    country: str = "NL",
) -> Call:
    """A new call. The caller's number is kept as sent; `from_e164` only when it is a real
    number (withheld or garbage numbers are no reason to lose the call)."""
    if path not in CALL_PATHS:
        raise ValueError(f"unknown call path {path!r}; one of {', '.join(CALL_PATHS)}")
    e164 = None
    if from_number:
        try:
            e164 = normalise(from_number, country)
        except InvalidPhoneNumber:
            e164 = None
    call = Call(channel_id=channel_id, started_at=at, from_number=from_number, from_e164=e164, to_number=to_number, path=path)
    session.add(call)
    session.flush()
    return call


def find_call_by_channel(session: Session, channel_id: str) -> Call | None:
    return session.scalar(select(Call).where(Call.channel_id == channel_id))


def record_step(session: Session, call: Call, step: str, at: datetime, detail: str | None = None) -> CallStep:
    entry = CallStep(call=call, step=step, at=at, detail=detail)
    session.add(entry)
    session.flush()
    return entry


def start_dial_attempt(
    session: Session,
    call: Call,
    *,
    contact: str,
    at: datetime,
    engineer_id: int | None = None,
    step_position: int = 1,
) -> DialAttempt:
    attempt = DialAttempt(call=call, contact=contact, started_at=at, engineer_id=engineer_id, step_position=step_position)
    session.add(attempt)
    session.flush()
    return attempt


def finish_dial_attempt(
    session: Session,
    attempt: DialAttempt,
    *,
    result: str,
    at: datetime,
    answered_at: datetime | None = None,
    accepted_at: datetime | None = None,
) -> None:
    attempt.result = result
    attempt.ended_at = at
    attempt.answered_at = answered_at or attempt.answered_at
    attempt.accepted_at = accepted_at or attempt.accepted_at
    session.flush()


def finish_call(
    session: Session,
    call: Call,
    *,
    outcome: str,
    at: datetime,
    detail: str | None = None,
    abandoned_step: str | None = None,
) -> None:
    if outcome not in CALL_OUTCOMES:
        raise ValueError(f"unknown call outcome {outcome!r}; one of {', '.join(CALL_OUTCOMES)}")
    call.outcome = outcome
    call.outcome_detail = detail
    call.abandoned_step = abandoned_step
    call.ended_at = at
    session.flush()


def list_calls(session: Session, limit: int = 50) -> list[Call]:
    """Newest first, with everything call_as_dict shows loaded."""
    query = (
        select(Call)
        .options(
            selectinload(Call.steps),
            selectinload(Call.dial_attempts).selectinload(DialAttempt.engineer),
            selectinload(Call.voicemails),
            selectinload(Call.customer),
        )
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def call_as_dict(call: Call) -> dict[str, Any]:
    """The JSON shape of `nachtdienst calls list --json` (a stable interface)."""
    voicemail = call.voicemails[-1] if call.voicemails else None
    return {
        "id": call.id,
        "channel_id": call.channel_id,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "from_number": call.from_number,
        "from_e164": call.from_e164,
        "to_number": call.to_number,
        "customer": (
            {"id": call.customer.id, "name": call.customer.name, "customer_number": call.customer.customer_number}
            if call.customer
            else None
        ),
        "path": call.path,
        "outcome": call.outcome,
        "outcome_detail": call.outcome_detail,
        "abandoned_step": call.abandoned_step,
        "steps": [{"at": _iso(s.at), "step": s.step, "detail": s.detail} for s in call.steps],
        "dial_attempts": [
            {
                "engineer": a.engineer.name if a.engineer else None,
                "contact": a.contact,
                "step_position": a.step_position,
                "started_at": _iso(a.started_at),
                "answered_at": _iso(a.answered_at),
                "accepted_at": _iso(a.accepted_at),
                "ended_at": _iso(a.ended_at),
                "result": a.result,
            }
            for a in call.dial_attempts
        ],
        "voicemail": (
            {
                "id": voicemail.id,
                "recorded_at": _iso(voicemail.recorded_at),
                "duration_seconds": float(voicemail.duration_seconds) if voicemail.duration_seconds is not None else None,
                "path": voicemail.path,
                "sha256": voicemail.sha256,
                "partial": voicemail.partial,
            }
            if voicemail
            else None
        ),
    }
