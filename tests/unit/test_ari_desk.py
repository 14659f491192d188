"""DatabaseDesk: the call flow's questions with a database that is up (SQLite), down (a
PostgreSQL port nobody listens on) or hung; every fallback, and a voicemail that waits on disk
until the database is back."""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from ari_app.desk import DatabaseDesk, Lookup, NoOneToRing, PendingVoicemail
from core.calls import start_call
from core.db import open_database
from core.line_desk import StoredVoicemail
from core.models import (
    STANDARD_SLA_NAME,
    Customer,
    CustomerPhone,
    Engineer,
    EngineerContact,
    OfficeClosure,
    Sla,
    Voicemail,
)
from core.roster_store import save_rotation
from core.settings import RosterSettings, Settings

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam
NOON = datetime(2026, 2, 3, 11, 0, tzinfo=UTC)  # Tuesday 12:00 in Amsterdam: open by the schedule
HANDOVER = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 in Amsterdam


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free, and nobody listens once the probe is closed


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def database(settings: Settings) -> sessionmaker[Session]:
    """SQLite with ACME (+31612345678), Anna on duty this week and Bram next, a closure at noon."""
    factory = open_database(settings)
    with factory() as session:
        standard = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
        session.add(Customer(name="ACME", customer_number="1001", sla=standard, phones=[CustomerPhone(e164="+31612345678")]))
        anna = Engineer(name="Anna", contacts=[EngineerContact(kind="sip", address="sip:anna@10.0.0.5")])
        bram = Engineer(name="Bram", contacts=[EngineerContact(kind="sip", address="sip:bram@10.0.0.6")])
        session.add_all([anna, bram])
        session.flush()
        save_rotation(session, date(2026, 2, 2), [anna, bram])
        session.add(OfficeClosure(starts_at=NOON - timedelta(hours=1), ends_at=NOON + timedelta(hours=1), reason="training"))
        session.commit()
    yield factory
    factory.kw["bind"].dispose()


@pytest.fixture
def down() -> sessionmaker[Session]:
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/gone?connect_timeout=2")
    yield sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def desks(settings):
    made: list[DatabaseDesk] = []

    def make(sessions, *, at=NIGHT, **options) -> DatabaseDesk:
        desk = DatabaseDesk(sessions, options.pop("settings", settings), clock=lambda: at, **options)
        made.append(desk)
        return desk

    yield make
    for desk in made:
        await desk.close()


def contacts(plans) -> list[list[str]]:
    return [[leg.contact.address for leg in plan.contacts] for plan in plans]


# --- the database answers ---------------------------------------------------------------------


async def test_with_the_database_up_the_answers_are_the_databases(database, desks):
    desk = desks(database)
    customer = await desk.find_customer_by_phone("0612345678")
    assert (customer.name, customer.status) == ("ACME", "active")
    assert (await desk.find_customer_by_number("1001")).id == customer.id
    assert await desk.find_customer_by_number("9999") is None  # known to be nobody: not "unavailable"
    assert (await desk.office_status(NOON)).reason == "closure: training"
    assert contacts(await desk.escalation_plan()) == [["sip:anna@10.0.0.5"]]
    assert await desk.open_message(customer_id=customer.id, e164=None) is None


# --- the database is down -------------------------------------------------------------------


async def test_customer_lookups_say_unavailable_not_nobody(down, desks):
    desk = desks(down)
    with capture_logs() as logs:
        assert await desk.find_customer_by_phone("+31612345678") is Lookup.unavailable
        assert await desk.find_customer_by_number("1001") is Lookup.unavailable
    assert [(entry["event"], entry["what"]) for entry in logs] == [
        ("desk fallback", "find_customer_by_phone"), ("desk fallback", "find_customer_by_number")]  # fmt: skip
    assert "OperationalError" in logs[0]["error"]


async def test_open_message_is_none(down, desks):
    assert await desks(down).open_message(customer_id=1, e164="+31612345678") is None


async def test_office_status_falls_back_to_the_schedule_and_the_closures_last_seen(database, down, desks):
    fresh = desks(down)
    assert (await fresh.office_status(NOON)).open is True  # nothing seen yet: the schedule alone

    desk = desks(database)
    await desk.office_status(NIGHT)  # reads the closure at noon
    desk.sessions = down
    with capture_logs() as logs:
        status = await desk.office_status(NOON)
    assert (status.open, status.reason) == (False, "closure: training")
    assert logs[0]["what"] == "office_status" and logs[0]["closures"] == 1
    assert (await desk.office_status(NOON + timedelta(hours=2))).open is True  # the closure is over


async def test_the_plan_read_before_is_rung_while_the_roster_is_unchanged(database, down, desks):
    moments = iter([NIGHT, NIGHT + timedelta(days=1)])
    desk = desks(database)
    desk.clock = lambda: next(moments)
    await desk.escalation_plan()
    desk.sessions = down
    with capture_logs() as logs:
        assert contacts(await desk.escalation_plan()) == [["sip:anna@10.0.0.5"]]
    assert (logs[0]["using"], logs[0]["valid_until"]) == ("cached plan", HANDOVER.isoformat())


async def test_after_the_next_handover_the_default_contact_is_rung(database, down, desks, settings):
    configured = settings.model_copy(update={"roster": RosterSettings(default_contact="0201234567", step_timeout=30)})
    desk = desks(database, settings=configured)
    await desk.escalation_plan(NIGHT)
    desk.sessions = down
    [plan] = await desk.escalation_plan(HANDOVER)
    assert (plan.is_fallback, plan.timeout_seconds, contacts([plan])) == (True, 30, [["+31201234567"]])


async def test_without_a_default_contact_an_old_plan_beats_ringing_nobody(database, down, desks):
    desk = desks(database)
    await desk.escalation_plan(NIGHT)
    desk.sessions = down
    with capture_logs() as logs:
        assert contacts(await desk.escalation_plan(HANDOVER + timedelta(days=1))) == [["sip:anna@10.0.0.5"]]
    assert logs[0]["using"] == "stale cached plan"


async def test_with_nothing_read_and_nothing_configured_nobody_can_be_rung(down, desks):
    with pytest.raises(NoOneToRing) as raised:
        await desks(down).escalation_plan()
    assert isinstance(raised.value, LookupError)  # what the flow catches


async def test_a_database_with_nobody_to_ring_is_no_one_to_ring(settings, desks):
    empty = open_database(settings)
    with pytest.raises(NoOneToRing, match="default_contact is unset"):
        await desks(empty).escalation_plan()
    empty.kw["bind"].dispose()


async def test_a_hung_database_holds_no_call_longer_than_the_timeout(database, desks):
    release = threading.Event()

    def hung() -> Session:
        release.wait(10)
        return database()

    desk = desks(hung, timeout=0.2)
    started = asyncio.get_running_loop().time()
    with capture_logs() as logs:
        assert await desk.find_customer_by_phone("+31612345678") is Lookup.unavailable
        assert (await desk.office_status(NOON)).open is True
    release.set()
    assert asyncio.get_running_loop().time() - started < 2
    assert [entry["error"] for entry in logs] == ["timed out", "timed out"]


# --- voicemails -----------------------------------------------------------------------------


def record_call(sessions: sessionmaker[Session], channel_id: str) -> int:
    with sessions() as session:
        call = start_call(session, channel_id=channel_id, from_number="+31612345678", to_number="0497842611", at=NIGHT)
        session.commit()
        return call.id


async def store(desk: DatabaseDesk, channel_id: str = "chan-1", audio: bytes = b"the shop is down"):
    return await desk.store_voicemail(call_channel_id=channel_id, audio=audio, audio_format="wav", recorded_at=NIGHT,
                                      duration_seconds=None, partial=False, kind="critical")  # fmt: skip


async def wait_until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def voicemails(sessions: sessionmaker[Session]) -> list[Voicemail]:
    with sessions() as session:
        return list(session.scalars(select(Voicemail)))


async def test_a_voicemail_is_stored_at_once_when_the_database_is_up(database, desks, settings):
    call_id = record_call(database, "chan-1")
    stored = await store(desks(database))
    assert isinstance(stored, StoredVoicemail) and stored.path == f"recordings/2026/02/03/call-{call_id}-1.wav"
    assert (settings.resolved_data_dir / stored.path).read_bytes() == b"the shop is down"


async def test_with_the_database_down_the_recording_waits_on_disk_and_is_stored_once_it_is_back(database, down, desks, settings):
    call_id = record_call(database, "chan-1")
    desk = desks(down, retry_delays=[0.05] * 100)
    pending = await store(desk)
    assert isinstance(pending, PendingVoicemail) and pending.file.read_bytes() == b"the shop is down"
    assert desk.pending == 1 and voicemails(database) == []

    desk.sessions = database  # the database is back
    await wait_until(lambda: desk.pending == 0)
    [voicemail] = voicemails(database)
    assert voicemail.path == f"recordings/2026/02/03/call-{call_id}-1.wav" and voicemail.incident_id is not None
    assert (settings.resolved_data_dir / voicemail.path).read_bytes() == b"the shop is down"
    assert not pending.file.exists()


async def test_a_voicemail_waits_for_its_call_record_written_behind(database, desks):
    desk = desks(database, retry_delays=[0.05] * 100)
    assert isinstance(await store(desk, "chan-late"), PendingVoicemail)  # the call log has not written the call yet
    record_call(database, "chan-late")
    await wait_until(lambda: desk.pending == 0)
    assert len(voicemails(database)) == 1


async def test_a_write_that_outlives_its_timeout_is_not_stored_twice(database, desks):
    record_call(database, "chan-1")
    release = threading.Event()

    def slow() -> Session:
        release.wait(10)
        return database()

    desk = desks(slow, timeout=0.2, retry_delays=[0.05] * 100)
    assert isinstance(await store(desk), PendingVoicemail)
    await asyncio.sleep(0.2)  # retries find the first write still hanging and leave it be
    release.set()
    await wait_until(lambda: desk.pending == 0)
    assert len(voicemails(database)) == 1


async def test_at_shutdown_what_is_not_written_is_logged_with_its_file(down, settings):
    desk = DatabaseDesk(down, settings, clock=lambda: NIGHT, retry_delays=[60.0])
    pending = await store(desk)
    with capture_logs() as logs:
        await desk.close()
    [entry] = [entry for entry in logs if entry["event"] == "voicemail not written at shutdown"]
    assert entry["log_level"] == "error" and entry["voicemail"]["file"] == str(pending.file)
    assert pending.file.read_bytes() == b"the shop is down"


async def test_close_makes_a_last_attempt(database, down, settings):
    record_call(database, "chan-1")
    desk = DatabaseDesk(down, settings, clock=lambda: NIGHT, retry_delays=[60.0])
    await store(desk)
    desk.sessions = database
    await desk.close()
    assert len(voicemails(database)) == 1


async def test_a_disk_that_refuses_the_recording_keeps_it_in_memory_and_retries(database, desks, settings):
    record_call(database, "chan-1")
    settings.recordings_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.recordings_dir.write_text("not a directory")  # the spool cannot be written
    desk = desks(database, retry_delays=[0.05] * 100)
    with capture_logs() as logs:
        pending = await store(desk)
    assert pending == PendingVoicemail(None) and logs[0]["event"] == "recording not written to disk yet"
    settings.recordings_dir.unlink()
    await wait_until(lambda: desk.pending == 0)
    assert len(voicemails(database)) == 1


async def test_a_kind_or_format_the_flow_got_wrong_is_refused_at_once(database, desks):
    with pytest.raises(ValueError, match="kind"):
        await desks(database).store_voicemail(call_channel_id="c", audio=b"", audio_format="wav", recorded_at=NIGHT,
                                              duration_seconds=None, partial=False, kind="loud")  # fmt: skip

