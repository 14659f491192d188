"""FastAGI, the protocol: one session per TCP connection Asterisk opens for `AGI(agi://…)`.

Why our own server: the design card's pyst2 does not import on Python 3 (`SocketServer`) and,
patched, falls one reply out of step after a `HANGUP` line or EOF; panoramisk 1.4 also falls
out of step after a hang-up and spins at 100% CPU on a connection that closes before its
environment block ends; pystrix 1.3.0 works but runs a thread per call. The protocol is a
few line rules, so a small asyncio server on the standard library (like the ARI app, one
event loop, no threads but the database's) handles every case below and is tested over a real
socket against an emulation of Asterisk's side (tests/unit/test_agi_protocol.py).

Decisions a caller may rely on:
- The environment block (`agi_*: value` lines up to an empty line) is read within
  `env_timeout`; a connection that does not finish it in time, closes before its end or sends
  absurd lines (too long, too many) is closed and logged, and costs nothing after that.
- `command()` sends one line and returns the final `200` reply: `100 Trying...` lines are
  skipped, a `HANGUP` line (Asterisk's notice that the channel hung up) is noted in `hung_up`
  and reading goes on. Once a hang-up is noted, later commands raise ChannelGone without
  being sent. A `520-` usage reply is read to `520 End of proper usage.` and raised as
  InvalidSyntax with its text; `510` is InvalidCommand, `511` NotPermittedOnDeadChannel.
- EOF or a broken connection is ChannelGone. A reply that does not come within
  `reply_timeout` is ReplyTimeout, and the session is unusable afterwards (a late reply would
  put every later one out of step): later commands raise ChannelGone.
- A session handler's errors are logged and end only its own session; the server goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("agi.protocol")

ENV_TIMEOUT = 5.0
REPLY_TIMEOUT = 10.0
# A line longer than this, or more environment lines, is no Asterisk talking.
MAX_LINE_BYTES = 16 * 1024
MAX_ENV_LINES = 200
HANGUP_LINE = "HANGUP"
_REPLY = re.compile(r"^200 result=(-?\d+)(?: \((.*)\))?(?: endpos=(-?\d+))?\s*$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AgiError(Exception):
    """Something went wrong talking FastAGI; the message says what."""


class BadEnvironment(AgiError):
    """The connection did not send a usable environment block."""


class ChannelGone(AgiError):
    """The channel hung up or the connection is closed: nothing more can be sent."""


class ReplyTimeout(AgiError):
    """Asterisk did not answer a command in time."""


class CommandRefused(AgiError):
    """Asterisk answered a command with an error code."""

    def __init__(self, command: str, code: int, text: str):
        self.command, self.code, self.text = command, code, text
        super().__init__(f"{command.split(' ', 2)[:2]} refused: {code} {text}".strip())


class InvalidCommand(CommandRefused):
    """510: Asterisk does not know the command."""


class NotPermittedOnDeadChannel(CommandRefused):
    """511: the command needs a live channel."""


class InvalidSyntax(CommandRefused):
    """520: wrong arguments; `text` holds the usage Asterisk sent."""


class UnexpectedReply(AgiError):
    """A reply line no FastAGI rule explains."""


@dataclass(frozen=True)
class Reply:
    """A `200` reply: `200 result=<result> (<data>) endpos=<endpos>`."""

    result: int
    data: str | None = None
    endpos: int | None = None


def parse_reply(line: str) -> Reply:
    """A `200` line as Reply; UnexpectedReply for anything else."""
    match = _REPLY.match(line)
    if match is None:
        raise UnexpectedReply(
            f"reply {line[:120]!r} is not '200 result=N [(data)] [endpos=N]'"
        )
    result, data, endpos = match.groups()
    return Reply(int(result), data, int(endpos) if endpos is not None else None)


def quoted(value: str) -> str:
    """An argument as Asterisk's AGI parser reads it back: in double quotes, with `\\` and
    `"` escaped; line breaks become spaces (they would end the command)."""
    flat = value.replace("\r", " ").replace("\n", " ")
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiSession:
    """One FastAGI connection: its environment, and commands sent one at a time."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        reply_timeout: float = REPLY_TIMEOUT,
    ):
        self.reader = reader
        self.writer = writer
        self.reply_timeout = reply_timeout
        self.env: dict[str, str] = {}
        self.hung_up = False
        self._unusable: str | None = None

    # --- the environment ----------------------------------------------------------------------

    async def read_environment(self, timeout: float = ENV_TIMEOUT) -> dict[str, str]:
        """Read the `agi_*` lines up to the empty line; BadEnvironment when that does not
        happen within `timeout` seconds (in all), or the lines are not FastAGI's."""
        deadline = time.monotonic() + timeout
        env: dict[str, str] = {}
        for _ in range(MAX_ENV_LINES):
            try:
                line = await self._read_line(deadline)
            except ReplyTimeout:
                raise BadEnvironment(
                    f"environment not complete after {timeout:g} s ({len(env)} lines)"
                ) from None
            except ChannelGone as exc:
                raise BadEnvironment(
                    f"connection closed in the environment ({len(env)} lines): {exc}"
                ) from None
            if line == "":
                if not env:
                    raise BadEnvironment("empty environment block")
                self.env = env
                return env
            name, separator, value = line.partition(":")
            if not separator or not name.startswith("agi_"):
                raise BadEnvironment(
                    f"environment line {line[:80]!r} is not 'agi_name: value'"
                )
            env[name.strip()] = value.strip()
        raise BadEnvironment(f"more than {MAX_ENV_LINES} environment lines")

    @property
    def script(self) -> str:
        """The path of `agi://host:port/SCRIPT` (without slashes around it)."""
        return self.env.get("agi_network_script", "").strip("/")

    @property
    def args(self) -> list[str]:
        """`agi_arg_1`, `agi_arg_2`, … in order, up to the first one missing."""
        values = []
        while (value := self.env.get(f"agi_arg_{len(values) + 1}")) is not None:
            values.append(value)
        return values

    # --- commands -----------------------------------------------------------------------------

    async def command(self, line: str, *, timeout: float | None = None) -> Reply:
        """Send one command and return its `200` reply (see the module's rules)."""
        if "\n" in line or "\r" in line:
            raise ValueError(f"an AGI command is one line: {line[:80]!r}")
        if self._unusable is not None:
            raise ChannelGone(self._unusable)
        if self.hung_up:
            raise ChannelGone(f"channel hung up; {line.split(' ', 1)[0]} not sent")
        deadline = time.monotonic() + (
            self.reply_timeout if timeout is None else timeout
        )
        try:
            self.writer.write(line.encode() + b"\n")
            await asyncio.wait_for(
                self.writer.drain(), max(0.0, deadline - time.monotonic())
            )
        except (ConnectionError, OSError) as exc:
            self._unusable = f"connection lost while sending: {exc}"
            raise ChannelGone(self._unusable) from None
        except TimeoutError:
            self._unusable = "Asterisk does not read our commands"
            raise ReplyTimeout(f"{line[:60]!r} not sent in time") from None
        try:
            return await self._read_reply(line, deadline)
        except ReplyTimeout:
            self._unusable = (
                f"no reply to {line[:60]!r} in time; replies would be out of step"
            )
            raise
        except ChannelGone as exc:
            self._unusable = str(exc)
            raise

    async def _read_reply(self, command: str, deadline: float) -> Reply:
        usage: list[str] | None = None
        while True:
            line = await self._read_line(deadline)
            if line == HANGUP_LINE:
                self.hung_up = True
                continue
            if usage is not None:
                if line.startswith("520 "):
                    raise InvalidSyntax(command, 520, "\n".join(usage))
                usage.append(line)
                continue
            if line.startswith("100"):
                continue  # "100 result=0 Trying...": the real reply follows
            if line.startswith("520-"):
                usage = []
                continue
            code = line[:3]
            if code == "200":
                return parse_reply(line)
            text = line[4:]
            if code == "510":
                raise InvalidCommand(command, 510, text)
            if code == "511":
                raise NotPermittedOnDeadChannel(command, 511, text)
            if code == "520":
                raise InvalidSyntax(command, 520, text)
            raise UnexpectedReply(f"reply {line[:120]!r} to {command[:60]!r}")

    async def _read_line(self, deadline: float) -> str:
        """One line without its line break; ChannelGone at EOF, ReplyTimeout at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReplyTimeout("deadline passed")
        try:
            raw = await asyncio.wait_for(self.reader.readline(), remaining)
        except TimeoutError:
            raise ReplyTimeout("no line in time") from None
        except ValueError:  # asyncio's limit: a line longer than MAX_LINE_BYTES
            raise ChannelGone(f"a line longer than {MAX_LINE_BYTES} bytes") from None
        except (ConnectionError, OSError) as exc:
            raise ChannelGone(f"connection lost: {exc}") from None
        if not raw.endswith(b"\n"):
            raise ChannelGone("connection closed by Asterisk")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE; a refusal (result other than 1) is an AgiError."""
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"variable name {name!r}: letters, digits and _ only")
        reply = await self.command(f"SET VARIABLE {name} {quoted(value)}")
        if reply.result != 1:
            raise AgiError(f"SET VARIABLE {name} answered result={reply.result}")

    async def get_variable(self, name: str) -> str | None:
        """The channel variable's value, or None when it is not set."""
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"variable name {name!r}: letters, digits and _ only")
        reply = await self.command(f"GET VARIABLE {name}")
        return reply.data if reply.result == 1 else None

    async def verbose(self, message: str, level: int = 1) -> None:
        """A line in Asterisk's console and log."""
        await self.command(f"VERBOSE {quoted(message)} {level}")

    async def close(self) -> None:
        """Close the connection (Asterisk's AGI() then returns); never raises."""
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


Handler = Callable[[AgiSession], Awaitable[None]]


class AgiServer:
    """Accepts FastAGI connections and runs `handler` on each, after its environment."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        env_timeout: float = ENV_TIMEOUT,
        reply_timeout: float = REPLY_TIMEOUT,
    ):
        self.handler = handler
        self.host = host
        self.port = port
        self.env_timeout = env_timeout
        self.reply_timeout = reply_timeout
        self.sessions: set[asyncio.Task[None]] = set()
        self.served = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; `port` 0 takes a free port, then `self.port` is the one taken."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=MAX_LINE_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("agi server listening", host=self.host, port=self.port)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop listening; sessions still running get `grace` seconds, then are cancelled."""
        if self._server is not None:
            self._server.close()
        running = set(self.sessions)
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        try:
            await self._serve(
                AgiSession(reader, writer, reply_timeout=self.reply_timeout)
            )
        finally:
            self.sessions.discard(task)

    async def _serve(self, session: AgiSession) -> None:
        peer = session.writer.get_extra_info("peername")
        try:
            try:
                await session.read_environment(self.env_timeout)
            except BadEnvironment as exc:
                log.warning("agi connection dropped", peer=str(peer), reason=str(exc))
                return
            self.served += 1
            try:
                await self.handler(session)
            except ChannelGone as exc:
                log.info(
                    "agi channel gone",
                    script=session.script,
                    uniqueid=session.env.get("agi_uniqueid"),
                    reason=str(exc),
                )
            except (
                AgiError
            ) as exc:  # Asterisk answered out of the rules: no bug of ours
                log.warning(
                    "agi session ended",
                    script=session.script,
                    uniqueid=session.env.get("agi_uniqueid"),
                    reason=str(exc),
                )
            except Exception:
                log.exception(
                    "agi session failed",
                    script=session.script,
                    uniqueid=session.env.get("agi_uniqueid"),
                )
        finally:
            await session.close()
