"""Phone numbers: every form a trunk or a person writes, normalised to E.164."""

from __future__ import annotations

import phonenumbers

# Written between digit groups by people; never part of the number.
SEPARATORS = " -./()\t"


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be a real one; names the value and where it came from."""

    def __init__(self, value: str, field: str | None = None, reason: str = "not a valid phone number"):
        self.value = value
        self.field = field
        self.reason = reason
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{value!r}: {reason}")


def normalise(number: str, country: str = "NL", field: str | None = None) -> str:
    """E.164 (`+31612345678`) for national (`0612345678`), `+31…`, `0031…` and the bare
    international form (`31612345678`) some trunks send, with or without spaces and dashes.

    `country` decides what a national number means; `field` names where the value came
    from in the error. Raises InvalidPhoneNumber for anything that is not a valid number."""
    cleaned = "".join(ch for ch in number.strip() if ch not in SEPARATORS)
    if not cleaned or not cleaned.lstrip("+").isdigit() or cleaned.count("+") > 1:
        raise InvalidPhoneNumber(number, field, "not a phone number (only digits, spaces, dashes and a leading + are allowed)")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    candidates = [cleaned] if cleaned.startswith(("+", "0")) else _bare_digit_readings(cleaned, country)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhoneNumber(number, field)


def _bare_digit_readings(digits: str, country: str) -> list[str]:
    # Digits without `0` or `+` are either international without the `+` (as trunks send:
    # 31612345678, or 4915112345678 for a German mobile) or, rarely, a national number
    # without its trunk prefix. Starting with the country's own calling code decides for
    # international: in a country with numbers of varying length (Germany) both readings
    # can be valid, and a trunk's form is the one that occurs.
    international = "+" + digits
    if digits.startswith(str(phonenumbers.country_code_for_region(country))):
        return [international, digits]
    return [digits, international]


def support_number_forms(number: str, country: str = "NL") -> list[str]:
    """Every form a trunk may send for `number`, in this order: national, international
    without `+`, E.164, and with `00`. For 0497842611: 0497842611, 31497842611,
    +31497842611, 0031497842611. A number of another country has no national form here."""
    e164 = normalise(number, country, field="support_number")
    parsed = phonenumbers.parse(e164)
    national = None
    if phonenumbers.region_code_for_number(parsed) == country:
        written = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        national = "".join(ch for ch in written if ch.isdigit())
    international = e164[1:]
    forms = [national, international, e164, "00" + international]
    return [form for form in dict.fromkeys(forms) if form]
