"""Who is connected where, and the status each agent chose.

One node keeps it in memory (:class:`LocalPresence`). Several nodes keep it in Redis
(:class:`RedisPresence`): each node writes "agent A (or contact C) has a socket on node
N, until T" and refreshes it every few seconds while the socket is open, so the entries
of a node that dies expire by themselves and the router's leader can take its agents
offline. The status an agent chose (available / away) is kept apart from their sockets,
so it survives a reconnect and a change of router leader; the store keeps it too, and
presence copies it back from there when Redis lost it (restarted empty:
:meth:`Presence.keep_statuses`).

Sockets come and go in bursts (a node restarting: every client reconnects at once), so
RedisPresence sends the entries' writes through :class:`_Writes`: one writer task, one
pipeline for all the HSET/HDEL that arrive while the previous one is on its way, in the
order they were asked for; each caller returns once its write is done. The refresh goes
the same way, :data:`REFRESH_CHUNK` entries at a time (docs/scaling.md).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Literal, cast

from gateway.aio import cancel_and_wait
from gateway.errors import BusUnavailable

if TYPE_CHECKING:  # Redis is imported only when configured (gateway/app.py)
    import redis.asyncio as aioredis

log = logging.getLogger("gateway.presence")

Kind = Literal["agent", "contact"]
Status = Literal["available", "away"]
# where the chosen statuses are kept for good (the store)
StoredStatuses = Callable[[], Awaitable[dict[str, Status]]]

STATUS_KEY = "gw:status"
# Set with the statuses copied from the store: a Redis restarted empty has lost it with
# them, which the next read of the statuses notices.
RESTORED_KEY = "gw:status:restored"

# Fields per HSCAN call (is_online, prune). A node that died without stopping leaves a
# contact entry per socket it held, and nothing else reads them all: prune looks at one
# page of them per call.
SCAN_PAGE = 1000

# Entries per HSET of a refresh (and per HDEL when the node stops). Packing one entry
# costs a few microseconds, and all of a node's in one command held its event loop,
# every socket with it, for about 95 ms at 19,000 sockets, every ttl/3; each chunk is
# awaited, so the loop serves them between.
REFRESH_CHUNK = 500


class Presence(abc.ABC):
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def connected(self, kind: Kind, key: str) -> None:
        """This node now holds a socket of ``key``."""

    @abc.abstractmethod
    async def disconnected(self, kind: Kind, key: str) -> None:
        """This node holds no socket of ``key`` any more."""

    @abc.abstractmethod
    async def online(self, kind: Kind) -> set[str]:
        """Keys with a live socket on any node."""

    @abc.abstractmethod
    async def set_status(self, agent_id: str, status: Status) -> None: ...

    @abc.abstractmethod
    async def statuses(self) -> dict[str, Status]:
        """The status each agent last chose (agents never seen are available)."""

    @abc.abstractmethod
    async def keep_statuses(self, stored: StoredStatuses) -> None:
        """Learn the statuses agents chose from where they are kept (at start), those
        not held already; and again whenever presence lost them (Redis restarted empty),
        before any is read."""

    async def is_online(self, kind: Kind, key: str) -> bool:
        return key in await self.online(kind)

    async def prune(self) -> bool:
        """Delete a share of the expired contact entries (a dead node's); True once a
        whole pass over them has ended. The router's leader calls it every sweep."""
        return True


class LocalPresence(Presence):
    def __init__(self) -> None:
        self._online: dict[Kind, set[str]] = {"agent": set(), "contact": set()}
        self._status: dict[str, Status] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def connected(self, kind: Kind, key: str) -> None:
        self._online[kind].add(key)

    async def disconnected(self, kind: Kind, key: str) -> None:
        self._online[kind].discard(key)

    async def online(self, kind: Kind) -> set[str]:
        return set(self._online[kind])

    async def set_status(self, agent_id: str, status: Status) -> None:
        self._status[agent_id] = status

    async def statuses(self) -> dict[str, Status]:
        return dict(self._status)

    async def keep_statuses(self, stored: StoredStatuses) -> None:
        for agent_id, status in (await stored()).items():
            self._status.setdefault(agent_id, status)


def _command(op: bytes, name: str, fields: list[str], value: str) -> bytes:
    """HSET ``name`` with every field of ``fields`` set to ``value`` (``op`` b"HSET"), or
    HDEL of them (b"HDEL", ``value`` unused), in RESP. Packed here: with redis-py's
    general packing (about 3.5 µs an argument) a refresh of 19,000 entries took 120 to
    133 ms of CPU, 38 to 40 now (docs/scaling.md)."""
    key = name.encode()
    parts = [b"$%d\r\n%b\r\n" % (len(f), f) for f in (x.encode() for x in fields)]
    if op == b"HSET":
        v = value.encode()
        item = b"$%d\r\n%b\r\n" % (len(v), v)
        body = item.join(parts) + item  # field value field value ... field value
        count = 2 + 2 * len(parts)
    else:
        body = b"".join(parts)
        count = 2 + len(parts)
    return b"*%d\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b" % (count, len(op), op, len(key), key, body)


class _Writes:
    """HSET/HDEL of presence entries from many callers, pipelined together in order:
    one write of all the commands waiting, then their replies, on a connection of the
    client's pool. A batch whose connection fails is sent once more on a new one (both
    commands may be repeated without harm)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def hset(self, name: str, keys: list[str], value: str) -> None:
        """Every field of ``keys`` set to ``value``, in one HSET."""
        await self._put(_command(b"HSET", name, keys, value))

    async def hdel(self, name: str, keys: list[str]) -> None:
        """Every field of ``keys`` deleted, in one HDEL."""
        await self._put(_command(b"HDEL", name, keys, ""))

    async def _put(self, command: bytes) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((command, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await asyncio.shield(future)

    async def _write(self) -> None:
        import redis.exceptions as errors  # Redis is configured here

        lost = (errors.ConnectionError, errors.TimeoutError, OSError)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                with _unavailable():
                    try:
                        replies = await self._send(batch)
                    except lost:
                        replies = await self._send(batch)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), reply in zip(batch, replies, strict=True):
                if not future.done():
                    if reply is None:
                        future.set_result(None)
                    else:
                        future.set_exception(reply)

    async def _send(
        self, batch: list[tuple[bytes, asyncio.Future[None]]]
    ) -> list[Exception | None]:
        """Each command's error reply (Redis refused it: a wrong type, an ACL), or None."""
        import redis.exceptions as errors  # Redis is configured here

        pool = self._redis.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(b"".join(c for c, _ in batch), check_health=False)
            replies: list[Exception | None] = []
            for _ in batch:
                try:
                    await conn.read_response()
                except errors.ResponseError as exc:  # read whole: the connection stays in step
                    replies.append(exc)
                else:
                    replies.append(None)
            return replies
        except BaseException:
            # Replies may be left unread (a lost connection, cancellation): never reuse it.
            await conn.disconnect(nowait=True)
            raise
        finally:
            await pool.release(conn)


class RedisPresence(Presence):
    """Hashes ``gw:presence:<kind>`` with fields ``<key>|<node>`` → expiry (UNIX time),
    and ``gw:status`` with fields ``<agent>`` → status."""

    def __init__(self, client: aioredis.Redis, node_id: str, ttl: float = 15.0) -> None:
        self._redis = client
        self._writes = _Writes(client)
        self.node_id = node_id
        self.ttl = ttl
        self._mine: dict[Kind, set[str]] = {"agent": set(), "contact": set()}
        self._task: asyncio.Task[None] | None = None
        self._prune_cursor = 0
        self._stored: StoredStatuses | None = None
        # one copy from the store at a time on this node: after a Redis restart every
        # console reconnects at once, each reading the statuses
        self._restoring = asyncio.Lock()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="presence refresh")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            for kind, keys in self._mine.items():
                listed = [f"{k}|{self.node_id}" for k in keys]
                for i in range(0, len(listed), REFRESH_CHUNK):
                    await self._writes.hdel(_hash(kind), listed[i : i + REFRESH_CHUNK])

    async def connected(self, kind: Kind, key: str) -> None:
        self._mine[kind].add(key)
        await self._writes.hset(_hash(kind), [f"{key}|{self.node_id}"], str(time.time() + self.ttl))

    async def disconnected(self, kind: Kind, key: str) -> None:
        self._mine[kind].discard(key)
        await self._writes.hdel(_hash(kind), [f"{key}|{self.node_id}"])

    async def online(self, kind: Kind) -> set[str]:
        with _unavailable():
            return await self._online(kind)

    async def _online(self, kind: Kind) -> set[str]:
        now = time.time()
        entries = await self._redis.hgetall(_hash(kind))
        live: set[str] = set()
        expired: list[str] = []
        for field, until in entries.items():
            if float(until) > now:
                live.add(_text(field).rsplit("|", 1)[0])
            else:
                expired.append(_text(field))
        if expired:
            await self._redis.hdel(_hash(kind), *expired)
        return live

    async def is_online(self, kind: Kind, key: str) -> bool:
        """Whether ``key`` has a live socket on any node, without reading every entry:
        this node's own first, then only the fields of ``key``, matched in Redis
        :data:`SCAN_PAGE` fields at a time (:meth:`online` reads and parses them all)."""
        if key in self._mine[kind]:
            return True
        now = time.time()
        with _unavailable():
            async for _, until in self._redis.hscan_iter(
                _hash(kind), match=_glob_literal(key) + "|*", count=SCAN_PAGE
            ):
                if float(until) > now:
                    return True
        return False

    async def prune(self) -> bool:
        now = time.time()
        name = _hash("contact")
        with _unavailable():
            cursor, page = await self._redis.hscan(name, self._prune_cursor, count=SCAN_PAGE)
            entries = cast("dict[bytes, bytes]", page)  # field -> value: values were asked for
            expired = [field for field, until in entries.items() if float(until) <= now]
            if expired:
                await self._redis.hdel(name, *expired)
        self._prune_cursor = int(cursor)
        return self._prune_cursor == 0

    async def set_status(self, agent_id: str, status: Status) -> None:
        with _unavailable():
            await self._redis.hset(STATUS_KEY, agent_id, status)

    async def statuses(self) -> dict[str, Status]:
        with _unavailable():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.exists(RESTORED_KEY)
                pipe.hgetall(STATUS_KEY)
                restored, raw = await pipe.execute()
            if not restored and self._stored is not None:
                # Redis lost them (restarted empty): without this every agent who chose
                # away would be available again, and rung
                await self._restore()
                raw = await self._redis.hgetall(STATUS_KEY)
        out: dict[str, Status] = {}
        for k, v in raw.items():
            out[_text(k)] = "away" if _text(v) == "away" else "available"
        return out

    async def keep_statuses(self, stored: StoredStatuses) -> None:
        self._stored = stored
        try:
            await self._restore()
        except BusUnavailable as exc:  # copied at the first read once Redis answers
            log.warning("chosen statuses not restored yet: %s", exc)

    async def _restore(self) -> None:
        """The stored statuses copied into Redis, each unless Redis holds one already
        (chosen since: the store is written first, so Redis's is never older), then the
        mark that they were, in one transaction."""
        assert self._stored is not None
        async with self._restoring:
            with _unavailable():
                if await self._redis.exists(RESTORED_KEY):
                    return  # by another caller meanwhile, or another node
            stored = await self._stored()
            with _unavailable():
                async with self._redis.pipeline(transaction=True) as pipe:
                    for agent_id, status in stored.items():
                        pipe.hsetnx(STATUS_KEY, agent_id, status)
                    pipe.set(RESTORED_KEY, "1")
                    await pipe.execute()
        log.info("chosen statuses of %d agents copied from the store", len(stored))

    async def refresh(self) -> None:
        """Every entry of this node's sockets pushed ``ttl`` ahead, :data:`REFRESH_CHUNK`
        at a time, in order with the sockets' own writes; a socket that closed since the
        refresh began is left out (its entry is deleted, not written again)."""
        until = str(time.time() + self.ttl)
        for kind, keys in self._mine.items():
            listed = list(keys)  # ``keys`` is the live set: checked again at each chunk
            for i in range(0, len(listed), REFRESH_CHUNK):
                chunk = [f"{k}|{self.node_id}" for k in listed[i : i + REFRESH_CHUNK] if k in keys]
                if chunk:
                    await self._writes.hset(_hash(kind), chunk, until)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.refresh()
            except Exception as exc:  # Redis away: entries expire; retry next round
                log.warning("presence refresh failed: %s", exc)


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """Redis's connection errors as the gateway's BusUnavailable: a socket opening while
    Redis restarts is closed with the documented try-again code, not an ASGI traceback."""
    import redis.exceptions as errors  # Redis is configured here

    try:
        yield
    except (errors.ConnectionError, errors.TimeoutError, OSError) as exc:
        raise BusUnavailable(f"Redis: {exc}") from exc


def _glob_literal(text: str) -> str:
    """``text`` as a Redis glob pattern that matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _hash(kind: Kind) -> str:
    return f"gw:presence:{kind}"
