"""Which path a call to the line takes now, as `pbx status` tells the sysadmin: the ARI app
(its Stasis app registered), else the AGI path (the FastAGI server answers), else the static
path (the contacts the app set and a recorded message). And when a call last took a fallback path
since Asterisk started, as the dialplan notes it in the global ND_LAST_FALLBACK
("<path> <epoch>")."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from core.secrets import ari_password
from core.settings import Settings
from pbx.ari_probe import AriUnreachable, ari_get

LAST_FALLBACK_VARIABLE = "ND_LAST_FALLBACK"


@dataclass(frozen=True)
class CallPath:
    now: str  # ari | agi | static
    why: str
    last_fallback: str | None = None  # agi | static
    last_fallback_at: datetime | None = None


def agi_host(settings: Settings) -> str:
    """Where Asterisk reaches the FastAGI server: agi.host, else its bind address (a server
    on every address: loopback)."""
    if settings.agi.host:
        return settings.agi.host
    return "127.0.0.1" if settings.agi.bind in ("0.0.0.0", "::") else settings.agi.bind


def agi_answers(settings: Settings, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((agi_host(settings), settings.agi.port), timeout=timeout):
            return True
    except OSError:
        return False


def call_path(settings: Settings) -> CallPath:
    """Raises AriUnreachable when Asterisk does not answer (then no call gets through at all)."""
    password = ari_password(settings)

    def get(path: str):
        return ari_get(settings.ari_url, settings.pbx.ari_user, password, path)

    last, last_at = _last_fallback(get)
    try:
        get(f"/applications/{quote(settings.pbx.ari_app, safe='')}")
        return CallPath("ari", f"the Stasis app {settings.pbx.ari_app!r} is registered", last, last_at)
    except AriUnreachable as exc:
        if "HTTP 404" not in str(exc):
            raise
    if agi_answers(settings):
        return CallPath("agi", "the ARI app is not registered; the FastAGI server answers", last, last_at)
    return CallPath("static", "neither the ARI app nor the FastAGI server answers", last, last_at)


def _last_fallback(get) -> tuple[str | None, datetime | None]:
    try:
        value = (get(f"/asterisk/variable?variable={LAST_FALLBACK_VARIABLE}") or {}).get("value") or ""
    except AriUnreachable:
        return None, None
    path, _, epoch = value.partition(" ")
    if path not in ("agi", "static") or not epoch.isdigit():
        return None, None
    return path, datetime.fromtimestamp(int(epoch), UTC)
