"""Several nodes, one router: request/reply and broadcast between nodes over the bus.

Every node but the router's leader (cluster/lease.py) is a **follower**:

* it forwards router events (agent actions, arrivals, status changes) to the leader on
  the bus topic ``gw:router`` and waits for the reply on its own ``gw:node:<id>``;
* it keeps a read-only **replica** of the router (cluster/replica.py), fed by the
  leader's log: every event the leader applies goes out on ``gw:log`` with its sequence
  number, fencing token and the time it was applied at, and the router is
  deterministic, so the replica follows exactly.

This module is the transport: it decodes what arrives, resolves replies to the
requests waiting for them, and hands everything else, in arrival order, to one handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

import msgspec

from gateway import topics
from gateway.cluster.messages import Message, Reply, SnapshotReply, decode, encode
from gateway.ports.bus import Bus

log = logging.getLogger("gateway.cluster")


class ClusterLink:
    """Request/reply and broadcast between nodes over the bus."""

    def __init__(
        self, bus: Bus, node_id: str, handler: Callable[[Message], Awaitable[None]]
    ) -> None:
        self.bus = bus
        self.node_id = node_id
        self.reply_topic = topics.node(node_id)
        self._handler = handler
        self._waiting: dict[str, asyncio.Future[Reply | SnapshotReply]] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="cluster inbox")
        for topic in (topics.ROUTER, topics.LOG, self.reply_topic):
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
            msg = decode(data)
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
        await self.bus.publish(topic, encode(msg))

    async def request(
        self, make: Callable[[str, str], Message], timeout: float
    ) -> Reply | SnapshotReply:
        req_id = uuid.uuid4().hex
        fut: asyncio.Future[Reply | SnapshotReply] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        try:
            await self.send(topics.ROUTER, make(req_id, self.reply_topic))
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(req_id, None)
