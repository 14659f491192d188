"""`nachtdienst service ari`: the Stasis app as a long-running process.

Runs until SIGTERM or SIGINT, then gives up on the calls it holds (each is hung up and its
record finished), closes the ARI connection and returns, so the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal

import structlog

from ari_app.call import LineConfig, utc_now
from ari_app.call_log import CallLog
from ari_app.client import AriClient, AriError
from ari_app.desk import DatabaseDesk
from ari_app.fallback_upkeep import FallbackUpkeep
from ari_app.flow import Line, handle_inbound_call
from ari_app.prompts import DIRECTORY_VARIABLE, Prompts
from ari_app.reminder_call import ReminderLine
from ari_app.reminder_loop import ReminderLoop
from ari_app.stasis import StasisApp
from core.db import open_database
from core.heartbeat import beat, heartbeat_file
from core.logging import configure_logging
from core.secrets import ari_password
from core.settings import Settings

log = structlog.get_logger("ari.service")

# The event loop's pulse (`run/ari.alive`), for the supervisor's watchdog and the container's
# healthcheck: see nachtdienst/supervisor.py.
PULSE_SECONDS = 2.0


def run(settings: Settings) -> None:
    """Blocking entry point for the supervisor (one process per service)."""
    if not structlog.is_configured():
        configure_logging(settings)
    asyncio.run(serve(settings))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the app until `stop` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    sessions = open_database(settings)
    call_log = CallLog(sessions)
    desk = DatabaseDesk(sessions, settings)
    client = AriClient(settings.ari_url, settings.pbx.ari_user, ari_password(settings), settings.pbx.ari_app)
    app = StasisApp(client, settings.pbx.ari_app, call_log)
    line = Line(desk=desk, prompts=Prompts(""), app=app, config=LineConfig.from_settings(settings))
    app.inbound_flow = functools.partial(handle_inbound_call, line=line)
    # The reminder calls share the line's prompts (their directory is read at connect).
    reminder_loop = ReminderLoop(settings, sessions, ReminderLine(app, line.prompts, line.config, utc_now), clock=utc_now)
    fallback = FallbackUpkeep(settings, sessions, client, clock=utc_now)

    async def on_connected(connection: int) -> None:
        await _read_prompts_directory(client, line)
        await app.on_connected(connection)
        fallback.connected()

    client.on_channel_event = app.handle_channel_event
    client.on_other_event = app.handle_other_event
    client.on_connected = on_connected

    log.info("ari app starting", ari=settings.ari_url, app=settings.pbx.ari_app)
    client.start()
    reminders = asyncio.create_task(reminder_loop.run(stop), name="reminder-loop")
    upkeep = asyncio.create_task(fallback.run(stop), name="fallback-upkeep")
    pulse = asyncio.create_task(_pulse(settings, stop), name="pulse")
    try:
        await stop.wait()
        log.info("ari app stopping", calls=len(app.channels))
    finally:
        stop.set()
        await reminder_loop.stop()
        await asyncio.gather(reminders, upkeep, pulse, return_exceptions=True)
        await app.stop()
        await desk.close()
        await call_log.close()
        await client.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("ari app stopped")


async def _pulse(settings: Settings, stop: asyncio.Event) -> None:
    """Touch the heartbeat file while the event loop turns. It says nothing of Asterisk or the
    database (each has its own log and retry): only that the app is not stuck, since a stuck app
    keeps its WebSocket, so Asterisk still sends callers to it, and they would wait in silence."""
    heartbeat = heartbeat_file(settings, "ari")
    while not stop.is_set():
        beat(heartbeat)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PULSE_SECONDS)


async def _read_prompts_directory(client: AriClient, line: Line) -> None:
    """Where `pbx start` put the prompts, as Asterisk's global variable says (the app may run
    on another machine or container than the one that made them)."""
    try:
        answer = await client.request("GET", "/asterisk/variable", variable=DIRECTORY_VARIABLE)
    except AriError as exc:
        log.error("prompts directory not readable; callers will hear nothing", error=str(exc))
        return
    directory = (answer or {}).get("value") or ""
    if not directory:
        log.error("Asterisk has no NACHTDIENST_PROMPTS; run `nachtdienst pbx start` (or render) again")
        return
    line.prompts.directory = directory.rstrip("/")
