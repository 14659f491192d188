"""`nachtdienst roster …`: rotations, overrides, gaps, and who is on call."""

from __future__ import annotations
