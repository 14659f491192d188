"""Billing of after-hours support: billable time, amounts, adjustments and the monthly CSV.

Pure rules over plain data: nothing here reads the clock, the environment or the database.
Money is `Decimal` in EUR; moments are timezone-aware and become Europe/Amsterdam dates.

Decisions a caller may rely on:
- Talk time and logged work of one incident are summed first and rounded up once, per started
  increment: ten 1-minute pieces are one 15-minute increment, not ten.
- An incident without any talk time or work bills nothing, whatever the minimum: the minimum
  is for support given, and an unanswered voicemail gave none.
- Amounts are rounded to cents per line with ROUND_HALF_UP; totals are sums of rounded lines,
  so a statement always adds up to the cent.
- An export of several customers (`export_csv`) has the header once and each customer's rows
  followed by that customer's total row; `verify_statement` checks one statement or such an
  export, and takes the header alone as a month with nothing to bill.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")
CURRENCY = "EUR"
CENT = Decimal("0.01")
SECONDS_PER_MINUTE = 60

TalkPiece = int | float | Decimal | tuple[datetime, datetime]  # seconds, or a leg's aware (start, end)


@dataclass(frozen=True)
class BillingTerms:
    """The billing figures of an SLA (mirrors `core.models.Sla`)."""

    hourly_rate: Decimal
    after_hours_surcharge_pct: Decimal = Decimal("100")
    billing_increment_minutes: int = 15
    billing_minimum_minutes: int = 0
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        # Through str(): an int or a database Numeric becomes the Decimal it reads as.
        object.__setattr__(self, "hourly_rate", Decimal(str(self.hourly_rate)))
        object.__setattr__(self, "after_hours_surcharge_pct", Decimal(str(self.after_hours_surcharge_pct)))
        lowest = {"hourly_rate": 0, "after_hours_surcharge_pct": 0, "billing_increment_minutes": 1, "billing_minimum_minutes": 0}
        for name, least in lowest.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} {getattr(self, name)}: must be at least {least}")
        # The statement labels every amount EUR; another currency would be mislabelled.
        if self.currency != CURRENCY:
            raise ValueError(f"currency {self.currency!r}: only {CURRENCY} is billed")

    @classmethod
    def from_sla(cls, sla: object) -> BillingTerms:
        """Terms from anything with the `Sla` attributes (an ORM row, a namespace)."""
        return cls(sla.hourly_rate, sla.after_hours_surcharge_pct, sla.billing_increment_minutes,
                   sla.billing_minimum_minutes, sla.currency)  # fmt: skip


@dataclass(frozen=True)
class Adjustment:
    """A discount because the fault was ours: 100 % waives the line. The reason is required,
    because a customer who asks why a line was lowered deserves an answer."""

    discount_pct: Decimal
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "discount_pct", Decimal(str(self.discount_pct)))
        if not Decimal(0) <= self.discount_pct <= Decimal(100):
            raise ValueError(f"discount {self.discount_pct}%: must be between 0 and 100")
        if not self.reason or not self.reason.strip():
            raise ValueError("an adjustment needs a reason (why the fault was ours)")

    @classmethod
    def waived(cls, reason: str) -> Adjustment:
        return cls(Decimal(100), reason)


@dataclass(frozen=True)
class IncidentLine:
    """One incident on a statement: the time, how it was rounded, and what it costs."""

    incident_id: int
    customer: str
    date: date  # Europe/Amsterdam date of the incident
    talk_seconds: Decimal
    work_minutes: int
    billable_minutes: int
    increments: int  # started increments of the actual time, before any minimum
    hourly_rate: Decimal
    surcharge_pct: Decimal
    gross: Decimal
    adjustment_pct: Decimal  # 0 when not adjusted
    adjustment_reason: str  # "" when not adjusted
    net: Decimal


def talk_seconds(pieces: Iterable[TalkPiece]) -> Decimal:
    """Total talk time in seconds, exact to the microsecond for datetime spans."""
    total = Decimal(0)
    for piece in pieces:
        if isinstance(piece, tuple):
            start, end = piece
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError(f"talk span {start!r}..{end!r}: times must be timezone-aware")
            if end < start:
                raise ValueError(f"talk span {start.isoformat()}..{end.isoformat()}: ends before it starts")
            seconds = Decimal((end - start) // timedelta(microseconds=1)).scaleb(-6)
        else:
            # str() first: a float's binary expansion (0.1 → 0.1000000000000000055…) is noise.
            seconds = Decimal(str(piece)) if isinstance(piece, float) else Decimal(piece)
            if seconds < 0:
                raise ValueError(f"talk time {piece!r} s: must not be negative")
        total += seconds
    return total


def started_increments(actual_seconds: Decimal, increment_minutes: int) -> int:
    """Increments begun by `actual_seconds`: 15:00 → 1, 15:00.001 → 2, 0 → 0."""
    # divmod on Decimal is exact, unlike a division that is then rounded up.
    whole, rest = divmod(Decimal(actual_seconds), Decimal(increment_minutes * SECONDS_PER_MINUTE))
    return int(whole) + (1 if rest > 0 else 0)


def billable_minutes(actual_seconds: Decimal, terms: BillingTerms) -> int:
    """Minutes billed for `actual_seconds` of support: rounded up per started increment, at
    least the SLA's minimum as written (20 stays 20 with 15-minute increments: the contract's
    figure), and 0 when there was no time at all."""
    if actual_seconds <= 0:
        return 0
    rounded = started_increments(actual_seconds, terms.billing_increment_minutes) * terms.billing_increment_minutes
    return max(rounded, terms.billing_minimum_minutes)


def amount_for(minutes: int, terms: BillingTerms) -> Decimal:
    """hours × hourly rate × (1 + surcharge/100), in cents.

    ROUND_HALF_UP because that is how invoices are rounded here and how a customer checks
    them on a calculator; Python's default (half to even) would lower some .xx5 amounts."""
    # One division at the end keeps the product exact until the rounding.
    exact = Decimal(minutes) * terms.hourly_rate * (100 + terms.after_hours_surcharge_pct) / 6000
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def apply_adjustment(gross: Decimal, adjustment: Adjustment | None) -> Decimal:
    """The net amount: gross less the discount, itself rounded to cents, never below 0."""
    return gross if adjustment is None else _less_discount(gross, adjustment.discount_pct)


def _less_discount(gross: Decimal, discount_pct: Decimal) -> Decimal:
    # The discount is rounded, not the net, so that gross − discount = net holds to the cent.
    return gross - (gross * discount_pct / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def bill_incident(
    *, incident_id: int, customer: str, occurred_at: datetime, terms: BillingTerms,
    talk: Iterable[TalkPiece] = (), work_minutes: Iterable[int] = (), adjustment: Adjustment | None = None,
) -> IncidentLine:  # fmt: skip
    """The statement line of one incident. `talk` is the talk time of its accepted calls and
    call-backs, `work_minutes` the logged work. `occurred_at` (aware; the incident's creation,
    i.e. the call) decides its local date and so its month, also when work runs past midnight."""
    if occurred_at.tzinfo is None:
        raise ValueError(f"incident {incident_id}: occurred_at {occurred_at.isoformat()} must be timezone-aware")
    work = list(work_minutes)
    if any(minutes < 0 for minutes in work):
        raise ValueError(f"incident {incident_id}: work minutes {work} must not be negative")
    talked = talk_seconds(talk)
    worked = sum(work)
    actual_seconds = talked + worked * SECONDS_PER_MINUTE
    minutes = billable_minutes(actual_seconds, terms)
    gross = amount_for(minutes, terms)
    return IncidentLine(
        incident_id=incident_id, customer=customer, date=occurred_at.astimezone(LOCAL_ZONE).date(),
        talk_seconds=talked, work_minutes=worked, billable_minutes=minutes,
        increments=started_increments(actual_seconds, terms.billing_increment_minutes),
        hourly_rate=terms.hourly_rate, surcharge_pct=terms.after_hours_surcharge_pct, gross=gross,
        adjustment_pct=adjustment.discount_pct if adjustment else Decimal(0),
        adjustment_reason=adjustment.reason if adjustment else "",
        net=apply_adjustment(gross, adjustment),
    )  # fmt: skip


@dataclass(frozen=True)
class BillingMonth:
    """A calendar month in Europe/Amsterdam, the month a customer sees on a statement."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def contains(self, day: date) -> bool:
        return (day.year, day.month) == (self.year, self.month)

    def utc_range(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC, for querying stored (UTC) moments of this local month."""
        following = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        start, end = datetime(self.year, self.month, 1, tzinfo=LOCAL_ZONE), datetime(*following, 1, tzinfo=LOCAL_ZONE)
        return start.astimezone(UTC), end.astimezone(UTC)


def parse_month(value: str) -> BillingMonth:
    """`"2026-11"` → BillingMonth(2026, 11); anything else is a ValueError naming the value."""
    matched = re.fullmatch(r"(\d{4})-(\d{2})", value.strip()) if isinstance(value, str) else None
    if not matched or not 1 <= int(matched.group(2)) <= 12:
        raise ValueError(f"month {value!r}: expected YYYY-MM with a month 01-12, e.g. 2026-11")
    return BillingMonth(int(matched.group(1)), int(matched.group(2)))


@dataclass(frozen=True)
class MonthlyStatement:
    """One customer's incidents of one month, in date order, and their totals."""

    customer: str
    month: BillingMonth
    lines: tuple[IncidentLine, ...]

    @property
    def total_gross(self) -> Decimal:
        return sum((line.gross for line in self.lines), Decimal(0))

    @property
    def total_net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))

    @property
    def total_billable_minutes(self) -> int:
        return sum(line.billable_minutes for line in self.lines)


def monthly_statement(lines: Iterable[IncidentLine], month: str, customer: str | None = None) -> MonthlyStatement:
    """The statement of `month` (YYYY-MM, local) from lines of one customer; lines of other
    months are left out. With lines of several customers, name the one wanted."""
    billing_month = parse_month(month)
    in_month = [line for line in lines if billing_month.contains(line.date)]
    customers = sorted({line.customer for line in in_month})
    if customer is None:
        if len(customers) != 1:
            raise ValueError(f"month {billing_month}: lines of customers {customers}; name one customer")
        customer = customers[0]
    chosen = sorted((line for line in in_month if line.customer == customer), key=lambda line: (line.date, line.incident_id))
    return MonthlyStatement(customer, billing_month, tuple(chosen))


def monthly_statements(lines: Iterable[IncidentLine], month: str) -> list[MonthlyStatement]:
    """One statement per customer with incidents in `month`, by customer."""
    lines, billing_month = list(lines), parse_month(month)
    customers = sorted({line.customer for line in lines if billing_month.contains(line.date)})
    return [monthly_statement(lines, month, customer) for customer in customers]


CSV_HEADER = (
    "customer", "incident", "date", "talk_seconds", "work_minutes", "billable_minutes", "increments",
    "hourly_rate_eur", "surcharge_pct", "gross_eur", "adjustment_pct", "adjustment_reason", "net_eur",
)  # fmt: skip
TOTAL_MARK = "total"
# Columns whose total row is the exact sum of the lines above it.
_SUMMED = ("talk_seconds", "work_minutes", "billable_minutes", "increments", "gross_eur", "net_eur")
_NUMERIC = (*_SUMMED, "hourly_rate_eur", "surcharge_pct", "adjustment_pct")


def _plain(number: Decimal) -> str:
    # No exponent ("9E+2") and no trailing zeros ("900.000000"): what a spreadsheet reads as a number.
    return format(number.normalize(), "f")


def _money(amount: Decimal) -> str:
    # Two decimals always; more only for a rate that really has them (never rounded away).
    return format(amount if amount.as_tuple().exponent < -2 else amount.quantize(CENT), "f")


def statement_csv(statement: MonthlyStatement) -> str:
    """CSV: header, one row per incident, then a total row (incident `total`, date = month).
    Amounts in EUR with two decimals and a dot; dates are Europe/Amsterdam ISO dates."""
    return export_csv([statement])


def export_csv(statements: Iterable[MonthlyStatement]) -> str:
    """Several customers' statements in one CSV that stays machine-readable: the header once,
    then per customer its incident rows followed by its own total row, exactly as
    `statement_csv` writes them; no statements is the header alone."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for statement in statements:
        _write_statement(writer, statement)
    return out.getvalue()


def _write_statement(writer: Any, statement: MonthlyStatement) -> None:
    for line in statement.lines:
        writer.writerow((
            line.customer, line.incident_id, line.date.isoformat(), _plain(line.talk_seconds), line.work_minutes,
            line.billable_minutes, line.increments, _money(line.hourly_rate), _plain(line.surcharge_pct),
            _money(line.gross), _plain(line.adjustment_pct), line.adjustment_reason, _money(line.net),
        ))  # fmt: skip
    writer.writerow((
        statement.customer, TOTAL_MARK, str(statement.month),
        _plain(sum((line.talk_seconds for line in statement.lines), Decimal(0))),
        sum(line.work_minutes for line in statement.lines), statement.total_billable_minutes,
        sum(line.increments for line in statement.lines), "", "",
        _money(statement.total_gross), "", "", _money(statement.total_net),
    ))  # fmt: skip


class StatementDoesNotAddUp(ValueError):
    """An exported statement whose rows or totals are inconsistent; says which and where."""


def verify_statement(csv_text: str) -> None:
    """Re-read an export (one statement, or several customers' from `export_csv`); raise
    StatementDoesNotAddUp unless the header is ours and each customer's rows end in that
    customer's total row, all of one month, no incident twice; each row's date lies in that
    month, its billable minutes cover its talk and work (none for no time), its gross follows
    from its minutes, rate and surcharge, its net is its gross less the discount (with a
    reason), and each total row is the exact sum of its customer's rows. The header alone is
    a valid export of a month with nothing to bill."""
    rows = list(reader := csv.DictReader(io.StringIO(csv_text)))
    if tuple(reader.fieldnames or ()) != CSV_HEADER:
        raise StatementDoesNotAddUp(f"header {reader.fieldnames}: expected {list(CSV_HEADER)}")
    if rows and rows[-1]["incident"] != TOTAL_MARK:
        raise StatementDoesNotAddUp("no total row at the end")
    # The shape first (whose rows, which month, no incident twice), then the arithmetic, so a
    # moved or doubled row is reported as such and not as the sum it happens to break.
    sections, month = _sections(rows)
    for (total_number, total), lines in sections:
        for line_number, line in lines:
            _verify_line(line_number, line, month)
        _verify_total(total_number, total, lines)


Numbered = tuple[int, dict[str, str]]  # a CSV row and its row number (the header is row 1)


def _sections(rows: list[dict[str, str]]) -> tuple[list[tuple[Numbered, list[Numbered]]], BillingMonth | None]:
    sections: list[tuple[Numbered, list[Numbered]]] = []
    month: BillingMonth | None = None
    totals_of: dict[str, int] = {}
    incidents_seen: dict[str, int] = {}
    lines: list[Numbered] = []
    for row_number, row in enumerate(rows, start=2):
        if row["incident"] != TOTAL_MARK:
            if (earlier := incidents_seen.setdefault(row["incident"], row_number)) != row_number:
                raise StatementDoesNotAddUp(f"row {row_number} incident {row['incident']}: billed in row {earlier} already")
            lines.append((row_number, row))
            continue
        customer = row["customer"]
        if len(customers := sorted({each["customer"] for _, each in lines} | {customer})) != 1:
            raise StatementDoesNotAddUp(f"rows of several customers before the total row {row_number}: {customers}")
        if customer in totals_of:
            raise StatementDoesNotAddUp(f"row {row_number}: customer {customer!r} has a total row already (row {totals_of[customer]})")
        totals_of[customer] = row_number
        try:
            this_month = parse_month(row["date"])
        except ValueError as bad:
            raise StatementDoesNotAddUp(f"total row {row_number}: {bad}") from None
        if month is not None and this_month != month:
            raise StatementDoesNotAddUp(f"total row {row_number} month {this_month}: the export is of {month}")
        month = this_month
        sections.append(((row_number, row), lines))
        lines = []
    return sections, month


def _verify_line(row_number: int, row: dict[str, str], month: BillingMonth | None) -> None:
    try:
        day = date.fromisoformat(row["date"] or "")
    except ValueError:
        raise StatementDoesNotAddUp(f"row {row_number} date {row['date']!r}: not an ISO date") from None
    if month is None or not month.contains(day):
        raise StatementDoesNotAddUp(f"row {row_number} date {row['date']}: not in month {month}")
    for column in ("gross_eur", "net_eur"):
        if not re.fullmatch(r"\d+\.\d\d", row[column] or ""):
            raise StatementDoesNotAddUp(f"row {row_number} {column} {row[column]!r}: not an amount like 12.50")
    number = {column: _number(row, column, row_number) for column in _NUMERIC}
    # Sound whatever the SLA: rounding up and a minimum only ever add, and no time bills nothing.
    # In seconds, where it is exact.
    actual_seconds = number["talk_seconds"] + number["work_minutes"] * SECONDS_PER_MINUTE
    billed_seconds = number["billable_minutes"] * SECONDS_PER_MINUTE
    if billed_seconds < actual_seconds or (actual_seconds == 0) != (billed_seconds == 0):
        raise StatementDoesNotAddUp(
            f"row {row_number} billable_minutes {row['billable_minutes']}: does not cover the "
            f"{_plain(actual_seconds)} s of talk and work"
        )
    try:
        terms = BillingTerms(number["hourly_rate_eur"], number["surcharge_pct"])
    except ValueError as impossible:
        raise StatementDoesNotAddUp(f"row {row_number}: {impossible}") from None
    if number["gross_eur"] != amount_for(int(number["billable_minutes"]), terms):
        raise StatementDoesNotAddUp(
            f"row {row_number} gross {row['gross_eur']}: not {row['billable_minutes']} min at "
            f"{row['hourly_rate_eur']}/h + {row['surcharge_pct']}%"
        )
    if number["adjustment_pct"] and not row["adjustment_reason"].strip():
        raise StatementDoesNotAddUp(f"row {row_number}: a {row['adjustment_pct']}% adjustment without a reason")
    if number["net_eur"] != _less_discount(number["gross_eur"], number["adjustment_pct"]):
        raise StatementDoesNotAddUp(
            f"row {row_number} net {row['net_eur']}: not gross {row['gross_eur']} less {row['adjustment_pct']}%"
        )


def _verify_total(row_number: int, total: dict[str, str], lines: list[Numbered]) -> None:
    for column in _SUMMED:
        summed = sum((_number(row, column, line_number) for line_number, row in lines), Decimal(0))
        if summed != _number(total, column, row_number):
            raise StatementDoesNotAddUp(f"total {column} {total[column]}: rows add up to {_plain(summed)}")


def _number(row: dict[str, str], column: str, row_number: int) -> Decimal:
    try:
        value = Decimal(row[column])
        if value.is_finite():
            return value
    except (InvalidOperation, TypeError):
        pass
    raise StatementDoesNotAddUp(f"row {row_number} {column} {row[column]!r}: not a number")
