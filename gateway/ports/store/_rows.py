"""What the SQLite and PostgreSQL stores share: the tables, the row codecs, the SQL that
is the same in both dialects, and the base of the shared operations.

SQL here is written with PostgreSQL's ``$1, $2`` placeholders; the SQLite connection
rewrites them to SQLite's numbered ``?1, ?2`` (same meaning, reusable). Each dialect
supplies a connection adapter (:class:`Conn`) and two context managers:

* ``_transaction(write=...)`` — one transaction; rolled back on any error;
* ``_connection()`` — a connection for a single statement (its own transaction).

Both translate driver errors into the gateway's (unique violation → Conflict, missing
foreign key → NotFound, unreachable → StoreUnavailable, other → StoreError) as they leave.
The operations themselves are in _config.py and _history.py, put together in _sql.py.
"""

from __future__ import annotations

import abc
import unicodedata
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from gateway.errors import Conflict, NotFound, StoreError, StoreUnavailable
from gateway.model.integrations import Announcement, ApiKey, OutboxEvent, Webhook
from gateway.model.records import (
    Agent,
    AgentSession,
    Attachment,
    AttachmentRef,
    Contact,
    Conversation,
    ConversationNote,
    DispositionSet,
    EmbedRefusal,
    Message,
    Queue,
    Rating,
    Sender,
    Side,
    Template,
    Touchpoint,
)
from gateway.ports.store.base import MessageAnnouncer, Store

T = TypeVar("T", bound=msgspec.Struct)
R = TypeVar("R")
Row = Sequence[Any]


class Conn(Protocol):
    """The few calls the shared code makes; rows are indexable by column position."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def execute(self, sql: str, *args: Any) -> None: ...


# one encoder, made once (msgspec.json.encode's defaults): a few lookups fewer per call,
# and an append with a guard calls this for every message (guard_args)
_encode_json = msgspec.json.Encoder().encode


def to_json(value: Any) -> str:
    return _encode_json(value).decode()


def email_key(email: str) -> str:
    """What emails are compared by: lower-cased (in Python, so both dialects agree)."""
    return email.lower()


def search_fold(text: str) -> str:
    """What contacts are searched by (their name and email, and the text searched for):
    case-folded and stripped of accents (NFKD minus combining marks), in Python, so
    both dialects agree: "Émile", "EMILE" and "émile" are "emile"; "Zoë" is "zoe"."""
    # stripped before and after folding: a compatibility form may be a capital ("㎒" is
    # "MHz"), and a fold may bring a mark ("İ" folds to "i" and a dot above)
    return _unaccented(_unaccented(text).casefold())


def _unaccented(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class Table(Generic[T]):
    """A table holding one record type, a column per struct field (lists and dicts as
    JSON), plus ``extra`` derived columns that are written but never read back."""

    def __init__(
        self,
        name: str,
        type_: type[T],
        *,
        order: str = "id",
        extra: dict[str, Callable[[T], Any]] | None = None,
    ) -> None:
        self.name = name
        self.type = type_
        self.columns: tuple[str, ...] = type_.__struct_fields__
        self.extra = extra or {}
        info = msgspec.inspect.type_info(type_)
        assert isinstance(info, msgspec.inspect.StructType)
        self.json = frozenset(
            f.name
            for f in info.fields
            if isinstance(f.type, msgspec.inspect.ListType | msgspec.inspect.DictType)
        )
        written = (*self.columns, *self.extra)
        cols = ", ".join(self.columns)
        placeholders = ", ".join(f"${i}" for i in range(1, len(written) + 1))
        updates = ", ".join(f"{c} = excluded.{c}" for c in written if c != "id")
        self.select = f"SELECT {cols} FROM {name}"
        self.sql_get = f"{self.select} WHERE id = $1"
        self.sql_list = f"{self.select} ORDER BY {order}"
        self.sql_insert = f"INSERT INTO {name} ({', '.join(written)}) VALUES ({placeholders})"
        self.sql_upsert = f"{self.sql_insert} ON CONFLICT (id) DO UPDATE SET {updates}"
        # the same parameters as the insert: $n is the n-th written column (tables keyed
        # otherwise than by id have none)
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(written, 1) if c != "id")
        key = written.index("id") + 1 if "id" in written else 0
        self.sql_update = f"UPDATE {name} SET {sets} WHERE id = ${key} RETURNING id"
        self.sql_delete = f"DELETE FROM {name} WHERE id = $1 RETURNING id"
        self.returning = f"RETURNING {cols}"

    def params(self, record: T) -> list[Any]:
        values = [
            to_json(getattr(record, c)) if c in self.json else getattr(record, c)
            for c in self.columns
        ]
        values.extend(derive(record) for derive in self.extra.values())
        return values

    def decode(self, row: Row) -> T:
        data = dict(zip(self.columns, row, strict=True))
        try:
            for c in self.json:
                data[c] = msgspec.json.decode(data[c])
            # strict=False: SQLite hands booleans back as 0/1
            return msgspec.convert(data, self.type, strict=False)
        except msgspec.MsgspecError as exc:
            # a value this version does not know (a newer node's, a hand edit): the
            # store's error, not a crash of whatever read it
            raise StoreError(f"a row of {self.name} does not read back: {exc}") from exc


TOUCHPOINTS = Table("touchpoints", Touchpoint, order="created_at, id")
QUEUES = Table("queues", Queue, order="name, id")
AGENTS = Table("agents", Agent, order="name, id", extra={"email_key": lambda a: email_key(a.email)})
DISPOSITION_SETS = Table("disposition_sets", DispositionSet, order="name, id")
SESSIONS = Table("agent_sessions", AgentSession)
CONTACTS = Table(
    "contacts",
    Contact,
    order="number",
    extra={
        "email_key": lambda c: email_key(c.email),
        "name_fold": lambda c: search_fold(c.name),
        "email_fold": lambda c: search_fold(c.email),
    },
)
CONVERSATIONS = Table("conversations", Conversation, order="created_at, id")
RATINGS = Table("ratings", Rating, order="created_at DESC, conversation_id")
REFUSALS = Table("embed_refusals", EmbedRefusal, order="last_at DESC, origin")
TEMPLATES = Table("templates", Template, order="collection, name, id")
NOTES = Table("conversation_notes", ConversationNote, order="created_at, id")
ATTACHMENTS = Table("attachments", Attachment, order="created_at, id")
API_KEYS = Table("api_keys", ApiKey, order="created_at, id")
WEBHOOKS = Table("webhooks", Webhook, order="name, id")

OUTBOX_COLUMNS = (
    "n, event_id, target, type, conversation_id, payload, created_at, state, attempts,"
    " due, last_error, delivered_at"
)
# Due at once when it is the first pending event of its (target, conversation); else it
# waits, undue, for the one before it to leave pending (record_outbox).
_INSERT_OUTBOX = (
    "INSERT INTO outbox (event_id, target, type, conversation_id, payload, created_at,"
    " state, due) SELECT $1, CAST($2 AS TEXT), $3, CAST($4 AS TEXT), $5,"
    " CAST($6 AS DOUBLE PRECISION), 'pending', CASE WHEN EXISTS (SELECT 1 FROM outbox"
    " WHERE target = CAST($2 AS TEXT) AND conversation_id = CAST($4 AS TEXT)"
    " AND state = 'pending') THEN NULL ELSE CAST($6 AS DOUBLE PRECISION) END"
)


def decode_outbox(r: Row) -> OutboxEvent:
    return OutboxEvent(
        n=r[0],
        event_id=r[1],
        target=r[2],
        type=r[3],
        conversation_id=r[4],
        payload=msgspec.json.decode(r[5]),
        created_at=r[6],
        state=r[7],
        attempts=r[8],
        due=r[9],
        last_error=r[10],
        delivered_at=r[11],
    )


async def write_announcements(
    c: Conn,
    announce: Sequence[Announcement],
    conversation: Conversation,
    message: Message | None = None,
) -> None:
    """The outbox rows of ``announce``, inside the caller's transaction: a payload of
    the conversation as the change left it (and the message appended), per target."""
    if not announce:
        return
    base: dict[str, Any] = {"conversation": msgspec.to_builtins(conversation)}
    if message is not None:
        base["message"] = msgspec.to_builtins(message)
    for a in announce:
        payload = to_json({**base, **a.data})
        for target in a.targets:
            await c.execute(
                _INSERT_OUTBOX, a.event_id, target, a.type, conversation.id, payload, a.at
            )


MESSAGE_COLUMNS = (
    "conversation_id, seq, sender, sender_id, client_msg_id, body, created_at, kind,"
    " delivery, delivery_error, provider_id, attachments"
)
SELECT_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM messages"


async def announce_message(
    c: Conn, announce: MessageAnnouncer | None, conversation: Conversation, message: Message
) -> None:
    """An appended message's events, inside its transaction, on the conversation as the
    append left it (its row locked by the append's bump): none while it is ``new``,
    whose routing announces it (``announce_written_messages``)."""
    if announce is not None and conversation.state != "new":
        await write_announcements(c, announce(conversation, message), conversation, message)


async def announce_written_messages(
    c: Conn, announce: MessageAnnouncer, conversation: Conversation
) -> None:
    """Inside the transaction that took the conversation out of ``new`` (its row locked):
    the events of every message written while it was new, which no append announced.
    An append that commits first is read here; one that commits after sees the
    conversation routed, and announces its message itself."""
    rows = await c.fetch(
        f"{SELECT_MESSAGES} WHERE conversation_id = $1 ORDER BY seq", conversation.id
    )
    for row in rows:
        message = decode_message(row)
        await write_announcements(c, announce(conversation, message), conversation, message)


# The message a retry refers to (the partial unique index covers non-empty ids only).
SELECT_BY_CLIENT_ID = (
    f"{SELECT_MESSAGES} WHERE conversation_id = $1 AND sender = $2 AND sender_id = $3"
    " AND client_msg_id = $4 AND client_msg_id <> ''"
)


# Point an address at a contact (moving it from another contact if need be).
LINK_ADDRESS = (
    "INSERT INTO contact_addresses (channel, address, contact_id, created_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (channel, address)"
    " DO UPDATE SET contact_id = excluded.contact_id"
)
# Link an address to a new contact only while it is free (see claim_address).
_CLAIM_ADDRESS = (
    "INSERT INTO contact_addresses (channel, address, contact_id, created_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (channel, address) DO NOTHING RETURNING contact_id"
)


class AddressTaken(Exception):
    """Raised in create_contact's transaction to roll the new contact back: another
    contact (``contact``) took its address first."""

    def __init__(self, contact: Contact) -> None:
        super().__init__(f"address taken by contact {contact.id!r}")
        self.contact = contact


async def claim_address(c: Conn, channel: str, address: str, contact_id: str, now: float) -> None:
    """Link a free address to the new contact ``contact_id``; AddressTaken if another
    contact holds it (another node's create_contact for the same new address a moment
    before: moving it over, as LINK_ADDRESS would, splits the contact's history)."""
    while await c.fetchrow(_CLAIM_ADDRESS, channel, address, contact_id, now) is None:
        row = await c.fetchrow(
            f"{CONTACTS.select} WHERE id = (SELECT contact_id FROM contact_addresses"
            " WHERE channel = $1 AND address = $2)",
            channel,
            address,
        )
        if row is not None:  # else it was unlinked since: claim it again
            raise AddressTaken(CONTACTS.decode(row))


_refs = msgspec.json.Decoder(tuple[AttachmentRef, ...])
_NO_REFS = ("[]", b"[]")


def refs_json(refs: tuple[AttachmentRef, ...]) -> str:
    return to_json(refs)


def decode_refs(raw: str | bytes) -> tuple[AttachmentRef, ...]:
    return () if raw in _NO_REFS else _refs.decode(raw)


def decode_message(r: Row) -> Message:
    return Message(
        conversation_id=r[0],
        seq=r[1],
        sender=r[2],
        sender_id=r[3],
        client_msg_id=r[4],
        body=r[5],
        created_at=r[6],
        kind=r[7],
        delivery=r[8],
        delivery_error=r[9],
        provider_id=r[10],
        attachments=decode_refs(r[11]),
    )


def guard_args(expect: Conversation | None) -> tuple[Any, ...]:
    """The parameters of an append's guard (base.GUARDED, in that order): all None
    without one, which the statements read as "store it whatever the conversation"."""
    if expect is None:
        return (None, None, None, None)
    return (
        expect.state,
        expect.owner_agent_id or "",
        expect.bot_id,
        to_json(expect.queue_ids),
    )


def unread_increments(sender: Sender, kind: str) -> tuple[int, int]:
    """(agent_unread, contact_unread) increments of appending this message. It checks
    sender and kind, for every append: PostgreSQL's messages table has no CHECK of its
    own on them (migration 0014)."""
    if sender not in ("contact", "agent", "system"):
        raise ValueError(f"unknown sender kind {sender!r}")
    if kind not in ("text", "event"):
        raise ValueError(f"unknown message kind {kind!r}")
    if kind != "text":
        return 0, 0
    return (1, 0) if sender == "contact" else (0, 1)


def _mark_read_sql(side: Side) -> str:
    if side == "agent":
        marker, unread, theirs = "agent_read_seq", "agent_unread", "sender = 'contact'"
    elif side == "contact":
        marker, unread, theirs = "contact_read_seq", "contact_unread", "sender <> 'contact'"
    else:
        raise ValueError(f"unknown side {side!r}")
    # the new marker: max(old marker, min(seq, last_seq)); SET sees the old row
    clamped = "CASE WHEN $2 < last_seq THEN $2 ELSE last_seq END"
    new = f"CASE WHEN {marker} > {clamped} THEN {marker} ELSE {clamped} END"
    return (
        f"UPDATE conversations SET {marker} = {new}, {unread} = ("
        "SELECT count(*) FROM messages WHERE messages.conversation_id = conversations.id"
        f" AND kind = 'text' AND {theirs} AND seq > {new}"
        f") WHERE id = $1 {CONVERSATIONS.returning}"
    )


MARK_READ = {"agent": _mark_read_sql("agent"), "contact": _mark_read_sql("contact")}
# How far a delivery state has got; failed and read are final.
_DELIVERY_RANK: dict[str, int] = {
    "": 0,
    "pending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "failed": 4,
}

# What update_conversation validates the changes against (the rest are placeholders).
_CONVERSATION_STUB: dict[str, Any] = {
    "id": "",
    "touchpoint_id": "",
    "channel": "chat",
    "contact_id": "",
    "address": "",
}


class SQLBase(Store):
    """The dialect's transaction hooks and the generic row helpers."""

    # How a dialect locks the rows it claims for delivery (PostgreSQL: skip rows another
    # node is claiming; SQLite has one writer and needs nothing).
    _claim_lock = ""
    # How a dialect locks a row it reads to change (PostgreSQL: FOR UPDATE; SQLite's
    # BEGIN IMMEDIATE has every writer wait already).
    _row_lock = ""

    @abc.abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Conn]: ...

    @abc.abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Conn]: ...

    async def _atomically(self, body: Callable[[Conn], Coroutine[Any, Any, R]]) -> R:
        """``body`` in one write transaction; ``body`` awaits nothing but its ``Conn``, so
        SQLite runs all of it in one hop to its writer's thread (not one a statement)."""
        async with self._transaction() as c:
            return await body(c)

    async def _get(self, table: Table[T], key: str) -> T:
        async with self._connection() as c:
            row = await c.fetchrow(table.sql_get, key)
        return self._found(table, key, row)

    @staticmethod
    def _found(table: Table[T], key: str, row: Row | None) -> T:
        if row is None:
            raise NotFound(f"{table.type.__name__.lower()} {key!r} not found")
        return table.decode(row)

    async def _list(self, table: Table[T]) -> list[T]:
        async with self._connection() as c:
            rows = await c.fetch(table.sql_list)
        return [table.decode(r) for r in rows]

    async def _put(self, table: Table[T], record: T) -> None:
        async with self._connection() as c:
            await c.execute(table.sql_upsert, *table.params(record))

    async def _update(self, table: Table[T], record: T) -> None:
        """Replace the row of ``record``'s id, never inserting one: NotFound when there is
        none (any more). The UPDATE itself decides, so an edit racing a delete of the same
        row cannot bring it back (a read before the write could)."""
        async with self._connection() as c:
            row = await c.fetchrow(table.sql_update, *table.params(record))
        if row is None:
            raise NotFound(f"{table.type.__name__.lower()} {getattr(record, 'id', '')!r} not found")

    async def _insert_new(self, table: Table[T], record: T) -> None:
        """Insert ``record``, never replacing one: a Conflict on the field ``id`` when the
        id is taken, also by a create of the same id committing at the same moment (the
        database's unique key decides, not a read before the write)."""
        async with self._connection() as c:
            row = await c.fetchrow(
                f"{table.sql_insert} ON CONFLICT (id) DO NOTHING RETURNING id",
                *table.params(record),
            )
        if row is None:
            raise Conflict(f"the id {getattr(record, 'id', '')!r} is taken", field="id")

    async def _delete(self, table: Table[T], key: str) -> None:
        async with self._connection() as c:
            row = await c.fetchrow(table.sql_delete, key)
        if row is None:
            raise NotFound(f"{table.type.__name__.lower()} {key!r} not found")

    # used by the dialects' append
    @staticmethod
    def _not_open() -> StoreUnavailable:
        return StoreUnavailable("the store is not open")
