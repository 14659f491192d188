"""How roster values look in `--json` (stable keys, UTC ISO 8601) and to humans (local time)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core import models
from core import roster as rules


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def local(moment: datetime, zone: ZoneInfo) -> str:
    """`Mon 2026-03-30 09:00 CEST`: the zone's abbreviation shows which side of DST it is."""
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def period(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    return f"{local(starts_at, zone)} – {local(ends_at, zone)}"


def engineer_json(engineer: rules.Engineer | None) -> dict[str, Any] | None:
    if engineer is None:
        return None
    return {
        "id": engineer.id,
        "name": engineer.name,
        "email": engineer.email,
        "contacts": [{"kind": c.kind, "address": c.address} for c in engineer.contacts_in_order],
    }


def shift_json(shift: rules.ScheduledShift) -> dict[str, Any]:
    return {
        "engineer": shift.engineer.name,
        "engineer_id": shift.engineer.id,
        "role": shift.role,
        "starts_at": iso(shift.starts_at),
        "ends_at": iso(shift.ends_at),
        "source": shift.source,
    }


def gap_json(gap: rules.Gap) -> dict[str, Any]:
    return {"role": gap.role, "starts_at": iso(gap.starts_at), "ends_at": iso(gap.ends_at)}


def leg_json(leg: rules.ContactToRing) -> dict[str, Any]:
    return {"engineer": leg.engineer.name if leg.engineer else None, "kind": leg.contact.kind, "address": leg.contact.address}


def step_json(plan: rules.EscalationStepPlan) -> dict[str, Any]:
    return {
        "position": plan.position,
        "timeout_seconds": plan.timeout_seconds,
        "is_fallback": plan.is_fallback,
        "contacts": [leg_json(leg) for leg in plan.contacts],
    }


def override_json(row: models.Shift) -> dict[str, Any]:
    return {
        "id": row.id,
        "engineer": row.engineer.name,
        "engineer_id": row.engineer_id,
        "role": row.role,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "note": row.note,
    }


def rotation_json(rotation: rules.Rotation | None, zone: ZoneInfo) -> dict[str, Any] | None:
    if rotation is None:
        return None

    def turns(role: str) -> list[dict[str, Any]]:
        return [{"id": e.id, "name": e.name, "active": e.active} for e in rotation.turns(role)]

    return {
        "name": rotation.name,
        "start_date": rotation.start_date.isoformat(),
        "handover": rules.format_handover(rotation),
        "handover_weekday": rotation.handover_weekday,
        "handover_time": f"{rotation.handover_time:%H:%M}",
        "timezone": zone.key,
        "primaries": turns(rules.PRIMARY),
        "secondaries": turns(rules.SECONDARY),
    }


def names(engineers: Iterable[rules.Engineer]) -> str:
    """`Eva → Bob (inactive) → Cees`, the turn order."""
    return " → ".join(e.name + ("" if e.active else " (inactive)") for e in engineers) or "-"


def leg_text(leg: rules.ContactToRing) -> str:
    who = leg.engineer.name if leg.engineer else "default contact"
    return f"{who} {leg.contact.address}"


def step_text(plan: rules.EscalationStepPlan) -> str:
    label = "fallback" if plan.is_fallback else f"step {plan.position}"
    return f"{label} ({plan.timeout_seconds} s): " + ", ".join(leg_text(leg) for leg in plan.contacts)
