"""ARI events as the dispatcher sees them: the JSON, plus which channel it concerns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Event fields that hold the channel an event is about, in order of preference. `Dial` names
# the channel being dialled as `peer`: that leg's own flow wants it, not the caller's.
_CHANNEL_FIELDS = ("channel", "peer")
# Playbacks and recordings name their channel as target_uri "channel:<id>".
_TARGETED_FIELDS = ("playback", "recording")


@dataclass(frozen=True)
class AriEvent:
    """One event from the events WebSocket.

    `channel_id` is the channel it concerns (None for events about no channel), and
    `connection` the number of the WebSocket connection that delivered it (1 for the first).
    """

    type: str
    data: dict[str, Any]
    channel_id: str | None
    connection: int

    @classmethod
    def from_json(cls, data: dict[str, Any], connection: int) -> AriEvent:
        return cls(type=str(data.get("type", "")), data=data, channel_id=_channel_of(data), connection=connection)


def _channel_of(data: dict[str, Any]) -> str | None:
    for field in _CHANNEL_FIELDS:
        value = data.get(field)
        if isinstance(value, dict) and value.get("id"):
            return str(value["id"])
    for field in _TARGETED_FIELDS:
        value = data.get(field)
        if isinstance(value, dict):
            target = str(value.get("target_uri", ""))
            if target.startswith("channel:"):
                return target.removeprefix("channel:")
    return None
