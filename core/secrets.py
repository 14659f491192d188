"""Secrets the line generates for itself, stored 0600 under DATA_DIR/secrets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.settings import Settings


def _read_or_create(path: Path) -> str:
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_urlsafe(24)
    # Create with 0600 from the start: the password is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def ari_password(settings: Settings) -> str:
    """The ARI password: the configured one, else the one generated on first use."""
    if settings.pbx.ari_password is not None:
        return settings.pbx.ari_password.get_secret_value()
    return _read_or_create(settings.secrets_dir / "ari_password")
