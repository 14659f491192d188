"""A running line for end-to-end tests: the real Asterisk started by `nachtdienst pbx start`
and the ARI app by `nachtdienst service ari`, exactly as a user runs them, on test ports."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NACHTDIENST = REPO / ".venv" / "bin" / "nachtdienst"
# The Debian root is built once and shared with `scripts/run.sh` (same default place).
ROOT_CACHE = REPO / "data" / "asterisk-root"
CUSTOMER_PHONE_PORT = 5084
# Eva Engineer's phones (SIPp): her desk, on the roster all session, and a mobile some tests add.
EVA, EVA_MOBILE = "sip:eva@127.0.0.1:5080", "sip:eva-mobile@127.0.0.1:5081"
SMTP_PORT = 12525


def line_environment(data_dir: Path, *, sip_port: int, ari_port: int, rtp_start: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NACHTDIENST_")}
    env.update(
        NACHTDIENST_DATA_DIR=str(data_dir),
        NACHTDIENST_PBX__ROOT_DIR=str(ROOT_CACHE),
        NACHTDIENST_PBX__SIP_PORT=str(sip_port),
        NACHTDIENST_PBX__ARI_PORT=str(ari_port),
        NACHTDIENST_PBX__RTP_START=str(rtp_start),
        NACHTDIENST_PBX__RTP_END=str(rtp_start + 998),
        NACHTDIENST_LOG_FORMAT="console",
        # Open around the clock, so a closure (which the tests add and remove) alone decides
        # whether a call meets the office or the after-hours flow, whatever time the tests run.
        NACHTDIENST_OFFICE__SCHEDULE="mon-sun 00:00-24:00",
        NACHTDIENST_OFFICE__PUBLIC_HOLIDAYS="false",
        # Short waits keep the tests quick; the flow is the same.
        NACHTDIENST_LINE__KEY_TIMEOUT="4",
        NACHTDIENST_LINE__ACCEPT_TIMEOUT="5",
        NACHTDIENST_LINE__REASSURANCE_INTERVAL="8",
        NACHTDIENST_LINE__VOICEMAIL_MAX_SILENCE="4",
        NACHTDIENST_ROSTER__STEP_TIMEOUT="8",
        # The office's phone in the tests (a SIPp UAS on 5082).
        NACHTDIENST_OFFICE__DESTINATION="sip:office@127.0.0.1:5082",
        # The trunk the line dials customers through (a SIPp UAS on 5084 plays the customer).
        NACHTDIENST_PBX__TRUNK_CONTACT=f"sip:127.0.0.1:{CUSTOMER_PHONE_PORT}",
        # Mail goes to the test's SMTP server (tests/e2e/test_voicemail_card.py starts it and the
        # services that deliver it); queued from every voicemail of the session.
        NACHTDIENST_NOTIFY__SMTP_HOST="127.0.0.1",
        NACHTDIENST_NOTIFY__SMTP_PORT=str(SMTP_PORT),
        NACHTDIENST_NOTIFY__SMTP_SECURITY="none",
        # No reminder call rings on its own during the session; the tests ask for theirs with
        # `incidents remind`.
        NACHTDIENST_NOTIFY__UNACKNOWLEDGED_CALL_MINUTES="240",
    )
    return env


@dataclass
class Line:
    env: dict[str, str]
    data_dir: Path
    sip_port: int
    ari_port: int
    services: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_service(self, name: str) -> subprocess.Popen:
        """`nachtdienst service NAME` as a user runs it, logging to DATA_DIR/NAME.log."""
        assert name not in self.services, f"service {name} runs already"
        with open(self.data_dir / f"{name}.log", "a") as log:
            process = subprocess.Popen([str(NACHTDIENST), "service", name], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.services[name] = process
        return process

    def stop_service(self, name: str, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL, a crash) and wait for the process to be gone."""
        process = self.services.pop(name, None)
        if process is None:
            return
        process.kill() if kill else process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def start_app(self) -> None:
        self.start_service("ari")
        self.wait_app_registered()

    def stop_app(self, *, kill: bool = False) -> None:
        """Stop the ARI app and wait until Asterisk no longer has its Stasis app registered.
        Killed (SIGKILL, a crash): the app stays registered while calls are left in it."""
        self.stop_service("ari", kill=kill)
        if kill:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.ari("GET", "/applications/nachtdienst")
            except OSError:  # 404 (urllib's HTTPError is an OSError) or Asterisk away
                return
            time.sleep(0.2)
        raise AssertionError("the Stasis app is still registered 10 s after the ARI app stopped")

    @property
    def pbx_address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def cli(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        result = subprocess.run([str(NACHTDIENST), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"nachtdienst {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args).stdout)

    def calls(self) -> list[dict[str, Any]]:
        return json.loads(self.cli("calls", "list", "--json").stdout)

    def wait_for_call(self, matches: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        """The newest call that `matches`, once the line has written it; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = self.calls()
            for call in seen:
                if matches(call):
                    return call
            time.sleep(0.3)
        raise AssertionError(f"no matching call within {timeout} s; calls: {json.dumps(seen, indent=1)[:3000]}")

    def ari(self, method: str, path: str, **params: str) -> Any:
        """A direct ARI request, for checks the tests make from outside the app."""
        import base64
        import urllib.parse
        import urllib.request

        password = (self.data_dir / "secrets" / "ari_password").read_text().strip()
        token = base64.b64encode(f"nachtdienst:{password}".encode()).decode()
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ari_port}/ari{path}{query}", method=method, headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
            return json.loads(body) if body else None

    def wait_app_registered(self, app: str = "nachtdienst", timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.ari("GET", f"/applications/{app}")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"Stasis app {app!r} not registered within {timeout} s")
