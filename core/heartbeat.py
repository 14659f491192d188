"""A service's sign of life: a file touched after every pass of its loop that reached the
database. Container healthchecks look at its age, so a service stuck or cut off from the
database goes unhealthy instead of looking fine."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import structlog

from core.settings import Settings

log = structlog.get_logger("heartbeat")


def worker_name() -> str:
    """This process as the leases it takes name it (host:pid): readable in the database, and
    unique among the services sharing one."""
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_file(settings: Settings, service: str) -> Path:
    return settings.resolved_data_dir / "run" / f"{service}.alive"


def beat(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError as exc:
        log.warning("heartbeat not written", path=str(path), error=str(exc))
