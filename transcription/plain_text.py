"""Transcript text made ready for word rules: folded for matching, split into sentences.

`fold` keeps every character's position, so a match found in the folded text slices the
caller's own words out of the original transcript.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# What Whisper writes for non-speech, and the lines it is known to invent on silence or noise
# (subtitle credits from its training data). They are no words of the caller.
_MARKER = re.compile(
    r"\[[^\]]{0,60}\]"  # [no speech], [BLANK_AUDIO], [Muziek]
    r"|\*[^*]{0,60}\*"  # *music*
    r"|\((?:geen spraak|no speech|muziek|music|stilte|silence|lacht|laughs|applaus|applause|"
    r"onverstaanbaar|inaudible|ruis|noise)\)",
    re.IGNORECASE,
)
_INVENTED_SENTENCE = re.compile(
    r"amara\.org|ondertitel(?:d|ing)|subtitles? by|thanks? (?:you )?for watching|bedankt voor het kijken|"
    r"tv gelderland|www\.mooji\.org",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def _fold_char(ch: str) -> str:
    # One character in, one out: lower case without accents ("Één" → "een", "ë" → "e").
    base = unicodedata.normalize("NFKD", ch)[0]
    lowered = base.lower()
    return lowered if len(lowered) == 1 else base


def fold(text: str) -> str:
    """Lower case, accents dropped, same length as `text` (positions stay valid)."""
    return "".join(_fold_char(ch) for ch in text)


def blank_markers(text: str) -> str:
    """Non-speech markers and invented subtitle lines replaced by spaces (positions stay valid)."""
    text = _MARKER.sub(lambda m: " " * len(m.group()), text)
    for sentence in sentences(text):
        if _INVENTED_SENTENCE.search(sentence.text):
            text = text[: sentence.start] + " " * len(sentence.text) + text[sentence.end :]
    return text


@dataclass(frozen=True)
class Span:
    """A stretch of the transcript: its text and where it stands."""

    text: str
    start: int
    end: int


def sentences(text: str) -> list[Span]:
    """The sentences of `text`, stripped; a dot inside a word ("shop.nl", "06.12") does not end one."""
    spans, start = [], 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            offset = start + piece.index(stripped)
            spans.append(Span(stripped, offset, offset + len(stripped)))
        if boundary:
            start = boundary.end()
    return spans


def shorten(text: str, limit: int = 120) -> str:
    """`text` on one line, at most `limit` characters, cut at a word with "…" when longer."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"
