"""Files that survive a crash: recordings and the model are written once and must then be
whole, so a rename is made durable by syncing the directory that holds it."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Put `directory`'s entries (a rename, a new file) on disk."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
