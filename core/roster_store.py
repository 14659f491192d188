"""The roster as the database keeps it, read into the pure values of `core.roster` and written back.

The rotation is the one named "default"; shifts with source "override" are the overrides, in
the order they were entered (the last one wins where they overlap). Every function takes a
Session and never commits: the caller decides the transaction. Nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core import models
from core import roster as rules
from core.phone import InvalidPhoneNumber, normalise
from core.settings import Settings

ROTATION_NAME = "default"
OVERRIDE_SOURCE = "override"


class NoFallback(Exception):
    """Nobody could be rung in a gap of the roster: no usable default contact, no active
    engineer with a contact. The message says what to configure."""


class _Engineers:
    """ORM engineers as roster values, each converted once per load."""

    def __init__(self) -> None:
        self._seen: dict[int, rules.Engineer] = {}

    def __call__(self, row: models.Engineer) -> rules.Engineer:
        if row.id not in self._seen:
            contacts = tuple(rules.Contact(c.kind, c.address, c.position) for c in row.contacts)
            self._seen[row.id] = rules.Engineer(row.id, row.name, contacts, row.email, bool(row.active))
        return self._seen[row.id]


def to_engineer(row: models.Engineer) -> rules.Engineer:
    return _Engineers()(row)


# --- reading ---------------------------------------------------------------------------------


def rotation_row(session: Session) -> models.Rotation | None:
    return session.scalar(
        select(models.Rotation)
        .where(models.Rotation.name == ROTATION_NAME)
        .options(selectinload(models.Rotation.members).selectinload(models.RotationMember.engineer).selectinload(models.Engineer.contacts))
    )


def override_rows(session: Session, ending_after: datetime | None = None) -> list[models.Shift]:
    """Overrides in the order they were entered; with `ending_after`, only those not over by then."""
    query = (
        select(models.Shift)
        .where(models.Shift.source == OVERRIDE_SOURCE)
        .options(selectinload(models.Shift.engineer).selectinload(models.Engineer.contacts))
        .order_by(models.Shift.id)
    )
    if ending_after is not None:
        query = query.where(models.Shift.ends_at > ending_after)
    return list(session.scalars(query))


def load_roster(session: Session, zone: ZoneInfo, overrides_ending_after: datetime | None = None) -> rules.Roster:
    """The roster (rotation and overrides) with hand-overs read in `zone`. `overrides_ending_after`
    leaves out overrides that are over by then, which changes nothing from that moment on."""
    engineer = _Engineers()
    row = rotation_row(session)
    rotation = None
    if row is not None:
        members = tuple(rules.RotationMember(engineer(m.engineer), m.position, m.role) for m in row.members)
        rotation = rules.Rotation(row.start_date, members, row.handover_weekday, row.handover_time, row.name)
    overrides = tuple(
        rules.Override(engineer(s.engineer), s.starts_at, s.ends_at, s.role, s.note)
        for s in override_rows(session, overrides_ending_after)
    )
    return rules.Roster(rotation, overrides, zone)


def standard_policy(step_timeout: int = rules.DEFAULT_STEP_TIMEOUT_SECONDS) -> rules.EscalationPolicy:
    """Step 1 rings the primary, step 2 the secondary, each for `step_timeout` seconds."""
    return rules.EscalationPolicy(
        (
            rules.EscalationStep(1, (rules.EscalationTarget(role=rules.PRIMARY),), step_timeout),
            rules.EscalationStep(2, (rules.EscalationTarget(role=rules.SECONDARY),), step_timeout),
        ),
        name="standard",
    )


def load_policy(session: Session, step_timeout: int = rules.DEFAULT_STEP_TIMEOUT_SECONDS) -> rules.EscalationPolicy:
    """The database's default policy (`is_default`; the oldest if several), else the standard one."""
    row = session.scalar(
        select(models.EscalationPolicy)
        .where(models.EscalationPolicy.is_default.is_(True))
        .options(
            selectinload(models.EscalationPolicy.steps)
            .selectinload(models.EscalationStep.targets)
            .selectinload(models.EscalationTarget.engineer)
            .selectinload(models.Engineer.contacts)
        )
        .order_by(models.EscalationPolicy.id)
        .limit(1)
    )
    if row is None:
        return standard_policy(step_timeout)
    engineer = _Engineers()
    steps = tuple(
        rules.EscalationStep(
            step.position,
            tuple(rules.EscalationTarget(role=t.role, engineer=engineer(t.engineer) if t.engineer else None) for t in step.targets),
            step.timeout_seconds,
        )
        for step in row.steps
    )
    return rules.EscalationPolicy(steps, row.name)


def fallback_contacts(session: Session, settings: Settings) -> tuple[rules.ContactToRing, ...]:
    """Whom a gap rings: `roster.default_contact` when set, else every active engineer's first
    contact (a whole team woken beats a customer reaching nobody). Raises NoFallback."""
    configured = settings.roster.default_contact
    if configured:
        return (rules.ContactToRing(None, _configured_contact(configured, settings.country)),)
    engineer = _Engineers()
    rows = session.scalars(
        select(models.Engineer)
        .where(models.Engineer.active.is_(True))
        .options(selectinload(models.Engineer.contacts))
        .order_by(models.Engineer.id)
    )
    legs = []
    for row in rows:
        value = engineer(row)
        if value.contacts:
            legs.append(rules.ContactToRing(value, value.contacts_in_order[0]))
    if not legs:
        raise NoFallback("nobody to ring in a gap of the roster: roster.default_contact is unset and no active engineer has a contact")
    return tuple(legs)


def _configured_contact(value: str, country: str) -> rules.Contact:
    try:
        if value.lower().startswith(("sip:", "sips:")):
            return rules.Contact("sip", value)
        return rules.Contact("phone", normalise(value, country, field="roster.default_contact"))
    except (InvalidPhoneNumber, ValueError) as exc:
        raise NoFallback(f"roster.default_contact is unusable: {exc}") from None


def escalation_plan(session: Session, settings: Settings, at: datetime) -> list[rules.EscalationStepPlan]:
    """What the line rings for a call at `at` (aware): the policy's steps for whoever is on duty,
    or the fallback contact(s) in one step. Never empty; raises NoFallback when even the
    fallback is nobody (no engineers at all, and no default contact)."""
    roster = load_roster(session, ZoneInfo(settings.timezone), overrides_ending_after=at)
    policy = load_policy(session, settings.roster.step_timeout)
    fallback = fallback_contacts(session, settings)
    return rules.escalation_for(roster, policy, at, fallback, settings.roster.step_timeout)


# --- writing ---------------------------------------------------------------------------------


def _refuse_inactive(engineers: Sequence[models.Engineer], what: str) -> None:
    inactive = sorted({e.name for e in engineers if not e.active})
    if inactive:
        names = ", ".join(repr(name) for name in inactive)
        raise ValueError(f"{what}: {names} {'is' if len(inactive) == 1 else 'are'} inactive and cannot be on duty")


def save_rotation(
    session: Session,
    start_date: date,
    primaries: Sequence[models.Engineer],
    secondaries: Sequence[models.Engineer] = (),
    handover_weekday: int = 0,
    handover_time: time = time(9, 0),
) -> models.Rotation:
    """Make "the" rotation this one, replacing its members (turns in the order given)."""
    if not primaries:
        raise ValueError("a rotation needs at least one primary")
    _refuse_inactive([*primaries, *secondaries], "rotation")
    # The rules check weekday and time before anything is written.
    rules.Rotation.weekly(start_date, map(to_engineer, primaries), map(to_engineer, secondaries), handover_weekday, handover_time)
    row = rotation_row(session)
    if row is None:
        row = models.Rotation(name=ROTATION_NAME, start_date=start_date)
        session.add(row)
    row.start_date, row.handover_weekday, row.handover_time = start_date, handover_weekday, handover_time
    row.members.clear()
    # Old turns go first: a new turn may take the same (role, position), which is unique.
    session.flush()
    for role, engineers in ((rules.PRIMARY, primaries), (rules.SECONDARY, secondaries)):
        row.members.extend(models.RotationMember(engineer=e, position=i, role=role) for i, e in enumerate(engineers, 1))
    session.flush()
    return row


def add_override(
    session: Session,
    engineer: models.Engineer,
    starts_at: datetime,
    ends_at: datetime,
    role: str = rules.PRIMARY,
    note: str | None = None,
) -> models.Shift:
    """`engineer` holds `role` in [starts_at, ends_at), whatever the rotation says."""
    _refuse_inactive([engineer], "override")
    checked = rules.Override(to_engineer(engineer), starts_at, ends_at, role, note)
    row = models.Shift(engineer=engineer, role=role, starts_at=checked.starts_at, ends_at=checked.ends_at, source=OVERRIDE_SOURCE, note=note)
    session.add(row)
    session.flush()
    return row


def remove_override(session: Session, override_id: int) -> models.Shift:
    """Delete one override; LookupError when there is no override with that id."""
    row = session.get(models.Shift, override_id)
    if row is None or row.source != OVERRIDE_SOURCE:
        raise LookupError(f"no override with id {override_id}")
    session.delete(row)
    session.flush()
    return row


def rotation_turns_of(session: Session, engineer_id: int) -> list[models.RotationMember]:
    """The turns `engineer_id` takes in the rotation."""
    return list(
        session.scalars(
            select(models.RotationMember)
            .join(models.Rotation)
            .where(models.Rotation.name == ROTATION_NAME, models.RotationMember.engineer_id == engineer_id)
            .order_by(models.RotationMember.role, models.RotationMember.position)
        )
    )


def overrides_of(session: Session, engineer_id: int, ending_after: datetime | None = None) -> list[models.Shift]:
    query = select(models.Shift).where(models.Shift.source == OVERRIDE_SOURCE, models.Shift.engineer_id == engineer_id)
    if ending_after is not None:
        query = query.where(models.Shift.ends_at > ending_after)
    return list(session.scalars(query.order_by(models.Shift.starts_at)))
