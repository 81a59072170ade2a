"""Text shown to people: what the gateway strips from names and messages before it stores
them (docs/security.md, "Text shown to people").

Control characters (C0 but tab and newline, DEL, C1) and the bidirectional formatting
characters that reorder what follows them (embeddings, overrides, isolates: U+202A-U+202E,
U+2066-U+2069) are removed: ``"\\u202egnp.exe"`` would otherwise show as "exe.png" in a
console. The marks U+200E/U+200F stay (they reorder nothing beyond one neutral
character). Names are one line: tabs and newlines become spaces there; and a name with
nothing visible (only white space, format characters such as U+200B, or other characters
that show as nothing) is no name: ``""``, which every caller refuses or leaves out as it
does an empty one. A name with anything visible keeps its joiners (ZWJ in an emoji
sequence, ZWNJ in a Persian word).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sized

from gateway.errors import ProtocolError

# C0 except \t and \n; \r; DEL; C1; bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]+")


def clean_text(text: str) -> str:
    """A message body as it is stored and shown: without control or bidi formatting
    characters (line breaks and tabs kept)."""
    if text.isascii() and text.isprintable():
        return text  # printable ASCII holds none of them (most messages: no regex)
    return _UNSAFE.sub("", text)


# Shown as nothing, but not white space nor of category Cf: the rest of Unicode's
# Default_Ignorable_Code_Point (combining grapheme joiner, Hangul fillers, Khmer
# inherent vowels, Mongolian and other variation selectors), and the blank braille cell.
_BLANK = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def _visible(ch: str) -> bool:
    return not (ch.isspace() or ch in _BLANK or unicodedata.category(ch) == "Cf")


def clean_name(text: str) -> str:
    """A display name: one line, without control or bidi formatting characters; ``""``
    when nothing in it would show (white space, U+200B and the other format characters,
    variation selectors, fillers): a blank name whatever it is made of."""
    name = _LINE_BREAKS.sub(" ", _UNSAFE.sub("", text)).strip()
    # any() stops at the first visible character: the first, for nearly every name
    return name if any(map(_visible, name)) else ""


def require_content(body: str, attachments: Sized) -> None:
    """ProtocolError for a message with neither words (white space is none) nor files:
    the same rule for the contact's and the agent's."""
    if (not body or body.isspace()) and not attachments:
        raise ProtocolError("a message needs a body or files", code="invalid_field")
