"""The line's spoken prompts: texts in dialplan/prompts/<language>.toml, audio generated with
espeak-ng at `pbx start`, or a sysadmin's recording under DATA_DIR/prompts/<language>/.

Files land as 8 kHz mono 16-bit WAV (Asterisk's `wav` format, played without transcoding) in
<dir>/<language>/<name>.wav. A manifest remembers what each file was made from, so a restart
regenerates only what changed: a new text, another voice, a new recording.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dialplan
from core.office_hours import WeeklySchedule
from core.settings import Settings

PROMPT_TEXT_DIR = Path(dialplan.__file__).parent / "prompts"
LANGUAGES = ("nl", "en")
# Numbers 0-59 are spoken pieces of times ("your message of 3 14") and of digits.
NUMBERS = range(60)
MANIFEST = "manifest.json"
ESPEAK_SPEED = 150  # words per minute; espeak's 175 is hard to follow on a phone
RECORDING_SUFFIXES = (".wav",)

_DAY_NAMES = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_WORDS = {
    "nl": {"to": "tot en met", "from": "van", "until": "tot", "and": "en"},
    "en": {"to": "to", "from": "from", "until": "to", "and": "and"},
}


class PromptError(Exception):
    """A prompt cannot be made: a broken text file, or espeak-ng/sox missing or failing."""


@dataclass(frozen=True)
class Prompt:
    language: str
    name: str
    voice: str
    text: str

    def source_key(self) -> str:
        return hashlib.sha256(f"espeak {ESPEAK_SPEED} {self.voice}\n{self.text}".encode()).hexdigest()


def spoken_digits(number: str) -> str:
    """A phone number read digit by digit ("0497 842611" → "0 4 9 7 8 4 2 6 1 1")."""
    digits = [ch for ch in number if ch.isdigit()]
    return ("plus " if number.strip().startswith("+") else "") + " ".join(digits)


def _spoken_time(minutes: int, language: str) -> str:
    hour, minute = divmod(minutes, 60)
    hour %= 24
    if language == "nl":
        return f"{hour} uur" + (f" {minute}" if minute else "")
    if minutes == 24 * 60:
        return "midnight"
    return f"{hour % 12 or 12}" + (f" {minute:02d}" if minute else "") + (" a.m." if hour < 12 else " p.m.")


def spoken_office_hours(schedule_text: str, language: str) -> str:
    """The weekly schedule as words a caller understands ("maandag tot en met vrijdag van 8 uur
    30 tot 17 uur"). Days with the same hours are grouped into ranges."""
    schedule = WeeklySchedule.parse(schedule_text)
    words, days = _WORDS[language], _DAY_NAMES[language]
    parts = []
    index = 0
    while index < 7:
        intervals = schedule.by_weekday[index]
        end = index
        while end + 1 < 7 and schedule.by_weekday[end + 1] == intervals:
            end += 1
        if intervals:
            day_range = days[index] if end == index else f"{days[index]} {words['to']} {days[end]}"
            periods = f" {words['and']} ".join(
                f"{words['from']} {_spoken_time(start.hour * 60 + start.minute, language)} {words['until']} "
                f"{_spoken_time(24 * 60 if (stop.hour, stop.minute) == (0, 0) else stop.hour * 60 + stop.minute, language)}"
                for start, stop in intervals
            )
            parts.append(f"{day_range} {periods}")
        index = end + 1
    return ", ".join(parts) if parts else ("niet" if language == "nl" else "never")


def load_prompts(settings: Settings, text_dir: Path = PROMPT_TEXT_DIR) -> list[Prompt]:
    """Every prompt of every language, placeholders filled from the settings."""
    prompts: list[Prompt] = []
    for language in LANGUAGES:
        path = text_dir / f"{language}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            voice, texts = data["voice"], data["prompts"]
        except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
            raise PromptError(f"{path}: cannot read prompts ({exc})") from None
        values = {
            "company": settings.company_name,
            "office_number": spoken_digits(settings.office.office_number),
            "office_hours": spoken_office_hours(settings.office.schedule, language),
        }
        for name, text in texts.items():
            try:
                filled = text.format(**values)
            except (KeyError, IndexError, ValueError) as exc:
                raise PromptError(f"{path}: prompt {name!r} has an unknown placeholder {exc}") from None
            if filled.strip():
                prompts.append(Prompt(language, name, voice, filled))
        prompts += [Prompt(language, f"number_{n}", voice, str(n)) for n in NUMBERS]
    return prompts


def _recording(override_dir: Path, prompt: Prompt) -> Path | None:
    for suffix in RECORDING_SUFFIXES:
        candidate = override_dir / prompt.language / f"{prompt.name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _file_key(path: Path) -> str:
    return "recording " + hashlib.sha256(path.read_bytes()).hexdigest()


def _run(command: list[str], what: str) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise PromptError(f"{command[0]} is not installed (scripts/install.sh installs it)") from None
    except subprocess.CalledProcessError as exc:
        raise PromptError(f"{what}: {command[0]} failed: {exc.stderr.decode(errors='replace').strip()}") from None


def _to_telephone_wav(source: Path, target: Path, what: str) -> None:
    """Any WAV sox reads → 8 kHz mono 16-bit, written atomically next to the target."""
    partial = target.with_suffix(".partial.wav")
    _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(partial)], what)
    os.replace(partial, target)


def _make(prompt: Prompt, recording: Path | None, target: Path) -> None:
    what = f"prompt {prompt.language}/{prompt.name}"
    if recording is not None:
        _to_telephone_wav(recording, target, f"{what} ({recording})")
        return
    with tempfile.TemporaryDirectory(prefix="nachtdienst-prompt-") as scratch:
        spoken = Path(scratch) / "espeak.wav"
        _run(["espeak-ng", "-v", prompt.voice, "-s", str(ESPEAK_SPEED), "-w", str(spoken), prompt.text], what)
        _to_telephone_wav(spoken, target, what)


@dataclass(frozen=True)
class PromptReport:
    generated: int
    recorded: int
    unchanged: int


def render_prompts(
    settings: Settings,
    target_dir: Path,
    override_dir: Path,
    *,
    owner: tuple[int, int] = (-1, -1),
    log: Callable[[str], None] = print,
    text_dir: Path = PROMPT_TEXT_DIR,
) -> PromptReport:
    """Bring target_dir/<language>/<name>.wav up to date; only changed prompts are remade."""
    prompts = load_prompts(settings, text_dir)
    manifest_path = target_dir / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    work: list[tuple[Prompt, Path | None, Path, str]] = []
    fresh: dict[str, str] = {}
    for prompt in prompts:
        recording = _recording(override_dir, prompt)
        key = _file_key(recording) if recording else prompt.source_key()
        target = target_dir / prompt.language / f"{prompt.name}.wav"
        relative = f"{prompt.language}/{prompt.name}"
        fresh[relative] = key
        if manifest.get(relative) != key or not target.is_file():
            work.append((prompt, recording, target, relative))
    for language in LANGUAGES:
        (target_dir / language).mkdir(parents=True, exist_ok=True)
    if work:
        log(f"making {len(work)} prompt(s) with espeak-ng" + (" and recordings" if any(r for _, r, _, _ in work) else ""))
        # espeak-ng and sox are single-threaded and short-lived: a few at once use the cores.
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            list(pool.map(lambda item: _make(item[0], item[1], item[2]), work))
    for stale in set(manifest) - set(fresh):
        (target_dir / f"{stale}.wav").unlink(missing_ok=True)
    manifest_path.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
    if owner != (-1, -1):
        for path in [target_dir, *target_dir.rglob("*")]:
            os.chown(path, *owner)
    recorded = sum(1 for _, r, _, _ in work if r)
    return PromptReport(generated=len(work) - recorded, recorded=recorded, unchanged=len(prompts) - len(work))
