"""Render Asterisk's configuration from dialplan/templates and the settings.

The same renderer serves the local Debian root, a host's Asterisk and the production image,
which differ only in the directories Asterisk is told to use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

import dialplan

from core.phone import support_number_forms
from core.settings import Settings
from pbx.call_path import agi_host

TEMPLATE_DIR = Path(dialplan.__file__).parent / "templates"
TEMPLATES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "http.conf",
    "ari.conf",
    "rtp.conf",
    "indications.conf",
    "pjsip.conf",
    "extensions.conf",
    "cdr.conf",
)
# Modules that only need their file to exist (and would log an error without it).
EMPTY_FILES = ("features.conf", "cel.conf", "acl.conf", "udptl.conf", "ccss.conf", "geolocation.conf",
               "pjproject.conf", "pjsip_wizard.conf", "pjsip_notify.conf", "websocket_client.conf")
# Files holding secrets are readable by the asterisk user only.
SECRET_FILES = {"ari.conf"}


@dataclass(frozen=True)
class AsteriskDirs:
    """Directories as Asterisk sees them (inside its root, when it runs in one)."""

    etc: Path
    varlib: Path
    spool: Path
    run: Path
    log: Path

    @classmethod
    def standard(cls) -> AsteriskDirs:
        """Debian's own layout, for an image or host where this is the only Asterisk."""
        return cls(
            etc=Path("/etc/asterisk"),
            varlib=Path("/var/lib/asterisk"),
            spool=Path("/var/spool/asterisk"),
            run=Path("/var/run/asterisk"),
            log=Path("/var/log/asterisk"),
        )

    @classmethod
    def under(cls, base: Path) -> AsteriskDirs:
        """A private instance: everything under one directory, so two lines can share a root."""
        return cls(etc=base / "etc", varlib=base / "lib", spool=base / "spool", run=base / "run", log=base / "log")

    @property
    def prompts(self) -> Path:
        """The line's own prompts, <language>/<name>.wav (see pbx/prompts.py)."""
        return self.varlib / "sounds" / "nachtdienst"

    def all(self) -> list[Path]:
        # The spool needs `recording` (ARI record answers 500 without it) and `voicemail`.
        return [self.etc, self.varlib, self.spool, self.spool / "recording", self.spool / "voicemail", self.run, self.log]


@dataclass(frozen=True)
class EngineerContact:
    """A SIP contact of an engineer, rendered as its own endpoint so each leg is dialled alone."""

    engineer_name: str
    contact_id: int
    uri: str

    @property
    def endpoint(self) -> str:
        return endpoint_name(self.contact_id)


def endpoint_name(contact_id: int) -> str:
    """The PJSIP endpoint for an engineer's SIP contact (the app dials `PJSIP/<this>`)."""
    return f"engineer-{contact_id}"


def is_engineer_endpoint(name: str) -> bool:
    """Whether `name` is one of endpoint_name's (not the shared `engineer-phone`)."""
    prefix, _, number = name.partition("-")
    return prefix == "engineer" and number.isdigit()


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def static_dial(settings: Settings) -> str:
    """The static path's last resort when AstDB has no contacts yet (the app never ran):
    roster.default_contact as a Dial() string, or "" (the caller then leaves a message)."""
    from core.roster import ContactToRing
    from core.roster_store import NoFallback, _configured_contact
    from agi.dial import dial_string

    if not settings.roster.default_contact:
        return ""
    try:
        contact = _configured_contact(settings.roster.default_contact, settings.country)
    except NoFallback:
        return ""
    return dial_string(ContactToRing(None, contact), trunk_available=settings.pbx.trunk_contact is not None) or ""


def render(
    settings: Settings,
    dirs: AsteriskDirs,
    ari_password: str,
    engineer_contacts: list[EngineerContact] = (),
) -> dict[str, str]:
    """Every configuration file's name and text."""
    env = _environment()
    context = {
        "settings": settings,
        "dirs": dirs,
        "ari_password": ari_password,
        "engineer_contacts": list(engineer_contacts),
        "support_number_forms": support_number_forms(settings.support_number, settings.country),
        "prompts_dir": dirs.prompts,
        "agi_host": agi_host(settings),
        "static_dial": static_dial(settings),
    }
    files = {name: env.get_template(f"{name}.j2").render(context) for name in TEMPLATES}
    quiet = env.get_template("quiet.conf.j2").render()
    files.update({name: quiet for name in EMPTY_FILES})
    return files


def write_config(files: dict[str, str], etc_dir: Path, uid: int = -1, gid: int = -1) -> None:
    """Write the files into `etc_dir` (a host path), owned by uid/gid (-1: unchanged); the
    secret ones are not readable by others, not even while being written."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = etc_dir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640 if name in SECRET_FILES else 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        if uid != -1:
            os.chown(tmp, uid, gid)
        os.replace(tmp, path)
