"""Several nodes, one router: the lease, and the messages nodes exchange about routing.

The router runs on exactly one node at a time, the **leader**, which holds a lease in
Redis (``gw:router:lease``, renewed every third of its life). Taking the lease also
increments ``gw:router:fence``: the **fencing token** of that leadership. Every other
node is a **follower**:

* it forwards router events (agent actions, arrivals, status changes) to the leader on
  the bus topic ``gw:router`` and waits for the reply on its own ``gw:node:<id>``;
* it keeps a read-only **replica** of the router, fed by the leader's log: every event
  the leader applies goes out on ``gw:log`` with its sequence number, fencing token and
  the time it was applied at, and the router is deterministic, so the replica follows
  exactly. A gap in the log, or a ``Reset`` (the leader rebuilt its state), makes the
  follower ask the leader for a snapshot.

Entries carrying an older fencing token than one already seen are ignored, so a leader
that lost its lease without knowing cannot move the replicas. A leader acts only while
its lease is certainly valid (renewed less than 80% of a lease ago); otherwise events are
refused as retryable. When the leader dies, its lease expires and another node takes it
within the lease time and rebuilds the router from the store (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis

import routing as r
from gateway.ports.bus import Bus

log = logging.getLogger("gateway.cluster")

ROUTER_TOPIC = "gw:router"
LOG_TOPIC = "gw:log"
LEASE_KEY = "gw:router:lease"
FENCE_KEY = "gw:router:fence"


class Forward(msgspec.Struct, tag="forward"):
    req_id: str
    reply_to: str
    event: r.Event


class SnapshotRequest(msgspec.Struct, tag="snapshot_request"):
    req_id: str
    reply_to: str


class Reply(msgspec.Struct, tag="reply"):
    req_id: str
    ok: bool
    code: str = ""
    message: str = ""
    retryable: bool = False


class SnapshotReply(msgspec.Struct, tag="snapshot"):
    req_id: str
    fence: int
    seq: int
    data: bytes


class LogEntry(msgspec.Struct, tag="log"):
    fence: int
    seq: int
    now: float
    event: r.Event


class Reset(msgspec.Struct, tag="reset"):
    """The leader's state moved in a way the log does not carry: take a snapshot."""

    fence: int
    seq: int


class ConfigChanged(msgspec.Struct, tag="config"):
    """An admin changed configuration on some node: every node reloads it."""

    origin: str


Message = Forward | SnapshotRequest | Reply | SnapshotReply | LogEntry | Reset | ConfigChanged
_decoder = msgspec.msgpack.Decoder(Message)
_encoder = msgspec.msgpack.Encoder()


class ClusterLink:
    """Request/reply and broadcast between nodes over the bus."""

    def __init__(
        self, bus: Bus, node_id: str, handler: Callable[[Message], Awaitable[None]]
    ) -> None:
        self.bus = bus
        self.node_id = node_id
        self.reply_topic = f"gw:node:{node_id}"
        self._handler = handler
        self._waiting: dict[str, asyncio.Future[Reply | SnapshotReply]] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="cluster inbox")
        for topic in (ROUTER_TOPIC, LOG_TOPIC, self.reply_topic):
            await self.bus.subscribe(topic)

    async def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer

    async def _consume(self) -> None:
        # One message at a time, in arrival order: the log must be applied in order.
        while True:
            msg = await self._inbox.get()
            try:
                await self._handler(msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster message %s failed", type(msg).__name__)

    def deliver(self, topic: str, data: bytes) -> None:
        try:
            msg = _decoder.decode(data)
        except msgspec.DecodeError:
            log.error("undecodable cluster message on %s", topic)
            return
        if isinstance(msg, Reply | SnapshotReply):
            fut = self._waiting.pop(msg.req_id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        self._inbox.put_nowait(msg)

    async def send(self, topic: str, msg: Message) -> None:
        await self.bus.publish(topic, _encoder.encode(msg))

    async def request(
        self, make: Callable[[str, str], Message], timeout: float
    ) -> Reply | SnapshotReply:
        req_id = uuid.uuid4().hex
        fut: asyncio.Future[Reply | SnapshotReply] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        try:
            await self.send(ROUTER_TOPIC, make(req_id, self.reply_topic))
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(req_id, None)


_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
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
    """Holds or waits for the router lease; calls back when elected or deposed."""

    def __init__(
        self,
        client: aioredis.Redis,
        node_id: str,
        lease: float,
        on_elected: Callable[[int], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
    ) -> None:
        self._redis = client
        self.node_id = node_id
        self.lease = lease
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.fence = 0
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._renew: Any = client.register_script(_RENEW)
        self._release: Any = client.register_script(_RELEASE)

    @property
    def is_leader(self) -> bool:
        return self.fence > 0 and time.monotonic() < self._valid_until

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router lease")

    async def stop(self) -> None:
        """Give the lease up so another node takes over at once (a drain)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.fence:
            with contextlib.suppress(Exception):
                await self._release(keys=[LEASE_KEY], args=[self.node_id])
        self.fence = 0

    async def _run(self) -> None:
        ms = int(self.lease * 1000)
        while True:
            started = time.monotonic()
            try:
                if self.fence:
                    if await self._renew(keys=[LEASE_KEY], args=[self.node_id, ms]):
                        self._valid_until = started + self.lease * 0.8
                    else:
                        await self._lose("lease lost")
                else:
                    fence = int(
                        await self._acquire(keys=[LEASE_KEY, FENCE_KEY], args=[self.node_id, ms])
                    )
                    if fence:
                        self.fence = fence
                        self._valid_until = started + self.lease * 0.8
                        log.warning("node %s leads the router (fence %d)", self.node_id, fence)
                        await self._on_elected(fence)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("router lease: %s", exc)
                if self.fence and time.monotonic() >= self._valid_until:
                    await self._lose("lease could not be renewed")
            await asyncio.sleep(self.lease / 3)

    async def _lose(self, why: str) -> None:
        log.warning("node %s stops leading the router: %s", self.node_id, why)
        self.fence = 0
        self._valid_until = 0.0
        await self._on_deposed()
