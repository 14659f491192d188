"""Real human speech for the end-to-end tests: Asterisk's own English core sounds
(asterisk-core-sounds-en-wav, 8 kHz recordings of a known text) strung into a caller's
message, as the 8 kHz µ-law WAV SIPp streams."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
# What the prompts say, as the package's core-sounds-en.txt gives their words (written here:
# minimal Debian/Ubuntu images leave /usr/share/doc out).
PROMPT_TEXT = {
    "tt-somethingwrong": "Something is terribly wrong",
    "sorry-youre-having-problems": "Sorry you're having problems.",
    "vm-marked-urgent": "Message marked urgent.",
    "ss-noservice": "The number you have dialed is not in service. Please check the number and try again.",
}


def compose_message(folder: Path, prompts: list[str], digits: str = "") -> tuple[Path, str, float]:
    """The prompts, then `digits` said one by one, with short pauses between: the WAV, the
    prompts' text (the digits left out), and its length in seconds."""
    parts = [SOUNDS / f"{name}.wav" for name in prompts] + [SOUNDS / "digits" / f"{d}.wav" for d in digits]
    pause = folder / "pause.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(pause), "trim", "0", "0.35"], check=True)
    sequence = [str(item) for part in parts for item in (part, pause)]
    composed, telephone = folder / "composed.wav", folder / "message.wav"
    subprocess.run(["sox", *sequence, str(composed)], check=True)
    subprocess.run(["sox", str(composed), "-r", "8000", "-c", "1", "-e", "mu-law", str(telephone)], check=True)
    seconds = float(subprocess.run(["soxi", "-D", str(telephone)], check=True, capture_output=True, text=True).stdout)
    return telephone, " ".join(PROMPT_TEXT[name] for name in prompts), seconds


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def recall(spoken: str, transcript: str) -> float:
    """The share of the spoken words longer than three letters that the transcript has."""
    heard = set(words(transcript))
    reference = [word for word in words(spoken) if len(word) > 3]
    return sum(word in heard for word in reference) / len(reference)
