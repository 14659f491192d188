"""The words the incident card is read by: cue phrases for problem, urgency and call-back
number, the preamble callers speak first, and word lists telling Dutch from English.

Patterns match folded text (`transcription.plain_text.fold`: lower case, no accents).
"""

from __future__ import annotations

import re


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


# What callers say is wrong.
PROBLEM_CUES = _words(
    # Dutch
    r"werk(?:t|en)\s+(?:\w+\s+)?niet", r"doe[tn]\s+(?:\w+\s+)?(?:het\s+(?:meer\s+)?niet|niks|niets)",
    r"fout(?:melding|meldingen|code|en)?", r"error\w*", r"storing", r"onbereikbaar", r"niet\s+(?:meer\s+)?bereikbaar",
    r"(?:is|ligt|gaat|ging|zijn|liggen|staat|lag)\s+(?:\w+\s+)?(?:down|plat|eruit|offline)",
    r"(?:down|plat|eruit|offline)\s+(?:is|ligt|gaat|ging|zijn|liggen|staat|lag)",  # "omdat de site eruit ligt"
    r"(?:kan|kunnen|kun|kunt)\s+(?:\w+\s+){0,3}?niet", r"lukt\s+(?:\w+\s+)?niet", r"(?:gaat|ging)\s+(?:\w+\s+)?mis",
    r"mislukt\w*", r"kapot", r"(?:is|zijn|ging|gaat)\s+stuk", r"crash\w*", r"hangt(?!\s+(?:\w+\s+)?af)",
    r"(?:laadt|laden)\s+(?:\w+\s+)?niet", r"traag", r"time-?outs?", r"wit(?:te)?\s+(?:scherm|pagina)",
    r"lege\s+pagina", r"(?<!geen\s)problemen", r"(?<!geen\s)probleem",
    r"geen\s+(?:bestellingen|orders|betalingen)\s+(?:meer\s+)?binnen", r"bad\s+gateway", r"internal\s+server",
    # English
    r"(?:does\s*n[o']?t|don'?t|isn'?t|is\s+not|aren'?t|are\s+not|won'?t|stopped)\s+(?:\w+\s+)?work\w*",
    r"not\s+(?:\w+\s+)?working", r"(?:is|went|are|was|were|goes|has\s+gone|'s)\s+(?:\w+\s+)?(?:down|offline)",
    r"broken", r"fail\w*", r"can'?t\s+\w+", r"cannot", r"unable\s+to", r"not\s+loading", r"won'?t\s+load",
    r"outage", r"unreachable", r"timing\s+out", r"times\s+out", r"blank\s+page", r"(?<!no\s)problems?",
    r"(?<!no\s)issues?", r"bugs?", r"(?:nobody|no\s+one)\s+can",
)  # fmt: skip
# Why it is urgent: the caller says so, or money, a campaign, a deadline; failing that, who is hit.
STRONG_URGENCY_CUES = _words(
    # Dutch
    r"dringend\w*", r"spoed\w*", r"urgent\w*", r"omzet\w*", r"lopen\s+(?:\w+\s+){0,3}?mis", r"mislopen",
    r"campagne\w*", r"(?:een|onze|grote|de)\s+(?:\w+\s+)?actie",
    r"black\s+friday", r"cyber\s+monday", r"uitverkoop", r"kost\s+(?:ons\s+)?(?:heel\s+)?(?:veel\s+)?geld",
    r"geld\s+mis", r"verlie(?:zen|s)\w*", r"kritiek", r"kritisch\w*", r"deadline", r"heel\s+belangrijk",
    r"elke\s+minuut", r"bestellingen\s+(?:\w+\s+)?mis",
    # English
    r"losing\s+(?:\w+\s+){0,2}?(?:money|sales|revenue|orders|customers)",
    r"revenue", r"campaign\w*", r"sale", r"critical", r"costing\s+us", r"every\s+minute", r"launch\w*",
    r"(?:really|very|extremely)\s+important",
)  # fmt: skip
WEAK_URGENCY_CUES = _words(  # often the problem itself, or how fast to call back
    r"zo\s+snel\s+(?:als\s+)?mogelijk", r"z\.?s\.?m", r"asap", r"as\s+soon\s+as\s+possible", r"immediately",
    r"klanten\s+kunnen\s+(?:\w+\s+)?niet", r"(?:niemand|geen\s+klant)\s+kan",
    r"customers\s+(?:can'?t|cannot|are\s+unable|are\s+not\s+able)", r"(?:nobody|no\s+one)\s+can",
)  # fmt: skip
URGENCY_CUES = (STRONG_URGENCY_CUES, WEAK_URGENCY_CUES)
# A call-back number follows these within a few words ...
CALLBACK_CUES_BEFORE = _words(
    r"bel\w*\s+(?:u\s+)?(?:me|mij|ons)", r"(?:kunt|kun|wilt|wil)\s+(?:u|je|jij)\s+(?:me|mij|ons)",
    r"terug\s*(?:te\s+)?bellen", r"terugbel\w*",
    r"(?:mijn|ons)\s+(?:\w+\s+)?(?:telefoon|mobiele\s+)?nummer", r"mijn\s+mobiel\w*", r"mijn(?=\s+(?:06|nul\s+zes))",
    r"bereikbaar", r"bereiken", r"call\s+(?:me|us)", r"call\s*-?\s*back", r"ring\s+(?:me|us)",
    r"give\s+(?:me|us)\s+a\s+(?:call|ring)", r"reach\s+(?:me|us)", r"contact\s+(?:me|us)",
    r"my\s+(?:\w+\s+)?number", r"my\s+(?:mobile|cell)",
)  # fmt: skip
# ... or, in Dutch word order, come right before these ("kunt u mij op 06… terugbellen").
CALLBACK_CUE_AFTER = re.compile(
    r"[\s,.]*(?:\w+\s+)?(?:terug\s*(?:te\s+)?bellen|terugbellen|bereiken|bereikbaar|"
    r"is\s+(?:mijn|my)\s+(?:\w+\s+)?(?:nummer|number))\b"
)
CALLBACK_CUE_REACH_WORDS = 6
# Words between a cue and a number that say the number is not the caller's ("ik belde …").
NOT_MY_NUMBER_WORDS = {"ik", "i", "we", "wij", "belde", "gebeld", "called", "dialled", "dialed", "probeerde", "tried"}
# Spoken before the problem and no part of it.
GREETING = re.compile(
    r"(?:(?:goede?n?\s*(?:avond|morgen|middag|nacht|dag)|goeie?n?(?:avond|morgen|middag)|hallo|hoi|hey|hi|hello|dag|"
    r"good\s+(?:evening|morning|afternoon|night)|ja|nou|eh|ehm|euh|uh|uhm|um|ok|oke|okay|so|well|yes|yeah)\b[\s,.!]*)+"
)
INTRODUCTION = re.compile(
    r"(?:met|u\s+spreekt\s+met|je\s+spreekt\s+met|hier\s+is|dit\s+is|ik\s+ben|this\s+is|my\s+name\s+is|i'?m|i\s+am)"
    r"\s+[^,.]{1,60}?(?:,\s*|\s+(?:en|and)\s+)"
)
CALLING_ABOUT = re.compile(  # Dutch "omdat" puts the verb last: "ik bel omdat de site eruit ligt" stays whole
    r"(?:ik\s+bel\s+(?:\w+\s+)?want|i'?m\s+calling\s+(?:because|about|since|to\s+report(?:\s+that)?)|"
    r"i\s+am\s+calling\s+(?:because|about))\s+"
)
DANGLING_WORD = re.compile(r"\s+(?:op|on|at|via|naar|to)$", re.IGNORECASE)  # left where a number was cut off
REASON_START = re.compile(r"(?:omdat|want|aangezien|dus|because|since|as|so)\b")
CLAUSE_BREAK = re.compile(r",\s*|;\s*|\s+(?:en|and|maar|but)\s+")
NL_WORDS = frozenset(
    "de het een en ik je u jij wij mijn onze ons niet geen van op met dat die dit er te ook maar kan kunt kunnen "
    "graag bellen bel terug nummer werkt doet alstublieft alsjeblieft bedankt dank goedenavond goedemorgen "
    "goedemiddag hallo hoi ja nee nul zes twee drie vier vijf zeven acht negen punt pagina klanten dringend omdat "
    "want wel nog al zijn hebben heb hebt wordt gaat naar voor uit bij om als wat hier spreekt storing foutmelding "
    "bestellen betalen snel mogelijk even groeten doei ligt plat inloggen zo".split()
)  # fmt: skip
EN_WORDS = frozenset(
    "the a an and i you my our us not of on with that this it to also but can could please call back number works "
    "working work doesn't does thanks thank evening morning hello hi yes zero one two three four five six seven "
    "eight nine dot page customers urgent because are have has get getting from at as soon possible bye it's i'm "
    "we're can't cannot there what just since losing money broken would they when".split()
)  # fmt: skip
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
