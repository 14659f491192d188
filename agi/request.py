"""What every AGI command works with: the request (script, arguments, environment), the
line's shared parts, and the answer it sets in channel variables (rules: agi/commands.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agi.backlog import Backlog
from agi.desk import AgiDesk
from agi.protocol import AgiSession
from core.settings import Settings

OK, DEGRADED, ERROR = "ok", "degraded", "error"


class BadRequest(ValueError):
    """The dialplan called a command wrongly; the message names the argument."""


@dataclass
class Line:
    """What every command shares."""

    settings: Settings
    desk: AgiDesk
    backlog: Backlog = field(default_factory=Backlog)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def trunk_available(self) -> bool:
        return self.settings.pbx.trunk_contact is not None


@dataclass(frozen=True)
class Request:
    script: str
    args: list[str]
    env: dict[str, str]

    def arg(self, n: int) -> str:
        """Argument `n` (1-based), stripped; empty when not given."""
        return self.args[n - 1].strip() if len(self.args) >= n else ""

    def rest(self, n: int) -> str:
        """Arguments `n` and after, joined with the commas Asterisk split them on."""
        return ",".join(self.args[n - 1 :]).strip()


class Answer:
    """The variables a command sets, all of them, then ND_ERROR and ND_STATUS."""

    def __init__(self, names: tuple[str, ...]):
        self.variables: dict[str, str] = dict.fromkeys(names, "")
        self.status = OK
        self.error = ""

    def set(self, **values: object) -> None:
        for name, value in values.items():
            if name not in self.variables:
                raise KeyError(f"{name} is not one of this command's variables")
            self.variables[name] = "" if value is None else str(value)

    def degrade(self, why: str) -> None:
        if self.status == OK:
            self.status = DEGRADED
        self.error = "; ".join(filter(None, [self.error, why]))

    def fail(self, why: str) -> Answer:
        self.status, self.error = ERROR, why
        return self

    async def send(self, session: AgiSession, script: str) -> None:
        if self.status == ERROR:
            await session.verbose(
                f"nachtdienst agi {script or '(no script)'}: {self.error}", 1
            )
        for name, value in self.variables.items():
            await session.set_variable(name, value)
        await session.set_variable("ND_ERROR", self.error)
        await session.set_variable("ND_STATUS", self.status)


def whole_number(
    text: str, what: str, *, minimum: int = 1, maximum: int | None = None
) -> int:
    """`text` as a whole number within the bounds; BadRequest naming `what` otherwise."""
    if (
        not text.isdigit()
        or int(text) < minimum
        or (maximum is not None and int(text) > maximum)
    ):
        bounds = (
            f"{minimum}..{maximum}" if maximum is not None else f"{minimum} or more"
        )
        raise BadRequest(f"{what} {text[:40]!r} is not a whole number {bounds}")
    return int(text)
