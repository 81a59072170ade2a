"""The countries WhatsApp does not let businesses talk to, by calling code: a contact
whose WhatsApp number starts with one is refused at intake (docs/channels/whatsapp.md).
It is the number that counts, not where the contact is."""

from __future__ import annotations

from typing import Final

BLOCKED: Final[dict[str, str]] = {
    "53": "Cuba",
    "98": "Iran",
    "850": "North Korea",
    "963": "Syria",
    "7978": "Crimea",
}


def blocked_country(wa_id: str) -> str | None:
    """The blocked country of a WhatsApp id (digits, no "+"), or None."""
    digits = wa_id.removeprefix("+")
    for prefix, country in BLOCKED.items():
        if digits.startswith(prefix):
            return country
    return None
