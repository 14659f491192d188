"""Session fixtures: one real line (Asterisk + ARI app) shared by the end-to-end tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.line import NACHTDIENST, Line, line_environment

SIP_PORT, ARI_PORT, RTP_START = 15060, 18088, 31000


@pytest.fixture(scope="session")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    data_dir = tmp_path_factory.mktemp("line")
    the_line = Line(
        env=line_environment(data_dir, sip_port=SIP_PORT, ari_port=ARI_PORT, rtp_start=RTP_START),
        data_dir=data_dir,
        sip_port=SIP_PORT,
        ari_port=ARI_PORT,
    )
    # An engineer's phone (a SIPp UAS in the tests) at a static SIP URI.
    the_line.cli("engineers", "add", "Eva Engineer", "--contact", "sip:eva@127.0.0.1:5080", "--email", "eva@example.org")
    the_line.cli("pbx", "start", timeout=600)
    log = open(data_dir / "ari-app.log", "w")
    app = subprocess.Popen([str(NACHTDIENST), "service", "ari"], env=the_line.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        the_line.wait_app_registered()
        yield the_line
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
        log.close()
        the_line.cli("pbx", "stop", check=False)
