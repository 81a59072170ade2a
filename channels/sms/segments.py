"""How many SMS segments a text takes (docs/channels/sms.md, "Segments").

A text that fits the GSM-7 alphabet is 7-bit: 160 characters in one segment, 153 per
segment once split (the rest carries the concatenation header); the extension
characters (``^{}\\[~]|€`` and form feed) take two. Any other character makes the whole
text UCS-2: 70 UTF-16 units in one segment, 67 per segment once split. A two-unit
character (an escape pair, a surrogate pair) is never split across segments.
gateway/web/static/console/channels.js counts the same way (a test runs both).
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")
Encoding = Literal["GSM-7", "UCS-2"]
LIMITS: Final[dict[str, tuple[int, int]]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


class SegmentCount(msgspec.Struct, frozen=True):
    encoding: Encoding
    # septets (GSM-7) or UTF-16 units (UCS-2)
    units: int
    segments: int


def _units(text: str) -> tuple[Encoding, list[int]]:
    """The encoding, and the units each character takes in it."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return "GSM-7", [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count(text: str) -> SegmentCount:
    encoding, sizes = _units(text)
    single, part = LIMITS[encoding]
    units = sum(sizes)
    if units == 0:
        return SegmentCount(encoding, 0, 0)
    if units <= single:
        return SegmentCount(encoding, units, 1)
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return SegmentCount(encoding, units, segments)
