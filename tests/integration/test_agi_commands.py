"""The AGI commands (identify, office, route, log) over a real socket, against a real database
(SQLite and PostgreSQL): what the dialplan reads back in its ND_* variables, and the call's
record the `log` command writes."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agi.backlog import Backlog
from agi.commands import handle
from agi.desk import AgiDesk
from agi.protocol import AgiServer
from agi.request import Line
from ari_app.ringing import dial_string as ari_dial_string
from core import line_desk
from core.calls import record_step, start_call
from core.db import open_database
from core.models import (
    STANDARD_SLA_NAME,
    Call,
    Customer,
    CustomerPhone,
    Engineer,
    EngineerContact,
    Incident,
    OfficeClosure,
    Sla,
)
from core.roster_store import save_rotation
from core.settings import Settings
from tests.unit.test_agi_protocol import UNIQUEID, AsteriskSide, agi_call, environment

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam: closed
NOON = datetime(2026, 2, 3, 11, 0, tzinfo=UTC)  # Tuesday 12:00 in Amsterdam: open
CALL_UNIQUEID = (
    f"{int(NIGHT.timestamp()) - 30}.42"  # the channel was made 30 s before NIGHT
)
ACME_PHONE = "+31612345678"
EVA_SIP, EVA_MOBILE, PIET_MOBILE = (
    "sip:eva@127.0.0.1:5080",
    "+31611111111",
    "+31622222222",
)
TRUNK = {"trunk_contact": "sip:provider.example:5060"}


def settings_with(settings: Settings, **groups) -> Settings:
    return Settings(
        data_dir=settings.data_dir, database_url=settings.database_url, **groups
    )


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = open_database(settings)
    with factory() as session:
        standard = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
        office_only = Sla(
            name="office only", hourly_rate=Decimal("80.00"), after_hours_included=False
        )
        blocked = Customer(
            name="Blocked BV",
            customer_number="3003",
            sla=standard,
            phones=[CustomerPhone(e164="+31301234567")],
        )
        session.add_all(
            [
                Customer(
                    name='ACME "Hosting"',
                    customer_number="1001",
                    sla=standard,
                    phones=[CustomerPhone(e164=ACME_PHONE)],
                ),
                Customer(
                    name="Office Only",
                    customer_number="2002",
                    sla=office_only,
                    phones=[CustomerPhone(e164="+31201234567")],
                ),
                blocked,
            ]
        )
        for days in (10, 20, 30):  # three rejections in the rolling year: blocked
            session.add(
                Incident(
                    customer=blocked,
                    created_at=NIGHT - timedelta(days=days),
                    status="rejected_not_critical",
                    rejected_at=NIGHT - timedelta(days=days),
                    rejection_reason="not critical",
                )
            )
        eva = Engineer(
            name="Eva",
            contacts=[
                EngineerContact(kind="sip", address=EVA_SIP, position=1),
                EngineerContact(kind="phone", address=EVA_MOBILE, position=2),
            ],
        )
        piet = Engineer(
            name="Piet", contacts=[EngineerContact(kind="phone", address=PIET_MOBILE)]
        )
        session.add_all([eva, piet])
        session.flush()
        # Eva primary, Piet secondary
        save_rotation(session, date(2026, 2, 2), [eva], [piet])
        session.commit()
    yield factory
    factory.kw["bind"].dispose()


class Clock:
    """The line's clock, set by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def agi_line(
    settings: Settings, sessions, at: datetime | Clock = NIGHT
) -> AsyncIterator[tuple[AgiServer, Line]]:
    line = Line(
        settings,
        AgiDesk(settings, sessions),
        Backlog(),
        clock=at if isinstance(at, Clock) else Clock(at),
    )
    server = AgiServer(functools.partial(handle, line=line), "127.0.0.1", 0)
    await server.start()
    try:
        yield server, line
    finally:
        await server.stop(1.0)
        line.desk.close()


async def ask(
    settings: Settings,
    sessions,
    script: str,
    *args: str,
    at: datetime = NIGHT,
    **env: str,
) -> dict[str, str]:
    async with agi_line(settings, sessions, at) as (server, _):
        side = await agi_call(server.port, environment(script, *args, **env))
    assert side.closed_by_server
    return side.variables


def call_record(sessions, channel_id: str = CALL_UNIQUEID) -> dict:
    with sessions() as session:
        call = session.scalar(select(Call).where(Call.channel_id == channel_id))
        return {
            "path": call.path,
            "started_at": call.started_at,
            "customer_id": call.customer_id,
            "outcome": call.outcome,
            "outcome_detail": call.outcome_detail,
            "abandoned_step": call.abandoned_step,
            "steps": [(step.step, step.detail) for step in call.steps],
            "attempts": [
                (
                    a.step_position,
                    a.contact,
                    a.engineer.name if a.engineer else None,
                    a.result,
                    a.started_at,
                    a.answered_at,
                    a.accepted_at,
                    a.ended_at,
                )
                for a in call.dial_attempts
            ],
        }


# --- identify ----------------------------------------------------------------------------------


async def test_identify_finds_the_customer_by_the_caller_number(settings, sessions):
    answer = await ask(settings, sessions, "identify", agi_callerid="0612345678")
    with sessions() as session:
        acme = session.scalar(
            select(Customer).where(Customer.customer_number == "1001")
        )
    assert answer == {
        "ND_STATUS": "ok",
        "ND_ERROR": "",
        "ND_IDENTIFIED": "yes",
        "ND_IDENTIFIED_BY": "caller_number",
        "ND_CALLER_E164": ACME_PHONE,
        "ND_CUSTOMER_ID": str(acme.id),
        "ND_CUSTOMER_NUMBER": "1001",
        "ND_CUSTOMER_NAME": 'ACME "Hosting"',
        "ND_CUSTOMER_STATUS": "active",
        "ND_AFTER_HOURS": "yes",
        "ND_REFUSAL": "",
    }


IDENTIFICATIONS = [  # (arguments, agi_callerid) -> what identify answers
    # keyed in, `#` ends
    (("", "1001#"), "anonymous", ("yes", "customer_number", "1001", "yes", "")),
    # the number as argument
    (("+31612345678",), "unknown", ("yes", "caller_number", "1001", "yes", "")),
    ((), "+31201234567", ("yes", "caller_number", "2002", "no", "no_after_hours")),
    ((), "+31301234567", ("yes", "caller_number", "3003", "no", "blocked")),
    # unknown: goes on as unidentified
    (("", "9x9"), "+31699999999", ("no", "", "", "yes", "")),
]


async def test_identify_mirrors_what_the_call_flow_decides(settings, sessions):
    seen = []
    async with agi_line(settings, sessions) as (server, _):
        for args, callerid, _ in IDENTIFICATIONS:
            answer = (
                await agi_call(
                    server.port, environment("identify", *args, agi_callerid=callerid)
                )
            ).variables
            names = (
                "ND_IDENTIFIED",
                "ND_IDENTIFIED_BY",
                "ND_CUSTOMER_NUMBER",
                "ND_AFTER_HOURS",
                "ND_REFUSAL",
            )
            seen.append((answer["ND_STATUS"], tuple(answer[name] for name in names)))
    assert seen == [("ok", expected) for _, _, expected in IDENTIFICATIONS]


async def test_an_unidentified_caller_is_refused_when_the_settings_say_so(
    settings, sessions
):
    refusing = settings_with(settings, line={"unidentified": "refuse"})
    answer = await ask(refusing, sessions, "identify", agi_callerid="unknown")
    assert (
        answer["ND_IDENTIFIED"],
        answer["ND_AFTER_HOURS"],
        answer["ND_REFUSAL"],
    ) == ("no", "no", "refused_unidentified")
    assert answer["ND_CALLER_E164"] == ""


# --- office --------------------------------------------------------------------------------------


async def test_office_says_open_or_closed_with_closures_and_where_to_transfer(
    settings, sessions
):
    with_office = settings_with(
        settings, office={"destination": "020 123 4567"}, pbx=TRUNK
    )
    night = await ask(with_office, sessions, "office", at=NIGHT)
    noon = await ask(with_office, sessions, "office", at=NOON)
    without_trunk = await ask(
        settings_with(settings, office={"destination": "020 123 4567"}),
        sessions,
        "office",
        at=NOON,
    )
    sip_office = await ask(
        settings_with(settings, office={"destination": "sip:office@10.0.0.9"}),
        sessions,
        "office",
        at=NOON,
    )
    with sessions() as session:
        session.add(
            OfficeClosure(
                starts_at=NOON - timedelta(hours=1),
                ends_at=NOON + timedelta(hours=1),
                reason="training",
            )
        )
        session.commit()
        expected_night = line_desk.office_status(session, settings, NIGHT)
    closed = await ask(with_office, sessions, "office", at=NOON)

    assert (night["ND_STATUS"], night["ND_OFFICE"], night["ND_OFFICE_REASON"]) == (
        "ok",
        "closed",
        expected_night.reason,
    )
    assert (noon["ND_OFFICE"], noon["ND_OFFICE_REASON"]) == ("open", "open")
    assert noon["ND_OFFICE_DESTINATION"] == "PJSIP/+31201234567@trunk"
    assert noon["ND_OFFICE_NUMBER"] == settings.office.office_number
    # a number cannot be dialled without a trunk
    assert without_trunk["ND_OFFICE_DESTINATION"] == ""
    assert (
        sip_office["ND_OFFICE_DESTINATION"]
        == "PJSIP/engineer-phone/sip:office@10.0.0.9"
    )
    assert (closed["ND_OFFICE"], closed["ND_OFFICE_REASON"]) == (
        "closed",
        "closure: training",
    )


# --- route ---------------------------------------------------------------------------------------


async def test_route_gives_each_escalation_step_as_the_call_flow_rings_it(
    settings, sessions
):
    trunked = settings_with(settings, pbx=TRUNK)
    first = await ask(trunked, sessions, "route", "1", agi_callerid=ACME_PHONE)
    second = await ask(
        trunked, sessions, "route", first["ND_NEXT_STEP"], agi_callerid=ACME_PHONE
    )
    beyond = await ask(
        trunked, sessions, "route", second["ND_NEXT_STEP"], agi_callerid=ACME_PHONE
    )
    with sessions() as session:
        plan = line_desk.escalation_plan(session, trunked, NIGHT)
    ari = [
        "&".join(
            ari_dial_string(contact, trunk_available=True) for contact in step.contacts
        )
        for step in plan
    ]

    assert ari[0] == f"PJSIP/engineer-phone/{EVA_SIP}&PJSIP/{EVA_MOBILE}@trunk"
    assert [first["ND_DIAL"], second["ND_DIAL"]] == ari
    assert [
        first[v]
        for v in (
            "ND_STATUS",
            "ND_ROUTE",
            "ND_STEP",
            "ND_NEXT_STEP",
            "ND_STEP_LAST",
            "ND_STEPS",
            "ND_PLAN_SOURCE",
        )
    ] == ["ok", "dial", "1", "2", "no", "2", "database"]
    assert (second["ND_STEP"], second["ND_STEP_LAST"], second["ND_DIAL_TIMEOUT"]) == (
        "2",
        "yes",
        str(plan[1].timeout_seconds),
    )
    assert first["ND_DIAL_TIMEOUT"] == str(settings.roster.step_timeout)
    assert (first["ND_CUSTOMER_NUMBER"], first["ND_AFTER_HOURS"]) == ("1001", "yes")
    # quotes taken out, as the app does
    assert first["ND_CALLERID"] == f'"ACME Hosting" <{ACME_PHONE}>'
    assert first["ND_ANNOUNCE_NUMBER"] == "1001"
    assert (
        beyond["ND_STATUS"],
        beyond["ND_ROUTE"],
        beyond["ND_ROUTE_REASON"],
        beyond["ND_DIAL"],
    ) == ("ok", "none", "no step 3: the plan has 2", "")


async def test_route_without_a_trunk_dials_only_sip_contacts_and_skips_what_it_cannot_dial(
    settings, sessions
):
    first = await ask(settings, sessions, "route", agi_callerid=ACME_PHONE)
    second = await ask(settings, sessions, "route", "2", agi_callerid=ACME_PHONE)
    assert (first["ND_DIAL"], first["ND_STEP_LAST"]) == (
        f"PJSIP/engineer-phone/{EVA_SIP}",
        "yes",
    )
    assert (second["ND_ROUTE"], second["ND_STATUS"]) == ("none", "ok")
    assert (
        second["ND_ROUTE_REASON"]
        == "no contact of step 2 or later can be dialled (external numbers need pbx.trunk_contact)"
    )


async def test_route_refuses_whom_the_line_refuses_and_takes_a_keyed_identification(
    settings, sessions
):
    blocked = await ask(settings, sessions, "route", "1", agi_callerid="+31301234567")
    with sessions() as session:
        acme = session.scalar(
            select(Customer).where(Customer.customer_number == "1001")
        )
    keyed = await ask(
        settings, sessions, "route", "1", str(acme.id), agi_callerid="anonymous"
    )
    assert (blocked["ND_ROUTE"], blocked["ND_ROUTE_REASON"], blocked["ND_DIAL"]) == (
        "none",
        "refused: blocked",
        "",
    )
    assert (
        keyed["ND_ROUTE"],
        keyed["ND_IDENTIFIED_BY"],
        keyed["ND_CUSTOMER_NUMBER"],
    ) == ("dial", "customer_id", "1001")
    # no number of the caller's to show
    assert keyed["ND_CALLERID"] == f'"ACME Hosting" <{settings.support_number}>'


async def test_route_with_nobody_to_ring_sends_the_call_to_voicemail(
    settings, sessions
):
    with sessions() as session:
        for engineer in session.scalars(select(Engineer)):
            engineer.active = False
        session.commit()
    answer = await ask(settings, sessions, "route", agi_callerid=ACME_PHONE)
    assert (answer["ND_STATUS"], answer["ND_ROUTE"]) == ("ok", "none")
    assert answer["ND_ROUTE_REASON"].startswith("nobody to ring: ")


# --- log -----------------------------------------------------------------------------------------


async def test_log_writes_the_fallback_call_and_a_repeat_adds_nothing(
    settings, sessions
):
    with sessions() as session:
        acme = session.scalar(
            select(Customer).where(Customer.customer_number == "1001")
        )
    second = timedelta(seconds=1)
    entries = [  # (when it is logged, the arguments)
        # a detail with a comma
        (NIGHT, ("step", "office_closed", "outside schedule, via AGI")),
        (NIGHT + 5 * second, ("customer", str(acme.id), "caller number")),
        (
            NIGHT + 35 * second,
            (
                "dial",
                "1",
                "NOANSWER",
                f"PJSIP/engineer-phone/{EVA_SIP}&PJSIP/{EVA_MOBILE}@trunk",
                "",
                "25",
                "",
                "NOTACCEPTED&",  # her desk phone answered without a 1; her mobile rang on
            ),
        ),
        (
            NIGHT + 135 * second,
            (
                "dial",
                "2",
                "ANSWER",
                f"PJSIP/{PIET_MOBILE}@trunk",
                f"{PIET_MOBILE}@trunk",
                "100",
                "60",
            ),
        ),
        (NIGHT + 136 * second, ("end", "answered", "Piet")),
    ]
    clock = Clock(NIGHT)
    firsts, repeats = [], []
    async with agi_line(settings, sessions, clock) as (server, _):
        for clock.now, args in entries:
            firsts.append(
                (
                    await agi_call(
                        server.port,
                        environment("log", *args, agi_uniqueid=CALL_UNIQUEID),
                    )
                ).variables
            )
        before = call_record(sessions)
        clock.now = NIGHT + 300 * second
        for _, args in entries + [(None, ("end", "abandoned"))]:
            repeats.append(
                (
                    await agi_call(
                        server.port,
                        environment("log", *args, agi_uniqueid=CALL_UNIQUEID),
                    )
                ).variables
            )
    record = call_record(sessions)

    assert [(v["ND_STATUS"], v["ND_LOGGED"]) for v in firsts] == [("ok", "yes")] * 5
    assert [(v["ND_STATUS"], v["ND_LOGGED"]) for v in repeats] == [("ok", "no")] * 6
    assert len({v["ND_CALL_ID"] for v in firsts + repeats}) == 1
    assert record == before
    assert (record["path"], record["started_at"], record["customer_id"]) == (
        "agi",
        NIGHT - 30 * second,
        acme.id,
    )
    assert (record["outcome"], record["outcome_detail"], record["abandoned_step"]) == (
        "answered",
        "Piet",
        None,
    )
    assert record["steps"] == [
        ("agi_path", "new record"),
        ("office_closed", "outside schedule, via AGI"),
        ("identified", '1001 (ACME "Hosting") by caller number'),
        ("dial", f"step 1: NOANSWER: {EVA_SIP}&{EVA_MOBILE}"),
        ("dial", f"step 2: ANSWER: {PIET_MOBILE} (answered: {PIET_MOBILE})"),
    ]
    eva_rung, piet_rung, piet_answered = (
        NIGHT + 10 * second,
        NIGHT + 35 * second,
        NIGHT + 75 * second,
    )
    assert record["attempts"] == [
        (1, EVA_SIP, "Eva", "not_accepted", eva_rung, None, None, NIGHT + 35 * second),
        (1, EVA_MOBILE, "Eva", "no_answer", eva_rung, None, None, NIGHT + 35 * second),
        (
            2,
            PIET_MOBILE,
            "Piet",
            "accepted",
            piet_rung,
            piet_answered,
            piet_answered,
            NIGHT + 135 * second,
        ),
    ]


async def test_log_goes_on_with_the_record_the_ari_app_started(settings, sessions):
    with sessions() as session:
        call = start_call(
            session,
            channel_id=UNIQUEID,
            from_number=ACME_PHONE,
            to_number="0497842611",
            at=NIGHT - timedelta(minutes=1),
        )
        record_step(session, call, "ringing", NIGHT - timedelta(seconds=50))
        session.commit()
    async with agi_line(settings, sessions) as (server, _):
        for entry in (
            ("step", "voicemail", "VoiceMail(support)"),
            ("end", "abandoned"),
        ):
            await agi_call(
                server.port, environment("log", *entry, agi_uniqueid=UNIQUEID)
            )
    record = call_record(sessions, UNIQUEID)
    assert record["path"] == "ari"
    assert record["steps"] == [
        ("ringing", None),
        ("agi_path", "after ari step ringing"),
        ("voicemail", "VoiceMail(support)"),
    ]
    assert (record["outcome"], record["abandoned_step"]) == ("abandoned", "voicemail")


async def test_log_from_a_channel_that_hangs_up_meanwhile_is_still_written(
    settings, sessions
):
    def hang_up_at_once(argv: list[str], side: AsteriskSide) -> list[str] | None:
        return ["HANGUP", *side.reply(argv)]

    async with agi_line(settings, sessions) as (server, _):
        side = await agi_call(
            server.port,
            environment("log", "end", "abandoned", agi_uniqueid=CALL_UNIQUEID),
            hang_up_at_once,
        )
    assert side.commands == [
        ["SET", "VARIABLE", "ND_STATUS", ""]
    ]  # nothing more was sent
    assert call_record(sessions)["outcome"] == "abandoned"


# --- bad requests ----------------------------------------------------------------------------------


BAD_REQUESTS = [  # (script, arguments, environment) -> the start of ND_ERROR
    ("dial", (), {}, "unknown AGI script 'dial'; known: identify, office, route, log"),
    ("route", ("first",), {}, "argument 1 (step) 'first' is not a whole number 1..99"),
    (
        "route",
        ("1", "99999"),
        {},
        "argument 2 (customer id): no customer with id 99999",
    ),
    ("log", (), {}, "log: argument 1 (kind) '': one of step, customer, dial, end"),
    (
        "log",
        ("step", "Bad Name"),
        {},
        "log,step: argument 2 (step name) 'Bad Name': 1-50 of a-z, 0-9, _",
    ),
    (
        "log",
        ("dial", "1", "NOANSWER", "SIP/eva"),
        {},
        "log,dial: argument 4 (dial string): dial target 'SIP/eva' is not one of nachtdienst's",
    ),
    (
        "log",
        ("dial", "1", "NO ANSWER", f"PJSIP/{PIET_MOBILE}@trunk"),
        {},
        "log,dial: argument 3 (DIALSTATUS) 'NO ANSWER'",
    ),
    (
        "log",
        ("dial", "1", "NOANSWER", f"PJSIP/{PIET_MOBILE}@trunk", "", "25", "", "BUSY&NOANSWER"),
        {},
        "log,dial: argument 8 (leg statuses) 'BUSY&NOANSWER': at most one status word per contact",
    ),
    ("log", ("end", "exploded"), {}, "outcome 'exploded' is not one of "),
    ("log", ("customer", "424242"), {}, "no customer with id 424242"),
    ("log", ("step", "ringing"), {"agi_uniqueid": ""}, "agi_uniqueid is missing"),
]


async def test_bad_requests_get_an_agi_level_error_a_verbose_line_and_a_log_line(
    settings, sessions
):
    async with agi_line(settings, sessions) as (server, _):
        for script, args, env, error in BAD_REQUESTS:
            with structlog.testing.capture_logs() as logs:
                # what an earlier route left in the channel
                left = {"ND_ROUTE": "dial", "ND_DIAL": "PJSIP/stale", "ND_CALL_ID": "7"}
                side = await agi_call(
                    server.port, environment(script, *args, **env), variables=left
                )
            assert side.closed_by_server
            assert side.variables["ND_STATUS"] == "error", (script, args)
            if script == "route":  # nothing of an earlier answer is left to be misread
                assert (side.variables["ND_ROUTE"], side.variables["ND_DIAL"]) == (
                    "",
                    "",
                )
            if script == "log":
                assert side.variables["ND_CALL_ID"] == ""
            assert side.variables["ND_ERROR"].startswith(error)
            assert side.verbose == [
                f"nachtdienst agi {script}: {side.variables['ND_ERROR']}"
            ]
            assert [
                (entry["status"], entry["log_level"], entry["error"])
                for entry in logs
                if entry["event"] == "agi command"
            ] == [("error", "warning", side.variables["ND_ERROR"])]
    with sessions() as session:
        assert session.scalars(select(Call)).all() == []  # nothing half-written


def mixed_request(n: int) -> tuple[str, tuple[str, ...]]:
    """Every fourth call writes (`log`), the others ask."""
    if n % 4 == 0:
        return "log", ("step", "ringing")
    return ("route", "identify", "office")[n % 3], ()


async def test_sixty_calls_at_once_are_all_answered(settings, sessions):
    requests = [mixed_request(n) for n in range(60)]
    async with agi_line(settings, sessions) as (server, _):
        sides = await asyncio.gather(
            *(
                agi_call(
                    server.port,
                    environment(
                        script, *args, agi_uniqueid=f"{int(NIGHT.timestamp())}.{n}"
                    ),
                )
                for n, (script, args) in enumerate(requests)
            )
        )
    assert [side.variables["ND_STATUS"] for side in sides] == ["ok"] * 60
    assert [side.variables.get("ND_LOGGED") for side in sides] == [
        "yes" if n % 4 == 0 else None for n in range(60)
    ]
    with sessions() as session:
        assert len(session.scalars(select(Call)).all()) == 15
