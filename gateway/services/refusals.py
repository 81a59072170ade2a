"""Sites refused a touchpoint's chat, kept for the admin to read ("why does my snippet
show nothing?"): the chat channel reports each refusal, and this writes it to the store
at most once a minute per touchpoint and origin on each node, so a flood of refused
requests costs no more than a few writes."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from gateway.errors import GatewayError
from gateway.model.records import EmbedRefusal, RefusalCode
from gateway.ports.store.base import Store

log = logging.getLogger("gateway.refusals")

EVERY = 60.0  # seconds between two writes for one touchpoint and origin, per node
REMEMBERED = 10_000  # (touchpoint, origin) pairs whose last write this node remembers


# Where a URL's authority starts and ends, as browsers read http(s) URLs: after the
# scheme and any run of "/" and "\\" (https:/h, https:///h and https:\\h are https://h
# to them), up to the next one.
_AUTHORITY_START_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[/\\]*")
_AUTHORITY_END_RE: Final = re.compile(r"[/\\]")


def redact_url(url: str) -> str:
    """``url`` without its query, fragment and user information: what may be quoted in a
    reason or stored of a page URL (those parts may carry personal data or a password).

    Read as a browser reads an http(s) URL, and done on the text, so it works on URLs
    that cannot be parsed too: cut at the first ``?`` or ``#``; the authority ends at the
    first ``/`` or ``\\``, and its host follows the last ``@``.
    """
    url = re.split(r"[?#]", url, maxsplit=1)[0]
    m = _AUTHORITY_START_RE.match(url)
    start = m.end() if m else 0
    end = _AUTHORITY_END_RE.search(url, start)
    stop = end.start() if end else len(url)
    authority = url[start:stop]
    if "@" in authority:
        url = url[:start] + authority.rpartition("@")[2] + url[stop:]
    return url


def kept_page(url: str) -> str:
    """A page URL as a refusal keeps it: without its query, fragment and user information
    (they may carry personal data or a password)."""
    try:
        parts = urlsplit(redact_url(url)[:2000])
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class EmbedRefusals:
    def __init__(self, store: Store, clock: Callable[[], float], every: float = EVERY) -> None:
        self._store = store
        self._clock = clock
        self._every = every
        self._written: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def record(
        self, touchpoint_id: str, origin: str, page_url: str, code: RefusalCode, reason: str
    ) -> None:
        """Note a refusal; never fails the request that was refused."""
        now = self._clock()
        key = (touchpoint_id, origin[:300])
        last = self._written.get(key)
        if last is not None and now - last < self._every:
            return
        self._written[key] = now
        self._written.move_to_end(key)
        while len(self._written) > REMEMBERED:
            self._written.popitem(last=False)
        try:
            await self._store.record_refusal(
                touchpoint_id,
                key[1],
                page_url=kept_page(page_url),
                code=code,
                reason=reason[:500],
                now=now,
            )
        except GatewayError as exc:  # an unknown touchpoint, the store away
            log.info("refusal of %s for %s not recorded: %s", key[1], touchpoint_id, exc)

    async def recent(self, touchpoint_id: str) -> list[EmbedRefusal]:
        return await self._store.list_refusals(touchpoint_id)
