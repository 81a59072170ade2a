"""What the SQLite and PostgreSQL stores share: the tables, row codecs and every
operation whose SQL is the same in both dialects.

SQL here is written with PostgreSQL's ``$1, $2`` placeholders; the SQLite connection
rewrites them to SQLite's numbered ``?1, ?2`` (same meaning, reusable). Each dialect
supplies a connection adapter (:class:`Conn`) and two context managers:

* ``_transaction(write=...)`` — one transaction; rolled back on any error;
* ``_connection()`` — a connection for a single statement (its own transaction).

Both translate driver errors into the gateway's (unique violation → Conflict, missing
foreign key → NotFound, unreachable → StoreUnavailable, other → StoreError) as they leave.
The dialects implement ``create_contact`` and ``append_message`` themselves.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from gateway.errors import Conflict, NotFound, StoreUnavailable
from gateway.model.channels import ChannelName
from gateway.model.records import (
    CONVERSATION_MUTABLE,
    Agent,
    AgentSession,
    Contact,
    ContactAddress,
    Conversation,
    ConversationState,
    DeliveryState,
    DispositionSet,
    GlobalSettings,
    Message,
    MessageKind,
    Queue,
    Sender,
    Side,
    Touchpoint,
)
from gateway.ports.store.base import Appended, Store

T = TypeVar("T", bound=msgspec.Struct)
Row = Sequence[Any]


class Conn(Protocol):
    """The few calls the shared code makes; rows are indexable by column position."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def execute(self, sql: str, *args: Any) -> None: ...


def to_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def email_key(email: str) -> str:
    """What emails are compared by: lower-cased (in Python, so both dialects agree)."""
    return email.lower()


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
        for c in self.json:
            data[c] = msgspec.json.decode(data[c])
        # strict=False: SQLite hands booleans back as 0/1
        return msgspec.convert(data, self.type, strict=False)


TOUCHPOINTS = Table("touchpoints", Touchpoint, order="created_at, id")
QUEUES = Table("queues", Queue, order="name, id")
AGENTS = Table("agents", Agent, order="name, id", extra={"email_key": lambda a: email_key(a.email)})
DISPOSITION_SETS = Table("disposition_sets", DispositionSet, order="name, id")
SESSIONS = Table("agent_sessions", AgentSession)
CONTACTS = Table(
    "contacts", Contact, order="number", extra={"email_key": lambda c: email_key(c.email)}
)
CONVERSATIONS = Table("conversations", Conversation, order="created_at, id")

MESSAGE_COLUMNS = (
    "conversation_id, seq, sender, sender_id, client_msg_id, body, created_at, kind,"
    " delivery, delivery_error"
)
SELECT_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM messages"
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
    )


def unread_increments(sender: Sender, kind: str) -> tuple[int, int]:
    """(agent_unread, contact_unread) increments of appending this message."""
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


class SQLStore(Store):
    """The operations whose SQL both dialects share."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Conn]: ...

    @abc.abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Conn]: ...

    async def append_message(
        self,
        conversation_id: str,
        *,
        sender: Sender,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: MessageKind = "text",
    ) -> tuple[Message, bool]:
        # Both dialects implement ``append`` in one statement (or one group commit);
        # this is it without the conversation.
        appended = await self.append(
            conversation_id,
            sender=sender,
            sender_id=sender_id,
            client_msg_id=client_msg_id,
            body=body,
            now=now,
            kind=kind,
        )
        return appended.message, appended.created

    @abc.abstractmethod
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
    ) -> Appended: ...

    # -- helpers -------------------------------------------------------------------
    async def _get(self, table: Table[T], key: str) -> T:
        async with self._connection() as c:
            row = await c.fetchrow(table.sql_get, key)
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

    async def _delete(self, table: Table[T], key: str) -> None:
        async with self._connection() as c:
            row = await c.fetchrow(table.sql_delete, key)
        if row is None:
            raise NotFound(f"{table.type.__name__.lower()} {key!r} not found")

    # -- configuration -------------------------------------------------------------
    async def put_touchpoint(self, tp: Touchpoint) -> None:
        await self._put(TOUCHPOINTS, tp)

    async def get_touchpoint(self, touchpoint_id: str) -> Touchpoint:
        return await self._get(TOUCHPOINTS, touchpoint_id)

    async def list_touchpoints(self) -> list[Touchpoint]:
        return await self._list(TOUCHPOINTS)

    async def delete_touchpoint(self, touchpoint_id: str) -> None:
        await self._delete(TOUCHPOINTS, touchpoint_id)

    async def put_queue(self, queue: Queue) -> None:
        await self._put(QUEUES, queue)

    async def get_queue(self, queue_id: str) -> Queue:
        return await self._get(QUEUES, queue_id)

    async def list_queues(self) -> list[Queue]:
        return await self._list(QUEUES)

    async def delete_queue(self, queue_id: str) -> None:
        await self._delete(QUEUES, queue_id)

    async def put_agent(self, agent: Agent) -> None:
        try:
            await self._put(AGENTS, agent)
        except Conflict as exc:
            raise Conflict(f"the email {agent.email!r} belongs to another agent") from exc

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._get(AGENTS, agent_id)

    async def get_agent_by_email(self, email: str) -> Agent:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"{AGENTS.select} WHERE email_key = $1 AND email_key <> ''", email_key(email)
            )
        if row is None:
            raise NotFound(f"no agent with the email {email!r}")
        return AGENTS.decode(row)

    async def list_agents(self) -> list[Agent]:
        return await self._list(AGENTS)

    async def delete_agent(self, agent_id: str) -> None:
        await self._delete(AGENTS, agent_id)

    async def put_disposition_set(self, ds: DispositionSet) -> None:
        await self._put(DISPOSITION_SETS, ds)

    async def get_disposition_set(self, ds_id: str) -> DispositionSet:
        return await self._get(DISPOSITION_SETS, ds_id)

    async def list_disposition_sets(self) -> list[DispositionSet]:
        return await self._list(DISPOSITION_SETS)

    async def delete_disposition_set(self, ds_id: str) -> None:
        await self._delete(DISPOSITION_SETS, ds_id)

    async def get_settings(self) -> GlobalSettings:
        async with self._connection() as c:
            row = await c.fetchrow("SELECT data FROM settings WHERE id = 1")
        if row is None:
            return GlobalSettings()
        return msgspec.json.decode(row[0], type=GlobalSettings)

    async def put_settings(self, settings: GlobalSettings) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO settings (id, data) VALUES (1, $1)"
                " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                to_json(settings),
            )

    # -- agent sessions ------------------------------------------------------------
    async def create_session(self, session: AgentSession) -> None:
        try:
            async with self._connection() as c:
                await c.execute(SESSIONS.sql_insert, *SESSIONS.params(session))
        except Conflict as exc:
            raise Conflict(f"session {session.id!r} exists") from exc
        except NotFound as exc:
            raise NotFound(f"agent {session.agent_id!r} not found") from exc

    async def get_session(self, session_id: str) -> AgentSession:
        return await self._get(SESSIONS, session_id)

    async def revoke_session(self, session_id: str) -> None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE agent_sessions SET revoked = $2 WHERE id = $1 RETURNING id",
                session_id,
                True,
            )
        if row is None:
            raise NotFound(f"session {session_id!r} not found")

    # -- contacts ------------------------------------------------------------------
    async def get_contact(self, contact_id: str) -> Contact:
        return await self._get(CONTACTS, contact_id)

    async def find_contact(self, *, email: str = "", phone: str = "") -> Contact | None:
        # An email match wins over a phone match; among equals, the oldest contact.
        if email and phone:
            sql = (
                f"{CONTACTS.select} WHERE email_key = $1 OR phone = $2"
                " ORDER BY CASE WHEN email_key = $1 THEN 0 ELSE 1 END, number LIMIT 1"
            )
            args: tuple[str, ...] = (email_key(email), phone)
        elif email:
            sql = f"{CONTACTS.select} WHERE email_key = $1 ORDER BY number LIMIT 1"
            args = (email_key(email),)
        elif phone:
            sql = f"{CONTACTS.select} WHERE phone = $1 ORDER BY number LIMIT 1"
            args = (phone,)
        else:
            return None
        async with self._connection() as c:
            row = await c.fetchrow(sql, *args)
        return None if row is None else CONTACTS.decode(row)

    async def find_contact_by_address(self, channel: ChannelName, address: str) -> Contact | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"{CONTACTS.select} WHERE id = (SELECT contact_id FROM contact_addresses"
                " WHERE channel = $1 AND address = $2)",
                channel,
                address,
            )
        return None if row is None else CONTACTS.decode(row)

    async def link_address(
        self, channel: ChannelName, address: str, contact_id: str, *, now: float
    ) -> None:
        try:
            async with self._connection() as c:
                await c.execute(LINK_ADDRESS, channel, address, contact_id, now)
        except NotFound as exc:
            raise NotFound(f"contact {contact_id!r} not found") from exc

    async def contact_addresses(self, contact_id: str) -> list[ContactAddress]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT channel, address, contact_id, created_at FROM contact_addresses"
                " WHERE contact_id = $1 ORDER BY created_at, channel, address",
                contact_id,
            )
        return [
            ContactAddress(channel=r[0], address=r[1], contact_id=r[2], created_at=r[3])
            for r in rows
        ]

    async def update_contact(
        self,
        contact_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> Contact:
        sets: list[str] = []
        args: list[Any] = [contact_id]
        for column, value in (("name", name), ("email", email), ("phone", phone)):
            if value is not None:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        if email is not None:
            args.append(email_key(email))
            sets.append(f"email_key = ${len(args)}")
        if not sets:
            return await self.get_contact(contact_id)
        async with self._connection() as c:
            row = await c.fetchrow(
                f"UPDATE contacts SET {', '.join(sets)} WHERE id = $1 {CONTACTS.returning}", *args
            )
        if row is None:
            raise NotFound(f"contact {contact_id!r} not found")
        return CONTACTS.decode(row)

    async def delete_contact(self, contact_id: str) -> int:
        async with self._transaction() as c:
            # messages go with their conversations (ON DELETE CASCADE)
            deleted = await c.fetch(
                "DELETE FROM conversations WHERE contact_id = $1 RETURNING id", contact_id
            )
            if not await c.fetchrow("DELETE FROM contacts WHERE id = $1 RETURNING id", contact_id):
                raise NotFound(f"contact {contact_id!r} not found")
        return len(deleted)

    async def export_contact(self, contact_id: str) -> dict[str, Any]:
        async with self._transaction(write=False) as c:
            contact_row = await c.fetchrow(CONTACTS.sql_get, contact_id)
            if contact_row is None:
                raise NotFound(f"contact {contact_id!r} not found")
            conversation_rows = await c.fetch(
                f"{CONVERSATIONS.select} WHERE contact_id = $1 ORDER BY created_at, id",
                contact_id,
            )
            message_rows = await c.fetch(
                f"SELECT {', '.join('m.' + col for col in MESSAGE_COLUMNS.split(', '))}"
                " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " WHERE c.contact_id = $1 ORDER BY m.conversation_id, m.seq",
                contact_id,
            )
        by_conversation: dict[str, list[Any]] = {}
        for r in message_rows:
            by_conversation.setdefault(r[0], []).append(msgspec.to_builtins(decode_message(r)))
        conversations = []
        for r in conversation_rows:
            conv = CONVERSATIONS.decode(r)
            item = msgspec.to_builtins(conv)
            item["messages"] = by_conversation.get(conv.id, [])
            conversations.append(item)
        return {
            "contact": msgspec.to_builtins(CONTACTS.decode(contact_row)),
            "addresses": msgspec.to_builtins(await self.contact_addresses(contact_id)),
            "conversations": conversations,
        }

    # -- conversations -------------------------------------------------------------
    async def create_conversation(self, conv: Conversation) -> Conversation:
        # the counters are the store's: a new conversation has no messages
        conv = msgspec.structs.replace(conv, last_seq=0, contact_unread=0, agent_unread=0)
        try:
            async with self._connection() as c:
                await c.execute(CONVERSATIONS.sql_insert, *CONVERSATIONS.params(conv))
        except Conflict as exc:
            raise Conflict(f"conversation {conv.id!r} exists") from exc
        except NotFound as exc:
            raise NotFound(f"contact {conv.contact_id!r} not found") from exc
        return conv

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return await self._get(CONVERSATIONS, conversation_id)

    async def update_conversation(self, conversation_id: str, **changes: Any) -> Conversation:
        unknown = set(changes) - CONVERSATION_MUTABLE
        if unknown:
            raise ValueError(f"conversation fields that cannot be updated: {sorted(unknown)}")
        if not changes:
            return await self.get_conversation(conversation_id)
        try:
            checked = msgspec.convert({**_CONVERSATION_STUB, **changes}, Conversation)
        except msgspec.ValidationError as exc:
            raise ValueError(f"invalid conversation change: {exc}") from exc
        sets: list[str] = []
        args: list[Any] = [conversation_id]
        for name in sorted(changes):  # a stable statement text for the statement cache
            value = getattr(checked, name)
            args.append(to_json(value) if name in CONVERSATIONS.json else value)
            sets.append(f"{name} = ${len(args)}")
        async with self._connection() as c:
            row = await c.fetchrow(
                f"UPDATE conversations SET {', '.join(sets)} WHERE id = $1"
                f" {CONVERSATIONS.returning}",
                *args,
            )
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} not found")
        return CONVERSATIONS.decode(row)

    async def list_conversations(
        self,
        *,
        states: list[ConversationState] | None = None,
        contact_id: str | None = None,
        address: str | None = None,
        touchpoint_id: str | None = None,
    ) -> list[Conversation]:
        where: list[str] = []
        args: list[Any] = []
        if states is not None:
            if not states:
                return []
            wanted = sorted(set(states))
            start = len(args)
            args.extend(wanted)
            where.append(
                "state IN (" + ", ".join(f"${start + i + 1}" for i in range(len(wanted))) + ")"
            )
        for column, value in (
            ("contact_id", contact_id),
            ("address", address),
            ("touchpoint_id", touchpoint_id),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        sql = CONVERSATIONS.select
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id"
        async with self._connection() as c:
            rows = await c.fetch(sql, *args)
        return [CONVERSATIONS.decode(r) for r in rows]

    # -- messages ------------------------------------------------------------------
    async def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        async with self._connection() as c:
            if limit <= 0:
                rows: list[Row] = []
            elif before_seq is None:
                rows = await c.fetch(
                    f"{SELECT_MESSAGES} WHERE conversation_id = $1 AND seq > $2"
                    " ORDER BY seq LIMIT $3",
                    conversation_id,
                    after_seq,
                    limit,
                )
            else:
                rows = await c.fetch(
                    f"{SELECT_MESSAGES} WHERE conversation_id = $1 AND seq > $2 AND seq < $3"
                    " ORDER BY seq DESC LIMIT $4",
                    conversation_id,
                    after_seq,
                    before_seq,
                    limit,
                )
                rows.reverse()
            # an empty page may mean an unknown conversation: only then look
            if not rows and not await c.fetchrow(
                "SELECT 1 FROM conversations WHERE id = $1", conversation_id
            ):
                raise NotFound(f"conversation {conversation_id!r} not found")
        return [decode_message(r) for r in rows]

    async def set_delivery(
        self, conversation_id: str, seq: int, state: DeliveryState, error: str = ""
    ) -> Message:
        if state not in _DELIVERY_RANK:
            raise ValueError(f"unknown delivery state {state!r}")
        async with self._transaction() as c:
            row = await c.fetchrow(
                f"{SELECT_MESSAGES} WHERE conversation_id = $1 AND seq = $2", conversation_id, seq
            )
            if row is None:
                raise NotFound(f"message {seq} of conversation {conversation_id!r} not found")
            message = decode_message(row)
            old = _DELIVERY_RANK[message.delivery]
            if message.delivery in ("read", "failed") or _DELIVERY_RANK[state] <= old:
                return message
            await c.execute(
                "UPDATE messages SET delivery = $3, delivery_error = $4"
                " WHERE conversation_id = $1 AND seq = $2",
                conversation_id,
                seq,
                state,
                error,
            )
        return msgspec.structs.replace(message, delivery=state, delivery_error=error)

    async def mark_read(self, conversation_id: str, side: Side, seq: int) -> Conversation:
        sql = MARK_READ.get(side)
        if sql is None:
            raise ValueError(f"unknown side {side!r}")
        async with self._connection() as c:
            row = await c.fetchrow(sql, conversation_id, seq)
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} not found")
        return CONVERSATIONS.decode(row)

    # -- used by the dialects' append_message ----------------------------------------
    @staticmethod
    def _not_open() -> StoreUnavailable:
        return StoreUnavailable("the store is not open")
