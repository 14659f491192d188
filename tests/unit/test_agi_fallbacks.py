"""The AGI commands when the database is down, hung or not opened yet: answers that keep the
call going (marked `degraded`), or a clear `error` when nothing can be said, and never a
channel left waiting. Over a real socket; no database answers in these tests."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from agi.backlog import Backlog
from agi.commands import handle
from agi.desk import AgiDesk
from agi.protocol import AgiServer
from agi.request import Line
from core import line_desk
from core.office_hours import OfficeCalendar, WeeklySchedule, office_status
from core.roster import Contact, ContactToRing, EscalationStepPlan
from core.settings import Settings
from tests.unit.test_agi_protocol import agi_call, environment

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam
NOON = datetime(2026, 2, 3, 11, 0, tzinfo=UTC)
TRUNK = {"trunk_contact": "sip:provider.example:5060"}


def broken_database(tmp_path: Path) -> sessionmaker:
    """Sessions on a database that cannot be opened (its directory does not exist)."""
    return sessionmaker(
        create_engine(f"sqlite:///{tmp_path / 'missing' / 'nachtdienst.db'}")
    )


class HungDatabase:
    """Sessions that take far longer than the desk waits."""

    def __call__(self):
        time.sleep(1.0)
        raise AssertionError("the desk should have stopped waiting long ago")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def agi_line(
    settings: Settings, sessions, clock: Clock | None = None
) -> AsyncIterator[tuple[AgiServer, Line]]:
    line = Line(
        settings,
        AgiDesk(settings, sessions, timeout=0.3),
        Backlog(),
        clock=clock or Clock(NIGHT),
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
    clock: Clock | None = None,
    **env: str,
) -> dict[str, str]:
    async with agi_line(settings, sessions, clock) as (server, _):
        side = await agi_call(server.port, environment(script, *args, **env))
    assert side.closed_by_server
    return side.variables


async def test_identify_without_the_database_lets_the_caller_through(tmp_path):
    answer = await ask(
        Settings(data_dir=tmp_path),
        broken_database(tmp_path),
        "identify",
        agi_callerid="0612345678",
    )
    assert (
        answer["ND_STATUS"],
        answer["ND_IDENTIFIED"],
        answer["ND_AFTER_HOURS"],
        answer["ND_REFUSAL"],
    ) == ("degraded", "unavailable", "yes", "")
    assert answer["ND_CALLER_E164"] == "+31612345678"
    assert answer["ND_ERROR"].startswith("database unavailable: OperationalError: ")


async def test_a_hung_database_costs_the_channel_only_the_desks_timeout(tmp_path):
    # Refusing the unidentified: a caller the database could not look up still gets through.
    refusing = Settings(data_dir=tmp_path, line={"unidentified": "refuse"})
    started = time.monotonic()
    answer = await ask(refusing, HungDatabase(), "identify", agi_callerid="anonymous")
    waited = time.monotonic() - started
    assert waited < 1.0
    assert (answer["ND_STATUS"], answer["ND_IDENTIFIED"], answer["ND_AFTER_HOURS"]) == (
        "degraded",
        "unavailable",
        "yes",
    )
    assert answer["ND_ERROR"] == "database unavailable: no answer within 0.3 s"


@pytest.mark.parametrize("at", [NIGHT, NOON])
async def test_office_without_the_database_follows_the_schedule(tmp_path, at):
    settings = Settings(data_dir=tmp_path)
    answer = await ask(settings, broken_database(tmp_path), "office", clock=Clock(at))
    expected = office_status(
        at, OfficeCalendar(schedule=WeeklySchedule.parse(settings.office.schedule))
    )
    assert (answer["ND_STATUS"], answer["ND_OFFICE"], answer["ND_OFFICE_REASON"]) == (
        "degraded",
        "open" if expected.open else "closed",
        expected.reason,
    )


async def test_route_without_the_database_rings_the_default_contact(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        pbx=TRUNK,
        roster={"default_contact": "06 8765 4321", "step_timeout": 40},
    )
    answer = await ask(
        settings, broken_database(tmp_path), "route", "1", agi_callerid="0612345678"
    )
    assert [
        answer[name]
        for name in (
            "ND_STATUS",
            "ND_ROUTE",
            "ND_DIAL",
            "ND_DIAL_TIMEOUT",
            "ND_STEP_LAST",
            "ND_PLAN_SOURCE",
        )
    ] == [
        "degraded",
        "dial",
        "PJSIP/+31687654321@trunk",
        "40",
        "yes",
        "roster.default_contact",
    ]
    assert answer["ND_IDENTIFIED"] == "unavailable"
    assert answer["ND_CALLERID"] == '"nachtdienst" <+31612345678>'


async def test_route_with_nothing_known_is_an_error_so_the_dialplan_takes_the_static_path(
    tmp_path,
):
    answer = await ask(
        Settings(data_dir=tmp_path),
        broken_database(tmp_path),
        "route",
        agi_callerid="0612345678",
    )
    assert (answer["ND_STATUS"], answer["ND_ROUTE"], answer["ND_DIAL"]) == (
        "error",
        "none",
        "",
    )
    assert answer["ND_ERROR"].startswith("database unavailable: ")
    assert "roster.default_contact is unset" in answer["ND_ERROR"]


async def test_route_uses_the_last_plan_read_while_it_is_valid_and_after_that_rather_than_nobody(
    tmp_path, monkeypatch
):
    eva = ContactToRing(None, Contact("sip", "sip:eva@127.0.0.1:5080"))
    valid_until = NIGHT + timedelta(hours=6)

    def plan_until(session, settings, at):
        session.execute(text("SELECT 1"))  # asks the database like the real one
        return [EscalationStepPlan(1, (eva,), 20)], valid_until

    monkeypatch.setattr(line_desk, "escalation_plan_until", plan_until)
    settings = Settings(data_dir=tmp_path)
    clock = Clock(NIGHT)
    answers = []
    withheld = environment("route", agi_callerid="anonymous")  # nobody to look up
    answering = sessionmaker(create_engine("sqlite://"))
    async with agi_line(settings, answering, clock) as (server, line):
        answers.append((await agi_call(server.port, withheld)).variables)
        line.desk.sessions = broken_database(tmp_path)
        for clock.now in (
            NIGHT + timedelta(hours=1),
            valid_until + timedelta(minutes=1),
        ):
            answers.append((await agi_call(server.port, withheld)).variables)
    assert [(a["ND_STATUS"], a["ND_PLAN_SOURCE"], a["ND_DIAL"]) for a in answers] == [
        ("ok", "database", "PJSIP/engineer-phone/sip:eva@127.0.0.1:5080"),
        ("degraded", "cached plan", "PJSIP/engineer-phone/sip:eva@127.0.0.1:5080"),
        (
            "degraded",
            "stale cached plan",
            "PJSIP/engineer-phone/sip:eva@127.0.0.1:5080",
        ),
    ]


async def test_log_without_the_database_keeps_the_entry_for_later(tmp_path):
    for sessions, reason in (
        (broken_database(tmp_path), "OperationalError"),
        (None, "the database is not opened yet"),
    ):
        async with agi_line(Settings(data_dir=tmp_path), sessions) as (server, line):
            side = await agi_call(server.port, environment("log", "step", "voicemail"))
            assert len(line.backlog) == 1
        answer = side.variables
        assert (answer["ND_STATUS"], answer["ND_LOGGED"], answer["ND_CALL_ID"]) == (
            "degraded",
            "queued",
            "",
        )
        assert reason in answer["ND_ERROR"] and answer["ND_ERROR"].endswith(
            "the entry is kept and retried"
        )
