"""Whether a conversation may carry MMS (attachments): only when both the touchpoint's
number and the contact's are of the United States, Canada or Australia."""

from __future__ import annotations

from typing import Final

import phonenumbers

MMS_REGIONS: Final = frozenset({"US", "CA", "AU"})


def region(number: str) -> str:
    """The region of an E.164 number ("" when it is not a valid number)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return phonenumbers.region_code_for_number(parsed) or ""


def mms_refusal(touchpoint_number: str, contact_number: str) -> str:
    """Why attachments are disabled on this conversation, or "" when they are not."""
    for whose, number in (
        ("this touchpoint's", touchpoint_number),
        ("the contact's", contact_number),
    ):
        where = region(number)
        if where not in MMS_REGIONS:
            return f"MMS needs US, CA or AU numbers on both sides; {whose} number is " + (
                f"from {where}" if where else "not a valid phone number"
            )
    return ""


def e164(number: str) -> str | None:
    """The number in E.164 form, or None when it is not a valid phone number."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
