"""Everything the line keeps, as SQLAlchemy 2.0 typed models.

Times are stored as timezone-aware UTC (naive datetimes are refused), money as Decimal,
choices as constrained strings so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CUSTOMER_STATUSES = ("active", "warned", "blocked")
CONTACT_KINDS = ("sip", "phone")
ROLES = ("primary", "secondary")
SHIFT_SOURCES = ("rotation", "override")
CALL_PATHS = ("ari", "agi", "static")
# inbound: a customer called the line; outbound: the line called an engineer about an incident
# (and perhaps bridged the customer in: the call-back).
CALL_DIRECTIONS = ("inbound", "outbound")
CALL_OUTCOMES = (
    # outbound calls
    "called_back",  # the engineer pressed 2 and talked to the customer
    "heard",  # the engineer heard the voicemail, no call-back
    "not_reached",  # no engineer answered
    "customer_not_reached",  # the engineer pressed 2; the customer did not answer
    "no_choice",  # the engineer answered and chose nothing
    # inbound calls
    "answered",
    "voicemail",
    "non_urgent_message",
    "abandoned",
    "blocked",
    "office_hours",
    "repeat_caller",
    "failed",
)
INCIDENT_STATUSES = ("new", "acknowledged", "in_progress", "resolved", "rejected_not_critical")
VOICEMAIL_SOURCES = ("ari", "voicemail_app")
JOB_STATUSES = ("queued", "running", "done", "failed")
NOTIFICATION_CHANNELS = ("email", "webhook")
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")
REMINDER_STATUSES = ("pending", "calling", "done", "cancelled", "failed")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone: we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"{value!r} is not a datetime")
        # A naive time is ambiguous (local? UTC?); guessing would shift calls by an hour or two.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _choice(column: str, values: tuple[str, ...]) -> CheckConstraint:
    # A constrained string rather than a native ENUM: the same on SQLite and PostgreSQL, and
    # a new value is a one-line migration instead of an ALTER TYPE.
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IS NULL OR {column} IN ({listed})", name=f"{column}_valid")


def utc_now() -> datetime:
    return datetime.now(UTC)


Money = Numeric(10, 2)

# The SLA every customer gets unless told otherwise (seeded by the first migration).
STANDARD_SLA_NAME = "standard"
STANDARD_HOURLY_RATE = Decimal("95.00")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), Decimal: Money, dict[str, Any]: JSON, list[Any]: JSON}


class Sla(Base):
    """Service level agreement: rates, after-hours entitlement, targets, billing increments."""

    __tablename__ = "slas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    hourly_rate: Mapped[Decimal]
    after_hours_surcharge_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("100"))
    after_hours_included: Mapped[bool] = mapped_column(Boolean, default=True)
    response_target_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_target_minutes: Mapped[int] = mapped_column(Integer, default=240)
    billing_increment_minutes: Mapped[int] = mapped_column(Integer, default=15)
    billing_minimum_minutes: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("hourly_rate >= 0", name="rate_not_negative"),
        CheckConstraint("after_hours_surcharge_pct >= 0", name="surcharge_not_negative"),
        CheckConstraint("billing_increment_minutes > 0", name="increment_positive"),
        CheckConstraint("billing_minimum_minutes >= 0", name="minimum_not_negative"),
        CheckConstraint("resolution_target_minutes > 0", name="resolution_target_positive"),
    )


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_number: Mapped[str] = mapped_column(String(50), unique=True)
    sla_id: Mapped[int] = mapped_column(ForeignKey("slas.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    sla: Mapped[Sla] = relationship()
    phones: Mapped[list[CustomerPhone]] = relationship(back_populates="customer", cascade="all, delete-orphan")

    __table_args__ = (_choice("status", CUSTOMER_STATUSES),)


class CustomerPhone(Base):
    """A number a customer calls from, in E.164."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Engineer(Base):
    __tablename__ = "engineers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    contacts: Mapped[list[EngineerContact]] = relationship(
        back_populates="engineer", cascade="all, delete-orphan", order_by="EngineerContact.position"
    )


class EngineerContact(Base):
    """Where an engineer is rung: a SIP URI or an external number (E.164) over the trunk."""

    __tablename__ = "engineer_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    engineer_id: Mapped[int] = mapped_column(ForeignKey("engineers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=1)

    engineer: Mapped[Engineer] = relationship(back_populates="contacts")

    __table_args__ = (_choice("kind", CONTACT_KINDS), UniqueConstraint("engineer_id", "address", name="uq_engineer_contacts_address"))


class Rotation(Base):
    """A weekly rotation: members take turns, handing over on a weekday at a time."""

    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    handover_weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday
    handover_time: Mapped[time] = mapped_column(Time, default=time(9, 0))
    start_date: Mapped[date] = mapped_column(Date)

    members: Mapped[list[RotationMember]] = relationship(
        back_populates="rotation", cascade="all, delete-orphan", order_by="RotationMember.position"
    )

    __table_args__ = (CheckConstraint("handover_weekday BETWEEN 0 AND 6", name="weekday_valid"),)


class RotationMember(Base):
    __tablename__ = "rotation_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"), index=True)
    engineer_id: Mapped[int] = mapped_column(ForeignKey("engineers.id"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20), default="primary")

    rotation: Mapped[Rotation] = relationship(back_populates="members")
    engineer: Mapped[Engineer] = relationship()

    __table_args__ = (
        _choice("role", ROLES),
        UniqueConstraint("rotation_id", "role", "position", name="uq_rotation_members_turn"),
    )


class Shift(Base):
    """Who is on duty in which role from when to when (from a rotation, or an override)."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    engineer_id: Mapped[int] = mapped_column(ForeignKey("engineers.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="primary")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(20), default="override")
    note: Mapped[str | None] = mapped_column(Text)

    engineer: Mapped[Engineer] = relationship()

    __table_args__ = (
        _choice("role", ROLES),
        _choice("source", SHIFT_SOURCES),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_shifts_period", "starts_at", "ends_at"),
    )


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    steps: Mapped[list[EscalationStep]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", order_by="EscalationStep.position"
    )


class EscalationStep(Base):
    """One step: its targets are rung at once for `timeout_seconds`."""

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=25)

    policy: Mapped[EscalationPolicy] = relationship(back_populates="steps")
    targets: Mapped[list[EscalationTarget]] = relationship(back_populates="step", cascade="all, delete-orphan")

    __table_args__ = (
        UniqueConstraint("policy_id", "position", name="uq_escalation_steps_position"),
        CheckConstraint("timeout_seconds > 0", name="timeout_positive"),
    )


class EscalationTarget(Base):
    """Whom a step rings: whoever has `role` on duty, or one engineer."""

    __tablename__ = "escalation_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("escalation_steps.id", ondelete="CASCADE"), index=True)
    role: Mapped[str | None] = mapped_column(String(20))
    engineer_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))

    step: Mapped[EscalationStep] = relationship(back_populates="targets")

    engineer: Mapped[Engineer | None] = relationship()

    __table_args__ = (
        _choice("role", ROLES),
        CheckConstraint("(role IS NULL) <> (engineer_id IS NULL)", name="role_or_engineer"),
    )


class Call(Base):
    """One inbound call, whatever path it took through the PBX."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(100), unique=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    from_number: Mapped[str | None] = mapped_column(String(100))
    from_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    to_number: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(5))
    path: Mapped[str] = mapped_column(String(10), default="ari")
    direction: Mapped[str] = mapped_column(String(10), default="inbound", server_default="inbound")
    # An outbound call's incident (billing sums its accepted legs: the call-back's talk time).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", use_alter=True), index=True)
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_detail: Mapped[str | None] = mapped_column(Text)
    abandoned_step: Mapped[str | None] = mapped_column(String(50))

    customer: Mapped[Customer | None] = relationship()
    steps: Mapped[list[CallStep]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="(CallStep.at, CallStep.id)"
    )
    dial_attempts: Mapped[list[DialAttempt]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="(DialAttempt.started_at, DialAttempt.id)"
    )
    voicemails: Mapped[list[Voicemail]] = relationship(back_populates="call", order_by="Voicemail.recorded_at")

    __table_args__ = (
        _choice("path", CALL_PATHS),
        _choice("direction", CALL_DIRECTIONS),
        _choice("outcome", CALL_OUTCOMES),
    )


class CallStep(Base):
    __tablename__ = "call_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    step: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str | None] = mapped_column(Text)

    call: Mapped[Call] = relationship(back_populates="steps")


class DialAttempt(Base):
    """One leg to one engineer contact, and how it ended."""

    __tablename__ = "dial_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    engineer_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    contact: Mapped[str] = mapped_column(String(300))
    step_position: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(30))

    call: Mapped[Call] = relationship(back_populates="dial_attempts")
    engineer: Mapped[Engineer | None] = relationship()


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    status: Mapped[str] = mapped_column(String(30), default="new", index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    first_contact_at: Mapped[datetime | None]
    first_contact_by_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    started_at: Mapped[datetime | None]  # work began (in_progress)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    rejected_at: Mapped[datetime | None]  # triaged as not critical
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    fault_ours: Mapped[bool] = mapped_column(Boolean, default=False)
    # Discount on the incident's billed line in percent (100 waives it), and why.
    billing_adjustment_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    billing_adjustment_reason: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer | None] = relationship()
    call: Mapped[Call | None] = relationship(foreign_keys=[call_id])
    voicemails: Mapped[list[Voicemail]] = relationship(back_populates="incident", order_by="Voicemail.recorded_at")
    work_logs: Mapped[list[WorkLog]] = relationship(back_populates="incident", order_by="WorkLog.started_at")
    reminder_call: Mapped[ReminderCall | None] = relationship(viewonly=True)

    __table_args__ = (
        _choice("status", INCIDENT_STATUSES),
        CheckConstraint("billing_adjustment_pct BETWEEN 0 AND 100", name="adjustment_is_percentage"),
    )


class Voicemail(Base):
    """A recorded message: the audio file under the data directory and its checksum."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    recorded_at: Mapped[datetime]
    duration_seconds: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    path: Mapped[str] = mapped_column(String(500), unique=True)  # relative to the data directory
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    audio_format: Mapped[str] = mapped_column(String(20), default="wav")
    source: Mapped[str] = mapped_column(String(20), default="ari")
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    called_back_at: Mapped[datetime | None]
    # Asterisk's own copy (a stored recording's name), kept while the incident is new so the
    # reminder call can play it to the engineer: Asterisk cannot read our data directory.
    pbx_recording: Mapped[str | None] = mapped_column(String(200), index=True)

    call: Mapped[Call | None] = relationship(back_populates="voicemails")
    incident: Mapped[Incident | None] = relationship(back_populates="voicemails")
    transcript: Mapped[Transcript | None] = relationship(back_populates="voicemail", cascade="all, delete-orphan")

    __table_args__ = (
        _choice("source", VOICEMAIL_SOURCES),
        # A data directory moves between machines and into backups; an absolute path would not.
        CheckConstraint("path NOT LIKE '/%'", name="path_relative"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
    )


class Transcript(Base):
    """What the model heard, and the incident card extracted from it."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    voicemail_id: Mapped[int] = mapped_column(ForeignKey("voicemails.id", ondelete="CASCADE"), unique=True)
    language: Mapped[str | None] = mapped_column(String(5))
    text: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    no_speech: Mapped[bool] = mapped_column(Boolean, default=False)
    low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    # The time budget ended decoding before the end of the audio.
    partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    problem: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    urgency: Mapped[str | None] = mapped_column(Text)
    callback_number: Mapped[str | None] = mapped_column(String(20))

    voicemail: Mapped[Voicemail] = relationship(back_populates="transcript")


class TranscriptionJob(Base):
    """A voicemail waiting to be transcribed; leased by one worker at a time."""

    __tablename__ = "transcription_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    voicemail_id: Mapped[int] = mapped_column(ForeignKey("voicemails.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]

    voicemail: Mapped[Voicemail] = relationship()

    __table_args__ = (
        _choice("status", JOB_STATUSES),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_transcription_jobs_due", "status", "next_attempt_at"),
    )


class WorkLog(Base):
    """Time an engineer spent on an incident outside a call."""

    __tablename__ = "work_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    engineer_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"))
    started_at: Mapped[datetime]
    minutes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship(back_populates="work_logs")
    engineer: Mapped[Engineer | None] = relationship()

    __table_args__ = (CheckConstraint("minutes > 0", name="minutes_positive"),)


class OfficeClosure(Base):
    """A period the office is closed whatever the weekly schedule says, [starts_at, ends_at)."""

    __tablename__ = "office_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)


class Notification(Base):
    """A message to an engineer (or the team's webhook), kept until it is delivered: an outbox
    that survives restarts, so a failed send is retried and never lost silently."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))  # voicemail_received, voicemail_card, line_fallback, …
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(500))  # an e-mail address or a webhook URL
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)
    voicemail_id: Mapped[int | None] = mapped_column(ForeignKey("voicemails.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the webhook's JSON
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)  # paths relative to the data directory
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        _choice("channel", NOTIFICATION_CHANNELS),
        _choice("status", NOTIFICATION_STATUSES),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )


class ReminderCall(Base):
    """The PBX calling the engineer on duty about an incident nobody acknowledged (PRODUCT.md
    §1 step 8): due `notify.unacknowledged_call_minutes` after the voicemail, leased by one ARI
    app at a time, tried again while the incident stays new."""

    __tablename__ = "reminder_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    voicemail_id: Mapped[int | None] = mapped_column(ForeignKey("voicemails.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(200))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))  # the latest call
    result: Mapped[str | None] = mapped_column(String(30))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        _choice("status", REMINDER_STATUSES),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_reminder_calls_due", "status", "due_at"),
    )


class AuditEntry(Base):
    """Who changed what, when: incident transitions, blocks lifted, billing waived."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_id"),)
