"""The Redis bus: frames fanned out between nodes with Redis pub/sub.

Two dedicated connections per node, never a pool's worth:

* **publish**: ``publish()`` appends to an outbox and awaits a future, ``post()``
  appends and returns (the hot path: nothing awaited per frame); one writer task
  sends what has accumulated as one pipeline (up to ``batch_size`` PUBLISHes), then
  resolves the futures. A pipeline that fails on its connection is sent once more on
  a new one for its posted frames (so a dropped connection loses none of them). An
  awaited frame goes at once, in one round trip; posted frames that find the writer
  idle wait up to ``linger`` (1 ms) for company; under load, everything queued while a
  pipeline was in flight goes in the next one. One connection and one writer keep the
  order of frames published in order.
* **subscribe**: one connection in subscribed mode and one reader task calling
  ``deliver(topic, data)``. When it drops, the reader reconnects with capped backoff,
  re-subscribes every topic and then calls the gap handler: frames published meanwhile
  are lost (pub/sub is at most once) and clients must resume from the store.

Both are plain redis-py connections driven directly (``send_packed_command`` /
``read_response``), not ``Redis``/``Pipeline``/``PubSub``: half the CPU per frame on the
no-load path (bench/bus.py), exactly one connection each, and no hidden retries. redis-py
retrying by itself would hide a gap (``PubSub`` silently re-subscribes on reconnection)
or publish a batch twice behind our back (posted frames are resent once, knowingly, and
only them: their clients allow for a duplicate). See docs/bus.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from gateway import metrics
from gateway.errors import BusUnavailable
from gateway.ports.bus.base import Bus, Deliver

log = logging.getLogger("gateway.ports.bus.redis")

GapHandler = Callable[[], Awaitable[None] | None]


class _Outgoing:
    __slots__ = ("at", "data", "future", "topic")

    def __init__(self, topic: str, data: bytes, future: asyncio.Future[None] | None) -> None:
        self.topic = topic
        self.data = data
        # None: posted (nobody waits; a failed send is retried once, then dropped)
        self.future = future
        self.at = time.perf_counter()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _packed(batch: list[_Outgoing]) -> bytes:
    """The batch's PUBLISH commands in RESP, as one buffer: redis-py's general
    ``pack_commands`` costs several times more per frame on this path."""
    return b"".join(
        [
            b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
            % (len(topic), topic, len(item.data), item.data)
            for item in batch
            for topic in (item.topic.encode(),)
        ]
    )


async def _reply(conn: AbstractConnection) -> Any:
    """The next reply on ``conn``, straight from its parser; an error reply is returned
    (a ResponseError), not raised. redis-py's ``read_response`` around the same call
    formats the host's address for an error message, checks the protocol and sets the
    health-check clock at every reply: 6 to 8 µs of CPU a reply against 1 to 2 here,
    and a message's path reads five replies on each node (three PUBLISH counts, two
    frames; docs/bus.md). What it does on failure stays: a socket error becomes a
    ConnectionError, and both readers drop the connection on any exception."""
    try:
        # a parser of the async connection: hiredis's, or RESP2's without hiredis
        return await conn._parser.read_response()  # type: ignore[attr-defined]
    except OSError as exc:
        raise RedisConnectionError(f"Error while reading from Redis: {exc}") from exc


def _buffered(conn: AbstractConnection) -> Any:
    """The next reply if hiredis's reader already holds it, else ``NOT_ENOUGH_DATA``:
    no coroutine and no await. One read from the socket brings a whole pipeline's
    replies, or a burst of frames: taken this way, a reply already read costs 0.66 µs of
    CPU instead of 1.33 through ``_reply`` (docs/bus.md), and a chat message's path
    reads five. Checked as ``read_response`` does: a connection closed meanwhile has
    nothing, and an error the parser turns into a ConnectionError is raised."""
    parser: Any = conn._parser
    reader = getattr(parser, "_reader", None)  # None: RESP2's own parser, no hiredis
    if reader is None or not parser._connected:
        return NOT_ENOUGH_DATA
    reply = reader.gets()
    if isinstance(reply, RedisConnectionError):
        raise reply
    return reply


class RedisBus(Bus):
    def __init__(
        self,
        url: str,
        *,
        on_resubscribed: GapHandler | None = None,
        batch_size: int = 256,
        linger: float = 0.001,
        connect_timeout: float = 2.0,
        io_timeout: float = 5.0,
        ping_interval: float = 5.0,
        backoff_min: float = 0.05,
        backoff_max: float = 2.0,
        client_name: str = "gateway-bus",
    ) -> None:
        options: dict[str, Any] = {
            # No hidden retries: a failure must surface here (see the module docstring).
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": io_timeout,
            "decode_responses": False,
            "health_check_interval": 0,
            # RESP2: a subscriber's frames are plain arrays. Under RESP3 each is a push
            # that redis-py routes through its push handlers first, several times the
            # cost per frame on the subscriber's path (bench/bus.py).
            "protocol": 2,
        }
        # The pools only parse the URL: each side is one connection of its own, never
        # lent out, so there is exactly one of each per node. The publish side has no
        # socket timeout of its own: _send bounds a whole pipeline with one deadline
        # (redis-py's would start a task per write and a timer per reply).
        pub = ConnectionPool.from_url(
            url, client_name=f"{client_name}-pub", **{**options, "socket_timeout": None}
        )
        self._pub: AbstractConnection = pub.connection_class(**pub.connection_kwargs)
        self._sub_pool = ConnectionPool.from_url(url, client_name=f"{client_name}-sub", **options)
        self._on_resubscribed = on_resubscribed
        self._batch_size = batch_size
        self._linger = linger
        self._io_timeout = io_timeout
        self._ping_interval = ping_interval
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max

        self._deliver: Deliver | None = None
        self._topics: set[str] = set()
        self._stopped = False
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None

        self._outbox: deque[_Outgoing] = deque()
        self._inflight: list[_Outgoing] = []
        self._wakeup = asyncio.Event()
        # Set while the writer lingers over a pipeline of posted frames; resolved early
        # by an awaited publish() or a full batch.
        self._hurry: asyncio.Future[None] | None = None
        # Set while nothing is queued or in flight: stop() lets what was posted go first.
        self._drained = asyncio.Event()
        self._drained.set()

        # The live subscriber connection; None while (re)connecting.
        self._sub: AbstractConnection | None = None
        # Serialises commands on it, so the order they are sent in is the order decided.
        self._sub_lock = asyncio.Lock()
        self._gap = False
        # Per topic, who waits for Redis to confirm a SUBSCRIBE, in the order sent: a
        # future (a subscribe() call) or None (part of the re-subscription after a gap).
        self._confirm: dict[str, deque[asyncio.Future[None] | None]] = {}
        self._resub_left = 0
        self._first_attempt = asyncio.Event()
        self._last_seen = 0.0
        self._ping_sent: float | None = None
        self._side_tasks: set[asyncio.Future[Any]] = set()

        self._published = 0
        self._delivered = 0
        self._batches = 0
        self._reconnects = 0
        self._publish_failures = 0

    # -- the Bus interface ------------------------------------------------------------

    async def start(self, deliver: Deliver) -> None:
        """Start reading; returns once the first connection attempt succeeded or failed
        (a node started while Redis is down keeps trying and calls the gap handler when
        it gets through)."""
        if self._deliver is not None or self._stopped:
            raise RuntimeError("RedisBus.start() called twice or after stop()")
        self._deliver = deliver
        self._tasks.append(asyncio.create_task(self._read_loop(), name="bus redis reader"))
        self._tasks.append(asyncio.create_task(self._ping_loop(), name="bus redis pinger"))
        await self._first_attempt.wait()

    async def stop(self, flush_timeout: float = 1.0) -> None:
        """Stop; frames already queued get ``flush_timeout`` seconds to go out first."""
        if self._writer is not None and not self._drained.is_set() and not self._stopped:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush_timeout):
                    await self._drained.wait()
        self._stopped = True
        tasks = [*self._tasks, *([self._writer] if self._writer else []), *self._side_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._writer = None
        for item in [*self._inflight, *self._outbox]:
            if item.future is not None and not item.future.done():
                item.future.set_exception(BusUnavailable("the bus is stopped"))
        self._inflight.clear()
        self._outbox.clear()
        self._release_confirmations()
        self._topics.clear()
        self._deliver = None
        await self._pub.disconnect(nowait=True)

    async def publish(self, topic: str, data: bytes) -> None:
        """Returns once Redis has the frame; raises :class:`BusUnavailable` if it
        cannot be sent (it may then have reached Redis or not: the store is the record)."""
        if self._stopped:
            raise BusUnavailable("the bus is stopped")
        # Appended before any await: publishes started in order are sent in order.
        future = asyncio.get_running_loop().create_future()
        self._queue(_Outgoing(topic, data, future))
        await future

    def post(self, topic: str, data: bytes) -> None:
        """Queued, sent with the next pipeline; see :meth:`Bus.post`. A pipeline that
        fails on its connection (Redis restarted, the connection dropped) is sent once
        more on a new one, so a hiccup loses no posted frame; a frame may then arrive
        twice, which clients allow for (they drop what they have by seq, and the other
        frames are states, not steps)."""
        if self._stopped:
            self._publish_failures += 1
            return
        self._queue(_Outgoing(topic, data, None))

    def _queue(self, item: _Outgoing) -> None:
        if self._writer is None:
            # Lazily, so a publish-only user (a CLI, the benchmark) needs no start().
            self._writer = asyncio.create_task(self._write_loop(), name="bus redis writer")
        self._outbox.append(item)
        hurry = self._hurry
        if (
            hurry is not None
            and (item.future is not None or len(self._outbox) >= self._batch_size)
            and not hurry.done()
        ):
            hurry.set_result(None)
        self._wakeup.set()
        self._drained.clear()

    async def subscribe(self, topic: str) -> None:
        """Returns once Redis confirmed the subscription, so any frame published after
        that is delivered. If Redis is down it returns at once: the topic is subscribed
        on reconnection, and the gap handler is called then."""
        if topic in self._topics:
            return
        self._topics.add(topic)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with self._sub_lock:
            conn = self._sub
            # is_connected: sending on a closed connection would silently reopen it.
            if conn is None or not conn.is_connected:
                return
            self._confirm.setdefault(topic, deque()).append(future)
            try:
                await conn.send_command("SUBSCRIBE", topic)
            except Exception as exc:
                log.warning("bus: SUBSCRIBE %s failed (%s); retried on reconnection", topic, exc)
                self._drop(conn)
                return
        try:
            async with asyncio.timeout(self._io_timeout):
                await future
        except TimeoutError:
            # The pinger notices a dead connection; the reconnection covers this topic.
            log.warning("bus: no confirmation of SUBSCRIBE %s within %ss", topic, self._io_timeout)

    async def unsubscribe(self, topic: str) -> None:
        # Frames still in flight for the topic are filtered out by the reader: no need
        # to wait for Redis's confirmation.
        if topic not in self._topics:
            return
        self._topics.discard(topic)
        async with self._sub_lock:
            conn = self._sub
            if conn is None or not conn.is_connected:
                return
            try:
                await conn.send_command("UNSUBSCRIBE", topic)
            except Exception as exc:
                log.warning("bus: UNSUBSCRIBE %s failed (%s)", topic, exc)
                self._drop(conn)

    # -- extras -------------------------------------------------------------------------

    def set_gap_handler(self, callback: GapHandler | None) -> None:
        """``callback()`` (sync or async) runs after every re-subscription that followed
        a lost or failed subscriber connection: frames published meanwhile are lost."""
        self._on_resubscribed = callback

    @property
    def connected(self) -> bool:
        """The subscriber connection is up (for health checks)."""
        return self._sub is not None and self._sub.is_connected

    def stats(self) -> dict[str, int]:
        return {
            "published": self._published,
            "delivered": self._delivered,
            "batches": self._batches,
            "reconnects": self._reconnects,
            "publish_failures": self._publish_failures,
        }

    # -- publishing ---------------------------------------------------------------------

    async def _write_loop(self) -> None:
        outbox = self._outbox
        while True:
            await self._wakeup.wait()
            if self._linger and self._may_linger():
                await self._lingered()
            self._wakeup.clear()
            while outbox:
                batch = self._inflight
                while outbox and len(batch) < self._batch_size:
                    item = outbox.popleft()
                    future = item.future
                    if future is None or not future.done():  # skip cancelled callers
                        batch.append(item)
                if batch:
                    await self._send_batch(batch)
                batch.clear()
            self._drained.set()

    def _may_linger(self) -> bool:
        """Only posted frames, fewer than a batch: nobody waits for them."""
        outbox = self._outbox
        return len(outbox) < self._batch_size and all(i.future is None for i in outbox)

    async def _lingered(self) -> None:
        """Give posted frames ``linger`` seconds to share a pipeline: one write and one
        read of replies for several frames instead of one each, where the rate is
        moderate and a pipeline would otherwise carry one or two. Only after the writer
        was idle: under load the pipeline in flight already gathers the next."""
        loop = asyncio.get_running_loop()
        hurry = self._hurry = loop.create_future()
        timer = loop.call_later(self._linger, _settle, hurry)
        try:
            await hurry
        finally:
            timer.cancel()
            self._hurry = None

    async def _send_batch(self, batch: list[_Outgoing]) -> None:
        try:
            refused = await self._send(batch)
        except Exception as exc:
            # The connection is closed; the next send opens a new one. Posted frames get
            # one more try on it (a restarted Redis, a dropped connection); a publish()
            # caller is told and decides.
            log.warning("bus: publishing %d frames failed: %s", len(batch), exc)
            posted = [item for item in batch if item.future is None]
            self._failed(batch, posted, exc)
            if posted:
                try:
                    refused = await self._send(posted)
                except Exception as again:
                    log.warning("bus: %d frames dropped: %s", len(posted), again)
                    self._failed(posted, [], again)
                    return
                self._sent(posted, refused)
            return
        self._sent(batch, refused)

    def _failed(self, batch: list[_Outgoing], retried: list[_Outgoing], exc: Exception) -> None:
        self._publish_failures += len(batch) - len(retried)
        for item in batch:
            if item.future is not None and not item.future.done():
                item.future.set_exception(BusUnavailable(f"Redis: {exc}"))

    def _sent(self, batch: list[_Outgoing], refused: dict[int, ResponseError]) -> None:
        self._published += len(batch) - len(refused)
        self._publish_failures += len(refused)
        self._batches += 1
        # Per pipeline, not per frame: from its oldest frame's queueing to the replies.
        metrics.BUS_PUBLISH_LATENCY.observe(time.perf_counter() - batch[0].at)
        for i, item in enumerate(batch):
            if i in refused:
                log.warning("bus: Redis refused a frame for %s: %s", item.topic, refused[i])
            future = item.future
            if future is None or future.done():
                continue
            if i in refused:
                future.set_exception(BusUnavailable(f"Redis: {refused[i]}"))
            else:
                future.set_result(None)

    async def _send(self, batch: list[_Outgoing]) -> dict[int, ResponseError]:
        """One pipeline on the publish connection: all PUBLISHes in one write, then
        their replies. Returns the frames Redis refused (an ACL, say), by index."""
        conn = self._pub
        try:
            # One deadline for the write and every reply (io_timeout).
            async with asyncio.timeout(self._io_timeout):
                # Reconnects by itself if the last batch closed the connection.
                await conn.send_packed_command(_packed(batch), check_health=False)
                refused: dict[int, ResponseError] = {}
                for i in range(len(batch)):
                    reply = _buffered(conn)
                    if reply is NOT_ENOUGH_DATA:
                        reply = await _reply(conn)
                    if isinstance(reply, ResponseError):  # read: the connection stays in step
                        refused[i] = reply
                return refused
        except TimeoutError:
            await conn.disconnect(nowait=True)  # replies may be left unread: never reuse it
            raise BusUnavailable(f"no reply within {self._io_timeout} s") from None
        except BaseException:
            # Replies may be left unread (a timeout, cancellation): never reuse it.
            await conn.disconnect(nowait=True)
            raise

    # -- subscribing --------------------------------------------------------------------

    async def _read_loop(self) -> None:
        delay = self._backoff_min
        outage = False
        while True:
            # A fresh connection each time, outside the pool's bookkeeping: it is ours.
            pool = self._sub_pool
            conn = pool.connection_class(**pool.connection_kwargs)
            try:
                await conn.connect_check_health(check_health=False)
                delay = self._backoff_min
                # Under the lock, callers' SUBSCRIBE/UNSUBSCRIBE for topics that change
                # meanwhile follow ours on the wire, so the last word is theirs.
                async with self._sub_lock:
                    topics = list(self._topics)
                    self._open(conn, topics, gap=outage)
                    if topics:
                        await conn.send_command("SUBSCRIBE", *topics)
                self._first_attempt.set()
                self._check_resubscribed()
                await self._pump(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("bus: subscriber connection lost or refused: %s", exc)
            finally:
                self._close(conn)
                await conn.disconnect(nowait=True)
            outage = True
            self._first_attempt.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    def _open(self, conn: AbstractConnection, topics: list[str], *, gap: bool) -> None:
        """Make ``conn`` the live connection, about to subscribe ``topics``."""
        self._sub = conn
        metrics.BUS_CONNECTED.set(1)
        self._last_seen = asyncio.get_running_loop().time()
        self._ping_sent = None
        self._gap = gap
        self._resub_left = len(topics)
        # None: a confirmation nobody awaits but that must be matched, in order.
        for topic in topics:
            self._confirm.setdefault(topic, deque()).append(None)

    def _close(self, conn: AbstractConnection) -> None:
        if self._sub is conn:
            self._sub = None
            metrics.BUS_CONNECTED.set(0)  # nothing reports Redis down otherwise
        self._gap = False
        self._resub_left = 0
        self._release_confirmations()

    def _release_confirmations(self) -> None:
        # Waiting subscribers return: the reconnection subscribes their topics.
        for waiters in self._confirm.values():
            for future in waiters:
                if future is not None and not future.done():
                    future.set_result(None)
        self._confirm.clear()

    def _drop(self, conn: AbstractConnection) -> None:
        """Force the reader to reconnect: closing the socket wakes its blocked read."""
        if self._sub is conn:
            self._sub = None
            metrics.BUS_CONNECTED.set(0)
        self._background(conn.disconnect(nowait=True))

    def _background(self, awaitable: Awaitable[Any]) -> None:
        # Kept so stop() can finish them: none is left pending at shutdown.
        task = asyncio.ensure_future(awaitable)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Future[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bus: background step failed", exc_info=task.exception())

    async def _pump(self, conn: AbstractConnection) -> None:
        loop = asyncio.get_running_loop()
        topics = self._topics
        while True:
            reply = _buffered(conn)
            if reply is NOT_ENOUGH_DATA:
                reply = await _reply(conn)
            self._last_seen = loop.time()
            if not isinstance(reply, list) or not reply:
                if isinstance(reply, ResponseError):
                    raise reply  # a SUBSCRIBE refused (an ACL): reconnect, and log it
                continue  # PONG
            kind = reply[0]
            if kind == b"message":
                topic = reply[1].decode()
                # Filter: the topic may have been unsubscribed while this was in flight.
                if topic in topics and self._deliver is not None:
                    self._delivered += 1
                    try:
                        self._deliver(topic, reply[2])
                    except Exception:
                        log.exception("bus: deliver(%s) failed", topic)
            elif kind == b"subscribe":
                self._confirmed(reply[1].decode())

    def _confirmed(self, topic: str) -> None:
        waiters = self._confirm.get(topic)
        if not waiters:
            return
        future = waiters.popleft()
        if not waiters:
            del self._confirm[topic]
        if future is not None:
            if not future.done():
                future.set_result(None)
        elif self._resub_left:
            self._resub_left -= 1
            self._check_resubscribed()

    def _check_resubscribed(self) -> None:
        """After a gap, once Redis confirmed every topic: tell the gap handler."""
        if not self._gap or self._resub_left:
            return
        self._gap = False
        self._reconnects += 1
        log.info("bus: re-subscribed %d topics after a gap", len(self._topics))
        callback = self._on_resubscribed
        if callback is None:
            return
        try:
            result = callback()
        except Exception:
            log.exception("bus: gap handler failed")
            return
        if inspect.isawaitable(result):
            self._background(result)

    async def _ping_loop(self) -> None:
        """Detect a subscriber connection that is open but dead (a half-open socket
        after a network fault): nothing would ever arrive and the node would stay deaf."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._ping_interval)
            conn = self._sub
            if conn is None:
                continue
            sent = self._ping_sent
            if sent is not None and self._last_seen < sent:
                log.warning("bus: no reply from Redis in %ss, reconnecting", self._ping_interval)
                self._drop(conn)
                continue
            self._ping_sent = loop.time()
            try:
                async with self._sub_lock:
                    if self._sub is conn:
                        await conn.send_command("PING")
            except Exception as exc:
                log.warning("bus: PING failed: %s", exc)
                self._drop(conn)


__all__ = ["BusUnavailable", "GapHandler", "RedisBus"]
