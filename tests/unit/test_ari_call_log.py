"""CallLog: call records written in order with their own times, and a database that is away
for a while delays them without losing any or breaking the call."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


from ari_app import call_log as call_log_module  # noqa: E402
from ari_app.call_log import CallLog  # noqa: E402
from tests.unit.fake_pbx import until


class FakeDatabase:
    """Sessions whose commits apply the calls made in them, or fail while `down`."""

    def __init__(self) -> None:
        self.committed: list[tuple[Any, ...]] = []
        self.attempts: dict[int, FakeAttempt] = {}
        self.down = False
        self.commit_gate: threading.Event | None = None  # set: commits wait for it
        self.committing = threading.Event()

    def __call__(self) -> FakeSession:
        return FakeSession(self)


class FakeSession:
    def __init__(self, database: FakeDatabase):
        self.database = database
        self.calls: list[tuple[Any, ...]] = []
        self.attempts: dict[int, FakeAttempt] = {}

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def in_transaction(self) -> bool:
        return True  # begin_write has nothing to do on a database that is not SQLite

    def commit(self) -> None:
        self.database.committing.set()
        if self.database.commit_gate is not None:
            self.database.commit_gate.wait(5)
        if self.database.down:
            raise ConnectionError("database is away")
        self.database.committed.extend(self.calls)
        self.database.attempts.update(self.attempts)

    def get(self, model, ident):
        return self.database.attempts.get(ident) or self.attempts.get(ident)


class FakeCall:
    def __init__(self, channel_id: str):
        self.channel_id = channel_id
        self.outcome: str | None = None


class FakeAttempt:
    def __init__(self, attempt_id: int, contact: str):
        self.id, self.contact = attempt_id, contact


@pytest.fixture
def database(monkeypatch) -> FakeDatabase:
    database = FakeDatabase()
    calls: dict[str, FakeCall] = {}

    def start_call(session, *, channel_id, from_number, to_number, at):
        calls[channel_id] = call = FakeCall(channel_id)
        session.calls.append(("start", channel_id, from_number, to_number, at))
        return call

    def record_step(session, call, step, at, detail=None):
        session.calls.append(("step", call.channel_id, step, at))

    def finish_call(session, call, *, outcome, at, detail=None, abandoned_step=None):
        call.outcome = outcome
        session.calls.append(("finish", call.channel_id, outcome, detail, abandoned_step, at))

    def find_call_by_channel(session, channel_id):
        return calls.get(channel_id)

    def set_call_customer(session, call, customer_id):
        session.calls.append(("customer", call.channel_id, customer_id))

    def set_call_language(session, call, language):
        session.calls.append(("language", call.channel_id, language))

    def start_dial_attempt(session, call, *, contact, at, engineer_id=None, step_position=1):
        attempt = FakeAttempt(len(database.attempts) + len(session.attempts) + 1, contact)
        session.attempts[attempt.id] = attempt
        session.calls.append(("dial_start", call.channel_id, contact, engineer_id, step_position, at))
        return attempt

    def finish_dial_attempt(session, attempt, *, result, at, answered_at=None, accepted_at=None):
        session.calls.append(("dial_finish", attempt.contact, result, answered_at, accepted_at, at))

    for name, function in [
        ("start_call", start_call),
        ("record_step", record_step),
        ("finish_call", finish_call),
        ("find_call_by_channel", find_call_by_channel),
        ("set_call_customer", set_call_customer),
        ("set_call_language", set_call_language),
        ("start_dial_attempt", start_dial_attempt),
        ("finish_dial_attempt", finish_dial_attempt),
    ]:
        monkeypatch.setattr(call_log_module, name, function)
    return database


class TickingClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def test_a_call_is_written_step_by_step(database: FakeDatabase):
    clock = TickingClock()
    call_log = CallLog(database, clock=clock)

    record = await call_log.start(channel_id="1.1", from_number="0612345678", to_number="0497842611")
    await record.step("answered")
    await record.finish("abandoned", abandoned_step="answered")

    start = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert database.committed == [
        ("start", "1.1", "0612345678", "0497842611", start + timedelta(seconds=1)),
        ("step", "1.1", "answered", start + timedelta(seconds=2)),
        ("finish", "1.1", "abandoned", None, "answered", start + timedelta(seconds=3)),
    ]


async def test_a_database_away_during_the_call_loses_nothing(database: FakeDatabase):
    clock = TickingClock()
    call_log = CallLog(database, clock=clock, retry_delays=[0.01] * 20)
    database.down = True

    record = await call_log.start(channel_id="1.1", from_number=None, to_number="0497842611")
    await record.step("answered")
    await record.finish("abandoned", abandoned_step="answered")
    assert database.committed == [] and not record.written

    database.down = False
    for _ in range(100):
        if record.written:
            break
        await asyncio.sleep(0.01)

    assert [entry[0] for entry in database.committed] == ["start", "step", "finish"]
    times = [entry[-1] for entry in database.committed]
    assert times == sorted(times) and times[0] == datetime(2026, 1, 5, 2, 0, 1, tzinfo=UTC)
    await call_log.close()


async def test_close_makes_a_last_attempt(database: FakeDatabase):
    call_log = CallLog(database, retry_delays=[60.0])
    database.down = True
    record = await call_log.start(channel_id="1.1", from_number=None, to_number="0497842611")
    await record.finish("failed", detail="app stopped")

    database.down = False
    await call_log.close()

    assert record.written


async def test_an_orphan_gets_a_record_once(database: FakeDatabase):
    call_log = CallLog(database)

    await call_log.finish_orphan(channel_id="2.1", from_number="0201234567", to_number="0497842611", detail="app reconnected")
    await call_log.finish_orphan(channel_id="2.1", from_number="0201234567", to_number="0497842611", detail="app reconnected")

    assert [entry[:3] for entry in database.committed] == [("start", "2.1", "0201234567"), ("finish", "2.1", "failed")]


async def test_an_orphan_the_database_refuses_is_logged_not_raised(database: FakeDatabase):
    database.down = True

    await CallLog(database).finish_orphan(channel_id="2.1", from_number=None, to_number="", detail="app reconnected")

    assert database.committed == []


async def test_an_orphan_sent_on_to_the_fallback_path_gets_a_step_not_an_end(database: FakeDatabase):
    call_log = CallLog(database)
    record = await call_log.start(channel_id="2.1", from_number="0201234567", to_number="0497842611")
    assert record is not None

    await call_log.note_orphan_continued(channel_id="2.1", from_number="0201234567", to_number="0497842611",
                                         detail="app reconnected: on to nd-agi")  # fmt: skip
    await call_log.note_orphan_continued(channel_id="2.9", from_number=None, to_number="0497842611", detail="x")

    await call_log.note_orphan_continued(channel_id="2.1", from_number=None, to_number="0497842611", detail="y",
                                         outcome="voicemail")  # fmt: skip

    assert [entry[:3] for entry in database.committed] == [
        ("start", "2.1", "0201234567"), ("step", "2.1", "app_restarted"), ("start", "2.9", None), ("step", "2.9", "app_restarted"),
        ("step", "2.1", "app_restarted"), ("finish", "2.1", "voicemail")]


async def test_changes_noted_while_a_write_is_in_flight_are_written_without_waiting_for_the_next(database: FakeDatabase):
    # The call's last changes before a long wait (a voicemail being recorded) must reach the
    # database then, not at the next step: the process may be gone by then.
    record = await CallLog(database).start(channel_id="3.1", from_number=None, to_number="0497842611")
    database.commit_gate = threading.Event()
    database.committing.clear()
    await record.step("nobody_accepted")
    await asyncio.to_thread(database.committing.wait, 5)  # that write is in flight
    await record.step("voicemail")
    database.commit_gate.set()
    await until(lambda: record.written, 2.0)
    assert [entry[2] for entry in database.committed if entry[0] == "step"] == ["nobody_accepted", "voicemail"]


START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


async def test_customer_language_and_dial_legs_are_written_in_order(database: FakeDatabase):
    record = await CallLog(database, clock=TickingClock()).start(channel_id="1.1", from_number=None, to_number="0497842611")
    await record.set_customer(7)
    await record.set_language("en")
    await record.dial_started("leg-a", contact="sip:anna@pbx", engineer_id=3, step_position=1)
    await record.dial_started("leg-b", contact="+31687654321", engineer_id=4, step_position=1)
    await record.dial_finished("leg-b", result="busy")
    await record.dial_finished("leg-a", result="accepted", answered_at=at(6), accepted_at=at(7))
    await record.finish("answered")

    assert database.committed[1:] == [
        ("customer", "1.1", 7),
        ("language", "1.1", "en"),
        ("dial_start", "1.1", "sip:anna@pbx", 3, 1, at(4)),
        ("dial_start", "1.1", "+31687654321", 4, 1, at(5)),
        ("dial_finish", "+31687654321", "busy", None, None, at(6)),  # found by its key in a later transaction
        ("dial_finish", "sip:anna@pbx", "accepted", at(6), at(7), at(7)),
        ("finish", "1.1", "answered", None, None, at(8)),
    ]


async def test_dial_legs_survive_a_database_away_and_are_written_in_one_go(database: FakeDatabase):
    call_log = CallLog(database, clock=TickingClock(), retry_delays=[0.01] * 50)
    database.down = True
    record = await call_log.start(channel_id="1.1", from_number="0612345678", to_number="0497842611")
    await record.set_customer(7)
    await record.dial_started("leg-a", contact="sip:anna@pbx", engineer_id=3, step_position=2)
    await record.dial_finished("leg-a", result="no_answer")
    await record.finish("voicemail")
    assert database.committed == [] and [change["kind"] for change in record.describe_pending()] == [
        "start", "customer", "dial_start", "dial_finish", "finish"]  # fmt: skip

    database.down = False
    for _ in range(100):
        if record.written:
            break
        await asyncio.sleep(0.01)
    assert [entry[0] for entry in database.committed] == ["start", "customer", "dial_start", "dial_finish", "finish"]
    assert database.committed[3] == ("dial_finish", "sip:anna@pbx", "no_answer", None, None, at(4))
    await call_log.close()


async def test_a_leg_finished_that_never_started_holds_nothing_back(database: FakeDatabase):
    record = await CallLog(database, clock=TickingClock()).start(channel_id="1.1", from_number=None, to_number="0497842611")
    await record.dial_finished("leg-x", result="busy")
    await record.step("voicemail")
    await record.settled()
    assert record.written and [entry[0] for entry in database.committed] == ["start", "step"]


async def test_pending_dial_times_are_described_as_text_for_the_log(database: FakeDatabase):
    database.down = True
    record = await CallLog(database, clock=TickingClock()).start(channel_id="1.1", from_number=None, to_number="0497842611")
    await record.dial_finished("leg-a", result="accepted", answered_at=at(1))
    assert record.describe_pending()[-1] == {"kind": "dial_finish", "at": at(2).isoformat(), "key": "leg-a",
                                             "result": "accepted", "answered_at": at(1).isoformat(), "accepted_at": None}


async def test_on_a_real_database_the_record_has_its_customer_language_and_legs(tmp_path):
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import sessionmaker

    from core.db import open_database
    from core.models import STANDARD_SLA_NAME, Call, Customer, Engineer, Sla
    from core.settings import Settings

    sessions = open_database(Settings(data_dir=tmp_path / "data"))
    with sessions() as session:
        sla = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
        customer, engineer = Customer(name="ACME", customer_number="1001", sla=sla), Engineer(name="Anna")
        session.add_all([customer, engineer])
        session.commit()
    broken = sessionmaker(create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}"))

    call_log = CallLog(broken, clock=TickingClock(), retry_delays=[0.01] * 100)
    record = await call_log.start(channel_id="1.1", from_number=None, to_number="0497842611")
    await record.set_customer(customer.id)
    await record.set_language("en")
    await record.dial_started("leg-a", contact="sip:anna@pbx", engineer_id=engineer.id, step_position=1)
    call_log.sessions = sessions  # the database is back
    await record.dial_finished("leg-a", result="accepted", answered_at=at(4), accepted_at=at(5))
    await record.finish("answered")
    assert record.written

    with sessions() as session:
        call = session.scalar(select(Call).where(Call.channel_id == "1.1"))
        [attempt] = call.dial_attempts
        assert (call.customer_id, call.language, call.outcome) == (customer.id, "en", "answered")
        assert (attempt.contact, attempt.engineer_id, attempt.result) == ("sip:anna@pbx", engineer.id, "accepted")
        assert (attempt.started_at, attempt.answered_at, attempt.accepted_at, attempt.ended_at) == (at(4), at(4), at(5), at(5))
        assert (call.started_at, call.ended_at) == (at(1), at(6))
    await call_log.close()
    sessions.kw["bind"].dispose()
