"""`nachtdienst hours …`: office hours and closures."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from core.models import OfficeClosure, utc_now
from core.office_hours import (
    WEEKDAYS,
    OfficeCalendar,
    format_interval,
    holidays_between,
    office_status,
    opening_hours_for,
)
from core.office_store import add_closure, list_closures, office_calendar, remove_closure
from nachtdienst.cli import app
from nachtdienst.cli.common import confirm, current_user, database, fail, parse_moment, print_json, settings

hours_app = typer.Typer(help="Office hours: schedule, public holidays and closures.", no_args_is_help=True)
closure_app = typer.Typer(help="Periods the office is closed whatever the schedule says.", no_args_is_help=True)
app.add_typer(hours_app, name="hours")
hours_app.add_typer(closure_app, name="closure")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"


def _local_period(day: date, period: tuple[datetime, datetime], zone: ZoneInfo) -> str:
    """08:30-17:00 on `day`'s clock; an end at the next midnight is 24:00."""
    start, end = (moment.astimezone(zone) for moment in period)
    midnight = end.date() > day and end.time() == time(0)
    return f"{start:%H:%M}-{'24:00' if midnight else f'{end:%H:%M}'}"


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _closure_dict(closure: OfficeClosure) -> dict[str, Any]:
    return {
        "id": closure.id,
        "starts_at": _iso(closure.starts_at),
        "ends_at": _iso(closure.ends_at),
        "reason": closure.reason,
        "created_at": _iso(closure.created_at),
        "created_by": closure.created_by,
    }


def _overview(calendar: OfficeCalendar, at: datetime, days: int, closures: list[OfficeClosure]) -> dict[str, Any]:
    """What `hours show` tells; `closures` are those not ended at `at`, as the calendar has them."""
    zone = calendar.zone
    status = office_status(at, calendar)
    first = at.astimezone(zone).date()
    last = first + timedelta(days=days - 1)
    window_start, window_end = _start_of(first, zone), _start_of(last + timedelta(days=1), zone)
    return {
        "at": _iso(at),
        "timezone": calendar.timezone,
        "schedule": str(calendar.schedule),
        "weekly": {weekday: [format_interval(interval) for interval in intervals]
                   for weekday, intervals in zip(WEEKDAYS, calendar.schedule.by_weekday, strict=True)},
        "public_holidays": calendar.holidays_enabled,
        "open": status.open,
        "reason": status.reason,
        "changes_at": _iso(status.changes_at),
        "days": [
            {
                "date": day.isoformat(),
                "weekday": WEEKDAYS[day.weekday()],
                "holiday": calendar.holiday_on(day),
                "periods": [{"opens_at": _iso(start), "closes_at": _iso(end), "local": _local_period(day, (start, end), zone)}
                            for start, end in opening_hours_for(day, calendar)],
            }
            for day in (first + timedelta(days=offset) for offset in range(days))
        ],
        "holidays": [{"date": day.isoformat(), "name": name} for day, name in holidays_between(first, last, calendar)],
        "closures": [_closure_dict(closure) for closure in closures
                     if closure.starts_at < window_end and window_start < closure.ends_at],
    }


def _print_overview(data: dict[str, Any], zone: ZoneInfo) -> None:
    at = datetime.fromisoformat(data["at"])
    holidays_note = "public holidays closed" if data["public_holidays"] else "public holidays not observed"
    typer.echo(f"office hours ({data['timezone']}): {data['schedule'] or 'never open'}; {holidays_note}")
    state = "open" if data["open"] else f"closed ({data['reason']})"
    if data["changes_at"]:
        change = f"{'closes' if data['open'] else 'opens'} {_local(datetime.fromisoformat(data['changes_at']), zone)}"
    else:
        change = "no change within 14 days"
    typer.echo(f"{_local(at, zone)}: {state}; {change}")

    table = Table("day", "open", title=f"next {len(data['days'])} day(s), {data['timezone']}", title_justify="left")
    for day in data["days"]:
        shown_day = f"{WEEKDAYS[date.fromisoformat(day['date']).weekday()]} {day['date']}"
        if day["holiday"]:
            hours = f"closed (holiday: {day['holiday']})"
        else:
            hours = ", ".join(period["local"] for period in day["periods"]) or "closed"
        table.add_row(shown_day, hours)
    Console().print(table)
    for holiday in data["holidays"]:
        typer.echo(f"holiday {holiday['date']}: {holiday['name']}")
    for closure in data["closures"]:
        starts, ends = (datetime.fromisoformat(closure[key]) for key in ("starts_at", "ends_at"))
        typer.echo(f"closure {closure['id']}: {_local(starts, zone)} to {_local(ends, zone)}: {closure['reason']}")


@hours_app.command("show")
def hours_show(
    at: str | None = typer.Option(None, "--at", help="ISO 8601 moment (default: now); without an offset, local time."),
    days: int = typer.Option(7, "--days", min=1, max=366, help="How many days of opening periods to show, from --at's day."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The weekly schedule, open or closed now (or at --at) and why, and the next days."""
    moment = parse_moment(at, "--at") if at else utc_now()
    with database() as session:
        calendar = office_calendar(settings(), session, moment)
        data = _overview(calendar, moment, days, list_closures(session, now=moment))
    if as_json:
        print_json(data)
        return
    _print_overview(data, calendar.zone)


@closure_app.command("add")
def closure_add(
    starts: str = typer.Option(..., "--from", help="ISO 8601 start; without an offset, local time."),
    ends: str = typer.Option(..., "--to", help="ISO 8601 end (not included); after --from."),
    reason: str = typer.Option(..., "--reason", help="Why the office is closed (shown in `hours show`)."),
) -> None:
    """Close the office for a period: the line treats it as outside office hours."""
    starts_at, ends_at = parse_moment(starts, "--from"), parse_moment(ends, "--to")
    if not reason.strip():
        fail("--reason is empty; say why the office is closed")
    if ends_at <= starts_at:
        fail(f"--to {ends!r} is not after --from {starts!r}")
    zone = ZoneInfo(settings().timezone)
    with database() as session:
        closure = add_closure(session, starts_at, ends_at, reason, created_by=current_user())
        session.commit()
        closure_id = closure.id
    typer.echo(f"closure {closure_id} added: {_local(starts_at, zone)} to {_local(ends_at, zone)}: {reason.strip()}")
    if ends_at <= utc_now():
        typer.echo("note: this closure has already ended; it only changes `hours show --at` for the past", err=True)


@closure_app.command("list")
def closure_list(
    include_ended: bool = typer.Option(False, "--all", help="Also closures that have ended."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Closures by start; by default those not yet ended."""
    with database() as session:
        rows = [_closure_dict(closure) for closure in list_closures(session, include_ended=include_ended)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no closures" if include_ended else "no closures ahead (--all shows those that ended)")
        return
    zone = ZoneInfo(settings().timezone)
    table = Table("id", "from", "to", "reason", "added by", title=f"closures ({zone.key})", title_justify="left")
    for row in rows:
        starts, ends = (datetime.fromisoformat(row[key]).astimezone(zone) for key in ("starts_at", "ends_at"))
        table.add_row(str(row["id"]), f"{starts:%Y-%m-%d %H:%M}", f"{ends:%Y-%m-%d %H:%M}", row["reason"], row["created_by"] or "")
    Console().print(table)


@closure_app.command("remove")
def closure_remove(
    closure_id: int = typer.Argument(..., help="The closure's id (see `hours closure list`)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Remove a closure: the schedule and holidays decide again for that period."""
    zone = ZoneInfo(settings().timezone)
    with database() as session:
        closure = session.get(OfficeClosure, closure_id)
        if closure is None:
            fail(f"no closure with id {closure_id}")
        confirm(f"Remove closure {closure_id} ({_local(closure.starts_at, zone)} to {_local(closure.ends_at, zone)}: "
                f"{closure.reason})?", yes)
        remove_closure(session, closure_id, by=current_user())
        session.commit()
    typer.echo(f"closure {closure_id} removed")
