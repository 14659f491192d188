"""The commands the dialplan calls: `AGI(agi://127.0.0.1:4573/<command>,<arg 1>,<arg 2>,…)`.

Each answers in channel variables (SET VARIABLE), all named ND_*. Rules for every command:
- ND_STATUS is emptied first and set last: `ok` (answered from the database), `degraded`
  (answered without it: the values are usable, ND_ERROR says why) or `error` (no answer:
  take the next path; ND_ERROR says what is wrong, and the same line goes to Asterisk's log
  by VERBOSE and to ours). Empty (the connection broke mid-answer) means the same as error.
- Every command sets all of its variables (an error too), empty where they do not apply, so
  nothing is left over from an earlier run of it. Unknown commands and bad arguments are
  errors that name the argument; the session then ends cleanly (AGI() returns,
  AGISTATUS=SUCCESS). A server that does not answer at all gives AGISTATUS=FAILURE.

identify[,<caller number>[,<keyed customer number>]]   caller number: default agi_callerid
  ND_IDENTIFIED        yes | no | unavailable (the database could not say; degraded)
  ND_IDENTIFIED_BY     caller_number | customer_number | customer_id (route) | empty
  ND_CALLER_E164       the caller's number in E.164; empty when withheld or not a number
  ND_CUSTOMER_ID, ND_CUSTOMER_NUMBER, ND_CUSTOMER_NAME, ND_CUSTOMER_STATUS (active|warned|blocked)
  ND_AFTER_HOURS       yes (the line goes on) | no (nobody is woken)
  ND_REFUSAL           empty | blocked | no_after_hours | refused_unidentified: why not, which
                       is also the name of the prompt the ARI app plays for it
office
  ND_OFFICE            open | closed (degraded: the schedule without the closures)
  ND_OFFICE_REASON     open | weekend/outside schedule | holiday: <name> | closure: <reason>
  ND_OFFICE_DESTINATION  Dial() string for office.destination; empty: unset or unreachable
  ND_OFFICE_NUMBER     office.office_number, to read out
route[,<step>[,<customer id>]]   step: 1, 2, … (default 1); customer id: ND_CUSTOMER_ID of
                       identify (empty: the caller is identified by agi_callerid)
  identify's variables above, and:
  ND_ROUTE             dial | none (then voicemail: the call is refused, or nobody is left)
  ND_ROUTE_REASON      why none: "refused: <refusal>", "no step N", "nobody to ring: …",
                       "no contact of step N or later can be dialled (…)". With the database
                       down and nothing known (no plan read before, no roster.default_contact)
                       the status is error: take the static path.
  ND_DIAL              the step's targets, `&`-joined, e.g.
                       PJSIP/engineer-phone/sip:eva@127.0.0.1:5080&PJSIP/+31612345678@trunk
                       (the dialplan rings each on a Local leg of its own: nd-legs)
  ND_DIAL_TIMEOUT      seconds the step rings
  ND_STEP              the step these are: the first from <step> on with a contact to dial
  ND_NEXT_STEP         ND_STEP + 1, for the next route
  ND_STEP_LAST         yes | no (no later step can be dialled)
  ND_STEPS             steps in the plan
  ND_STEP_POSITION     the escalation policy's step number (for the record)
  ND_PLAN_SOURCE       database | cached plan | roster.default_contact | stale cached plan
  ND_CALLERID          "<customer name>" <number>: what the engineer's phone shows (as the app)
  ND_ANNOUNCE_NUMBER   digits the engineer hears: the customer number, else the caller's
log,<kind>,…   on the record of the call of agi_uniqueid (rules: agi/call_record.py)
  log,step,<name>[,<detail>]         name: a-z, 0-9, _ (the ARI app's step names)
  log,customer,<customer id>[,<how>]
  log,dial,<step>,<DIALSTATUS>,<dial string>[,<answered target>[,<DIALEDTIME>[,<ANSWEREDTIME>[,<leg statuses>]]]]
                                     DIALEDTIME: seconds since the step began to ring;
                                     ANSWEREDTIME: since the engineer accepted (the dialplan
                                     measures both: Asterisk's own count from the caller's answer)
                                     step: ND_STEP; dial string: ND_DIAL; DIALSTATUS may be
                                     NOTACCEPTED (an engineer who answered and did not press 1);
                                     answered target: one of ND_DIAL's (or DIALEDPEERNUMBER);
                                     leg statuses: each contact's own leg result, `&`-joined in
                                     ND_DIAL's order (NOTACCEPTED or a DIALSTATUS; empty: cut off)
  log,end,<outcome>[,<detail>]       outcome: one of core.models.CALL_OUTCOMES
  A detail may contain commas (the rest of the arguments is joined back).
  ND_CALL_ID           the call's record id (empty when queued)
  ND_LOGGED            yes | no (there already) | queued (database down: kept and retried,
                       status degraded)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from agi import caller as callers
from agi.desk import DatabaseDown, describe
from agi.dial import dial_string
from agi.log_command import LOG_VARIABLES, MAX_STEP, log_entry
from agi.protocol import AgiError, AgiSession
from agi.request import ERROR, Answer, BadRequest, Line, Request, whole_number
from core.phone import InvalidPhoneNumber, normalise
from core.roster import Contact, ContactToRing, EscalationStepPlan
from core.roster_store import NoFallback

log = structlog.get_logger("agi.commands")


# --- identify ------------------------------------------------------------------------------

IDENTIFY_VARIABLES = (
    "ND_IDENTIFIED",
    "ND_IDENTIFIED_BY",
    "ND_CALLER_E164",
    "ND_CUSTOMER_ID",
    "ND_CUSTOMER_NUMBER",
    "ND_CUSTOMER_NAME",
    "ND_CUSTOMER_STATUS",
    "ND_AFTER_HOURS",
    "ND_REFUSAL",
)


async def identify(request: Request, line: Line, answer: Answer) -> None:
    number = request.arg(1) or callers.caller_number(request.env.get("agi_callerid"))
    at = line.clock()
    try:
        found = await line.desk.ask(
            callers.identify_caller,
            line.settings,
            number=number,
            keyed=request.arg(2),
            at=at,
        )
    except DatabaseDown as exc:
        _unidentifiable(answer, line, number, exc)
        return
    _identified(answer, line, found)


def _identified(answer: Answer, line: Line, found: callers.Identification) -> None:
    customer = found.customer
    refusal = callers.refusal(found, line.settings)
    answer.set(
        ND_IDENTIFIED="yes" if customer else "no",
        ND_IDENTIFIED_BY=found.by,
        ND_CALLER_E164=found.caller_e164,
        ND_AFTER_HOURS="no" if refusal else "yes",
        ND_REFUSAL=refusal.value if refusal else "",
    )
    if customer is not None:
        answer.set(
            ND_CUSTOMER_ID=customer.id,
            ND_CUSTOMER_NUMBER=customer.customer_number,
            ND_CUSTOMER_NAME=customer.name,
            ND_CUSTOMER_STATUS=customer.status,
        )


def _unidentifiable(
    answer: Answer, line: Line, number: str | None, exc: DatabaseDown
) -> None:
    # Unknown is not "nobody": the line goes on, as in the ARI app.
    answer.set(
        ND_IDENTIFIED="unavailable",
        ND_CALLER_E164=callers.e164_or_none(number, line.settings.country),
        ND_AFTER_HOURS="yes",
    )
    answer.degrade(f"database unavailable: {exc}")


# --- office --------------------------------------------------------------------------------

OFFICE_VARIABLES = (
    "ND_OFFICE",
    "ND_OFFICE_REASON",
    "ND_OFFICE_DESTINATION",
    "ND_OFFICE_NUMBER",
)


async def office(request: Request, line: Line, answer: Answer) -> None:
    found = await line.desk.office(line.clock())
    if found.problem:
        answer.degrade(found.problem)
    answer.set(
        ND_OFFICE="open" if found.status.open else "closed",
        ND_OFFICE_REASON=found.status.reason,
        ND_OFFICE_DESTINATION=office_destination(line),
        ND_OFFICE_NUMBER=line.settings.office.office_number,
    )


def office_destination(line: Line) -> str:
    """office.destination as a Dial() string, as the ARI app rings it; empty when unset or
    unreachable (a number, and no trunk to dial it on)."""
    destination = line.settings.office.destination
    if not destination:
        return ""
    try:
        address = (
            destination
            if destination.lower().startswith("sip")
            else normalise(destination, line.settings.country)
        )
        target = dial_string(
            ContactToRing(None, Contact.of(address)),
            trunk_available=line.trunk_available,
        )
    except (InvalidPhoneNumber, ValueError) as exc:
        log.error(
            "office.destination unusable", destination=destination, error=str(exc)
        )
        return ""
    return target or ""


# --- route ---------------------------------------------------------------------------------

ROUTE_VARIABLES = IDENTIFY_VARIABLES + (
    "ND_ROUTE",
    "ND_ROUTE_REASON",
    "ND_DIAL",
    "ND_DIAL_TIMEOUT",
    "ND_STEP",
    "ND_NEXT_STEP",
    "ND_STEP_LAST",
    "ND_STEPS",
    "ND_STEP_POSITION",
    "ND_PLAN_SOURCE",
    "ND_CALLERID",
    "ND_ANNOUNCE_NUMBER",
)


async def route(request: Request, line: Line, answer: Answer) -> None:
    step = whole_number(request.arg(1) or "1", "argument 1 (step)", maximum=MAX_STEP)
    answer.set(ND_ROUTE="none")
    number = callers.caller_number(request.env.get("agi_callerid"))
    at = line.clock()
    found = await _caller_for_route(request, line, answer, number, at)
    if found is not None and (refusal := callers.refusal(found, line.settings)):
        answer.set(ND_ROUTE_REASON=f"refused: {refusal.value}")
        return
    customer = found.customer if found else None
    shown = answer.variables["ND_CALLER_E164"] or number
    answer.set(
        ND_CALLERID=_caller_id(customer, shown, line.settings.support_number),
        ND_ANNOUNCE_NUMBER=customer.customer_number if customer else (number or ""),
    )
    try:
        plan = await line.desk.plan(at)
    except NoFallback as exc:  # the database says: nobody at all can be rung
        answer.set(ND_ROUTE_REASON=f"nobody to ring: {exc}")
        return
    except DatabaseDown as exc:
        answer.set(
            ND_ROUTE_REASON="nobody to ring: nothing is known without the database"
        )
        answer.fail(
            f"database unavailable: {exc}; no plan read before and roster.default_contact is unset"
        )
        return
    if plan.problem:
        answer.degrade(plan.problem)
    answer.set(ND_STEPS=len(plan.steps), ND_PLAN_SOURCE=plan.source)
    _step_to_dial(answer, plan.steps, step, line.trunk_available)


async def _caller_for_route(
    request: Request, line: Line, answer: Answer, number: str | None, at: datetime
) -> callers.Identification | None:
    """The caller by the customer id identify gave (argument 2), else by agi_callerid; None
    (and the answer degraded) when the database could not say."""
    customer_id = request.arg(2)
    try:
        if customer_id:
            found = await line.desk.ask(
                callers.customer_by_id,
                line.settings,
                whole_number(customer_id, "argument 2 (customer id)"),
                number=number,
                at=at,
            )
            if found is None:
                raise BadRequest(
                    f"argument 2 (customer id): no customer with id {customer_id}"
                )
        else:
            found = await line.desk.ask(
                callers.identify_caller, line.settings, number=number, keyed=None, at=at
            )
    except DatabaseDown as exc:
        _unidentifiable(answer, line, number, exc)
        return None
    _identified(answer, line, found)
    return found


def _step_to_dial(
    answer: Answer, steps: list[EscalationStepPlan], step: int, trunk_available: bool
) -> None:
    """The first step from `step` on with a contact Asterisk can dial."""
    if step > len(steps):
        answer.set(ND_ROUTE_REASON=f"no step {step}: the plan has {len(steps)}")
        return
    targets = [
        [
            target
            for contact in plan_step.contacts
            if (target := dial_string(contact, trunk_available=trunk_available))
        ]
        for plan_step in steps
    ]
    chosen = next((n for n in range(step, len(steps) + 1) if targets[n - 1]), None)
    if chosen is None:
        why = (
            "external numbers need pbx.trunk_contact"
            if not trunk_available
            else "no contacts"
        )
        answer.set(
            ND_ROUTE_REASON=f"no contact of step {step} or later can be dialled ({why})"
        )
        return
    plan_step = steps[chosen - 1]
    answer.set(
        ND_ROUTE="dial",
        ND_DIAL="&".join(targets[chosen - 1]),
        ND_DIAL_TIMEOUT=plan_step.timeout_seconds,
        ND_STEP=chosen,
        ND_NEXT_STEP=chosen + 1,
        ND_STEP_LAST="no" if any(targets[chosen:]) else "yes",
        ND_STEP_POSITION=plan_step.position,
    )


def _caller_id(
    customer: callers.CallerCustomer | None, number: str | None, support_number: str
) -> str:
    # As the ARI app's: the engineer's phone shows who calls.
    name = customer.name.replace('"', "") if customer else "nachtdienst"
    return f'"{name}" <{number or support_number}>'


# --- dispatch ------------------------------------------------------------------------------

Command = Callable[[Request, Line, Answer], Awaitable[None]]
COMMANDS: dict[str, tuple[Command, tuple[str, ...]]] = {
    "identify": (identify, IDENTIFY_VARIABLES),
    "office": (office, OFFICE_VARIABLES),
    "route": (route, ROUTE_VARIABLES),
    "log": (log_entry, LOG_VARIABLES),
}


async def answer_for(request: Request, line: Line) -> Answer:
    """The command's answer; never raises (a bug in a command is an error answer and a log).
    An error answer still empties all of the command's variables."""
    if request.script not in COMMANDS:
        return Answer(()).fail(
            f"unknown AGI script {request.script[:60]!r}; known: {', '.join(COMMANDS)}"
        )
    command, variables = COMMANDS[request.script]
    answer = Answer(variables)
    try:
        await command(request, line, answer)
    except BadRequest as exc:
        return Answer(variables).fail(str(exc))
    except Exception as exc:
        log.exception("agi command failed", script=request.script, args=request.args)
        return Answer(variables).fail(f"internal error: {describe(exc)}")
    return answer


async def handle(session: AgiSession, line: Line) -> None:
    """One FastAGI session: empty ND_STATUS, do the command, answer. A channel that hangs up
    meanwhile still gets its work done (a `log` from the `h` extension must be written)."""
    started = time.monotonic()
    request = Request(session.script, session.args, session.env)
    answering = True
    try:
        await session.set_variable("ND_STATUS", "")
    except AgiError as exc:  # gone, refused, or silent: the work is done all the same
        answering = False
        log.info("agi answer not possible", script=request.script, reason=str(exc))
    answer = await answer_for(request, line)
    report = log.warning if answer.status == ERROR else log.info
    report(
        "agi command",
        script=request.script,
        args=request.args,
        uniqueid=request.env.get("agi_uniqueid"),
        status=answer.status,
        error=answer.error or None,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    if answering and not session.hung_up:
        await answer.send(session, request.script)
