"""Office hours: when the office answers the line itself, and when the after-hours flow runs.

Pure rules over frozen values; nothing here reads the clock, the environment or the database.
Moments going in must be aware (any zone); moments coming out are UTC. The weekly schedule is
wall-clock time in the calendar's zone.

Decisions a caller may rely on:
- Intervals are half-open, [start, end): open at the opening minute, closed at the closing one.
- An end of 00:00 (written "24:00") means midnight at the end of that day. Hours past
  midnight belong to the next day's schedule ("fri 22:00-24:00; sat 00:00-02:00").
- Across DST, a time the clock skips (02:30 on the last Sunday of March) is taken an hour
  later, and one it passes twice (02:30 in October) the first time it does; an interval that
  thereby ends before it starts (02:30-03:00 that March night) is closed that day.
- Precedence: a closure wins over everything, then a public holiday (the whole local day),
  then the weekly schedule.
- Public holidays are the `holidays` package's defaults for the country (category "public").
  For NL these include Goede Vrijdag, although most Dutch employers work then, Bevrijdingsdag
  only in lustrum years (2025, 2030, …), and Koningsdag on the 26th when the 27th is a Sunday.
  A company with other days off disables holidays and lists its days off as closures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import groupby
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
END_OF_DAY = time(0)  # as the end of an interval: midnight at the end of the day, "24:00"
SEARCH_HORIZON = timedelta(days=14)
OPEN = "open"
OUTSIDE_SCHEDULE = "weekend/outside schedule"
# Without an explicit language `holidays` picks one from the process locale (LANG), so the
# same calendar would name King's Day differently on two servers.
HOLIDAY_NAMES_LANGUAGE = "en_US"

OpeningInterval = tuple[time, time]
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_PART = re.compile(r"(?P<days>[a-z]+(?:\s*[-,]\s*[a-z]+)*)\s+(?P<hours>\S.*)")


def _minutes(clock: time, *, is_end: bool) -> int:
    return 24 * 60 if is_end and clock == END_OF_DAY else clock.hour * 60 + clock.minute


def format_interval(interval: OpeningInterval) -> str:
    """An interval as text, like 08:30-17:00; an end at midnight is written 24:00."""
    start, end = interval
    return f"{start:%H:%M}-{'24:00' if end == END_OF_DAY else f'{end:%H:%M}'}"


def _parse_clock(text: str, *, is_end: bool, where: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
    if is_end and (hour, minute) == (24, 0):
        return END_OF_DAY
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"{where}: {text.strip()!r} is not a time HH:MM (00:00 to 23:59, or 24:00 as an end)")
    return time(hour, minute)


def _parse_days(text: str, where: str) -> list[int]:
    days: list[int] = []
    for day_range in text.split(","):
        first, _, last = (name.strip() for name in day_range.partition("-"))
        for name in filter(None, (first, last)):
            if name not in WEEKDAYS:
                raise ValueError(f"{where}: {name!r} is not a weekday ({', '.join(WEEKDAYS)})")
        first_day, last_day = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if last_day < first_day:
            raise ValueError(f"{where}: day range {first}-{last} runs backwards; the week starts on mon")
        days += range(first_day, last_day + 1)
    return days


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening intervals per weekday, Monday first, in local wall-clock time.

    `by_weekday` holds seven tuples of (start, end), kept sorted by start. Construction refuses
    an interval that does not end after it starts, or that overlaps another on the same day,
    with a `ValueError` naming the weekday and the interval. An empty day is closed all day.
    """

    by_weekday: tuple[tuple[OpeningInterval, ...], ...]

    def __post_init__(self) -> None:
        if len(self.by_weekday) != 7:
            raise ValueError(f"office hours: {len(self.by_weekday)} weekdays given, a week has 7 (mon first)")
        days = tuple(tuple(sorted(intervals, key=lambda interval: _minutes(interval[0], is_end=False)))
                     for intervals in self.by_weekday)
        for weekday, intervals in zip(WEEKDAYS, days, strict=True):
            for index, (start, end) in enumerate(intervals):
                where = f"office hours {weekday}: {format_interval((start, end))}"
                if any(clock.tzinfo or clock.second or clock.microsecond for clock in (start, end)):
                    raise ValueError(f"{where} must be whole minutes of local time, without a zone")
                if _minutes(start, is_end=False) >= _minutes(end, is_end=True):
                    raise ValueError(f"{where} does not end after it starts; split hours past midnight at 24:00")
                if index and _minutes(start, is_end=False) < _minutes(intervals[index - 1][1], is_end=True):
                    raise ValueError(f"office hours {weekday}: {format_interval(intervals[index - 1])} overlaps "
                                     f"{format_interval((start, end))}")
        object.__setattr__(self, "by_weekday", days)

    @classmethod
    def parse(cls, text: str) -> WeeklySchedule:
        """A schedule from its text form, e.g. "mon-fri 08:30-12:00,13:00-17:00; sat 10:00-12:00".

        Parts are separated by ";", each naming days (a day, a range "mon-fri", or a list
        "mon,wed") and one or more intervals separated by ",". A day named in two parts gets
        the intervals of both. Blank text means no opening hours at all. Errors name the part.
        """
        hours: list[list[OpeningInterval]] = [[] for _ in WEEKDAYS]
        for part in filter(None, (part.strip() for part in text.split(";"))):
            where = f"office hours {part!r}"
            match = _PART.fullmatch(part.lower())
            if not match:
                raise ValueError(f"{where}: expected days and hours, like 'mon-fri 08:30-17:00'")
            intervals = []
            for interval in match["hours"].split(","):
                start, dash, end = interval.partition("-")
                if not dash:
                    raise ValueError(f"{where}: {interval.strip()!r} is not an interval HH:MM-HH:MM")
                intervals.append((_parse_clock(start, is_end=False, where=where),
                                  _parse_clock(end, is_end=True, where=where)))
            for weekday in _parse_days(match["days"], where):
                hours[weekday] += intervals
        return cls(tuple(map(tuple, hours)))

    def __str__(self) -> str:
        """The text form `parse` reads back, consecutive days with equal hours as a range."""
        parts = []
        for intervals, same_hours in groupby(zip(WEEKDAYS, self.by_weekday), key=lambda day: day[1]):
            days = [weekday for weekday, _ in same_hours]
            if intervals:
                day_range = days[0] if len(days) == 1 else f"{days[0]}-{days[-1]}"
                parts.append(f"{day_range} {','.join(map(format_interval, intervals))}")
        return "; ".join(parts)


DEFAULT_SCHEDULE = WeeklySchedule.parse("mon-fri 08:30-17:00")


def _as_utc(moment: datetime, what: str) -> datetime:
    # A naive time is ambiguous (local? UTC?); a wrong guess tells a caller at 07:45 "open".
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()}: naive datetime refused, pass an aware one")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Closure:
    """A period the office is closed whatever the schedule says, [starts_at, ends_at).
    Both ends must be aware and are kept in UTC; a closure must end after it starts and say why."""

    starts_at: datetime
    ends_at: datetime
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            # A caller is told "closed because: …"; an empty reason tells nobody anything.
            raise ValueError("closure: the reason is empty")
        starts_at = _as_utc(self.starts_at, f"closure {self.reason!r}: start")
        ends_at = _as_utc(self.ends_at, f"closure {self.reason!r}: end")
        if ends_at <= starts_at:
            raise ValueError(f"closure {self.reason!r}: ends at {self.ends_at.isoformat()}, "
                             f"not after it starts at {self.starts_at.isoformat()}")
        object.__setattr__(self, "starts_at", starts_at)
        object.__setattr__(self, "ends_at", ends_at)


@dataclass(frozen=True)
class OfficeCalendar:
    """Everything that decides office hours: schedule, closures, zone and public holidays.

    `closures` may be any iterable and is kept as a tuple. An unknown zone or country is a
    `ValueError` at construction, not at the first call.
    """

    schedule: WeeklySchedule = DEFAULT_SCHEDULE
    closures: tuple[Closure, ...] = ()
    timezone: str = "Europe/Amsterdam"
    country: str = "NL"
    holidays_enabled: bool = True
    holiday_language: str = HOLIDAY_NAMES_LANGUAGE

    def __post_init__(self) -> None:
        object.__setattr__(self, "closures", tuple(self.closures))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"office calendar: time zone {self.timezone!r} is unknown") from None
        if self.country not in holidays.list_supported_countries():
            raise ValueError(f"office calendar: country {self.country!r} has no public holidays in `holidays`")

    @property
    def zone(self) -> ZoneInfo:
        """The zone the schedule and the holidays' days are read in."""
        return ZoneInfo(self.timezone)

    def holiday_on(self, day: date) -> str | None:
        """The public holiday's name on the local `day`, or None (also when holidays are disabled)."""
        enabled = self.holidays_enabled
        return _public_holidays(self.country, day.year, self.holiday_language).get(day) if enabled else None


@lru_cache(maxsize=256)
def _public_holidays(country: str, year: int, language: str) -> dict[date, str]:
    # A plain dict per year, because a cached `holidays` object would grow itself on lookups.
    return dict(holidays.country_holidays(country, years=year, language=language))


@dataclass(frozen=True)
class OfficeStatus:
    """Whether the office is open at a moment, why, and when that next changes.

    `reason` is "open", "weekend/outside schedule", "holiday: <name>" or "closure: <reason>".
    `changes_at` is the first moment after the asked one at which `open` flips, in UTC, or
    None when it does not flip within 14 days.
    """

    open: bool
    reason: str
    changes_at: datetime | None


def _local_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    # fold=0 is what gives the documented DST choices: a skipped time is read with the
    # offset before the change (an hour later on the clock), a doubled time as its first pass.
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _scheduled_periods(day: date, calendar: OfficeCalendar) -> list[tuple[datetime, datetime]]:
    periods = []
    for start, end in calendar.schedule.by_weekday[day.weekday()]:
        end_day = day + timedelta(days=1) if end == END_OF_DAY else day
        period = (_local_instant(day, start, calendar.zone), _local_instant(end_day, end, calendar.zone))
        if period[0] < period[1]:
            periods.append(period)
    return periods


def _state_at(moment: datetime, calendar: OfficeCalendar) -> tuple[bool, str]:
    for closure in calendar.closures:
        if closure.starts_at <= moment < closure.ends_at:
            return False, f"closure: {closure.reason}"
    local_day = moment.astimezone(calendar.zone).date()
    holiday = calendar.holiday_on(local_day)
    if holiday:
        return False, f"holiday: {holiday}"
    if any(start <= moment < end for start, end in _scheduled_periods(local_day, calendar)):
        return True, OPEN
    return False, OUTSIDE_SCHEDULE


def _possible_changes(after: datetime, until: datetime, calendar: OfficeCalendar) -> list[datetime]:
    # The state is constant between schedule edges and closure edges. A holiday needs no edges
    # of its own: it can only change the state where a day's first or last interval does.
    moments = {edge for closure in calendar.closures for edge in (closure.starts_at, closure.ends_at)}
    day = after.astimezone(calendar.zone).date() - timedelta(days=1)
    while day <= until.astimezone(calendar.zone).date() + timedelta(days=1):
        moments.update(edge for period in _scheduled_periods(day, calendar) for edge in period)
        day += timedelta(days=1)
    return sorted(moment for moment in moments if after < moment <= until)


def office_status(at: datetime, calendar: OfficeCalendar) -> OfficeStatus:
    """Whether the office is open at the aware moment `at`, why, and when that changes."""
    moment = _as_utc(at, "office status at")
    is_open, reason = _state_at(moment, calendar)
    candidates = _possible_changes(moment, moment + SEARCH_HORIZON, calendar)
    changes_at = next((candidate for candidate in candidates if _state_at(candidate, calendar)[0] != is_open), None)
    return OfficeStatus(is_open, reason, changes_at)


def is_office_open(at: datetime, calendar: OfficeCalendar) -> bool:
    """Whether the office answers at the aware moment `at` (any zone); naive is a ValueError."""
    return _state_at(_as_utc(at, "office open at"), calendar)[0]


def opening_hours_for(day: date, calendar: OfficeCalendar) -> list[tuple[datetime, datetime]]:
    """The periods the office is open on the local `day`, in order, as aware UTC moments.

    These are the schedule's intervals for that weekday, none on a public holiday, and with
    closures cut out: `is_office_open(t)` holds exactly when t lies in a period of t's local day.
    UTC rather than local, because Python subtracts two moments of one zone by their wall
    clocks: the night the clocks change, local end - start would be an hour off.
    """
    if calendar.holiday_on(day):
        return []
    periods = _scheduled_periods(day, calendar)
    for closure in calendar.closures:
        periods = [piece for start, end in periods for piece in
                   ((start, min(end, closure.starts_at)), (max(start, closure.ends_at), end)) if piece[0] < piece[1]]
    return periods


def holidays_between(first: date, last: date, calendar: OfficeCalendar) -> list[tuple[date, str]]:
    """The public holidays on the local days `first` to `last` (both included), in order;
    none when holidays are disabled."""
    days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return [(day, name) for day in days if (name := calendar.holiday_on(day))]

