"""Work that runs on one node at a time (a mailbox's IMAP task, ...): each piece holds
its own lease, as the router does (gateway/cluster/lease.py), under
``gw:lease:<name>``. On a single node (no Redis) every piece runs here at once.

Whoever holds a piece is told (``on_elected``) and told again when it loses it
(``on_deposed``: a Redis outage past the lease, a drain); another node takes it within
the lease time after a node dies. :meth:`Held.valid` is the fence a holder checks before
it commits: a holder whose lease may have lapsed must not write.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gateway.cluster.lease import Leadership

if TYPE_CHECKING:  # Redis is imported only when configured (gateway/app.py)
    import redis.asyncio as aioredis

Callback = Callable[[], Awaitable[None]]


class Held:
    """One piece of exclusive work, held or waited for."""

    def __init__(self, name: str, leadership: Leadership | None, on_deposed: Callback) -> None:
        self.name = name
        self._leadership = leadership
        self.on_deposed = on_deposed

    def valid(self) -> bool:
        """Whether this node certainly holds it now (the fence before a commit)."""
        return self._leadership is None or self._leadership.is_leader


class Exclusive:
    def __init__(self, redis: aioredis.Redis | None, node_id: str, lease: float) -> None:
        self._redis = redis
        self._node_id = node_id
        self._lease = lease
        self._held: dict[str, Held] = {}

    async def hold(self, name: str, on_elected: Callback, on_deposed: Callback) -> Held:
        """Compete for ``name``. ``on_elected`` (which starts the work and returns) runs
        when this node gets it, ``on_deposed`` (which stops it) when it loses it or
        :meth:`release` gives it up."""
        await self.release(name)
        if self._redis is None:
            held = Held(name, None, on_deposed)
            self._held[name] = held
            await on_elected()
            return held

        async def elected(_fence: int) -> None:
            await on_elected()

        leadership = Leadership(
            self._redis,
            self._node_id,
            self._lease,
            elected,
            on_deposed,
            key=f"gw:lease:{name}",
            fence_key=f"gw:fence:{name}",
            what=name,
            level=logging.INFO,  # one line per mailbox and node: not a warning
        )
        held = Held(name, leadership, on_deposed)
        self._held[name] = held
        await leadership.start()
        return held

    async def release(self, name: str) -> None:
        """Stop competing; a node holding it stops the work and gives the lease up."""
        held = self._held.pop(name, None)
        if held is None:
            return
        holding = held.valid()
        if held._leadership is not None:
            await held._leadership.stop()
        if holding:
            await held.on_deposed()

    def names(self) -> list[str]:
        return sorted(self._held)

    async def stop(self) -> None:
        for name in list(self._held):
            await self.release(name)
