"""Alembic environment. core.db.migrate hands over a connection already inside the
transaction that holds the migration lock; without one (a developer generating a revision
with `command.revision(alembic_config(), autogenerate=True)`) the configured database is used.
"""

from __future__ import annotations

from alembic import context

from core.models import Base

OPTIONS = {
    "target_metadata": Base.metadata,
    "render_as_batch": True,  # SQLite can only alter a table by copying it
    "compare_type": True,
}


def run_on(connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    from core.db import make_engine
    from core.settings import load_settings

    with make_engine(load_settings()).connect() as own_connection:
        run_on(own_connection)
