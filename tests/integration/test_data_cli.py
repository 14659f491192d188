"""`nachtdienst engineers|customers|calls` against SQLite and PostgreSQL: what a sysadmin types,
what they read back, and the exit codes scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.calls import finish_call, finish_dial_attempt, record_step, start_call, start_dial_attempt
from core.db import open_database
from core.models import Engineer, Voicemail
from core.settings import Settings
from tests.integration.conftest import json_of

NACHTDIENST = Path(sys.executable).with_name("nachtdienst")
NIGHT = datetime(2026, 2, 3, 1, 30, tzinfo=UTC)


# --- engineers --------------------------------------------------------------------------------


def test_an_engineer_is_added_with_sip_and_phone_contacts_in_ringing_order(nachtdienst):
    added = nachtdienst("engineers", "add", "Eva", "--contact", "sip:eva@192.0.2.50:5060", "--contact", "06 1234 5678", "--email", "eva@example.com")
    assert added.exit_code == 0, added.output
    assert "'Eva' added with 2 contact(s)" in added.stdout

    [eva] = json_of(nachtdienst("engineers", "list", "--json"))
    assert eva["name"] == "Eva"
    assert eva["email"] == "eva@example.com"
    assert eva["active"] is True
    assert eva["contacts"] == [
        {"kind": "sip", "address": "sip:eva@192.0.2.50:5060", "position": 1},
        {"kind": "phone", "address": "+31612345678", "position": 2},
    ]


def test_engineers_list_without_json_is_a_table_with_names_and_contacts(nachtdienst):
    nachtdienst("engineers", "add", "Eva", "--contact", "sip:eva@192.0.2.50:5060")
    listed = nachtdienst("engineers", "list")
    assert listed.exit_code == 0
    assert "Eva" in listed.stdout
    assert "sip:eva@192.0.2.50:5060" in listed.stdout


def test_an_engineers_name_is_taken_once(nachtdienst):
    nachtdienst("engineers", "add", "Eva", "--contact", "sip:eva@192.0.2.50:5060")
    again = nachtdienst("engineers", "add", "Eva", "--contact", "sip:eva2@192.0.2.51:5060")
    assert again.exit_code == 1
    assert again.stderr == "error: an engineer named 'Eva' exists already\n"
    assert len(json_of(nachtdienst("engineers", "list", "--json"))) == 1


@pytest.mark.parametrize("contact", ["sip:eva", "sip:@192.0.2.50", "sip:eva@192.0.2.50:70000", "sip:eva@host name"])
def test_a_malformed_sip_contact_is_refused_naming_it(nachtdienst, contact):
    refused = nachtdienst("engineers", "add", "Eva", "--contact", contact)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: --contact {contact!r}: not a SIP URI")
    assert json_of(nachtdienst("engineers", "list", "--json")) == []


def test_a_phone_contact_that_is_no_number_is_refused_naming_it(nachtdienst):
    refused = nachtdienst("engineers", "add", "Eva", "--contact", "06-1234x")
    assert refused.exit_code == 1
    assert "'06-1234x'" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_an_engineer_needs_a_contact(nachtdienst):
    refused = nachtdienst("engineers", "add", "Eva")
    assert refused.exit_code != 0
    assert "--contact" in refused.output


# --- customers --------------------------------------------------------------------------------


def test_a_customer_gets_the_standard_sla_and_numbers_in_e164(nachtdienst):
    added = nachtdienst("customers", "add", "ACME B.V.", "--number", "1001", "--phone", "0612345678", "--phone", "+31 20 123 4567")
    assert added.exit_code == 0, added.output
    [acme] = json_of(nachtdienst("customers", "list", "--json"))
    assert acme["name"] == "ACME B.V."
    assert acme["customer_number"] == "1001"
    assert acme["sla"] == "standard"
    assert acme["status"] == "active"
    assert sorted(acme["phones"]) == ["+31201234567", "+31612345678"]
    assert "ACME B.V." in nachtdienst("customers", "list").stdout


def test_an_unknown_sla_is_refused_naming_it(nachtdienst):
    refused = nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678", "--sla", "gold")
    assert refused.exit_code == 1
    assert refused.stderr == "error: --sla 'gold': no such SLA (known: standard)\n"


def test_a_customer_number_is_taken_once(nachtdienst):
    nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678")
    refused = nachtdienst("customers", "add", "Other", "--number", "1001", "--phone", "0687654321")
    assert refused.exit_code == 1
    assert "'1001'" in refused.stderr


def test_a_phone_number_in_another_form_is_still_the_same_number(nachtdienst):
    nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678")
    refused = nachtdienst("customers", "add", "Other", "--number", "1002", "--phone", "0031 6 1234 5678")
    assert refused.exit_code == 1
    assert refused.stderr == "error: --phone +31612345678: already a number of customer 1001 (ACME)\n"
    assert len(json_of(nachtdienst("customers", "list", "--json"))) == 1


def test_an_invalid_phone_number_is_refused_naming_it(nachtdienst):
    refused = nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678", "--phone", "0497-84x")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: --phone #2: '0497-84x': ")
    assert json_of(nachtdienst("customers", "list", "--json")) == []


# --- calls ------------------------------------------------------------------------------------


def record_calls(settings: Settings) -> None:
    """Three calls as the ARI app would record them: a customer who reached the engineer, a
    withheld number that left a voicemail, and one still going on."""
    with open_database(settings)() as session:
        eva = session.scalars(select(Engineer).where(Engineer.name == "Eva")).one()

        answered = start_call(session, channel_id="chan-1", from_number="31612345678", to_number="0497842611", at=NIGHT)
        record_step(session, answered, "office_hours", NIGHT, "closed")
        record_step(session, answered, "identify_caller", NIGHT + timedelta(seconds=1), "by number")
        leg = start_dial_attempt(session, answered, contact="sip:eva@192.0.2.50:5060", at=NIGHT + timedelta(seconds=20), engineer_id=eva.id)
        finish_dial_attempt(
            session,
            leg,
            result="accepted",
            at=NIGHT + timedelta(minutes=12),
            answered_at=NIGHT + timedelta(seconds=27),
            accepted_at=NIGHT + timedelta(seconds=30),
        )
        finish_call(session, answered, outcome="answered", at=NIGHT + timedelta(minutes=12))

        withheld = start_call(session, channel_id="chan-2", from_number="anonymous", to_number="0497842611", at=NIGHT + timedelta(hours=1))
        session.add(
            Voicemail(
                call=withheld,
                recorded_at=NIGHT + timedelta(hours=1, minutes=2),
                duration_seconds=41.5,
                path="recordings/2026/02/chan-2.wav",
                sha256="ab" * 32,
                size_bytes=664_000,
            )
        )
        finish_call(session, withheld, outcome="voicemail", at=NIGHT + timedelta(hours=1, minutes=3))

        start_call(session, channel_id="chan-3", from_number=None, to_number="+31497842611", at=NIGHT + timedelta(hours=2), path="agi")
        session.commit()


@pytest.fixture
def calls_recorded(nachtdienst, settings):
    nachtdienst("engineers", "add", "Eva", "--contact", "sip:eva@192.0.2.50:5060")
    nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678")
    record_calls(settings)


def test_calls_list_json_is_every_call_newest_first_as_recorded(nachtdienst, calls_recorded):
    calls = json_of(nachtdienst("calls", "list", "--json"))
    assert [call["channel_id"] for call in calls] == ["chan-3", "chan-2", "chan-1"]

    ongoing, withheld, answered = calls
    assert ongoing["path"] == "agi"
    assert ongoing["outcome"] is None and ongoing["ended_at"] is None
    assert ongoing["from_number"] is None and ongoing["from_e164"] is None

    assert withheld["from_number"] == "anonymous"
    assert withheld["from_e164"] is None
    assert withheld["customer"] is None
    assert withheld["outcome"] == "voicemail"
    assert withheld["voicemail"] == {
        "id": withheld["voicemail"]["id"],
        "recorded_at": "2026-02-03T02:32:00+00:00",
        "duration_seconds": 41.5,
        "path": "recordings/2026/02/chan-2.wav",
        "sha256": "ab" * 32,
        "partial": False,
    }

    assert answered == {
        "id": answered["id"],
        "channel_id": "chan-1",
        "started_at": "2026-02-03T01:30:00+00:00",
        "ended_at": "2026-02-03T01:42:00+00:00",
        "from_number": "31612345678",
        "from_e164": "+31612345678",
        "to_number": "0497842611",
        "customer": {"id": answered["customer"]["id"], "name": "ACME", "customer_number": "1001"},
        "path": "ari",
        "direction": "inbound",
        "incident_id": None,
        "outcome": "answered",
        "outcome_detail": None,
        "abandoned_step": None,
        "steps": [
            {"at": "2026-02-03T01:30:00+00:00", "step": "office_hours", "detail": "closed"},
            {"at": "2026-02-03T01:30:01+00:00", "step": "identify_caller", "detail": "by number"},
        ],
        "dial_attempts": [
            {
                "engineer": "Eva",
                "contact": "sip:eva@192.0.2.50:5060",
                "step_position": 1,
                "started_at": "2026-02-03T01:30:20+00:00",
                "answered_at": "2026-02-03T01:30:27+00:00",
                "accepted_at": "2026-02-03T01:30:30+00:00",
                "ended_at": "2026-02-03T01:42:00+00:00",
                "result": "accepted",
            }
        ],
        "voicemail": None,
    }


def test_calls_list_limit_keeps_the_newest(nachtdienst, calls_recorded):
    calls = json_of(nachtdienst("calls", "list", "--json", "--limit", "2"))
    assert [call["channel_id"] for call in calls] == ["chan-3", "chan-2"]


def test_calls_list_without_json_is_a_table(nachtdienst, calls_recorded):
    listed = nachtdienst("calls", "list")
    assert listed.exit_code == 0
    for shown in ("31612345678", "ACME", "answered", "voicemail", "withheld", "in progress"):
        assert shown in listed.stdout


def test_calls_show_is_the_same_record_as_the_list(nachtdienst, calls_recorded):
    newest_first = json_of(nachtdienst("calls", "list", "--json"))
    answered = newest_first[-1]
    assert json_of(nachtdienst("calls", "show", str(answered["id"]), "--json")) == answered
    shown = nachtdienst("calls", "show", str(answered["id"]))
    assert "identify_caller" in shown.stdout
    assert "sip:eva@192.0.2.50:5060" in shown.stdout


def test_calls_show_of_an_unknown_call_fails(nachtdienst, calls_recorded):
    missing = nachtdienst("calls", "show", "9999")
    assert missing.exit_code == 1
    assert missing.stderr == "error: no call with id 9999\n"


def test_no_calls_is_an_empty_json_array(nachtdienst):
    assert json_of(nachtdienst("calls", "list", "--json")) == []


def test_the_installed_command_lists_calls_as_json(settings, calls_recorded):
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("NACHTDIENST_")},
        "NACHTDIENST_DATA_DIR": str(settings.data_dir),
        "NACHTDIENST_DATABASE_URL": settings.resolved_database_url,
    }
    listed = subprocess.run([str(NACHTDIENST), "calls", "list", "--json"], env=environment, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [call["channel_id"] for call in json.loads(listed.stdout)] == ["chan-3", "chan-2", "chan-1"]


def test_a_database_that_is_down_is_one_line_and_exit_1(tmp_path):
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("NACHTDIENST_")},
        "NACHTDIENST_DATA_DIR": str(tmp_path),
        # Port 9 (discard) on localhost: nothing listens there.
        "NACHTDIENST_DATABASE_URL": "postgresql://nacht:s3cret@127.0.0.1:9/nachtdienst",
    }
    listed = subprocess.run([str(NACHTDIENST), "calls", "list"], env=environment, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 1
    assert listed.stderr.startswith("error: cannot connect to postgresql://nacht@127.0.0.1:9/nachtdienst: ")
    assert listed.stderr.count("\n") == 1
    assert "s3cret" not in listed.stderr


def test_a_command_on_sqlite_takes_the_write_lock_before_it_reads(tmp_path, monkeypatch):
    """A command reading then writing while a service commits in between would be refused in
    WAL mode ("database is locked"); so its transaction begins as a writer (and waits)."""
    import sqlite3

    from sqlalchemy import text

    from nachtdienst.cli import common

    monkeypatch.setenv("NACHTDIENST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NACHTDIENST_DATABASE_URL", f"sqlite:///{tmp_path / 'nachtdienst.db'}")
    common.settings.cache_clear()
    with common.database() as session:
        session.execute(text("SELECT 1"))  # a read: the transaction has begun
        other = sqlite3.connect(tmp_path / "nachtdienst.db", timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    common.settings.cache_clear()
