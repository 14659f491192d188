"""Call records: what the ARI app, the AGI server and the CLI write and read about calls.

Every function takes a Session and never commits: the caller decides the transaction. Times
are passed in (timezone-aware); nothing here reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.models import CALL_OUTCOMES, CALL_PATHS, Call, CallStep, CustomerPhone, DialAttempt
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
    """The record of a new call on `channel_id` (the Asterisk channel's unique id).

    The caller's number is kept as sent; `from_e164` is set only when it is a real number
    (withheld or garbage numbers are no reason to lose a call), and the call is linked to the
    customer who has that number. A channel that has a record already gets that record back,
    so a writer retrying after an unclear failure never makes a second one."""
    if path not in CALL_PATHS:
        raise ValueError(f"unknown call path {path!r}; one of {', '.join(CALL_PATHS)}")
    _require_aware(at, "at")
    existing = find_call_by_channel(session, channel_id)
    if existing is not None:
        return existing
    e164 = e164_or_none(from_number, country)
    customer_id = None
    if e164 is not None:
        customer_id = session.scalar(select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164))
    call = Call(
        channel_id=channel_id,
        started_at=at,
        from_number=from_number,
        from_e164=e164,
        to_number=to_number,
        customer_id=customer_id,
        path=path,
    )
    session.add(call)
    session.flush()
    return call


def e164_or_none(number: str | None, country: str) -> str | None:
    """The number in E.164, or None when it is withheld or not a phone number."""
    if not number:
        return None
    try:
        return normalise(number, country)
    except InvalidPhoneNumber:
        return None


def find_call_by_channel(session: Session, channel_id: str) -> Call | None:
    return session.scalar(select(Call).where(Call.channel_id == channel_id))


def record_step(session: Session, call: Call, step: str, at: datetime, detail: str | None = None) -> CallStep:
    """A step of the call flow (`office_hours`, `identify_caller`, …) reached at `at`."""
    _require_aware(at, "at")
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
    """A leg to one engineer contact, rung from `at` in escalation step `step_position`."""
    _require_aware(at, "at")
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
    """How the leg ended (`accepted`, `no_answer`, `not_accepted`, `busy`, …) and when; the
    answer and acceptance times are kept when given now or earlier."""
    for name, value in (("at", at), ("answered_at", answered_at), ("accepted_at", accepted_at)):
        _require_aware(value, name)
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
    """The call ended at `at` with `outcome` (one of core.models.CALL_OUTCOMES, else
    ValueError); `abandoned_step` is the step a caller hung up in."""
    if outcome not in CALL_OUTCOMES:
        raise ValueError(f"unknown call outcome {outcome!r}; one of {', '.join(CALL_OUTCOMES)}")
    _require_aware(at, "at")
    call.outcome = outcome
    call.outcome_detail = detail
    call.abandoned_step = abandoned_step
    call.ended_at = at
    session.flush()


def list_calls(session: Session, limit: int = 50) -> list[Call]:
    """The `limit` newest calls, newest first, with everything call_as_dict shows loaded."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
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


def call_as_dict(call: Call) -> dict[str, Any]:
    """The JSON shape of `nachtdienst calls list --json`, a stable interface: times are ISO 8601
    in UTC with their offset, absent ones null; steps and dial attempts in the order they
    happened; the call's latest voicemail or null."""
    voicemail = call.voicemails[-1] if call.voicemails else None
    customer = call.customer
    return {
        "id": call.id,
        "channel_id": call.channel_id,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "from_number": call.from_number,
        "from_e164": call.from_e164,
        "to_number": call.to_number,
        "customer": (
            {"id": customer.id, "name": customer.name, "customer_number": customer.customer_number} if customer else None
        ),
        "path": call.path,
        "direction": call.direction,
        "incident_id": call.incident_id,
        "outcome": call.outcome,
        "outcome_detail": call.outcome_detail,
        "abandoned_step": call.abandoned_step,
        "steps": [{"at": _iso(step.at), "step": step.step, "detail": step.detail} for step in call.steps],
        "dial_attempts": [
            {
                "engineer": attempt.engineer.name if attempt.engineer else None,
                "contact": attempt.contact,
                "step_position": attempt.step_position,
                "started_at": _iso(attempt.started_at),
                "answered_at": _iso(attempt.answered_at),
                "accepted_at": _iso(attempt.accepted_at),
                "ended_at": _iso(attempt.ended_at),
                "result": attempt.result,
            }
            for attempt in call.dial_attempts
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


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _require_aware(value: datetime | None, name: str) -> None:
    # Refused here, where the caller's line is in the traceback, rather than at the flush.
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name}={value.isoformat()} is a naive datetime; pass an aware one (UTC)")


def set_call_customer(session: Session, call: Call, customer_id: int | None) -> None:
    """Link the call to the customer the flow identified (by number or keyed customer number)."""
    call.customer_id = customer_id
    session.flush()


def set_call_language(session: Session, call: Call, language: str) -> None:
    """The language the caller heard the rest of the call in (`nl`, `en`)."""
    if not language or len(language) > 5:
        raise ValueError(f"language {language!r}: expected a short code such as 'nl' or 'en'")
    call.language = language
    session.flush()
