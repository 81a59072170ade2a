"""The embedded store: SQLite, its writer on a thread of its own (``_sqlite_lane.py``).

One writer connection in WAL mode (``synchronous=NORMAL``, foreign keys on). Every
operation that uses it holds one asyncio lock for its whole duration, so transactions
never interleave on the shared connection and writes are serialised: that single writer
is what makes ``append_message``'s seq allocation atomic. Write transactions start with
``BEGIN IMMEDIATE`` so another process on the same file makes us wait (``busy_timeout``)
rather than fail half-way; when it still does, the error is ``StoreUnavailable``.
Appends are group-committed (``_group_commit.py``), a whole batch in one transaction on
the event loop's own thread when the writer is free (else in one hop to the writer's
thread). Reads by primary key use a second connection inline (a file only: an in-memory
database has one connection, so they take the writer's lane).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from gateway.errors import (
    Conflict,
    DuplicateRecord,
    GatewayError,
    MissingReference,
    StoreError,
    StoreUnavailable,
)
from gateway.model.channels import ChannelName
from gateway.model.records import LIVE_STATES, Contact, Conversation
from gateway.ports.store import migrate
from gateway.ports.store._group_commit import GroupCommit, WriterBusy
from gateway.ports.store._rows import CONTACTS, AddressTaken, Conn, Row, Table, claim_address
from gateway.ports.store._sqlite_lane import (
    Checkpointer,
    InlineConn,
    Lane,
    SyncConn,
    drive,
    sql,
)
from gateway.ports.store.base import LiveElsewhere

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

# primary result codes (the low byte of the extended code)
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
}


def _translate(exc: sqlite3.Error) -> GatewayError:
    message = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if isinstance(exc, sqlite3.IntegrityError):
        if code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY or "FOREIGN KEY" in message:
            return MissingReference(f"a referenced record does not exist ({message})")
        if code in (
            sqlite3.SQLITE_CONSTRAINT_UNIQUE,
            sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
        ) or message.startswith("UNIQUE"):
            return DuplicateRecord(f"duplicate ({message})")
        return StoreError(message)
    lowered = message.lower()
    if primary in _UNAVAILABLE_CODES or "database is locked" in lowered or "busy" in lowered:
        return StoreUnavailable(f"SQLite: {message}")
    return StoreError(f"SQLite: {message}")


def _fetchall(db: sqlite3.Connection, query: str, args: tuple[Any, ...]) -> list[Row]:
    return db.execute(query, args).fetchall()


class _Conn:
    """The shared code's view of the writer: each statement is one hop to its thread."""

    __slots__ = ("_db", "_lane")

    def __init__(self, lane: Lane, db: sqlite3.Connection) -> None:
        self._lane = lane
        self._db = db

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        return await self._lane.run(_fetchall, self._db, sql(query), args)

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        rows = await self._lane.run(_fetchall, self._db, sql(query), args)
        return rows[0] if rows else None

    async def execute(self, query: str, *args: Any) -> None:
        await self._lane.run(_fetchall, self._db, sql(query), args)


class _MigrationTarget:
    def __init__(self, conn: _Conn) -> None:
        self._c = conn

    async def newest(self) -> int:
        row = await self._c.fetchrow("SELECT max(version) FROM schema_migrations")
        return int(row[0] or 0) if row else 0

    async def apply(self, migration: migrate.Migration) -> bool:
        c = self._c
        # BEGIN IMMEDIATE takes the write lock: a second process waits, then sees the
        # version recorded and skips it.
        await c.execute("BEGIN IMMEDIATE")
        try:
            if await c.fetchrow(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            ):
                await c.execute("COMMIT")
                return False
            for statement in migrate.split_sqlite(migration.sql):
                await c.execute(statement)
            await c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time(),
            )
            await c.execute("COMMIT")
            return True
        except BaseException:
            with suppress(sqlite3.Error):
                await c.execute("ROLLBACK")
            raise


# Each connection's page cache, at most (it grows as pages are read). SQLite's default,
# 2 MiB, is less than the pages a busy node writes to (every live conversation's last
# leaf of the messages table and of the idempotency index, and its row): with 1,000
# conversations relaying 2,500 msg/s the writer read 4 to 6 pages a message back from
# the file, 2 with this (docs/store.md).
CACHE_KIB = 32 * 1024


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600; SQLite gives its -wal
    and -shm files the same mode): it holds password hashes, identity secrets, contacts
    and messages. A new directory for it is 0700. An existing file is left as it is."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _connect(path: str) -> sqlite3.Connection:
    # check_same_thread off: the writer is opened and used on its lane, closed from there
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


class SQLiteStore(GroupCommit):
    """The store in one SQLite file (``:memory:`` for tests)."""

    _JSON_LIST_HAS = "EXISTS (SELECT 1 FROM json_each({col}) WHERE value = {arg})"

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lane: Lane | None = None
        self._db: sqlite3.Connection | None = None  # the writer, used on the lane
        self._conn: _Conn | None = None
        self._reader: InlineConn | None = None
        self._reader_db: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None  # a file only
        self._lock = asyncio.Lock()
        self._outbound_starts = asyncio.Lock()  # create_outbound_conversation
        super().__init__()

    # -- lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        in_memory = self.path in ("", ":memory:") or self.path.startswith("file:")
        lane = Lane()
        try:
            if not in_memory:
                _create_private(Path(self.path))
            db = await lane.run(_connect, self.path)
        except (sqlite3.Error, OSError) as exc:
            await lane.stop()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc) from exc
            raise StoreUnavailable(f"cannot open the SQLite database {self.path!r}: {exc}") from exc
        conn = _Conn(lane, db)
        reader: sqlite3.Connection | None = None
        checkpointer: Checkpointer | None = None
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._enable_wal(conn)
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            await migrate.run(_MigrationTarget(conn), "sqlite")
            if not in_memory:
                # Reads on the event loop's thread must never wait: no busy handler (a
                # read the file's lock turns away takes the writer's lane instead), and
                # nothing but reads.
                reader = _connect(self.path)
                reader.execute("PRAGMA busy_timeout = 0")
                reader.execute("PRAGMA query_only = ON")
                reader.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
                await conn.execute("PRAGMA wal_autocheckpoint = 0")
                # never cut back in a COMMIT: the checkpointer truncates it in a pause
                await conn.execute("PRAGMA journal_size_limit = -1")
                checkpointer = await Checkpointer.open(self.path, db, _connect, self._resume)
        except BaseException as exc:
            if reader is not None:
                reader.close()
            if checkpointer is not None:
                await checkpointer.close()
            await lane.run(db.close)
            await lane.stop()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc) from exc
            raise
        self._lane, self._db, self._conn = lane, db, conn
        self._checkpointer = checkpointer
        if reader is not None:
            self._reader_db, self._reader = reader, InlineConn(reader)

    async def _enable_wal(self, conn: _Conn) -> None:
        # Switching a new file to WAL needs it exclusively and does not wait on the busy
        # handler: when another process is opening the same new file, retry for a while.
        deadline = time.monotonic() + max(self.busy_timeout, 0.5)
        while True:
            try:
                await conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        async with self._lock:
            lane, db, reader = self._lane, self._db, self._reader_db
            checkpointer, self._checkpointer = self._checkpointer, None
            self._lane = self._db = self._conn = self._reader = self._reader_db = None
            if reader is not None:
                reader.close()
            if checkpointer is not None:
                await checkpointer.close()
            if lane is not None and db is not None:
                await lane.run(db.close)
                await lane.stop()

    async def ping(self) -> bool:
        return await self.ready("sqlite")

    # -- transactions --------------------------------------------------------------
    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Conn]:
        async with self._lock:
            conn = self._require()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise _translate(exc) from exc

    @asynccontextmanager
    async def _transaction(self, *, write: bool = True) -> AsyncIterator[_Conn]:
        async with self._lock:
            conn = self._require()
            try:
                await conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                    await conn.execute("COMMIT")
                    self._committed()
                except BaseException:
                    with suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(exc) from exc

    async def _in_one_hop(self, body: Callable[[SyncConn], Coroutine[Any, Any, T]]) -> T:
        """``body`` in one write transaction, all of it in one hop to the writer's thread
        (``body`` must await nothing but its connection)."""
        async with self._lock:
            self._require()
            lane, db = self._lane, self._db
            assert lane is not None and db is not None
            try:
                result: T = await lane.run(_transact, db, body)
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
            self._committed()
            return result

    async def _atomically(self, body: Callable[[Conn], Coroutine[Any, Any, T]]) -> T:
        return await self._in_one_hop(body)

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.after_commit()

    def _writes_held(self) -> bool:
        checkpointer = self._checkpointer
        return checkpointer is not None and checkpointer.holding

    def _inline_ready(self) -> bool:
        lane = self._lane
        return self._db is not None and lane is not None and lane.idle and not self._lock.locked()

    def _inline(self, body: Callable[[SyncConn], Coroutine[Any, Any, T]]) -> T:
        """``body`` in one write transaction on the event loop's thread (the group commit:
        its statements take microseconds, less than a hop to the writer's thread). The
        loop must never wait on the file's lock, so BEGIN runs without a busy handler:
        when another process holds the lock it is ``WriterBusy`` and the batch takes the
        writer's thread, which waits ``busy_timeout`` for it."""
        db = self._db
        assert db is not None and self._inline_ready()
        try:
            db.execute("PRAGMA busy_timeout = 0")
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if isinstance(_translate(exc), StoreUnavailable):
                    raise WriterBusy(str(exc)) from exc
                raise
            finally:
                db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            result = _transact(db, body, begun=True)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        self._committed()
        return result

    async def _get(self, table: Table[S], key: str) -> S:
        """A read by primary key: inline on the reader (no hop, no lock), or through the
        writer's lane when there is no reader (in memory) or the file's lock turns the
        reader away (another process recovering or checkpointing it)."""
        reader = self._reader
        if reader is not None:
            try:
                row = await reader.fetchrow(table.sql_get, key)
            except sqlite3.OperationalError as exc:
                if not isinstance(_translate(exc), StoreUnavailable):
                    raise _translate(exc) from exc
            else:
                return self._found(table, key, row)
        return await super()._get(table, key)

    def _require(self) -> _Conn:
        if self._conn is None:
            raise self._not_open()
        return self._conn

    # -- dialect-specific operations -------------------------------------------------
    async def create_outbound_conversation(self, conv: Conversation) -> Conversation:
        # One writer and so one node: one such start at a time here is one at a time.
        async with self._outbound_starts:
            live = await self.list_conversations(
                contact_id=conv.contact_id,
                touchpoint_id=conv.touchpoint_id,
                states=list(LIVE_STATES),
            )
            for other in live:
                if other.direction == "outbound":
                    raise LiveElsewhere(
                        f"the contact has an open outbound conversation: {other.id}"
                    )
            return await self.create_conversation(conv)

    async def create_contact(
        self,
        contact_id: str,
        *,
        name: str = "",
        email: str = "",
        phone: str = "",
        now: float,
        address: tuple[ChannelName, str] | None = None,
        saved: bool = False,
    ) -> Contact:
        try:
            async with self._transaction() as c:
                row = await c.fetchrow(
                    "UPDATE counters SET value = value + 1 WHERE name = 'contact_number'"
                    " RETURNING value"
                )
                if row is None:
                    raise StoreError("the contact_number counter is missing")
                contact = Contact(
                    id=contact_id,
                    number=row[0],
                    name=name,
                    email=email,
                    phone=phone,
                    created_at=now,
                    saved=saved,
                )
                await c.execute(CONTACTS.sql_insert, *CONTACTS.params(contact))
                if address is not None:
                    await claim_address(c, *address, contact_id, now)
        except Conflict as exc:
            raise Conflict(f"contact {contact_id!r} exists") from exc
        except AddressTaken as taken:  # rolled back: the address's contact instead
            return taken.contact
        return contact


def _transact(
    db: sqlite3.Connection,
    body: Callable[[SyncConn], Coroutine[Any, Any, T]],
    *,
    begun: bool = False,
) -> T:
    """``body`` between BEGIN IMMEDIATE (unless ``begun``) and COMMIT, on the thread that
    uses the writer now."""
    if not begun:
        db.execute("BEGIN IMMEDIATE")
    try:
        result = drive(body(SyncConn(db)))
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return result
