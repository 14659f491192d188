"""Phone numbers: every form a trunk or a person writes, normalised to E.164."""

from __future__ import annotations

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be a real one; names the value and where it came from."""

    def __init__(self, value: str, field: str | None = None, reason: str = "not a valid phone number"):
        self.value = value
        self.field = field
        where = f" in {field}" if field else ""
        super().__init__(f"{value!r}{where}: {reason}")


def normalise(number: str, country: str = "NL", field: str | None = None) -> str:
    """E.164 (`+31612345678`) for national (`0612345678`), `+31…`, `0031…` and the bare
    international form (`31612345678`) some trunks send. Raises InvalidPhoneNumber."""
    raw = number
    cleaned = "".join(ch for ch in number.strip() if ch not in " -./()")
    if not cleaned or not cleaned.lstrip("+").isdigit():
        raise InvalidPhoneNumber(raw, field, "only digits, spaces, dashes and a leading + are allowed")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    candidates = [cleaned]
    if not cleaned.startswith("+") and not cleaned.startswith("0"):
        candidates.insert(0, "+" + cleaned)  # a trunk's international form without the plus
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhoneNumber(raw, field)


def support_number_forms(number: str, country: str = "NL") -> list[str]:
    """Every form a trunk may send for `number`: national, international without and with
    `+`, and with `00`. For 0497842611: 0497842611, 31497842611, +31497842611, 0031497842611."""
    e164 = normalise(number, country, field="support_number")
    parsed = phonenumbers.parse(e164)
    national = None
    if phonenumbers.region_code_for_number(parsed) == country:
        written = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        national = "".join(ch for ch in written if ch.isdigit())
    international = e164[1:]
    forms = [national, international, e164, "00" + international]
    return [form for form in dict.fromkeys(forms) if form]
