"""`nachtdienst billing …`: the monthly after-hours bill per customer."""

from __future__ import annotations
