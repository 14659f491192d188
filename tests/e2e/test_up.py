"""`nachtdienst up`: the PBX and the services supervised in the foreground."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pbx.installation import processes_in
from tests import sipp
from tests.e2e.line import NACHTDIENST, ROOT_CACHE, Line, line_environment
from tests.e2e.mail import MailServer

pytestmark = pytest.mark.e2e


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s; supervisor log:\n{log.read_text()[-3000:]}")


def _service_pid(log: Path, after: int = 0, service: str = "ari") -> int | None:
    """The pid of the `after`-th start of `service` the supervisor logged."""
    pids = []
    for entry in log.read_text().splitlines():
        pid = re.search(r"pid[=\"': ]+(\d+)", entry)
        if "service started" in entry and pid and re.search(rf"service[=\"': ]+{service}\b", entry):
            pids.append(int(pid.group(1)))
    return pids[after] if len(pids) > after else None


def _asterisk_pid(line: Line) -> int | None:
    """The pid `pbx status` reports while the PBX is usable; None while it is not."""
    status = line.cli("pbx", "status", check=False)
    return int(status.stdout.split("pid ")[1].split(",")[0]) if status.returncode == 0 else None


def _second_line(tmp_path: Path, **settings: str) -> Line:
    """A line beside the session's: its own data directory and ports (`settings`: more
    NACHTDIENST_ variables)."""
    env = line_environment(tmp_path, sip_port=25060, ari_port=28088, rtp_start=33000) | settings
    return Line(env=env, data_dir=tmp_path, sip_port=25060, ari_port=28088)


def _on_duty(line: Line, name: str, contact: str, *extra: str) -> None:
    line.cli("engineers", "add", name, "--contact", contact, *extra)
    line.cli("roster", "set", "--start", "2026-01-05", "--primary", name, "--yes")


@contextmanager
def _up(line: Line, *args: str) -> Iterator[tuple[subprocess.Popen, Path]]:
    """`nachtdienst up ARGS` for `line`, logging to up.log in its data directory. Still running at
    the end, it gets Ctrl-C (and SIGKILL if that does not stop it)."""
    log = line.data_dir / "up.log"
    with open(log, "w") as output:
        up = subprocess.Popen([str(NACHTDIENST), "up", *args], env=line.env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield up, log
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()


def _stop(up: subprocess.Popen, log: Path) -> None:
    """Ctrl-C: everything stops and `up` exits 0."""
    up.send_signal(signal.SIGINT)
    assert up.wait(timeout=30) == 0, log.read_text()[-3000:]


def _proc_mounted(root: Path) -> bool:
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == str(root / "proc") for line in mounts)


def test_up_restarts_a_crashed_service_and_a_crashed_asterisk_and_ctrl_c_stops_everything(tmp_path, line):
    up_line = _second_line(tmp_path)
    with _up(up_line) as (up, log):
        first = _wait_for(lambda: _service_pid(log), 60, "the ARI service did not start", log)
        up_line.wait_app_registered(timeout=30)
        asterisk_pid = _asterisk_pid(up_line)

        os.kill(first, signal.SIGKILL)
        second = _wait_for(lambda: _service_pid(log, after=1), 30, "the killed service was not restarted", log)
        assert second != first
        assert re.search(r"service exited; restarting", log.read_text())
        up_line.wait_app_registered(timeout=30)

        # Asterisk itself crashes: started again, and the app (which reconnects by itself) with it.
        os.kill(asterisk_pid, signal.SIGKILL)
        _wait_for(lambda: "asterisk exited; starting it again" in log.read_text(), 30, "the crash of Asterisk went unnoticed", log)
        restarted = _wait_for(lambda: _asterisk_pid(up_line), 90, "Asterisk was not started again", log)
        assert restarted != asterisk_pid
        up_line.wait_app_registered(timeout=60)
        _stop(up, log)

    assert "pbx stopped; all services stopped" in log.read_text()
    for pid in (restarted, second):
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    status = up_line.cli("pbx", "status", check=False)
    assert status.returncode != 0 and "ARI: unreachable" in status.stdout
    # /proc stays mounted only while another line (the session's) still runs in the root.
    assert _proc_mounted(ROOT_CACHE) == bool(processes_in(ROOT_CACHE))


def test_up_alerts_the_engineers_by_mail_when_calls_take_a_fallback_path(tmp_path, line):
    """`up --without ari` (the app meant to run elsewhere, and not there): calls take the AGI
    path; after `notify.fallback_alert_minutes` the engineer on duty gets "Lijn in noodstand"
    by mail, through the notification service `up` runs, and the log says which path calls take."""
    up_line = _second_line(tmp_path, NACHTDIENST_NOTIFY__SMTP_PORT="12526", NACHTDIENST_NOTIFY__FALLBACK_ALERT_MINUTES="0.1")
    _on_duty(up_line, "Fleur Engineer", "sip:fleur@127.0.0.1:5080", "--email", "fleur@example.org")
    mail = MailServer(12526)
    mail.controller.start()
    try:
        with _up(up_line, "--without", "ari") as (up, log):
            _, alert = mail.wait_for("line_fallback", None, timeout=120)
            assert alert["To"] == "fleur@example.org"
            assert "Lijn in noodstand" in alert["Subject"], alert["Subject"]
            body = alert.get_body(preferencelist=("plain",)).get_content()
            assert "de ARI-app is er niet" in body and "the ARI app is down" in body, body
            status = up_line.cli("pbx", "status").stdout
            assert "calls: the AGI path (fallback): the ARI app is not registered; the FastAGI server answers" in status, status
            text = log.read_text()
            assert "calls take a fallback path" in text and "engineers alerted" in text, text[-3000:]
            assert _service_pid(log, service="ari") is None and _service_pid(log, service="agi") is not None
            _stop(up, log)
    finally:
        mail.controller.stop()
    # One alert per spell, however many checks saw it.
    assert [m["X-Nachtdienst-Kind"] for _, m in mail.received] == ["line_fallback"]


def test_up_kills_a_hung_ari_app_and_its_caller_goes_on_along_the_fallback_path(tmp_path, line):
    """The ARI app stops turning (SIGSTOP: as a deadlock would) but keeps its WebSocket, so
    Asterisk still sends a caller into it. `up` sees its heartbeat stop, kills it and starts
    another, which sends the caller on along the AGI path: the greeting, the engineer on duty
    accepts with 1, they talk, she hangs up."""
    up_line = _second_line(tmp_path)
    _on_duty(up_line, "Fleur Engineer", "sip:fleur@127.0.0.1:5080")
    up_line.cli("hours", "closure", "add", "--from", "2000-01-01T00:00", "--to", "2100-01-01T00:00", "--reason", "e2e: after hours")
    up_line.cli("customers", "add", "Hangmatten Hendriks", "--number", "1051", "--phone", "0612340051")
    with _up(up_line) as (up, log):
        first = _wait_for(lambda: _service_pid(log), 60, "the ARI service did not start", log)
        up_line.wait_app_registered(timeout=30)
        _wait_for(lambda: _service_pid(log, service="agi"), 30, "the AGI service did not start", log)
        os.kill(first, signal.SIGSTOP)
        # Fleur accepts with 1 and hangs up a few seconds into the talk; the line then ends the call.
        phone = sipp.engineer_phone("answer", answer_after=1.0, digits=[(2.0, "1")], hangup_after=8.0, stay=120)
        # Nobody answers the caller until the AGI path does (the hung app never did); the caller
        # presses 1 in its greeting (missed, the greeting's second try ends as critical all the
        # same, only later).
        caller = sipp.place_call(up_line.pbx_address, from_number="0612340051", dtmf=[(3.0, "1"), (9.0, "1")], hangup_after=None,
                                 wait_for_bye=100, timeout=130)  # fmt: skip
        second = _wait_for(lambda: _service_pid(log, after=1), 40, "the hung app was not restarted", log)
        assert second != first
        assert re.search(r"service hung: no sign of life; killing it", log.read_text())
        caller.wait(140)
        phone.wait(30)
        assert caller.final_response == 200 and caller.received_bye, caller.describe()
        assert "INVITE sip:fleur@127.0.0.1:5080" in phone.messages, phone.describe()

        call = up_line.wait_for_call(lambda c: c["from_number"] == "0612340051" and c["ended_at"], timeout=30)
        steps = {step["step"]: step["detail"] for step in call["steps"]}
        assert steps["app_restarted"] == "app reconnected: on to nd-agi" and "agi_path" in steps, steps
        assert call["outcome"] == "answered", steps
        [attempt] = call["dial_attempts"]
        assert (attempt["engineer"], attempt["result"]) == ("Fleur Engineer", "accepted") and attempt["accepted_at"]
        _stop(up, log)
