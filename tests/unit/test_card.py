"""The incident card read from voicemail transcripts as Dutch and English callers speak them
and as Whisper writes them down."""

from __future__ import annotations

import dataclasses
import time

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.phone import normalise
from transcription.card import IncidentCard, extract_card
from transcription.spoken_numbers import dutch_number, phone_numbers, read_digits
from transcription.spoken_urls import find_pages

EMPTY = IncidentCard(problem=None, pages=(), urgency=None, callback_number=None, language=None)
MOBILE = "+31612345678"


def card(**fields) -> IncidentCard:
    return dataclasses.replace(EMPTY, **fields)


# --- whole voicemails: greeting, problem, page, urgency, number, goodbye -------------------------

VOICEMAILS = [
    pytest.param(
        "Goedenavond, met Jan de Vries van Bakker Webshop. Onze webshop ligt plat, de checkout geeft een "
        "foutmelding. Het gaat om www punt bakkerwebshop punt nl slash checkout. Het is dringend omdat we een "
        "grote campagne hebben lopen. Bel me terug op nul zes twaalf vierendertig zesenvijftig achtenzeventig. "
        "Bedankt, doei.",
        "nl",
        card(
            problem="Onze webshop ligt plat, de checkout geeft een foutmelding",
            pages=("www.bakkerwebshop.nl/checkout",),
            urgency="Het is dringend omdat we een grote campagne hebben lopen",
            callback_number=MOBILE,
            language="nl",
        ),
        id="nl-full-pairs",
    ),
    pytest.param(
        "Hi, this is Sarah from Green Shoes. Our site is down, we get an error 500 on the checkout page. "
        "It's urgent because we're losing money every minute. Please call me back on zero six, one two three "
        "four, five six seven eight. Thanks, bye.",
        "en",
        card(
            problem="Our site is down, we get an error 500 on the checkout page",
            pages=("/checkout",),
            urgency="It's urgent because we're losing money every minute",
            callback_number=MOBILE,
            language="en",
        ),
        id="en-full-digits",
    ),
    pytest.param(
        "Ja hallo, u spreekt met Karin van Fietsen Jansen. Ik bel omdat de site eruit ligt sinds een uur of "
        "negen. Klanten kunnen niet afrekenen op fietsenjansen.nl/afrekenen. U kunt mij bereiken op 06-87654321. "
        "Dank u wel.",
        None,
        card(
            problem="Ik bel omdat de site eruit ligt sinds een uur of negen",
            pages=("fietsenjansen.nl/afrekenen",),
            urgency="Klanten kunnen niet afrekenen op fietsenjansen.nl/afrekenen",
            callback_number="+31687654321",
            language="nl",
        ),
        id="nl-written-url-and-number",
    ),
    pytest.param(
        "Hello, my name is Tom Baker from Baker and Sons. Customers cannot log in to our portal at portal dot "
        "bakerandsons dot co dot uk slash login. We are losing orders. You can reach me at plus four four, "
        "twenty, seven nine four six, oh nine five eight. Cheers.",
        None,
        card(
            problem="Customers cannot log in to our portal at portal.bakerandsons.co.uk/login",
            pages=("portal.bakerandsons.co.uk/login",),
            urgency="We are losing orders",
            callback_number="+442079460958",
            language="en",
        ),
        id="en-uk-number-spoken-url",
    ),
    pytest.param(
        "Goedemorgen. Met Ahmed van de Boekenhoek. Eh, ons bestelsysteem doet het niet meer, bij het afrekenen "
        "krijgen klanten een witte pagina. Dat is vervelend want we hebben vandaag een actie. Mijn nummer is nul "
        "zes, dubbel vijf, drie vier, twee twee, een negen. Fijne dag.",
        "nl",
        card(
            problem="Ons bestelsysteem doet het niet meer, bij het afrekenen krijgen klanten een witte pagina",
            urgency="Dat is vervelend want we hebben vandaag een actie",
            callback_number="+31655342219",
            language="nl",
        ),
        id="nl-dubbel",
    ),
    pytest.param(
        "Hallo, met Lisa. Ik belde eerst 0497 842611 maar daar nam niemand op. We kunnen niet inloggen op het "
        "dashboard, slash admin slash login geeft error 502. Zo snel mogelijk graag, mijn 06 is 12345678.",
        "nl",
        card(
            problem="We kunnen niet inloggen op het dashboard, slash admin slash login geeft error 502",
            pages=("/admin/login",),
            urgency="Zo snel mogelijk graag",
            callback_number=MOBILE,
            language="nl",
        ),
        id="nl-support-number-mentioned-mijn-06",
    ),
    pytest.param(
        "Hey, it's Mark from Pixel Print. The website is broken, nobody can upload files. Could you give me a "
        "call on double oh three one, six, one two, three four, five six, seven eight? It's quite urgent, we have "
        "a launch tomorrow morning.",
        "en",
        card(
            problem="The website is broken, nobody can upload files",
            urgency="It's quite urgent, we have a launch tomorrow morning",
            callback_number=MOBILE,
            language="en",
        ),
        id="en-double-oh-international",
    ),
    pytest.param(
        "Goedenavond. Onze server is down. Het is Black Friday en we lopen omzet mis. Kunt u mij op nul twintig, "
        "een twee drie, vier vijf, zes zeven terugbellen? Alvast bedankt.",
        "nl",
        card(
            problem="Onze server is down",
            urgency="Het is Black Friday en we lopen omzet mis",
            callback_number="+31201234567",
            language="nl",
        ),
        id="nl-landline-number-before-verb",
    ),
    pytest.param(
        "Hoi, met Sanne. De betaalpagina geeft een time-out. Bel me even terug, ik belde eerst 0497842611 maar "
        "dat werkte niet.",
        "nl",
        card(problem="De betaalpagina geeft een time-out", pages=("/betaal",), language="nl"),
        id="nl-only-support-number-not-cued",
    ),
    pytest.param(
        "Good evening, this is Priya. Our shop at www.priyas-spices.com/cart throws an error when customers pay. "
        "Customers can't check out. My number is 0612345678.",
        "en",
        card(
            problem="Our shop at www.priyas-spices.com/cart throws an error when customers pay",
            pages=("www.priyas-spices.com/cart",),
            urgency="Customers can't check out",
            callback_number=MOBILE,
            language="en",
        ),
        id="en-written-url",
    ),
    pytest.param(
        "Dag, met Willem van Groen en Zonen. Sinds vanavond werkt inloggen niet meer op groenenzonen punt nl. "
        "Het is dringend, want klanten kunnen hun bestellingen niet zien. Terugbellen op +31 6 1234 5678.",
        "nl",
        card(
            problem="Sinds vanavond werkt inloggen niet meer op groenenzonen.nl",
            pages=("groenenzonen.nl",),
            urgency="Het is dringend, want klanten kunnen hun bestellingen niet zien",
            callback_number=MOBILE,
            language="nl",
        ),
        id="nl-plus31-written",
    ),
    pytest.param(
        "Hi, Jeroen here from Shopr. The checkout isn't working, payments fail with a timeout. Please call me back "
        "asap on 06 12 34 56 78. Thanks.",
        "en",
        card(
            problem="The checkout isn't working, payments fail with a timeout",
            urgency="Please call me back asap",
            callback_number=MOBILE,
            language="en",
        ),
        id="en-asap-is-the-only-urgency",
    ),
    pytest.param(
        "Goedenavond, met Eva. Ik wilde even vragen of jullie morgen open zijn. Groetjes.",
        "nl",
        card(language="nl"),
        id="nl-no-fault-no-number",
    ),
]


@pytest.mark.parametrize(("transcript", "language", "expected"), VOICEMAILS)
def test_a_voicemail_gives_its_card(transcript, language, expected):
    assert extract_card(transcript, language) == expected


def test_a_transcript_without_punctuation_still_gives_a_card():
    # Whisper sometimes writes a whole message as one lower-case sentence.
    found = extract_card(
        "goedenavond met peter van de bakkerij onze website doet het niet meer de bestelpagina geeft een error "
        "vijfhonderd kunt u mij terugbellen op nul zes een twee drie vier vijf zes zeven acht het is best dringend "
        "want morgen is het zaterdag"
    )
    # The name cannot be told from the problem without a comma; the rest can.
    assert found.problem is not None and found.problem.endswith(
        "onze website doet het niet meer de bestelpagina geeft een error vijfhonderd"
    )
    assert found.urgency == "Het is best dringend want morgen is het zaterdag"
    assert (found.callback_number, found.pages, found.language) == (MOBILE, ("/bestel",), "nl")


# --- call-back numbers ---------------------------------------------------------------------------

CALLBACK_NUMBERS = [
    ("Bel me terug op nul zes twaalf vierendertig zesenvijftig achtenzeventig.", MOBILE),
    ("Mijn nummer is nul zes, een twee drie vier, vijf zes zeven acht.", MOBILE),
    ("Mijn nummer is nul zes, één, twee, drie, vier, vijf, zes, zeven, acht.", MOBILE),
    ("My number is zero six one two three four five six seven eight.", MOBILE),
    ("Call me back on oh six twelve thirty-four fifty-six seventy-eight.", MOBILE),
    ("Reach me at zero six, double one, triple two, three four five.", "+31611222345"),
    ("Bel me op nul zes, dubbel een, driedubbel twee, drie vier vijf.", "+31611222345"),
    ("Mijn nummer is 06-12345678.", MOBILE),
    ("Mijn nummer is 06 123 456 78.", MOBILE),
    ("Bel me terug op +31 (0)6 1234 5678.", MOBILE),
    ("Bel me terug op 0031 6 12345678", MOBILE),
    ("Bel me terug op nul 6 12 34 56 78", MOBILE),
    ("Bel me terug op nul zes 1234 vijf zes 78.", MOBILE),
    ("Mijn nummer is zes twee... nee, nul zes 12345678.", MOBILE),
    ("U kunt mij terugbellen op nul dertig, twee drie vier, vijf zes, zeven acht.", "+31302345678"),
    ("Bel me terug op nul vijfhonderdachtenveertig, 12 34 56", "+31548123456"),
    ("mijn nul zes is twaalf vierendertig zesenvijftig achtenzeventig", MOBILE),
    ("Plus eenendertig zes, twaalf vierendertig, zesenvijftig achtenzeventig, dat is mijn mobiel.", MOBILE),
    ("Call me back on plus thirty-one six one two three four five six seven eight.", MOBILE),
    ("Mijn nummer is 06 123.", None),  # too short
    ("Bel me terug op nul zes een twee drie.", None),
    ("Ik heb geen nummer bij de hand, ik bel morgen wel terug.", None),
    ("Ik belde 0497 842611 maar niemand nam op.", None),  # the support line's own number
    ("Ik heb naar nul vier negen zeven, acht vier, twee zes, een een gebeld.", None),
    ("Bel me terug op 0497 842611, ik zit bij jullie op kantoor.", "+31497842611"),  # clearly given: taken
    ("Ik belde eerst 0612345678 maar bel me terug op 0687654321.", "+31687654321"),  # the cued one wins
    ("Mijn collega belde al vanaf 0201234567. Mijn nummer is 0687654321.", "+31687654321"),
    ("Foutcode 500, 0612345678.", MOBILE),  # no cue: any valid number; the error code is not part of it
    ("Order 1234 mislukt, ik ben bereikbaar op 0612345678.", MOBILE),
    ("Oh, and my number is zero six one two three four five six seven eight.", MOBILE),
    ("Kunt u mij op 06-12345678 terugbellen?", MOBILE),
    ("We zijn bereikbaar via nul zes, twaalf, vierendertig, zesenvijftig, achtenzeventig.", MOBILE),
    ("Bel me terug op 06-12345678.", MOBILE),  # Whisper's trailing dot
    ("BEL ME TERUG OP NUL ZES TWAALF VIERENDERTIG ZESENVIJFTIG ACHTENZEVENTIG", MOBILE),
    ("Mijn nummer is zes twaalf vierendertig", None),  # no leading 0: not a number we can dial
    ("Bel me op 06 12 34 56 78 of anders 06 87 65 43 21.", MOBILE),
]


@pytest.mark.parametrize(("transcript", "expected"), CALLBACK_NUMBERS)
def test_the_callback_number_is_read_from_speech(transcript, expected):
    assert extract_card(transcript).callback_number == expected


def test_another_support_number_is_passed_over_too():
    transcript = "Ik belde 020 123 4567 maar kreeg niemand."
    assert extract_card(transcript).callback_number == "+31201234567"
    assert extract_card(transcript, support_numbers=["020-1234567"]).callback_number is None


@pytest.mark.parametrize(
    ("word", "value"),
    [("nul", 0), ("een", 1), ("twaalf", 12), ("twintig", 20), ("eenentwintig", 21), ("tweeentwintig", 22),
     ("vierendertig", 34), ("negenennegentig", 99), ("honderd", 100), ("achthonderd", 800),
     ("vijfhonderdtwintig", 520), ("honderdeneen", 101), ("tafel", None), ("en", None), ("nulentwintig", None)],
)  # fmt: skip
def test_dutch_number_words(word, value):
    assert dutch_number(word) == value


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [("nul zes, dubbel vijf", "0655"), ("triple seven", "777"), ("tweeëntwintig", "22"), ("vier en dertig", "34"),
     ("Eén", ""), ("één twee", "12"), ("eight hundred", "800"), ("acht honderd", "800"), ("a hundred", "100"), ("nul achthonderd", "0800"), ("een foutmelding", ""),
     ("oh six", "06"), ("Oh-six", "06"), ("Oh, well", ""), ("thirty four", "34")],
)  # fmt: skip
def test_spoken_digits(spoken, digits):
    assert read_digits(spoken) == digits


def test_two_numbers_in_one_breath_are_two_numbers():
    mentions = phone_numbers("06-12345678, 06-87654321")
    assert [m.e164 for m in mentions] == [MOBILE, "+31687654321"]


# --- pages -----------------------------------------------------------------------------------------

PAGES = [
    ("www punt webshop punt nl slash checkout", ("www.webshop.nl/checkout",)),
    ("Het werkt niet op webshop.nl/afrekenen.", ("webshop.nl/afrekenen",)),
    ("Op Webshop.NL gaat het mis", ("webshop.nl",)),
    ("de pagina checkout laadt niet", ("/checkout",)),
    ("on the checkout page we get an error", ("/checkout",)),
    ("slash account slash orders geeft een 404", ("/account/orders",)),
    ("https://www.Shop.NL/Checkout?step=2, daar gaat het mis", ("www.shop.nl/Checkout?step=2",)),
    ("bakker punt com en bakker dot co dot uk", ("bakker.com", "bakker.co.uk")),
    ("h t t p s dubbele punt slash slash www punt bakker punt nl", ("www.bakker.nl",)),
    ("www. webshop. nl werkt niet", ("www.webshop.nl",)),  # Whisper wrote the spoken dots as ". "
    ("Het werkt niet. De checkout ook niet.", ()),  # ". De" ends a sentence, it is no .de domain
    ("de afrekenpagina en de homepage", ("/afreken", "/")),
    ("bakker streepje zonen punt nl", ("bakker-zonen.nl",)),
    ("www punt shop punt nl slash checkout, de checkout pagina werkt niet", ("www.shop.nl/checkout",)),
    ("we get a blank page on the login page", ("/login",)),
    ("de pagina laadt niet en dat is het punt", ()),
    ("mail naar jan apenstaartje bakker punt nl of jan@bakker.nl", ()),
    ("shop.nl, Shop.nl en shop punt nl", ("shop.nl",)),
    ("en/of 24/7 bereikbaar, versie 2 punt 0", ()),
    ("https://192.168.1.10/admin) geeft een fout", ("192.168.1.10/admin",)),
]


@pytest.mark.parametrize(("transcript", "expected"), PAGES)
def test_pages_and_urls_mentioned(transcript, expected):
    assert find_pages(transcript) == expected
    assert extract_card(transcript).pages == expected


# --- problem, urgency, language --------------------------------------------------------------------

PROBLEMS = [
    ("Goedenavond, met Jan van Dijk, onze webshop werkt niet.", "Onze webshop werkt niet"),
    ("Goedenavond met Jan van Dijk en onze webshop werkt niet.", "Onze webshop werkt niet"),
    ("Hallo. De site geeft een foutmelding bij het inloggen.", "De site geeft een foutmelding bij het inloggen"),
    ("Ik kan niet inloggen op de beheeromgeving.", "Ik kan niet inloggen op de beheeromgeving"),
    ("Hi, I'm calling because the shop is down.", "The shop is down"),
    ("Hello, we get an error when we try to pay.", "We get an error when we try to pay"),
    ("Hello, the API doesn't work since ten o'clock.", "The API doesn't work since ten o'clock"),
    ("My number is 0612345678 and the checkout is broken.", "The checkout is broken"),
    ("De site ligt plat, bel me terug op 0612345678.", "De site ligt plat"),
    ("Geen probleem verder, tot morgen.", None),
    ("Thanks, no problem, bye.", None),
]


@pytest.mark.parametrize(("transcript", "expected"), PROBLEMS)
def test_the_problem_is_a_summary_line(transcript, expected):
    assert extract_card(transcript).problem == expected


def test_a_long_problem_is_cut_at_a_word():
    transcript = "De checkout werkt niet " + "en ook de zoekfunctie en het account " * 10 + "."
    problem = extract_card(transcript).problem
    assert problem is not None and len(problem) <= 120 and problem.endswith("…")
    assert problem.startswith("De checkout werkt niet en ook de zoekfunctie")


URGENCIES = [
    ("Het is dringend omdat we een campagne hebben lopen.", "Het is dringend omdat we een campagne hebben lopen"),
    ("Het is dringend, want klanten kunnen niet betalen.", "Het is dringend, want klanten kunnen niet betalen"),
    ("De checkout werkt niet en klanten kunnen niet betalen.", "Klanten kunnen niet betalen"),
    ("We lopen veel omzet mis.", "We lopen veel omzet mis"),
    ("It's urgent because customers cannot pay.", "It's urgent because customers cannot pay"),
    ("We're losing money, please hurry.", "We're losing money"),
    ("The site is down. Our campaign started at eight.", "Our campaign started at eight"),
    ("De site is traag.", None),
]


@pytest.mark.parametrize(("transcript", "expected"), URGENCIES)
def test_why_it_is_urgent_in_the_callers_words(transcript, expected):
    assert extract_card(transcript).urgency == expected


LANGUAGES = [
    ("De webshop werkt niet, bel me terug.", None, "nl"),
    ("The webshop is down, please call me back.", None, "en"),
    ("De webshop werkt niet, bel me terug.", "en", "en"),  # the transcriber knows what it decoded
    ("De webshop werkt niet, bel me terug.", "af", "nl"),  # Whisper taking Dutch for Afrikaans
    ("De webshop werkt niet, bel me terug.", "NL", "nl"),
    ("Checkout error 500.", None, None),  # too few words to tell
    ("Xqzt brmbl.", "nl", None),  # nonsense: no tag, whatever the transcriber chose
]


@pytest.mark.parametrize(("transcript", "given", "expected"), LANGUAGES)
def test_the_language(transcript, given, expected):
    assert extract_card(transcript, given).language == expected


@pytest.mark.parametrize(
    "transcript",
    ["", "   \n\t ", "[no speech]", "[BLANK_AUDIO]", " [Muziek] ", "*music*", "(geen spraak)", "...",
     "Ondertiteld door de Amara.org gemeenschap", "Bedankt voor het kijken!", "Thanks for watching!"],
)  # fmt: skip
def test_no_speech_gives_an_empty_card(transcript):
    assert extract_card(transcript, "nl") == EMPTY


# --- properties --------------------------------------------------------------------------------------

NL_DIGITS = ["nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen"]
EN_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
spoken_digit = st.integers(0, 9).flatmap(
    lambda d: st.tuples(st.just(str(d)), st.sampled_from([NL_DIGITS[d], EN_DIGITS[d], str(d), NL_DIGITS[d].upper()]))
)
separator = st.sampled_from([" ", ", ", " - ", " eh "])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_card_whose_number_is_valid(text):
    found = extract_card(text)
    assert isinstance(found, IncidentCard)
    if found.callback_number is not None:
        assert normalise(found.callback_number) == found.callback_number


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["nul", "zes", "twaalf", "punt", "nl", "slash", "dubbel", "double", "oh", "06",
                                 "werkt", "niet", "bel", "me", "terug", "op", ",", ".", "+31", "12345678", "een"]),
                max_size=40))  # fmt: skip
def test_word_salad_of_our_own_cues_never_breaks_the_card(words):
    found = extract_card(" ".join(words))
    if found.callback_number is not None:
        assert normalise(found.callback_number) == found.callback_number
    assert all(page for page in found.pages)


@settings(max_examples=200, deadline=None)
@given(st.lists(spoken_digit, min_size=2, max_size=15), separator)
def test_a_number_spelled_digit_by_digit_is_read_back(digits, sep):
    # From two digits on: a lone "een" is the article "a", not a digit.
    spoken = sep.join(word for _, word in digits)
    assert read_digits(spoken) == "".join(d for d, _ in digits)


@settings(max_examples=100, deadline=None)
@given(st.lists(spoken_digit, min_size=8, max_size=8), separator, st.sampled_from(["Bel me terug op", "My number is"]))
def test_a_mobile_spelled_after_a_cue_is_the_callback_number(digits, sep, cue):
    spoken = sep.join(["nul", "zes", *(word for _, word in digits)])
    number = "06" + "".join(d for d, _ in digits)
    assume(phonenumbers.is_valid_number(phonenumbers.parse(number, "NL")))
    assert extract_card(f"De site ligt plat. {cue} {spoken}. Bedankt!").callback_number == normalise(number)


@pytest.mark.parametrize(
    "text",
    ["a-" * 20000, "www." * 10000, "x. " * 10000, "nul " * 8000, "0612345678 " * 3000, "bel me " * 5000,
     "punt " * 8000, "a streepje " * 8000],
)  # fmt: skip
def test_long_repetitive_text_is_read_in_bounded_time(text):
    # Rules that try every start against every end would take minutes here.
    started = time.perf_counter()
    extract_card(text)
    assert time.perf_counter() - started < 5
