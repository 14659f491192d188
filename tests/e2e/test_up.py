"""`nachtdienst up`: the PBX and the services supervised in the foreground."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pbx.installation import processes_in
from tests.e2e.line import NACHTDIENST, ROOT_CACHE, Line, line_environment

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


def _proc_mounted(root: Path) -> bool:
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == str(root / "proc") for line in mounts)


def test_up_restarts_a_crashed_service_and_ctrl_c_stops_everything(tmp_path, line):
    # Its own data directory and ports: a second line beside the session's.
    env = line_environment(tmp_path, sip_port=25060, ari_port=28088, rtp_start=33000)
    up_line = Line(env=env, data_dir=tmp_path, sip_port=25060, ari_port=28088)
    log = tmp_path / "up.log"
    with open(log, "w") as output:
        up = subprocess.Popen([str(NACHTDIENST), "up"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        up_line_ready = lambda: _service_pid(log) is not None  # noqa: E731
        _wait_for(up_line_ready, 60, "the ARI service did not start", log)
        up_line.wait_app_registered(timeout=30)
        asterisk_pid = int(up_line.cli("pbx", "status").stdout.split("pid ")[1].split(",")[0])

        first = _service_pid(log)
        os.kill(first, signal.SIGKILL)
        second = _wait_for(lambda: _service_pid(log, after=1), 30, "the killed service was not restarted", log)
        assert second != first
        assert re.search(r"service exited; restarting", log.read_text())
        up_line.wait_app_registered(timeout=30)

        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()

    text = log.read_text()
    assert "pbx stopped; all services stopped" in text
    for pid in (asterisk_pid, second):
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    status = up_line.cli("pbx", "status", check=False)
    assert status.returncode != 0 and "ARI: unreachable" in status.stdout
    # /proc stays mounted only while another line (the session's) still runs in the root.
    assert _proc_mounted(ROOT_CACHE) == bool(processes_in(ROOT_CACHE))
