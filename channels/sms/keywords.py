"""SMS keywords: opt-out, opt-in and help, as data and one pure function.

A message is a keyword only when it is that single word: case does not matter, and
spaces, punctuation and symbols around it are ignored ("Stop.", " STOP! "), but "STOP PLEASE"
and "PLEASE CANCEL" are ordinary messages (docs/channels/sms.md).
"""

from __future__ import annotations

import unicodedata
from typing import Final, Literal

Keyword = Literal["opt_out", "opt_in", "help"]

KEYWORDS: Final[dict[str, Keyword]] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "opt_out"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "opt_in"),
    "HELP": "help",
}

# The standard replies (the carriers' wording, for every SMS number of the gateway).
REPLIES: Final[dict[Keyword, str]] = {
    "opt_out": (
        "You have successfully been unsubscribed. You will not receive any more messages"
        " from us. Reply START to resubscribe."
    ),
    "opt_in": (
        "You have successfully been re-subscribed to messages from us. Reply HELP for help."
        " Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    ),
    "help": "Reply STOP to unsubscribe, START to resubscribe. Msg&Data Rates May Apply.",
}


def _ignored(ch: str) -> bool:
    """Spaces, punctuation and symbols around the word (any script's: "STOP!", "¡stop!",
    "STOP 🙏")."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PS"


def keyword(body: str) -> Keyword | None:
    """The keyword this message is, if it is one."""
    start, end = 0, len(body)
    while start < end and _ignored(body[start]):
        start += 1
    while end > start and _ignored(body[end - 1]):
        end -= 1
    word = body[start:end]
    # ASCII only: a look-alike letter (a long s, a Cyrillic o) is not the keyword.
    if not word.isascii() or not word.isalpha():
        return None
    return KEYWORDS.get(word.upper())
