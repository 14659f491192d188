"""Phone numbers as trunks and people write them, normalised to E.164."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.phone import InvalidPhoneNumber, normalise, support_number_forms


@pytest.mark.parametrize(
    "written",
    ["0612345678", "+31612345678", "0031612345678", "31612345678", "06 1234 5678", "06-12345678", "+31 6 12 34 56 78"],
)
def test_every_way_of_writing_a_dutch_mobile_gives_one_e164(written):
    assert normalise(written) == "+31612345678"


def test_a_trunks_international_form_of_a_foreign_number_is_understood():
    assert normalise("4915112345678") == "+4915112345678"


def test_a_national_number_is_read_in_the_given_country():
    assert normalise("030 1234567", country="DE") == "+49301234567"


@pytest.mark.parametrize("bad", ["0497-84x", "", "anonymous", "123", "+31 6 1234", "++31612345678"])
def test_an_invalid_number_is_refused_naming_the_value_and_the_field(bad):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise(bad, field="customers[3].phone")
    assert caught.value.value == bad
    assert caught.value.field == "customers[3].phone"
    assert str(caught.value).startswith(f"customers[3].phone: {bad!r}: ")


def test_an_invalid_number_without_a_field_names_the_value():
    with pytest.raises(InvalidPhoneNumber, match="'0497-84x'"):
        normalise("0497-84x")


def test_support_number_forms_are_national_international_e164_and_00_in_that_order():
    assert support_number_forms("0497842611", "NL") == ["0497842611", "31497842611", "+31497842611", "0031497842611"]


@pytest.mark.parametrize("written", ["0497842611", "+31497842611", "0031497842611", "31497842611", "0497 84 26 11"])
def test_support_number_forms_do_not_depend_on_how_the_number_is_written(written):
    assert support_number_forms(written, "NL") == ["0497842611", "31497842611", "+31497842611", "0031497842611"]


def test_a_support_number_of_another_country_has_no_national_form():
    assert support_number_forms("+4930123456", "NL") == ["4930123456", "+4930123456", "004930123456"]


# --- properties -------------------------------------------------------------------------------

COUNTRIES = ["NL", "BE", "DE", "GB", "FR", "US"]
KINDS = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]


@st.composite
def valid_numbers(draw) -> tuple[str, str]:
    """(country, E.164) of a valid number: an example number of the country with its last
    digits replaced."""
    country = draw(st.sampled_from(COUNTRIES))
    example = phonenumbers.example_number_for_type(country, draw(st.sampled_from(KINDS)))
    national = str(example.national_number)
    tail = draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
    candidate = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}")
    assume(phonenumbers.is_valid_number(candidate))
    return country, phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)


@given(valid_numbers())
def test_normalise_is_idempotent_on_its_output(number):
    country, e164 = number
    once = normalise(e164, country)
    assert normalise(once, country) == once == e164


@given(valid_numbers())
def test_every_support_number_form_normalises_to_the_same_e164(number):
    country, e164 = number
    forms = support_number_forms(e164, country)
    assert e164 in forms
    assert {normalise(form, country) for form in forms} == {e164}


@given(valid_numbers(), st.lists(st.sampled_from([" ", "-"]), min_size=0, max_size=3), st.data())
def test_spaces_and_dashes_anywhere_do_not_change_the_number(number, separators, data):
    country, e164 = number
    written = e164
    for separator in separators:
        position = data.draw(st.integers(min_value=1, max_value=len(written) - 1))
        written = written[:position] + separator + written[position:]
    assert normalise(written, country) == e164


@given(st.text(alphabet="0123456789+ -()x", max_size=20), st.sampled_from(COUNTRIES))
def test_any_input_gives_a_valid_e164_or_invalid_phone_number(text, country):
    try:
        result = normalise(text, country)
    except InvalidPhoneNumber as exc:
        assert exc.value == text
        return
    assert result.startswith("+") and result[1:].isdigit()
    assert normalise(result, country) == result
