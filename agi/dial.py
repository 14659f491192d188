"""How the dialplan's `Dial()` reaches an engineer's contact, and back.

The same rule as the ARI app's (`ari_app.ringing.dial_string`, kept equal by a test): a SIP
URI through the `engineer-phone` endpoint, an E.164 number over the trunk, which only exists
when `pbx.trunk_contact` is set. Several targets are joined with `&`, as `Dial()` takes them.
"""

from __future__ import annotations

from core.roster import E164, ContactToRing

ENGINEER_ENDPOINT = "engineer-phone"
TRUNK_ENDPOINT = "trunk"


def dial_string(contact: ContactToRing, *, trunk_available: bool) -> str | None:
    """`PJSIP/engineer-phone/<sip uri>` or `PJSIP/<e164>@trunk`; None when the contact cannot
    be reached (an external number without a trunk)."""
    if contact.contact.kind == "sip":
        return f"PJSIP/{ENGINEER_ENDPOINT}/{contact.contact.address}"
    return (
        f"PJSIP/{contact.contact.address}@{TRUNK_ENDPOINT}" if trunk_available else None
    )


def contact_of(target: str) -> str | None:
    """The contact address (SIP URI or E.164 number) in one dial target, as `dial_string`
    writes it or as Asterisk's DIALEDPEERNUMBER gives it (without `PJSIP/`); a bare address
    is taken as it is. None when `target` is none of these."""
    target = target.strip()
    if target.upper().startswith("PJSIP/"):
        target = target[len("PJSIP/") :]
    if target.startswith(f"{ENGINEER_ENDPOINT}/"):
        target = target[len(ENGINEER_ENDPOINT) + 1 :]
    elif target.endswith(f"@{TRUNK_ENDPOINT}"):
        target = target[: -len(TRUNK_ENDPOINT) - 1]
    if target.lower().startswith(("sip:", "sips:")) and len(target) > 4:
        return target
    return target if E164.fullmatch(target) else None


def contacts_in(dial: str) -> list[str]:
    """The contacts of a `&`-joined dial string, in order; ValueError naming the first target
    that is not one of ours."""
    contacts = []
    for target in dial.split("&"):
        contact = contact_of(target)
        if contact is None:
            raise ValueError(
                f"dial target {target.strip()[:80]!r} is not one of nachtdienst's"
            )
        contacts.append(contact)
    return contacts
