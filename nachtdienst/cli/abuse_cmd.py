"""`nachtdienst abuse …`: customers warned or blocked for calls that were not critical, and lifting blocks."""

from __future__ import annotations
