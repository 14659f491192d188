"""`nachtdienst incidents …`: triage, the SLA clock and logged work."""

from __future__ import annotations
