"""`core.line_desk` on SQLite and PostgreSQL: what the call flow asks the database (who is
calling, an open message, office hours, whom to ring) and how a voicemail is stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core import line_desk
from core.calls import start_call
from core.db import open_database
from core.db import begin_write
from core.incident_store import transition_incident, triage
from core.line_desk import CallNotRecorded
from core.models import (
    STANDARD_SLA_NAME,
    AuditEntry,
    CallStep,
    Customer,
    CustomerPhone,
    Engineer,
    EngineerContact,
    Incident,
    Notification,
    OfficeClosure,
    Sla,
    TranscriptionJob,
    Voicemail,
)
from core.roster_store import NoFallback, save_rotation
from core.settings import NotifySettings, RosterSettings, Settings

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam: the office is closed
NOON = datetime(2026, 2, 3, 11, 0, tzinfo=UTC)  # Tuesday 12:00 in Amsterdam: open
MINUTE = timedelta(minutes=1)
ACME_PHONE = "+31612345678"
SUPPORT = "0497842611"


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = open_database(settings)
    with factory() as session:
        standard = session.scalar(select(Sla).where(Sla.name == STANDARD_SLA_NAME))
        office_only = Sla(name="office only", hourly_rate=Decimal("80.00"), after_hours_included=False)
        session.add_all([
            Customer(name="ACME", customer_number="1001", sla=standard, phones=[CustomerPhone(e164=ACME_PHONE)]),
            Customer(name="Zeros", customer_number="00420", sla=standard),
            Customer(name="Spaced", customer_number="12-34 5", sla=office_only),
            Customer(name="Seven", customer_number="777", sla=standard),
            Customer(name="Oh-seven", customer_number="0777", sla=standard),
        ])  # fmt: skip
        session.commit()
    yield factory
    factory.kw["bind"].dispose()


def customer(session: Session, number: str) -> Customer:
    return session.scalar(select(Customer).where(Customer.customer_number == number))


def a_call(session: Session, channel_id: str, from_number: str | None = ACME_PHONE, at: datetime = NIGHT):
    call = start_call(session, channel_id=channel_id, from_number=from_number, to_number=SUPPORT, at=at)
    session.commit()
    return call


def store(session: Session, settings: Settings, channel_id: str, audio: bytes = b"RIFF-audio", *, at: datetime = NIGHT,
          kind: str = "critical", **extra):  # fmt: skip
    return line_desk.store_voicemail(session, settings, call_channel_id=channel_id, audio=audio, audio_format="wav",
                                     recorded_at=at, duration_seconds=Decimal("12.5"), partial=False, kind=kind,
                                     **extra)  # fmt: skip


# --- who is calling -------------------------------------------------------------------------


@pytest.mark.parametrize("number", [ACME_PHONE, "0612345678", "06-12 34 56 78", "0031612345678", "31612345678"])
def test_a_customer_is_found_by_its_number_in_every_form(sessions, settings, number):
    with sessions() as session:
        found = line_desk.find_customer_by_phone(session, settings, number, NIGHT)
    assert found == line_desk.CallerCustomer(found.id, "ACME", "1001", "active", True)


@pytest.mark.parametrize("number", ["+31201234567", "garbage", ""])
def test_an_unknown_or_unusable_number_is_nobody(sessions, settings, number):
    with sessions() as session:
        assert line_desk.find_customer_by_phone(session, settings, number, NIGHT) is None


@pytest.mark.parametrize(
    ("keyed", "expected"),
    [("1001", "1001"), ("001001", "1001"), ("00420", "00420"), ("420", "00420"), ("0420", "00420"), ("12345", "12-34 5"),
     ("777", "777"), ("0777", "0777")],
)  # fmt: skip
def test_a_customer_is_found_by_the_number_keyed_in(sessions, settings, keyed, expected):
    with sessions() as session:
        found = line_desk.find_customer_by_number(session, settings, keyed, NIGHT)
    assert found is not None and found.customer_number == expected


@pytest.mark.parametrize("keyed", ["9999", "000", "", "12a", "00777"])  # 00777: 777 and 0777 both fit; neither is taken
def test_an_unknown_or_ambiguous_keyed_number_is_nobody(sessions, settings, keyed):
    with sessions() as session:
        assert line_desk.find_customer_by_number(session, settings, keyed, NIGHT) is None


def test_the_sla_says_whether_after_hours_support_is_included(sessions, settings):
    with sessions() as session:
        assert line_desk.find_customer_by_number(session, settings, "12345", NIGHT).after_hours_included is False


def reject(session: Session, number: str, at: datetime) -> None:
    """An incident of the customer triaged as not critical at `at`, stored without reassessing."""
    incident = Incident(customer=customer(session, number), created_at=at - MINUTE, status="rejected_not_critical",
                        rejected_at=at, rejection_reason="not critical")  # fmt: skip
    session.add(incident)


def test_a_block_whose_rejections_expired_is_lifted_when_the_customer_calls(sessions, settings):
    with sessions() as session:
        for days in (400, 390, 380):
            reject(session, "1001", NIGHT - timedelta(days=days))
        customer(session, "1001").status = "blocked"
        session.commit()

    with sessions() as session:
        found = line_desk.find_customer_by_phone(session, settings, ACME_PHONE, NIGHT)
    assert found.status == "active"
    with sessions() as session:
        stored = customer(session, "1001")
        assert stored.status == "active"
        [change] = session.scalars(select(AuditEntry).where(AuditEntry.entity == "customer", AuditEntry.entity_id == stored.id))
        assert (change.action, change.detail["from"], change.detail["to"]) == ("status_change", "blocked", "active")


def test_a_stale_active_status_is_corrected_and_a_current_one_is_only_read(sessions, settings):
    with sessions() as session:
        reject(session, "1001", NIGHT - timedelta(days=3))
        session.commit()
    with sessions() as session:
        assert line_desk.find_customer_by_number(session, settings, "1001", NIGHT).status == "warned"
    with sessions() as session:
        assert line_desk.find_customer_by_number(session, settings, "1001", NIGHT + MINUTE).status == "warned"
        assert customer(session, "1001").status == "warned"
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1  # corrected once, then read


# --- office hours and whom to ring ---------------------------------------------------------


def test_office_status_follows_the_schedule_and_the_closures(sessions, settings):
    with sessions() as session:
        assert line_desk.office_status(session, settings, NOON).open is True
        assert line_desk.office_status(session, settings, NIGHT).open is False
        session.add(OfficeClosure(starts_at=NOON - timedelta(hours=2), ends_at=NOON + timedelta(hours=2), reason="training"))
        session.commit()
        status = line_desk.office_status(session, settings, NOON)
    assert (status.open, status.reason, status.changes_at) == (False, "closure: training", NOON + timedelta(hours=2))


def test_the_plan_rings_whoever_is_on_duty_until_the_next_handover(sessions, settings):
    with sessions() as session:
        anna = Engineer(name="Anna", contacts=[EngineerContact(kind="sip", address="sip:anna@10.0.0.5")])
        bram = Engineer(name="Bram", contacts=[EngineerContact(kind="phone", address="+31687654321")])
        session.add_all([anna, bram])
        session.flush()
        save_rotation(session, date(2026, 2, 2), [anna, bram])  # Monday 09:00 hand-overs
        session.commit()
        plans = line_desk.escalation_plan(session, settings, NIGHT)
        again, valid_until = line_desk.escalation_plan_until(session, settings, NIGHT)
    assert [(leg.engineer.name, leg.contact.address) for leg in plans[0].contacts] == [("Anna", "sip:anna@10.0.0.5")]
    assert again == plans
    assert valid_until == datetime(2026, 2, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 in Amsterdam: Bram's week


def test_without_engineers_the_plan_rings_the_default_contact_or_raises(sessions, settings):
    with sessions() as session:
        with pytest.raises(NoFallback):
            line_desk.escalation_plan(session, settings, NIGHT)
        configured = settings.model_copy(update={"roster": RosterSettings(default_contact="0201234567")})
        [plan] = line_desk.escalation_plan(session, configured, NIGHT)
    assert plan.is_fallback and [leg.contact.address for leg in plan.contacts] == ["+31201234567"]


# --- voicemails -----------------------------------------------------------------------------


def test_a_critical_voicemail_is_a_file_with_its_checksum_rows_a_job_and_one_incident(sessions, settings):
    with sessions() as session:
        call = a_call(session, "chan-1")
        first = store(session, settings, "chan-1", b"first message")
        second = store(session, settings, "chan-1", b"second message", at=NIGHT + MINUTE)

    assert first.path == f"recordings/2026/02/03/call-{call.id}-1.wav"
    assert second.path == f"recordings/2026/02/03/call-{call.id}-2.wav"
    file = settings.resolved_data_dir / first.path
    assert file.read_bytes() == b"first message"
    assert first.sha256 == hashlib.sha256(b"first message").hexdigest() and first.size_bytes == 13
    assert first.incident_id is not None and second.incident_id == first.incident_id  # one incident per call
    with sessions() as session:
        voicemail = session.get(Voicemail, first.voicemail_id)
        assert (voicemail.source, voicemail.audio_format, voicemail.duration_seconds, voicemail.partial) == ("ari", "wav", Decimal("12.50"), False)
        assert voicemail.recorded_at == NIGHT and voicemail.call_id == call.id
        job = session.scalar(select(TranscriptionJob).where(TranscriptionJob.voicemail_id == first.voicemail_id))
        assert job.status == "queued"
        incident = session.get(Incident, first.incident_id)
        assert (incident.status, incident.call_id, incident.customer.name, incident.created_at) == ("new", call.id, "ACME", NIGHT)
        steps = session.scalars(select(CallStep.step).where(CallStep.call_id == call.id)).all()
        assert steps == ["voicemail_critical", "voicemail_critical"]
    assert sorted(path.name for path in file.parent.iterdir()) == [f"call-{call.id}-1.wav", f"call-{call.id}-2.wav"]


def test_the_day_directory_is_the_local_date(sessions, settings):
    late = datetime(2026, 2, 3, 23, 30, tzinfo=UTC)  # 00:30 on the 4th in Amsterdam
    with sessions() as session:
        call = a_call(session, "chan-late", at=late)
        stored = store(session, settings, "chan-late", at=late)
    assert stored.path == f"recordings/2026/02/04/call-{call.id}-1.wav"


def test_an_addition_joins_the_incident_of_the_message_it_adds_to(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        original = store(session, settings, "chan-1")
        later = a_call(session, "chan-2", at=NIGHT + timedelta(hours=1))
        addition = store(session, settings, "chan-2", b"also the shop", at=NIGHT + timedelta(hours=1), kind="addition",
                         add_to_voicemail_id=original.voicemail_id)  # fmt: skip
        assert addition.incident_id == original.incident_id
        assert session.scalar(select(func.count()).select_from(Incident)) == 1
        assert session.get(Voicemail, addition.voicemail_id).call_id == later.id


def test_an_addition_to_a_message_without_incident_opens_one(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        stored = store(session, settings, "chan-1", kind="addition", add_to_voicemail_id=99999)
        assert stored.incident_id is not None


def test_a_non_urgent_message_has_no_incident_and_says_so_on_the_call(sessions, settings):
    with sessions() as session:
        call = a_call(session, "chan-1")
        stored = store(session, settings, "chan-1", kind="non_urgent")
        assert stored.incident_id is None and session.scalar(select(func.count()).select_from(Incident)) == 0
        [step] = session.scalars(select(CallStep).where(CallStep.call_id == call.id))
        assert (step.step, step.detail) == ("voicemail_non_urgent", stored.path)
        assert session.scalar(select(func.count()).select_from(TranscriptionJob)) == 1


def test_an_empty_recording_is_still_kept(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        stored = line_desk.store_voicemail(session, settings, call_channel_id="chan-1", audio=b"", audio_format="wav",
                                           recorded_at=NIGHT, duration_seconds=None, partial=True, kind="critical")  # fmt: skip
        voicemail = session.get(Voicemail, stored.voicemail_id)
    assert (stored.size_bytes, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert voicemail.partial and (settings.resolved_data_dir / stored.path).read_bytes() == b""


def test_the_incident_takes_the_customer_the_flow_identified(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1", from_number=None)
        zeros = customer(session, "00420")
        stored = store(session, settings, "chan-1", customer_id=zeros.id)
        assert session.get(Incident, stored.incident_id).customer_id == zeros.id


def test_without_a_call_record_the_recording_waits_in_its_spool_file_and_is_stored_later(sessions, settings):
    with sessions() as session:
        with pytest.raises(CallNotRecorded) as raised:
            store(session, settings, "chan-9", b"urgent")
        spool = raised.value.spool
        assert spool.read_bytes() == b"urgent" and spool.name.startswith("pending-chan-9-")
        assert session.scalar(select(func.count()).select_from(Voicemail)) == 0

        call = a_call(session, "chan-9")
        stored = line_desk.store_spooled_voicemail(session, settings, spool, call_channel_id="chan-9", recorded_at=NIGHT,
                                                   duration_seconds=None, partial=False, kind="critical")  # fmt: skip
        again = line_desk.store_spooled_voicemail(session, settings, spool, call_channel_id="chan-9", recorded_at=NIGHT,
                                                  duration_seconds=None, partial=False, kind="critical")  # fmt: skip
    assert stored.path == f"recordings/2026/02/03/call-{call.id}-1.wav" and again == stored
    assert not spool.exists() and (settings.resolved_data_dir / stored.path).read_bytes() == b"urgent"


def test_a_second_spool_of_a_stored_voicemail_is_dropped(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        stored = store(session, settings, "chan-1", b"once")
        duplicate = store(session, settings, "chan-1", b"once")
        assert duplicate == stored and session.scalar(select(func.count()).select_from(Voicemail)) == 1
    assert [path.name for path in Path(settings.resolved_data_dir / stored.path).parent.iterdir()] == [Path(stored.path).name]


def test_bad_kind_or_format_is_refused(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        with pytest.raises(ValueError, match="kind"):
            store(session, settings, "chan-1", kind="whatever")
        with pytest.raises(ValueError, match="audio format"):
            line_desk.store_voicemail(session, settings, call_channel_id="chan-1", audio=b"x", audio_format="../wav",
                                      recorded_at=NIGHT, duration_seconds=None, partial=False, kind="critical")  # fmt: skip


# --- repeat callers -------------------------------------------------------------------------


def open_message(session: Session, *, customer_id=None, e164=None, since=NIGHT - timedelta(hours=6)):
    return line_desk.open_message(session, customer_id=customer_id, e164=e164, since=since)


def test_an_open_message_of_the_customer_is_found_within_the_window(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        stored = store(session, settings, "chan-1")
        acme = customer(session, "1001").id
        message = open_message(session, customer_id=acme)
        assert message == line_desk.OpenMessage(stored.voicemail_id, stored.incident_id, NIGHT)
        assert open_message(session, customer_id=acme, since=NIGHT + MINUTE) is None  # outside the window
        assert open_message(session, customer_id=customer(session, "777").id) is None  # someone else's


def test_the_newest_open_message_is_the_one(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        store(session, settings, "chan-1")
        newer = store(session, settings, "chan-1", b"more", at=NIGHT + MINUTE)
        assert open_message(session, customer_id=customer(session, "1001").id).voicemail_id == newer.voicemail_id


def test_a_message_called_back_or_whose_incident_is_closed_is_not_open(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        stored = store(session, settings, "chan-1")
        acme = customer(session, "1001").id
        session.get(Voicemail, stored.voicemail_id).called_back_at = NIGHT + MINUTE
        session.commit()
        assert open_message(session, customer_id=acme) is None

        a_call(session, "chan-2", at=NIGHT + MINUTE)
        second = store(session, settings, "chan-2", at=NIGHT + MINUTE)
        assert open_message(session, customer_id=acme).voicemail_id == second.voicemail_id
        eva = Engineer(name="Eva")
        session.add(eva)
        session.commit()
        begin_write(session)
        incident = session.get(Incident, second.incident_id)
        triage(session, incident, critical=True, by=eva, at=NIGHT + 2 * MINUTE)
        transition_incident(session, incident, "resolved", by=eva, at=NIGHT + 3 * MINUTE)
        session.commit()
        assert open_message(session, customer_id=acme) is None


def test_an_unidentified_caller_is_matched_by_number(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1", from_number="0201234567")
        stored = store(session, settings, "chan-1")
        assert open_message(session, e164="+31201234567").voicemail_id == stored.voicemail_id
        assert open_message(session, e164="020-1234567").voicemail_id == stored.voicemail_id
        assert open_message(session, e164="+31207654321") is None
        assert open_message(session) is None  # withheld, unidentified: nothing to go by


def test_a_message_keyed_in_customer_is_found_through_its_incident(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1", from_number=None)
        zeros = customer(session, "00420").id
        stored = store(session, settings, "chan-1", customer_id=zeros)
        assert open_message(session, customer_id=zeros).voicemail_id == stored.voicemail_id


def test_non_urgent_and_empty_messages_do_not_make_a_repeat_caller(sessions, settings):
    with sessions() as session:
        a_call(session, "chan-1")
        store(session, settings, "chan-1", kind="non_urgent")
        a_call(session, "chan-2", at=NIGHT + MINUTE)
        store(session, settings, "chan-2", b"", at=NIGHT + MINUTE)
        assert open_message(session, customer_id=customer(session, "1001").id) is None
        assert open_message(session, e164=ACME_PHONE) is None



def test_a_commit_that_fails_puts_the_recording_back_in_its_spool_for_the_retry(sessions, settings, monkeypatch):
    with sessions() as session:
        call = a_call(session, "chan-1")
        spool = line_desk.spool_audio(settings, call_channel_id="chan-1", audio=b"urgent", audio_format="wav", recorded_at=NIGHT)

        def refuse() -> None:
            raise ConnectionError("database went away at the commit")

        monkeypatch.setattr(session, "commit", refuse)
        with pytest.raises(ConnectionError):
            line_desk.store_spooled_voicemail(session, settings, spool, call_channel_id="chan-1", recorded_at=NIGHT,
                                              duration_seconds=None, partial=False, kind="critical")  # fmt: skip
        monkeypatch.undo()
        assert spool.read_bytes() == b"urgent" and [path.name for path in spool.parent.iterdir()] == [spool.name]
        assert session.scalar(select(func.count()).select_from(Voicemail)) == 0

        stored = line_desk.store_spooled_voicemail(session, settings, spool, call_channel_id="chan-1", recorded_at=NIGHT,
                                                   duration_seconds=None, partial=False, kind="critical")  # fmt: skip
    assert stored.path == f"recordings/2026/02/03/call-{call.id}-1.wav" and not spool.exists()


# --- the engineers hear of it ---------------------------------------------------------------


def with_mail(settings: Settings) -> Settings:
    return settings.model_copy(update={"notify": NotifySettings(smtp_host="127.0.0.1", webhook_urls=["http://127.0.0.1:9/hook"])})


def engineers_on_duty(session: Session) -> None:
    anna = Engineer(name="Anna", email="anna@gsd.example", contacts=[EngineerContact(kind="sip", address="sip:anna@10.0.0.5")])
    bram = Engineer(name="Bram", email="bram@gsd.example", contacts=[EngineerContact(kind="phone", address="+31687654321")])
    session.add_all([anna, bram])
    session.flush()
    save_rotation(session, date(2026, 2, 2), [anna], [bram])
    session.commit()


def test_a_stored_critical_voicemail_commits_with_its_notifications(sessions, settings):
    settings = with_mail(settings)
    with sessions() as session:
        engineers_on_duty(session)
        a_call(session, "chan-1")
        stored = store(session, settings, "chan-1")
        a_call(session, "chan-2", at=NIGHT + MINUTE)
        store(session, settings, "chan-2", at=NIGHT + MINUTE, kind="non_urgent")  # wakes nobody
    with sessions() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.kind, n.channel, n.recipient, n.status) for n in rows] == [
        ("voicemail_received", "email", "anna@gsd.example", "pending"),
        ("voicemail_received", "email", "bram@gsd.example", "pending"),
        ("voicemail_received", "webhook", "http://127.0.0.1:9/hook", "pending"),
    ]
    assert {(n.voicemail_id, n.incident_id, n.next_attempt_at) for n in rows} == {(stored.voicemail_id, stored.incident_id, NIGHT)}
    assert rows[0].subject == "Voicemail van ACME (1001) / +31612345678, wordt uitgeschreven"


def test_a_notification_that_cannot_be_queued_does_not_cost_the_voicemail(sessions, settings, monkeypatch):
    def broken(session, *args):
        session.add(Notification(kind="voicemail_received", channel="email", recipient="x", subject="", body="",
                                 status="no such status"))  # fmt: skip
        session.flush()  # refused by the database: the savepoint is rolled back, nothing else

    monkeypatch.setattr(line_desk, "queue_voicemail_received", broken)
    with sessions() as session:
        engineers_on_duty(session)
        a_call(session, "chan-1")
        with structlog.testing.capture_logs() as logs:
            stored = store(session, with_mail(settings), "chan-1")
    assert [(e["event"], e["log_level"]) for e in logs] == [("voicemail stored, but its notification could not be queued", "error")]
    with sessions() as session:
        assert session.get(Voicemail, stored.voicemail_id).incident_id == stored.incident_id
        assert session.scalar(select(func.count()).select_from(TranscriptionJob)) == 1
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
    assert (settings.resolved_data_dir / stored.path).read_bytes() == b"RIFF-audio"
