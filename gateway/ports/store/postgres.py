"""The clustered store: PostgreSQL through an asyncpg pool.

asyncpg prepares every statement on first use per connection and caches it, so the
hot paths run as prepared statements. Single-statement operations run in autocommit
(one statement is one transaction); multi-statement ones in an explicit transaction.

``append_message`` is one statement: a data-modifying CTE bumps ``last_seq`` (and the
other side's unread count) with ``UPDATE ... RETURNING`` -- which row-locks the
conversation until commit, serialising concurrent appends to it -- and the INSERT takes
its seq from that. A retry of a client message id violates the unique index, which
aborts the whole statement (the bump included); the original message is then read back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import asyncpg.exceptions as pgerr

from gateway.errors import (
    Conflict,
    DuplicateRecord,
    GatewayError,
    MissingReference,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from gateway.model.channels import ChannelName
from gateway.model.records import (
    LIVE_STATES,
    Attachment,
    Contact,
    Conversation,
    DeliveryState,
    MessageKind,
    Sender,
)
from gateway.ports.store import migrate
from gateway.ports.store._attachments import attach, attachable, refs
from gateway.ports.store._pg_append import (
    APPEND,
    APPEND_MANY,
    NOT_APPENDED,
    AppendBatcher,
    Pending,
    batched,
    inserted_message,
)
from gateway.ports.store._rows import (
    CONVERSATIONS,
    SELECT_BY_CLIENT_ID,
    AddressTaken,
    Conn,
    Row,
    announce_message,
    claim_address,
    decode_message,
    email_key,
    guard_args,
    refs_json,
    search_fold,
    to_json,
    unread_increments,
)
from gateway.ports.store._sql import SQLStore
from gateway.ports.store.base import Appended, LiveElsewhere, MessageAnnouncer, Stale

# Another live outbound conversation of a contact on a touchpoint, at any address (the
# integration API's one open outbound conversation per contact), looked for after the
# insert under a lock of the pair held until commit: of two starts at once, on any
# nodes, the one that takes the lock second sees the first's committed row.
_OUTBOUND_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_LIVE_OUTBOUND = (
    "SELECT id FROM conversations WHERE contact_id = $1 AND touchpoint_id = $2"
    " AND direction = 'outbound' AND state = ANY($3::text[]) AND id <> $4 LIMIT 1"
)


async def _one_live_outbound(c: Conn, conv: Conversation) -> None:
    """After the insert, in its transaction: LiveElsewhere (rolled back) when the contact
    has another live outbound conversation on the touchpoint. Inserted first, locked
    after: the lock's holder only reads and commits, so waiting for it closes no cycle;
    a transaction's lock, gone at commit (no session state on the pool)."""
    await c.execute(_OUTBOUND_LOCK, f"outbound {conv.touchpoint_id} {conv.contact_id}")
    live = await c.fetchrow(
        _LIVE_OUTBOUND, conv.contact_id, conv.touchpoint_id, list(LIVE_STATES), conv.id
    )
    if live is not None:
        raise LiveElsewhere(f"the contact has an open outbound conversation: {live[0]}")


# pg_advisory_lock key held while migrating ("gwmigrat" as a 64-bit integer)
MIGRATION_LOCK_KEY = 0x67776D6967726174

# NOT EXISTS first so that a duplicate id does not use up a number (nextval is
# evaluated only for a row that gets inserted); a race still ends in the unique index.
_INSERT_CONTACT = """
INSERT INTO contacts (id, number, name, email, email_key, phone, created_at, saved,
                      name_fold, email_fold)
SELECT $1::text, nextval('contact_number_seq'), $2::text, $3::text, $4::text, $5::text,
       $6::float8, $7::boolean, $8::text, $9::text
WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE id = $1::text)
RETURNING number
"""

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionRefusedError and TimeoutError
    asyncio.TimeoutError,
    pgerr.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, ...
    pgerr.CannotConnectNowError,
    pgerr.AdminShutdownError,
    pgerr.CrashShutdownError,
    pgerr.TooManyConnectionsError,
    pgerr.ReadOnlySQLTransactionError,  # a read-only replica or database: writes later
    pgerr.InterfaceError,  # e.g. the connection or the pool is closed
    # a pooled connection whose server went away mid-use (a terminated backend, a
    # failover): "cannot switch to state ..., another operation is in progress", raised
    # before anything is sent
    pgerr.InternalClientError,
)
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (*_UNAVAILABLE, pgerr.PostgresError)


def _translate(exc: BaseException) -> GatewayError:
    if isinstance(exc, pgerr.UniqueViolationError):
        return DuplicateRecord(f"duplicate ({exc})")
    if isinstance(exc, pgerr.ForeignKeyViolationError):
        return MissingReference(f"a referenced record does not exist ({exc})")
    if isinstance(exc, pgerr.InterfaceError) and isinstance(exc, ValueError):
        # client-side: an argument of the wrong type (DataError) or a bad DSN
        return StoreError(f"PostgreSQL: {exc}")
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(f"PostgreSQL unavailable: {exc!r}")
    return StoreError(f"PostgreSQL: {exc}")


# The append batch's statement is planned again at every call under the default
# ``plan_cache_mode``: its generic plan's guess of an array parameter's length (10
# conversations) costs more than a custom plan's exact one, so the generic plan is never
# chosen, and planning the statement cost PostgreSQL more than running it (0.73 ms
# against 0.51 per batch, docs/store.md), so the batches' connection uses the generic plan.
# That plan is made once, at the connection's first batch, on the table as it is then,
# and kept until the table is analyzed again: made while the conversations were a page
# or two it read them whole, in every batch, long after they were thousands (one node of
# the contact-center benchmark, three times the other's PostgreSQL CPU a message). Every
# statement on this connection finds its rows by key, so no sequential scan is needed.
_BATCH_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """A connection going back to the pool keeps its session as it is. The store's
    connections take no session state (no SET, LISTEN, advisory lock or cursor: the
    migration's lock is on a connection of its own), so asyncpg's default reset query
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) would be a round
    trip and four unprepared statements per use of the pool -- two per message -- for
    nothing. asyncpg still rolls back a transaction left open before calling this."""


class _Conn:
    """The shared code's view of an asyncpg connection."""

    __slots__ = ("_c",)

    def __init__(self, conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record]) -> None:
        self._c = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Any] = await self._c.fetch(sql, *args)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Any = await self._c.fetchrow(sql, *args)
        return row  # type: ignore[no-any-return]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._c.execute(sql, *args)


class _MigrationTarget:
    def __init__(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        self._c = conn

    async def newest(self) -> int:
        return int(await self._c.fetchval("SELECT max(version) FROM schema_migrations") or 0)

    async def apply(self, migration: migrate.Migration) -> bool:
        async with self._c.transaction():
            if await self._c.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            ):
                return False
            await self._c.execute(migration.sql)  # no arguments: several statements allowed
            await self._c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time(),
            )
        return True


class PostgresStore(SQLStore):
    """The store in PostgreSQL; any number of gateway nodes may share one database."""

    _JSON_LIST_HAS = "{col} ? {arg}::text"
    _claim_lock = " FOR UPDATE OF m SKIP LOCKED"
    _row_lock = " FOR UPDATE"

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        command_timeout: float | None = 30.0,
    ) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        # the append batches' own connection (see _BATCH_SETTINGS)
        self._batches: asyncpg.Pool[asyncpg.Record] | None = None
        self._batcher = AppendBatcher(self._append_many, self._append_alone, batched)

    # -- lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = await self._create_pool(self.min_size, self.max_size, {})
        batches = None
        try:
            # one batch is on its way at a time (_pg_append.py): one connection
            batches = await self._create_pool(1, 1, _BATCH_SETTINGS)
            await self._migrate()
        except BaseException as exc:
            pool.terminate()
            if batches is not None:
                batches.terminate()
            if isinstance(exc, _DRIVER_ERRORS):
                raise _translate(exc) from exc
            raise
        self._pool, self._batches = pool, batches

    async def _create_pool(
        self, min_size: int, max_size: int, settings: dict[str, str]
    ) -> asyncpg.Pool[asyncpg.Record]:
        try:
            return await asyncpg.create_pool(
                self.dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
                server_settings={"application_name": "engagement-gateway", **settings},
                reset=_keep_session,
            )
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def _migrate(self) -> None:
        # A connection of its own, without the pool's command timeout: a migration (or
        # waiting for another node's) may legitimately take long.
        conn = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
        try:
            # two nodes starting at once: the second waits here, then finds nothing to do;
            # the lock ends with the session if this process dies
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at double precision NOT NULL)"
            )
            await migrate.run(_MigrationTarget(conn), "postgres")
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        finally:
            await conn.close()

    async def close(self) -> None:
        pools = (self._pool, self._batches)
        self._pool = self._batches = None
        for pool in pools:
            if pool is None:
                continue
            try:
                async with asyncio.timeout(10):
                    await pool.close()
            except Exception:
                pool.terminate()

    async def ping(self) -> bool:
        return self._pool is not None and await self.ready("postgres")

    # -- transactions --------------------------------------------------------------
    def _require(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise self._not_open()
        return self._pool

    @asynccontextmanager
    async def _connection(
        self, pool: asyncpg.Pool[asyncpg.Record] | None = None
    ) -> AsyncIterator[_Conn]:
        """A connection of the pool (``pool``: another of the store's)."""
        pool = pool or self._require()
        try:
            async with pool.acquire() as conn:
                yield _Conn(conn)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    @asynccontextmanager
    async def _transaction(self, *, write: bool = True) -> AsyncIterator[_Conn]:
        pool = self._require()
        try:
            async with pool.acquire() as conn:
                if write:
                    async with conn.transaction():
                        yield _Conn(conn)
                else:  # a consistent snapshot for multi-statement reads (export)
                    async with conn.transaction(isolation="repeatable_read", readonly=True):
                        yield _Conn(conn)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    # -- dialect-specific operations -------------------------------------------------
    async def create_outbound_conversation(self, conv: Conversation) -> Conversation:
        return await self.create_conversation(conv, then=_one_live_outbound)

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
                    _INSERT_CONTACT,
                    contact_id,
                    name,
                    email,
                    email_key(email),
                    phone,
                    now,
                    saved,
                    search_fold(name),
                    search_fold(email),
                )
                if row is None:
                    raise Conflict(f"contact {contact_id!r} exists")
                if address is not None:
                    await claim_address(c, *address, contact_id, now)
        except Conflict as exc:
            raise Conflict(f"contact {contact_id!r} exists") from exc
        except AddressTaken as taken:  # rolled back: the address's contact instead
            return taken.contact
        return Contact(
            id=contact_id,
            number=row[0],
            name=name,
            email=email,
            phone=phone,
            created_at=now,
            saved=saved,
        )

    async def append(
        self,
        conversation_id: str,
        *,
        sender: Sender,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: MessageKind = "text",
        attachments: Sequence[str] = (),
        delivery: DeliveryState = "",
        announce: MessageAnnouncer | None = None,
        expect: Conversation | None = None,
    ) -> Appended:
        """One statement: bump the conversation, insert the message, and return both;
        with events to announce, that statement and their outbox rows in one
        transaction. The bump row-locks the conversation first and returns it as it is
        then: a routing that committed before is seen (the message is announced here),
        one under way waits for this commit (and reads the message). ``expect`` guards the bump (``WHERE``): a changed
        conversation stores nothing."""
        agent_inc, contact_inc = unread_increments(sender, kind)
        args = (sender, sender_id, client_msg_id, body, now, kind, agent_inc, contact_inc, delivery)
        if attachments:
            found = await self._append_with_files(
                conversation_id, args, attachments, announce, expect
            )
            if isinstance(found, Appended):
                return found
            row, files = found
            message = inserted_message(conversation_id, row, args, files)
            return Appended(message, True, CONVERSATIONS.decode(tuple(row)[1:]))
        if announce is not None or not client_msg_id:
            # Outbox rows need a transaction; a message without an id cannot be told
            # from a retry if a batch's fate is unknown: both go alone.
            return await self._append_one(conversation_id, args, announce, guard_args(expect))
        # The common message: in the next batch (_pg_append.py), one round trip for all
        # that arrive together.
        return await self._batcher.append(Pending(conversation_id, args, guard_args(expect)))

    async def _append_alone(self, item: Pending) -> Appended:
        return await self._append_one(item.conversation_id, item.args, None, item.guard)

    async def _append_many(
        self, conversations: list[tuple[Any, ...]], messages: list[tuple[Any, ...]]
    ) -> Sequence[Row]:
        ids = [row[0] for row in conversations]
        params = (ids, to_json(conversations), to_json(messages))
        async with self._connection(self._batches) as c:
            return await c.fetch(APPEND_MANY, *params)

    async def _append_one(
        self,
        conversation_id: str,
        args: tuple[Any, ...],
        announce: MessageAnnouncer | None,
        guard: tuple[Any, ...],
    ) -> Appended:
        """APPEND alone: one statement, or one transaction with its outbox rows."""
        sender, sender_id, client_msg_id = args[0], args[1], args[2]
        try:
            async with self._connection() if announce is None else self._transaction() as c:
                inserted = await c.fetchrow(APPEND, conversation_id, *args, "[]", *guard)
                if inserted is not None:
                    await announce_message(
                        c,
                        announce,
                        CONVERSATIONS.decode(tuple(inserted)[1:]),
                        inserted_message(conversation_id, inserted, args, []),
                    )
        except Conflict:
            # a retry: the unique index refused the insert and the statement (with its
            # bump of last_seq) was rolled back as a whole
            async with self._connection() as c:
                existing = await c.fetchrow(
                    SELECT_BY_CLIENT_ID, conversation_id, sender, sender_id, client_msg_id
                )
            if existing is None:
                raise
            return Appended(
                decode_message(existing), False, await self.get_conversation(conversation_id)
            )
        if inserted is None:
            return await self._not_appended(conversation_id, args)
        message = inserted_message(conversation_id, inserted, args, [])
        return Appended(message, True, CONVERSATIONS.decode(tuple(inserted)[1:]))

    async def _append_with_files(
        self,
        conversation_id: str,
        args: tuple[Any, ...],
        ids: Sequence[str],
        announce: MessageAnnouncer | None,
        expect: Conversation | None,
    ) -> Appended | tuple[Row, list[Attachment]]:
        """A message with files: one transaction that locks the uploads, answers a retry
        with the message stored the first time, checks the files and attaches them.
        Returns the statement's row and the files, or the retry's message."""
        sender, sender_id, client_msg_id = args[0], args[1], args[2]
        async with self._transaction() as c:
            # Locks first: a concurrent retry waits here, then finds the message below.
            found = await attachable(c, conversation_id, sender, sender_id, ids, lock=True)
            if client_msg_id:
                existing = await c.fetchrow(
                    SELECT_BY_CLIENT_ID, conversation_id, sender, sender_id, client_msg_id
                )
                if existing is not None:
                    conv = await c.fetchrow(CONVERSATIONS.sql_get, conversation_id)
                    assert conv is not None
                    return Appended(decode_message(existing), False, CONVERSATIONS.decode(conv))
            if isinstance(found, NotFound):
                raise found
            row = await c.fetchrow(
                APPEND, conversation_id, *args, refs_json(refs(found)), *guard_args(expect)
            )
            if row is None:
                return await self._not_appended(conversation_id, None)
            await attach(c, found, row[0])
            await announce_message(
                c,
                announce,
                CONVERSATIONS.decode(tuple(row)[1:]),
                inserted_message(conversation_id, row, args, found),
            )
        return row, found

    async def _not_appended(self, conversation_id: str, args: tuple[Any, ...] | None) -> Appended:
        """Why APPEND stored nothing: a retry its guard turned away (answered with the
        message stored the first time, when ``args`` are given), else an unknown
        conversation (NotFound) or a changed one (Stale). One statement."""
        who = args[:3] if args is not None else (None, None, None)
        async with self._connection() as c:
            row = await c.fetchrow(NOT_APPENDED, conversation_id, *who)
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} not found")
        found = tuple(row)
        width = len(CONVERSATIONS.columns)
        if found[width] is not None:  # the message's conversation id: a retry
            return Appended(
                decode_message(found[width:]), False, CONVERSATIONS.decode(found[:width])
            )
        raise Stale(f"conversation {conversation_id!r} changed")
