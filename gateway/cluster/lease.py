"""The router lease: one leader at a time, with a fencing token.

The router runs on exactly one node at a time, the **leader**, which holds a lease in
Redis (``gw:router:lease``, renewed every third of its life). Taking the lease also
increments ``gw:router:fence``: the **fencing token** of that leadership. A leader acts
only while its lease is certainly valid (renewed less than 80% of a lease ago);
otherwise events are refused as retryable. When the leader dies, its lease expires and
another node takes it within the lease time (docs/scaling.md).

Every call to Redis here is bounded by a third of the lease (``_call``): a Redis that
stops answering (paused, a network that drops packets) held a renewal in its await for
good, so the node was never deposed and never took the lease again once Redis was back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gateway.aio import cancel_and_wait

if TYPE_CHECKING:  # Redis is imported only when configured (gateway/app.py)
    import redis.asyncio as aioredis

log = logging.getLogger("gateway.cluster")

LEASE_KEY = "gw:router:lease"
FENCE_KEY = "gw:router:fence"


# A Redis restarted empty has lost the counter, whose INCR would start again at 1: a new
# leadership must still get a token above every one before it, or followers cannot tell
# its log from the last one's. So a missing counter starts again at Redis's clock in
# milliseconds: the lost one started so too, and went up by one an election, far fewer
# than the milliseconds since (a counter from before this seed was small). ARGV[3], the
# highest token the node has seen, is a floor besides (a Redis whose clock went back).
# TIME before a write is allowed: scripts replicate their effects (Redis 5 and later).
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    local now = redis.call('TIME')  -- seconds, microseconds: as text, milliseconds
    redis.call('SET', KEYS[2], now[1] .. string.format('%03d', math.floor(now[2] / 1000)))
  end
  local fence = redis.call('INCR', KEYS[2])
  local floor = tonumber(ARGV[3])
  if fence <= floor then
    fence = floor + 1
    redis.call('SET', KEYS[2], fence)
  end
  return fence
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leadership:
    """Holds or waits for the router lease; calls back when elected or deposed. The
    callbacks are awaited in the loop that renews the lease, so they must return soon:
    slow work (the router's rebuild) goes in a task of its own, or the lease expires
    meanwhile and another node takes it."""

    def __init__(
        self,
        client: aioredis.Redis,
        node_id: str,
        lease: float,
        on_elected: Callable[[int], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
        *,
        key: str = LEASE_KEY,
        fence_key: str = FENCE_KEY,
        what: str = "the router",
        level: int = logging.WARNING,
        floor: Callable[[], int] = lambda: 0,
    ) -> None:
        self._redis = client
        # the lease's keys (the router's by default; gateway/services/exclusive.py holds
        # others, one per piece of work that runs on one node at a time)
        self._key = key
        self._fence_key = fence_key
        self._what = what
        self._level = level
        self.node_id = node_id
        self.lease = lease
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.fence = 0
        # the highest fencing token seen (this node's own, and ``floor``: those it heard
        # of): a new token is above it even when Redis lost the counter
        self.floor = floor
        self._highest = 0
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._renew: Any = client.register_script(_RENEW)
        self._release: Any = client.register_script(_RELEASE)

    @property
    def is_leader(self) -> bool:
        return self.fence > 0 and time.monotonic() < self._valid_until

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease {self._key}")

    async def stop(self) -> None:
        """Give the lease up so another node takes over at once (a drain)."""
        await cancel_and_wait(self._task)
        if self.fence:
            with contextlib.suppress(Exception):  # else it expires: a drain goes on
                await self._call(self._release, [self._key], [self.node_id])
        self.fence = 0

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """One script's reply, or TimeoutError after a third of the lease (whatever the
        client's socket timeout), so the loop goes on: a leader is deposed at the first
        renewal that fails past 80% of the lease. A call cut short may still run once
        Redis answers again (a renewal of a lease given up, a lease taken unused): it
        expires with the lease. redis-py drops a connection whose reply was not read."""
        bound = self.lease / 3
        try:
            async with asyncio.timeout(bound):
                return await script(keys=keys, args=args)
        except TimeoutError:
            raise TimeoutError(f"Redis did not answer within {bound:.2f} s") from None

    async def _run(self) -> None:
        ms = int(self.lease * 1000)
        while True:
            started = time.monotonic()
            try:
                if self.fence:
                    if await self._call(self._renew, [self._key], [self.node_id, ms]):
                        self._valid_until = started + self.lease * 0.8
                    else:
                        await self._lose("lease lost")
                else:
                    floor = max(self._highest, self.floor())
                    fence = int(
                        await self._call(
                            self._acquire, [self._key, self._fence_key], [self.node_id, ms, floor]
                        )
                    )
                    if fence:
                        self.fence = fence
                        self._highest = max(self._highest, fence)
                        self._valid_until = started + self.lease * 0.8
                        log.log(
                            self._level,
                            "node %s leads %s (fence %d)",
                            self.node_id,
                            self._what,
                            fence,
                        )
                        await self._on_elected(fence)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lease of %s: %s", self._what, exc)
                if self.fence and time.monotonic() >= self._valid_until:
                    await self._lose("lease could not be renewed")
            await asyncio.sleep(self.lease / 3)

    async def _lose(self, why: str) -> None:
        log.log(self._level, "node %s stops leading %s: %s", self.node_id, self._what, why)
        self.fence = 0
        self._valid_until = 0.0
        await self._on_deposed()
