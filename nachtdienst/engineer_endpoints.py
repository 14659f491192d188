"""The engineers' SIP contacts, read from the database, as the PBX endpoints to render."""

from __future__ import annotations

from sqlalchemy import select

from core.db import open_database
from core.models import Engineer
from core.models import EngineerContact as ContactRow
from core.settings import Settings
from pbx.render import EngineerContact


def engineer_endpoints(settings: Settings) -> list[EngineerContact]:
    session_factory = open_database(settings)
    with session_factory() as session:
        rows = session.execute(
            select(ContactRow.id, ContactRow.address, Engineer.name)
            .join(Engineer, ContactRow.engineer_id == Engineer.id)
            .where(ContactRow.kind == "sip", Engineer.active.is_(True))
            .order_by(ContactRow.id)
        ).all()
    return [EngineerContact(engineer_name=name, contact_id=cid, uri=address) for cid, address, name in rows]


def refresh_running_pbx(settings: Settings) -> bool:
    """Re-render and reload a running PBX so new contacts are endpoints at once.
    Returns False when no PBX of this data directory is running."""
    from pbx import control

    state = control.running_state(settings)
    if state is None:
        return False
    control.apply_config(settings, state.installation, engineer_endpoints(settings))
    control.reload(settings)
    return True
