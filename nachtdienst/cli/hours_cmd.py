"""`nachtdienst hours …`: office hours and closures."""

from __future__ import annotations
