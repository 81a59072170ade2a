"""Sites refused a touchpoint's chat, kept for the admin to read ("why does my snippet
show nothing?"): the chat channel reports each refusal, and this writes it to the store
at most once a minute per touchpoint and origin on each node, so a flood of refused
requests costs no more than a few writes."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from gateway.errors import GatewayError
from gateway.model.records import EmbedRefusal, RefusalCode
from gateway.ports.store.base import Store

log = logging.getLogger("gateway.refusals")

EVERY = 60.0  # seconds between two writes for one touchpoint and origin, per node
REMEMBERED = 10_000  # (touchpoint, origin) pairs whose last write this node remembers


def without_query(url: str) -> str:
    """A page URL without its query and fragment (they may carry personal data)."""
    try:
        parts = urlsplit(url[:2000])
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
                page_url=without_query(page_url),
                code=code,
                reason=reason[:500],
                now=now,
            )
        except GatewayError as exc:  # an unknown touchpoint, the store away
            log.info("refusal of %s for %s not recorded: %s", key[1], touchpoint_id, exc)

    async def recent(self, touchpoint_id: str) -> list[EmbedRefusal]:
        return await self._store.list_refusals(touchpoint_id)
