"""CallLog: call records written in order with their own times, and a database that is away
for a while delays them without losing any or breaking the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


from ari_app import call_log as call_log_module  # noqa: E402
from ari_app.call_log import CallLog  # noqa: E402


class FakeDatabase:
    """Sessions whose commits apply the calls made in them, or fail while `down`."""

    def __init__(self) -> None:
        self.committed: list[tuple[Any, ...]] = []
        self.down = False

    def __call__(self) -> FakeSession:
        return FakeSession(self)


class FakeSession:
    def __init__(self, database: FakeDatabase):
        self.database = database
        self.calls: list[tuple[Any, ...]] = []

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def commit(self) -> None:
        if self.database.down:
            raise ConnectionError("database is away")
        self.database.committed.extend(self.calls)


class FakeCall:
    def __init__(self, channel_id: str):
        self.channel_id = channel_id
        self.outcome: str | None = None


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

    for name, function in [
        ("start_call", start_call),
        ("record_step", record_step),
        ("finish_call", finish_call),
        ("find_call_by_channel", find_call_by_channel),
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
