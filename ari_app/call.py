"""One inbound call as the flow's steps see it: the caller's channel, its record, the desk
(what the database knows), the prompts, and the line's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from ari_app.channel import Channel
from ari_app.prompts import Prompts
from core.settings import LineSettings, Settings

log = structlog.get_logger("ari.flow")

# The app's bridges are named so; after a reconnect, ours that no call holds are removed.
BRIDGE_PREFIX = "nd-bridge-"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LineConfig:
    """What every call needs from the settings, taken once at start."""

    line: LineSettings
    zone: ZoneInfo
    country: str
    support_number: str
    office_destination: str | None
    trunk_available: bool
    # The reminder call plays Asterisk's copy of a voicemail (Asterisk cannot read ours).
    keep_pbx_recordings: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LineConfig:
        return cls(
            line=settings.line,
            zone=ZoneInfo(settings.timezone),
            country=settings.country,
            support_number=settings.support_number,
            office_destination=settings.office.destination,
            trunk_available=settings.pbx.trunk_contact is not None,
            keep_pbx_recordings=settings.notify.unacknowledged_call_minutes > 0,
        )


@dataclass
class Call:
    """The state of one call as it goes through the steps."""

    channel: Channel
    record: Any  # ari_app.flow.CallRecord
    desk: Any  # ari_app.desk.Desk
    prompts: Prompts
    app: Any  # ari_app.stasis.StasisApp: originate legs, bridges over its client
    config: LineConfig
    clock: Callable[[], datetime] = utc_now
    language: str = "nl"
    caller_e164: str | None = None
    customer: Any = None  # core.line_desk.CallerCustomer once identified
    identity_unavailable: bool = False  # the database could not say who is calling
    log: Any = field(default=None)

    def __post_init__(self) -> None:
        self.log = log.bind(channel_id=self.channel.id)

    def now(self) -> datetime:
        return self.clock()

    def media(self, *names: str) -> list[str]:
        return [self.prompts(name, self.language) for name in names]

    async def step(self, name: str, detail: str | None = None) -> None:
        self.log.info("call step", step=name, detail=detail)
        await self.record.step(name, detail)

    async def say(self, *media: str | list[str]) -> None:
        """Play prompts (names in the call's language, or media lists) to the end."""
        items: list[str] = []
        for item in media:
            items += item if isinstance(item, list) else self.media(item)
        playback = await self.channel.play(items)
        await playback.finished()
