"""Incident start and rejection, office closures

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('office_closures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_office_closures_ends_after_start')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_office_closures'))
    )
    with op.batch_alter_table('office_closures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_office_closures_starts_at'), ['starts_at'], unique=False)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('started_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rejected_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rejection_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_incidents_started_by_id_engineers'), 'engineers', ['started_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_incidents_rejected_by_id_engineers'), 'engineers', ['rejected_by_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_incidents_rejected_by_id_engineers'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_incidents_started_by_id_engineers'), type_='foreignkey')
        batch_op.drop_column('rejection_reason')
        batch_op.drop_column('rejected_by_id')
        batch_op.drop_column('rejected_at')
        batch_op.drop_column('started_by_id')
        batch_op.drop_column('started_at')

    with op.batch_alter_table('office_closures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_office_closures_starts_at'))

    op.drop_table('office_closures')
