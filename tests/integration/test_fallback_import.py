"""Messages left on the fallback paths, imported once the app is back (core.fallback_import,
ari_app.fallback_upkeep), and the static path's contacts kept in AstDB — against a real
database, with Asterisk's ARI answered by a small stand-in."""

from __future__ import annotations

import io
import wave
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from ari_app.client import AriError
from ari_app.fallback_upkeep import DIAL_VARIABLE, TIMEOUT_VARIABLE, FallbackUpkeep, static_dial
from core.calls import start_call
from core.db import open_database
from core.fallback_import import parse_name, wanted
from core.models import Call, Customer, CustomerPhone, Engineer, EngineerContact, Incident, ReminderCall, Sla, TranscriptionJob, Voicemail
from core.roster import Contact, ContactToRing, Engineer as RosterEngineer, EscalationStepPlan
from core.roster_store import save_rotation
from core.settings import PbxSettings, Settings

NOW = datetime(2026, 2, 3, 1, 30, tzinfo=UTC)
CALL_START = datetime(2026, 2, 3, 1, 20, tzinfo=UTC)
UNIQUEID = f"{int(CALL_START.timestamp())}.42"
RECORDED = int(CALL_START.timestamp()) + 40


def wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x01\x00" * int(8000 * seconds))
    return buffer.getvalue()


class Asterisk:
    """ARI's recordings and global variables, as the upkeep uses them."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.variables: dict[str, str] = {}
        self.set: list[str] = []
        self.channels: set[str] = set()  # calls still going on
        self.fetches: list[str] = []
        self.deleted: list[str] = []

    async def request(self, method: str, path: str, *, json: Any = None, **params: Any) -> Any:
        parts = path.strip("/").split("/")
        if method == "GET" and parts[0] == "channels":
            if parts[1] in self.channels:
                return {"id": parts[1]}
            raise AriError(404, method, path, "Channel not found")
        if (method, parts) == ("GET", ["recordings", "stored"]):
            return [{"name": name, "format": "wav"} for name in self.stored]
        if method == "GET" and parts[:2] == ["recordings", "stored"] and parts[-1] == "file":
            self.fetches.append(parts[2])
            return self.stored[parts[2]]
        if method == "DELETE" and parts[:2] == ["recordings", "stored"]:
            self.deleted.append(parts[2])
            self.stored.pop(parts[2], None)
            return None
        if (method, parts) == ("POST", ["asterisk", "variable"]):
            self.variables[params["variable"]] = params["value"]
            self.set.append(params["variable"])
            return None
        if (method, parts) == ("GET", ["asterisk", "variable"]):
            return {"value": self.variables.get(params["variable"], "")}
        raise AriError(404, method, path, "not here")


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = open_database(settings)
    with factory() as session:
        standard = session.scalar(select(Sla))
        session.add(Customer(name="ACME", customer_number="1001", sla=standard, phones=[CustomerPhone(e164="+31612345678")]))
        eva = Engineer(name="Eva", email="eva@example.org", contacts=[EngineerContact(kind="sip", address="sip:eva@10.0.0.5")])
        bram = Engineer(name="Bram", contacts=[EngineerContact(kind="phone", address="+31687654321")])
        session.add_all([eva, bram])
        session.flush()
        save_rotation(session, date(2026, 2, 2), [eva], [bram])
        session.commit()
    yield factory
    factory.kw["bind"].dispose()


def upkeep(settings: Settings, sessions, asterisk: Asterisk) -> FallbackUpkeep:
    return FallbackUpkeep(settings, sessions, asterisk, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"nachtdienst-fallback-critical-{UNIQUEID}-{RECORDED}-0612345678", ("critical", UNIQUEID, "0612345678")),
        (f"nachtdienst-fallback-non_urgent-{UNIQUEID}-{RECORDED}-", ("non_urgent", UNIQUEID, None)),
        (f"nachtdienst-fallback-critical-pbx1-{UNIQUEID}-{RECORDED}-+31612345678", ("critical", f"pbx1-{UNIQUEID}", "+31612345678")),
    ],
)
def test_a_fallback_recordings_name_says_what_it_is(name, expected):
    recording = parse_name(name)
    assert (recording.kind, recording.uniqueid, recording.caller) == expected
    assert recording.started_at == CALL_START and recording.recorded_at == CALL_START + timedelta(seconds=40)


@pytest.mark.parametrize("name", ["nachtdienst-critical-abc", "greeting", f"nachtdienst-fallback-urgent-{UNIQUEID}-{RECORDED}-0612",
                                  "nachtdienst-fallback-critical-x-1", f"nachtdienst-fallback-critical-{UNIQUEID}-0612"])
def test_other_recordings_are_not_ours(name):
    assert parse_name(name) is None


async def test_a_message_from_the_static_path_gets_a_call_an_incident_a_job_and_a_reminder(settings, sessions):
    asterisk = Asterisk()
    name = f"nachtdienst-fallback-critical-{UNIQUEID}-{RECORDED}-0612345678"
    asterisk.stored[name] = wav(12)
    asterisk.channels.add(UNIQUEID)
    await upkeep(settings, sessions, asterisk).import_messages()
    assert asterisk.fetches == []  # the caller is still on: Asterisk may still be writing it
    asterisk.channels.clear()
    await upkeep(settings, sessions, asterisk).import_messages()

    with sessions() as session:
        call = session.scalar(select(Call).where(Call.channel_id == UNIQUEID))
        assert (call.path, call.outcome, call.from_e164, call.started_at) == ("static", "voicemail", "+31612345678", CALL_START)
        assert call.customer.customer_number == "1001"
        [voicemail] = call.voicemails
        assert (voicemail.pbx_recording, float(voicemail.duration_seconds)) == (name, 12.0)
        assert (settings.resolved_data_dir / voicemail.path).read_bytes() == asterisk.stored[name]
        incident = session.get(Incident, voicemail.incident_id)
        assert incident.customer.customer_number == "1001" and incident.status == "new"
        assert session.scalar(select(TranscriptionJob).where(TranscriptionJob.voicemail_id == voicemail.id)).status == "queued"
        assert session.scalar(select(ReminderCall).where(ReminderCall.incident_id == incident.id)) is not None
    # Kept in Asterisk for the reminder call; not fetched or stored again at the next round.
    assert asterisk.deleted == [] and name in asterisk.stored
    await upkeep(settings, sessions, asterisk).import_messages()
    assert asterisk.fetches == [name]
    with sessions() as session:
        assert len(session.scalars(select(Voicemail)).all()) == 1


async def test_a_message_from_the_agi_path_joins_the_call_the_agi_server_recorded(settings, sessions):
    with sessions() as session:
        call = start_call(session, channel_id=UNIQUEID, from_number="0612345678", to_number="0497842611", at=CALL_START, path="agi")
        session.commit()
        call_id = call.id
    asterisk = Asterisk()
    name = f"nachtdienst-fallback-non_urgent-{UNIQUEID}-{RECORDED}-0612345678"
    asterisk.stored[name] = wav(5)
    await upkeep(settings, sessions, asterisk).import_messages()

    with sessions() as session:
        [voicemail] = session.scalars(select(Voicemail)).all()
        assert voicemail.call_id == call_id and voicemail.incident_id is None and voicemail.pbx_recording is None
        assert session.get(Call, call_id).path == "agi"
    assert asterisk.deleted == [name]  # a non-urgent message needs no copy in Asterisk


async def test_the_static_path_gets_every_contact_on_duty_and_is_set_again_only_when_asterisk_lost_it(settings, sessions):
    with_trunk = settings.model_copy(update={"pbx": PbxSettings(trunk_contact="sip:provider.example")})
    asterisk = Asterisk()
    keeper = upkeep(with_trunk, sessions, asterisk)
    await keeper.keep_static_path()
    assert asterisk.variables == {
        DIAL_VARIABLE: "PJSIP/engineer-phone/sip:eva@10.0.0.5&PJSIP/+31687654321@trunk",
        TIMEOUT_VARIABLE: "50",
    }
    assert asterisk.set == [DIAL_VARIABLE, TIMEOUT_VARIABLE]
    await keeper.keep_static_path()
    assert len(asterisk.set) == 2  # unchanged: nothing set
    # A dialplan reload (or an Asterisk restart) brought back the rendered default.
    asterisk.variables[DIAL_VARIABLE] = "PJSIP/engineer-phone/sip:default@10.0.0.9"
    await keeper.keep_static_path()
    assert asterisk.set[2:] == [DIAL_VARIABLE] and "eva" in asterisk.variables[DIAL_VARIABLE]


def test_without_a_trunk_a_phone_number_cannot_be_on_the_static_path():
    eva = RosterEngineer(1, "Eva", (Contact("sip", "sip:eva@10.0.0.5"),))
    bram = RosterEngineer(2, "Bram", (Contact("phone", "+31687654321"),))
    plan = [EscalationStepPlan(1, (ContactToRing(eva, eva.contacts_in_order[0]),), 25),
            EscalationStepPlan(2, (ContactToRing(bram, bram.contacts_in_order[0]),), 100)]  # fmt: skip
    assert static_dial(plan, trunk_available=False) == ("PJSIP/engineer-phone/sip:eva@10.0.0.5", 120)
    assert static_dial([], trunk_available=True) == ("", 0)


def test_the_apps_own_recording_names_are_read_too():
    recording = parse_name(f"nachtdienst-addition-{UNIQUEID}-0123456789ab")
    assert (recording.kind, recording.uniqueid, recording.caller, recording.by_app) == ("critical", UNIQUEID, None, True)
    assert parse_name(f"nachtdienst-critical-{UNIQUEID}-xyz") is None


async def test_a_message_an_app_that_died_recorded_is_imported_once_its_call_has_ended(settings, sessions):
    with sessions() as session:
        start_call(session, channel_id=UNIQUEID, from_number="0612345678", to_number="0497842611", at=CALL_START)
        session.commit()
    asterisk = Asterisk()
    name = f"nachtdienst-critical-{UNIQUEID}-0123456789ab"
    asterisk.stored[name] = wav(7)
    keeper = upkeep(settings, sessions, asterisk)
    await keeper.import_messages()
    assert asterisk.fetches == []  # the call goes on: its app may still be storing it

    with sessions() as session:
        call = session.scalar(select(Call).where(Call.channel_id == UNIQUEID))
        call.ended_at, call.outcome = NOW, "failed"
        session.commit()
    await keeper.import_messages()
    with sessions() as session:
        [voicemail] = session.scalars(select(Voicemail)).all()
        assert voicemail.pbx_recording == name and voicemail.incident_id is not None
    assert asterisk.fetches == [name]


async def test_two_messages_of_one_call_are_two_voicemails(settings, sessions):
    # The app died while recording (its own recording is an orphan), the caller went on to the
    # fallback path and left a message there too.
    with sessions() as session:
        call = start_call(session, channel_id=UNIQUEID, from_number="0612345678", to_number="0497842611", at=CALL_START)
        call.ended_at, call.outcome = NOW, "voicemail"
        session.commit()
    asterisk = Asterisk()
    asterisk.stored[f"nachtdienst-critical-{UNIQUEID}-0123456789ab"] = wav(6)
    asterisk.stored[f"nachtdienst-fallback-critical-{UNIQUEID}-{RECORDED}-0612345678"] = wav(9)
    await upkeep(settings, sessions, asterisk).import_messages()
    with sessions() as session:
        stored = session.scalars(select(Voicemail).order_by(Voicemail.recorded_at)).all()
        assert [float(v.duration_seconds) for v in stored] == [6.0, 9.0]
        assert len({v.call_id for v in stored}) == 1


def test_what_to_import_is_decided_for_all_of_asterisks_recordings_in_a_few_queries(sessions):
    """Asterisk keeps a copy of every critical message up to a day (the reminder call's `1`):
    the upkeep's round asks the database per batch of names, not per name."""
    held = [f"nachtdienst-fallback-critical-{1770080000 + i}.1-{RECORDED}-0612345678" for i in range(1100)]
    with sessions() as session:
        call = start_call(session, channel_id=UNIQUEID, from_number="0612345678", to_number="0497842611", at=CALL_START)
        session.flush()
        session.add_all(Voicemail(call_id=call.id, path=f"recordings/{i}.wav", sha256="0" * 64, size_bytes=100,
                                  recorded_at=CALL_START + timedelta(seconds=i), pbx_recording=name)
                        for i, name in enumerate(held))  # fmt: skip
        start_call(session, channel_id="1770090000.7", from_number="0612345678", to_number="0497842611", at=CALL_START)
        session.commit()
    new = f"nachtdienst-fallback-critical-1770099999.3-{RECORDED}-0612345678"
    orphan_of_a_call_going_on = "nachtdienst-critical-1770090000.7-0123456789ab"
    recordings = [parse_name(name) for name in [*held, new, orphan_of_a_call_going_on]]

    statements: list[str] = []
    with sessions() as session:
        event.listen(session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2]))
        chosen = wanted(session, recordings)
    assert [recording.name for recording in chosen] == [new]
    selects = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4, selects  # 1102 names: three batches; one orphan's call
