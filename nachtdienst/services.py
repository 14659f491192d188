"""The line's long-running services, by name: each module has `run(settings)`, which blocks
until SIGTERM/SIGINT. `nachtdienst service NAME` runs one; the supervisor runs them all."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from core.settings import Settings

SERVICES: dict[str, str] = {
    "ari": "ari_app.service",
    "notify": "core.notify.service",
    "transcribe": "transcription.service",
    "agi": "agi.service",
}


def runner(name: str) -> Callable[[Settings], None]:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    return importlib.import_module(SERVICES[name]).run
