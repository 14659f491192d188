"""`nachtdienst billing export|summary` over a month of synthetic incidents, on SQLite and
PostgreSQL: calls recorded through core.calls as the line records them, exported through the
real command, and every row and total checked against a computation written out here (with
fractions, not core.billing), then verified, and a tampered copy refused."""

from __future__ import annotations

import csv
import io
import math
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.billing import StatementDoesNotAddUp, verify_statement
from core.calls import finish_call, finish_dial_attempt, start_call, start_dial_attempt
from core.db import open_database
from core.models import Customer, CustomerPhone, Engineer, EngineerContact, Incident, Sla, Voicemail, WorkLog
from tests.integration.conftest import json_of

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LINE = "0497842611"
NACHTDIENST = Path(sys.executable).with_name("nachtdienst")
HEADER = (
    "customer,incident,date,talk_seconds,work_minutes,billable_minutes,increments,"
    "hourly_rate_eur,surcharge_pct,gross_eur,adjustment_pct,adjustment_reason,net_eur"
)


@dataclass(frozen=True)
class Terms:
    rate: str
    surcharge: int
    increment: int
    minimum: int
    after_hours_included: bool = True


# customer number → (name, phone, SLA name, terms). 1004's SLA has no after-hours support:
# the line refuses its calls, but an incident that exists anyway is billed by its SLA.
CUSTOMERS = {
    "1001": ("Bakkerij Jansen", "+31612000001", "nacht-95", Terms("95.00", 100, 15, 0)),
    "1002": ("Garage Smit", "+31612000002", "halfuur-minimum", Terms("120.00", 100, 30, 60)),
    "1003": ("Webshop De Vries", "+31612000003", "toeslag-50", Terms("87.55", 50, 15, 0)),
    "1004": ("Kantoor Pieters", "+31612000004", "alleen-kantoor", Terms("70.00", 100, 15, 0, after_hours_included=False)),
}


@dataclass(frozen=True)
class Leg:
    """A leg to the engineer: accepted with `talk_ms` of talk, or not (`result`)."""

    talk_ms: int = 0
    accepted: bool = True
    result: str = "accepted"
    open_end: bool = False  # the leg's writer never recorded its end; the call did


def talk(minutes: int = 0, seconds: int = 0, ms: int = 0, **kwargs) -> Leg:
    return Leg(talk_ms=(minutes * 60 + seconds) * 1000 + ms, **kwargs)


NO_ANSWER = Leg(accepted=False, result="no_answer")
NOT_ACCEPTED = Leg(accepted=False, result="not_accepted")  # a mobile's voicemail picked up


@dataclass
class Spec:
    name: str
    customer: str | None
    at: datetime  # UTC: the call, and the incident's creation
    legs: list[Leg] = field(default_factory=list)
    linked_call_legs: list[Leg] | None = None  # a second call filed under the incident (via its voicemail)
    work: list[int] = field(default_factory=list)
    adjustment: tuple[str, str | None] | None = None
    status: str = "resolved"
    call_goes_on_s: int = 0  # the caller stays on after the last leg (hears the closing message)
    incident_id: int = 0


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def october() -> list[Spec]:
    """October 2026: ~30 incidents; summer time ends on Sunday 25 October (03:00 CEST → 02:00 CET)."""
    specs = [
        # 1001: 95.00/h + 100 %, per 15 minutes, no minimum.
        Spec("exactly one increment", "1001", utc("2026-10-02T22:10:00"), [talk(15)]),
        Spec("a millisecond into the second", "1001", utc("2026-10-03T01:00:00"), [talk(15, ms=1)]),
        Spec("nobody accepted", "1001", utc("2026-10-04T02:00:00"), [NO_ANSWER, NOT_ACCEPTED]),
        Spec("second leg accepted, work logged", "1001", utc("2026-10-05T03:00:00"), [NO_ANSWER, talk(7, 12, 500)], work=[20]),
        Spec("waived", "1001", utc("2026-10-06T21:00:00"), [talk(40)], work=[15], adjustment=("100", "our deploy broke it")),
        Spec("half off", "1001", utc("2026-10-07T23:00:00"), [talk(22)], adjustment=("50", "partly our configuration")),
        Spec("00:30 local on the 1st", "1001", utc("2026-09-30T22:30:00"), [talk(5)]),
        Spec("23:30 local on the 31st", "1001", utc("2026-10-31T22:30:00"), [talk(10)]),
        # Accepted 02:50:20 CEST, ended 02:10:20 CET: 20 minutes, not minus 40.
        Spec("across the DST change", "1001", utc("2026-10-25T00:50:00"), [talk(20)]),
        Spec("rejected as not critical", "1001", utc("2026-10-08T20:30:00"), [talk(3)], status="rejected_not_critical"),
        Spec("leg without an end", "1001", utc("2026-10-09T01:00:00"), [talk(9, 30, open_end=True)]),
        Spec("caller stays on after the leg", "1001", utc("2026-10-11T03:00:00"), [talk(14, 59)], call_goes_on_s=180),
        Spec("linked second call", "1001", utc("2026-10-10T00:00:00"), [NO_ANSWER], linked_call_legs=[talk(12)], work=[5]),
        # 1002: 120.00/h + 100 %, per 30 minutes, at least 60.
        Spec("minimum", "1002", utc("2026-10-02T23:00:00"), [talk(5)]),
        Spec("one increment is below the minimum", "1002", utc("2026-10-11T02:00:00"), [talk(30)]),
        Spec("exactly the minimum", "1002", utc("2026-10-12T02:00:00"), [talk(60)]),
        Spec("a millisecond past the minimum", "1002", utc("2026-10-13T02:00:00"), [talk(60, ms=1)]),
        Spec("work only", "1002", utc("2026-10-14T02:00:00"), [NO_ANSWER], work=[35, 60]),
        Spec("no time, no minimum", "1002", utc("2026-10-15T02:00:00"), [NO_ANSWER]),
        Spec("half off past the minimum", "1002", utc("2026-10-16T02:00:00"), [talk(61)], adjustment=("50", "our mistake")),
        Spec("DST night, second 02:30", "1002", utc("2026-10-25T01:30:00"), [talk(29, 59)], status="in_progress"),
        # 1003: 87.55/h + 50 %, per 15 minutes.
        Spec("odd rate, one increment", "1003", utc("2026-10-02T20:00:00"), [talk(15)]),
        Spec("odd rate, one second", "1003", utc("2026-10-26T05:00:00"), [talk(seconds=1)]),
        # 1004: an SLA without after-hours support, billed by its figures.
        Spec("SLA without after-hours", "1004", utc("2026-10-20T01:00:00"), [talk(10)]),
        # Nobody to bill.
        Spec("unidentified caller", None, utc("2026-10-18T01:00:00"), [talk(20)]),
        # Other months: 00:30 local on 1 November is 31 October in UTC; 23:30 local on 30 September.
        Spec("00:30 local on 1 November", "1001", utc("2026-10-31T23:30:00"), [talk(5)]),
        Spec("23:30 local on 30 September", "1001", utc("2026-09-30T21:30:00"), [talk(5)]),
    ]
    rng = random.Random(20261025)
    for number in range(8):
        legs = [NO_ANSWER] * rng.randrange(0, 2) + [talk(ms=rng.randrange(1, 50 * 60_000)) for _ in range(rng.randrange(0, 2))]
        adjustment = ("33.33", "partly ours") if number % 3 == 0 else None
        work = [rng.randrange(1, 90) for _ in range(rng.randrange(0, 3))]
        at = utc("2026-10-01T00:00:00") + timedelta(seconds=rng.randrange(29 * 24 * 3600))
        specs.append(Spec(f"random {number}", rng.choice(["1001", "1002", "1003"]), at, legs, work=work, adjustment=adjustment))
    return specs


def record(session, specs: list[Spec]) -> None:
    """The customers and their SLAs, and each spec's calls, legs, work and incident, as the line writes them."""
    customers = {}
    for number, (name, phone, sla_name, terms) in CUSTOMERS.items():
        sla = Sla(
            name=sla_name, hourly_rate=Decimal(terms.rate), after_hours_surcharge_pct=Decimal(terms.surcharge),
            billing_increment_minutes=terms.increment, billing_minimum_minutes=terms.minimum,
            after_hours_included=terms.after_hours_included,
        )  # fmt: skip
        customers[number] = Customer(name=name, customer_number=number, sla=sla, phones=[CustomerPhone(e164=phone)])
        session.add(customers[number])
    eva = Engineer(name="Eva", contacts=[EngineerContact(kind="sip", address="sip:eva@192.0.2.50:5060")])
    session.add(eva)
    session.flush()
    for index, spec in enumerate(specs, start=1):
        phone = CUSTOMERS[spec.customer][1] if spec.customer else "anonymous"
        call = ring(session, f"chan-{index}", phone, spec.at, spec.legs, eva, spec.call_goes_on_s)
        assert (call.customer_id is None) == (spec.customer is None)  # identified by number, as on the line
        pct, reason = spec.adjustment or (None, None)
        incident = Incident(
            customer=customers[spec.customer] if spec.customer else None, call=call, created_at=spec.at, status=spec.status,
            fault_ours=spec.adjustment is not None, billing_adjustment_pct=Decimal(pct) if pct else None,
            billing_adjustment_reason=reason,
        )  # fmt: skip
        session.add(incident)
        if not any(leg.accepted for leg in spec.legs):
            session.add(voicemail(call, incident, f"chan-{index}"))
        if spec.linked_call_legs is not None:
            later = ring(session, f"chan-{index}-b", phone, spec.at + timedelta(minutes=40), spec.linked_call_legs, eva)
            session.add(voicemail(later, incident, f"chan-{index}-b"))
        for minutes in spec.work:
            session.add(WorkLog(incident=incident, engineer_id=eva.id, started_at=spec.at + timedelta(hours=1), minutes=minutes))
        session.flush()
        spec.incident_id = incident.id
    session.commit()


def ring(session, channel: str, phone: str, at: datetime, legs: list[Leg], engineer: Engineer, goes_on_s: int = 0):
    call = start_call(session, channel_id=channel, from_number=phone, to_number=LINE, at=at)
    moment = at + timedelta(seconds=30)  # past the greeting
    for leg in legs:
        attempt = start_dial_attempt(session, call, contact="sip:eva@192.0.2.50:5060", at=moment, engineer_id=engineer.id)
        if not leg.accepted:
            answered = moment + timedelta(seconds=6) if leg.result == "not_accepted" else None
            moment += timedelta(seconds=25)
            finish_dial_attempt(session, attempt, result=leg.result, at=moment, answered_at=answered)
            continue
        accepted = moment + timedelta(seconds=8)
        moment = accepted + timedelta(milliseconds=leg.talk_ms)
        if leg.open_end:
            attempt.answered_at = attempt.accepted_at = accepted
            session.flush()
        else:
            finish_dial_attempt(session, attempt, result="accepted", at=moment, answered_at=accepted, accepted_at=accepted)
    accepted_any = any(leg.accepted for leg in legs)
    finish_call(session, call, outcome="answered" if accepted_any else "voicemail", at=moment + timedelta(seconds=goes_on_s))
    return call


def voicemail(call, incident, name: str) -> Voicemail:
    return Voicemail(
        call=call, incident=incident, recorded_at=call.ended_at, duration_seconds=Decimal("31.5"),
        path=f"recordings/{name}.wav", sha256="ab" * 32, size_bytes=500_000,
    )  # fmt: skip


# --- the bill as computed here, independently ---------------------------------------------------


def cents_half_up(amount: Fraction) -> Fraction:
    return Fraction(math.floor(amount * 100 + Fraction(1, 2)), 100)


def eur(amount: Fraction) -> str:
    assert (amount * 100).denominator == 1  # whole cents, so the division below is exact
    return format(Decimal(amount.numerator) / Decimal(amount.denominator), ".2f")


def expected_row(spec: Spec) -> dict[str, object]:
    terms = CUSTOMERS[spec.customer][3]
    calls = [spec.legs] + ([spec.linked_call_legs] if spec.linked_call_legs else [])
    talk_ms = sum(leg.talk_ms for legs in calls for leg in legs if leg.accepted)
    actual_ms = talk_ms + 60_000 * sum(spec.work)
    increments = -(-actual_ms // (terms.increment * 60_000))  # ceiling
    minutes = 0 if actual_ms == 0 else max(increments * terms.increment, terms.minimum)
    gross = cents_half_up(Fraction(minutes, 60) * Fraction(terms.rate) * Fraction(100 + terms.surcharge, 100))
    pct = Fraction(spec.adjustment[0]) if spec.adjustment else Fraction(0)
    net = gross - cents_half_up(gross * pct / 100)
    return {
        "customer": spec.customer, "incident": spec.incident_id, "date": spec.at.astimezone(AMSTERDAM).date(),
        "talk_seconds": Fraction(talk_ms, 1000), "work_minutes": sum(spec.work), "billable_minutes": minutes,
        "increments": increments, "hourly_rate_eur": Fraction(terms.rate), "surcharge_pct": terms.surcharge,
        "gross_eur": gross, "adjustment_pct": pct, "adjustment_reason": spec.adjustment[1] if spec.adjustment else "",
        "net_eur": net,
    }  # fmt: skip


def billed_in(specs: list[Spec], month: tuple[int, int]) -> list[Spec]:
    return [
        spec for spec in specs
        if spec.customer and (spec.at.astimezone(AMSTERDAM).year, spec.at.astimezone(AMSTERDAM).month) == month
    ]  # fmt: skip


def parsed(row: dict[str, str]) -> dict[str, object]:
    """A CSV row in the same types as expected_row."""
    money = ("hourly_rate_eur", "gross_eur", "net_eur")
    for column in money:
        assert row[column].count(".") == 1 and len(row[column].split(".")[1]) == 2, (column, row[column])
    return {
        "customer": row["customer"], "incident": int(row["incident"]), "date": date.fromisoformat(row["date"]),
        "talk_seconds": Fraction(row["talk_seconds"]), "work_minutes": int(row["work_minutes"]),
        "billable_minutes": int(row["billable_minutes"]), "increments": int(row["increments"]),
        "hourly_rate_eur": Fraction(row["hourly_rate_eur"]), "surcharge_pct": int(row["surcharge_pct"]),
        "gross_eur": Fraction(row["gross_eur"]), "adjustment_pct": Fraction(row["adjustment_pct"]),
        "adjustment_reason": row["adjustment_reason"], "net_eur": Fraction(row["net_eur"]),
    }  # fmt: skip


def rows_of(text: str) -> list[dict[str, str]]:
    assert text.splitlines()[0] == HEADER
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def month_recorded(settings) -> list[Spec]:
    specs = october()
    with open_database(settings)() as session:
        record(session, specs)
    return specs


def by_name(specs: list[Spec], name: str) -> Spec:
    return next(spec for spec in specs if spec.name == name)


# --- export ---------------------------------------------------------------------------------------


def test_a_month_exports_rows_and_totals_that_match_an_independent_computation(nachtdienst, month_recorded):
    exported = nachtdienst("billing", "export", "--month", "2026-10")
    assert exported.exit_code == 0, exported.output
    assert exported.stderr == ""
    rows = rows_of(exported.stdout)

    expected_specs = billed_in(month_recorded, (2026, 10))
    assert len(expected_specs) >= 29
    # Per customer (by number): its incidents in date order, then its total row.
    expected_sections = defaultdict(list)
    for spec in sorted(expected_specs, key=lambda spec: (spec.at.astimezone(AMSTERDAM).date(), spec.incident_id)):
        expected_sections[spec.customer].append(expected_row(spec))
    sections = defaultdict(list)
    totals = {}
    for row in rows:
        if row["incident"] == "total":
            assert row["customer"] not in totals
            totals[row["customer"]] = row
        else:
            assert row["customer"] not in totals, "a customer's rows come before its total row"
            sections[row["customer"]].append(parsed(row))
    assert [row["customer"] for row in rows if row["incident"] == "total"] == ["1001", "1002", "1003", "1004"]
    assert dict(sections) == dict(expected_sections)

    for number, lines in expected_sections.items():
        total = totals[number]
        assert total["date"] == "2026-10"
        for column in ("talk_seconds", "work_minutes", "billable_minutes", "increments", "gross_eur", "net_eur"):
            assert Fraction(total[column]) == sum(line[column] for line in lines), (number, column)
    verify_statement(exported.stdout)


def test_the_edge_cases_bill_what_was_worked_out_by_hand(nachtdienst, month_recorded):
    rows = {row["incident"]: row for row in rows_of(nachtdienst("billing", "export", "--month", "2026-10").stdout)}

    def billed(name: str) -> tuple[str, str, str, str]:
        row = rows[str(by_name(month_recorded, name).incident_id)]
        return row["talk_seconds"], row["billable_minutes"], row["gross_eur"], row["net_eur"]

    assert billed("exactly one increment") == ("900", "15", "47.50", "47.50")
    assert billed("a millisecond into the second") == ("900.001", "30", "95.00", "95.00")
    assert billed("nobody accepted") == ("0", "0", "0.00", "0.00")
    assert billed("second leg accepted, work logged") == ("432.5", "30", "95.00", "95.00")
    assert billed("waived") == ("2400", "60", "190.00", "0.00")
    assert billed("half off") == ("1320", "30", "95.00", "47.50")
    assert billed("across the DST change") == ("1200", "30", "95.00", "95.00")
    assert billed("rejected as not critical") == ("180", "15", "47.50", "47.50")
    assert billed("leg without an end") == ("570", "15", "47.50", "47.50")
    assert billed("caller stays on after the leg") == ("899", "15", "47.50", "47.50")
    assert billed("linked second call") == ("720", "30", "95.00", "95.00")  # 12 min talk + 5 min work
    assert billed("minimum") == ("300", "60", "240.00", "240.00")
    assert billed("one increment is below the minimum") == ("1800", "60", "240.00", "240.00")
    assert billed("exactly the minimum") == ("3600", "60", "240.00", "240.00")
    assert billed("a millisecond past the minimum") == ("3600.001", "90", "360.00", "360.00")
    assert billed("work only") == ("0", "120", "480.00", "480.00")
    assert billed("no time, no minimum") == ("0", "0", "0.00", "0.00")
    assert billed("half off past the minimum") == ("3660", "90", "360.00", "180.00")
    assert billed("odd rate, one increment") == ("900", "15", "32.83", "32.83")  # 87.55 × 1.5 / 4 = 32.83125
    assert billed("SLA without after-hours") == ("600", "15", "35.00", "35.00")
    assert rows[str(by_name(month_recorded, "waived").incident_id)]["adjustment_reason"] == "our deploy broke it"
    assert rows[str(by_name(month_recorded, "00:30 local on the 1st").incident_id)]["date"] == "2026-10-01"
    assert rows[str(by_name(month_recorded, "23:30 local on the 31st").incident_id)]["date"] == "2026-10-31"
    assert rows[str(by_name(month_recorded, "DST night, second 02:30").incident_id)]["date"] == "2026-10-25"
    for name in ("unidentified caller", "00:30 local on 1 November", "23:30 local on 30 September"):
        assert str(by_name(month_recorded, name).incident_id) not in rows, name


def test_the_next_month_holds_the_incident_of_half_past_midnight_on_the_first(nachtdienst, month_recorded):
    rows = rows_of(nachtdienst("billing", "export", "--month", "2026-11").stdout)
    edge = by_name(month_recorded, "00:30 local on 1 November")
    assert [row["incident"] for row in rows] == [str(edge.incident_id), "total"]
    assert rows[0]["date"] == "2026-11-01"
    assert parsed(rows[0]) == expected_row(edge)
    september = rows_of(nachtdienst("billing", "export", "--month", "2026-09").stdout)
    assert [row["incident"] for row in september] == [str(by_name(month_recorded, "23:30 local on 30 September").incident_id), "total"]


def tampered(text: str, change) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    change(rows)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _raise_a_net(rows):
    row = next(row for row in rows[1:] if row[1] != "total" and row[12] != "0.00")
    row[12] = str(Decimal(row[12]) + Decimal("0.01"))


def _drop_a_row(rows):
    rows.remove(next(row for row in rows[1:] if row[1] != "total" and row[12] != "0.00"))


def _bill_a_row_twice(rows):
    rows.insert(1, rows[1])


def _move_a_row_to_another_customer(rows):
    first_total = next(index for index, row in enumerate(rows) if row[1] == "total")
    rows.insert(first_total + 1, rows.pop(1))


def _lower_a_rate_and_its_amounts_consistently(rows):
    row = next(row for row in rows[1:] if row[1] != "total" and row[12] != "0.00" and row[10] == "0")
    row[7], row[9], row[12] = "0.00", "0.00", "0.00"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (_raise_a_net, "net"),
        (_drop_a_row, "rows add up to"),
        (_bill_a_row_twice, "billed in row 2 already"),
        (_move_a_row_to_another_customer, "several customers"),
        (_lower_a_rate_and_its_amounts_consistently, "total gross_eur"),
    ],
)
def test_the_export_verifies_and_a_tampered_copy_does_not(nachtdienst, month_recorded, change, complaint):
    exported = nachtdienst("billing", "export", "--month", "2026-10").stdout
    verify_statement(exported)
    with pytest.raises(StatementDoesNotAddUp, match=complaint):
        verify_statement(tampered(exported, change))


def test_one_customers_export_is_that_customers_rows_of_the_whole_export(nachtdienst, month_recorded):
    everything = rows_of(nachtdienst("billing", "export", "--month", "2026-10").stdout)
    only = nachtdienst("billing", "export", "--month", "2026-10", "--customer", "1002")
    assert only.exit_code == 0, only.output
    assert rows_of(only.stdout) == [row for row in everything if row["customer"] == "1002"]
    verify_statement(only.stdout)


def test_the_export_goes_to_a_file_and_overwrites_it_only_when_told(nachtdienst, month_recorded, tmp_path):
    bill = tmp_path / "bill-2026-10.csv"
    written = nachtdienst("billing", "export", "--month", "2026-10", "--output", str(bill))
    assert written.exit_code == 0, written.output
    assert bill.read_text() == nachtdienst("billing", "export", "--month", "2026-10").stdout
    assert "written to" in written.stdout and "4 customer(s)" in written.stdout

    bill.write_text("kept\n")
    refused = nachtdienst("billing", "export", "--month", "2026-10", "--output", str(bill), input="n\n")
    assert refused.exit_code != 0
    assert bill.read_text() == "kept\n"
    again = nachtdienst("billing", "export", "--month", "2026-10", "--output", str(bill), "--yes")
    assert again.exit_code == 0, again.output
    verify_statement(bill.read_text())
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_an_output_in_a_missing_directory_is_one_line(nachtdienst, tmp_path):
    refused = nachtdienst("billing", "export", "--month", "2026-10", "--output", str(tmp_path / "nope" / "bill.csv"))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: --output ") and "does not exist" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_month_with_nothing_to_bill_is_the_header_alone(nachtdienst, month_recorded):
    for args in (("--month", "2027-01"), ("--month", "2026-12", "--customer", "1002")):
        empty = nachtdienst("billing", "export", *args)
        assert empty.exit_code == 0, empty.output
        assert empty.stdout == HEADER + "\n"
        verify_statement(empty.stdout)


def test_an_empty_database_exports_the_header_alone(nachtdienst):
    empty = nachtdienst("billing", "export", "--month", "2026-10")
    assert (empty.exit_code, empty.stdout) == (0, HEADER + "\n")


@pytest.mark.parametrize("month", ["2026-13", "nov", "2026-1", "2026-00", "26-10", ""])
def test_a_bad_month_is_one_line_naming_it(nachtdienst, month):
    for command in ("export", "summary"):
        refused = nachtdienst("billing", command, "--month", month)
        assert refused.exit_code == 1
        assert refused.stderr == f"error: --month {month!r}: expected YYYY-MM with a month 01-12, e.g. 2026-11\n"
        assert refused.stdout == ""


def test_an_unknown_customer_is_one_line_naming_it(nachtdienst, month_recorded):
    refused = nachtdienst("billing", "export", "--month", "2026-10", "--customer", "9999")
    assert refused.exit_code == 1
    assert refused.stderr == "error: --customer '9999': no customer has this customer number\n"
    assert refused.stdout == ""


# --- records the bill cannot be made from ---------------------------------------------------------


def _leave_a_call_open(session, specs):
    incident = session.get(Incident, by_name(specs, "leg without an end").incident_id)
    incident.call.ended_at = None
    return f"call {incident.call_id}, leg "


def _drop_a_reason(session, specs):
    incident = session.get(Incident, by_name(specs, "half off").incident_id)
    incident.billing_adjustment_reason = " "
    return f"incident {incident.id} of customer 1001: an adjustment needs a reason"


def _file_a_call_under_two_incidents(session, specs):
    first = session.get(Incident, by_name(specs, "exactly one increment").incident_id)
    other = session.get(Incident, by_name(specs, "00:30 local on 1 November").incident_id)
    session.add(voicemail(first.call, other, "shared"))
    return f"call {first.call_id} is linked to incidents {sorted([first.id, other.id])}"


@pytest.mark.parametrize("damage", [_leave_a_call_open, _drop_a_reason, _file_a_call_under_two_incidents])
def test_a_record_the_bill_cannot_be_made_from_fails_the_export_naming_it(nachtdienst, settings, month_recorded, damage):
    with open_database(settings)() as session:
        named = damage(session, month_recorded)
        session.commit()
    for command in ("export", "summary"):
        refused = nachtdienst("billing", command, "--month", "2026-10")
        assert refused.exit_code == 1
        assert refused.stdout == ""
        assert refused.stderr.startswith("error: cannot bill 2026-10: ")
        assert named in refused.stderr
        assert refused.stderr.count("\n") == 1


# --- summary --------------------------------------------------------------------------------------


def test_the_summary_agrees_with_the_export_per_customer(nachtdienst, month_recorded):
    summary = json_of(nachtdienst("billing", "summary", "--month", "2026-10", "--json"))
    assert set(summary) == {"month", "currency", "customers", "total", "unidentified_incidents"}
    assert (summary["month"], summary["currency"]) == ("2026-10", "EUR")
    expected = defaultdict(list)
    for spec in billed_in(month_recorded, (2026, 10)):
        expected[spec.customer].append(expected_row(spec))
    assert [row["customer_number"] for row in summary["customers"]] == sorted(expected)
    for row in summary["customers"]:
        lines = expected[row["customer_number"]]
        name, _, sla, _ = CUSTOMERS[row["customer_number"]]
        assert row == {
            "customer_number": row["customer_number"], "name": name, "sla": sla, "incidents": len(lines),
            "billable_minutes": sum(line["billable_minutes"] for line in lines),
            "gross": eur(sum(line["gross_eur"] for line in lines)),
            "net": eur(sum(line["net_eur"] for line in lines)),
        }  # fmt: skip
    everything = [line for lines in expected.values() for line in lines]
    assert summary["total"] == {
        "incidents": len(everything),
        "billable_minutes": sum(line["billable_minutes"] for line in everything),
        "gross": eur(sum(line["gross_eur"] for line in everything)),
        "net": eur(sum(line["net_eur"] for line in everything)),
    }
    assert summary["unidentified_incidents"] == [by_name(month_recorded, "unidentified caller").incident_id]


def test_the_summary_of_one_customer_leaves_unidentified_callers_out(nachtdienst, month_recorded):
    summary = json_of(nachtdienst("billing", "summary", "--month", "2026-10", "--customer", "1003", "--json"))
    assert [row["customer_number"] for row in summary["customers"]] == ["1003"]
    assert summary["total"]["incidents"] == summary["customers"][0]["incidents"]
    assert summary["unidentified_incidents"] == []


def test_the_summary_for_people_is_a_table_with_totals_and_what_was_not_billed(nachtdienst, month_recorded):
    shown = nachtdienst("billing", "summary", "--month", "2026-10")
    assert shown.exit_code == 0, shown.output
    summary = json_of(nachtdienst("billing", "summary", "--month", "2026-10", "--json"))
    for row in summary["customers"]:
        assert row["customer_number"] in shown.stdout and row["net"] in shown.stdout
    assert summary["total"]["net"] in shown.stdout
    unidentified = by_name(month_recorded, "unidentified caller").incident_id
    assert f"not billed: 1 incident(s) of unidentified callers ({unidentified})" in shown.stdout


def test_an_empty_months_summary(nachtdienst):
    summary = json_of(nachtdienst("billing", "summary", "--month", "2026-10", "--json"))
    assert summary["customers"] == [] and summary["unidentified_incidents"] == []
    assert summary["total"] == {"incidents": 0, "billable_minutes": 0, "gross": "0.00", "net": "0.00"}
    shown = nachtdienst("billing", "summary", "--month", "2026-10")
    assert (shown.exit_code, shown.stdout) == (0, "2026-10: nothing to bill\n")


# --- the installed command ------------------------------------------------------------------------


def test_the_installed_command_prints_the_verified_csv(settings, month_recorded):
    environment = {"NACHTDIENST_DATA_DIR": str(settings.data_dir), "NACHTDIENST_DATABASE_URL": settings.resolved_database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(NACHTDIENST), "billing", "export", "--month", "2026-10"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    verify_statement(done.stdout)
    assert len([row for row in rows_of(done.stdout) if row["incident"] != "total"]) == len(billed_in(month_recorded, (2026, 10)))
