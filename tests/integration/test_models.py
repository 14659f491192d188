"""The database on SQLite and PostgreSQL: the migrated schema is the models', values come back
as they went in, constraints hold, and a database that is away says so in one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from core.calls import start_call
from core.db import DatabaseUnavailable, alembic_config, make_engine, migrate, open_database
from core.models import (
    STANDARD_HOURLY_RATE,
    STANDARD_SLA_NAME,
    AuditEntry,
    Base,
    Call,
    Customer,
    CustomerPhone,
    Engineer,
    Shift,
    Sla,
    Transcript,
    Voicemail,
)
from core.settings import Settings

# The newest migration, read from the scripts themselves so a new one needs no test edit.
HEAD_REVISION = ScriptDirectory.from_config(alembic_config()).get_current_head()

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    factory = open_database(settings)
    yield factory
    factory.kw["bind"].dispose()


def standard_sla(session: Session) -> Sla:
    return session.scalars(select(Sla).where(Sla.name == STANDARD_SLA_NAME)).one()


def test_the_migrated_schema_is_exactly_the_models(sessions):
    with sessions.kw["bind"].connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrating_again_changes_nothing(settings, sessions):
    migrate(make_engine(settings))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Sla)) == 1
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == HEAD_REVISION


def test_processes_starting_together_on_a_new_database_all_come_up(settings, data_dir):
    starter = (
        "import sys; from core.db import open_database; from core.settings import Settings; "
        "open_database(Settings(data_dir=sys.argv[1], database_url=sys.argv[2]))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", starter, str(data_dir), settings.resolved_database_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    with open_database(settings)() as session:
        assert session.scalar(select(func.count()).select_from(Sla)) == 1


def test_the_standard_sla_is_there_from_the_start(sessions):
    with sessions() as session:
        sla = standard_sla(session)
    assert sla.hourly_rate == STANDARD_HOURLY_RATE == Decimal("95.00")
    assert isinstance(sla.hourly_rate, Decimal)
    assert sla.after_hours_surcharge_pct == 100
    assert sla.after_hours_included is True
    assert sla.resolution_target_minutes == 240
    assert sla.billing_increment_minutes == 15
    assert sla.currency == "EUR"


def test_times_come_back_as_the_same_instant_in_utc(sessions):
    local = datetime(2026, 3, 29, 2, 30, tzinfo=UTC).astimezone(AMSTERDAM)  # the night clocks go forward
    with sessions() as session:
        call = start_call(session, channel_id="c-1", from_number="0612345678", to_number="0497842611", at=local)
        session.commit()
        call_id = call.id
    with sessions() as session:
        stored = session.get(Call, call_id)
        assert stored.started_at == local
        assert stored.started_at.tzinfo == UTC
        assert stored.started_at.isoformat() == "2026-03-29T02:30:00+00:00"


def test_times_compare_in_queries_whatever_zone_they_were_given_in(sessions):
    at = datetime(2026, 1, 10, 23, 0, tzinfo=UTC)
    with sessions() as session:
        start_call(session, channel_id="c-1", from_number=None, to_number="0497842611", at=at)
        session.commit()
        later_in_amsterdam = (at + timedelta(minutes=1)).astimezone(AMSTERDAM)
        assert session.scalar(select(func.count()).select_from(Call).where(Call.started_at < later_in_amsterdam)) == 1
        assert session.scalar(select(func.count()).select_from(Call).where(Call.started_at > at)) == 0


def test_a_naive_time_is_refused(sessions):
    with sessions() as session:
        engineer = Engineer(name="Eva")
        session.add(engineer)
        session.flush()
        session.add(Shift(engineer=engineer, role="primary", source="override", starts_at=datetime(2026, 1, 1, 18), ends_at=datetime(2026, 1, 2, 8)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_money_comes_back_as_exact_decimals(sessions):
    with sessions() as session:
        session.add(Sla(name="gold", hourly_rate=Decimal("123.45"), after_hours_surcharge_pct=Decimal("50")))
        session.commit()
    with sessions() as session:
        gold = session.scalars(select(Sla).where(Sla.name == "gold")).one()
        assert gold.hourly_rate == Decimal("123.45")
        assert isinstance(gold.hourly_rate, Decimal)
        assert gold.hourly_rate * 3 == Decimal("370.35")


def test_json_details_and_segments_round_trip(sessions):
    segments = [{"start": 0.0, "end": 2.5, "text": "de webshop is plat", "confidence": -0.21}]
    with sessions() as session:
        voicemail = Voicemail(recorded_at=datetime.now(UTC), path="recordings/1.wav", sha256="0" * 64, size_bytes=64000)
        session.add_all(
            [
                Transcript(voicemail=voicemail, language="nl", text="de webshop is plat", segments=segments, pages=["https://shop.example/checkout"]),
                AuditEntry(actor="eva", action="block_lifted", entity="customer", entity_id=7, detail={"reason": "paid", "by": ["eva"]}),
            ]
        )
        session.commit()
    with sessions() as session:
        assert session.scalars(select(Transcript)).one().segments == segments
        assert session.scalars(select(AuditEntry)).one().detail == {"reason": "paid", "by": ["eva"]}


def _customer(session: Session, number: str, *phones: str) -> Customer:
    customer = Customer(name=f"Customer {number}", customer_number=number, sla=standard_sla(session))
    customer.phones = [CustomerPhone(e164=phone) for phone in phones]
    session.add(customer)
    return customer


def test_a_phone_number_belongs_to_one_customer_only(sessions):
    with sessions() as session:
        _customer(session, "1001", "+31612345678")
        session.commit()
        _customer(session, "1002", "+31612345678")
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_customer_number_is_unique(sessions):
    with sessions() as session:
        _customer(session, "1001")
        session.commit()
        _customer(session, "1001")
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_status_outside_its_choices_is_refused(sessions):
    with sessions() as session:
        customer = _customer(session, "1001")
        customer.status = "angry"
        with pytest.raises(IntegrityError):
            session.commit()


def test_foreign_keys_are_enforced(sessions):
    with sessions() as session:
        session.add(Customer(name="Nobody's", customer_number="1001", sla_id=9999))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_voicemail_path_must_be_relative_to_the_data_directory(sessions):
    with sessions() as session:
        session.add(Voicemail(recorded_at=datetime.now(UTC), path="/var/spool/x.wav", sha256="0" * 64, size_bytes=1))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_shift_ends_after_it_starts(sessions):
    start = datetime(2026, 1, 1, 18, tzinfo=UTC)
    with sessions() as session:
        engineer = Engineer(name="Eva")
        session.add(Shift(engineer=engineer, role="primary", source="override", starts_at=start, ends_at=start - timedelta(hours=1)))
        with pytest.raises(IntegrityError):
            session.commit()


def test_the_indexes_the_line_searches_by_exist(sessions):
    inspector = inspect(sessions.kw["bind"])

    def indexed(table: str) -> list[list[str]]:
        unique = [constraint["column_names"] for constraint in inspector.get_unique_constraints(table)]
        return [index["column_names"] for index in inspector.get_indexes(table)] + unique

    assert ["started_at"] in indexed("calls")
    assert ["e164"] in indexed("customer_phones")
    assert ["status", "next_attempt_at"] in indexed("transcription_jobs")


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(data_dir):
    engine = make_engine(Settings(data_dir=data_dir / "fresh"))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert (data_dir / "fresh" / "nachtdienst.db").exists()


@pytest.mark.postgres
def test_a_plain_postgresql_url_means_psycopg(postgres_server, data_dir):
    url = postgres_server.fresh_database_url().replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(Settings(data_dir=data_dir, database_url=url))
    assert engine.dialect.driver == "psycopg"
    migrate(engine)


class socket_that_refuses:
    """A local port nobody listens on, for as long as the block runs."""

    def __enter__(self) -> int:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return self._socket.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


def test_a_postgresql_that_is_down_is_one_clear_line_without_the_password(data_dir):
    with socket_that_refuses() as port:
        settings = Settings(data_dir=data_dir, database_url=f"postgresql://nacht:s3cret-pw@127.0.0.1:{port}/nachtdienst")
        with pytest.raises(DatabaseUnavailable) as caught:
            open_database(settings)
    message = str(caught.value)
    assert message.startswith(f"cannot connect to postgresql://nacht@127.0.0.1:{port}/nachtdienst: ")
    assert "refused" in message.lower()
    assert "s3cret-pw" not in message
    assert "\n" not in message


def test_a_sqlite_file_that_cannot_be_opened_is_one_clear_line(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{blocker}/sub/nachtdienst.db")
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(settings)
    assert str(caught.value) == f"cannot open sqlite:///{blocker}/sub/nachtdienst.db: cannot create {blocker}/sub: Not a directory"


def test_data_directory_is_created_for_sqlite(tmp_path):
    data_dir = tmp_path / "deep" / "data"
    open_database(Settings(data_dir=data_dir))
    assert (Path(data_dir) / "nachtdienst.db").exists()


@pytest.mark.parametrize(("field", "value"), [("outcome", "lost"), ("direction", "sideways"), ("path", "pigeon")])
def test_a_calls_choices_hold_after_the_table_was_rebuilt_by_a_migration(sessions, field, value):
    # 0004 rebuilds `calls` on SQLite (batch mode); its CHECK constraints must come along.
    with sessions() as session:
        call = Call(channel_id=f"c-{field}", started_at=datetime.now(UTC), to_number="0201234567")
        session.add(call)
        session.commit()
        call.outcome = "called_back"
        call.direction = "outbound"
        session.commit()
        setattr(call, field, value)
        with pytest.raises(IntegrityError):
            session.commit()


def test_the_newest_migration_goes_down_and_up_again(settings, sessions):
    engine = make_engine(settings)
    script = ScriptDirectory.from_config(alembic_config())
    previous = script.get_revision(HEAD_REVISION).down_revision
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), previous)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == previous
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    engine.dispose()
