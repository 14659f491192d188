"""`nachtdienst sla …`: service level agreements."""

from __future__ import annotations
