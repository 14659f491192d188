"""Alembic environment: the engine comes from core.db (never from an alembic.ini)."""

from __future__ import annotations

from alembic import context

from core.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only alter tables by copying them
        compare_type=True,
    )
    context.run_migrations()
