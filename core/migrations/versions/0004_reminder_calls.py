"""Reminder calls, outbound calls, transcript partial

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD_OUTCOMES = "('answered', 'voicemail', 'non_urgent_message', 'abandoned', 'blocked', 'office_hours', 'repeat_caller', 'failed')"
OUTCOMES = (
    "('called_back', 'heard', 'not_reached', 'customer_not_reached', 'no_choice', "
    "'answered', 'voicemail', 'non_urgent_message', 'abandoned', 'blocked', 'office_hours', 'repeat_caller', 'failed')"
)


def upgrade() -> None:
    op.create_table('reminder_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('voicemail_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('leased_by', sa.String(length=200), nullable=True),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('result', sa.String(length=30), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IS NULL OR status IN ('pending', 'calling', 'done', 'cancelled', 'failed')", name=op.f('ck_reminder_calls_status_valid')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_reminder_calls_attempts_not_negative')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_reminder_calls_call_id_calls'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_reminder_calls_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voicemail_id'], ['voicemails.id'], name=op.f('fk_reminder_calls_voicemail_id_voicemails'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_calls')),
    sa.UniqueConstraint('incident_id', name=op.f('uq_reminder_calls_incident_id'))
    )
    with op.batch_alter_table('reminder_calls', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_calls_due', ['status', 'due_at'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('direction', sa.String(length=10), server_default='inbound', nullable=False))
        batch_op.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_calls_incident_id'), ['incident_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_calls_incident_id_incidents'), 'incidents', ['incident_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_calls_direction_valid'), "direction IS NULL OR direction IN ('inbound', 'outbound')")
        batch_op.drop_constraint(batch_op.f('ck_calls_outcome_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_calls_outcome_valid'), f"outcome IS NULL OR outcome IN {OUTCOMES}")

    with op.batch_alter_table('transcripts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partial', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('voicemails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pbx_recording', sa.String(length=200), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('voicemails', schema=None) as batch_op:
        batch_op.drop_column('pbx_recording')

    with op.batch_alter_table('transcripts', schema=None) as batch_op:
        batch_op.drop_column('partial')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_calls_outcome_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_calls_outcome_valid'), f"outcome IS NULL OR outcome IN {OLD_OUTCOMES}")
        batch_op.drop_constraint(batch_op.f('ck_calls_direction_valid'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_calls_incident_id_incidents'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_calls_incident_id'))
        batch_op.drop_column('incident_id')
        batch_op.drop_column('direction')

    with op.batch_alter_table('reminder_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_calls_due')

    op.drop_table('reminder_calls')
