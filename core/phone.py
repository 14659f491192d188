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
    # Bare digits are first read as the country's own numbers (phonenumbers also strips the
    # country's calling code, so 31612345678 works); only then as international without `+`
    # (4915112345678 from a trunk is a German mobile, not a malformed Dutch number).
    candidates = [cleaned] if cleaned.startswith(("+", "0")) else [cleaned, "+" + cleaned]
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhoneNumber(number, field)


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
