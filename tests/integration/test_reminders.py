"""Reminder calls (core.reminders) on SQLite and PostgreSQL: scheduled with the voicemail that
opens an incident, claimed under a lease, cancelled once the incident is taken care of, tried
again while nobody answers, and a call-back written as the incident's first contact and billed
talk time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import line_desk
from core.billing_store import incident_lines
from core.calls import start_call
from core.db import open_database
from core.incident_store import transition_incident
from core.incidents import IncidentStatus
from core.models import Call, Customer, CustomerPhone, Engineer, EngineerContact, Incident, ReminderCall, Sla, Transcript, Voicemail
from core.reminders import (
    CannotRemind,
    LegRecord,
    ReminderOutcome,
    claim_due_reminder,
    expired_pbx_recordings,
    finish_reminder_call,
    forget_pbx_recording,
    remind_now,
    reminder_failed,
    start_reminder_call,
)
from core.roster_store import save_rotation
from core.settings import NotifySettings, Settings

NIGHT = datetime(2026, 2, 3, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Amsterdam
MINUTE = timedelta(minutes=1)
ACME_PHONE = "+31612345678"


@pytest.fixture
def rsettings(settings: Settings) -> Settings:
    return Settings(data_dir=settings.data_dir, database_url=settings.resolved_database_url,
                    notify=NotifySettings(unacknowledged_call_minutes=10, unacknowledged_call_attempts=2))  # fmt: skip


@pytest.fixture
def sessions(rsettings: Settings) -> sessionmaker[Session]:
    factory = open_database(rsettings)
    with factory() as session:
        standard = session.scalar(select(Sla))
        session.add(Customer(name="ACME", customer_number="1001", sla=standard, phones=[CustomerPhone(e164=ACME_PHONE)]))
        eva = Engineer(name="Eva", email="eva@example.org", contacts=[EngineerContact(kind="sip", address="sip:eva@10.0.0.5")])
        session.add(eva)
        session.flush()
        save_rotation(session, date(2026, 2, 2), [eva])
        session.commit()
    yield factory
    factory.kw["bind"].dispose()


def voicemail(sessions, settings, channel_id: str = "chan-1", *, kind: str = "critical", at: datetime = NIGHT, **extra):
    with sessions() as session:
        start_call(session, channel_id=channel_id, from_number=ACME_PHONE, to_number="0497842611", at=at - MINUTE)
        session.commit()
        return line_desk.store_voicemail(session, settings, call_channel_id=channel_id, audio=b"RIFF-audio", audio_format="wav",
                                         recorded_at=at, duration_seconds=Decimal("12.5"), partial=False, kind=kind,
                                         **extra)  # fmt: skip


def reminder_of(sessions, incident_id: int) -> ReminderCall | None:
    with sessions() as session:
        return session.scalar(select(ReminderCall).where(ReminderCall.incident_id == incident_id))


def claim(sessions, settings, at: datetime, worker: str = "app-1"):
    with sessions() as session:
        return claim_due_reminder(session, settings, worker=worker, now=at)


def test_a_critical_voicemail_schedules_one_reminder_and_keeps_asterisks_copy(sessions, rsettings):
    stored = voicemail(sessions, rsettings, pbx_recording="nachtdienst-critical-1")
    reminder = reminder_of(sessions, stored.incident_id)
    assert (reminder.status, reminder.due_at, reminder.attempts) == ("pending", NIGHT + 10 * MINUTE, 0)
    with sessions() as session:
        assert session.get(Voicemail, stored.voicemail_id).pbx_recording == "nachtdienst-critical-1"
    # An addition to the message joins the incident and its reminder: no second one.
    addition = voicemail(sessions, rsettings, "chan-2", kind="addition", add_to_voicemail_id=stored.voicemail_id,
                         at=NIGHT + MINUTE)  # fmt: skip
    assert addition.incident_id == stored.incident_id
    with sessions() as session:
        assert len(session.scalars(select(ReminderCall)).all()) == 1


def test_a_non_urgent_message_schedules_nothing_and_keeps_no_copy(sessions, rsettings):
    stored = voicemail(sessions, rsettings, kind="non_urgent", pbx_recording="nachtdienst-non_urgent-1")
    with sessions() as session:
        assert session.scalars(select(ReminderCall)).all() == []
        assert session.get(Voicemail, stored.voicemail_id).pbx_recording is None


def test_reminders_off_schedule_nothing(sessions, rsettings):
    off = rsettings.model_copy(update={"notify": NotifySettings(unacknowledged_call_minutes=0)})
    voicemail(sessions, off)
    with sessions() as session:
        assert session.scalars(select(ReminderCall)).all() == []


def test_a_due_reminder_is_claimed_once_with_what_the_call_needs(sessions, rsettings):
    stored = voicemail(sessions, rsettings, pbx_recording="rec-1")
    with sessions() as session:
        session.add(Transcript(voicemail_id=stored.voicemail_id, text="bel me terug op 0201234567", callback_number="+31201234567"))
        session.commit()
    assert claim(sessions, rsettings, NIGHT + 9 * MINUTE) is None  # not due yet

    task = claim(sessions, rsettings, NIGHT + 10 * MINUTE)
    assert (task.incident_id, task.attempt, task.pbx_recording) == (stored.incident_id, 1, "rec-1")
    assert task.caller_number == ACME_PHONE and task.callback_number == "+31201234567"  # the card's number wins
    assert [[leg.contact.address for leg in step.contacts] for step in task.plan] == [["sip:eva@10.0.0.5"]]
    assert claim(sessions, rsettings, NIGHT + 11 * MINUTE, worker="app-2") is None  # leased
    assert reminder_of(sessions, stored.incident_id).status == "calling"


def test_without_a_usable_card_number_the_callers_number_is_called_back(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    with sessions() as session:
        session.add(Transcript(voicemail_id=stored.voicemail_id, text="...", callback_number="12"))
        session.commit()
    assert claim(sessions, rsettings, NIGHT + 10 * MINUTE).callback_number == ACME_PHONE


def test_an_acknowledged_incident_is_not_called_about(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    with sessions() as session:
        incident = session.get(Incident, stored.incident_id)
        eva = session.scalar(select(Engineer))
        transition_incident(session, incident, IncidentStatus.ACKNOWLEDGED, by=eva, at=NIGHT + 2 * MINUTE)
        session.commit()
    assert claim(sessions, rsettings, NIGHT + 10 * MINUTE) is None
    reminder = reminder_of(sessions, stored.incident_id)
    assert (reminder.status, reminder.attempts) == ("cancelled", 0)


def outcome(result: str, at: datetime, **extra) -> ReminderOutcome:
    return ReminderOutcome(result=result, ended_at=at, **extra)


def test_nobody_answering_is_tried_again_until_the_attempts_are_spent(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    first = claim(sessions, rsettings, NIGHT + 10 * MINUTE)
    with sessions() as session:
        call_id = start_reminder_call(session, rsettings, first, at=NIGHT + 10 * MINUTE)
        assert finish_reminder_call(session, rsettings, first, call_id, outcome("not_reached", NIGHT + 11 * MINUTE)) == "pending"
    assert reminder_of(sessions, stored.incident_id).due_at == NIGHT + 21 * MINUTE
    assert claim(sessions, rsettings, NIGHT + 20 * MINUTE) is None

    second = claim(sessions, rsettings, NIGHT + 21 * MINUTE)
    assert second.attempt == 2
    with sessions() as session:
        call_id = start_reminder_call(session, rsettings, second, at=NIGHT + 21 * MINUTE)
        assert finish_reminder_call(session, rsettings, second, call_id, outcome("no_choice", NIGHT + 22 * MINUTE)) == "failed"
    reminder = reminder_of(sessions, stored.incident_id)
    assert reminder.last_error == "no_choice after 2 calls" and claim(sessions, rsettings, NIGHT + 60 * MINUTE) is None
    with sessions() as session:
        calls = session.scalars(select(Call).where(Call.direction == "outbound").order_by(Call.id)).all()
        assert [(c.outcome, c.incident_id, c.from_number) for c in calls] == [
            ("not_reached", stored.incident_id, "0497842611"), ("no_choice", stored.incident_id, "0497842611")]


def test_a_call_back_is_the_first_contact_and_its_talk_time_is_billed(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    task = claim(sessions, rsettings, NIGHT + 10 * MINUTE)
    start, answered, talked = NIGHT + 10 * MINUTE, NIGHT + 11 * MINUTE, NIGHT + 18 * MINUTE
    with sessions() as session:
        eva = session.scalar(select(Engineer))
        call_id = start_reminder_call(session, rsettings, task, at=start)
        done = outcome("called_back", talked, engineer_id=eva.id, called_back_at=answered,
                       steps=[(answered, "connected", ACME_PHONE)],
                       legs=[LegRecord("sip:eva@10.0.0.5", start, "answered", talked, engineer_id=eva.id, answered_at=start),
                             LegRecord(ACME_PHONE, answered, "accepted", talked, answered_at=answered, accepted_at=answered)])  # fmt: skip
        assert finish_reminder_call(session, rsettings, task, call_id, done) == "done"
    with sessions() as session:
        incident = session.get(Incident, stored.incident_id)
        assert incident.first_contact_at == answered and incident.first_contact_by_id == eva.id
        assert session.get(Voicemail, stored.voicemail_id).called_back_at == answered
        [line] = [line for line in incident_lines(session, "2026-02") if line.incident_id == stored.incident_id]
        # The customer's leg: 7 minutes. The engineer's menu time (not accepted) is not billed.
        assert line.talk_seconds == Decimal(7 * 60)


def test_an_app_that_died_mid_call_leaves_a_reminder_the_next_one_takes_over(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    task = claim(sessions, rsettings, NIGHT + 10 * MINUTE)
    with sessions() as session:
        call_id = start_reminder_call(session, rsettings, task, at=NIGHT + 10 * MINUTE)
    again = claim(sessions, rsettings, NIGHT + 21 * MINUTE, worker="app-2")  # the lease (10 min) ran out
    assert again.attempt == 2 and again.incident_id == stored.incident_id
    with sessions() as session:
        left = session.get(Call, call_id)
        assert (left.outcome, left.ended_at) == ("failed", NIGHT + 21 * MINUTE)


def test_a_call_that_could_not_be_made_is_due_again_without_counting(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    task = claim(sessions, rsettings, NIGHT + 10 * MINUTE)
    with sessions() as session:
        call_id = start_reminder_call(session, rsettings, task, at=NIGHT + 10 * MINUTE)
        reminder_failed(session, task, "AriError: 503", now=NIGHT + 10 * MINUTE)
        assert session.get(Call, call_id).outcome == "failed"
    reminder = reminder_of(sessions, stored.incident_id)
    assert (reminder.status, reminder.attempts, reminder.last_error) == ("pending", 0, "AriError: 503")
    assert claim(sessions, rsettings, NIGHT + 11 * MINUTE).attempt == 1


def test_remind_now_makes_a_done_reminder_due_again_but_not_for_a_taken_incident(sessions, rsettings):
    stored = voicemail(sessions, rsettings)
    with sessions() as session:
        incident = session.get(Incident, stored.incident_id)
        reminder = remind_now(session, incident, at=NIGHT + MINUTE)
        session.commit()
        assert (reminder.status, reminder.due_at) == ("pending", NIGHT + MINUTE)
    assert claim(sessions, rsettings, NIGHT + MINUTE) is not None
    with sessions() as session:
        with pytest.raises(CannotRemind, match="going on now"):
            remind_now(session, session.get(Incident, stored.incident_id), at=NIGHT + 2 * MINUTE)
        incident = session.get(Incident, stored.incident_id)
        transition_incident(session, incident, IncidentStatus.ACKNOWLEDGED, by=session.scalar(select(Engineer)), at=NIGHT + 3 * MINUTE)
        with pytest.raises(CannotRemind, match="is acknowledged"):
            remind_now(session, incident, at=NIGHT + 4 * MINUTE)


def test_asterisks_copies_go_once_the_incident_is_taken_care_of_or_old(sessions, rsettings):
    kept = voicemail(sessions, rsettings, "chan-1", pbx_recording="rec-kept")
    taken = voicemail(sessions, rsettings, "chan-2", pbx_recording="rec-taken", at=NIGHT + MINUTE)
    with sessions() as session:
        incident = session.get(Incident, taken.incident_id)
        transition_incident(session, incident, IncidentStatus.ACKNOWLEDGED, by=session.scalar(select(Engineer)), at=NIGHT + 2 * MINUTE)
        session.commit()
        assert expired_pbx_recordings(session, now=NIGHT + 3 * MINUTE) == [(taken.voicemail_id, "rec-taken")]
        assert expired_pbx_recordings(session, now=NIGHT + timedelta(hours=25)) == [
            (kept.voicemail_id, "rec-kept"), (taken.voicemail_id, "rec-taken")]
        forget_pbx_recording(session, [taken.voicemail_id])
        assert expired_pbx_recordings(session, now=NIGHT + 3 * MINUTE) == []
