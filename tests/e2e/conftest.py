"""Session fixtures: one real line (Asterisk + ARI app) shared by the end-to-end tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.line import EVA, EVA_MOBILE, Line, line_environment

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
    # An engineer's phone (a SIPp UAS in the tests) at a static SIP URI, on duty all week.
    the_line.cli("engineers", "add", "Eva Engineer", "--contact", EVA, "--email", "eva@example.org")
    the_line.cli("roster", "set", "--start", "2026-01-05", "--primary", "Eva Engineer", "--yes")
    # After hours for the whole session (tests of office hours lift this closure for a moment).
    the_line.cli("hours", "closure", "add", "--from", "2000-01-01T00:00", "--to", "2100-01-01T00:00", "--reason", "e2e: after hours")
    the_line.cli("pbx", "start", timeout=600)
    try:
        the_line.start_app()
        yield the_line
    finally:
        the_line.stop_app()
        the_line.cli("pbx", "stop", check=False)


@pytest.fixture
def eva_has_a_mobile(line: Line) -> Iterator[None]:
    """Eva's second phone (EVA_MOBILE) for one test; taken off again afterwards. A contact
    left on the roster with no phone listening would ring on in later tests: an INVITE nobody
    answers is retransmitted for 32 s and can't be cancelled before a reply, so it reaches the
    next phone that listens on that port, which takes it for its own call."""
    line.cli("engineers", "edit", "Eva Engineer", "--contact", EVA, "--contact", EVA_MOBILE)
    try:
        yield
    finally:
        line.cli("engineers", "edit", "Eva Engineer", "--contact", EVA)


@pytest.fixture(scope="session")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Dutch sentence from espeak-ng, as the 8 kHz µ-law WAV SIPp streams."""
    folder = tmp_path_factory.mktemp("audio")
    raw, telephone = folder / "raw.wav", folder / "message.wav"
    text = "Goedenavond, onze webwinkel geeft een foutmelding bij het afrekenen. Bel mij terug alstublieft."
    subprocess.run(["espeak-ng", "-v", "nl", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", str(telephone)], check=True)
    return telephone
