"""Billing of after-hours support: rounding, amounts, adjustments and the monthly CSV."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.billing import (
    Adjustment,
    CSV_HEADER,
    BillingTerms,
    StatementDoesNotAddUp,
    amount_for,
    apply_adjustment,
    bill_incident,
    billable_minutes,
    export_csv,
    monthly_statement,
    monthly_statements,
    parse_month,
    started_increments,
    statement_csv,
    talk_seconds,
    verify_statement,
)

STANDARD = BillingTerms(hourly_rate=Decimal("95.00"))
NIGHT = datetime(2026, 11, 12, 2, 30, tzinfo=UTC)


def line(incident_id=1, customer="Bakkerij Jansen", at=NIGHT, terms=STANDARD, **kwargs):
    return bill_incident(incident_id=incident_id, customer=customer, occurred_at=at, terms=terms, **kwargs)


# Rounding per started increment


@pytest.mark.parametrize(
    ("seconds", "increments"),
    [("0", 0), ("0.001", 1), ("899.999", 1), ("900", 1), ("900.001", 2), ("1800", 2), ("1800.000001", 3)],
)
def test_time_is_rounded_up_per_started_increment(seconds, increments):
    assert started_increments(Decimal(seconds), 15) == increments


def test_exactly_fifteen_minutes_of_talk_is_one_increment():
    start = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
    billed = line(talk=[(start, start + timedelta(minutes=15))])
    assert (billed.talk_seconds, billed.increments, billed.billable_minutes, billed.gross) == (900, 1, 15, Decimal("47.50"))


def test_one_millisecond_past_fifteen_minutes_starts_a_second_increment():
    start = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
    billed = line(talk=[(start, start + timedelta(minutes=15, milliseconds=1))])
    assert billed.talk_seconds == Decimal("900.001")
    assert (billed.increments, billed.billable_minutes, billed.gross) == (2, 30, Decimal("95.00"))


def test_an_incident_without_talk_or_work_bills_nothing_even_with_a_minimum():
    terms = BillingTerms(hourly_rate=Decimal("95"), billing_minimum_minutes=30)
    billed = line(terms=terms)
    assert (billed.billable_minutes, billed.increments, billed.gross, billed.net) == (0, 0, 0, 0)


def test_many_small_pieces_are_summed_before_rounding_once_per_incident():
    # Ten 1-minute pieces are 10 minutes of support: one increment, not ten.
    billed = line(talk=[30] * 10, work_minutes=[1] * 5)
    assert (billed.talk_seconds, billed.work_minutes) == (300, 5)
    assert (billed.increments, billed.billable_minutes) == (1, 15)


def test_talk_and_work_together_cross_an_increment_neither_crosses_alone():
    billed = line(talk=[Decimal("600.5")], work_minutes=[5])
    assert (billed.increments, billed.billable_minutes) == (2, 30)


def test_float_talk_seconds_are_read_as_written():
    assert talk_seconds([0.1, 0.2]) == Decimal("0.3")


def test_the_minimum_applies_to_a_short_incident_and_not_to_a_longer_one():
    terms = BillingTerms(hourly_rate=Decimal("80"), billing_minimum_minutes=60)
    assert billable_minutes(Decimal(60), terms) == 60
    assert billable_minutes(Decimal(61 * 60), terms) == 75
    assert line(terms=terms, work_minutes=[2]).gross == Decimal("160.00")


def test_a_minimum_that_is_not_a_whole_number_of_increments_is_billed_as_written():
    terms = BillingTerms(hourly_rate=Decimal("60"), billing_minimum_minutes=20)
    billed = line(terms=terms, talk=[120])
    assert (billed.increments, billed.billable_minutes, billed.gross) == (1, 20, Decimal("40.00"))


def test_whole_numbers_are_accepted_for_rates_and_percentages():
    billed = line(terms=BillingTerms(hourly_rate=90, after_hours_surcharge_pct=50), talk=[900], adjustment=Adjustment(10, "ours"))
    assert (billed.gross, billed.net) == (Decimal("33.75"), Decimal("30.37"))
    assert statement_csv(monthly_statement([billed], "2026-11")).splitlines()[1].endswith(",90.00,50,33.75,10,ours,30.37")


def test_another_increment_from_the_sla():
    terms = BillingTerms(hourly_rate=Decimal("60"), billing_increment_minutes=6)
    assert billable_minutes(Decimal(7 * 60), terms) == 12


# Amounts


@pytest.mark.parametrize(("surcharge", "gross"), [("0", "23.75"), ("100", "47.50"), ("50", "35.63")])
def test_the_surcharge_multiplies_the_hourly_rate(surcharge, gross):
    terms = BillingTerms(hourly_rate=Decimal("95.00"), after_hours_surcharge_pct=Decimal(surcharge))
    assert amount_for(15, terms) == Decimal(gross)


def test_half_a_cent_is_rounded_up_not_to_even():
    # 15 min at 95.01/h + 100 % is exactly 47.505: half-up gives 47.51 where half-even gives 47.50.
    assert amount_for(15, BillingTerms(hourly_rate=Decimal("95.01"))) == Decimal("47.51")
    assert amount_for(1, BillingTerms(hourly_rate=Decimal("1.50"), after_hours_surcharge_pct=Decimal(0))) == Decimal("0.03")


def test_terms_from_an_sla_row():
    sla = SimpleNamespace(
        hourly_rate=Decimal("110.00"), after_hours_surcharge_pct=Decimal("50.00"),
        billing_increment_minutes=30, billing_minimum_minutes=30, currency="EUR",
    )  # fmt: skip
    assert BillingTerms.from_sla(sla) == BillingTerms(Decimal("110.00"), Decimal("50.00"), 30, 30)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"hourly_rate": Decimal("-1")}, "hourly_rate"),
        ({"after_hours_surcharge_pct": Decimal("-5")}, "after_hours_surcharge_pct"),
        ({"billing_increment_minutes": 0}, "billing_increment_minutes"),
        ({"billing_minimum_minutes": -15}, "billing_minimum_minutes"),
        ({"currency": "USD"}, "currency 'USD'"),
    ],
)
def test_impossible_terms_are_refused_by_name(changes, named):
    with pytest.raises(ValueError, match=named):
        BillingTerms(**{"hourly_rate": Decimal("95"), **changes})


def test_talk_that_ends_before_it_starts_or_is_naive_is_refused():
    start = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends before it starts"):
        talk_seconds([(start, start - timedelta(seconds=1))])
    with pytest.raises(ValueError, match="timezone-aware"):
        talk_seconds([(start.replace(tzinfo=None), start.replace(tzinfo=None))])
    with pytest.raises(ValueError, match="must not be negative"):
        talk_seconds([-3])
    with pytest.raises(ValueError, match="timezone-aware"):
        line(at=NIGHT.replace(tzinfo=None))


# Adjustments when the fault was ours


def test_a_waived_line_keeps_its_time_and_gross_and_the_reason():
    billed = line(talk=[1800], adjustment=Adjustment.waived("our certificate expired"))
    assert (billed.billable_minutes, billed.gross, billed.net) == (30, Decimal("95.00"), Decimal("0.00"))
    assert (billed.adjustment_pct, billed.adjustment_reason) == (100, "our certificate expired")


def test_a_fifty_percent_discount_halves_the_line():
    billed = line(talk=[900], adjustment=Adjustment(Decimal(50), "deploy of ours made it worse"))
    assert (billed.gross, billed.net, billed.adjustment_pct) == (Decimal("47.50"), Decimal("23.75"), 50)


def test_a_discount_rounds_the_discount_so_gross_less_discount_is_net():
    assert apply_adjustment(Decimal("0.05"), Adjustment(Decimal(50), "ours")) == Decimal("0.02")


def test_an_unadjusted_line_has_no_discount_and_no_reason():
    billed = line(talk=[900])
    assert (billed.adjustment_pct, billed.adjustment_reason, billed.net) == (0, "", billed.gross)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_adjustment_without_a_reason_is_refused(reason):
    with pytest.raises(ValueError, match="needs a reason"):
        Adjustment(Decimal(100), reason)


@pytest.mark.parametrize("pct", ["-1", "100.01", "150"])
def test_an_adjustment_outside_zero_to_hundred_percent_is_refused(pct):
    with pytest.raises(ValueError, match=f"discount {pct}%"):
        Adjustment(Decimal(pct), "ours")


# Months in local time


def test_a_month_is_parsed():
    month = parse_month("2026-11")
    assert (month.year, month.month, str(month)) == (2026, 11, "2026-11")


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "November", "", "2026-11-01"])
def test_a_month_that_is_not_yyyy_mm_is_refused_naming_the_value(bad):
    with pytest.raises(ValueError, match=f"month {bad!r}: expected YYYY-MM"):
        parse_month(bad)


def test_an_incident_at_half_past_eleven_utc_on_31_october_is_a_november_incident():
    # DST ended on 25 October 2026: 23:30 UTC is 00:30 CET on 1 November in Amsterdam.
    billed = line(at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC), talk=[600])
    assert billed.date == date(2026, 11, 1)
    assert [each.incident_id for each in monthly_statement([billed], "2026-11").lines] == [1]
    assert monthly_statement([billed], "2026-10", customer="Bakkerij Jansen").lines == ()


def test_the_last_summer_evening_of_a_month_stays_in_that_month():
    # 21:59 UTC on 30 September 2026 is 23:59 CEST: still September.
    billed = line(at=datetime(2026, 9, 30, 21, 59, tzinfo=UTC), talk=[600])
    assert billed.date == date(2026, 9, 30)
    assert monthly_statement([billed], "2026-09").lines == (billed,)


def test_a_months_utc_range_follows_amsterdam_midnight():
    assert parse_month("2026-11").utc_range() == (
        datetime(2026, 10, 31, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
    )
    assert parse_month("2026-12").utc_range()[1] == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert parse_month("2026-04").utc_range()[0] == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)


def test_lines_of_several_customers_need_the_customer_named():
    lines = [line(1, "A", talk=[60]), line(2, "B", talk=[60])]
    with pytest.raises(ValueError, match=r"\['A', 'B'\]"):
        monthly_statement(lines, "2026-11")
    assert [each.customer for each in monthly_statements(lines, "2026-11")] == ["A", "B"]
    assert monthly_statement(lines, "2026-11", customer="B").lines == (lines[1],)


# The monthly CSV


def synthetic_month(seed: int = 2026, count: int = 30) -> list:
    rng = random.Random(seed)
    terms = BillingTerms(hourly_rate=Decimal("97.35"), billing_minimum_minutes=15)
    month_start = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    lines = []
    for incident_id in range(1, count + 1):
        at = month_start + timedelta(seconds=rng.randrange(30 * 24 * 3600))
        talk = [Decimal(rng.randrange(0, 2400_000)) / 1000 for _ in range(rng.randrange(0, 4))]
        work = [rng.randrange(1, 90) for _ in range(rng.randrange(0, 3))]
        adjustment = None
        if incident_id % 7 == 0:
            adjustment = Adjustment.waived("outage caused by our update")
        elif incident_id % 5 == 0:
            adjustment = Adjustment(Decimal(rng.choice([10, 25, 50, "33.33"])), "partly our configuration")
        lines.append(line(incident_id, "Bakkerij Jansen", at, terms, talk=talk, work_minutes=work, adjustment=adjustment))
    return lines


def test_a_synthetic_month_of_thirty_incidents_exports_a_csv_whose_totals_verify():
    statement = monthly_statement(synthetic_month(), "2026-11")
    assert len(statement.lines) == 30
    exported = statement_csv(statement)
    verify_statement(exported)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 31
    assert rows[-1]["incident"] == "total" and rows[-1]["date"] == "2026-11"
    assert Decimal(rows[-1]["net_eur"]) == sum(each.net for each in statement.lines) == statement.total_net
    assert all(row["date"].startswith("2026-11-") for row in rows[:-1])
    assert [row["date"] for row in rows[:-1]] == sorted(row["date"] for row in rows[:-1])


def test_the_csv_header_rows_and_total_are_plain_numbers():
    start = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    lines = [
        line(7, at=start, talk=[(start, start + timedelta(minutes=20, seconds=1))], work_minutes=[10]),
        line(8, at=start + timedelta(days=1), talk=[900], adjustment=Adjustment.waived("our fault, sorry")),
    ]
    assert statement_csv(monthly_statement(lines, "2026-11")).splitlines() == [
        "customer,incident,date,talk_seconds,work_minutes,billable_minutes,increments,"
        "hourly_rate_eur,surcharge_pct,gross_eur,adjustment_pct,adjustment_reason,net_eur",
        "Bakkerij Jansen,7,2026-11-03,1201,10,45,3,95.00,100,142.50,0,,142.50",
        "Bakkerij Jansen,8,2026-11-04,900,0,15,1,95.00,100,47.50,100,\"our fault, sorry\",0.00",
        "Bakkerij Jansen,total,2026-11,2101,10,60,4,,,190.00,,,142.50",
    ]


def test_an_empty_month_for_a_named_customer_exports_a_zero_total_that_verifies():
    exported = statement_csv(monthly_statement([], "2026-11", customer="Bakkerij Jansen"))
    verify_statement(exported)
    assert exported.splitlines()[-1] == "Bakkerij Jansen,total,2026-11,0,0,0,0,,,0.00,,,0.00"


def _tampered(exported: str, row: int, column: str, value: str) -> str:
    rows = list(csv.reader(io.StringIO(exported)))
    rows[row][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("row", "column", "value", "complaint"),
    [
        (-1, "net_eur", "1.00", "total net_eur 1.00: rows add up to"),
        (-1, "billable_minutes", "1", "total billable_minutes 1"),
        (1, "gross_eur", "999.99", "row 2 gross 999.99"),
        (1, "gross_eur", "12.5", "row 2 gross_eur '12.5': not an amount"),
        (1, "net_eur", "123.45", "row 2 net 123.45: not gross"),
        (1, "adjustment_reason", "", "without a reason"),
        (1, "hourly_rate_eur", "-5.00", "row 2: hourly_rate -5.00: must be at least 0"),
        (1, "work_minutes", "NaN", "row 2 work_minutes 'NaN': not a number"),
        (1, "talk_seconds", "lots", "row 2 talk_seconds 'lots': not a number"),
        (2, "customer", "Someone Else", "several customers"),
        (-1, "incident", "31", "no total row"),
        (0, "net_eur", "net", "header"),
    ],
)
def test_a_tampered_export_does_not_verify(row, column, value, complaint):
    statement = monthly_statement(synthetic_month(count=5), "2026-11")
    exported = statement_csv(statement)
    if column == "adjustment_reason":
        row = next(i for i, each in enumerate(statement.lines, start=1) if each.adjustment_pct)
    with pytest.raises(StatementDoesNotAddUp, match=complaint):
        verify_statement(_tampered(exported, row, column, value))


def test_an_empty_text_does_not_verify():
    with pytest.raises(StatementDoesNotAddUp):
        verify_statement("")


# Several customers in one export


def two_customers() -> list:
    november = datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
    return [
        line(1, "1001", november, talk=[900]),
        line(2, "1002", november, BillingTerms(Decimal("120"), billing_increment_minutes=30, billing_minimum_minutes=60), talk=[60]),
        line(3, "1001", november + timedelta(days=2), work_minutes=[20], adjustment=Adjustment(50, "our mistake")),
    ]


def test_an_export_of_several_customers_has_one_header_and_each_statement_with_its_total():
    statements = monthly_statements(two_customers(), "2026-11")
    exported = export_csv(statements)
    verify_statement(exported)
    lines = exported.splitlines()
    assert lines[0] == ",".join(CSV_HEADER) and lines.count(lines[0]) == 1
    assert lines[1:] == [row for each in statements for row in statement_csv(each).splitlines()[1:]]
    assert [row.split(",")[:2] for row in lines[1:]] == [
        ["1001", "1"], ["1001", "3"], ["1001", "total"], ["1002", "2"], ["1002", "total"],
    ]  # fmt: skip


def test_an_export_of_no_statements_is_the_header_alone_and_verifies():
    assert export_csv([]) == ",".join(CSV_HEADER) + "\n"
    verify_statement(export_csv([]))


def _edited(exported: str, edit) -> str:
    rows = list(csv.reader(io.StringIO(exported)))
    edit(rows)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _column(name: str) -> int:
    return CSV_HEADER.index(name)


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        # rows[1], rows[2]: 1001, rows[3] its total; rows[4]: 1002, rows[5] its total (CSV rows are one more).
        (lambda rows: rows.insert(4, rows[1]), "row 5 incident 1: billed in row 2 already"),
        (lambda rows: rows.insert(3, rows.pop(4)), "rows of several customers before the total row 5"),
        (lambda rows: rows.__setitem__(4, ["1001", *rows[4][1:]]) or rows.__setitem__(5, ["1001", *rows[5][1:]]),
         "customer '1001' has a total row already"),
        (lambda rows: rows[5].__setitem__(_column("date"), "2026-12"), "month 2026-12: the export is of 2026-11"),
        (lambda rows: rows[5].__setitem__(_column("date"), "nov"), "total row 6: month 'nov'"),
        (lambda rows: rows[1].__setitem__(_column("date"), "2026-10-31"), "row 2 date 2026-10-31: not in month 2026-11"),
        (lambda rows: rows[1].__setitem__(_column("date"), "yesterday"), "row 2 date 'yesterday': not an ISO date"),
        (lambda rows: rows[1].__setitem__(_column("talk_seconds"), "900.5"), "row 2 billable_minutes 15: does not cover the 900.5 s"),
        (lambda rows: rows[1].__setitem__(_column("talk_seconds"), "0"), "row 2 billable_minutes 15: does not cover the 0 s"),
    ],
)  # fmt: skip
def test_an_export_whose_shape_is_wrong_does_not_verify(edit, complaint):
    exported = export_csv(monthly_statements(two_customers(), "2026-11"))
    with pytest.raises(StatementDoesNotAddUp, match=re.escape(complaint)):
        verify_statement(_edited(exported, edit))


# Properties

seconds_of_support = st.decimals(min_value=Decimal(0), max_value=Decimal(48 * 3600), places=3)
increments = st.integers(min_value=1, max_value=120)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal(500), places=2)
surcharges = st.decimals(min_value=Decimal(0), max_value=Decimal(300), places=2)
discounts = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2)


@given(seconds_of_support, increments)
def test_billable_minutes_cover_the_actual_time_by_less_than_one_increment(seconds, increment):
    billed = billable_minutes(seconds, BillingTerms(Decimal(95), billing_increment_minutes=increment))
    actual_minutes = seconds / 60
    assert actual_minutes <= billed < actual_minutes + increment
    assert billed % increment == 0


@given(seconds_of_support, increments, st.integers(min_value=0, max_value=240))
def test_with_a_minimum_billable_minutes_cover_time_and_minimum_and_round_up_by_less_than_one_increment(
    seconds, increment, minimum
):
    billed = billable_minutes(seconds, BillingTerms(Decimal(95), billing_increment_minutes=increment, billing_minimum_minutes=minimum))
    if seconds == 0:
        assert billed == 0  # no support given, no minimum
        return
    # In seconds, where the comparisons are exact.
    assert billed * 60 >= seconds and billed >= minimum
    rounded_up = billed % increment == 0 and billed * 60 < seconds + increment * 60
    assert rounded_up or billed == minimum
    if minimum % increment == 0:
        assert billed % increment == 0


@given(st.integers(0, 5000), st.integers(0, 5000), rates, surcharges)
def test_the_amount_never_falls_when_minutes_rise(minutes, more, rate, surcharge):
    terms = BillingTerms(rate, surcharge)
    assert amount_for(minutes, terms) <= amount_for(minutes + more, terms)


@given(st.integers(0, 5000), rates, surcharges, discounts)
def test_the_net_is_never_more_than_the_gross_nor_below_zero(minutes, rate, surcharge, discount):
    gross = amount_for(minutes, BillingTerms(rate, surcharge))
    net = apply_adjustment(gross, Adjustment(discount, "ours"))
    assert Decimal(0) <= net <= gross
    assert net.as_tuple().exponent == -2


incident_lines = st.builds(
    lambda incident_id, at, talk, work, rate, discount: line(
        incident_id, "C", at, BillingTerms(rate), talk=talk, work_minutes=work,
        adjustment=Adjustment(discount, "ours") if discount else None,
    ),  # fmt: skip
    st.integers(1, 10**6),
    st.datetimes(datetime(2026, 11, 1), datetime(2026, 11, 29), timezones=st.just(UTC)),
    st.lists(st.decimals(min_value=0, max_value=7200, places=3), max_size=4),
    st.lists(st.integers(1, 240), max_size=3),
    rates,
    discounts,
)


@given(st.lists(incident_lines, max_size=40, unique_by=lambda each: each.incident_id))
def test_totals_are_exactly_the_sum_of_the_lines_and_the_export_verifies(lines):
    statement = monthly_statement(lines, "2026-11", customer="C")
    assert statement.total_gross == sum((each.gross for each in lines), Decimal(0))
    assert statement.total_net == sum((each.net for each in lines), Decimal(0))
    assert statement.total_billable_minutes == sum(each.billable_minutes for each in lines)
    verify_statement(statement_csv(statement))
