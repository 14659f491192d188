"""Who is on duty when, and whom the line rings: weekly rotations, overrides, escalation.

Pure rules over frozen dataclasses that mirror the rows of `core.models` field for field;
nothing here reads the clock, the environment or the database. Moments going in must be aware;
moments coming out are UTC. Hand-overs are wall-clock times in the roster's zone.

Decisions a caller may rely on:
- Week 0 of a rotation runs from its start date at the hand-over time to the next hand-over;
  in week N turn N mod len is on duty, primaries and secondaries rotating independently.
- A hand-over is at the same local time every week, across DST. A time the clock skips that
  night (02:30 in spring) is taken an hour later; one it passes twice, the first time.
- Periods are half-open, [starts_at, ends_at): at the hand-over instant the next one is on.
- An override wins over the rotation for its role and period; of overlapping overrides for
  one role, the one listed last (the most recent entry) wins.
- Two `Engineer` values are the same engineer when their ids are equal.
- An inactive engineer is never on duty: their rotation turns and overrides are gaps (an
  inactive engineer's override still displaces the rotation for its period, so the gap shows
  up in `roster_gaps` instead of silently waking someone who was relieved of that duty), and
  an escalation target naming them is skipped.
- `escalation_for` never rings nobody: it falls back to the configured default contact(s).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")
PRIMARY = "primary"
SECONDARY = "secondary"
ROLES = (PRIMARY, SECONDARY)
ROTATION = "rotation"
OVERRIDE = "override"
GAP = "gap"
DEFAULT_STEP_TIMEOUT_SECONDS = 25
E164 = re.compile(r"\+[1-9]\d{6,14}")
WEEK = timedelta(days=7)


def _as_utc(moment: datetime, what: str) -> datetime:
    # A naive time is ambiguous (local? UTC?); guessing would put the wrong engineer on duty.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()}: naive datetime refused, pass an aware one")
    return moment.astimezone(UTC)


def _check_role(role: str | None, where: str) -> None:
    if role not in ROLES:
        raise ValueError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class Contact:
    """Where an engineer is rung (mirrors `EngineerContact`): a `sip:` URI or an E.164 number."""

    kind: str
    address: str
    position: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("sip", "phone"):
            raise ValueError(f"contact {self.address!r}: kind {self.kind!r} is not sip or phone")
        if self.kind == "sip" and not self.address.lower().startswith(("sip:", "sips:")):
            raise ValueError(f"contact {self.address!r}: a sip contact is a URI like sip:user@host:port")
        if self.kind == "phone" and not E164.fullmatch(self.address):
            raise ValueError(f"contact {self.address!r}: a phone contact is an E.164 number like +31612345678")

    @classmethod
    def of(cls, address: str) -> Contact:
        """A contact from its address alone (a `sip:` URI, else an E.164 number)."""
        return cls("sip" if address.lower().startswith(("sip:", "sips:")) else "phone", address)


@dataclass(frozen=True)
class Engineer:
    """An engineer (mirrors `Engineer` with its contacts); identity is the id."""

    id: int
    name: str = field(compare=False)
    contacts: tuple[Contact, ...] = field(default=(), compare=False)
    email: str | None = field(default=None, compare=False)
    active: bool = field(default=True, compare=False)

    @property
    def contacts_in_order(self) -> tuple[Contact, ...]:
        """The contacts in the order they are rung (by position; ties keep the given order)."""
        return tuple(sorted(self.contacts, key=lambda contact: contact.position))


@dataclass(frozen=True)
class RotationMember:
    """One turn in a rotation (mirrors `RotationMember`)."""

    engineer: Engineer
    position: int
    role: str = PRIMARY

    def __post_init__(self) -> None:
        _check_role(self.role, f"rotation member {self.engineer.name!r}")


@dataclass(frozen=True)
class Rotation:
    """A weekly rotation (mirrors `Rotation` with its members); hand-over in local wall time."""

    start_date: date
    members: tuple[RotationMember, ...]
    handover_weekday: int = 0  # 0 = Monday, as date.weekday()
    handover_time: time = time(9, 0)
    name: str = "default"

    def __post_init__(self) -> None:
        if not 0 <= self.handover_weekday <= 6:
            raise ValueError(f"rotation {self.name!r}: hand-over weekday {self.handover_weekday} is not 0 (Monday) to 6")
        if self.handover_time.tzinfo is not None:
            raise ValueError(f"rotation {self.name!r}: hand-over time {self.handover_time} must be local, without a zone")
        turns = [(member.role, member.position) for member in self.members]
        if len(set(turns)) != len(turns):
            raise ValueError(f"rotation {self.name!r}: two members share a role and position")

    @classmethod
    def weekly(cls, start_date: date, primaries: Iterable[Engineer], secondaries: Iterable[Engineer] = (),
               handover_weekday: int = 0, handover_time: time = time(9, 0), name: str = "default") -> Rotation:
        """A rotation from two ordered lists of engineers, taking turns in that order."""
        members = [RotationMember(e, i, PRIMARY) for i, e in enumerate(primaries, 1)]
        members += [RotationMember(e, i, SECONDARY) for i, e in enumerate(secondaries, 1)]
        return cls(start_date, tuple(members), handover_weekday, handover_time, name)

    def turns(self, role: str) -> tuple[Engineer, ...]:
        """The engineers taking turns in `role`, in turn order."""
        in_role = sorted((m for m in self.members if m.role == role), key=lambda m: m.position)
        return tuple(member.engineer for member in in_role)


@dataclass(frozen=True)
class Override:
    """Someone on duty in a role for a period, whatever the rotation says (mirrors a `Shift`
    with source "override")."""

    engineer: Engineer
    starts_at: datetime
    ends_at: datetime
    role: str = PRIMARY
    note: str | None = None

    def __post_init__(self) -> None:
        where = f"override for {self.engineer.name!r}"
        object.__setattr__(self, "starts_at", _as_utc(self.starts_at, f"{where}: from"))
        object.__setattr__(self, "ends_at", _as_utc(self.ends_at, f"{where}: to"))
        if self.ends_at <= self.starts_at:
            raise ValueError(f"{where}: ends {self.ends_at.isoformat()}, not after it starts {self.starts_at.isoformat()}")
        _check_role(self.role, where)

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def swap(first: Engineer, first_period: tuple[datetime, datetime], second: Engineer,
         second_period: tuple[datetime, datetime], role: str = PRIMARY, note: str | None = None) -> tuple[Override, Override]:
    """Two engineers exchange duties: `second` takes `first_period` (which was `first`'s) and
    `first` takes `second_period`. Add both overrides to the roster."""
    return (Override(second, *first_period, role=role, note=note),
            Override(first, *second_period, role=role, note=note))  # fmt: skip


@dataclass(frozen=True)
class Roster:
    """A rotation (or none) with its overrides, in the zone where hand-over times are read."""

    rotation: Rotation | None = None
    overrides: tuple[Override, ...] = ()
    zone: ZoneInfo = LOCAL_ZONE


@dataclass(frozen=True)
class OnDuty:
    """Who holds each role at one moment; `source` says where the primary comes from
    ("rotation", "override", or "gap" when there is none), `secondary_source` likewise."""

    primary: Engineer | None
    secondary: Engineer | None
    source: str
    secondary_source: str = GAP

    def holder(self, role: str) -> Engineer | None:
        return self.primary if role == PRIMARY else self.secondary


@dataclass(frozen=True)
class ScheduledShift:
    """A period in which one engineer holds a role (mirrors `Shift`)."""

    engineer: Engineer
    role: str
    starts_at: datetime
    ends_at: datetime
    source: str


@dataclass(frozen=True)
class Gap:
    """A period in which nobody holds `role`."""

    starts_at: datetime
    ends_at: datetime
    role: str = PRIMARY


def _handover_at(rotation: Rotation, day: date, zone: ZoneInfo) -> datetime:
    # Built from the local date every week (never by adding 7 × 24 h), so DST cannot shift it;
    # fold=0 gives the documented choice for times the clock skips or repeats.
    return datetime.combine(day, rotation.handover_time, tzinfo=zone).astimezone(UTC)


def _handover_day_on_or_before(rotation: Rotation, day: date) -> date:
    return day - timedelta(days=(day.weekday() - rotation.handover_weekday) % 7)


def _week_at(rotation: Rotation, at: datetime, zone: ZoneInfo) -> int | None:
    """The rotation week `at` falls in (0 is the first); None before the rotation begins."""
    if at < _handover_at(rotation, rotation.start_date, zone):
        return None
    day = _handover_day_on_or_before(rotation, at.astimezone(zone).date())
    if _handover_at(rotation, day, zone) > at:
        day -= WEEK
    return (day - _handover_day_on_or_before(rotation, rotation.start_date)).days // 7


def _handovers_between(rotation: Rotation, start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    yield _handover_at(rotation, rotation.start_date, zone)
    day = _handover_day_on_or_before(rotation, start.astimezone(zone).date())
    while (moment := _handover_at(rotation, day, zone)) < end:
        yield moment
        day += WEEK


def _holder(roster: Roster, role: str, at: datetime) -> tuple[Engineer | None, str]:
    engineer, source = _scheduled_holder(roster, role, at)
    if engineer is None or not engineer.active:
        return None, GAP
    return engineer, source


def _scheduled_holder(roster: Roster, role: str, at: datetime) -> tuple[Engineer | None, str]:
    """Whom the overrides and the rotation put in `role`, active or not."""
    for override in reversed(roster.overrides):
        if override.role == role and override.covers(at):
            return override.engineer, OVERRIDE
    rotation = roster.rotation
    turns = rotation.turns(role) if rotation else ()
    week = _week_at(rotation, at, roster.zone) if rotation else None
    if week is None or not turns:
        return None, GAP
    return turns[week % len(turns)], ROTATION


def who_is_on_duty(roster: Roster, at: datetime) -> OnDuty:
    """The primary and secondary on duty at `at` (aware), each None where nobody is."""
    at = _as_utc(at, "moment")
    primary, primary_source = _holder(roster, PRIMARY, at)
    secondary, secondary_source = _holder(roster, SECONDARY, at)
    return OnDuty(primary, secondary, primary_source, secondary_source)


def _segments(roster: Roster, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at every moment the holder of a role may change."""
    cuts = {start, end}
    if roster.rotation:
        cuts.update(_handovers_between(roster.rotation, start, end, roster.zone))
    cuts.update(moment for o in roster.overrides for moment in (o.starts_at, o.ends_at))
    inside = sorted(moment for moment in cuts if start <= moment <= end)
    return list(zip(inside, inside[1:]))


def shifts_between(roster: Roster, start: datetime, end: datetime) -> list[ScheduledShift]:
    """Who holds which role in [start, end), as periods cut to that window; consecutive periods
    of one engineer in one role from one source are merged. Ordered by start, primary first."""
    start, end = _as_utc(start, "start"), _as_utc(end, "end")
    segments = _segments(roster, start, end)
    shifts: list[ScheduledShift] = []
    for role in ROLES:
        current: ScheduledShift | None = None
        for segment_start, segment_end in segments:
            engineer, source = _holder(roster, role, segment_start)
            if engineer is None:
                current = None
            elif current and current.engineer == engineer and current.source == source:
                current = shifts[-1] = replace(current, ends_at=segment_end)
            else:
                current = ScheduledShift(engineer, role, segment_start, segment_end, source)
                shifts.append(current)
    return sorted(shifts, key=lambda shift: (shift.starts_at, ROLES.index(shift.role)))


def schedule(roster: Roster, start: datetime, days: int = 7) -> list[ScheduledShift]:
    """`shifts_between` from `start` to the same local time `days` days later (what
    `nachtdienst oncall` shows)."""
    start = _as_utc(start, "start")
    # Wall-clock arithmetic in the zone: "7 days" ends at the same local time across DST.
    end = (start.astimezone(roster.zone) + timedelta(days=days)).astimezone(UTC)
    return shifts_between(roster, start, end)


def roster_gaps(roster: Roster, start: datetime, end: datetime, role: str = PRIMARY) -> list[Gap]:
    """The periods in [start, end) in which nobody holds `role`, merged, in order (what
    `nachtdienst roster check` reports)."""
    _check_role(role, "roster check")
    start, end = _as_utc(start, "start"), _as_utc(end, "end")
    gaps: list[Gap] = []
    covered_until = start
    for shift in shifts_between(roster, start, end):
        if shift.role != role:
            continue
        if shift.starts_at > covered_until:
            gaps.append(Gap(covered_until, shift.starts_at, role))
        covered_until = shift.ends_at
    if covered_until < end:
        gaps.append(Gap(covered_until, end, role))
    return gaps


@dataclass(frozen=True)
class EscalationTarget:
    """Whom a step rings: whoever holds `role`, or one fixed engineer (mirrors `EscalationTarget`)."""

    role: str | None = None
    engineer: Engineer | None = None

    def __post_init__(self) -> None:
        if (self.role is None) == (self.engineer is None):
            raise ValueError("an escalation target is a role or an engineer, exactly one of them")
        if self.role is not None:
            _check_role(self.role, "escalation target")


@dataclass(frozen=True)
class EscalationStep:
    """Targets rung at once for `timeout_seconds` (mirrors `EscalationStep`)."""

    position: int
    targets: tuple[EscalationTarget, ...]
    timeout_seconds: int = DEFAULT_STEP_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError(f"escalation step {self.position}: timeout {self.timeout_seconds} s must be positive")


@dataclass(frozen=True)
class EscalationPolicy:
    """Ordered escalation steps (mirrors `EscalationPolicy`)."""

    steps: tuple[EscalationStep, ...]
    name: str = "default"


@dataclass(frozen=True)
class ContactToRing:
    """One leg of a step; `engineer` is None for the configured default contact."""

    engineer: Engineer | None
    contact: Contact


@dataclass(frozen=True)
class EscalationStepPlan:
    """What the call flow rings in one step: all `contacts` at once, for `timeout_seconds`.
    `position` is the policy step's (for the dial log); `is_fallback` marks the default contact."""

    position: int
    contacts: tuple[ContactToRing, ...]
    timeout_seconds: int = DEFAULT_STEP_TIMEOUT_SECONDS
    is_fallback: bool = False


def _contacts_for(step: EscalationStep, on_duty: OnDuty) -> tuple[ContactToRing, ...]:
    legs: list[ContactToRing] = []
    rung: set[str] = set()
    for target in step.targets:
        engineer = target.engineer if target.engineer is not None else on_duty.holder(target.role)
        if engineer is None or not engineer.active:
            continue
        for contact in engineer.contacts_in_order:
            # Two targets may name one person (the primary, and the same engineer by name);
            # a second leg to one phone would only make it ring busy.
            if contact.address not in rung:
                rung.add(contact.address)
                legs.append(ContactToRing(engineer, contact))
    return tuple(legs)


Fallback = Contact | ContactToRing | Iterable[Contact | ContactToRing]


def _fallback_legs(fallback: Fallback) -> tuple[ContactToRing, ...]:
    given = (fallback,) if isinstance(fallback, (Contact, ContactToRing)) else tuple(fallback)
    legs = tuple(leg if isinstance(leg, ContactToRing) else ContactToRing(None, leg) for leg in given)
    if not legs:
        raise ValueError("no fallback contact: a gap in the roster would ring nobody")
    return legs


def escalation_for(roster: Roster, policy: EscalationPolicy, at: datetime, default_contact: Fallback,
                   fallback_timeout_seconds: int = DEFAULT_STEP_TIMEOUT_SECONDS) -> list[EscalationStepPlan]:
    """The steps to ring for a call at `at`, in policy order, each with its contacts in target
    order and each engineer's contact order. Targets nobody fills, inactive engineers and
    engineers without contacts are skipped, and so are steps left empty. Never empty: if nobody
    would be rung, one step ringing `default_contact` at once (one contact, or several, as
    `Contact` or as `ContactToRing` naming the engineer) for `fallback_timeout_seconds` is
    returned. An empty `default_contact` is refused (ValueError) even when it is not needed,
    so a configuration that could ring nobody is found before the night it would."""
    fallback = _fallback_legs(default_contact)
    on_duty = who_is_on_duty(roster, at)
    plans = []
    for step in sorted(policy.steps, key=lambda step: step.position):
        contacts = _contacts_for(step, on_duty)
        if contacts:
            plans.append(EscalationStepPlan(step.position, contacts, step.timeout_seconds))
    if plans:
        return plans
    # A gap in the roster must still reach a person: a customer whose production is down
    # should never hear that nobody could be rung.
    return [EscalationStepPlan(1, fallback, fallback_timeout_seconds, is_fallback=True)]


@dataclass(frozen=True)
class EscalationPeriod:
    """A period in which a call would ring the same `plans`."""

    starts_at: datetime
    ends_at: datetime
    plans: tuple[EscalationStepPlan, ...]


def escalation_between(roster: Roster, policy: EscalationPolicy, start: datetime, end: datetime, default_contact: Fallback,
                       fallback_timeout_seconds: int = DEFAULT_STEP_TIMEOUT_SECONDS) -> list[EscalationPeriod]:
    """What a call would ring at any moment of [start, end), as consecutive periods (what
    `nachtdienst roster check` says is rung instead in a gap)."""
    start, end = _as_utc(start, "start"), _as_utc(end, "end")
    periods: list[EscalationPeriod] = []
    for segment_start, segment_end in _segments(roster, start, end):
        plans = tuple(escalation_for(roster, policy, segment_start, default_contact, fallback_timeout_seconds))
        if periods and periods[-1].plans == plans:
            periods[-1] = replace(periods[-1], ends_at=segment_end)
        else:
            periods.append(EscalationPeriod(segment_start, segment_end, plans))
    return periods


# --- rotation weeks, for swaps and for reading the hand-over from the command line -------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {name: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
                  for name in (full, full[:3])}
_HANDOVER = re.compile(r"(?P<day>[a-z]+)\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})")


def parse_handover(text: str) -> tuple[int, time]:
    """("mon 09:00" | "Monday 9:00") -> (0, time(9, 0)); ValueError says what is expected."""
    match = _HANDOVER.fullmatch(text.strip().lower())
    if not match or match["day"] not in _WEEKDAY_NAMES:
        raise ValueError(f"{text!r}: not a weekday and time like 'mon 09:00'")
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)")
    return _WEEKDAY_NAMES[match["day"]], time(hour, minute)


def format_handover(rotation: Rotation) -> str:
    return f"{WEEKDAYS[rotation.handover_weekday]} {rotation.handover_time:%H:%M}"


def rotation_week(rotation: Rotation, at: datetime, zone: ZoneInfo = LOCAL_ZONE) -> tuple[datetime, datetime] | None:
    """The rotation week [hand-over, next hand-over) that `at` falls in (the first week may be
    short); None before the rotation begins."""
    at = _as_utc(at, "moment")
    week = _week_at(rotation, at, zone)
    if week is None:
        return None
    first_day = _handover_day_on_or_before(rotation, rotation.start_date)
    starts = max(_handover_at(rotation, first_day + week * WEEK, zone), _handover_at(rotation, rotation.start_date, zone))
    return starts, _handover_at(rotation, first_day + (week + 1) * WEEK, zone)


def rotation_week_of(rotation: Rotation, day: date, zone: ZoneInfo = LOCAL_ZONE) -> tuple[datetime, datetime] | None:
    """The rotation week holding `day` at the hand-over time: the week that begins that day
    when `day` is a hand-over day."""
    return rotation_week(rotation, _handover_at(rotation, day, zone), zone)


def next_week_of(rotation: Rotation, engineer: Engineer, role: str, after: datetime,
                 zone: ZoneInfo = LOCAL_ZONE) -> tuple[datetime, datetime] | None:
    """The first rotation week starting at or after `after` in which `engineer` has the turn
    in `role` (the rotation alone, overrides aside); None when they take no turns in it."""
    _check_role(role, "next week")
    turns = rotation.turns(role)
    if engineer not in turns:
        return None
    week = rotation_week(rotation, after, zone) or rotation_week_of(rotation, rotation.start_date, zone)
    assert week is not None  # the rotation's first week always exists
    if week[0] < _as_utc(after, "after"):
        week = rotation_week(rotation, week[1], zone)
    for _ in range(len(turns)):
        assert week is not None
        if _scheduled_holder(Roster(rotation, (), zone), role, week[0])[0] == engineer:
            return week
        week = rotation_week(rotation, week[1], zone)
    return None
