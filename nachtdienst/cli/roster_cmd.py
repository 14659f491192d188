"""`nachtdienst roster …` and `nachtdienst oncall`: rotations, overrides, gaps, and who is on call."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import models
from core import roster as rules
from core import roster_store as store
from nachtdienst.cli import app
from nachtdienst.cli import roster_output as out
from nachtdienst.cli.common import confirm, database, fail, parse_moment, print_json, settings

roster_app = typer.Typer(help="The weekly rotation, overrides and swaps, and gaps in the roster.", no_args_is_help=True)
app.add_typer(roster_app, name="roster")

NO_FALLBACK_HINT = "; add an engineer (`nachtdienst engineers add`) or set roster.default_contact"


def _zone() -> ZoneInfo:
    return ZoneInfo(settings().timezone)


def _window(start: str | None, days: int) -> tuple[datetime, datetime]:
    """[start, start + days) with the days counted on the local calendar (DST-proof)."""
    begin = parse_moment(start, "--from") if start else datetime.now(UTC)
    return begin, (begin.astimezone(_zone()) + timedelta(days=days)).astimezone(UTC)


def _role(value: str, option: str = "--role") -> str:
    if value not in rules.ROLES:
        fail(f"{option} {value!r}: one of {', '.join(rules.ROLES)}")
    return value


def _engineer(session: Session, name: str, what: str, active: bool = True) -> models.Engineer:
    row = session.scalar(select(models.Engineer).where(models.Engineer.name == name))
    if row is None:
        known = ", ".join(session.scalars(select(models.Engineer.name).order_by(models.Engineer.name))) or "none yet"
        fail(f"{what} {name!r}: no such engineer (known: {known})")
    if active and not row.active:
        fail(f"{what} {name!r}: the engineer is inactive (`nachtdienst engineers edit {name!r} --active` first)")
    return row


def _engineers(session: Session, value: str | None, option: str) -> list[models.Engineer]:
    """The engineers named in a comma-separated list, in order; every unknown name is named."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    rows = {e.name: e for e in session.scalars(select(models.Engineer).where(models.Engineer.name.in_(names)))}
    unknown = [name for name in names if name not in rows]
    if unknown:
        known = ", ".join(session.scalars(select(models.Engineer.name).order_by(models.Engineer.name))) or "none yet"
        fail(f"{option}: no engineer named {', '.join(map(repr, unknown))} (known: {known})")
    inactive = [name for name in names if not rows[name].active]
    if inactive:
        fail(f"{option}: {', '.join(map(repr, inactive))} inactive; an inactive engineer cannot take turns")
    return [rows[name] for name in names]


def _fallback(session: Session) -> tuple[rules.ContactToRing, ...]:
    try:
        return store.fallback_contacts(session, settings())
    except store.NoFallback as exc:
        fail(f"{exc}{NO_FALLBACK_HINT}")


# --- set and show ----------------------------------------------------------------------------


@roster_app.command("set")
def roster_set(
    start: str = typer.Option(..., "--start", help="First day of the rotation, YYYY-MM-DD (week 0 runs from its hand-over)."),
    primary: str = typer.Option(..., "--primary", help="Primaries in turn order: NAME[,NAME…]."),
    secondary: str | None = typer.Option(None, "--secondary", help="Secondaries in turn order: NAME[,NAME…]."),
    handover: str = typer.Option("mon 09:00", "--handover", help="Weekday and local time of the weekly hand-over."),
    yes: bool = typer.Option(False, "--yes", help="Replace an existing rotation without asking."),
) -> None:
    """Set the weekly rotation: one primary (and secondary) per week, taking turns in order."""
    try:
        start_date = date.fromisoformat(start.strip())
    except ValueError:
        fail(f"--start {start!r}: not a date like 2026-03-02")
    try:
        weekday, at = rules.parse_handover(handover)
    except ValueError as exc:
        fail(f"--handover {exc}")
    with database() as session:
        primaries = _engineers(session, primary, "--primary")
        if not primaries:
            fail("--primary: name at least one engineer")
        secondaries = _engineers(session, secondary, "--secondary")
        existing = store.load_roster(session, _zone()).rotation
        if existing is not None and existing.members:
            confirm(
                f"Replace the rotation from {existing.start_date} (primary {out.names(existing.turns(rules.PRIMARY))})?", yes
            )
        store.save_rotation(session, start_date, primaries, secondaries, weekday, at)
        session.commit()
    typer.echo(
        f"rotation set from {start_date}, hand-over {handover.strip()} ({settings().timezone}); "
        f"primary {' → '.join(e.name for e in primaries)}"
        + (f"; secondary {' → '.join(e.name for e in secondaries)}" if secondaries else "")
    )


@roster_app.command("show")
def roster_show(
    start: str | None = typer.Option(None, "--from", help="ISO 8601; without offset local time. Default: now."),
    days: int = typer.Option(14, "--days", min=1, max=366, help="How many days of shifts to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The rotation, overrides and shifts in a period, in local time.

    JSON: {"timezone", "from", "to",
     "rotation": {"name", "start_date", "handover", "handover_weekday",
                  "handover_time", "timezone",
                  "primaries": [{"id", "name", "active"}],
                  "secondaries": the same} | null,
     "overrides": as in `roster overrides --json`,
     "shifts": [{"engineer", "engineer_id", "role", "starts_at",
                 "ends_at", "source"}],
     "gaps": [{"role", "starts_at", "ends_at"}]}"""
    begin, end = _window(start, days)
    zone = _zone()
    with database() as session:
        roster = store.load_roster(session, zone, overrides_ending_after=begin)
        overrides = [out.override_json(row) for row in store.override_rows(session, begin) if row.starts_at < end]
    shifts = rules.shifts_between(roster, begin, end)
    gaps = [gap for role in rules.ROLES for gap in rules.roster_gaps(roster, begin, end, role)]
    if as_json:
        print_json(
            {
                "timezone": zone.key,
                "from": out.iso(begin),
                "to": out.iso(end),
                "rotation": out.rotation_json(roster.rotation, zone),
                "overrides": overrides,
                "shifts": [out.shift_json(s) for s in shifts],
                "gaps": [out.gap_json(g) for g in gaps],
            }
        )
        return
    rotation = roster.rotation
    if rotation is None:
        typer.echo("no rotation yet (`nachtdienst roster set`)")
    else:
        typer.echo(f"rotation from {rotation.start_date}, hand-over {rules.format_handover(rotation)} ({zone.key})")
        typer.echo(f"  primary:   {out.names(rotation.turns(rules.PRIMARY))}")
        typer.echo(f"  secondary: {out.names(rotation.turns(rules.SECONDARY))}")
    _print_overrides(overrides, zone)
    _print_shifts(shifts, gaps, zone)


def _print_overrides(rows: list[dict], zone: ZoneInfo) -> None:
    # Plain lines rather than a table: a period in local time is too wide to share a terminal
    # line with four other columns, and lines are easy to grep.
    if not rows:
        typer.echo("no overrides")
        return
    typer.echo("overrides:")
    for row in rows:
        starts, ends = (datetime.fromisoformat(row[key]) for key in ("starts_at", "ends_at"))
        note = f"  ({row['note']})" if row["note"] else ""
        typer.echo(f"  #{row['id']} {row['engineer']} {row['role']} {out.period(starts, ends, zone)}{note}")


def _print_shifts(shifts: list[rules.ScheduledShift], gaps: list[rules.Gap], zone: ZoneInfo) -> None:
    typer.echo("shifts:" if shifts else "no shifts")
    for shift in shifts:
        typer.echo(f"  {shift.role:<9} {out.period(shift.starts_at, shift.ends_at, zone)}  {shift.engineer.name} ({shift.source})")
    for gap in gaps:
        typer.echo(f"{gap.role} gap: {out.period(gap.starts_at, gap.ends_at, zone)}")


# --- overrides and swaps ---------------------------------------------------------------------


@roster_app.command("override")
def roster_override(
    name: str = typer.Argument(..., help="The engineer who takes the duty."),
    start: str = typer.Option(..., "--from", help="ISO 8601; without offset local time."),
    end: str = typer.Option(..., "--to", help="ISO 8601, after --from; the duty ends at this moment."),
    role: str = typer.Option(rules.PRIMARY, "--role", help="primary or secondary."),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the override)."),
) -> None:
    """Put an engineer on duty in a role for a period, whatever the rotation says."""
    role = _role(role)
    begin, finish = parse_moment(start, "--from"), parse_moment(end, "--to")
    if finish <= begin:
        fail(f"--to {end!r}: not after --from {start!r}")
    with database() as session:
        engineer = _engineer(session, name, "engineer")
        row = store.add_override(session, engineer, begin, finish, role, note)
        session.commit()
        typer.echo(f"override {row.id}: {name} {role} {out.period(begin, finish, _zone())}")


@roster_app.command("overrides")
def roster_overrides(
    everything: bool = typer.Option(False, "--all", help="Also overrides that are over."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Overrides not over yet (all with --all), in the order they start.

    JSON: [{"id", "engineer", "engineer_id", "role", "starts_at",
            "ends_at", "note"}]"""
    with database() as session:
        rows = store.override_rows(session, None if everything else datetime.now(UTC))
        listed = [out.override_json(row) for row in sorted(rows, key=lambda row: (row.starts_at, row.id))]
    if as_json:
        print_json(listed)
        return
    _print_overrides(listed, _zone())


@roster_app.command("unoverride")
def roster_unoverride(
    override_id: int = typer.Argument(..., help="The override's id (see `roster overrides`)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
) -> None:
    """Remove an override: the rotation applies again for its period."""
    with database() as session:
        row = session.get(models.Shift, override_id)
        if row is None or row.source != store.OVERRIDE_SOURCE:
            fail(f"override {override_id}: no such override (see `nachtdienst roster overrides --all`)")
        confirm(f"Remove override {override_id} ({row.engineer.name} {row.role} {out.period(row.starts_at, row.ends_at, _zone())})?", yes)
        store.remove_override(session, override_id)
        session.commit()
    typer.echo(f"override {override_id} removed")


@roster_app.command("swap")
def roster_swap(
    first: str = typer.Argument(..., help="The engineer whose week is taken over."),
    second: str = typer.Argument(..., help="The engineer who takes it, and gives one of theirs in return."),
    week_of: str = typer.Option(..., "--week-of", help="A day (YYYY-MM-DD) of FIRST's rotation week to swap."),
    and_week_of: str | None = typer.Option(
        None, "--and-week-of", help="A day of SECOND's week that FIRST takes instead. Default: SECOND's next turn after it."
    ),
    role: str = typer.Option(rules.PRIMARY, "--role", help="primary or secondary."),
    note: str | None = typer.Option(None, "--note", help="Why (kept with both overrides)."),
) -> None:
    """Two engineers exchange rotation weeks (stored as two overrides).

    SECOND takes FIRST's week, FIRST takes SECOND's; `roster overrides`
    lists both, `roster unoverride` undoes either."""
    role = _role(role)
    days = [_date(week_of, "--week-of")] + ([_date(and_week_of, "--and-week-of")] if and_week_of else [])
    zone = _zone()
    with database() as session:
        rows = [_engineer(session, first, "engineer"), _engineer(session, second, "engineer")]
        if rows[0].id == rows[1].id:
            fail(f"{first!r} cannot swap with themselves")
        rotation = store.load_roster(session, zone).rotation
        if rotation is None:
            fail("no rotation to swap weeks in (`nachtdienst roster set` first)")
        a, b = (store.to_engineer(row) for row in rows)
        first_week = _week_held(rotation, a, role, days[0], "--week-of", zone)
        if and_week_of:
            second_week = _week_held(rotation, b, role, days[1], "--and-week-of", zone)
        else:
            second_week = rules.next_week_of(rotation, b, role, first_week[1], zone)
            if second_week is None:
                fail(f"{second!r} takes no {role} turns in the rotation; use `nachtdienst roster override` instead")
        reason = f"swap {first} ↔ {second}" + (f": {note}" if note else "")
        for override in rules.swap(a, first_week, b, second_week, role, reason):
            store.add_override(session, rows[0] if override.engineer == a else rows[1], override.starts_at, override.ends_at, role, reason)
        session.commit()
    typer.echo(f"{second} takes {first}'s {role} week {out.period(*first_week, zone)}")
    typer.echo(f"{first} takes {second}'s {role} week {out.period(*second_week, zone)}")


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} {value!r}: not a date like 2026-03-02")


def _week_held(rotation: rules.Rotation, engineer: rules.Engineer, role: str, day: date, option: str,
               zone: ZoneInfo) -> tuple[datetime, datetime]:
    week = rules.rotation_week_of(rotation, day, zone)
    if week is None:
        fail(f"{option} {day}: before the rotation begins ({rotation.start_date})")
    holder = rules.who_is_on_duty(rules.Roster(rotation, (), zone), week[0]).holder(role)
    if holder != engineer:
        fail(f"{option} {day}: {engineer.name!r} has no {role} turn that week ({holder.name if holder else 'nobody'} has)")
    return week


# --- check -----------------------------------------------------------------------------------

CHECK_OK, CHECK_GAPS, CHECK_FAILED = 0, 1, 2


@roster_app.command("check")
def roster_check(
    start: str | None = typer.Option(None, "--from", help="ISO 8601; without offset local time. Default: now."),
    days: int = typer.Option(28, "--days", min=1, max=366, help="How many days ahead to check."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Report gaps in the roster and whom a call in each gap rings instead.

    Exit codes, for cron:
    0 = no primary gaps (secondary gaps are listed, but allowed);
    1 = primary gaps, each still reaching someone (secondary or fallback);
    2 = could not vouch for the line: bad options, database down, or a gap
        that would ring nobody (no roster.default_contact, no active
        engineer with a contact).

    JSON: {"from", "to", "ok", "warnings": list of text,
     "fallback": [{"engineer", "kind", "address"}] | null,
     "gaps": [{"role", "starts_at", "ends_at",
               "rung_instead": [{"starts_at", "ends_at", "escalation":
                   list as in `oncall --json`}]}]}"""
    try:
        code = _check(start, days, as_json)
    except typer.Exit as exc:
        # fail() exits 1, which here would read as "gaps": an error is "could not check".
        raise typer.Exit(CHECK_FAILED if exc.exit_code else 0) from None
    raise typer.Exit(code)


def _check(start: str | None, days: int, as_json: bool) -> int:
    begin, end = _window(start, days)
    zone = _zone()
    with database() as session:
        roster = store.load_roster(session, zone, overrides_ending_after=begin)
        policy = store.load_policy(session, settings().roster.step_timeout)
        fallback: tuple[rules.ContactToRing, ...] | None = None
        no_fallback = ""
        try:
            fallback = store.fallback_contacts(session, settings())
        except store.NoFallback as exc:
            no_fallback = str(exc)
    gaps = [gap for role in rules.ROLES for gap in rules.roster_gaps(roster, begin, end, role)]
    if gaps and fallback is None:
        fail(f"{no_fallback}: calls in the {len(gaps)} gap(s) would reach nobody{NO_FALLBACK_HINT}")
    warnings = _warnings(roster, begin, end)
    timeout = settings().roster.step_timeout
    covered = [(gap, rules.escalation_between(roster, policy, gap.starts_at, gap.ends_at, fallback or (), timeout)) for gap in gaps]
    primary_gaps = [gap for gap in gaps if gap.role == rules.PRIMARY]
    if as_json:
        print_json(
            {
                "from": out.iso(begin),
                "to": out.iso(end),
                "ok": not primary_gaps,
                "fallback": [out.leg_json(leg) for leg in fallback] if fallback else None,
                "gaps": [
                    out.gap_json(gap)
                    | {
                        "rung_instead": [
                            {"starts_at": out.iso(p.starts_at), "ends_at": out.iso(p.ends_at), "escalation": [out.step_json(s) for s in p.plans]}
                            for p in periods
                        ]
                    }
                    for gap, periods in covered
                ],
                "warnings": warnings,
            }
        )
    else:
        for warning in warnings:
            typer.echo(f"warning: {warning}")
        for gap, periods in covered:
            typer.echo(f"{gap.role} gap: {out.period(gap.starts_at, gap.ends_at, zone)}")
            for p in periods:
                rung = "; ".join(out.step_text(step) for step in p.plans)
                typer.echo(f"  {out.period(p.starts_at, p.ends_at, zone)} a call rings {rung}")
        verdict = f"{len(primary_gaps)} primary gap(s)" if primary_gaps else "no primary gaps"
        typer.echo(f"{verdict} from {out.local(begin, zone)} to {out.local(end, zone)}")
    return CHECK_GAPS if primary_gaps else CHECK_OK


def _warnings(roster: rules.Roster, begin: datetime, end: datetime) -> list[str]:
    """Why some gaps are there: inactive engineers still scheduled."""
    warnings = []
    if roster.rotation is not None:
        for role in rules.ROLES:
            for turn, engineer in enumerate(roster.rotation.turns(role), 1):
                if not engineer.active:
                    warnings.append(f"{engineer.name} is inactive but has {role} turn {turn} in the rotation")
    for override in roster.overrides:
        if not override.engineer.active and override.starts_at < end and override.ends_at > begin:
            warnings.append(f"{override.engineer.name} is inactive but has a {override.role} override")
    return warnings


# --- oncall ----------------------------------------------------------------------------------


@app.command("oncall")
def oncall(
    at: str | None = typer.Option(None, "--at", help="ISO 8601; without offset local time. Default: now."),
    days: int = typer.Option(7, "--days", min=1, max=366, help="How many days of shifts to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Who is on duty now (or --at), what a call then rings, the next days.

    --json is a stable interface (times ISO 8601 in UTC):
    {"at", "timezone",
     "primary": {"id", "name", "email",
                 "contacts": [{"kind": "sip" | "phone", "address"}]} | null,
     "secondary": the same | null,
     "source": "rotation" | "override" | "gap"  (the primary's),
     "secondary_source": the same for the secondary,
     "escalation": [{"position", "timeout_seconds", "is_fallback",
                     "contacts": [{"engineer": name | null, "kind",
                                   "address"}]}],
     "shifts": [{"engineer", "engineer_id", "role", "starts_at",
                 "ends_at", "source"}],
     "gaps": [{"role", "starts_at", "ends_at"}]}

    "escalation" is never empty: in a gap it rings the fallback
    (is_fallback true): roster.default_contact, else every active
    engineer's first contact. No engineers and no default contact at
    all is an error (exit 1)."""
    moment = parse_moment(at, "--at") if at else datetime.now(UTC)
    zone = _zone()
    timeout = settings().roster.step_timeout
    with database() as session:
        roster = store.load_roster(session, zone, overrides_ending_after=moment)
        policy = store.load_policy(session, timeout)
        fallback = _fallback(session)
    on_duty = rules.who_is_on_duty(roster, moment)
    escalation = rules.escalation_for(roster, policy, moment, fallback, timeout)
    shifts = rules.schedule(roster, moment, days)
    end = (moment.astimezone(zone) + timedelta(days=days)).astimezone(UTC)
    gaps = [gap for role in rules.ROLES for gap in rules.roster_gaps(roster, moment, end, role)]
    if as_json:
        print_json(
            {
                "at": out.iso(moment),
                "timezone": zone.key,
                "primary": out.engineer_json(on_duty.primary),
                "secondary": out.engineer_json(on_duty.secondary),
                "source": on_duty.source,
                "secondary_source": on_duty.secondary_source,
                "escalation": [out.step_json(step) for step in escalation],
                "shifts": [out.shift_json(s) for s in shifts],
                "gaps": [out.gap_json(g) for g in gaps],
            }
        )
        return
    typer.echo(f"on duty at {out.local(moment, zone)}:")
    for role, engineer, source in (("primary", on_duty.primary, on_duty.source), ("secondary", on_duty.secondary, on_duty.secondary_source)):
        typer.echo(f"  {role + ':':<11}{engineer.name + f' ({source})' if engineer else 'nobody (gap)'}")
    typer.echo("a call then rings:")
    for step in escalation:
        typer.echo(f"  {out.step_text(step)}")
    _print_shifts(shifts, gaps, zone)
