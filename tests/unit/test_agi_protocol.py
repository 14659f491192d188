"""FastAGI over a real socket, against an emulation of Asterisk's side (res_agi): the
environment block and its timeout, the replies Asterisk sends (`100 Trying`, `520-` usage,
`510`, `511`, `HANGUP` lines), EOF, aborted connections and many sessions at once.

`AsteriskSide` and `agi_call` are used by the other AGI tests too."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.protocol import (
    AgiServer,
    AgiSession,
    ChannelGone,
    InvalidCommand,
    InvalidSyntax,
    NotPermittedOnDeadChannel,
    Reply,
    ReplyTimeout,
    parse_reply,
    quoted,
)

UNIQUEID = "1767402000.17"
USAGE = [
    "520-Invalid command syntax.  Proper usage follows:",
    " Usage: GET VARIABLE <variablename>",
    "  Returns 0 if <variablename> is not set.",
    "520 End of proper usage.",
]


def environment(script: str, *args: str, **overrides: str) -> dict[str, str]:
    """What Asterisk 22 sends for `AGI(agi://127.0.0.1:PORT/<script>,<args…>)`."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": "PJSIP/trunk-00000001",
        "agi_language": "nl",
        "agi_type": "PJSIP",
        "agi_uniqueid": UNIQUEID,
        "agi_version": "22.10.1",
        "agi_callerid": "+31612345678",
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "0497842611",
        "agi_rdnis": "unknown",
        "agi_context": "nachtdienst-inbound",
        "agi_extension": "0497842611",
        "agi_priority": "4",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140245",
    }
    env.update({f"agi_arg_{n}": value for n, value in enumerate(args, 1)})
    env.update(overrides)
    return env


def parse_args(line: str) -> list[str]:
    """res_agi.c's parse_args: words split on blanks, `"…"` quoting, `\\` escaping."""
    words: list[str] = []
    current: list[str] | None = None
    quoted_now = escaped = False
    for char in line:
        if char == '"' and not escaped:
            quoted_now = not quoted_now
            if quoted_now and current is None:
                current = []
            continue
        if char in " \t" and not quoted_now and not escaped:
            if current is not None:
                words.append("".join(current))
            current = None
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            current = []
        current.append(char)
        escaped = False
    if current is not None:
        words.append("".join(current))
    return words


@dataclass
class AsteriskSide:
    """What Asterisk saw of one FastAGI session, and the channel's variables."""

    commands: list[list[str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    verbose: list[str] = field(default_factory=list)
    closed_by_server: bool = False

    def reply(self, argv: list[str]) -> list[str]:
        """res_agi's answers to the commands the server uses."""
        words = [word.upper() for word in argv[:2]]
        if words == ["SET", "VARIABLE"] and len(argv) == 4:
            self.variables[argv[2]] = argv[3]
            return ["200 result=1"]
        if words == ["GET", "VARIABLE"] and len(argv) == 3:
            value = self.variables.get(argv[2])
            return (
                [f"200 result=1 ({value})"] if value is not None else ["200 result=0"]
            )
        if words[:1] == ["VERBOSE"]:
            self.verbose.append(argv[1])
            return ["200 result=1"]
        if words[:2] in (["SET", "VARIABLE"], ["GET", "VARIABLE"]):
            return USAGE
        return ["510 Invalid or unknown command"]


ABORT = ["<abort>"]  # a replier's answer: reset the connection instead of replying
Replier = Callable[[list[str], AsteriskSide], list[str] | None]


async def agi_call(
    port: int,
    env: dict[str, str],
    replier: Replier | None = None,
    *,
    variables: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> AsteriskSide:
    """One `AGI(agi://…)` as Asterisk runs it: the environment, then a reply to every
    command (the replier's lines, else res_agi's) until the server closes the connection."""
    side = AsteriskSide(variables=dict(variables or {}))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout)
            if not raw:
                side.closed_by_server = True
                break
            argv = parse_args(raw.decode().rstrip("\n"))
            side.commands.append(argv)
            lines = replier(argv, side) if replier else None
            if lines is ABORT:
                reset(writer)
                break
            for line in side.reply(argv) if lines is None else lines:
                writer.write(line.encode() + b"\n")
            await writer.drain()
    finally:
        writer.close()
    return side


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, as a crashed Asterisk would."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@asynccontextmanager
async def agi_server(handler, **options) -> AsyncIterator[AgiServer]:
    server = AgiServer(handler, "127.0.0.1", 0, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(1.0)


async def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- the environment block --------------------------------------------------------------------


async def test_environment_gives_the_script_and_its_arguments_in_order():
    seen: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        seen.append(session)

    async with agi_server(handler) as server:
        side = await agi_call(server.port, environment("/route/", "2", "", "a, b"))
    (session,) = seen
    assert session.script == "route"
    assert session.args == ["2", "", "a, b"]
    assert session.env["agi_uniqueid"] == UNIQUEID
    assert side.closed_by_server and side.commands == []


async def test_a_connection_that_never_finishes_its_environment_is_closed_at_the_timeout():
    calls: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session)

    async with agi_server(handler, env_timeout=0.3) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_network: yes\nagi_network_script: office\n")
        await writer.drain()
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 3.0) == b""  # closed by the server
        waited = time.monotonic() - started
        writer.close()
        side = await agi_call(server.port, environment("office"))
    assert 0.2 < waited < 1.5
    # only the complete one was handled
    assert len(calls) == 1 and side.closed_by_server


async def test_a_connection_that_closes_in_its_environment_costs_nothing():
    calls: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session)

    async with agi_server(handler, env_timeout=5.0) as server:
        for cut in (b"", b"agi_network: yes\n", b"agi_network: yes\nagi_network_scr"):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(cut)
            await writer.drain()
            writer.close()
        await wait_until(lambda: not server.sessions)
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        spent = time.process_time() - cpu
        side = await agi_call(server.port, environment("office"))
    assert spent < 0.1, f"{spent:.3f} s of CPU in 0.5 s idle: something spins"
    assert len(calls) == 1 and side.closed_by_server


async def test_lines_that_are_not_an_agi_environment_end_the_connection():
    calls: list[AgiSession] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session)

    async with agi_server(handler) as server:
        for garbage in (
            b"GET / HTTP/1.1\r\n\r\n",
            b"\n",
            b"agi_x: " + b"y" * 70_000 + b"\n\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(garbage)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 3.0) == b""
            writer.close()
    assert calls == []


# --- replies ------------------------------------------------------------------------------------


async def test_100_trying_is_skipped_and_the_real_reply_returned():
    replies: list[Reply] = []

    async def handler(session: AgiSession) -> None:
        replies.append(await session.command("EXEC Playback beep"))
        replies.append(await session.command("GET VARIABLE X"))

    def replier(argv: list[str], side: AsteriskSide) -> list[str] | None:
        return ["100 result=0 Trying...", "200 result=0"] if argv[0] == "EXEC" else None

    async with agi_server(handler) as server:
        await agi_call(
            server.port, environment("x"), replier, variables={"X": "a (b) c"}
        )
    assert replies == [Reply(0), Reply(1, "a (b) c")]


async def test_a_520_usage_reply_is_read_to_its_end_and_the_next_reply_is_in_step():
    outcomes: list[object] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.command("GET VARIABLE")
        except InvalidSyntax as exc:
            outcomes.append(exc)
        outcomes.append(await session.get_variable("X"))

    async with agi_server(handler) as server:
        await agi_call(server.port, environment("x"), variables={"X": "after usage"})
    error, value = outcomes
    assert isinstance(error, InvalidSyntax) and error.code == 520
    assert "Usage: GET VARIABLE <variablename>" in error.text
    assert value == "after usage"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("510 Invalid or unknown command", InvalidCommand),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            NotPermittedOnDeadChannel,
        ),
        ("520 Invalid command syntax.  Proper usage not available.", InvalidSyntax),
    ],
)
async def test_error_codes_raise_their_error_and_the_session_stays_in_step(
    reply, error
):
    outcomes: list[object] = []

    async def handler(session: AgiSession) -> None:
        with pytest.raises(error) as raised:
            await session.command("STREAM FILE beep #")
        outcomes.append(raised.value.code)
        outcomes.append(await session.get_variable("X"))

    def replier(argv: list[str], side: AsteriskSide) -> list[str] | None:
        return [reply] if argv[0] == "STREAM" else None

    async with agi_server(handler) as server:
        await agi_call(server.port, environment("x"), replier, variables={"X": "1"})
    assert outcomes == [int(reply[:3]), "1"]


async def test_a_hangup_line_before_a_reply_is_noted_and_later_commands_raise_channel_gone():
    outcomes: list[object] = []

    async def handler(session: AgiSession) -> None:
        outcomes.append(await session.get_variable("X"))
        outcomes.append(session.hung_up)
        with pytest.raises(ChannelGone, match="hung up"):
            await session.set_variable("Y", "never sent")

    def replier(argv: list[str], side: AsteriskSide) -> list[str] | None:
        return ["HANGUP", *side.reply(argv)]

    async with agi_server(handler) as server:
        side = await agi_call(
            server.port, environment("x"), replier, variables={"X": "v"}
        )
    assert outcomes == ["v", True]
    assert side.commands == [["GET", "VARIABLE", "X"]]  # nothing sent after the hang-up


async def test_a_hangup_line_between_commands_keeps_the_replies_in_step():
    values: list[object] = []

    async def handler(session: AgiSession) -> None:
        values.append(await session.get_variable("A"))
        # HANGUP is read first, then B's reply
        values.append(await session.get_variable("B"))
        with pytest.raises(ChannelGone):
            await session.get_variable("C")

    def replier(argv: list[str], side: AsteriskSide) -> list[str] | None:
        # Asterisk writes HANGUP when the channel goes, here right after A's reply.
        return [*side.reply(argv), "HANGUP"] if argv[2] == "A" else None

    async with agi_server(handler) as server:
        await agi_call(
            server.port,
            environment("x"),
            replier,
            variables={"A": "a", "B": "b", "C": "c"},
        )
    assert values == ["a", "b"]


async def test_eof_in_the_middle_of_a_command_is_channel_gone_and_the_server_goes_on():
    raised: list[BaseException] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.get_variable("X")
        except ChannelGone as exc:
            raised.append(exc)
            raise  # the server logs it and closes the session

    def close_instead(argv: list[str], side: AsteriskSide) -> list[str] | None:
        return ABORT

    async with agi_server(handler) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            "".join(f"{k}: {v}\n" for k, v in environment("x").items()).encode() + b"\n"
        )
        await writer.drain()
        writer.close()  # Asterisk gone before answering
        await wait_until(lambda: len(raised) == 1)
        # reset in the middle of a command
        await agi_call(server.port, environment("x"), close_instead)
        await wait_until(lambda: len(raised) == 2)
        served = await agi_call(server.port, environment("x"), variables={"X": "ok"})
    assert all(isinstance(exc, ChannelGone) for exc in raised)
    assert served.commands == [["GET", "VARIABLE", "X"]] and served.closed_by_server


async def test_no_reply_in_time_is_a_timeout_and_the_session_is_not_used_again():
    outcomes: list[object] = []

    async def handler(session: AgiSession) -> None:
        started = time.monotonic()
        with pytest.raises(ReplyTimeout):
            await session.get_variable("X")
        outcomes.append(time.monotonic() - started)
        with pytest.raises(ChannelGone, match="out of step"):
            await session.get_variable("X")

    def silent(argv: list[str], side: AsteriskSide) -> list[str] | None:
        return []

    async with agi_server(handler, reply_timeout=0.2) as server:
        side = await agi_call(server.port, environment("x"), silent)
    (waited,) = outcomes
    assert 0.15 < waited < 1.0
    assert len(side.commands) == 1 and side.closed_by_server


async def test_a_failing_handler_ends_only_its_own_session():
    async def handler(session: AgiSession) -> None:
        if session.script == "boom":
            raise RuntimeError("a bug")
        await session.set_variable("DONE", "yes")

    async with agi_server(handler) as server:
        broken = await agi_call(server.port, environment("boom"))
        fine = await agi_call(server.port, environment("fine"))
    assert broken.closed_by_server and broken.variables == {}
    assert fine.variables == {"DONE": "yes"}


async def test_sixty_sessions_at_once_each_get_their_own_answers():
    running = 0
    most = 0

    async def handler(session: AgiSession) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            mine = await session.get_variable("MINE")
            await asyncio.sleep(0.2)  # all of them overlap here
            await session.set_variable("ANSWER", f"{session.script}:{mine}")
        finally:
            running -= 1

    async with agi_server(handler) as server:
        started = time.monotonic()
        sides = await asyncio.gather(
            *(
                agi_call(server.port, environment(f"s{n}"), variables={"MINE": str(n)})
                for n in range(60)
            )
        )
        elapsed = time.monotonic() - started
    assert [side.variables["ANSWER"] for side in sides] == [
        f"s{n}:{n}" for n in range(60)
    ]
    assert most == 60
    assert elapsed < 2.0  # concurrent: 60 × 0.2 s one after another would be 12 s


async def test_stop_cancels_sessions_that_outlive_the_grace():
    async def handler(session: AgiSession) -> None:
        await asyncio.sleep(30)

    server = AgiServer(handler, "127.0.0.1", 0)
    await server.start()
    call = asyncio.create_task(agi_call(server.port, environment("x")))
    await wait_until(lambda: bool(server.sessions))
    started = time.monotonic()
    await server.stop(0.2)
    side = await asyncio.wait_for(call, 3.0)
    assert time.monotonic() - started < 1.5
    assert side.closed_by_server and not server.sessions


# --- the line format --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("200 result=1", Reply(1)),
        ("200 result=-1", Reply(-1)),
        ("200 result=0 endpos=8000", Reply(0, None, 8000)),
        ("200 result=1 (timeout) endpos=1234", Reply(1, "timeout", 1234)),
        ("200 result=1 (a (nested) value)", Reply(1, "a (nested) value")),
        ("200 result=1 ()", Reply(1, "")),
    ],
)
def test_replies_are_parsed(line, reply):
    assert parse_reply(line) == reply


@given(
    st.integers(-1, 10**6),
    st.text(st.characters(exclude_characters="\n\r"), max_size=40),
    st.integers(0, 10**9),
)
def test_any_data_in_a_reply_comes_back_as_sent(result, data, endpos):
    assert parse_reply(f"200 result={result} ({data}) endpos={endpos}") == Reply(
        result, data, endpos
    )


@given(st.text(st.characters(exclude_characters="\x00"), max_size=60))
def test_a_quoted_value_is_read_back_by_asterisks_parser_as_it_was(value):
    assert parse_args(f"SET VARIABLE ND_X {quoted(value)}") == [
        "SET",
        "VARIABLE",
        "ND_X",
        value.replace("\r", " ").replace("\n", " "),
    ]
