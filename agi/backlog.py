"""Log entries the database did not take, kept in memory and retried, so a database that is
briefly away while calls take the AGI path delays their records instead of losing them.

Entries keep the time they happened and are retried oldest first; writing one twice adds
nothing (agi/call_record.py). An entry the database refuses as bad, or one older than
`max_age`, and the oldest ones beyond `max_entries`, are given up: logged in full, so the
record is at least in the logs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import structlog

from agi.call_record import BadEntry, CallKey, Entry, write_entry
from agi.desk import AgiDesk, DatabaseDown

log = structlog.get_logger("agi.backlog")

MAX_ENTRIES = 10_000
MAX_AGE = timedelta(hours=6)


@dataclass(frozen=True)
class PendingEntry:
    key: CallKey
    entry: Entry
    at: datetime


class Backlog:
    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_age: timedelta = MAX_AGE):
        self.max_entries = max_entries
        self.max_age = max_age
        self._entries: deque[PendingEntry] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: CallKey, entry: Entry, at: datetime) -> None:
        self._entries.append(PendingEntry(key, entry, at))
        while len(self._entries) > self.max_entries:
            _give_up(self._entries.popleft(), "backlog full")

    async def retry(self, desk: AgiDesk, now: datetime) -> int:
        """Write what the database takes now, oldest first; stops at the first DatabaseDown.
        Returns how many entries left the backlog written."""
        written = 0
        while self._entries:
            pending = self._entries[0]
            if now - pending.at > self.max_age:
                _give_up(self._entries.popleft(), f"older than {self.max_age}")
                continue
            try:
                await desk.ask(
                    write_entry, desk.settings, pending.key, pending.entry, pending.at
                )
            except DatabaseDown:
                break
            except BadEntry as exc:
                _give_up(self._entries.popleft(), str(exc))
                continue
            self._entries.popleft()
            written += 1
        if written:
            log.info(
                "agi log entries written after retry",
                written=written,
                left=len(self._entries),
            )
        return written

    def give_up_all(self, reason: str) -> None:
        while self._entries:
            _give_up(self._entries.popleft(), reason)


def _give_up(pending: PendingEntry, reason: str) -> None:
    log.error(
        "agi log entry given up",
        reason=reason,
        channel_id=pending.key.channel_id,
        kind=type(pending.entry).__name__,
        entry=asdict(pending.entry),
        at=pending.at.isoformat(),
    )
