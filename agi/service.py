"""`nachtdienst service agi`: the FastAGI server for the dialplan's fallback path.

Listens on `agi.bind`:`agi.port` (loopback, 127.0.0.1:4573 by default) at once, before the
database is reached: a database that is down at start is retried in the background while the
commands answer what they can without it (agi/desk.py). Every `HEARTBEAT_INTERVAL` seconds
the server retries the log entries the database did not take (agi/backlog.py) and, when the
database answered, touches its heartbeat file (`run/agi.alive`). Runs until SIGTERM or SIGINT;
sessions still running get a few seconds to finish, the backlog one last attempt (what is
still left is logged in full), then the process returns (exit 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from datetime import UTC, datetime

import structlog

from agi.backlog import Backlog
from agi.commands import Line, handle
from agi.desk import AgiDesk, describe
from agi.protocol import AgiServer
from core.db import open_database
from core.heartbeat import beat, heartbeat_file
from core.logging import configure_logging
from core.settings import Settings

log = structlog.get_logger("agi.service")

HEARTBEAT_INTERVAL = 5.0
DATABASE_RETRY_MAX_S = 30.0
STOP_GRACE = 5.0


def agi_address(settings: Settings) -> tuple[str, int]:
    """Where the server listens (the `agi` settings group)."""
    return settings.agi.bind, settings.agi.port


def run(settings: Settings) -> None:
    """Blocking entry point for the supervisor (one process per service)."""
    if not structlog.is_configured():
        configure_logging(settings)
    asyncio.run(serve(settings))


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    address: tuple[str, int] | None = None,
    started: asyncio.Future[int] | None = None,
    interval: float = HEARTBEAT_INTERVAL,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT arrives). `address` overrides the
    settings' (port 0: any free port); `started` gets the port once the server listens."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, port = address or agi_address(settings)
    desk = AgiDesk(settings)
    line = Line(settings, desk, Backlog())
    server = AgiServer(functools.partial(handle, line=line), host, port)
    # Both loops end by themselves once `stop` is set: on Python 3.11 a cancel can be lost
    # in asyncio.wait_for when the awaited database answer arrives at the same moment.
    opener = asyncio.create_task(
        _open_database(settings, desk, stop), name="agi-open-database"
    )
    keeper = asyncio.create_task(
        _keep_alive(settings, line, interval, stop), name="agi-heartbeat"
    )
    try:
        await server.start()
        if started is not None:
            started.set_result(server.port)
        await stop.wait()
        log.info("agi server stopping", sessions=len(server.sessions))
    finally:
        stop.set()
        for task in (opener, keeper):
            task.cancel()
        await asyncio.gather(opener, keeper, return_exceptions=True)
        await server.stop(STOP_GRACE)
        if len(line.backlog):  # one last attempt; what is left is logged in full
            await line.backlog.retry(desk, datetime.now(UTC))
        line.backlog.give_up_all("the AGI server stopped")
        desk.close()
        if desk.sessions is not None:
            desk.sessions.kw["bind"].dispose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("agi server stopped", served=server.served)


async def _open_database(
    settings: Settings, desk: AgiDesk, stop: asyncio.Event
) -> None:
    """Open (and migrate) the database, retrying with a growing delay until it answers."""
    loop = asyncio.get_running_loop()
    failures = 0
    while desk.sessions is None and not stop.is_set():
        try:
            # A thread of the loop's own: opening may hang on a host that does not answer.
            desk.sessions = await loop.run_in_executor(None, open_database, settings)
        except Exception as exc:  # noqa: BLE001 - whatever stops it, it is retried
            failures += 1
            wait = min(DATABASE_RETRY_MAX_S, 0.5 * 2**failures)
            desk.not_open_reason = f"the database could not be opened: {describe(exc)}"
            log.error(
                "database unavailable; agi answers without it",
                error=describe(exc),
                retry_in_seconds=wait,
            )
            await _pause(stop, wait)
            continue
        log.info("agi database open")


async def _keep_alive(
    settings: Settings, line: Line, interval: float, stop: asyncio.Event
) -> None:
    heartbeat = heartbeat_file(settings, "agi")
    while not stop.is_set():
        if await line.desk.ping():
            beat(heartbeat)
            if len(line.backlog):
                try:
                    await line.backlog.retry(line.desk, datetime.now(UTC))
                except Exception:  # the heartbeat must go on; logged in full
                    log.exception("agi backlog retry failed")
        await _pause(stop, interval)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
