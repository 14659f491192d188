"""The ARI client against a fake Asterisk: an aiohttp server with ARI's REST paths and events
WebSocket, which can close, drop, or go away and come back on the same port."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ari_app import client as client_module
from ari_app.client import AriClient, AriError, Backoff
from ari_app.events import AriEvent

USER, PASSWORD, APP = "nachtdienst", "s3cret", "nachtdienst"
FAST_BACKOFF = Backoff(initial=0.05, cap=0.2, stable_after=10.0)


class FakeAri:
    """Enough of Asterisk's HTTP server for the client: Basic auth, a few REST answers, the
    events WebSocket, and ways to break it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.event_connects: list[dict[str, Any]] = []
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.socket: web.WebSocketResponse | None = None
        self.socket_request: web.Request | None = None
        self.socket_open = asyncio.Event()
        self.server: TestServer | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{path:.*}", self._rest)
        self.server = TestServer(app, host="127.0.0.1", port=self.port)
        await self.server.start_server()
        self.port = self.server.port

    async def stop(self) -> None:
        """Go away like a killed PBX: connections cut, port closed."""
        assert self.server is not None
        if self.socket_open.is_set():
            await self.drop_socket()
        await self.server.close()
        self.server = None

    async def send(self, **event: Any) -> None:
        await self.wait_for_socket()
        assert self.socket is not None
        await self.socket.send_str(json.dumps(event))

    async def wait_for_socket(self) -> None:
        await asyncio.wait_for(self.socket_open.wait(), 5)

    async def close_socket(self) -> None:
        await self.wait_for_socket()
        self.socket_open.clear()
        assert self.socket is not None
        await self.socket.close()

    async def drop_socket(self) -> None:
        """End the TCP connection with no WebSocket close frame (a crashed PBX, a cut cable)."""
        await self.wait_for_socket()
        self.socket_open.clear()
        assert self.socket_request is not None and self.socket_request.transport is not None
        self.socket_request.transport.abort()

    def _authorised(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.event_connects.append({"query": dict(request.query), "url": str(request.url)})
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.socket, self.socket_request = socket, request
        self.socket_open.set()
        async for _ in socket:
            pass
        if self.socket is socket:
            self.socket_open.clear()
        return socket

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        self.requests.append(
            {
                "method": request.method,
                "path": path,
                "query": dict(request.query),
                "authorization": request.headers.get("Authorization"),
            }
        )
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        status, body = self.answers.get((request.method, path), (404, {"message": "Resource not found"}))
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)


class Recorder:
    """Event and hook handlers that note what they saw."""

    def __init__(self) -> None:
        self.events: list[tuple[str | None, str, Any]] = []
        self.connections: list[int] = []
        self.slow_channel: str | None = None
        self.slow_for = 0.0
        self.failing_event: str | None = None
        self.seen = asyncio.Condition()

    async def channel_event(self, event: AriEvent) -> None:
        if event.channel_id == self.slow_channel:
            await asyncio.sleep(self.slow_for)
        if event.type == self.failing_event:
            raise RuntimeError("handler bug")
        await self._note(event)

    async def other_event(self, event: AriEvent) -> None:
        await self._note(event)

    async def connected(self, connection: int) -> None:
        self.connections.append(connection)
        async with self.seen:
            self.seen.notify_all()

    async def _note(self, event: AriEvent) -> None:
        self.events.append((event.channel_id, event.type, event.data.get("n")))
        async with self.seen:
            self.seen.notify_all()

    async def wait_for(self, condition, timeout: float = 5.0) -> None:
        async with self.seen:
            await asyncio.wait_for(self.seen.wait_for(condition), timeout)


@pytest.fixture
async def ari():
    fake = FakeAri()
    await fake.start()
    yield fake
    if fake.server is not None:
        await fake.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(ari: FakeAri, recorder: Recorder):
    ari_client = AriClient(
        ari.url,
        USER,
        PASSWORD,
        APP,
        on_channel_event=recorder.channel_event,
        on_other_event=recorder.other_event,
        on_connected=recorder.connected,
        backoff=FAST_BACKOFF,
    )
    yield ari_client
    await ari_client.close()


def channel_event(event_type: str, channel_id: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "application": APP, "channel": {"id": channel_id}, "n": n, **fields}


# --- REST --------------------------------------------------------------------------------------


async def test_requests_carry_basic_auth_and_return_json(ari: FakeAri, client: AriClient):
    ari.answers[("GET", "/channels")] = (200, [{"id": "1.1"}])

    assert await client.request("GET", "/channels") == [{"id": "1.1"}]

    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert ari.requests[0]["authorization"] == expected


async def test_query_parameters_are_encoded_as_ari_expects(ari: FakeAri, client: AriClient):
    ari.answers[("POST", "/channels/1.1/record")] = (201, {"name": "vm"})

    await client.request(
        "POST", "/channels/1.1/record", name="vm", beep=True, maxSilenceSeconds=10, terminateOn="#", ifExists=None
    )

    assert ari.requests[0]["query"] == {"name": "vm", "beep": "true", "maxSilenceSeconds": "10", "terminateOn": "#"}


async def test_empty_answer_is_none(ari: FakeAri, client: AriClient):
    ari.answers[("POST", "/channels/1.1/answer")] = (204, None)

    assert await client.request("POST", "/channels/1.1/answer") is None


async def test_error_answer_raises_with_asterisks_message(ari: FakeAri, client: AriClient):
    ari.answers[("POST", "/channels/9.9/answer")] = (404, {"message": "Channel not found"})

    with pytest.raises(AriError) as raised:
        await client.request("POST", "/channels/9.9/answer")

    error = raised.value
    assert (error.status, error.method, error.path, error.message) == (404, "POST", "/channels/9.9/answer", "Channel not found")
    assert "Channel not found" in str(error)


async def test_unreachable_pbx_raises_ari_error_with_status_0(client: AriClient, ari: FakeAri):
    await ari.stop()

    with pytest.raises(AriError) as raised:
        await client.request("GET", "/channels")

    assert raised.value.status == 0


# --- events ------------------------------------------------------------------------------------


async def test_events_socket_names_the_app_and_sends_auth_in_a_header(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    await recorder.wait_for(lambda: recorder.connections == [1])

    connect = ari.event_connects[0]
    assert connect["query"] == {"app": APP, "subscribeAll": "false"}
    assert PASSWORD not in connect["url"] and "api_key" not in connect["url"]


async def test_events_of_one_channel_are_handled_in_order(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    for n in range(20):
        await ari.send(**channel_event("ChannelDtmfReceived", "A", n, digit="1"))

    await recorder.wait_for(lambda: len(recorder.events) == 20)
    assert [n for _, _, n in recorder.events] == list(range(20))


async def test_playback_and_recording_events_go_to_their_channel(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    await ari.send(type="PlaybackFinished", playback={"id": "p1", "target_uri": "channel:A"}, n=1)
    await ari.send(type="RecordingFinished", recording={"name": "vm", "target_uri": "channel:A"}, n=2)
    await ari.send(type="PlaybackFinished", playback={"id": "p2", "target_uri": "bridge:B1"}, n=3)

    await recorder.wait_for(lambda: len(recorder.events) == 3)
    assert sorted(recorder.events, key=lambda e: e[2]) == [
        ("A", "PlaybackFinished", 1),
        ("A", "RecordingFinished", 2),
        (None, "PlaybackFinished", 3),
    ]


async def test_a_slow_call_does_not_hold_up_another(ari: FakeAri, client: AriClient, recorder: Recorder):
    recorder.slow_channel, recorder.slow_for = "A", 0.5
    client.start()
    started = time.monotonic()
    await ari.send(**channel_event("StasisStart", "A", 1))
    await ari.send(**channel_event("StasisStart", "B", 2))
    await ari.send(**channel_event("ChannelDtmfReceived", "B", 3))

    await recorder.wait_for(lambda: [e[2] for e in recorder.events] == [2, 3])
    assert time.monotonic() - started < 0.3
    await recorder.wait_for(lambda: [e[2] for e in recorder.events] == [2, 3, 1])


async def test_a_failing_handler_does_not_stop_the_client(ari: FakeAri, client: AriClient, recorder: Recorder):
    recorder.failing_event = "ChannelStateChange"
    client.start()
    await ari.send(**channel_event("ChannelStateChange", "A", 1))
    await ari.send(**channel_event("ChannelDtmfReceived", "A", 2))
    await ari.send(**channel_event("ChannelDtmfReceived", "B", 3))
    await ari.send(type="ApplicationReplaced", n=4)

    await recorder.wait_for(lambda: len(recorder.events) == 3)
    assert sorted(n for _, _, n in recorder.events) == [2, 3, 4]


async def test_garbage_on_the_socket_is_skipped(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    await ari.wait_for_socket()
    assert ari.socket is not None
    await ari.socket.send_str("not json")
    await ari.socket.send_str("[1, 2]")
    await ari.send(**channel_event("StasisStart", "A", 1))

    await recorder.wait_for(lambda: len(recorder.events) == 1)


# --- reconnect ---------------------------------------------------------------------------------


async def test_reconnects_after_a_clean_close(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    await recorder.wait_for(lambda: recorder.connections == [1])

    await ari.close_socket()

    await recorder.wait_for(lambda: recorder.connections == [1, 2])
    await ari.send(**channel_event("StasisStart", "A", 1))
    await recorder.wait_for(lambda: len(recorder.events) == 1)


async def test_reconnects_after_an_abrupt_drop(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    await recorder.wait_for(lambda: recorder.connections == [1])

    await ari.drop_socket()

    await recorder.wait_for(lambda: recorder.connections == [1, 2])
    await ari.send(**channel_event("StasisStart", "A", 7))
    await recorder.wait_for(lambda: recorder.events == [("A", "StasisStart", 7)])


async def test_events_carry_the_connection_that_delivered_them(ari: FakeAri, client: AriClient):
    seen: list[AriEvent] = []

    async def keep(event: AriEvent) -> None:
        seen.append(event)

    client.on_channel_event = keep
    client.start()
    await ari.send(**channel_event("StasisStart", "A", 1))
    await ari.close_socket()
    await ari.send(**channel_event("StasisStart", "B", 2))

    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.02)
    assert [(e.channel_id, e.connection) for e in seen] == [("A", 1), ("B", 2)]


async def test_reconnects_when_the_pbx_comes_back_on_the_same_port(ari: FakeAri, recorder: Recorder):
    # The real backoff (at once, then 0.5 s, 1 s, ... up to 5 s): a PBX away for a second is
    # back in the app within about 1.5 s.
    ari_client = AriClient(ari.url, USER, PASSWORD, APP, on_connected=recorder.connected)
    ari_client.start()
    try:
        await recorder.wait_for(lambda: recorder.connections == [1])
        await ari.stop()
        await asyncio.sleep(1.0)
        back = time.monotonic()
        await ari.start()

        await recorder.wait_for(lambda: recorder.connections == [1, 2], timeout=5)
        assert time.monotonic() - back < 1.5
        assert len(ari.event_connects) == 2
    finally:
        await ari_client.close()


def test_backoff_retries_at_once_then_doubles_up_to_the_cap():
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 8)] == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


async def test_refused_credentials_are_retried_not_fatal(ari: FakeAri, recorder: Recorder):
    ari_client = AriClient(ari.url, USER, "wrong", APP, on_connected=recorder.connected, backoff=FAST_BACKOFF)
    ari_client.start()
    try:
        for _ in range(100):
            if len(ari.event_connects) >= 3:
                break
            await asyncio.sleep(0.02)
        assert len(ari.event_connects) >= 3
        assert recorder.connections == []
    finally:
        await ari_client.close()


async def test_a_failing_connected_hook_does_not_stop_the_client(ari: FakeAri, client: AriClient, recorder: Recorder):
    async def broken(connection: int) -> None:
        raise RuntimeError("GET /channels failed")

    client.on_connected = broken
    client.start()
    await ari.send(**channel_event("StasisStart", "A", 1))

    await recorder.wait_for(lambda: len(recorder.events) == 1)


async def test_events_connection_outlives_the_request_timeout(ari: FakeAri, client: AriClient, recorder: Recorder, monkeypatch):
    # The REST timeout must not end a WebSocket that is quiet for longer than that.
    monkeypatch.setattr(client_module, "REQUEST_TIMEOUT", client_module.aiohttp.ClientTimeout(total=0.2))
    client.start()
    await recorder.wait_for(lambda: recorder.connections == [1])

    await asyncio.sleep(0.6)

    assert recorder.connections == [1]
    await ari.send(**channel_event("StasisStart", "A", 1))
    await recorder.wait_for(lambda: len(recorder.events) == 1)


async def test_close_stops_reconnecting(ari: FakeAri, client: AriClient, recorder: Recorder):
    client.start()
    await recorder.wait_for(lambda: recorder.connections == [1])

    await client.close()
    await asyncio.sleep(0.3)

    assert len(ari.event_connects) == 1
