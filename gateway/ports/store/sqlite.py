"""The embedded store: SQLite through aiosqlite.

One connection in WAL mode (``synchronous=NORMAL``, foreign keys on). Every operation
holds one asyncio lock for its whole duration, so transactions never interleave on the
shared connection and writes are serialised: that single writer is what makes
``append_message``'s seq allocation atomic. Write transactions start with
``BEGIN IMMEDIATE`` so another process on the same file makes us wait (``busy_timeout``)
rather than fail half-way; when it still does, the error is ``StoreUnavailable``.
Appends are group-committed (``_group_commit.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.errors import (
    Conflict,
    DuplicateRecord,
    GatewayError,
    MissingReference,
    StoreError,
    StoreUnavailable,
)
from gateway.model.channels import ChannelName
from gateway.model.records import Contact
from gateway.ports.store import migrate
from gateway.ports.store._group_commit import GroupCommit
from gateway.ports.store._rows import CONTACTS, LINK_ADDRESS, Row

# primary result codes (the low byte of the extended code)
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
}


@lru_cache(maxsize=512)
def _sql(query: str) -> str:
    """PostgreSQL ``$n`` placeholders to SQLite's numbered ``?n`` (same semantics)."""
    return re.sub(r"\$(\d+)", r"?\1", query)


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


class _Conn:
    """The shared code's view of the aiosqlite connection."""

    __slots__ = ("_db",)

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._db.execute_fetchall(_sql(sql), args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self._db.execute_fetchall(_sql(sql), args)
        for row in rows:
            return row
        return None

    async def execute(self, sql: str, *args: Any) -> None:
        await self._db.execute_fetchall(_sql(sql), args)


class _MigrationTarget:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def newest(self) -> int:
        rows = list(await self._db.execute_fetchall("SELECT max(version) FROM schema_migrations"))
        return int(rows[0][0] or 0)

    async def apply(self, migration: migrate.Migration) -> bool:
        db = self._db
        # BEGIN IMMEDIATE takes the write lock: a second process waits, then sees the
        # version recorded and skips it.
        await db.execute_fetchall("BEGIN IMMEDIATE")
        try:
            done = await db.execute_fetchall(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            )
            if list(done):
                await db.execute_fetchall("COMMIT")
                return False
            for statement in migrate.split_sqlite(migration.sql):
                await db.execute_fetchall(statement)
            await db.execute_fetchall(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            await db.execute_fetchall("COMMIT")
            return True
        except BaseException:
            with suppress(sqlite3.Error):
                await db.execute_fetchall("ROLLBACK")
            raise


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600; SQLite gives its -wal
    and -shm files the same mode): it holds password hashes, identity secrets, contacts
    and messages. A new directory for it is 0700. An existing file is left as it is."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class SQLiteStore(GroupCommit):
    """The store in one SQLite file (``:memory:`` for tests)."""

    _JSON_LIST_HAS = "EXISTS (SELECT 1 FROM json_each({col}) WHERE value = {arg})"

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._conn: _Conn | None = None
        self._lock = asyncio.Lock()
        super().__init__()

    # -- lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        in_memory = self.path in ("", ":memory:") or self.path.startswith("file:")
        try:
            if not in_memory:
                _create_private(Path(self.path))
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the SQLite database {self.path!r}: {exc}") from exc
        try:
            await db.execute_fetchall(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._enable_wal(db)
            await db.execute_fetchall("PRAGMA synchronous = NORMAL")
            await db.execute_fetchall("PRAGMA foreign_keys = ON")
            await db.execute_fetchall(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            await migrate.run(_MigrationTarget(db), "sqlite")
        except BaseException as exc:
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc) from exc
            raise
        self._db = db
        self._conn = _Conn(db)

    async def _enable_wal(self, db: aiosqlite.Connection) -> None:
        # Switching a new file to WAL needs it exclusively and does not wait on the busy
        # handler: when another process is opening the same new file, retry for a while.
        deadline = time.monotonic() + max(self.busy_timeout, 0.5)
        while True:
            try:
                await db.execute_fetchall("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        async with self._lock:
            db, self._db, self._conn = self._db, None, None
            if db is not None:
                await db.close()

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
                except BaseException:
                    with suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(exc) from exc

    def _require(self) -> _Conn:
        if self._conn is None:
            raise self._not_open()
        return self._conn

    # -- dialect-specific operations -------------------------------------------------
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
                    await c.execute(LINK_ADDRESS, *address, contact_id, now)
        except Conflict as exc:
            raise Conflict(f"contact {contact_id!r} exists") from exc
        return contact
