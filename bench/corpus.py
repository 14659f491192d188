"""The transcription bench's corpus: real 8 kHz human speech with known text, composed into
voicemail-like messages, and how a transcript is scored against it.

Source: Debian's Asterisk core sounds. For a language LANG, `asterisk-core-sounds-LANG-wav`
holds the recordings (8 kHz 16-bit mono WAV, one prompt a file, under
/usr/share/asterisk/sounds/<voice>/, subdirectories such as digits/ included) and
`asterisk-core-sounds-LANG` holds what each one says, as
/usr/share/doc/asterisk-core-sounds-LANG/core-sounds-LANG.txt.gz: lines `name: text`, where
`name` is the file's path under the voice directory without `.wav`.

Decisions a caller may rely on:
- Reading the text file: a byte-order mark, `;` comments and blank lines are ignored; a line
  without `name:` or with no text after it is skipped and reported (line number and why);
  a name given twice keeps its last text.
- A prompt is used only when its text can be scored as written (`unusable` says why not):
  nothing in brackets, parentheses or angle brackets (annotations such as "[beep tone]"), no
  digits and no symbols such as * or # (their spoken form is not written down), no text whose
  accented letters were lost in the file's encoding ("pu? essere" in the Italian list), at
  least MIN_WORDS words (a voicemail is sentences, not isolated words), a recording of at most
  MAX_PROMPT_SECONDS.
- Messages are drawn with a seeded `random.Random`, in rounds: a round is the usable prompts
  in shuffled order, none used twice in it. A message takes the round's prompts, in order,
  that keep it within its target length (drawn between `shortest` and `longest`; should that
  leave it shorter than `shortest`, within `longest`); when the round's prompts left cannot
  complete it, a new round starts (the leftovers first, then the others shuffled, this
  message's own aside). Between prompts a pause of PAUSE_SECONDS, LEAD_SECONDS of silence
  before the first and TAIL_SECONDS after the last (the caller starts after the beep and
  hangs up a moment after speaking). A message's length is within [shortest, longest]; when
  the prompts cannot make that, CorpusTooSmall says so. Its reference text is its prompts'
  texts in order, joined by spaces.
- A message is written as Asterisk records voicemail: WAV, 16-bit PCM, mono, 8 kHz.
- Scoring (`words`): NFKC, case-folded; integers 0-20 written as digits become the
  language's words (the references never contain digits; Whisper writes "press 1" or "press
  one"); accents are dropped (the Spanish list is written without them); everything that is
  not a letter or digit separates words (so "l'aide" is "l aide" and "Call-Forward" is "call
  forward" on both sides). The word error rate is the word-level Levenshtein distance
  (substitutions + deletions + insertions) over the reference's word count, summed over
  messages before dividing (a corpus WER, not a mean of per-message rates).
"""

from __future__ import annotations

import gzip
import random
import re
import unicodedata
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

SOUNDS_ROOT = Path("/usr/share/asterisk/sounds")
DOC_ROOT = Path("/usr/share/doc")
RATE = 8000
MIN_WORDS = 3
MAX_PROMPT_SECONDS = 20.0
PAUSE_SECONDS = (0.4, 0.9)
LEAD_SECONDS = 0.5
TAIL_SECONDS = 1.0


@dataclass(frozen=True)
class SoundLanguage:
    """Where one language's core sounds live and which Debian packages put them there."""

    code: str  # Whisper's language code
    name: str
    voices: tuple[str, ...]  # directories under SOUNDS_ROOT, in order of preference

    @property
    def packages(self) -> tuple[str, str]:
        return (
            f"asterisk-core-sounds-{self.code}",
            f"asterisk-core-sounds-{self.code}-wav",
        )

    @property
    def text_name(self) -> str:
        return f"core-sounds-{self.code}.txt"


LANGUAGES: dict[str, SoundLanguage] = {
    "en": SoundLanguage("en", "English", ("en_US_f_Allison", "en_US", "en")),
    "fr": SoundLanguage("fr", "French", ("fr_CA_f_June", "fr_CA", "fr")),
    "es": SoundLanguage("es", "Spanish", ("es_MX_f_Allison", "es_MX", "es")),
    "it": SoundLanguage("it", "Italian", ("it_IT_m_Carlo", "it_IT", "it")),
}


class MissingSounds(Exception):
    """A language's sounds or text are not installed; the message names the packages."""


class CorpusTooSmall(Exception):
    """The usable prompts cannot make a message of the length asked for."""


# --- what the sounds say ------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedLine:
    number: int
    line: str
    why: str


@dataclass(frozen=True)
class SoundTexts:
    texts: dict[
        str, str
    ]  # name (path under the voice directory, no suffix) -> what it says
    skipped: list[SkippedLine]


_ENTRY = re.compile(r"^([\w./-]+)\s*:(.*)$")


def parse_core_sounds(content: str) -> SoundTexts:
    """The entries of a core-sounds-LANG.txt (see the module's decisions)."""
    texts: dict[str, str] = {}
    skipped: list[SkippedLine] = []
    for number, raw in enumerate(content.removeprefix("\ufeff").splitlines(), 1):
        line = raw.strip().removeprefix("\ufeff")
        if not line or line.startswith(";"):
            continue
        match = _ENTRY.match(line)
        if match is None:
            skipped.append(SkippedLine(number, line, "not `name: text`"))
            continue
        name, text = match.group(1), " ".join(match.group(2).split())
        if not text:
            skipped.append(SkippedLine(number, line, "no text"))
            continue
        texts[name] = text
    return SoundTexts(texts, skipped)


_ANNOTATION = re.compile(r"[\[\](){}<>]")
_LOST = re.compile(r"\ufffd|\?\s*(\w)")  # a question mark that goes on with a word
_ALLOWED_PUNCTUATION = set(".,;:!?¡¿'’\"“”«»…-–— ")


def unusable(text: str) -> str | None:
    """Why a prompt's text cannot serve as a reference, or None when it can."""
    if _ANNOTATION.search(text):
        return "annotation in brackets"
    if any(
        m.group(0) == "\ufffd" or m.group(1).islower() for m in _LOST.finditer(text)
    ):
        return "characters lost in the file's encoding"
    if any(ch.isdigit() for ch in text):
        return "digits (spoken form not written)"
    symbols = sorted(
        {ch for ch in text if not ch.isalpha() and ch not in _ALLOWED_PUNCTUATION}
    )
    if symbols:
        return f"symbols {''.join(symbols)} (spoken form not written)"
    if len(text.split()) < MIN_WORDS:
        return f"fewer than {MIN_WORDS} words"
    return None


# --- the installed sounds -----------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    path: Path
    seconds: float


@dataclass(frozen=True)
class SoundSet:
    language: SoundLanguage
    directory: Path
    text_file: Path
    prompts: list[Prompt]  # usable ones, sorted by name
    excluded: dict[str, int]  # why -> how many prompts
    skipped: list[SkippedLine]


def install_hint(codes: Iterable[str]) -> str:
    packages = [p for code in codes for p in LANGUAGES[code].packages]
    return f"apt-get install -y {' '.join(packages)}"


def text_file_candidates(
    language: SoundLanguage, sounds_root: Path, doc_root: Path
) -> list[Path]:
    doc = doc_root / language.packages[0] / language.text_name
    voices = [sounds_root / voice / language.text_name for voice in language.voices]
    return [doc.with_name(doc.name + ".gz"), doc, *voices]


def load_sound_set(
    code: str, *, sounds_root: Path = SOUNDS_ROOT, doc_root: Path = DOC_ROOT
) -> SoundSet:
    """The usable prompts of language `code`. Raises MissingSounds naming the packages."""
    if code not in LANGUAGES:
        raise MissingSounds(
            f"language {code!r}: no Asterisk core sounds known; one of {', '.join(LANGUAGES)}"
        )
    language = LANGUAGES[code]
    directory = next(
        (sounds_root / v for v in language.voices if (sounds_root / v).is_dir()), None
    )
    text_file = next(
        (
            p
            for p in text_file_candidates(language, sounds_root, doc_root)
            if p.is_file()
        ),
        None,
    )
    if directory is None or text_file is None:
        missing = "recordings" if directory is None else "text"
        looked = (
            [str(sounds_root / v) for v in language.voices]
            if directory is None
            else [str(p) for p in text_file_candidates(language, sounds_root, doc_root)]
        )
        raise MissingSounds(
            f"{language.name} core sounds: no {missing} (looked in {', '.join(looked)}); "
            f"install them with `{install_hint([code])}`"
        )
    raw = text_file.read_bytes()
    content = (gzip.decompress(raw) if text_file.suffix == ".gz" else raw).decode(
        "utf-8", errors="replace"
    )
    parsed = parse_core_sounds(content)
    prompts: list[Prompt] = []
    excluded: dict[str, int] = {}
    for name, text in sorted(parsed.texts.items()):
        path = directory / f"{name}.wav"
        why = unusable(text)
        seconds = 0.0
        if why is None and not path.is_file():
            why = "no .wav recording"
        if why is None:
            seconds = wav_seconds(path)
            if seconds > MAX_PROMPT_SECONDS:
                why = f"longer than {MAX_PROMPT_SECONDS:g} s"
        if why is not None:
            key = why.split(" (")[0] if why.startswith("symbols") else why
            excluded[key] = excluded.get(key, 0) + 1
            continue
        prompts.append(Prompt(name, text, path, seconds))
    return SoundSet(language, directory, text_file, prompts, excluded, parsed.skipped)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    language: str
    prompts: tuple[Prompt, ...]
    pauses: tuple[float, ...]  # before each prompt after the first
    lead: float = LEAD_SECONDS
    tail: float = TAIL_SECONDS

    @property
    def seconds(self) -> float:
        return (
            self.lead
            + sum(p.seconds for p in self.prompts)
            + sum(self.pauses)
            + self.tail
        )

    @property
    def reference(self) -> str:
        return " ".join(p.text for p in self.prompts)


@dataclass
class _Pool:
    """The round's prompts not used yet, in shuffled order."""

    prompts: Sequence[Prompt]
    rng: random.Random
    left: list[Prompt] = field(default_factory=list)

    def refill(self, keep_out: Iterable[Prompt]) -> None:
        """A new round: the prompts left over first, then all others but `keep_out`, shuffled."""
        taken = {p.name for p in keep_out} | {p.name for p in self.left}
        fresh = [p for p in self.prompts if p.name not in taken]
        self.rng.shuffle(fresh)
        self.left = self.left + fresh


@dataclass
class _Draft:
    prompts: list[Prompt] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    seconds: float = LEAD_SECONDS + TAIL_SECONDS

    def fill(self, pool: _Pool, limit: float, rng: random.Random) -> None:
        """Add the pool's prompts, in order, that keep the message within `limit` seconds."""
        for prompt in list(pool.left):
            first = not self.prompts
            pause = 0.0 if first else rng.uniform(*PAUSE_SECONDS)
            if self.seconds + pause + prompt.seconds <= limit:
                if not first:
                    self.pauses.append(pause)
                self.prompts.append(prompt)
                self.seconds += pause + prompt.seconds
                pool.left.remove(prompt)


def compose(
    language: str,
    prompts: Sequence[Prompt],
    count: int,
    rng: random.Random,
    *,
    shortest: float = 20.0,
    longest: float = 60.0,
) -> list[Message]:
    """`count` messages of `shortest`..`longest` seconds (see the module's decisions)."""
    if not 0 < shortest <= longest:
        raise ValueError(
            f"message length {shortest}..{longest} s: expected 0 < shortest <= longest"
        )
    pool = _Pool(sorted(prompts, key=lambda p: p.name), rng)
    pool.refill(())
    messages = []
    for _ in range(count):
        target = rng.uniform(shortest, longest)
        message = _Draft()
        for attempt in (1, 2):
            # Up to the target first; should that leave it short (every prompt left would pass
            # the target), up to `longest`.
            for limit in (target, longest):
                message.fill(pool, limit, rng)
                if message.seconds >= shortest:
                    break
            if message.seconds >= shortest:
                break
            if attempt == 2:
                raise CorpusTooSmall(
                    f"{language}: {len(prompts)} usable prompts ({sum(p.seconds for p in prompts):.0f} s) "
                    f"cannot make a message of {shortest:g}-{longest:g} s"
                )
            pool.refill(
                message.prompts
            )  # every prompt was used once: again, this message's aside
        messages.append(
            Message(language, tuple(message.prompts), tuple(message.pauses))
        )
    return messages


def padded(message: Message, seconds: float) -> Message:
    """The message with its trailing silence stretched to make it `seconds` long."""
    extra = seconds - message.seconds
    if extra < 0:
        raise ValueError(
            f"message of {message.seconds:.1f} s is longer than {seconds:g} s"
        )
    return Message(
        message.language,
        message.prompts,
        message.pauses,
        message.lead,
        message.tail + extra,
    )


def read_samples(path: Path) -> np.ndarray:
    """A prompt's samples as int16 at RATE (the core sounds are 8 kHz 16-bit mono already)."""
    from transcription.audio import decode_wav, resample

    rate, _channels, samples = decode_wav(path.read_bytes(), str(path))
    mono = samples.mean(axis=1)
    if rate != RATE:
        mono = resample(mono, rate, RATE)
    return np.clip(np.round(mono * 32768.0), -32768, 32767).astype("<i2")


def write_message(message: Message, path: Path) -> Path:
    """The message as Asterisk records voicemail: WAV, 16-bit PCM, mono, 8 kHz."""

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(round(seconds * RATE), dtype="<i2")

    pieces = [silence(message.lead)]
    for index, prompt in enumerate(message.prompts):
        if index:
            pieces.append(silence(message.pauses[index - 1]))
        pieces.append(read_samples(prompt.path))
    pieces.append(silence(message.tail))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.concatenate(pieces).tobytes())
    return path


# --- scoring --------------------------------------------------------------------------------


def _spoken(numbers: str) -> tuple[str, ...]:
    return tuple(numbers.split())


NUMBER_WORDS: dict[str, tuple[str, ...]] = {
    "en": _spoken(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty"
    ),
    "fr": _spoken(
        "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize "
        "dix-sept dix-huit dix-neuf vingt"
    ),
    "es": _spoken(
        "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
        "dieciséis diecisiete dieciocho diecinueve veinte"
    ),
    "it": _spoken(
        "zero uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici "
        "quindici sedici diciassette diciotto diciannove venti"
    ),
    "nl": _spoken(
        "nul een twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien vijftien "
        "zestien zeventien achttien negentien twintig"
    ),
}
_NUMBER = re.compile(r"(?<![\d.,])\d+(?![\d]|[.,]\d)")
_NOT_WORD = re.compile(r"[^\w]+|_")


def words(text: str, language: str) -> list[str]:
    """`text` as the words that are compared (see the module's decisions)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    names = NUMBER_WORDS.get(language)
    if names is not None:
        text = _NUMBER.sub(
            lambda m: (
                f" {names[int(m.group())]} "
                if int(m.group()) < len(names)
                else m.group()
            ),
            text,
        )
    bare = "".join(
        ch
        for ch in unicodedata.normalize("NFKD", text)
        if not unicodedata.combining(ch)
    )
    return _NOT_WORD.sub(" ", bare).split()


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning `reference` into `hypothesis`."""
    distance = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        diagonal, distance[0] = distance[0], i
        for j, other in enumerate(hypothesis, 1):
            diagonal, distance[j] = (
                distance[j],
                min(distance[j] + 1, distance[j - 1] + 1, diagonal + (word != other)),
            )
    return distance[-1]


@dataclass
class Score:
    """Word errors and reference words, summed over messages."""

    errors: int = 0
    words: int = 0

    def add(self, reference: str, hypothesis: str, language: str) -> Score:
        ref, hyp = words(reference, language), words(hypothesis, language)
        self.errors += word_errors(ref, hyp)
        self.words += len(ref)
        return self

    def __iadd__(self, other: Score) -> Self:
        self.errors += other.errors
        self.words += other.words
        return self

    @property
    def rate(self) -> float:
        if self.words == 0:
            raise ValueError("no reference words: the word error rate is undefined")
        return self.errors / self.words
