"""`nachtdienst service ari`: the Stasis app as a long-running process.

Runs until SIGTERM or SIGINT, then gives up on the calls it holds (each is hung up and its
record finished), closes the ARI connection and returns, so the process exits 0.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from ari_app.call_log import CallLog
from ari_app.client import AriClient
from ari_app.stasis import StasisApp
from core.db import open_database
from core.logging import configure_logging
from core.secrets import ari_password
from core.settings import Settings

log = structlog.get_logger("ari.service")


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

    call_log = CallLog(open_database(settings))
    client = AriClient(settings.ari_url, settings.pbx.ari_user, ari_password(settings), settings.pbx.ari_app)
    app = StasisApp(client, settings.pbx.ari_app, call_log)
    client.on_channel_event = app.handle_channel_event
    client.on_other_event = app.handle_other_event
    client.on_connected = app.on_connected

    log.info("ari app starting", ari=settings.ari_url, app=settings.pbx.ari_app)
    client.start()
    try:
        await stop.wait()
        log.info("ari app stopping", calls=len(app.channels))
    finally:
        await app.stop()
        await call_log.close()
        await client.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("ari app stopped")
