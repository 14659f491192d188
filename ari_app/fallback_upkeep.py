"""What the ARI app keeps ready for the dialplan's fallback paths, and takes back from them.

- The static path (app and FastAGI server both away) dials Asterisk's globals ND_STATIC_DIAL
  and ND_STATIC_TIMEOUT: every contact the line would ring now, all at once, for as long as
  the steps would ring together (at most `STATIC_MAX_SECONDS`). Checked against Asterisk at
  every connect and every `PERIOD` seconds and set over ARI when they differ, so a roster
  change, a shift that starts, a dialplan reload or an Asterisk restart (which bring back the
  rendered roster.default_contact) is mended within that. Globals, not AstDB: Asterisk refuses
  DB() writes from ARI (a "dangerous" function for outside interfaces) unless live_dangerously
  is on, which we will not turn on.
- Messages left on the fallback paths (Asterisk's stored recordings named
  `nachtdienst-fallback-…`), and messages an earlier app process recorded but died before
  storing, are fetched over ARI and imported (core.fallback_import): stored, transcribed,
  notified. Only once the call's channel is gone: until then Asterisk may still be writing the
  file. A non-urgent one's Asterisk copy is removed at once; a critical one's
  stays for the reminder call until its incident is taken care of (ari_app.reminder_loop).

A database or Asterisk that is away is logged and tried again at the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ari_app.client import AriError
from ari_app.ringing import dial_string
from ari_app.voicemail import wav_seconds
from core.db import in_session
from core import fallback_import, line_desk
from core.roster import EscalationStepPlan
from core.roster_store import NoFallback
from core.settings import Settings

log = structlog.get_logger("ari.fallback")

PERIOD = 30.0
STATIC_MAX_SECONDS = 120
DIAL_VARIABLE = "ND_STATIC_DIAL"
TIMEOUT_VARIABLE = "ND_STATIC_TIMEOUT"


def static_dial(plan: list[EscalationStepPlan], *, trunk_available: bool) -> tuple[str, int]:
    """Every dialable contact of the plan joined for one Dial(), and how long to ring them."""
    targets: list[str] = []
    for step in plan:
        for contact in step.contacts:
            target = dial_string(contact, trunk_available=trunk_available)
            if target and target not in targets:
                targets.append(target)
    seconds = min(sum(step.timeout_seconds for step in plan), STATIC_MAX_SECONDS) if targets else 0
    return "&".join(targets), seconds


class FallbackUpkeep:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], client: Any, *, clock: Callable[[], datetime],
        period: float = PERIOD,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.sessions = sessions
        self.client = client
        self.clock = clock
        self.period = period
        self.trunk_available = settings.pbx.trunk_contact is not None
        self._wake = asyncio.Event()

    def connected(self) -> None:
        """Asterisk may have restarted, and messages may wait: a round now."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """A round at every (re)connect and every `period` seconds, until `stop`."""
        while not stop.is_set():
            stopping = asyncio.create_task(stop.wait())
            woken = asyncio.create_task(self._wake.wait())
            await asyncio.wait({stopping, woken}, timeout=self.period, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopping, woken):
                task.cancel()
            if stop.is_set():
                return
            self._wake.clear()
            await self.tick()

    async def tick(self) -> None:
        for job in (self.keep_static_path, self.import_messages):
            try:
                await job()
            except Exception as exc:  # Asterisk or the database away, or a bug: next round
                log.error("fallback upkeep: retrying next round", job=job.__name__, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    async def keep_static_path(self) -> None:
        try:
            plan = await self._db(line_desk.escalation_plan, self.settings, self.clock())
        except NoFallback as exc:
            log.error("static path: nobody to ring", why=str(exc))
            plan = []
        dial, seconds = static_dial(plan, trunk_available=self.trunk_available)
        changed = False
        for variable, value in ((DIAL_VARIABLE, dial), (TIMEOUT_VARIABLE, str(seconds))):
            current = (await self.client.request("GET", "/asterisk/variable", variable=variable) or {}).get("value")
            if current != value:
                await self.client.request("POST", "/asterisk/variable", variable=variable, value=value)
                changed = True
        if changed:
            log.info("static path updated in Asterisk", dial=dial or None, seconds=seconds)

    async def import_messages(self) -> None:
        stored = await self.client.request("GET", "/recordings/stored") or []
        ours = [r for r in (fallback_import.parse_name(str(item.get("name", ""))) for item in stored) if r is not None]
        for recording in await self._db(fallback_import.wanted, ours) if ours else []:
            if await self._call_goes_on(recording.uniqueid):
                continue  # Asterisk may still be writing it (its WAV header comes last)
            path = f"/recordings/stored/{quote(recording.name, safe='')}"
            audio = await self.client.request("GET", f"{path}/file")
            audio = audio if isinstance(audio, bytes) else b""
            saved = await self._db(fallback_import.import_recording, self.settings, recording, audio,
                                   duration_seconds=wav_seconds(audio), now=self.clock())  # fmt: skip
            log.info("fallback message imported", recording=recording.name, voicemail=saved.voicemail_id,
                     incident=saved.incident_id, kind=recording.kind)  # fmt: skip
            if recording.kind != "critical":
                with contextlib.suppress(AriError):
                    await self.client.request("DELETE", path)

    async def _call_goes_on(self, channel_id: str) -> bool:
        try:
            await self.client.request("GET", f"/channels/{quote(channel_id, safe='')}")
        except AriError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def _db(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(in_session, self.sessions, function, *args, **kwargs)
