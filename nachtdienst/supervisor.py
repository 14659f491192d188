"""`nachtdienst up`: the PBX and every service in the foreground, supervised.

Each service is its own process, so a crash in one leaves the others (and the calls they
hold) alone. A service that exits is restarted with a growing delay; one that hangs (its
heartbeat stops, see `HUNG_AFTER`) is killed first. Ctrl-C (SIGINT) or SIGTERM stops the
services, then Asterisk, and unmounts its root's /proc.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from core.db import open_database
from core.heartbeat import heartbeat_file
from core.settings import Settings
from nachtdienst.fallback_watch import FallbackWatch
from pbx import control
from pbx.render import EngineerContact

RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A service that ran this long before exiting is considered healthy: its delay starts over.
HEALTHY_AFTER = 60.0
STOP_GRACE = 10.0
# Services whose heartbeat file says only that their event loop turns (not that the database
# answers, which a restart would not mend), and how long a silent one may be left. A hung ARI
# app keeps its WebSocket, so Asterisk goes on sending callers into it, to wait in silence:
# killed, its successor sends the calls it held along the fallback path.
HUNG_AFTER = {"ari": 20.0}
STARTUP_GRACE = 60.0
POLL_INTERVAL = 0.2

log = structlog.get_logger("supervisor")


@dataclass
class SupervisedService:
    name: str
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: list[float] = field(default_factory=list)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "nachtdienst", "service", self.name]


def hung_for(heartbeat: Path, limit: float, ran_seconds: float, now: float) -> float | None:
    """How long a service that ran `ran_seconds` has shown no sign of life, when that is over
    `limit` (else None): its heartbeat file's age; or, when it has not beaten yet (no file, or
    a predecessor's), its whole run, over `STARTUP_GRACE`: a slow start on a loaded machine
    is not a hang, and killing it would only start another slow start."""
    try:
        beaten_at = heartbeat.stat().st_mtime
    except FileNotFoundError:
        beaten_at = None
    if beaten_at is None or beaten_at < now - ran_seconds:
        return ran_seconds if ran_seconds > max(limit, STARTUP_GRACE) else None
    silent = now - beaten_at
    return silent if silent > limit else None


class Supervisor:
    def __init__(self, settings: Settings, services: Sequence[str], engineer_contacts: Sequence[EngineerContact] = ()):
        self.settings = settings
        self.services = [SupervisedService(name) for name in services]
        self.engineer_contacts = list(engineer_contacts)
        self._stopping = False
        self._sessions = None
        self.fallback_watch = FallbackWatch(settings, self._database)

    def _database(self):
        if self._sessions is None:
            self._sessions = open_database(self.settings)
        return self._sessions

    def _request_stop(self, signum: int, _frame: object) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        state = control.start(self.settings, self.engineer_contacts, log=lambda m: log.info(m))
        log.info("pbx running", pid=state.pid, ari=self.settings.ari_url)
        try:
            for service in self.services:
                self._spawn(service)
            while not self._stopping:
                self._watch()
                time.sleep(POLL_INTERVAL)
        finally:
            self._stop_services()
            control.stop(self.settings, log=lambda m: log.warning(m))
            log.info("pbx stopped; all services stopped")
        return 0

    def _spawn(self, service: SupervisedService) -> None:
        # Services ignore the terminal's Ctrl-C: the supervisor stops them in order.
        service.process = subprocess.Popen(service.command(), start_new_session=True)
        service.started_at = time.monotonic()
        service.restart_at = None
        log.info("service started", service=service.name, pid=service.process.pid)

    def _watch(self) -> None:
        now = time.monotonic()
        for service in self.services:
            if service.restart_at is not None:
                if now >= service.restart_at:
                    self._spawn(service)
                continue
            code = service.process.poll() if service.process else None
            if code is None:
                self._kill_if_hung(service, now)
                continue
            ran = now - service.started_at
            service.failures = 1 if ran >= HEALTHY_AFTER else service.failures + 1
            delay = RESTART_DELAYS[min(service.failures, len(RESTART_DELAYS)) - 1]
            service.restart_at = now + delay
            service.restarts.append(now)
            log.error("service exited; restarting", service=service.name, exit_code=code,
                      ran_seconds=round(ran, 1), restart_in_seconds=delay)
        if control.running_state(self.settings) is None:
            log.error("asterisk exited; starting it again")
            control.start(self.settings, self.engineer_contacts, log=lambda m: log.info(m))
            return
        if self.fallback_watch.due(now):
            self.fallback_watch.check()

    def _kill_if_hung(self, service: SupervisedService, now: float) -> None:
        limit = HUNG_AFTER.get(service.name)
        if limit is None:
            return
        silent = hung_for(heartbeat_file(self.settings, service.name), limit, now - service.started_at, time.time())
        if silent is not None:
            log.error("service hung: no sign of life; killing it", service=service.name, pid=service.process.pid,
                      silent_seconds=round(silent, 1))  # fmt: skip
            service.process.kill()  # the next round sees it exit and restarts it

    def _stop_services(self) -> None:
        running = [s for s in self.services if s.process and s.process.poll() is None]
        for service in running:
            service.process.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for service in running:
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("service did not stop in time; killing it", service=service.name)
                service.process.kill()
                service.process.wait()
            log.info("service stopped", service=service.name, exit_code=service.process.returncode)
