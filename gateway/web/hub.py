"""The hub: this node's open sockets, each behind a bounded send queue.

A frame is encoded once and the same bytes are queued for every local socket of its
topic (but the one a publish names: the sender of a message, answered by its ack; see
docs/bus.md, "All but one socket"). On the gateway's own WebSocket protocol
(gateway/web/transport.py) those bytes are framed once too (:func:`text_frame`) and
written straight to each socket's transport, below ASGI: no message dict, no task, no
await per frame while the transport takes writes. Only when it does not (its buffer is
over the high-water mark: the peer reads slowly) do frames queue, and one writer task
drains them as the transport resumes; a socket whose queue is full (a consumer too slow:
more than ``GATEWAY_SEND_QUEUE_SIZE`` frames or ``GATEWAY_SEND_QUEUE_BYTES`` bytes
waiting) is closed with SLOW_CONSUMER so it cannot hold memory or delay anyone else, and
reconnects and resumes from the store. A peer that does not read at all blocks its
writer; the transport's write timeout (gateway/web/transport.py) then drops the
connection, which ends the writer. A socket on another server (no wire) gets its frames
through ASGI ``send_text``, always by the writer task.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol

import msgspec

from gateway import metrics, topics
from gateway.aio import cancel_and_wait
from gateway.errors import CloseCode
from gateway.ports.bus import Bus, node_part, opened
from gateway.web.transport import text_frame

log = logging.getLogger("gateway.hub")

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


class Flag(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> bool: ...


class Wire(Protocol):
    """A socket's transport, below ASGI (gateway/web/transport.py ``GuardedWebSocket``)."""

    writable: Flag  # set while the transport takes writes (under its high-water mark)

    def write_frame(self, frame: bytes) -> bool: ...


# A socket's ref is unique in the cluster: this process's random token and a counter.
_PROCESS = secrets.token_hex(4)
_PROCESS_BYTES = _PROCESS.encode()
_serials = itertools.count(1)


class Connection:
    """One WebSocket, as the hub sees it: a topic, a bounded queue, and a writer task
    that exists only while there is something to write. An idle socket holds neither a
    task nor a queue (a deque is 600 bytes even empty), and no ``__dict__``: there are
    thousands of idle ones (docs/benchmarks.md#idle-connections)."""

    __slots__ = (
        "_byte_limit",
        "_close",
        "_closer",
        "_held",
        "_limit",
        "_queue",
        "_send_text",
        "_wire",
        "_writer",
        "close_code",
        "close_reason",
        "closed",
        "queued_bytes",
        "serial",
        "topic",
        "touchpoint_id",
    )

    def __init__(
        self,
        topic: str,
        send_text: SendText,
        close: Close,
        queue_size: int,
        queue_bytes: int,
        wire: Wire | None = None,
    ) -> None:
        self.topic = topic
        self._send_text = send_text
        self._wire = wire
        self._close = close
        # Made by send, dropped once written: framed frames with a wire, else payloads.
        self._queue: deque[bytes] | None = None
        self._limit = queue_size
        self._byte_limit = queue_bytes
        self.queued_bytes = 0  # the bytes in _queue
        self._writer: asyncio.Task[None] | None = None
        # While held (during a resume or snapshot), live frames wait here so they follow
        # the backlog instead of overtaking it.
        self._held: list[bytes] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        # A contact's socket's touchpoint: closed if the touchpoint is deactivated.
        self.touchpoint_id = ""
        self.serial = next(_serials)

    @property
    def ref(self) -> str:
        """Names this socket in a publish that leaves it out (gateway/ports/bus/base.py):
        the sender of a message, who gets it in its ack."""
        return f"{_PROCESS}.{self.serial}"

    def hold(self) -> None:
        self._held = []

    def release(self, keep: Callable[[bytes], bool] = lambda _: True) -> None:
        """Stop holding: queue the held frames that ``keep`` accepts, in order."""
        held, self._held = self._held or [], None
        for data in held:
            if keep(data):
                self.send(data)

    def send(self, data: bytes, frame: bytes | None = None) -> None:
        """Send ``data`` (a JSON payload); ``frame``: the same, already framed by
        :func:`text_frame` (the hub frames a frame once for all its sockets)."""
        if self.closed:
            return
        if self._held is not None:
            self._held.append(data)
            return
        wire = self._wire
        if wire is not None:
            data = frame or text_frame(data)
            if not self._queue and wire.writable.is_set():
                # Nothing waits ahead of it and the transport takes it: written now.
                if not wire.write_frame(data):
                    self.closed = True  # the peer is gone; the reader side cleans up
                return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if len(queue) >= self._limit or self.queued_bytes + len(data) > self._byte_limit:
            log.info("closing slow consumer on %s", self.topic)
            self.abort(CloseCode.SLOW_CONSUMER, "too slow to read")
            return
        queue.append(data)
        self.queued_bytes += len(data)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def abort(self, code: int, reason: str) -> None:
        """Close as soon as possible, dropping what is queued."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self._queue = None
        self.queued_bytes = 0
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close_quietly(code, reason))

    async def _close_quietly(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._close(code, reason)

    async def stop(self) -> None:
        """The socket is gone: stop the writer."""
        self.closed = True
        self._queue = None
        self.queued_bytes = 0
        with contextlib.suppress(Exception):  # a writer that failed: nothing left to stop
            await cancel_and_wait(self._writer)

    async def _write(self) -> None:
        wire = self._wire
        try:
            while self._queue:  # None once aborted or stopped
                if wire is not None:
                    await wire.writable.wait()
                    # Everything queued while the transport takes it, in one go.
                    while self._queue and wire.writable.is_set():
                        data = self._queue.popleft()
                        self.queued_bytes -= len(data)
                        if not wire.write_frame(data):
                            self.closed = True
                            return
                    continue
                data = self._queue.popleft()
                self.queued_bytes -= len(data)
                await self._send_text(data.decode())
        except asyncio.CancelledError:
            raise
        except Exception:
            # The peer went away mid-send; the reader side notices and cleans up.
            self.closed = True
        finally:
            self._writer = None
            if not self._queue:
                self._queue = None


_MESSAGE_PREFIX = b'{"type":"message"'
_LATENCY = metrics.MESSAGE_LATENCY


class _At(msgspec.Struct):
    at: float


_at = msgspec.json.Decoder(_At)


class Hub:
    """Local sockets by topic, subscribed on the bus while any is open."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._by_topic: dict[str, set[Connection]] = defaultdict(set)
        self._system: list[tuple[str, Callable[[str, bytes], None]]] = []
        self._for_node: Callable[[str, bytes], None] = lambda topic, data: None

    def system_topics(self, prefix: str, handler: Callable[[str, bytes], None]) -> None:
        """Frames on topics with this prefix go to ``handler``, not to sockets."""
        self._system.append((prefix, handler))

    def node_data(self, handler: Callable[[str, bytes], None]) -> None:
        """What is published for the node that holds a topic's sockets (``for_node``)
        goes to ``handler``, not to the sockets."""
        self._for_node = handler

    async def start(self) -> None:
        await self.bus.start(self.deliver)

    async def stop(self) -> None:
        await self.bus.stop()

    def deliver(self, topic: str, data: bytes) -> None:
        for prefix, handler in self._system:
            if topic.startswith(prefix):
                handler(topic, data)
                return
        conns = self._by_topic.get(topic)
        if not conns:
            return
        mine = node_part(data)
        if mine is not None:
            self._for_node(topic, mine)
            return
        skip, data = opened(data)
        if skip:
            # Most often the topic's only socket is the one that sent it (its ack has
            # it): nothing to frame, and no delivery to time.
            serial = _serial_of(skip)
            targets: Collection[Connection] = [c for c in conns if c.serial != serial]
            if not targets:
                return
        else:
            targets = tuple(conns)
        if data.startswith(_MESSAGE_PREFIX):
            # Commit-to-delivery latency, read off the frame's own timestamp.
            try:
                at = _at.decode(data).at
            except msgspec.DecodeError:
                pass
            else:
                _LATENCY.observe(max(0.0, time.time() - at))
        frame = text_frame(data)  # framed once, the same bytes for every socket
        for conn in targets:
            conn.send(data, frame)

    async def add(self, conn: Connection) -> None:
        _count(conn, 1)
        conns = self._by_topic[conn.topic]
        first = not conns
        conns.add(conn)
        if first:
            await self.bus.subscribe(conn.topic)

    async def remove(self, conn: Connection) -> None:
        _count(conn, -1)
        await conn.stop()
        conns = self._by_topic.get(conn.topic)
        if conns is None:
            return
        conns.discard(conn)
        if not conns:
            del self._by_topic[conn.topic]
            await self.bus.unsubscribe(conn.topic)

    def count(self, topic: str) -> int:
        return len(self._by_topic.get(topic, ()))

    def connections(self, prefix: str = "") -> list[Connection]:
        return [
            c for topic, conns in self._by_topic.items() if topic.startswith(prefix) for c in conns
        ]

    def abort_all(self, code: int, reason: str) -> None:
        for conn in self.connections():
            conn.abort(code, reason)

    @property
    def total(self) -> int:
        return sum(len(c) for c in self._by_topic.values())


def _serial_of(ref: bytes) -> int:
    """The serial of this process's socket named by ``ref``; 0 (none) for another node's."""
    process, _, serial = ref.partition(b".")
    return int(serial) if process == _PROCESS_BYTES and serial.isdigit() else 0


def _count(conn: Connection, by: int) -> None:
    """The open sockets' gauge: a monitored conversation's subscription rides its
    agent's socket and is no socket of its own."""
    if not conn.topic.startswith(topics.WATCH):
        metrics.CONNECTIONS.labels(kind=topics.kind(conn.topic)).inc(by)
