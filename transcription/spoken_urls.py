"""Pages and URLs a caller mentions, written ("webshop.nl/afrekenen") or spoken ("www punt
webshop punt nl slash checkout", "shop dot co dot uk", "slash account slash orders", "the
checkout page", "de afrekenpagina"), normalised: scheme dropped, host lower case.

Three passes over the transcript, each masking what it took: URLs as Whisper wrote them, URLs
spelled out with spoken punctuation, then pages named by their name. A host needs a known
top-level domain, so "dat is het punt" or "niet. De" never becomes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from transcription.plain_text import fold

TLDS = ("nl", "be", "de", "com", "net", "org", "eu", "io", "co", "uk", "fr", "es", "it", "at", "ch", "dk", "se",
        "pl", "us", "ca", "au", "info", "biz", "app", "dev", "shop", "store", "online", "site", "tech", "cloud", "ai",
        "me", "tv", "nu", "frl", "amsterdam")  # fmt: skip
# Whisper sometimes writes a spoken "punt" as ". " ("webshop. nl"); only these endings, or a
# host starting with www, make such a spaced dot part of a host (". De" starts a sentence).
UNMISTAKABLE_TLDS = {"nl", "com", "net", "org", "eu", "io", "uk", "info", "biz", "shop", "online"}
MAX_LABELS = 6  # "www.shop.example.co.uk" has 5; a longer chain of dots is no host
SPOKEN_DOT = {"punt", "dot"}
SPOKEN_SLASH = {"slash"}
SPOKEN_DASH = {"streepje", "dash", "hyphen", "koppelteken"}
MAIL_AT = {"@", "apenstaartje"}
MAIL_WORDS = {"mail", "email", "e-mail", "mailadres", "emailadres", "e-mailadres", "mailen", "address", "adres"}
# "X page" / "X-pagina" / "Xpagina" where X says which page; these say nothing of that.
NOT_PAGE_NAMES = {
    # English
    "the", "a", "an", "this", "that", "these", "those", "whole", "entire", "same", "web", "webpage", "error", "blank",
    "white", "empty", "next", "previous", "first", "last", "one", "every", "each", "any", "which", "what", "our",
    "your", "my", "his", "her", "their", "its", "new", "old", "landing", "maintenance", "broken", "loading", "static",
    "single", "second", "other", "another", "on", "in", "at", "for", "to", "from", "of", "no", "same", "wrong",
    "right", "correct", "weird", "strange", "different", "some", "facebook",
    # Dutch
    "de", "het", "een", "deze", "die", "dit", "dat", "hele", "zelfde", "internet", "fout", "fouten", "foutmelding",
    "lege", "leeg", "witte", "wit", "blanco", "zwarte", "volgende", "vorige", "eerste", "laatste", "elke", "iedere",
    "alle", "welke", "onze", "jullie", "mijn", "uw", "je", "zijn", "haar", "hun", "nieuwe", "oude", "andere",
    "onderhoud", "onderhouds", "op", "naar", "van", "met", "voor", "bepaalde", "verkeerde", "rare", "zo", "geen",
}  # fmt: skip
HOME_NAMES = {"home", "start", "front", "main", "hoofd", "begin"}
HOME_WORDS = {"homepage", "homepagina", "startpagina", "hoofdpagina", "voorpagina", "beginpagina", "frontpage"}
# "de pagina X" / "page X": a word after "page" is usually a verb ("de pagina laadt niet"),
# so only these names are taken there.
KNOWN_PAGE_NAMES = {
    "checkout", "afrekenen", "winkelwagen", "winkelmand", "cart", "basket", "login", "inloggen", "account",
    "contact", "betalen", "betaling", "payment", "zoeken", "search", "orders", "bestellingen", "bestelling",
    "order", "registratie", "register", "signup", "aanmelden", "wachtwoord", "password", "admin", "dashboard",
    "producten", "products", "product", "home",
}  # fmt: skip

_TLD = "|".join(sorted(TLDS, key=len, reverse=True))
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_WRITTEN_URL = re.compile(
    rf"(?<![\w@.-])(?:https?://)?((?:{_LABEL}\.)+(?:{_TLD}))(?![\w-])((?:/[^\s]*)?)"
    r"|https?://([^\s/]+)((?:/[^\s]*)?)"
)
_TRAILING = ".,;:!?)]}'\"…"
_TOKEN = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?|[./:@]")
_SPOKEN_PHRASES = re.compile(r"dubbele punt|schuine streep|forward slash")
_PHRASE_SYMBOL = {"dubbele punt": ":", "schuine streep": "/", "forward slash": "/"}
_NAMED_BEFORE = re.compile(r"\b([a-z0-9][a-z0-9-]{0,40}?)(?:\s+|-)?(page|pagina)\b")
_NAMED_AFTER = re.compile(r"\b(?:page|pagina)\s+['\"‘“]?([a-z][a-z0-9-]*)")
_HOME_WORD = re.compile(r"\b(?:" + "|".join(HOME_WORDS) + r")\b|\bhome\s+page\b")


@dataclass(frozen=True)
class _Found:
    at: int
    page: str
    end: int = -1

    @property
    def is_path_only(self) -> bool:
        return self.page.startswith("/")


def spoken_urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, URL) of each URL spelled out with spoken punctuation, to show it written."""
    folded = _written_urls(text, fold(text))[1]
    return [(f.at, f.end, f.page) for f in _spoken_urls(folded)[0] if "." in f.page]


def find_pages(text: str) -> tuple[str, ...]:
    """The pages and URLs mentioned in `text`, in order, each once."""
    folded = fold(text)
    written, folded = _written_urls(text, folded)
    spoken, folded = _spoken_urls(folded)
    found = sorted([*written, *spoken, *_named_pages(folded)], key=lambda f: f.at)
    return _deduplicated(found)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _written_urls(original: str, folded: str) -> tuple[list[_Found], str]:
    found = []
    for match in _WRITTEN_URL.finditer(folded):
        host = match[1] or match[3]
        path_group = 2 if match[1] else 4
        start, end = match.span(path_group)
        path = original[start:end].rstrip(_TRAILING)  # the path as written: paths are case-sensitive
        found.append(_Found(match.start(), host.rstrip(_TRAILING) + path))
        folded = _mask(folded, match.start(), match.end())
    return found, folded


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    spaced: bool  # whitespace (or nothing) right before it

    @property
    def kind(self) -> str:
        if self.text in SPOKEN_DOT:
            return "dot"
        if self.text == ".":
            return "written-dot"
        if self.text in SPOKEN_SLASH or self.text == "/":
            return "slash"
        if self.text in SPOKEN_DASH:
            return "dash"
        if self.text in {":", "@"}:
            return self.text
        return "label"


def _tokens(folded: str) -> list[_Token]:
    folded = _SPOKEN_PHRASES.sub(lambda m: _PHRASE_SYMBOL[m.group()].ljust(len(m.group())), folded)
    return [
        _Token(m.group(), m.start(), m.end(), m.start() == 0 or not folded[m.start() - 1].isalnum())
        for m in _TOKEN.finditer(folded)
    ]


def _spoken_urls(folded: str) -> tuple[list[_Found], str]:
    tokens, found, index = _tokens(folded), [], 0
    while index < len(tokens):
        token = tokens[index]
        host, after_host = _host_at(tokens, index) if token.kind == "label" else (None, index)
        if host and _is_mail_address(tokens, index):
            index = after_host  # an e-mail address names no page
            continue
        if host:
            path, end = _path_at(tokens, after_host)
            found.append(_Found(token.start, host + path, tokens[end - 1].end))
        elif token.kind == "slash" and (token.text != "/" or token.spaced):
            if _kind(tokens, index + 1) == "slash":  # "slash slash" after a scheme
                index += 2
                continue
            path, end = _path_at(tokens, index)
            if path:
                found.append(_Found(token.start, path, tokens[end - 1].end))
            else:
                end = index + 1
        else:
            index += 1
            continue
        folded = _mask(folded, token.start, tokens[end - 1].end)
        index = end
    return found, folded


def _kind(tokens: list[_Token], index: int) -> str | None:
    return tokens[index].kind if index < len(tokens) else None


def _host_at(tokens: list[_Token], index: int) -> tuple[str | None, int]:
    """The longest host starting at `index` ("www punt shop punt nl") and the index after it."""
    labels, spaced_dot, best, at = [tokens[index].text], False, None, index + 1
    while len(labels) < MAX_LABELS and at - index < 4 * MAX_LABELS:  # "a streepje a streepje …" is no host
        if _kind(tokens, at) == "dash" and _kind(tokens, at + 1) == "label":
            labels[-1] += "-" + tokens[at + 1].text
        elif _kind(tokens, at) in {"dot", "written-dot"} and _kind(tokens, at + 1) == "label":
            spaced_dot |= tokens[at].kind == "written-dot"
            labels.append(tokens[at + 1].text)
            last = labels[-1]
            trusted = not spaced_dot or labels[0] == "www" or last in UNMISTAKABLE_TLDS
            if last in TLDS and trusted:
                best = (".".join(labels), at + 2)
        else:
            break
        at += 2
    return best if best else (None, index)


def _path_at(tokens: list[_Token], index: int) -> tuple[str, int]:
    """ "slash account slash orders" → "/account/orders" and the index after it."""
    path = ""
    while _kind(tokens, index) == "slash" and _kind(tokens, index + 1) == "label":
        path += "/" + tokens[index + 1].text
        index += 2
    return path, index


def _is_mail_address(tokens: list[_Token], index: int) -> bool:
    if index == 0:
        return False
    before = tokens[index - 1].text
    if before in MAIL_AT:
        return True
    return before == "at" and any(t.text in MAIL_WORDS for t in tokens[max(0, index - 8) : index])


def _named_pages(folded: str) -> list[_Found]:
    found = [_Found(m.start(), "/") for m in _HOME_WORD.finditer(folded)]
    for match in _NAMED_BEFORE.finditer(folded):
        name = match[1]
        if name in HOME_NAMES:
            found.append(_Found(match.start(), "/"))
        elif name not in NOT_PAGE_NAMES and not name.isdigit() and name not in {"page", "pagina"}:
            found.append(_Found(match.start(), "/" + name))
    for match in _NAMED_AFTER.finditer(folded):
        if match[1] in KNOWN_PAGE_NAMES:
            found.append(_Found(match.start(), "/" if match[1] == "home" else "/" + match[1]))
    return found


def _deduplicated(found: list[_Found]) -> tuple[str, ...]:
    pages = list(dict.fromkeys(f.page for f in found))
    paths_of_urls = {_path_of(page).lower() for page in pages if not page.startswith("/")}
    return tuple(page for page in pages if not (page.startswith("/") and page.lower() in paths_of_urls))


def _path_of(url: str) -> str:
    return url[url.index("/") :] if "/" in url else ""
