"""`nachtdienst incidents …` against SQLite and PostgreSQL: triage through the lifecycle, the SLA
clock, logged work and billing adjustments, with the audit trail each change leaves.

Incidents come from calls, so the tests open them as the call flow does
(`core.incident_store.open_incident`) and drive everything else through the real commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.db import open_database
from core.incident_store import open_incident
from core.models import AuditEntry, Customer, Transcript, Voicemail
from core.settings import Settings
from nachtdienst.cli import abuse_cmd, incidents_cmd
from tests.integration.conftest import json_of

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # a Tuesday night; Amsterdam is UTC+1 in winter
LIST_KEYS = {
    "id", "status", "summary", "customer", "call_id", "created_at", "acknowledged_at", "acknowledged_by",
    "first_contact_at", "first_contact_by", "started_at", "started_by", "resolved_at", "resolved_by", "rejected_at",
    "rejected_by", "rejection_reason", "fault_ours", "billing_adjustment", "work_minutes", "sla", "voicemails",
}  # fmt: skip
SLA_KEYS = {
    "applies", "resolution_target_minutes", "response_target_minutes", "resolution_due_at", "response_due_at",
    "breached_response", "breached_resolution", "time_to_acknowledge_seconds", "time_to_first_contact_seconds",
    "time_to_resolution_seconds",
}  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class Clock:
    """The commands' `now`, set by the test."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        return self.now


def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The `incidents` and `abuse` commands' clock, at NIGHT + 12 h until the test moves it."""
    fixed = Clock(NIGHT + timedelta(hours=12))
    monkeypatch.setattr(incidents_cmd, "now", fixed)
    monkeypatch.setattr(abuse_cmd, "now", fixed)
    return fixed


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return fixed_clock(monkeypatch)


def set_up_desk(nachtdienst) -> None:
    """Two engineers and two customers, added as a sysadmin would."""
    for name, address in (("Eva", "sip:eva@192.0.2.50:5060"), ("Piet", "sip:piet@192.0.2.51:5060")):
        assert nachtdienst("engineers", "add", name, "--contact", address).exit_code == 0
    for name, number, phone in (("ACME B.V.", "1001", "0612345678"), ("Globex", "1002", "0687654321")):
        assert nachtdienst("customers", "add", name, "--number", number, "--phone", phone).exit_code == 0


def open_incidents(settings: Settings, customer_number: str | None, *moments: datetime, summary: str = "site down") -> list[int]:
    """Incidents opened as the call flow opens them; their ids."""
    with open_database(settings)() as session:
        customer = session.scalar(select(Customer).where(Customer.customer_number == customer_number)) if customer_number else None
        ids = [open_incident(session, customer, None, summary, moment).id for moment in moments]
        session.commit()
    return ids


def audit_entries(settings: Settings, entity: str, entity_id: int) -> list[AuditEntry]:
    with open_database(settings)() as session:
        query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        return list(session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))


def show(nachtdienst, incident_id: int) -> dict:
    return json_of(nachtdienst("incidents", "show", str(incident_id), "--json"))


def refused(result, message: str) -> None:
    """One clear line on stderr, exit 1, nothing on stdout."""
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""


# --- the lifecycle ----------------------------------------------------------------------------


def test_an_incident_goes_through_its_lifecycle_with_every_step_audited(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)

    acked = nachtdienst("incidents", "ack", str(incident), "--by", "Eva", "--at", iso(NIGHT + timedelta(minutes=5)))
    assert acked.stdout == f"incident {incident} acknowledged by Eva at 2026-02-03 02:05\n"
    contact = nachtdienst("incidents", "contact", str(incident), "--by", "Piet", "--at", "2026-02-03T02:12")  # local time
    assert contact.exit_code == 0, contact.output
    critical = nachtdienst("incidents", "triage", str(incident), "--critical", "--by", "Eva", "--at", iso(NIGHT + timedelta(minutes=15)))
    assert critical.stdout == f"incident {incident} is critical: in progress (Eva, 2026-02-03 02:15)\n"
    logged = nachtdienst("incidents", "log-work", str(incident), "--minutes", "45", "--at", iso(NIGHT + timedelta(minutes=20)),
                         "--by", "Piet", "--note", "restored the database")  # fmt: skip
    assert logged.stdout == f"logged 45 min on incident {incident} for Piet, from 2026-02-03 02:20\n"
    resolved = nachtdienst("incidents", "resolve", str(incident), "--by", "Eva", "--note", "failover done", "--at", iso(NIGHT + timedelta(hours=2)))
    assert resolved.stdout == f"incident {incident} resolved by Eva at 2026-02-03 04:00: resolved in 2 h, within the 4 h target\n"

    data = show(nachtdienst, incident)
    assert data["status"] == "resolved"
    assert (data["acknowledged_at"], data["acknowledged_by"]) == (iso(NIGHT + timedelta(minutes=5)), "Eva")
    assert (data["first_contact_at"], data["first_contact_by"]) == (iso(NIGHT + timedelta(minutes=12)), "Piet")
    assert (data["started_at"], data["started_by"]) == (iso(NIGHT + timedelta(minutes=15)), "Eva")
    assert (data["resolved_at"], data["resolved_by"]) == (iso(NIGHT + timedelta(hours=2)), "Eva")
    assert data["sla"]["time_to_acknowledge_seconds"] == 5 * 60
    assert data["sla"]["time_to_first_contact_seconds"] == 12 * 60
    assert data["sla"]["time_to_resolution_seconds"] == 2 * 3600
    assert data["sla"]["breached_resolution"] is False
    assert data["work_logs"] == [{"id": data["work_logs"][0]["id"], "engineer": "Piet", "started_at": iso(NIGHT + timedelta(minutes=20)),
                                  "minutes": 45, "note": "restored the database"}]  # fmt: skip
    assert data["work_minutes"] == 45

    trail = audit_entries(settings, "incident", incident)
    assert [(entry.action, entry.actor) for entry in trail] == [
        ("open", "system"), ("acknowledge", "Eva"), ("first_contact", "Piet"), ("start_work", "Eva"),
        ("resolve", "Eva"), ("log_work", "Piet"),
    ]  # fmt: skip
    by_action = {entry.action: entry for entry in trail}
    assert by_action["acknowledge"].detail["from"] == "new" and by_action["acknowledge"].detail["to"] == "acknowledged"
    assert by_action["resolve"].detail["note"] == "failover done"
    assert by_action["resolve"].at == NIGHT + timedelta(hours=2)  # the back-dated moment, not when it was typed
    assert by_action["log_work"].detail["minutes"] == 45
    assert [entry["action"] for entry in data["audit"]] == [entry.action for entry in trail]


def test_triaging_a_new_incident_as_critical_acknowledges_it_at_the_same_moment(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    result = nachtdienst("incidents", "triage", str(incident), "--critical", "--by", "eva", "--at", iso(NIGHT + timedelta(minutes=3)))
    assert result.stdout == f"incident {incident} is critical: acknowledged and in progress (Eva, 2026-02-03 02:03)\n"
    data = show(nachtdienst, incident)
    assert data["status"] == "in_progress"
    assert data["acknowledged_at"] == data["started_at"] == iso(NIGHT + timedelta(minutes=3))
    assert [entry["action"] for entry in data["audit"]] == ["open", "acknowledge", "start_work"]


def test_a_transition_without_at_happens_now(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    assert nachtdienst("incidents", "ack", str(incident), "--by", "Eva").exit_code == 0
    assert show(nachtdienst, incident)["acknowledged_at"] == iso(clock.now)


def test_first_contact_is_kept_once(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    nachtdienst("incidents", "contact", str(incident), "--by", "Eva", "--at", iso(NIGHT + timedelta(minutes=10)))
    again = nachtdienst("incidents", "contact", str(incident), "--by", "Piet", "--at", iso(NIGHT + timedelta(minutes=30)))
    assert again.exit_code == 0
    assert again.stdout == f"incident {incident} had its first contact already at 2026-02-03 02:10 (Eva); kept\n"
    data = show(nachtdienst, incident)
    assert (data["first_contact_at"], data["first_contact_by"]) == (iso(NIGHT + timedelta(minutes=10)), "Eva")
    assert [entry["action"] for entry in data["audit"]].count("first_contact") == 1


# --- the SLA clock ----------------------------------------------------------------------------


def resolve_after(nachtdienst, incident: int, opened: datetime, elapsed: timedelta) -> None:
    assert nachtdienst("incidents", "ack", str(incident), "--by", "Eva", "--at", iso(opened + timedelta(minutes=1))).exit_code == 0
    assert nachtdienst("incidents", "resolve", str(incident), "--by", "Eva", "--at", iso(opened + elapsed)).exit_code == 0


def test_a_resolution_after_four_hours_is_a_breach_and_exactly_four_is_not(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    late, on_time, open_past_due, open_in_time = open_incidents(
        settings, "1001", NIGHT, NIGHT + timedelta(minutes=1), NIGHT + timedelta(minutes=2), clock.now - timedelta(hours=1))
    resolve_after(nachtdienst, late, NIGHT, timedelta(hours=4, minutes=1))
    resolve_after(nachtdienst, on_time, NIGHT + timedelta(minutes=1), timedelta(hours=4))

    listed = {element["id"]: element for element in json_of(nachtdienst("incidents", "list", "--json"))}
    assert listed[late]["sla"]["breached_resolution"] is True
    assert listed[late]["sla"]["time_to_resolution_seconds"] == 4 * 3600 + 60
    assert listed[late]["sla"]["resolution_due_at"] == iso(NIGHT + timedelta(hours=4))
    assert listed[on_time]["sla"]["breached_resolution"] is False
    assert listed[open_past_due]["sla"]["breached_resolution"] is True  # open and past due is breached already
    assert listed[open_past_due]["sla"]["time_to_resolution_seconds"] is None
    assert listed[open_in_time]["sla"]["breached_resolution"] is False

    breached = json_of(nachtdienst("incidents", "list", "--breached", "--json"))
    assert [element["id"] for element in breached] == [open_past_due, late]
    late_text = nachtdienst("incidents", "resolve", str(late), "--by", "Eva")
    assert "resolved is final" in late_text.stderr
    assert "resolved in 4 h 01 min, BREACHED the 4 h target" in nachtdienst("incidents", "show", str(late)).stdout


def test_a_rejected_incident_owes_no_sla(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    nachtdienst("incidents", "triage", str(incident), "--not-critical", "--reason", "a test server", "--by", "Eva")
    [element] = json_of(nachtdienst("incidents", "list", "--json"))
    assert element["sla"]["applies"] is False
    assert element["sla"]["breached_resolution"] is False
    assert json_of(nachtdienst("incidents", "list", "--breached", "--json")) == []


# --- listing ----------------------------------------------------------------------------------


def test_the_list_json_shape_is_stable_newest_first(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    first, = open_incidents(settings, "1001", NIGHT, summary="mail down")
    second, = open_incidents(settings, None, NIGHT + timedelta(minutes=30), summary="voicemail from a withheld number")
    listed = json_of(nachtdienst("incidents", "list", "--json"))
    assert [element["id"] for element in listed] == [second, first]
    for element in listed:
        assert set(element) == LIST_KEYS
        assert set(element["sla"]) == SLA_KEYS
    older = listed[1]
    assert older["customer"] == {"id": older["customer"]["id"], "name": "ACME B.V.", "customer_number": "1001"}
    assert older["status"] == "new"
    assert older["summary"] == "mail down"
    assert older["created_at"] == iso(NIGHT)
    assert older["acknowledged_at"] is None and older["acknowledged_by"] is None
    assert older["billing_adjustment"] is None and older["fault_ours"] is False
    assert older["voicemails"] == 0
    assert older["sla"]["resolution_target_minutes"] == 240
    assert listed[0]["customer"] is None  # no customer: the standard SLA still applies
    assert listed[0]["sla"]["resolution_due_at"] == iso(NIGHT + timedelta(minutes=30, hours=4))


def test_list_filters_by_status_open_and_customer(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    acme_new, acme_done = open_incidents(settings, "1001", NIGHT, NIGHT + timedelta(minutes=1))
    [globex] = open_incidents(settings, "1002", NIGHT + timedelta(minutes=2))
    resolve_after(nachtdienst, acme_done, NIGHT + timedelta(minutes=1), timedelta(hours=1))
    nachtdienst("incidents", "ack", str(globex), "--by", "Piet")

    def ids(*options: str) -> list[int]:
        return [element["id"] for element in json_of(nachtdienst("incidents", "list", *options, "--json"))]

    assert ids("--status", "resolved") == [acme_done]
    assert ids("--status", "acknowledged") == [globex]
    assert ids("--open") == [globex, acme_new]
    assert ids("--customer", "1001") == [acme_done, acme_new]
    assert ids("--customer", "1001", "--open") == [acme_new]
    assert ids("--limit", "1") == [globex]
    table = nachtdienst("incidents", "list")
    assert table.exit_code == 0
    assert "Globex" in table.stdout and "acknowledged" in table.stdout


def test_an_empty_list(nachtdienst, clock):
    assert json_of(nachtdienst("incidents", "list", "--json")) == []
    assert nachtdienst("incidents", "list").stdout == "no incidents\n"
    assert nachtdienst("incidents", "list", "--open").stdout == "no incidents match\n"


def test_show_lists_voicemails_with_transcript_and_card(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    with open_database(settings)() as session:
        voicemail = Voicemail(incident_id=incident, recorded_at=NIGHT, duration_seconds=Decimal("42.5"),
                              path="recordings/2026/02/03/vm-1.wav", sha256="0" * 64, size_bytes=680000)  # fmt: skip
        voicemail.transcript = Transcript(text="Our webshop is down since midnight.", language="en",
                                          problem="webshop down", urgency="orders are lost", callback_number="+31612345678")  # fmt: skip
        session.add(voicemail)
        session.commit()

    [element] = json_of(nachtdienst("incidents", "list", "--json"))
    assert element["voicemails"] == 1
    [shown] = show(nachtdienst, incident)["voicemails"]
    assert shown["path"] == "recordings/2026/02/03/vm-1.wav"
    assert shown["duration_seconds"] == 42.5
    assert shown["transcript"]["text"] == "Our webshop is down since midnight."
    assert shown["transcript"]["problem"] == "webshop down"
    assert shown["transcript"]["callback_number"] == "+31612345678"
    text = nachtdienst("incidents", "show", str(incident)).stdout
    assert "recordings/2026/02/03/vm-1.wav (42 s)" in text
    assert "Our webshop is down since midnight." in text
    assert "problem: webshop down" in text


# --- billing adjustments ----------------------------------------------------------------------


def test_fault_ours_waives_or_discounts_with_the_reason_audited(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    waived, discounted = open_incidents(settings, "1001", NIGHT, NIGHT + timedelta(minutes=1))
    result = nachtdienst("incidents", "adjust", str(waived), "--waive", "--reason", "our update broke it", "--by", "Eva")
    assert result.stdout == f"incident {waived}: fault ours, line waived (100%) by Eva: our update broke it\n"
    nachtdienst("incidents", "adjust", str(discounted), "--discount", "25", "--reason", "slow response", "--by", "Piet")

    listed = {element["id"]: element for element in json_of(nachtdienst("incidents", "list", "--json"))}
    assert listed[waived]["fault_ours"] is True
    assert listed[waived]["billing_adjustment"] == {"pct": "100.00", "reason": "our update broke it"}
    assert listed[discounted]["billing_adjustment"] == {"pct": "25.00", "reason": "slow response"}
    [entry] = [e for e in audit_entries(settings, "incident", discounted) if e.action == "discount"]
    assert (entry.actor, entry.detail["to"], entry.detail["from"]) == ("Piet", {"pct": "25.00", "reason": "slow response"}, None)

    cleared = nachtdienst("incidents", "adjust", str(discounted), "--clear", "--reason", "was their firewall", "--by", "Piet")
    assert cleared.exit_code == 0
    assert show(nachtdienst, discounted)["billing_adjustment"] is None
    assert audit_entries(settings, "incident", discounted)[-1].action == "clear_adjustment"


# --- bad input: one line, non-zero exit, nothing changed ------------------------------------


def test_an_unknown_incident_is_refused(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    refused(nachtdienst("incidents", "ack", "99", "--by", "Eva"), "no incident with id 99")
    refused(nachtdienst("incidents", "show", "99"), "no incident with id 99")
    refused(nachtdienst("incidents", "log-work", "99", "--minutes", "5", "--by", "Eva"), "no incident with id 99")


def test_an_unknown_engineer_is_refused_naming_it(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    refused(nachtdienst("incidents", "ack", str(incident), "--by", "Evq"), "--by 'Evq': no engineer of that name (known: Eva, Piet)")
    assert show(nachtdienst, incident)["status"] == "new"


def test_not_critical_needs_a_reason(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    for reason in ([], ["--reason", "  "]):
        refused(nachtdienst("incidents", "triage", str(incident), "--not-critical", *reason, "--by", "Eva"),
                "--reason is required with --not-critical (why it is not critical)")  # fmt: skip
    refused(nachtdienst("incidents", "triage", str(incident), "--by", "Eva"), "say --critical or --not-critical")
    assert show(nachtdienst, incident)["status"] == "new"
    assert json_of(nachtdienst("customers", "list", "--json"))[0]["status"] == "active"


@pytest.mark.parametrize(("options", "message"), [
    (["--discount", "150"], "--discount '150': 150 must be more than 0 and at most 100 (percent)"),
    (["--discount", "0"], "--discount '0': 0 must be more than 0 and at most 100 (percent)"),
    (["--discount", "12.345"], "--discount '12.345': 12.345 has more than two decimals"),
    (["--discount", "half"], "--discount 'half': 'half' is not a number"),
    (["--waive", "--discount", "50"], "say one of --waive, --discount PCT or --clear"),
    (["--waive"], "--reason is required (why the fault was ours, or why the adjustment is undone)"),
])  # fmt: skip
def test_a_bad_adjustment_is_refused(nachtdienst, settings, clock, options, message):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    reason = [] if options == ["--waive"] else ["--reason", "our fault"]
    refused(nachtdienst("incidents", "adjust", str(incident), *options, *reason, "--by", "Eva"), message)
    assert show(nachtdienst, incident)["billing_adjustment"] is None


@pytest.mark.parametrize(("minutes", "message"), [
    ("0", "--minutes 0: must be a whole number from 1 to 1440"),
    ("-5", "--minutes -5: must be a whole number from 1 to 1440"),
    ("1441", "--minutes 1441: must be a whole number from 1 to 1440"),
])  # fmt: skip
def test_bad_minutes_are_refused(nachtdienst, settings, clock, minutes, message):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    refused(nachtdienst("incidents", "log-work", str(incident), "--minutes", minutes, "--by", "Eva"), message)
    assert show(nachtdienst, incident)["work_logs"] == []


def test_work_cannot_end_in_the_future(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", clock.now - timedelta(minutes=10))
    result = nachtdienst("incidents", "log-work", str(incident), "--minutes", "60", "--by", "Eva")
    refused(result, "--minutes 60: from 2026-02-03 13:50 the work would end at 2026-02-03 14:50, after now")
    early = nachtdienst("incidents", "log-work", str(incident), "--minutes", "5", "--by", "Eva", "--at", "2026-02-03T13:49")
    refused(early, f"--at '2026-02-03T13:49': is before incident {incident} was opened (2026-02-03 13:50:00 Europe/Amsterdam)")
    assert show(nachtdienst, incident)["work_logs"] == []


def test_a_transition_that_is_not_allowed_says_from_where_to_where_and_why(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    rejected, fresh = open_incidents(settings, "1001", NIGHT, NIGHT)
    nachtdienst("incidents", "triage", str(rejected), "--not-critical", "--reason", "test server", "--by", "Eva")
    refused(nachtdienst("incidents", "resolve", str(rejected), "--by", "Eva"),
            f"incident {rejected}: rejected_not_critical → resolved is not allowed "
            "(rejected_not_critical is final; a problem that comes back is a new incident)")  # fmt: skip
    refused(nachtdienst("incidents", "resolve", str(fresh), "--by", "Eva"),
            f"incident {fresh}: new → resolved is not allowed (acknowledge it first)")  # fmt: skip
    assert show(nachtdienst, fresh)["status"] == "new"


def test_at_may_not_be_in_the_future_nor_before_the_incident_nor_its_last_step(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident] = open_incidents(settings, "1001", NIGHT)
    refused(nachtdienst("incidents", "ack", str(incident), "--by", "Eva", "--at", iso(clock.now + timedelta(minutes=1))),
            f"--at {iso(clock.now + timedelta(minutes=1))!r}: is in the future (2026-02-03 14:00:00 Europe/Amsterdam)")  # fmt: skip
    refused(nachtdienst("incidents", "ack", str(incident), "--by", "Eva", "--at", "2026-02-03T01:59"),
            f"--at '2026-02-03T01:59': is before incident {incident} was opened (2026-02-03 02:00:00 Europe/Amsterdam)")  # fmt: skip
    refused(nachtdienst("incidents", "ack", str(incident), "--by", "Eva", "--at", "yesterday"),
            "--at 'yesterday': not an ISO 8601 date/time like 2026-12-24T18:00 or 2026-12-24T18:00+01:00")  # fmt: skip
    nachtdienst("incidents", "ack", str(incident), "--by", "Eva", "--at", iso(NIGHT + timedelta(hours=1)))
    result = nachtdienst("incidents", "resolve", str(incident), "--by", "Eva", "--at", iso(NIGHT + timedelta(minutes=30)))
    assert result.exit_code == 1
    assert "acknowledged → resolved is not allowed" in result.stderr and "is before its latest transition" in result.stderr
    assert show(nachtdienst, incident)["status"] == "acknowledged"


# --- remind ---------------------------------------------------------------------------------


def test_remind_makes_the_pbx_call_the_engineer_about_a_new_incident_now(nachtdienst, settings, clock):
    set_up_desk(nachtdienst)
    [incident_id] = open_incidents(settings, "1001", NIGHT)
    assert show(nachtdienst, incident_id)["reminder_call"] is None

    result = nachtdienst("incidents", "remind", str(incident_id))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"incident {incident_id}: the engineer on duty will be called now (the ARI app must be running)\n"
    assert show(nachtdienst, incident_id)["reminder_call"] == {
        "status": "pending", "due_at": iso(clock.now), "attempts": 0, "result": None, "last_error": None, "call_id": None}

    assert nachtdienst("incidents", "ack", str(incident_id), "--by", "Eva").exit_code == 0
    refused(nachtdienst("incidents", "remind", str(incident_id)), f"incident {incident_id} is acknowledged: only a new incident is called about")
    refused(nachtdienst("incidents", "remind", "999"), "no incident with id 999")
