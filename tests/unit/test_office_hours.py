"""Office hours: whether the office answers the line, why not, and when that changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import holidays
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.office_hours import (
    DEFAULT_SCHEDULE,
    END_OF_DAY,
    OUTSIDE_SCHEDULE,
    Closure,
    OfficeCalendar,
    OfficeStatus,
    WeeklySchedule,
    is_office_open,
    office_status,
    opening_hours_for,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NL = OfficeCalendar()  # Mon–Fri 08:30–17:00, Europe/Amsterdam, Dutch public holidays


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- the weekly schedule -------------------------------------------------------------------

def test_default_schedule_is_weekdays_half_past_eight_to_five():
    assert str(DEFAULT_SCHEDULE) == "mon-fri 08:30-17:00"
    assert DEFAULT_SCHEDULE.by_weekday[0] == ((time(8, 30), time(17, 0)),)
    assert DEFAULT_SCHEDULE.by_weekday[5] == DEFAULT_SCHEDULE.by_weekday[6] == ()


def test_schedule_text_with_ranges_lists_and_several_intervals():
    schedule = WeeklySchedule.parse("Mon-Thu 08:30-12:00, 13:00-17:00; fri 08:30-15:00; sat,sun 10:00-12:00")
    assert schedule.by_weekday[3] == ((time(8, 30), time(12)), (time(13), time(17)))
    assert schedule.by_weekday[4] == ((time(8, 30), time(15)),)
    assert schedule.by_weekday[6] == ((time(10), time(12)),)
    assert str(schedule) == "mon-thu 08:30-12:00,13:00-17:00; fri 08:30-15:00; sat-sun 10:00-12:00"


def test_a_day_named_twice_gets_the_hours_of_both_parts_in_order():
    schedule = WeeklySchedule.parse("mon 13:00-17:00; mon-fri 08:30-12:00;")
    assert schedule.by_weekday[0] == ((time(8, 30), time(12)), (time(13), time(17)))


def test_24_00_ends_a_day_at_midnight():
    schedule = WeeklySchedule.parse("fri 22:00-24:00; sat 00:00-02:00")
    assert schedule.by_weekday[4] == ((time(22), END_OF_DAY),)
    assert str(schedule) == "fri 22:00-24:00; sat 00:00-02:00"


def test_blank_schedule_text_means_never_open():
    assert WeeklySchedule.parse("  ").by_weekday == ((),) * 7


def test_schedule_from_intervals_per_weekday_is_kept_sorted():
    weekday = ((time(13), time(17)), (time(8, 30), time(12)))
    schedule = WeeklySchedule((weekday,) * 5 + ((), ()))
    assert schedule.by_weekday[4] == ((time(8, 30), time(12)), (time(13), time(17)))
    assert schedule == WeeklySchedule.parse("mon-fri 08:30-12:00,13:00-17:00")


@pytest.mark.parametrize(("text", "message"), [
    ("mon-fri 17:00-08:30", r"office hours mon: 17:00-08:30 does not end after it starts"),
    ("tue 09:00-09:00", r"office hours tue: 09:00-09:00 does not end after it starts"),
    ("wed 08:00-12:00,11:30-13:00", r"office hours wed: 08:00-12:00 overlaps 11:30-13:00"),
    ("xyz 08:00-12:00", r"'xyz 08:00-12:00': 'xyz' is not a weekday"),
    ("fri-mon 08:00-12:00", r"'fri-mon 08:00-12:00': day range fri-mon runs backwards"),
    ("mon-fri", r"'mon-fri': expected days and hours"),
    ("08:30-17:00", r"'08:30-17:00': expected days and hours"),
    ("mon 08:30", r"'mon 08:30': '08:30' is not an interval HH:MM-HH:MM"),
    ("mon 25:00-26:00", r"'mon 25:00-26:00': '25:00' is not a time HH:MM"),
    ("mon 08:30-17:60", r"'17:60' is not a time"),
    ("mon 24:00-24:00", r"'24:00' is not a time HH:MM \(00:00 to 23:59, or 24:00 as an end\)"),
    ("mon 8h-17h", r"'8h' is not a time"),
    ("mon-fri 08:30-17:00; sat 10-12", r"'sat 10-12': '10' is not a time"),
])
def test_bad_schedule_text_is_refused_naming_the_bad_part(text, message):
    with pytest.raises(ValueError, match=message):
        WeeklySchedule.parse(text)


def test_schedule_refuses_a_wrong_number_of_days_and_seconds():
    with pytest.raises(ValueError, match="5 weekdays given, a week has 7"):
        WeeklySchedule(((),) * 5)
    with pytest.raises(ValueError, match="office hours sat: 08:00-09:00 must be whole minutes"):
        WeeklySchedule(((),) * 5 + (((time(8, 0, 30), time(9)),), ()))


# --- open or closed ------------------------------------------------------------------------

def test_open_from_the_opening_minute_and_closed_from_the_closing_minute():
    monday = local(2026, 6, 8, 8, 30)
    assert is_office_open(monday, NL)
    assert not is_office_open(monday - timedelta(microseconds=1), NL)
    assert is_office_open(local(2026, 6, 8, 17) - timedelta(microseconds=1), NL)
    assert office_status(local(2026, 6, 8, 17), NL) == OfficeStatus(False, OUTSIDE_SCHEDULE, utc(2026, 6, 9, 6, 30))


def test_weekend_is_outside_schedule():
    status = office_status(local(2026, 6, 13, 11), NL)
    assert status == OfficeStatus(False, "weekend/outside schedule", utc(2026, 6, 15, 6, 30))


def test_a_moment_in_any_zone_is_read_in_amsterdam_time():
    # 06:45 UTC on a summer Monday is 08:45 in Amsterdam; 23:00 in New York is 05:00 there.
    assert is_office_open(utc(2026, 6, 8, 6, 45), NL)
    assert not is_office_open(datetime(2026, 6, 8, 23, 0, tzinfo=ZoneInfo("America/New_York")), NL)
    assert is_office_open(datetime(2026, 6, 9, 3, 0, tzinfo=ZoneInfo("America/New_York")), NL)


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="naive datetime refused"):
        is_office_open(datetime(2026, 6, 8, 10), NL)
    with pytest.raises(ValueError, match="naive datetime refused"):
        office_status(datetime(2026, 6, 8, 10), NL)


# --- daylight saving time ------------------------------------------------------------------

def test_opening_moves_an_hour_in_utc_across_the_march_change():
    # The clocks go forward on Sunday 29 March 2026: 08:30 is 07:30 UTC on Friday, 06:30 on Monday.
    assert opening_hours_for(date(2026, 3, 27), NL)[0][0] == utc(2026, 3, 27, 7, 30)
    assert opening_hours_for(date(2026, 3, 30), NL)[0][0] == utc(2026, 3, 30, 6, 30)
    assert not is_office_open(utc(2026, 3, 30, 6, 29), NL)
    assert is_office_open(utc(2026, 3, 30, 6, 30), NL)
    assert office_status(local(2026, 3, 27, 17), NL).changes_at == utc(2026, 3, 30, 6, 30)


def test_opening_moves_back_an_hour_in_utc_across_the_october_change():
    # The clocks go back on Sunday 25 October 2026: 08:30 is 06:30 UTC on Friday, 07:30 on Monday.
    assert opening_hours_for(date(2026, 10, 23), NL)[0] == (local(2026, 10, 23, 8, 30), local(2026, 10, 23, 17))
    assert opening_hours_for(date(2026, 10, 23), NL)[0][0] == utc(2026, 10, 23, 6, 30)
    assert opening_hours_for(date(2026, 10, 23), NL)[0][0].tzinfo is UTC
    assert not is_office_open(utc(2026, 10, 26, 7, 29), NL)
    assert is_office_open(utc(2026, 10, 26, 7, 30), NL)
    assert office_status(local(2026, 10, 23, 17), NL).changes_at == utc(2026, 10, 26, 7, 30)


def test_night_hours_on_the_night_the_clocks_go_forward_last_two_hours():
    night = OfficeCalendar(WeeklySchedule.parse("sun 01:00-04:00"), holidays_enabled=False)
    [(start, end)] = opening_hours_for(date(2026, 3, 29), night)
    assert (start, end) == (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))
    assert end - start == timedelta(hours=2)
    assert office_status(utc(2026, 3, 29, 0, 59), night).changes_at == utc(2026, 3, 29, 2)


def test_night_hours_on_the_night_the_clocks_go_back_last_four_hours_and_02_30_is_open_twice():
    night = OfficeCalendar(WeeklySchedule.parse("sun 01:00-04:00"), holidays_enabled=False)
    [(start, end)] = opening_hours_for(date(2026, 10, 25), night)
    assert (start, end) == (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert end - start == timedelta(hours=4)
    assert is_office_open(local(2026, 10, 25, 2, 30, fold=0), night)
    assert is_office_open(local(2026, 10, 25, 2, 30, fold=1), night)
    assert not is_office_open(local(2026, 10, 25, 4), night)


def test_a_time_the_clock_skips_is_taken_an_hour_later():
    skipped = OfficeCalendar(WeeklySchedule.parse("sun 02:30-05:00"), holidays_enabled=False)
    assert opening_hours_for(date(2026, 3, 29), skipped) == [(local(2026, 3, 29, 3, 30), local(2026, 3, 29, 5))]
    inside_the_gap = OfficeCalendar(WeeklySchedule.parse("sun 02:30-03:00"), holidays_enabled=False)
    assert opening_hours_for(date(2026, 3, 29), inside_the_gap) == []
    assert opening_hours_for(date(2026, 4, 5), inside_the_gap) == [(local(2026, 4, 5, 2, 30), local(2026, 4, 5, 3))]


# --- public holidays -----------------------------------------------------------------------

def test_kings_day_on_a_monday_is_closed_all_day():
    assert office_status(local(2026, 4, 27, 10), NL) == OfficeStatus(False, "holiday: King's Day",
                                                                     utc(2026, 4, 28, 6, 30))
    assert opening_hours_for(date(2026, 4, 27), NL) == []


def test_changes_at_skips_the_weekend_and_the_holiday_after_it():
    assert office_status(local(2026, 4, 24, 16, 59), NL).changes_at == utc(2026, 4, 24, 15)
    assert office_status(local(2026, 4, 24, 17), NL).changes_at == utc(2026, 4, 28, 6, 30)


def test_christmas_on_a_friday_closes_until_monday():
    status = office_status(local(2026, 12, 24, 17), NL)
    assert status == OfficeStatus(False, OUTSIDE_SCHEDULE, utc(2026, 12, 28, 7, 30))
    assert office_status(local(2026, 12, 25, 10), NL).reason == "holiday: Christmas Day"


def test_dutch_holidays_follow_the_holidays_package_defaults():
    # Liberation Day only in lustrum years; Good Friday counts, as `holidays` NL has it.
    assert office_status(local(2025, 5, 5, 10), NL).reason == "holiday: Liberation Day"
    assert is_office_open(local(2026, 5, 5, 10), NL)
    assert office_status(local(2026, 4, 3, 10), NL).reason == "holiday: Good Friday"
    assert office_status(local(2026, 5, 14, 10), NL).reason == "holiday: Ascension Day"


def test_holiday_names_do_not_depend_on_the_locale_and_can_be_dutch(monkeypatch):
    monkeypatch.setenv("LANG", "nl_NL.UTF-8")
    assert office_status(local(2026, 4, 27, 10), OfficeCalendar()).reason == "holiday: King's Day"
    dutch = OfficeCalendar(holiday_language="nl")
    assert office_status(local(2026, 4, 27, 10), dutch).reason == "holiday: Koningsdag"


def test_holidays_can_be_switched_off():
    assert is_office_open(local(2026, 4, 27, 10), OfficeCalendar(holidays_enabled=False))


# --- closures ------------------------------------------------------------------------------

MOVE = Closure(local(2026, 6, 12, 12), local(2026, 6, 15, 12), "moving to the new office")
OUTING = Closure(local(2026, 6, 10, 13), local(2026, 6, 10, 14), "team outing")
WITH_CLOSURES = OfficeCalendar(DEFAULT_SCHEDULE, [MOVE, OUTING])


def test_a_closure_over_a_weekend_closes_from_friday_noon_to_monday_noon():
    assert office_status(local(2026, 6, 12, 11, 59), WITH_CLOSURES) == OfficeStatus(True, "open", utc(2026, 6, 12, 10))
    assert office_status(local(2026, 6, 12, 12), WITH_CLOSURES) == OfficeStatus(
        False, "closure: moving to the new office", utc(2026, 6, 15, 10))
    assert office_status(local(2026, 6, 13, 10), WITH_CLOSURES).reason == "closure: moving to the new office"
    assert not is_office_open(local(2026, 6, 15, 11, 59), WITH_CLOSURES)
    assert office_status(local(2026, 6, 15, 12), WITH_CLOSURES) == OfficeStatus(True, "open", utc(2026, 6, 15, 15))


def test_a_closure_inside_office_hours_cuts_a_hole_in_the_day():
    assert is_office_open(local(2026, 6, 10, 12, 59), WITH_CLOSURES)
    assert office_status(local(2026, 6, 10, 13), WITH_CLOSURES) == OfficeStatus(
        False, "closure: team outing", utc(2026, 6, 10, 12))
    assert is_office_open(local(2026, 6, 10, 14), WITH_CLOSURES)
    assert opening_hours_for(date(2026, 6, 10), WITH_CLOSURES) == [
        (local(2026, 6, 10, 8, 30), local(2026, 6, 10, 13)), (local(2026, 6, 10, 14), local(2026, 6, 10, 17))]
    assert opening_hours_for(date(2026, 6, 12), WITH_CLOSURES) == [(local(2026, 6, 12, 8, 30), local(2026, 6, 12, 12))]


def test_a_closure_wins_over_a_holiday_and_is_kept_in_utc():
    closure = Closure(local(2026, 4, 27, 0), local(2026, 4, 28, 0), "office flooded")
    assert closure.starts_at == utc(2026, 4, 26, 22) and closure.starts_at.tzinfo is UTC
    assert office_status(local(2026, 4, 27, 10), OfficeCalendar(closures=[closure])).reason == "closure: office flooded"


def test_closures_must_be_aware_and_end_after_they_start():
    with pytest.raises(ValueError, match="closure 'audit': start 2026-06-10T13:00:00: naive datetime refused"):
        Closure(datetime(2026, 6, 10, 13), local(2026, 6, 10, 14), "audit")
    with pytest.raises(ValueError, match="closure 'audit': end .* naive datetime refused"):
        Closure(local(2026, 6, 10, 13), datetime(2026, 6, 10, 14), "audit")
    with pytest.raises(ValueError, match="closure 'audit': ends at .* not after it starts"):
        Closure(local(2026, 6, 10, 14), local(2026, 6, 10, 14), "audit")


def test_no_change_within_fourteen_days_gives_none():
    long_closure = Closure(local(2026, 7, 1), local(2026, 8, 1), "summer shutdown")
    summer = OfficeCalendar(closures=[long_closure])
    assert office_status(local(2026, 7, 10), summer) == OfficeStatus(False, "closure: summer shutdown", None)
    # The shutdown ends on Saturday 1 August; the office opens again on Monday the 3rd.
    assert office_status(local(2026, 7, 20, 10), summer).changes_at == utc(2026, 8, 3, 6, 30)
    always = OfficeCalendar(WeeklySchedule.parse("mon-sun 00:00-24:00"), holidays_enabled=False)
    assert office_status(local(2026, 3, 29, 2), always) == OfficeStatus(True, "open", None)
    assert office_status(local(2026, 6, 8), OfficeCalendar(WeeklySchedule.parse(""))).changes_at is None


def test_a_change_exactly_fourteen_days_ahead_is_found():
    calendar = OfficeCalendar(closures=[Closure(local(2026, 6, 1, 8, 30), local(2026, 6, 15, 8, 30), "renovation")])
    assert office_status(local(2026, 6, 1, 8, 30), calendar).changes_at == utc(2026, 6, 15, 6, 30)


def test_unknown_time_zone_or_country_is_refused():
    with pytest.raises(ValueError, match="time zone 'Europe/Amsterdm' is unknown"):
        OfficeCalendar(timezone="Europe/Amsterdm")
    with pytest.raises(ValueError, match="country 'XX' has no public holidays"):
        OfficeCalendar(country="XX")


# --- properties ----------------------------------------------------------------------------

QUARTERS = 24 * 4


@st.composite
def schedules(draw) -> WeeklySchedule:
    days = []
    for _ in range(7):
        edges = sorted(draw(st.sets(st.integers(0, QUARTERS), max_size=6)))
        edges = edges[: len(edges) // 2 * 2]
        clocks = [END_OF_DAY if q == QUARTERS else time(q // 4, q % 4 * 15) for q in edges]
        days.append(tuple(zip(clocks[::2], clocks[1::2], strict=True)))
    return WeeklySchedule(tuple(days))


ZONES = st.sampled_from([UTC, AMSTERDAM, ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30))])
MOMENTS = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=ZONES)


@st.composite
def calendars(draw) -> OfficeCalendar:
    lengths = st.timedeltas(timedelta(minutes=1), timedelta(days=5))
    starts = draw(st.lists(MOMENTS, max_size=3))
    closures = [Closure(start, start.astimezone(UTC) + draw(lengths), "test") for start in starts]
    return OfficeCalendar(draw(schedules()), closures, holidays_enabled=draw(st.booleans()))


@given(schedules())
def test_schedule_text_reads_back_as_the_same_schedule(schedule):
    assert WeeklySchedule.parse(str(schedule)) == schedule


@settings(max_examples=150, deadline=None)
@given(calendars(), MOMENTS, st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=20))
def test_status_agrees_with_is_open_and_changes_at_is_the_first_flip(calendar, at, fractions):
    status = office_status(at, calendar)
    assert status.open == is_office_open(at, calendar)
    start = at.astimezone(UTC)  # adding to a local time would step by its wall clock, not by the hour
    until = status.changes_at or start + timedelta(days=14)
    span = (until - start) // timedelta(microseconds=1)
    for fraction in fractions:
        offset = timedelta(microseconds=min(int(span * fraction), span - 1))
        assert is_office_open(start + offset, calendar) == status.open
    if status.changes_at is not None:
        assert status.changes_at.tzinfo is UTC and status.changes_at > at
        assert is_office_open(status.changes_at, calendar) != status.open
        assert is_office_open(status.changes_at - timedelta(microseconds=1), calendar) == status.open


@settings(max_examples=150, deadline=None)
@given(calendars(), MOMENTS)
def test_opening_hours_of_the_local_day_hold_exactly_the_open_moments(calendar, at):
    periods = opening_hours_for(at.astimezone(calendar.zone).date(), calendar)
    assert is_office_open(at, calendar) == any(start <= at < end for start, end in periods)
    assert all(start < end for start, end in periods)
    assert all(earlier[1] <= later[0] for earlier, later in zip(periods, periods[1:]))


@settings(max_examples=150, deadline=None)
@given(calendars(), MOMENTS)
def test_away_from_clock_changes_open_means_the_amsterdam_clock_is_inside_an_interval(calendar, at):
    wall = at.astimezone(AMSTERDAM)
    next_midnight = datetime.combine(wall.date() + timedelta(days=1), time(0), tzinfo=AMSTERDAM)
    assume(wall.replace(hour=0, minute=0, second=0, microsecond=0).utcoffset() == next_midnight.utcoffset())
    scheduled = any(start <= wall.time() and (end == END_OF_DAY or wall.time() < end)
                    for start, end in calendar.schedule.by_weekday[wall.weekday()])
    holiday = calendar.holidays_enabled and wall.date() in holidays.NL(years=wall.year)
    closure = any(closure.starts_at <= at < closure.ends_at for closure in calendar.closures)
    assert is_office_open(at, calendar) == (scheduled and not holiday and not closure)
