"""Where Asterisk is: the host's own, or a Debian root we build and run it in with chroot."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.settings import Settings

MINIMUM_MAJOR_VERSION = 20
ROOT_MARKER = ".nachtdienst-root.json"
ROOT_PACKAGES = "asterisk,asterisk-modules"


class PbxError(Exception):
    """The PBX cannot be provisioned, started or reached; the message says why."""


@dataclass(frozen=True)
class Installation:
    """An Asterisk we can run. `root` is None for the host's own Asterisk."""

    root: Path | None

    def command(self, *args: str) -> list[str]:
        return ["chroot", str(self.root), *args] if self.root else list(args)

    def host_path(self, inside: Path) -> Path:
        """Where a path as Asterisk sees it lies on this machine."""
        return self.root / inside.relative_to("/") if self.root else inside

    def asterisk_ids(self) -> tuple[int, int]:
        """uid and gid of the `asterisk` user Asterisk runs as (from the root's own passwd)."""
        etc = self.root / "etc" if self.root else Path("/etc")
        uid = _lookup(etc / "passwd", "asterisk")
        gid = _lookup(etc / "group", "asterisk")
        return uid, gid

    def version(self) -> str:
        out = subprocess.run(self.command("asterisk", "-V"), capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            raise PbxError(f"`asterisk -V` failed: {out.stderr.strip() or out.stdout.strip()}")
        return out.stdout.strip().removeprefix("Asterisk ").strip()

    def describe(self) -> str:
        return f"Debian root {self.root}" if self.root else "host Asterisk"


def _lookup(path: Path, name: str) -> int:
    for line in path.read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise PbxError(f"no '{name}' entry in {path}: is Asterisk installed there?")


def major_version(version: str) -> int:
    match = re.match(r"(\d+)", version)
    return int(match.group(1)) if match else 0


def host_installation() -> Installation | None:
    """The host's Asterisk if it is recent enough, else None."""
    if not shutil.which("asterisk"):
        return None
    host = Installation(root=None)
    try:
        version = host.version()
    except (PbxError, OSError, subprocess.TimeoutExpired):
        return None
    return host if major_version(version) >= MINIMUM_MAJOR_VERSION else None


def find_installation(settings: Settings, log: Callable[[str], None] = print) -> Installation:
    """The Asterisk this line runs: per `pbx.asterisk`, the host's or a (cached) Debian root."""
    mode = settings.pbx.asterisk
    if mode in ("auto", "host"):
        host = host_installation()
        if host is not None:
            return host
        if mode == "host":
            raise PbxError(f"pbx.asterisk = host, but this host has no Asterisk >= {MINIMUM_MAJOR_VERSION}")
    return ensure_root(settings, log)


def root_is_ready(root: Path) -> bool:
    return (root / ROOT_MARKER).is_file()


def ensure_root(settings: Settings, log: Callable[[str], None] = print) -> Installation:
    """Build the Debian root with Asterisk once; later calls find it cached and return at once."""
    root = settings.asterisk_root_dir
    if root_is_ready(root):
        return Installation(root=root)
    if os.geteuid() != 0:
        raise PbxError(f"building the Asterisk root at {root} needs root (debootstrap and chroot)")
    if not shutil.which("debootstrap"):
        raise PbxError("debootstrap is not installed (apt-get install debootstrap)")
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(root.parent / f".{root.name}.lock"):
        if root_is_ready(root):  # another process built it while we waited
            return Installation(root=root)
        failures = []
        for suite in dict.fromkeys([settings.pbx.root_suite, settings.pbx.root_fallback_suite]):
            try:
                _bootstrap(root, suite, log)
                return Installation(root=root)
            except PbxError as exc:
                failures.append(f"{suite}: {exc}")
                log(f"building the Asterisk root from Debian {suite} failed: {exc}")
        raise PbxError("could not build the Asterisk root: " + "; ".join(failures))


def _bootstrap(root: Path, suite: str, log: Callable[[str], None]) -> None:
    building = root.with_name(root.name + ".building")
    if building.exists():
        unmount_proc(building)
        shutil.rmtree(building)
    log(f"building a Debian {suite} root with Asterisk at {root} (once; about a minute)…")
    started = datetime.now(UTC)
    result = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={ROOT_PACKAGES}", suite, str(building)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise PbxError(f"debootstrap exited {result.returncode}: {tail}")
    installation = Installation(root=building)
    version = installation.version()
    if major_version(version) < MINIMUM_MAJOR_VERSION:
        raise PbxError(f"Debian {suite} has Asterisk {version}, need >= {MINIMUM_MAJOR_VERSION}")
    marker = {"suite": suite, "asterisk": version, "built_at": started.isoformat()}
    (building / ROOT_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    if root.exists():
        shutil.rmtree(root)
    building.rename(root)
    log(f"Asterisk {version} from Debian {suite} is ready ({(datetime.now(UTC) - started).seconds} s)")


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


def write_hosts(root: Path) -> None:
    """Give the root the host's /etc/hosts, with this machine's name in it. Without one,
    Asterisk asks DNS for its own name (and then for A.ROOT-SERVERS.NET) while setting up
    calls, and a resolver that stalls stalls SIP with it."""
    try:
        hosts = Path("/etc/hosts").read_text()
    except OSError:
        hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    name = socket.gethostname()
    if not any(name in line.split()[1:] for line in hosts.splitlines() if line.strip() and not line.startswith("#")):
        hosts = hosts.rstrip("\n") + f"\n127.0.1.1\t{name}\n"
    target = root / "etc" / "hosts"
    if not target.exists() or target.read_text() != hosts:
        target.write_text(hosts)


def mount_proc(root: Path) -> None:
    proc = root / "proc"
    if not _mounted(proc):
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, capture_output=True)


def processes_in(root: Path) -> list[int]:
    """Pids of processes running inside `root` (their / is it)."""
    target = str(root.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == target:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def unmount_proc(root: Path) -> None:
    """Unmount the root's /proc unless another Asterisk (another line's) still runs in it."""
    proc = root / "proc"
    if _mounted(proc) and not processes_in(root):
        subprocess.run(["umount", str(proc)], check=False, capture_output=True)
