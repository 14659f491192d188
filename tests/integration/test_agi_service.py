"""`nachtdienst service agi`: listens at once, answers from the database once it is open,
beats its heartbeat, writes log entries kept while the database was away, stops cleanly."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import structlog
from sqlalchemy import select

from agi import service
from core.db import open_database
from core.heartbeat import heartbeat_file
from core.models import Call
from core.settings import Settings
from tests.unit.test_agi_protocol import agi_call, environment


async def start(settings: Settings) -> tuple[asyncio.Task[None], asyncio.Event, int]:
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        service.serve(
            settings, stop, address=("127.0.0.1", 0), started=started, interval=0.05
        )
    )
    return task, stop, await asyncio.wait_for(started, 5.0)


async def eventually(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_the_service_answers_from_the_database_beats_and_stops(settings):
    heartbeat = heartbeat_file(settings, "agi")
    task, stop, port = await start(settings)
    try:
        await eventually(heartbeat.exists)  # the database is open and answers
        office = (await agi_call(port, environment("office"))).variables
        logged = (
            await agi_call(
                port, environment("log", "step", "ringing", agi_uniqueid="svc.1")
            )
        ).variables
    finally:
        stop.set()
        started_stopping = time.monotonic()
        await asyncio.wait_for(task, 10.0)
    assert time.monotonic() - started_stopping < 3.0
    assert (office["ND_STATUS"], logged["ND_STATUS"], logged["ND_LOGGED"]) == (
        "ok",
        "ok",
        "yes",
    )
    assert time.time() - heartbeat.stat().st_mtime < 5.0


async def test_a_database_that_is_down_at_start_is_waited_for_and_nothing_logged_meanwhile_is_lost(
    tmp_path: Path,
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text(
        "the database's directory cannot be made while this file is here"
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{blocker / 'nachtdienst.db'}",
    )
    uniqueid = f"{int(datetime.now(UTC).timestamp()) - 20}.7"
    with structlog.testing.capture_logs() as logs:
        task, stop, port = await start(settings)
        await eventually(
            lambda: any(e["event"].startswith("database unavailable") for e in logs)
        )
    try:
        office = (await agi_call(port, environment("office"))).variables
        queued = [
            (
                await agi_call(port, environment("log", *entry, agi_uniqueid=uniqueid))
            ).variables
            for entry in (("step", "ringing"), ("end", "voicemail"))
        ]
        assert not heartbeat_file(settings, "agi").exists()
        unblocked_at = datetime.now(UTC)
        blocker.unlink()  # the database can be opened from now on
        await eventually(heartbeat_file(settings, "agi").exists)
        await eventually(lambda: _outcome(settings, uniqueid) is not None)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10.0)
    assert (office["ND_STATUS"], office["ND_OFFICE"] in ("open", "closed")) == (
        "degraded",
        True,
    )
    assert "the database could not be opened" in office["ND_ERROR"]
    assert [(v["ND_STATUS"], v["ND_LOGGED"]) for v in queued] == [
        ("degraded", "queued")
    ] * 2
    sessions = open_database(settings)
    with sessions() as session:
        call = session.scalar(select(Call).where(Call.channel_id == uniqueid))
        assert (call.path, call.outcome) == ("agi", "voicemail")
        assert [step.step for step in call.steps] == ["agi_path", "ringing"]
        # the entries keep the time they happened, not the time they were written
        assert call.steps[1].at < unblocked_at and call.ended_at < unblocked_at
        assert call.started_at == datetime.fromtimestamp(
            int(uniqueid.split(".")[0]), UTC
        )
    sessions.kw["bind"].dispose()


def _outcome(settings: Settings, uniqueid: str) -> str | None:
    sessions = open_database(settings)
    try:
        with sessions() as session:
            return session.scalar(
                select(Call.outcome).where(Call.channel_id == uniqueid)
            )
    finally:
        sessions.kw["bind"].dispose()


def test_the_address_comes_from_the_agi_settings_group_else_the_default(tmp_path: Path):
    assert service.agi_address(Settings(data_dir=tmp_path)) == ("127.0.0.1", 4573)
    configured = SimpleNamespace(agi=SimpleNamespace(bind="127.0.0.2", port=4999))
    assert service.agi_address(configured) == ("127.0.0.2", 4999)
