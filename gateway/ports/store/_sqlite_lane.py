"""SQLite's lanes: the writer's thread, and the connections' views for the shared code.

The writer connection lives on one thread of its own, and every call into it is one
*hop*: the event loop queues a function, the thread runs it, and the loop is woken with
the result. A hop costs far more than a statement of the hot path (a primary-key read
or an insert take microseconds), so the store makes as few as it can:

* The group commit runs the shared async code over a :class:`SyncConn`, whose
  statements complete without ever suspending (:func:`drive`): a whole batch of appends
  (BEGIN, every insert and counter update, COMMIT) inline on the event loop's thread
  while the writer is free (:attr:`Lane.idle`, and the store's lock), else in one hop
  (:meth:`Lane.run` runs a whole function, any number of statements).
* The WAL checkpoint runs on a thread and connection of its own (:class:`Checkpointer`),
  never inside an inline COMMIT.
* Point reads by primary key use a second connection on the event loop's own thread
  (:class:`InlineConn`): in WAL mode a reader never waits for the writer, and sees what
  it has committed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any, TypeVar

from gateway.ports.store._rows import Row

T = TypeVar("T")
log = logging.getLogger(__name__)


@lru_cache(maxsize=512)
def sql(query: str) -> str:
    """PostgreSQL ``$n`` placeholders to SQLite's numbered ``?n`` (same semantics)."""
    return re.sub(r"\$(\d+)", r"?\1", query)


class Lane:
    """One thread that owns the writer connection and runs what it is given, in order."""

    def __init__(self, name: str = "sqlite-writer") -> None:
        self._queue: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        # calls handed to the thread and not yet answered (counted on the loop's thread):
        # while there are any, the thread may be using the connection
        self._in_flight = 0

    @property
    def idle(self) -> bool:
        """Nothing queued or running on the thread (its connection is free)."""
        return self._in_flight == 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the lane's thread: one hop however much it does."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._in_flight += 1
        self._queue.put((future, lambda: fn(*args)))
        return await future

    def _answer(self, future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        """On the loop's thread, once the thread is done with a call."""
        self._in_flight -= 1
        if future.done():  # the caller gave up (cancelled)
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    async def stop(self) -> None:
        """Let the queued calls finish, then end the thread."""
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _main(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            loop = future.get_loop()
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, whatever it is
                loop.call_soon_threadsafe(self._answer, future, None, exc)
            else:
                loop.call_soon_threadsafe(self._answer, future, result, None)


class Checkpointer:
    """Copies the WAL back into the database file on a thread and connection of its own.

    The group commit writes on the event loop's thread, and SQLite's automatic
    checkpoint would run inside the COMMIT that crosses its threshold, fsyncs included:
    milliseconds of a stopped loop. So the writer's is off (``wal_autocheckpoint = 0``)
    and this one runs a PASSIVE checkpoint (it never blocks the writer or the readers)
    once the writer has changed ``EVERY`` rows since the last.

    A pass copies what the WAL held when it began, and the WAL starts again from its
    first frame if a pass had copied all of it when the next write began. Under writes
    that never pause, every pass ends with new frames behind it and the file grows for
    as long as they go on (264 MB after the relay benchmark's set-up and two short
    steps). So once a pass finds more than ``BOUND`` frames, the next follows at once;
    when the writer changed at most ``TAIL`` rows while one ran, the next runs with the
    writes held (:attr:`holding`: the group commit keeps its batch until
    ``on_release``), copies the rest, and the next commit starts the WAL again. The hold
    lasts one short pass: a few frames and the fsyncs.

    A COMMIT never cuts the file back (the writer's ``journal_size_limit`` is -1): SQLite
    would free what lies past the limit there, on the event loop's thread, when the WAL
    starts again. The file keeps the largest size it reached, two to three times
    ``BOUND`` under steady traffic, more after a burst past the knee (230 MiB); once it
    is over ``KEEP`` and the writer has changed nothing for ``IDLE_S``, a held pass
    truncates it on this thread (:func:`_wal_checkpoint`). Truncating in the first held
    pass after a burst, as before, held the writes 190 to 310 ms with the traffic still
    coming (docs/store.md)."""

    EVERY = 2000  # rows changed by the writer between passes
    BOUND = 4096  # frames (16 MiB of 4 KiB pages) past which the passes catch up
    TAIL = 256  # rows changed during a pass, at most, for the next to hold the writes
    KEEP = 4 * BOUND  # pages of WAL file past which a pause truncates it (64 MiB)
    # Seconds without a changed row that make a pause. Long: a truncated file has to
    # grow again with the next traffic, so only a node that has gone quiet gives its
    # disk back.
    IDLE_S = 30.0

    def __init__(
        self,
        lane: Lane,
        db: sqlite3.Connection,
        writer: sqlite3.Connection,
        on_release: Callable[[], None],
        wal_path: str,
        page_size: int,
    ) -> None:
        self._lane, self._db, self._writer = lane, db, writer
        self._on_release = on_release
        self._wal_path, self._page = wal_path, page_size
        self._pause: asyncio.TimerHandle | None = None  # waiting for IDLE_S without writes
        self._at = writer.total_changes
        self._running: asyncio.Task[None] | None = None
        self._backfilled = 0  # the WAL's frames copied, as the last pass left them
        self._closing = False
        self.holding = False  # the running pass holds the group commit's writes
        self.done = 0  # passes run (tests)
        self.held = 0  # of them with the writes held (tests)
        self.truncated = 0  # of them that truncated the file (tests)

    @classmethod
    async def open(
        cls,
        path: str,
        writer: sqlite3.Connection,
        connect: Callable[[str], sqlite3.Connection],
        on_release: Callable[[], None],
    ) -> Checkpointer:
        lane = Lane("sqlite-checkpoint")
        try:
            db = await lane.run(connect, path)
        except BaseException:
            await lane.stop()
            raise
        (page,) = writer.execute("PRAGMA page_size").fetchone()  # no write under way yet
        return cls(lane, db, writer, on_release, path + "-wal", int(page))

    def after_commit(self) -> None:
        """On the loop's thread, after a write transaction: start a checkpoint when due."""
        if self._running is not None or self._writer.total_changes - self._at < self.EVERY:
            return
        self._start(hold=False)

    def _start(self, *, hold: bool, truncate: bool = False) -> None:
        self._at = self._writer.total_changes
        self.holding = hold
        self._running = asyncio.get_running_loop().create_task(self._checkpoint(truncate))

    async def _checkpoint(self, truncate: bool) -> None:
        held = self.holding
        frames = copied = 0
        try:
            # A held pass copies everything (nothing is written meanwhile); one that
            # follows a pause also truncates the file, here (see _wal_checkpoint).
            frames, copied, cut = await self._lane.run(_wal_checkpoint, self._db, truncate)
            self.done += 1
            self.truncated += cut
        except sqlite3.Error as exc:  # the next one tries again; the WAL only grows
            log.warning("SQLite WAL checkpoint failed: %s", exc)
        finally:
            self._running = None
            if held:
                self.holding = False
                self.held += 1
                self._on_release()
        moved, self._backfilled = copied != self._backfilled, copied
        self._await_pause()
        # Not after a held pass (it copied everything, unless a reader of another
        # process keeps old frames), nor after one that copied nothing: writes would
        # wait on passes that cannot help. Those wait for EVERY more changes.
        if self._closing or held or not moved or frames <= self.BOUND:
            return
        # What the writer changed while this pass ran is what the next has to copy
        # (the pass's own figures stop where it began).
        self._start(hold=self._writer.total_changes - self._at <= self.TAIL)

    def _await_pause(self) -> None:
        """After a pass: while the file is over KEEP pages, look every IDLE_S for a
        pause in the writes, and truncate it in the first."""
        if self._closing or self._pause is not None or self._wal_pages() <= self.KEEP:
            return
        at = self._writer.total_changes

        def check() -> None:
            self._pause = None
            if self._closing or self._running is not None:
                return  # the pass under way looks again when it ends
            if self._writer.total_changes == at and self._wal_pages() > self.KEEP:
                self._start(hold=True, truncate=True)
            else:
                self._await_pause()

        self._pause = asyncio.get_running_loop().call_later(self.IDLE_S, check)

    def _wal_pages(self) -> int:
        try:
            return os.stat(self._wal_path).st_size // self._page
        except OSError:  # no WAL file (the last connection closed it)
            return 0

    async def close(self) -> None:
        self._closing = True
        if self._pause is not None:
            self._pause.cancel()
        while self._running is not None:
            await asyncio.wait([self._running])
        await self._lane.run(self._db.close)
        await self._lane.stop()


def _wal_checkpoint(db: sqlite3.Connection, truncate: bool) -> tuple[int, int, bool]:
    """A PASSIVE checkpoint: the WAL's frames, the frames copied so far, and whether the
    file was truncated.

    ``truncate`` (a held pass after a pause): the WAL, all copied, is then truncated to
    nothing here, on the checkpoint's thread (TRUNCATE, which gives up at once while a
    reader is still on the WAL: the writes are held meanwhile, and the next pause tries
    again)."""
    _busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if truncate and copied == frames:
        db.execute("PRAGMA busy_timeout = 0")  # never wait on a reader with writes held
        busy, frames, copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(frames), int(copied), not busy
    return int(frames), int(copied), False


class SyncConn:
    """The shared code's ``Conn`` over a sqlite3 connection, used on the thread that owns
    it: the methods are coroutines only in form (they never suspend), so a coroutine of
    the shared code that awaits nothing else runs to its end in one :func:`drive`."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        return self._db.execute(sql(query), args).fetchall()

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        rows: list[Row] = self._db.execute(sql(query), args).fetchall()
        return rows[0] if rows else None

    async def execute(self, query: str, *args: Any) -> None:
        self._db.execute(sql(query), args).fetchall()

    async def changes(self, query: str, *args: Any) -> int:
        """Run an INSERT, UPDATE or DELETE: the rows it changed."""
        return self._db.execute(sql(query), args).rowcount

    def data_version(self) -> int:
        """Moves when another connection, of this process or another, commits."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return int(version)

    @property
    def total_changes(self) -> int:
        """The rows this connection has inserted, updated or deleted since it opened."""
        return self._db.total_changes


# On the event loop's thread the same class reads inline: one statement, no hop.
InlineConn = SyncConn


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (shared code over a :class:`SyncConn`)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("store code awaited something other than its SQLite connection")
