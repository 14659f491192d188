"""Events to handlers: one queue and one worker task per channel, so the events of one call
are handled in order and a slow call never holds up another. Events that concern no channel
share one queue of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from ari_app.events import AriEvent

log = structlog.get_logger("ari.dispatch")

EventHandler = Callable[[AriEvent], Awaitable[None]]

# Key of the queue for events that concern no channel.
_GENERAL = None


class ChannelDispatcher:
    def __init__(self, channel_handler: EventHandler, general_handler: EventHandler):
        self._channel_handler = channel_handler
        self._general_handler = general_handler
        self._queues: dict[str | None, asyncio.Queue[AriEvent]] = {}
        self._workers: dict[str | None, asyncio.Task[None]] = {}

    def dispatch(self, event: AriEvent) -> None:
        """Queue `event` for its channel; never waits (the WebSocket reader calls this)."""
        key = event.channel_id
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"ari-channel-{key}")
        queue.put_nowait(event)

    @property
    def busy_channels(self) -> int:
        return sum(1 for key in self._workers if key is not _GENERAL)

    async def close(self) -> None:
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()

    async def _work(self, key: str | None, queue: asyncio.Queue[AriEvent]) -> None:
        handler = self._general_handler if key is _GENERAL else self._channel_handler
        try:
            # A worker lives while its channel has events waiting; the next event starts a new
            # one. Checking for "empty" and leaving happen with no await in between, so no event
            # can slip into a queue nobody reads.
            while not queue.empty():
                event = queue.get_nowait()
                try:
                    await handler(event)
                except Exception:
                    log.exception("ari event handler failed", channel_id=key, event_type=event.type)
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]
                del self._workers[key]
