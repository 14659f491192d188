"""The incident card: what an engineer needs at a glance, read from a voicemail's transcript.

Word rules, no model: problem (a summary line), pages, why it is urgent, the call-back number
and the language. Every field comes from words the caller said; a field without them stays
empty, so an empty, silent or nonsense transcript gives an empty card.

Call-back number: a number right after (or, Dutch word order, right before) a cue such as
"bel me terug op", "mijn nummer is", "call me back on", "op … terugbellen" wins; otherwise
the first valid number said. The support line's own number is passed over unless cued: callers
say "ik belde 0497 842611 maar …".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.phone import InvalidPhoneNumber, normalise
from transcription.card_words import (
    CALLBACK_CUE_AFTER,
    CALLBACK_CUE_REACH_WORDS,
    CALLBACK_CUES_BEFORE,
    CALLING_ABOUT,
    CLAUSE_BREAK,
    DANGLING_WORD,
    EN_WORDS,
    GREETING,
    INTRODUCTION,
    NL_WORDS,
    NOT_MY_NUMBER_WORDS,
    PROBLEM_CUES,
    REASON_START,
    URGENCY_CUES,
    WORD,
)
from transcription.plain_text import Span, blank_markers, fold, sentences, shorten
from transcription.spoken_numbers import NumberMention, phone_numbers
from transcription.spoken_urls import find_pages, spoken_urls

DEFAULT_SUPPORT_NUMBERS = ("0497842611",)
SUMMARY_LENGTH = 120
# A clause longer than this before its urgency cue is cut to the few words before the cue.
URGENCY_LEAD_CHARS, URGENCY_LEAD_WORDS = 60, 4
LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class IncidentCard:
    problem: str | None  # a short summary line, from what the caller says is wrong
    pages: tuple[str, ...]  # pages/URLs mentioned: "www.shop.nl/checkout", "/checkout", "shop.nl"
    urgency: str | None  # why it is urgent, in the caller's words
    callback_number: str | None  # E.164, a valid number (read as Dutch when national)
    language: str | None  # "nl" | "en" | None


def extract_card(
    transcript: str, language: str | None = None, *, support_numbers: Iterable[str] = DEFAULT_SUPPORT_NUMBERS
) -> IncidentCard:
    """The card for `transcript`; `language` is the transcriber's ("nl", "en"; others are
    checked against the words); `support_numbers` are our own lines, not a call-back number."""
    text = blank_markers(transcript or "")
    folded = fold(text)
    if not WORD.search(folded) and not re.search(r"\d", folded):
        return IncidentCard(None, (), None, None, None)
    said = _Transcript.of(text)
    return IncidentCard(
        problem=_problem(said),
        pages=find_pages(text),
        urgency=_urgency(said),
        callback_number=_callback_number(folded, said.numbers, _normalised(support_numbers)),
        language=_language(folded, language),
    )


# --- call-back number -------------------------------------------------------------------------


def _normalised(numbers: Iterable[str]) -> set[str]:
    valid = set()
    for number in numbers:
        try:
            valid.add(normalise(number, "NL"))
        except InvalidPhoneNumber:
            continue
    return valid


def _callback_number(folded: str, mentions: tuple[NumberMention, ...], support_numbers: set[str]) -> str | None:
    for index, mention in enumerate(mentions):
        if _is_cued(folded, mention, previous_end=mentions[index - 1].end if index else 0):
            return mention.e164
    return next((m.e164 for m in mentions if m.e164 not in support_numbers), None)


def _is_cued(folded: str, mention: NumberMention, previous_end: int) -> bool:
    """A cue right after the number, or one before it with nothing but a few words (and no other
    number) between."""
    if CALLBACK_CUE_AFTER.match(folded, mention.end):
        return True
    for cue in CALLBACK_CUES_BEFORE.finditer(folded, previous_end, mention.end):  # to .end: "mijn(?= 06)"
        if cue.end() > mention.start:
            break
        gap = folded[cue.end() : mention.start]
        words = WORD.findall(gap)
        if len(words) <= CALLBACK_CUE_REACH_WORDS and not re.search(r"[.!?](?:\s|$)", gap):
            if not NOT_MY_NUMBER_WORDS.intersection(words):
                return True
    return False


# --- problem and urgency ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Transcript:
    text: str  # markers blanked, otherwise the caller's words as transcribed
    folded: str  # the same, folded for matching (same positions)
    sentences: tuple[Span, ...]
    spoken_urls: tuple[tuple[int, int, str], ...]  # "shop punt nl" spans and their written form
    numbers: tuple[NumberMention, ...]

    @classmethod
    def of(cls, text: str) -> _Transcript:
        folded = fold(text)
        return cls(text, folded, tuple(sentences(text)), tuple(spoken_urls(text)), tuple(phone_numbers(folded)))

    def words(self, start: int, end: int) -> str:
        """The caller's words from `start` to `end`, spoken URLs shown written."""
        pieces, at = [], start
        for url_start, url_end, url in self.spoken_urls:
            if start <= url_start and url_end <= end:
                pieces += [self.text[at:url_start], url]
                at = url_end
        return "".join([*pieces, self.text[at:end]]).strip().rstrip(".,;:")


def _problem(transcript: _Transcript) -> str | None:
    """The first sentence saying what is wrong, and the next ones while they do too."""
    folded, parts = transcript.folded, []
    for span in transcript.sentences:
        start = _after_preamble(folded, span.start, span.end)
        cue = PROBLEM_CUES.search(folded, start, span.end)
        if cue is None:
            if parts:
                break
            continue
        start = _after_callback_clauses(folded, start, span.end, cue.start())
        part = transcript.words(start, _before_callback_cue(folded, cue.end(), span.end))
        if not part:
            continue
        if parts and (_is_urgency(folded, start, span.end) or len(" ".join([*parts, part])) >= SUMMARY_LENGTH):
            break
        parts.append(part)
    return _summary(" ".join(part if part.endswith(("?", "!")) else f"{part}." for part in parts).rstrip("."))


def _after_preamble(folded: str, start: int, end: int) -> int:
    """Where the sentence starts once greeting, introduction and "I'm calling because" are dropped."""
    at = start
    for pattern in (GREETING, INTRODUCTION, GREETING, CALLING_ABOUT):
        match = pattern.match(folded, at, end)
        if match and not PROBLEM_CUES.search(folded, at, match.end()):
            at = match.end()
    return at


def _after_callback_clauses(folded: str, start: int, end: int, problem_at: int) -> int:
    """Where the problem's clause starts when the sentence began with the call-back number."""
    if not any(cue.end() <= problem_at for cue in CALLBACK_CUES_BEFORE.finditer(folded, start, end)):
        return start
    return max(clause_start for clause_start, _ in _clauses(folded, start, end) if clause_start <= problem_at)


def _before_callback_cue(folded: str, start: int, end: int) -> int:
    cue = CALLBACK_CUES_BEFORE.search(folded, start, end)
    return cue.start() if cue else end


def _is_urgency(folded: str, start: int, end: int) -> bool:
    return any(cues.search(folded, start, end) for cues in URGENCY_CUES)


def _urgency(transcript: _Transcript) -> str | None:
    """The clause saying why it is urgent, with the reason that follows it ("…, want …")."""
    folded = transcript.folded
    for cues in URGENCY_CUES:  # strong cues anywhere first: "klanten kunnen niet" is often the problem itself
        for span in transcript.sentences:
            cue = cues.search(folded, span.start, span.end)
            if cue is None:
                continue
            clauses = _clauses(folded, span.start, span.end)
            first = next(i for i, (start, end) in enumerate(clauses) if start <= cue.start() < end)
            last = first
            while last + 1 < len(clauses):
                start, end = clauses[last + 1]
                if not (REASON_START.match(folded, start) or _is_urgency(folded, start, end)):
                    break
                last += 1
            start = _after_preamble(folded, clauses[first][0], span.end)
            if cue.start() - start > URGENCY_LEAD_CHARS:  # a long clause: Whisper wrote no commas
                said_before = [m.end for m in transcript.numbers if m.end <= cue.start()]
                start = max(_words_before(folded, cue.start()), *said_before)
            end = min([clauses[last][1], *(m.start for m in transcript.numbers if m.start > cue.end())])
            return _summary(DANGLING_WORD.sub("", transcript.words(start, end)))
    return None


def _words_before(folded: str, at: int, count: int = URGENCY_LEAD_WORDS) -> int:
    """Where the `count` words before `at` start."""
    starts = [m.start() for m in WORD.finditer(folded, max(0, at - 200), at)]
    return starts[-count] if len(starts) >= count else (starts[0] if starts else at)


def _clauses(folded: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each clause between `start` and `end`; a break belongs to neither side."""
    clauses = []
    for brk in CLAUSE_BREAK.finditer(folded, start, end):
        clauses.append((start, brk.start()))
        start = brk.end()
    clauses.append((start, end))
    return clauses


def _summary(text: str) -> str | None:
    line = shorten(text, SUMMARY_LENGTH)
    if not WORD.search(fold(line)):
        return None
    return line[0].upper() + line[1:]


# --- language ---------------------------------------------------------------------------------


def _language(folded: str, given: str | None) -> str | None:
    words = WORD.findall(folded)
    if not NL_WORDS.intersection(words) and not EN_WORDS.intersection(words):
        return None  # nothing said that is a language's word: no tag, whatever the transcriber chose
    given = (given or "").strip().lower()
    if given in LANGUAGES:
        return given
    dutch = sum(word in NL_WORDS for word in words)
    english = sum(word in EN_WORDS for word in words)
    if dutch >= 2 and dutch > 1.5 * english:
        return "nl"
    if english >= 2 and english > 1.5 * dutch:
        return "en"
    return None
