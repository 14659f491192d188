"""`pbx start` makes the line's prompts and tells Asterisk where they are."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from tests.e2e.line import ROOT_CACHE

pytestmark = pytest.mark.e2e


def test_asterisk_knows_where_the_prompts_are_and_they_are_telephone_audio(line):
    inside = Path(line.ari("GET", "/asterisk/variable", variable="NACHTDIENST_PROMPTS")["value"])
    assert inside.is_absolute() and inside.name == "nachtdienst"
    on_host = ROOT_CACHE / inside.relative_to("/") if ROOT_CACHE.is_dir() else inside
    for language in ("nl", "en"):
        with wave.open(str(on_host / language / "greeting.wav")) as greeting:
            assert (greeting.getframerate(), greeting.getnchannels()) == (8000, 1)
            assert greeting.getnframes() > 8000 * 10
