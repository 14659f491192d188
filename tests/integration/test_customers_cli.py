"""`nachtdienst customers edit|show|remove|import` against SQLite and PostgreSQL: what a
sysadmin types, what they read back, and that a refused command changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.calls import start_call
from core.db import open_database
from core.models import Customer, Incident
from tests.integration.conftest import json_of

NIGHT = datetime(2026, 2, 3, 1, 30, tzinfo=UTC)
LIST_KEYS = {"id", "name", "customer_number", "status", "sla", "phones"}


def customers(nachtdienst) -> dict[str, dict]:
    return {customer["customer_number"]: customer for customer in json_of(nachtdienst("customers", "list", "--json"))}


@pytest.fixture
def acme(nachtdienst):
    added = nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678", "--phone", "0201234567")
    assert added.exit_code == 0, added.output
    nachtdienst("customers", "add", "Beta", "--number", "1002", "--phone", "0687654321")
    nachtdienst("sla", "add", "gold", "--rate", "120")


def csv_file(tmp_path: Path, text: str, name: str = "customers.csv", bom: bool = False) -> str:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return str(path)


# --- list and show --------------------------------------------------------------------------

def test_list_json_keeps_its_keys_and_adds_notes(nachtdienst, acme):
    listed = customers(nachtdienst)
    assert set(listed["1001"]) == LIST_KEYS | {"notes"}
    assert listed["1001"]["phones"] == ["+31612345678", "+31201234567"]
    assert listed["1001"]["notes"] is None


def test_show_json_is_the_list_entry_with_terms_and_history(nachtdienst, acme):
    shown = json_of(nachtdienst("customers", "show", "1001", "--json"))
    assert {key: shown[key] for key in LIST_KEYS | {"notes"}} == customers(nachtdienst)["1001"]
    assert shown["sla_terms"]["name"] == "standard"
    assert shown["sla_terms"]["hourly_rate"] == "95.00"
    assert shown["sla_terms"]["customers"] == 2
    assert (shown["calls"], shown["incidents"], shown["open_incidents"]) == (0, 0, 0)
    assert datetime.fromisoformat(shown["created_at"]).utcoffset().total_seconds() == 0
    assert set(shown) == LIST_KEYS | {"notes", "created_at", "sla_terms", "calls", "incidents", "open_incidents"}


def test_show_for_people(nachtdienst, acme):
    shown = nachtdienst("customers", "show", "1001")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("customer 1001: ACME (active)\n")
    assert "phones:  +31612345678, +31201234567" in shown.stdout
    assert "SLA:     standard: EUR 95.00/h + 100.00% after hours" in shown.stdout
    assert "history: 0 call(s), 0 incident(s), 0 open" in shown.stdout


def test_show_of_an_unknown_customer_fails(nachtdienst, acme):
    missing = nachtdienst("customers", "show", "9999")
    assert missing.exit_code == 1
    assert missing.stderr == "error: no customer with number '9999' (see `nachtdienst customers list`)\n"


def test_no_customers_is_an_empty_list(nachtdienst):
    assert json_of(nachtdienst("customers", "list", "--json")) == []


# --- edit ------------------------------------------------------------------------------------

def test_edit_name_sla_phones_and_notes(nachtdienst, acme):
    edited = nachtdienst("customers", "edit", "1001", "--name", "ACME B.V.", "--sla", "gold", "--add-phone", "0031 497 842611",
                         "--remove-phone", "+31 20 123 4567", "--notes", "server room key at the desk")
    assert edited.exit_code == 0, edited.output
    assert edited.stdout == "customer 1001 'ACME B.V.' changed: SLA gold, +31612345678, +31497842611\n"
    acme = customers(nachtdienst)["1001"]
    assert (acme["name"], acme["sla"], acme["notes"]) == ("ACME B.V.", "gold", "server room key at the desk")
    assert acme["phones"] == ["+31612345678", "+31497842611"]

    assert nachtdienst("customers", "edit", "1001", "--notes", "").exit_code == 0
    assert customers(nachtdienst)["1001"]["notes"] is None


def test_a_removed_number_is_free_for_another_customer(nachtdienst, acme):
    assert nachtdienst("customers", "edit", "1001", "--remove-phone", "0201234567").exit_code == 0
    assert nachtdienst("customers", "edit", "1002", "--add-phone", "020-1234567").exit_code == 0
    assert customers(nachtdienst)["1002"]["phones"] == ["+31687654321", "+31201234567"]


def test_removing_and_adding_the_same_number_at_once_keeps_it(nachtdienst, acme):
    assert nachtdienst("customers", "edit", "1001", "--remove-phone", "0612345678", "--add-phone", "+31612345678").exit_code == 0
    assert sorted(customers(nachtdienst)["1001"]["phones"]) == ["+31201234567", "+31612345678"]


@pytest.mark.parametrize(("args", "message"), [
    (("9999", "--name", "X"), "error: no customer with number '9999' (see `nachtdienst customers list`)\n"),
    (("1001",), "error: nothing to change: give --name, --sla, --add-phone, --remove-phone or --notes\n"),
    (("1001", "--name", "  "), "error: the customer's name is empty\n"),
    (("1001", "--sla", "platinum", "--name", "X"), "error: --sla 'platinum': no such SLA (known: gold, standard)\n"),
    (("1001", "--add-phone", "06 8765 4321", "--name", "X"), "error: --add-phone +31687654321: already a number of customer 1002 (Beta)\n"),
    (("1001", "--add-phone", "0612345678"), "error: --add-phone +31612345678: already a number of customer 1001\n"),
    (("1001", "--remove-phone", "0497842611", "--name", "X"),
     "error: --remove-phone +31497842611: not a number of customer 1001 (it has: +31612345678, +31201234567)\n"),
    (("1001", "--add-phone", "06-x", "--name", "X"),
     "error: --add-phone #1: '06-x': not a phone number (only digits, spaces, dashes and a leading + are allowed)\n"),
    (("1001", "--add-phone", "0497842611", "--add-phone", "+31497842611"), "error: the same --add-phone is given twice\n"),
])
def test_a_bad_edit_is_one_line_and_changes_nothing(nachtdienst, acme, args, message):
    before = customers(nachtdienst)
    refused = nachtdienst("customers", "edit", *args)
    assert refused.exit_code == 1
    assert refused.stderr == message
    assert customers(nachtdienst) == before


# --- remove ----------------------------------------------------------------------------------

def test_remove_asks_first_then_frees_the_number(nachtdienst, acme):
    declined = nachtdienst("customers", "remove", "1002", input="n\n")
    assert declined.exit_code == 1
    assert "Remove customer 1002 (Beta) and its 1 phone number(s)?" in declined.stdout
    assert "1002" in customers(nachtdienst)

    removed = nachtdienst("customers", "remove", "1002", input="y\n")
    assert removed.exit_code == 0, removed.output
    assert removed.stdout.endswith("customer 1002 'Beta' removed\n")
    assert set(customers(nachtdienst)) == {"1001"}
    assert nachtdienst("customers", "add", "Beta 2", "--number", "1003", "--phone", "0687654321").exit_code == 0


def test_remove_with_yes_does_not_ask(nachtdienst, acme):
    removed = nachtdienst("customers", "remove", "1002", "--yes")
    assert removed.exit_code == 0
    assert removed.stdout == "customer 1002 'Beta' removed\n"


def test_a_customer_with_calls_or_incidents_is_kept_for_its_history(nachtdienst, acme, settings):
    with open_database(settings)() as session:
        start_call(session, channel_id="chan-1", from_number="0612345678", to_number="0497842611", at=NIGHT)
        beta = session.query(Customer).filter_by(customer_number="1002").one()
        session.add(Incident(customer_id=beta.id, status="resolved", created_at=NIGHT))
        session.commit()

    refused = nachtdienst("customers", "remove", "1001", "--yes")
    assert refused.exit_code == 1
    assert refused.stderr == ("error: customer 1001 (ACME) has 1 call(s) and 0 incident(s); removing it would lose their "
                              "history and billing. Keep it, e.g. `nachtdienst customers edit 1001 --notes 'contract ended'`\n")
    assert nachtdienst("customers", "remove", "1002", "--yes").stderr.startswith(
        "error: customer 1002 (Beta) has 0 call(s) and 1 incident(s);")
    assert set(customers(nachtdienst)) == {"1001", "1002"}
    shown = json_of(nachtdienst("customers", "show", "1002", "--json"))
    assert (shown["calls"], shown["incidents"], shown["open_incidents"]) == (0, 1, 0)


def test_removing_an_unknown_customer_fails(nachtdienst):
    missing = nachtdienst("customers", "remove", "1001", "--yes")
    assert missing.exit_code == 1
    assert missing.stderr == "error: no customer with number '1001' (see `nachtdienst customers list`)\n"


# --- import ----------------------------------------------------------------------------------

def test_import_adds_every_customer_from_an_excel_file(nachtdienst, tmp_path):
    nachtdienst("sla", "add", "gold", "--rate", "120")
    path = csv_file(tmp_path, bom=True, text=(
        "customer_number;name;phones;sla;notes\r\n"
        "1001;ACME B.V.;\"06 1234 5678;+31 20 123 4567\";gold;key at the desk\r\n"
        "\r\n"
        "1002;Caf\u00e9 Noord;0031 497 842611|0687654321;;\r\n"))
    imported = nachtdienst("customers", "import", path)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == "2 added, 0 updated\n"
    listed = customers(nachtdienst)
    assert {key: listed["1001"][key] for key in ("name", "sla", "phones", "notes", "status")} == {
        "name": "ACME B.V.", "sla": "gold", "phones": ["+31612345678", "+31201234567"], "notes": "key at the desk", "status": "active"}
    assert {key: listed["1002"][key] for key in ("name", "sla", "phones", "notes")} == {
        "name": "Caf\u00e9 Noord", "sla": "standard", "phones": ["+31497842611", "+31687654321"], "notes": None}


def test_dry_run_says_what_would_happen_and_writes_nothing(nachtdienst, tmp_path):
    path = csv_file(tmp_path, "customer_number,name,phones,sla\n1001,ACME,0612345678,\n")
    dry = nachtdienst("customers", "import", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == "dry run: 1 would be added, 0 updated; nothing written\n"
    assert customers(nachtdienst) == {}


def test_every_problem_is_listed_and_nothing_is_written(nachtdienst, acme, tmp_path):
    path = csv_file(tmp_path, (
        "customer_number,name,phones,sla\n"
        "2001,Good,0497842611,\n"
        "2002,Bad phone,06-x,\n"
        "2001,Twice,0101234567,platinum\n"
        "1001,Exists,0301234567,\n"
        "2003,Taken,+31 6 8765 4321,\n"))
    refused = nachtdienst("customers", "import", path)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"error: {path}: line 3, column phones: '06-x': not a phone number (only digits, spaces, dashes and a leading + are allowed)",
        f"error: {path}: line 4, column customer_number: '2001' is on line 2 already",
        f"error: {path}: line 4, column sla: 'platinum': no such SLA (known: gold, standard)",
        f"error: {path}: line 5, column customer_number: '1001' exists already (ACME); --update replaces its name, phones, SLA and notes",
        f"error: {path}: line 6, column phones: +31687654321 is a number of customer 1002 already",
        f"error: {path}: 5 problem(s); nothing imported",
    ]
    assert set(customers(nachtdienst)) == {"1001", "1002"}


def test_update_replaces_name_phones_sla_and_notes(nachtdienst, acme, tmp_path):
    nachtdienst("customers", "edit", "1001", "--notes", "old note")
    path = csv_file(tmp_path, (
        "customer_number,name,phones,sla,notes\n"
        "1001,ACME B.V.,0612345678|0497842611,gold,new note\n"
        "1003,Gamma,0301234567,,\n"))
    imported = nachtdienst("customers", "import", path, "--update")
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == "1 added, 1 updated\n"
    acme = customers(nachtdienst)["1001"]
    assert (acme["name"], acme["sla"], acme["phones"], acme["notes"]) == ("ACME B.V.", "gold", ["+31612345678", "+31497842611"], "new note")
    # The number ACME no longer lists is free again.
    assert nachtdienst("customers", "edit", "1003", "--add-phone", "0201234567").exit_code == 0


def test_update_without_a_notes_column_keeps_the_notes_and_empty_sla_is_standard(nachtdienst, acme, tmp_path):
    nachtdienst("customers", "edit", "1001", "--notes", "keep me", "--sla", "gold")
    path = csv_file(tmp_path, "customer_number,name,phones,sla\n1001,ACME,0612345678,\n")
    assert nachtdienst("customers", "import", path, "--update").stdout == "0 added, 1 updated\n"
    acme = customers(nachtdienst)["1001"]
    assert (acme["notes"], acme["sla"], acme["phones"]) == ("keep me", "standard", ["+31612345678"])


def test_a_number_moves_between_two_customers_in_one_update(nachtdienst, acme, tmp_path):
    path = csv_file(tmp_path, (
        "customer_number,name,phones,sla\n"
        "1001,ACME,0612345678,\n"
        "1002,Beta,0687654321|0201234567,\n"))
    imported = nachtdienst("customers", "import", path, "--update")
    assert imported.exit_code == 0, imported.output
    listed = customers(nachtdienst)
    assert (listed["1001"]["phones"], listed["1002"]["phones"]) == (["+31612345678"], ["+31687654321", "+31201234567"])


def test_an_unknown_column_and_a_missing_header_are_refused(nachtdienst, tmp_path):
    unknown = nachtdienst("customers", "import", csv_file(tmp_path, "customer_number,name,phones,sla,email\n1001,A,0612345678,,a@b.nl\n"))
    assert unknown.exit_code == 1
    assert "line 1, column email: unknown column (known: customer_number, name, phones, sla, notes)" in unknown.stderr
    headless = nachtdienst("customers", "import", csv_file(tmp_path, "1001,ACME,0612345678,standard\n", name="b.csv"))
    assert headless.exit_code == 1
    assert "line 1: no header: the first line must name the columns customer_number,name,phones,sla[,notes]" in headless.stderr
    assert customers(nachtdienst) == {}


def test_a_missing_file_is_one_line(nachtdienst, tmp_path):
    missing = nachtdienst("customers", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1
    assert missing.stderr == f"error: {tmp_path / 'nope.csv'}: no such file\n"
