"""Cursors of the admin API's newest-first lists (notices, a webhook's or a bot's
events, ratings): an opaque token that carries the sort key of the last row a page
showed, so the next page starts right after it however many rows share a timestamp
(docs/admin-api.md, "list paging").

The token is URL-safe base64 of a JSON array; clients pass it back unchanged. Nothing in
it is secret or trusted: a token that does not decode into the expected key is a 422 on
the field ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated

import msgspec

from gateway.errors import InvalidInput

Cursor = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=512,
        description="the `cursor` of the last item of the previous page: the items after it",
    ),
]

BAD_CURSOR = "not a cursor this list gave: pass an item's `cursor` (or `next_cursor`) unchanged"


def encode(*key: float | int | str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def _decode(token: str) -> list[object]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput([("cursor", BAD_CURSOR)]) from None
    if not isinstance(value, list):
        raise InvalidInput([("cursor", BAD_CURSOR)])
    return value


def time_and_id(token: str) -> tuple[float, str]:
    """A (created_at, id) cursor."""
    value = _decode(token)
    match value:
        case [int() | float() as at, str() as key] if _time(at) and "\x00" not in key:
            return float(at), key
    raise InvalidInput([("cursor", BAD_CURSOR)])


def number(token: str) -> int:
    """A cursor of one integer (an outbox event's ``n``)."""
    value = _decode(token)
    match value:
        case [int() as n] if not isinstance(n, bool) and 0 <= n < 2**63:
            return n
    raise InvalidInput([("cursor", BAD_CURSOR)])


def _time(at: float) -> bool:
    return not isinstance(at, bool) and math.isfinite(at) and abs(at) < 2**53
