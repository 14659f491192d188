"""The ARI connection: REST requests and the events WebSocket, kept open for as long as the
app runs.

Asterisk does not replay events missed while no WebSocket is attached, and a call that arrives
then fails at `Stasis()`. So the client reconnects at once, then with a capped backoff, and
calls `on_connected(connection)` after every (re)connect so the app can re-read the channels
it holds. Events are handed to a `ChannelDispatcher`: in order per channel, never one call
waiting on another.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from ari_app.dispatch import ChannelDispatcher, EventHandler
from ari_app.events import AriEvent

log = structlog.get_logger("ari.client")

ConnectedHook = Callable[[int], Awaitable[None]]

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10.0)
# Pings let us notice a PBX that vanished without closing the TCP connection.
WEBSOCKET_HEARTBEAT = 15.0


class AriError(Exception):
    """ARI answered a request with 4xx/5xx (`status`), or could not be reached (`status` 0).
    `message` is Asterisk's own explanation ("Channel not in Stasis application")."""

    def __init__(self, status: int, method: str, path: str, message: str):
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Backoff:
    """Delays between connection attempts: the first retry at once, then `initial` doubling up
    to `cap`. A connection that stayed up `stable_after` seconds starts the series over, so a
    PBX that accepts and drops at once is not hammered."""

    initial: float = 0.5
    cap: float = 5.0
    stable_after: float = 2.0

    def delay(self, failures: int) -> float:
        if failures <= 1:
            return 0.0
        return min(self.cap, self.initial * 2 ** (failures - 2))


class AriClient:
    """One ARI application's connection to one Asterisk."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        on_channel_event: EventHandler | None = None,
        on_other_event: EventHandler | None = None,
        on_connected: ConnectedHook | None = None,
        backoff: Backoff = Backoff(),
    ):
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.backoff = backoff
        # Handlers may be set after construction (the app needs the client first).
        self.on_channel_event = on_channel_event or _ignore
        self.on_other_event = on_other_event or _ignore
        self.on_connected = on_connected
        # How many times the events WebSocket has been opened; each event carries the number of
        # the connection that delivered it.
        self.connection = 0
        self.connected = asyncio.Event()
        self._auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        self._dispatcher = ChannelDispatcher(
            lambda event: self.on_channel_event(event), lambda event: self.on_other_event(event)
        )
        self._session: aiohttp.ClientSession | None = None
        self._websocket: aiohttp.ClientWebSocketResponse | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # --- REST -------------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, json: Any = None, **params: Any) -> Any:
        """`method` on `/ari{path}`; keyword arguments become query parameters (None left out,
        booleans as true/false, lists comma-joined as ARI expects). Returns the JSON answer, None
        for an empty one, or the bytes of any other (a stored recording's audio). Raises
        AriError."""
        session = self._open_session()
        url = f"{self.base_url}/ari{path}"
        try:
            async with session.request(method, url, params=_query(params), json=json, headers=self._auth) as response:
                body = await response.read()
                if response.status >= 400:
                    raise AriError(response.status, method, path, _error_message(body, response.reason))
                if not body:
                    return None
                if response.content_type == "application/json":
                    return jsonlib.loads(body)
                return body
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise AriError(0, method, path, f"ARI unreachable: {type(exc).__name__}: {exc}") from exc

    # --- events -----------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start keeping the events WebSocket open in the background."""
        if self._events_task is None:
            self._events_task = asyncio.create_task(self._keep_events_connected(), name="ari-events")
        return self._events_task

    async def close(self) -> None:
        """Stop reconnecting, close the WebSocket and the HTTP session, stop event handlers."""
        self._closing = True
        if self._websocket is not None:
            await self._websocket.close()
        if self._events_task is not None:
            self._events_task.cancel()
            await asyncio.gather(self._events_task, return_exceptions=True)
        for task in list(self._hook_tasks):
            task.cancel()
        await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        await self._dispatcher.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _keep_events_connected(self) -> None:
        failures = 0
        while not self._closing:
            started = asyncio.get_running_loop().time()
            connected_before = self.connection
            reason = await self._listen_once()
            if self._closing:
                return
            lasted = asyncio.get_running_loop().time() - started
            failures = 1 if lasted >= self.backoff.stable_after else failures + 1
            delay = self.backoff.delay(failures)
            what = "ari events disconnected" if self.connection > connected_before else "ari events connect failed"
            log.warning(what, reason=reason, retry_in=delay, attempt=failures)
            await asyncio.sleep(delay)

    async def _listen_once(self) -> str:
        """Open the WebSocket, read events until it ends; returns why it ended (or why it
        could not be opened)."""
        session = self._open_session()
        url = f"{self.base_url}/ari/events"
        try:
            websocket = await session.ws_connect(
                url,
                params={"app": self.app, "subscribeAll": "false"},
                headers=self._auth,
                heartbeat=WEBSOCKET_HEARTBEAT,
            )
        except aiohttp.WSServerHandshakeError as exc:
            return f"handshake refused: {exc.status} {exc.message}"
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            return f"cannot connect: {type(exc).__name__}: {exc}"

        self._websocket = websocket
        self.connection += 1
        connection = self.connection
        self.connected.set()
        log.info("ari events connected", url=url, app=self.app, connection=connection)
        self._run_connected_hook(connection)
        try:
            async for message in websocket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._dispatch_text(message.data, connection)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    return f"websocket error: {websocket.exception()!r}"
            return f"closed by peer (code {websocket.close_code})"
        finally:
            self.connected.clear()
            self._websocket = None
            if not websocket.closed:
                await websocket.close()

    def _dispatch_text(self, text: str, connection: int) -> None:
        try:
            data = jsonlib.loads(text)
        except ValueError:
            log.error("ari event is not JSON", text=text[:200])
            return
        if not isinstance(data, dict):
            log.error("ari event is not an object", text=text[:200])
            return
        self._dispatcher.dispatch(AriEvent.from_json(data, connection))

    def _run_connected_hook(self, connection: int) -> None:
        # A task, not a call: the hook makes REST requests and may wait for events of this very
        # connection, which are read only while the hook runs beside the read loop.
        if self.on_connected is None:
            return
        task = asyncio.create_task(self._call_connected_hook(connection), name=f"ari-connected-{connection}")
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _call_connected_hook(self, connection: int) -> None:
        assert self.on_connected is not None
        try:
            await self.on_connected(connection)
        except Exception:
            log.exception("ari on_connected hook failed", connection=connection)

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=REQUEST_TIMEOUT)
        return self._session


async def _ignore(event: AriEvent) -> None:
    return None


def _query(params: dict[str, Any]) -> dict[str, str]:
    query = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            query[name] = ",".join(str(item) for item in value)
        else:
            query[name] = str(value)
    return query


def _error_message(body: bytes, reason: str | None) -> str:
    try:
        data = jsonlib.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()
        return text or (reason or "")
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return reason or ""
