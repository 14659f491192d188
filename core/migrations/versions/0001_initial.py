"""Initial schema, and the standard SLA every customer gets unless told otherwise.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The standard SLA as it was when this revision was written (core.models keeps the current
# constants; a migration that has run somewhere must never change).
STANDARD_SLA_NAME = "standard"
STANDARD_HOURLY_RATE = Decimal("95.00")


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('entity', sa.String(length=50), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    op.create_index(op.f('ix_audit_entries_at'), 'audit_entries', ['at'], unique=False)
    op.create_index('ix_audit_entries_entity', 'audit_entries', ['entity', 'entity_id'], unique=False)

    op.create_table('engineers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engineers')),
    sa.UniqueConstraint('name', name=op.f('uq_engineers_name'))
    )
    op.create_table('escalation_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_escalation_policies_name'))
    )
    op.create_table('rotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('handover_weekday', sa.Integer(), nullable=False),
    sa.Column('handover_time', sa.Time(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.CheckConstraint('handover_weekday BETWEEN 0 AND 6', name=op.f('ck_rotations_weekday_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotations')),
    sa.UniqueConstraint('name', name=op.f('uq_rotations_name'))
    )
    op.create_table('slas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('hourly_rate', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('after_hours_surcharge_pct', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('after_hours_included', sa.Boolean(), nullable=False),
    sa.Column('response_target_minutes', sa.Integer(), nullable=True),
    sa.Column('resolution_target_minutes', sa.Integer(), nullable=False),
    sa.Column('billing_increment_minutes', sa.Integer(), nullable=False),
    sa.Column('billing_minimum_minutes', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('after_hours_surcharge_pct >= 0', name=op.f('ck_slas_surcharge_not_negative')),
    sa.CheckConstraint('billing_increment_minutes > 0', name=op.f('ck_slas_increment_positive')),
    sa.CheckConstraint('billing_minimum_minutes >= 0', name=op.f('ck_slas_minimum_not_negative')),
    sa.CheckConstraint('hourly_rate >= 0', name=op.f('ck_slas_rate_not_negative')),
    sa.CheckConstraint('resolution_target_minutes > 0', name=op.f('ck_slas_resolution_target_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slas')),
    sa.UniqueConstraint('name', name=op.f('uq_slas_name'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('customer_number', sa.String(length=50), nullable=False),
    sa.Column('sla_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IS NULL OR status IN ('active', 'warned', 'blocked')", name=op.f('ck_customers_status_valid')),
    sa.ForeignKeyConstraint(['sla_id'], ['slas.id'], name=op.f('fk_customers_sla_id_slas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('customer_number', name=op.f('uq_customers_customer_number'))
    )
    op.create_table('engineer_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('engineer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IS NULL OR kind IN ('sip', 'phone')", name=op.f('ck_engineer_contacts_kind_valid')),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], name=op.f('fk_engineer_contacts_engineer_id_engineers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engineer_contacts')),
    sa.UniqueConstraint('engineer_id', 'address', name='uq_engineer_contacts_address')
    )
    op.create_index(op.f('ix_engineer_contacts_engineer_id'), 'engineer_contacts', ['engineer_id'], unique=False)

    op.create_table('escalation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('timeout_seconds', sa.Integer(), nullable=False),
    sa.CheckConstraint('timeout_seconds > 0', name=op.f('ck_escalation_steps_timeout_positive')),
    sa.ForeignKeyConstraint(['policy_id'], ['escalation_policies.id'], name=op.f('fk_escalation_steps_policy_id_escalation_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_steps')),
    sa.UniqueConstraint('policy_id', 'position', name='uq_escalation_steps_position')
    )
    op.create_index(op.f('ix_escalation_steps_policy_id'), 'escalation_steps', ['policy_id'], unique=False)

    op.create_table('rotation_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rotation_id', sa.Integer(), nullable=False),
    sa.Column('engineer_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.CheckConstraint("role IS NULL OR role IN ('primary', 'secondary')", name=op.f('ck_rotation_members_role_valid')),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], name=op.f('fk_rotation_members_engineer_id_engineers')),
    sa.ForeignKeyConstraint(['rotation_id'], ['rotations.id'], name=op.f('fk_rotation_members_rotation_id_rotations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotation_members')),
    sa.UniqueConstraint('rotation_id', 'role', 'position', name='uq_rotation_members_turn')
    )
    op.create_index(op.f('ix_rotation_members_rotation_id'), 'rotation_members', ['rotation_id'], unique=False)

    op.create_table('shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('engineer_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("role IS NULL OR role IN ('primary', 'secondary')", name=op.f('ck_shifts_role_valid')),
    sa.CheckConstraint("source IS NULL OR source IN ('rotation', 'override')", name=op.f('ck_shifts_source_valid')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_shifts_ends_after_start')),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], name=op.f('fk_shifts_engineer_id_engineers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shifts'))
    )
    op.create_index(op.f('ix_shifts_engineer_id'), 'shifts', ['engineer_id'], unique=False)
    op.create_index('ix_shifts_period', 'shifts', ['starts_at', 'ends_at'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('from_number', sa.String(length=100), nullable=True),
    sa.Column('from_e164', sa.String(length=20), nullable=True),
    sa.Column('to_number', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=5), nullable=True),
    sa.Column('path', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('outcome_detail', sa.Text(), nullable=True),
    sa.Column('abandoned_step', sa.String(length=50), nullable=True),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('answered', 'voicemail', 'non_urgent_message', 'abandoned', 'blocked', 'office_hours', 'repeat_caller', 'failed')", name=op.f('ck_calls_outcome_valid')),
    sa.CheckConstraint("path IS NULL OR path IN ('ari', 'agi', 'static')", name=op.f('ck_calls_path_valid')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_calls_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('channel_id', name=op.f('uq_calls_channel_id'))
    )
    op.create_index(op.f('ix_calls_customer_id'), 'calls', ['customer_id'], unique=False)
    op.create_index(op.f('ix_calls_from_e164'), 'calls', ['from_e164'], unique=False)
    op.create_index(op.f('ix_calls_started_at'), 'calls', ['started_at'], unique=False)

    op.create_table('customer_phones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_phones_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_phones')),
    sa.UniqueConstraint('e164', name=op.f('uq_customer_phones_e164'))
    )
    op.create_index(op.f('ix_customer_phones_customer_id'), 'customer_phones', ['customer_id'], unique=False)

    op.create_table('escalation_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('engineer_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("role IS NULL OR role IN ('primary', 'secondary')", name=op.f('ck_escalation_targets_role_valid')),
    sa.CheckConstraint('(role IS NULL) <> (engineer_id IS NULL)', name=op.f('ck_escalation_targets_role_or_engineer')),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], name=op.f('fk_escalation_targets_engineer_id_engineers')),
    sa.ForeignKeyConstraint(['step_id'], ['escalation_steps.id'], name=op.f('fk_escalation_targets_step_id_escalation_steps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_targets'))
    )
    op.create_index(op.f('ix_escalation_targets_step_id'), 'escalation_targets', ['step_id'], unique=False)

    op.create_table('call_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('step', sa.String(length=50), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_steps_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_steps'))
    )
    op.create_index(op.f('ix_call_steps_call_id'), 'call_steps', ['call_id'], unique=False)

    op.create_table('dial_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('engineer_id', sa.Integer(), nullable=True),
    sa.Column('contact', sa.String(length=300), nullable=False),
    sa.Column('step_position', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_dial_attempts_call_id_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], name=op.f('fk_dial_attempts_engineer_id_engineers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dial_attempts'))
    )
    op.create_index(op.f('ix_dial_attempts_call_id'), 'dial_attempts', ['call_id'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('first_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_contact_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('fault_ours', sa.Boolean(), nullable=False),
    sa.Column('billing_adjustment_pct', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('billing_adjustment_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IS NULL OR status IN ('new', 'acknowledged', 'in_progress', 'resolved', 'rejected_not_critical')", name=op.f('ck_incidents_status_valid')),
    sa.CheckConstraint('billing_adjustment_pct BETWEEN 0 AND 100', name=op.f('ck_incidents_adjustment_is_percentage')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['engineers.id'], name=op.f('fk_incidents_acknowledged_by_id_engineers')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_incidents_call_id_calls')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_incidents_customer_id_customers')),
    sa.ForeignKeyConstraint(['first_contact_by_id'], ['engineers.id'], name=op.f('fk_incidents_first_contact_by_id_engineers')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['engineers.id'], name=op.f('fk_incidents_resolved_by_id_engineers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    op.create_index(op.f('ix_incidents_customer_id'), 'incidents', ['customer_id'], unique=False)
    op.create_index(op.f('ix_incidents_status'), 'incidents', ['status'], unique=False)

    op.create_table('voicemails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_seconds', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('audio_format', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('partial', sa.Boolean(), nullable=False),
    sa.Column('called_back_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("path NOT LIKE '/%'", name=op.f('ck_voicemails_path_relative')),
    sa.CheckConstraint("source IS NULL OR source IN ('ari', 'voicemail_app')", name=op.f('ck_voicemails_source_valid')),
    sa.CheckConstraint('size_bytes >= 0', name=op.f('ck_voicemails_size_not_negative')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_voicemails_call_id_calls')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_voicemails_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voicemails')),
    sa.UniqueConstraint('path', name=op.f('uq_voicemails_path'))
    )
    op.create_index(op.f('ix_voicemails_call_id'), 'voicemails', ['call_id'], unique=False)
    op.create_index(op.f('ix_voicemails_incident_id'), 'voicemails', ['incident_id'], unique=False)

    op.create_table('work_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('engineer_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint('minutes > 0', name=op.f('ck_work_logs_minutes_positive')),
    sa.ForeignKeyConstraint(['engineer_id'], ['engineers.id'], name=op.f('fk_work_logs_engineer_id_engineers')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_work_logs_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_logs'))
    )
    op.create_index(op.f('ix_work_logs_incident_id'), 'work_logs', ['incident_id'], unique=False)

    op.create_table('transcription_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('voicemail_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('leased_by', sa.String(length=200), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IS NULL OR status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_transcription_jobs_status_valid')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_transcription_jobs_attempts_not_negative')),
    sa.ForeignKeyConstraint(['voicemail_id'], ['voicemails.id'], name=op.f('fk_transcription_jobs_voicemail_id_voicemails'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcription_jobs')),
    sa.UniqueConstraint('voicemail_id', name=op.f('uq_transcription_jobs_voicemail_id'))
    )
    op.create_index('ix_transcription_jobs_due', 'transcription_jobs', ['status', 'next_attempt_at'], unique=False)

    op.create_table('transcripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('voicemail_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('no_speech', sa.Boolean(), nullable=False),
    sa.Column('low_confidence', sa.Boolean(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('pages', sa.JSON(), nullable=False),
    sa.Column('urgency', sa.Text(), nullable=True),
    sa.Column('callback_number', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['voicemail_id'], ['voicemails.id'], name=op.f('fk_transcripts_voicemail_id_voicemails'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcripts')),
    sa.UniqueConstraint('voicemail_id', name=op.f('uq_transcripts_voicemail_id'))
    )

    # The standard SLA of the after-hours page: hourly rate + 100%, after-hours support
    # included, resolution within 4 h, billed per started 15 minutes.
    slas = sa.table(
        "slas",
        sa.column("name", sa.String),
        sa.column("hourly_rate", sa.Numeric(10, 2)),
        sa.column("after_hours_surcharge_pct", sa.Numeric(5, 2)),
        sa.column("after_hours_included", sa.Boolean),
        sa.column("response_target_minutes", sa.Integer),
        sa.column("resolution_target_minutes", sa.Integer),
        sa.column("billing_increment_minutes", sa.Integer),
        sa.column("billing_minimum_minutes", sa.Integer),
        sa.column("currency", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        slas,
        [
            {
                "name": STANDARD_SLA_NAME,
                "hourly_rate": STANDARD_HOURLY_RATE,
                "after_hours_surcharge_pct": Decimal("100"),
                "after_hours_included": True,
                "response_target_minutes": None,
                "resolution_target_minutes": 240,
                "billing_increment_minutes": 15,
                "billing_minimum_minutes": 0,
                "currency": "EUR",
                "created_at": datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table('transcripts')
    op.drop_index('ix_transcription_jobs_due', table_name='transcription_jobs')
    op.drop_table('transcription_jobs')
    op.drop_index(op.f('ix_work_logs_incident_id'), table_name='work_logs')
    op.drop_table('work_logs')
    op.drop_index(op.f('ix_voicemails_incident_id'), table_name='voicemails')
    op.drop_index(op.f('ix_voicemails_call_id'), table_name='voicemails')
    op.drop_table('voicemails')
    op.drop_index(op.f('ix_incidents_status'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_customer_id'), table_name='incidents')
    op.drop_table('incidents')
    op.drop_index(op.f('ix_dial_attempts_call_id'), table_name='dial_attempts')
    op.drop_table('dial_attempts')
    op.drop_index(op.f('ix_call_steps_call_id'), table_name='call_steps')
    op.drop_table('call_steps')
    op.drop_index(op.f('ix_escalation_targets_step_id'), table_name='escalation_targets')
    op.drop_table('escalation_targets')
    op.drop_index(op.f('ix_customer_phones_customer_id'), table_name='customer_phones')
    op.drop_table('customer_phones')
    op.drop_index(op.f('ix_calls_started_at'), table_name='calls')
    op.drop_index(op.f('ix_calls_from_e164'), table_name='calls')
    op.drop_index(op.f('ix_calls_customer_id'), table_name='calls')
    op.drop_table('calls')
    op.drop_index('ix_shifts_period', table_name='shifts')
    op.drop_index(op.f('ix_shifts_engineer_id'), table_name='shifts')
    op.drop_table('shifts')
    op.drop_index(op.f('ix_rotation_members_rotation_id'), table_name='rotation_members')
    op.drop_table('rotation_members')
    op.drop_index(op.f('ix_escalation_steps_policy_id'), table_name='escalation_steps')
    op.drop_table('escalation_steps')
    op.drop_index(op.f('ix_engineer_contacts_engineer_id'), table_name='engineer_contacts')
    op.drop_table('engineer_contacts')
    op.drop_table('customers')
    op.drop_table('slas')
    op.drop_table('rotations')
    op.drop_table('escalation_policies')
    op.drop_table('engineers')
    op.drop_index('ix_audit_entries_entity', table_name='audit_entries')
    op.drop_index(op.f('ix_audit_entries_at'), table_name='audit_entries')
    op.drop_table('audit_entries')
