"""Phone numbers as callers say them and as Whisper writes them down.

Dutch and English callers read a number in digits ("nul zes, een twee drie vier"), in pairs
("nul zes twaalf vierendertig"), with "dubbel vijf" / "double five", or Whisper writes numerals
("06-12345678", "+31 6 1234 5678", "nul 6 12 34"). Every word or numeral becomes a piece of
digits; neighbouring pieces form a run; inside a run, every stretch that starts with 0 or + and
is a valid number (`core.phone.normalise`) is a mention. Trying stretches instead of the whole
run keeps "error 500, 06 1234 5678" apart without guessing where one number ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from core.phone import InvalidPhoneNumber, normalise
from transcription.plain_text import fold

NL_UNITS = {"nul": 0, "een": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8, "negen": 9}
NL_TEENS = {"tien": 10, "elf": 11, "twaalf": 12, "dertien": 13, "veertien": 14, "vijftien": 15, "zestien": 16,
            "zeventien": 17, "achttien": 18, "negentien": 19}  # fmt: skip
NL_TENS = {"twintig": 20, "dertig": 30, "veertig": 40, "vijftig": 50, "zestig": 60, "zeventig": 70, "tachtig": 80,
           "negentig": 90}  # fmt: skip
EN_UNITS = {"zero": 0, "nought": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9}  # fmt: skip
EN_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
            "seventeen": 17, "eighteen": 18, "nineteen": 19}  # fmt: skip
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
HUNDRED = {"honderd", "hundred"}  # after a digit word: "acht honderd" 800; alone, 100
# "dubbel vijf" = 55, "triple zero" = 000.
REPEATS = {"dubbel": 2, "dubbele": 2, "double": 2, "driedubbel": 3, "driedubbele": 3, "triple": 3, "treble": 3}
PLUS = {"plus", "+"}
# Said or written between digit groups without ending the number.
GLUE = {",", ".", "-", ":", "streepje", "dash", "eh", "ehm", "euh", "uh", "uhm", "um", "umm", "erm", "hm", "hmm"}
# Words that are a digit only next to other digits: "een" is also "a", "oh" also a sigh, so
# "oh" must touch a digit ("oh six"; "Oh, zero six…" is a sigh before the number).
WEAK = {"een", "oh", "o"}
TOUCHING_ONLY = {"oh", "o"}

_TOKEN = re.compile(r"\+|\d+|[a-z]+|\S")
_NL_COMPOUND = re.compile(r"(een|twee|drie|vier|vijf|zes|zeven|acht|negen)en(" + "|".join(NL_TENS) + ")")
_NL_HUNDREDS = re.compile(r"(een|twee|drie|vier|vijf|zes|zeven|acht|negen)?honderd(?:en)?([a-z]*)")
_TRUNK_ZERO = re.compile(r"(\+\s*\d{1,3}\s*)\(0\)")  # "+31 (0)6 …": the 0 is not dialled from abroad
MIN_DIGITS, MAX_DIGITS = 8, 16  # 0800 1234 is the shortest Dutch number, E.164 allows 15 plus a trunk 0


def dutch_number(word: str) -> int | None:
    """The value of one Dutch number word: "zes" 6, "twaalf" 12, "vierendertig" 34, "achthonderd" 800."""
    value = _dutch_below_hundred(word)
    if value is not None:
        return value
    hundreds = _NL_HUNDREDS.fullmatch(word)
    if not hundreds:
        return None
    head, tail = hundreds.groups()
    rest = _dutch_below_hundred(tail) if tail else 0
    if rest is None:
        return None
    return NL_UNITS.get(head, 1) * 100 + rest


def _dutch_below_hundred(word: str) -> int | None:
    for table in (NL_UNITS, NL_TEENS, NL_TENS):
        if word in table:
            return table[word]
    compound = _NL_COMPOUND.fullmatch(word)
    if compound:
        return NL_UNITS[compound[1]] + NL_TENS[compound[2]]
    return None


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def value(self) -> int | None:
        if self.text.isdigit():
            return None
        if self.text in EN_UNITS:
            return EN_UNITS[self.text]
        if self.text in EN_TEENS:
            return EN_TEENS[self.text]
        if self.text in EN_TENS:
            return EN_TENS[self.text]
        if self.text == "hundred":
            return 100
        return dutch_number(self.text)

    @property
    def is_number(self) -> bool:
        return self.text.isdigit() or self.value is not None


@dataclass
class _Piece:
    digits: str  # "06", "34", or "+"
    start: int
    end: int
    word: str = ""  # the number word it came from ("" for numerals), for compounds across words


@dataclass(frozen=True)
class NumberMention:
    """A valid phone number in the transcript: E.164 and where it was said."""

    e164: str
    start: int
    end: int


def phone_numbers(text: str) -> list[NumberMention]:
    """Every valid phone number in `text`, in order of mention (national ones read as Dutch)."""
    mentions = []
    for run in _runs(_tokens(text)):
        mentions.extend(_mentions_in(run))
    return mentions


def read_digits(text: str) -> str:
    """All digits said or written in `text`, in order: "nul zes, dubbel vijf" → "0655"."""
    return "".join(piece.digits for run in _runs(_tokens(text)) for piece in run)


def _tokens(text: str) -> list[_Token]:
    folded = _TRUNK_ZERO.sub(lambda m: m[1] + " " * 3, fold(text))
    return [_Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(folded)]


def _runs(tokens: list[_Token]) -> list[list[_Piece]]:
    """Neighbouring digit pieces; any other word ends a run."""
    runs: list[list[_Piece]] = []
    run: list[_Piece] = []
    repeat = 1
    index = 0
    while index < len(tokens):
        token, after = tokens[index], _at(tokens, index + 1)
        word = token.text
        if word in HUNDRED and run and run[-1].word and len(run[-1].digits) == 1 and run[-1].digits != "0":
            run[-1].digits += "00"  # "acht honderd", "eight hundred"
            run[-1].end = token.end
        elif token.is_number and (word not in WEAK or _next_to_number(tokens, index)):
            piece = _Piece(
                word if word.isdigit() else str(token.value), token.start, token.end, "" if word.isdigit() else word
            )
            if not _joins_previous(run, piece, between=tokens[index - 1].text if index else ""):
                piece.digits *= repeat
                run.append(piece)
            repeat = 1
        elif word in REPEATS and after is not None and after.is_number:
            repeat = REPEATS[word]
        elif word in PLUS and after is not None and after.is_number:
            run = _close(runs, run)
            run.append(_Piece("+", token.start, token.end))
        elif word in GLUE or _is_dutch_en(word, run, after) or _is_mobile_is(word, run):
            pass
        else:
            run = _close(runs, run)
        index += 1
    _close(runs, run)
    return runs


def _at(tokens: list[_Token], index: int) -> _Token | None:
    return tokens[index] if 0 <= index < len(tokens) else None


def _next_to_number(tokens: list[_Token], index: int) -> bool:
    # "een" may sit between commas ("nul zes, een, twee"); "oh" must touch a digit ("oh six", "oh-six").
    skippable = {"-"} if tokens[index].text in TOUCHING_ONLY else GLUE
    for step in (-1, 1):
        at = index + step
        while (neighbour := _at(tokens, at)) is not None and neighbour.text in skippable and abs(at - index) < 3:
            at += step
        if neighbour is not None and (neighbour.is_number or neighbour.text in REPEATS):
            if neighbour.text not in TOUCHING_ONLY:
                return True
    return False


def _joins_previous(run: list[_Piece], piece: _Piece, between: str) -> bool:
    """Number words said as one number across words: "thirty four" 34, "vier en dertig" 34."""
    if not run or not piece.word or not run[-1].word:
        return False
    previous = run[-1]
    tens_then_unit = (
        previous.word in EN_TENS and between in {previous.word, "-"} and piece.word in EN_UNITS and piece.digits != "0"
    )  # "twenty, seven" is said as two groups
    unit_en_tens = between == "en" and previous.word in NL_UNITS and previous.digits != "0" and piece.word in NL_TENS
    if tens_then_unit or unit_en_tens:
        previous.digits = str(int(previous.digits) + int(piece.digits))
        previous.end, previous.word = piece.end, ""
        return True
    return False


def _is_dutch_en(word: str, run: list[_Piece], after: _Token | None) -> bool:
    # "vier en dertig": the "en" belongs to the number only before a tens word.
    return word == "en" and bool(run) and run[-1].word in NL_UNITS and after is not None and after.text in NL_TENS


def _is_mobile_is(word: str, run: list[_Piece]) -> bool:
    # "mijn 06 is 12345678": Dutch for "my mobile number is".
    return word == "is" and "".join(p.digits for p in run) == "06"


def _close(runs: list[list[_Piece]], run: list[_Piece]) -> list[_Piece]:
    if run:
        runs.append(run)
    return []


def _mentions_in(run: list[_Piece]) -> list[NumberMention]:
    mentions, first = [], 0
    while first < len(run):
        found = _longest_valid_from(run, first)
        if found is None:
            first += 1
            continue
        mention, last = found
        mentions.append(mention)
        first = last + 1
    return mentions


def _longest_valid_from(run: list[_Piece], first: int) -> tuple[NumberMention, int] | None:
    if not run[first].digits.startswith(("0", "+")):
        return None
    best, digits = None, ""
    for last in range(first, len(run)):
        digits += run[last].digits
        if "+" in digits[1:] or len(digits) > MAX_DIGITS:
            break
        e164 = _valid(digits)
        if e164:
            best = (NumberMention(e164, run[first].start, run[last].end), last)
    return best


@lru_cache(maxsize=4096)  # a run is tried stretch by stretch; the same digits come back often
def _valid(digits: str) -> str | None:
    if len(digits.lstrip("+")) < MIN_DIGITS:
        return None
    try:
        return normalise(digits, "NL")
    except InvalidPhoneNumber:
        return None
