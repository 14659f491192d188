"""Start, stop and inspect the line's Asterisk: `nachtdienst pbx start|stop|status`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from core.secrets import ari_password
from core.settings import Settings
from pbx.ari_probe import AriUnreachable, ari_get
from pbx.installation import Installation, PbxError, find_installation, mount_proc, unmount_proc, write_hosts
from pbx.prompts import PromptError, render_prompts
from pbx.render import AsteriskDirs, EngineerContact, render, write_config

STOP_TIMEOUT = 10.0


@dataclass
class PbxState:
    """What `pbx start` leaves behind for `stop` and `status` (DATA_DIR/pbx/state.json)."""

    pid: int
    root: str | None
    config: str
    started_at: str

    @property
    def installation(self) -> Installation:
        return Installation(root=Path(self.root) if self.root else None)


def _state_file(settings: Settings) -> Path:
    return settings.resolved_data_dir / "pbx" / "state.json"


def log_file(settings: Settings) -> Path:
    return settings.resolved_data_dir / "pbx" / "asterisk.out"


def read_state(settings: Settings) -> PbxState | None:
    try:
        return PbxState(**json.loads(_state_file(settings).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is not alive; reap it if it is ours.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def running_state(settings: Settings) -> PbxState | None:
    state = read_state(settings)
    return state if state and _alive(state.pid) else None


def instance_dirs(settings: Settings, installation: Installation) -> AsteriskDirs:
    """This line's own directories: several lines (a developer's and the tests') share a root."""
    if installation.root is None:
        return AsteriskDirs.under(settings.resolved_data_dir / "pbx" / "asterisk")
    instance = sha256(str(settings.resolved_data_dir).encode()).hexdigest()[:12]
    return AsteriskDirs.under(Path("/srv/nachtdienst") / instance)


def _check_port_free(family: int, kind: int, address: str, port: int, label: str) -> None:
    with socket.socket(family, kind) as probe:
        # Like Asterisk itself: connections of a previous run in TIME_WAIT are no conflict.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise PbxError(f"{label} {address}:{port} is in use ({exc.strerror}): another Asterisk or phone?") from None


def apply_config(
    settings: Settings, installation: Installation, engineer_contacts: Sequence[EngineerContact] = ()
) -> AsteriskDirs:
    """Render the configuration into this line's directories (created, owned by asterisk)."""
    dirs = instance_dirs(settings, installation)
    uid, gid = installation.asterisk_ids()
    for inside in dirs.all():
        path = installation.host_path(inside)
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
    files = render(settings, dirs, ari_password(settings), list(engineer_contacts))
    write_config(files, installation.host_path(dirs.etc), uid, gid)
    return dirs


def prompts_dir(dirs: AsteriskDirs) -> Path:
    """Where Asterisk finds the line's prompts (a path as Asterisk sees it)."""
    return dirs.prompts


def make_prompts(settings: Settings, installation: Installation, dirs: AsteriskDirs, log: Callable[[str], None]) -> None:
    try:
        render_prompts(
            settings,
            installation.host_path(prompts_dir(dirs)),
            settings.resolved_data_dir / "prompts",
            owner=installation.asterisk_ids(),
            log=log,
        )
    except PromptError as exc:
        raise PbxError(str(exc)) from None


def start(
    settings: Settings,
    engineer_contacts: Sequence[EngineerContact] = (),
    log: Callable[[str], None] = print,
) -> PbxState:
    """Start Asterisk in the background and wait until ARI answers. Idempotent: a running
    PBX gets its configuration re-rendered and reloaded instead."""
    state = running_state(settings)
    installation = state.installation if state else find_installation(settings, log)
    dirs = apply_config(settings, installation, engineer_contacts)
    make_prompts(settings, installation, dirs, log)
    if state:
        reload(settings)
        log(f"PBX already running (pid {state.pid}); configuration reloaded")
        return state

    _check_port_free(socket.AF_INET, socket.SOCK_DGRAM, settings.pbx.sip_bind, settings.pbx.sip_port, "SIP port")
    _check_port_free(socket.AF_INET, socket.SOCK_STREAM, settings.pbx.ari_bind, settings.pbx.ari_port, "ARI port")
    if installation.root:
        write_hosts(installation.root)
        mount_proc(installation.root)

    config = dirs.etc / "asterisk.conf"
    out = log_file(settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "ab") as output:
        process = subprocess.Popen(
            installation.command("asterisk", "-f", "-U", "asterisk", "-G", "asterisk", "-C", str(config)),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI that started it; Ctrl-C is ours to handle
        )
    state = PbxState(
        pid=process.pid,
        root=str(installation.root) if installation.root else None,
        config=str(config),
        started_at=datetime.now(UTC).isoformat(),
    )
    _state_file(settings).write_text(json.dumps(asdict(state)) + "\n")
    try:
        _wait_for_ari(settings, process)
    except PbxError:
        stop(settings, log=lambda _: None)
        raise
    return state


def _wait_for_ari(settings: Settings, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + settings.pbx.start_timeout
    reason = "not tried"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PbxError(f"Asterisk exited with {process.returncode} while starting; see {log_file(settings)}:\n{_tail(settings)}")
        try:
            ari_get(settings.ari_url, settings.pbx.ari_user, ari_password(settings), "/asterisk/info", timeout=1)
            return
        except AriUnreachable as exc:
            reason = str(exc)
        time.sleep(0.1)
    raise PbxError(f"ARI did not answer within {settings.pbx.start_timeout:.0f} s ({reason}); see {log_file(settings)}")


def _tail(settings: Settings, lines: int = 10) -> str:
    try:
        return "\n".join(log_file(settings).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def cli_command(settings: Settings, command: str) -> str:
    """Run an Asterisk CLI command on the running PBX (`asterisk -rx`)."""
    state = running_state(settings)
    if state is None:
        raise PbxError("the PBX is not running")
    result = subprocess.run(
        state.installation.command("asterisk", "-C", state.config, "-rx", command),
        capture_output=True,
        text=True,
        timeout=20,
    )
    if result.returncode != 0:
        raise PbxError(f"asterisk -rx '{command}' failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def reload(settings: Settings) -> None:
    """Make a running Asterisk read its re-rendered configuration."""
    cli_command(settings, "core reload")


def stop(settings: Settings, log: Callable[[str], None] = print) -> bool:
    """Stop the PBX (SIGTERM, then SIGKILL after 10 s) and unmount the root's /proc.
    Returns False when it was not running."""
    state = read_state(settings)
    if state is None or not _alive(state.pid):
        _state_file(settings).unlink(missing_ok=True)
        if state and state.root:
            unmount_proc(Path(state.root))
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(state.pid) and time.monotonic() < deadline:
        _reap(state.pid)
        time.sleep(0.05)
    if _alive(state.pid):
        log(f"Asterisk (pid {state.pid}) did not stop in {STOP_TIMEOUT:.0f} s; killing it")
        os.kill(state.pid, signal.SIGKILL)
        while _alive(state.pid):
            _reap(state.pid)
            time.sleep(0.05)
    _reap(state.pid)
    if state.root:
        unmount_proc(Path(state.root))
    _state_file(settings).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@dataclass
class PbxStatus:
    running: bool
    pid: int | None
    where: str | None
    version: str | None
    ari_error: str | None
    endpoints: list[dict]

    @property
    def usable(self) -> bool:
        return self.running and self.ari_error is None


def status(settings: Settings) -> PbxStatus:
    state = running_state(settings)
    version = where = None
    endpoints: list[dict] = []
    ari_error = None
    try:
        info = ari_get(settings.ari_url, settings.pbx.ari_user, ari_password(settings), "/asterisk/info")
        version = info.get("system", {}).get("version")
        endpoints = ari_get(settings.ari_url, settings.pbx.ari_user, ari_password(settings), "/endpoints")
    except AriUnreachable as exc:
        ari_error = str(exc)
    if state:
        where = state.installation.describe()
        if version is None:
            try:
                version = state.installation.version()
            except PbxError:
                pass
    return PbxStatus(
        running=state is not None or ari_error is None,
        pid=state.pid if state else None,
        where=where,
        version=version,
        ari_error=ari_error,
        endpoints=endpoints,
    )
