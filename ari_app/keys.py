"""Asking a caller (or an engineer) to press keys: a prompt that a key may interrupt, then a
wait. Keys pressed before the question are forgotten, so an impatient caller's earlier `1`
never answers a later question."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ari_app.channel import Channel, Playback

Media = str | Sequence[str]


async def _play(channel: Channel, media: Media) -> Playback:
    channel.clear_dtmf()
    return await channel.play(media if isinstance(media, str) else list(media))


async def ask(channel: Channel, media: Media, *, accept: str, timeout: float) -> str | None:
    """Play `media` and return the first key in `accept` pressed during it or within
    `timeout` seconds after it; other keys (garbage) are ignored. None when none came."""
    playback = await _play(channel, media)
    while not playback.done:
        key = await channel.wait_key_or(lambda: playback.done)
        if key and key in accept:
            await playback.stop()
            return key
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        key = await channel.wait_dtmf(remaining)
        if key is None:
            return None
        if key and key in accept:
            return key
    return None


async def collect_digits(channel: Channel, media: Media, *, timeout: float, max_keys: int = 24) -> str:
    """Play `media`, then gather keys until `#`, `max_keys` keys, or `timeout` seconds without a
    key (the first key interrupts the prompt). Returns what was typed, `#` included."""
    playback = await _play(channel, media)
    typed = ""
    while not playback.done:
        key = await channel.wait_key_or(lambda: playback.done)
        if key:
            await playback.stop()
            typed = key
            break
    while not typed.endswith("#") and len(typed) < max_keys:
        key = await channel.wait_dtmf(timeout)
        if key is None:
            break
        typed += key
    return typed
