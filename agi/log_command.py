"""`log`: the dialplan writes the fallback call's record, one entry per call of
`AGI(agi://…/log,<kind>,…)` (the kinds and variables: agi/commands.py; how entries are
written: agi/call_record.py). A database that is down gets the entry kept in the backlog
and retried (agi/backlog.py): the answer is then `degraded` with ND_LOGGED=queued."""

from __future__ import annotations

import re

from agi import caller as callers
from agi.call_record import (
    BadEntry,
    CallKey,
    CustomerEntry,
    DialEntry,
    EndEntry,
    Entry,
    StepEntry,
    started_at_of,
    write_entry,
)
from agi.desk import DatabaseDown
from agi.dial import contact_of, contacts_in
from agi.request import Answer, BadRequest, Line, Request, whole_number

STEP_NAME = re.compile(r"^[a-z0-9_]{1,50}$")
MAX_STEP = 99
MAX_DETAIL = 500

LOG_VARIABLES = ("ND_CALL_ID", "ND_LOGGED")


async def log_entry(request: Request, line: Line, answer: Answer) -> None:
    channel_id = request.env.get("agi_uniqueid", "").strip()
    if not channel_id:
        raise BadRequest("agi_uniqueid is missing: the call cannot be told apart")
    entry = parse_entry(request)
    at = line.clock()
    number = callers.caller_number(request.env.get("agi_callerid"))
    dialled = request.env.get("agi_extension") or request.env.get("agi_dnid")
    key = CallKey(
        channel_id=channel_id[:100],
        from_number=number[:100] if number else None,
        to_number=(dialled or "unknown")[:100],
        started_at=started_at_of(channel_id, at),
    )
    try:
        written = await line.desk.ask(write_entry, line.settings, key, entry, at)
    except BadEntry as exc:
        raise BadRequest(str(exc)) from None
    except DatabaseDown as exc:
        line.backlog.add(key, entry, at)
        answer.set(ND_LOGGED="queued")
        answer.degrade(f"database unavailable: {exc}; the entry is kept and retried")
        return
    answer.set(ND_CALL_ID=written.call_id, ND_LOGGED="yes" if written.written else "no")


def parse_entry(request: Request) -> Entry:
    kind = request.arg(1)
    if kind == "step":
        name = request.arg(2)
        if not STEP_NAME.match(name):
            raise BadRequest(
                f"log,step: argument 2 (step name) {name[:60]!r}: 1-50 of a-z, 0-9, _"
            )
        return StepEntry(name, _detail(request.rest(3)))
    if kind == "customer":
        return CustomerEntry(
            whole_number(request.arg(2), "log,customer: argument 2 (customer id)"),
            _detail(request.rest(3)),
        )
    if kind == "dial":
        return _dial_entry(request)
    if kind == "end":
        outcome = request.arg(2)
        if not outcome:
            raise BadRequest("log,end: argument 2 (outcome) is missing")
        return EndEntry(outcome, _detail(request.rest(3)))
    raise BadRequest(
        f"log: argument 1 (kind) {kind[:40]!r}: one of step, customer, dial, end"
    )


def _dial_entry(request: Request) -> DialEntry:
    step = whole_number(request.arg(2), "log,dial: argument 2 (step)", maximum=MAX_STEP)
    status = request.arg(3).upper()
    if not re.fullmatch(r"[A-Z]{0,20}", status):
        raise BadRequest(
            f"log,dial: argument 3 (DIALSTATUS) {request.arg(3)[:40]!r} is not a status word"
        )
    try:
        contacts = tuple(contacts_in(request.arg(4)))
    except ValueError as exc:
        raise BadRequest(f"log,dial: argument 4 (dial string): {exc}") from None
    peer = request.arg(5)
    answered = contact_of(peer) if peer else None
    if peer and answered is None:
        raise BadRequest(
            f"log,dial: argument 5 (DIALEDPEERNUMBER) {peer[:80]!r} is none of our dial targets"
        )
    dialed = (
        whole_number(request.arg(6), "log,dial: argument 6 (DIALEDTIME)", minimum=0)
        if request.arg(6)
        else None
    )
    talked = (
        whole_number(request.arg(7), "log,dial: argument 7 (ANSWEREDTIME)", minimum=0)
        if request.arg(7)
        else None
    )
    legs = tuple(leg.strip().upper() for leg in request.arg(8).split("&")) if request.arg(8) else ()
    if len(legs) > len(contacts) or not all(re.fullmatch(r"[A-Z]{0,20}", leg) for leg in legs):
        raise BadRequest(
            f"log,dial: argument 8 (leg statuses) {request.arg(8)[:80]!r}: at most one status word per contact, `&`-joined"
        )
    return DialEntry(step, status, contacts, answered, dialed, talked, legs)


def _detail(text: str) -> str | None:
    return text[:MAX_DETAIL] or None
