"""Index on voicemails.pbx_recording

The fallback upkeep asks every 30 s which of Asterisk's kept recordings a voicemail holds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_voicemails_pbx_recording'), 'voicemails', ['pbx_recording'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_voicemails_pbx_recording'), table_name='voicemails')
