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
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

import msgspec

from gateway import topics
from gateway.aio import cancel_and_wait
from gateway.cluster.messages import (
    ConfigChanged,
    Forward,
    Message,
    Queued,
    Reply,
    SnapshotReply,
    SnapshotRequest,
    decode,
    encode,
)
from gateway.ports.bus import Bus

log = logging.getLogger("gateway.cluster")


class ClusterLink:
    """Request/reply and broadcast between nodes over the bus."""

    def __init__(
        self,
        bus: Bus,
        node_id: str,
        handler: Callable[[Message], Awaitable[None]],
        forwards: Callable[[list[Forward]], Awaitable[None]] | None = None,
        leading: Callable[[], bool] = lambda: False,
    ) -> None:
        self.bus = bus
        self.node_id = node_id
        self.reply_topic = topics.node(node_id)
        self._handler = handler
        # Forwards that wait together, handed over as one run (the leader answers a
        # burst in one pass instead of one event per turn of the lock)
        self._forwards = forwards
        self._leading = leading  # whether this node leads the router now
        self._waiting: dict[str, asyncio.Future[Reply | SnapshotReply]] = {}
        # the requests waiting whose event the leader said it has (``Queued``)
        self._queued: set[str] = set()
        self._inbox: deque[Message] = deque()
        self._arrived = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        # messages heard from the router's leader (its log, replies): a busy leader's
        # sign of life (see request)
        self.heard = 0

    async def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="cluster inbox")
        for topic in (topics.ROUTER, topics.LOG, self.reply_topic):
            await self.bus.subscribe(topic)

    async def stop(self) -> None:
        await cancel_and_wait(self._consumer)

    async def _consume(self) -> None:
        # One message at a time, in arrival order: the log must be applied in order.
        while True:
            if not self._inbox:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            msg = self._inbox.popleft()
            try:
                if isinstance(msg, Forward) and self._forwards is not None:
                    run = [msg]
                    while self._inbox and isinstance(self._inbox[0], Forward):
                        run.append(self._inbox.popleft())  # type: ignore[arg-type]
                    await self._forwards(run)
                else:
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
        if isinstance(msg, Forward):
            if self._leading():
                # at once, from the reader: the asking node knows its event is queued
                # here however long the queue (every node hears a Forward; the leader
                # alone answers)
                self.bus.post(msg.reply_to, encode(Queued(req_id=msg.req_id)))
        elif not isinstance(msg, SnapshotRequest | ConfigChanged):
            self.heard += 1
        if isinstance(msg, Queued):
            if msg.req_id in self._waiting:
                self._queued.add(msg.req_id)
            return
        if isinstance(msg, Reply | SnapshotReply):
            fut = self._waiting.pop(msg.req_id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        self._inbox.append(msg)
        self._arrived.set()

    async def send(self, topic: str, msg: Message) -> None:
        await self.bus.publish(topic, encode(msg))

    def post(self, topic: str, msg: Message) -> None:
        """Queued for the bus's next pipeline, not awaited (a reply: a lost one is a
        timeout on the asking node, which asks again)."""
        self.bus.post(topic, encode(msg))

    async def request(
        self,
        make: Callable[[str, str], Message],
        timeout: float,
        *,
        busy: Callable[[], bool] | None = None,
        patience: float = 0.0,
    ) -> Reply | SnapshotReply:
        """Send a request on ``gw:router`` and wait for its reply; TimeoutError after
        ``timeout`` without one. ``busy``: asked at each timeout whether the leader
        showed it is at work meanwhile (its log moved on), in which case the wait goes
        on, up to ``patience`` seconds in all: a burst queues requests at a leader that
        answers them in turn, and only a silent one is given up on."""
        req_id = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Reply | SnapshotReply] = loop.create_future()
        self._waiting[req_id] = fut
        give_up = loop.time() + max(timeout, patience)
        try:
            await self.send(topics.ROUTER, make(req_id, self.reply_topic))
            while True:
                wait = min(timeout, give_up - loop.time())
                try:
                    async with asyncio.timeout(max(wait, 0.0)):
                        return await asyncio.shield(fut)
                except TimeoutError:
                    if fut.done():  # answered as the wait ended, or ended by new_leader
                        return fut.result()
                    if busy is None or loop.time() >= give_up or not busy():
                        raise
        finally:
            self._waiting.pop(req_id, None)
            self._queued.discard(req_id)

    def new_leader(self) -> None:
        """A new leadership began (its first ``Reset``): the requests waiting that no
        leader said it has will not be answered. A leader drops what reaches it before its
        election, and the asker, hearing the new leader's log meanwhile, waited on (up to
        ``patience``) for an answer that never came. Each ends at once with TimeoutError
        (its caller asks again, or tells its client to)."""
        for req_id, fut in self._waiting.items():
            if req_id not in self._queued and not fut.done():
                fut.set_exception(TimeoutError("sent before the router's leader was elected"))
