"""Contacts, conversations and messages, in SQL both dialects share (each dialect
writes ``create_contact`` and ``append`` itself)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from gateway.errors import Conflict, NotFound
from gateway.model.channels import ChannelName
from gateway.model.integrations import Announcement
from gateway.model.records import (
    CONVERSATION_MUTABLE,
    Contact,
    ContactAddress,
    Conversation,
    ConversationState,
    DeliveryState,
    Message,
    Sender,
    Side,
)
from gateway.ports.store._attachments import _in, queue_blobs_of
from gateway.ports.store._rows import (
    _CONVERSATION_STUB,
    _DELIVERY_RANK,
    ATTACHMENTS,
    CONTACTS,
    CONVERSATIONS,
    LINK_ADDRESS,
    MARK_READ,
    MESSAGE_COLUMNS,
    NOTES,
    SELECT_BY_CLIENT_ID,
    SELECT_MESSAGES,
    Conn,
    Row,
    SQLBase,
    announce_written_messages,
    decode_message,
    email_key,
    search_fold,
    to_json,
    write_announcements,
)
from gateway.ports.store.base import DeliveryJob, LiveElsewhere, MessageAnnouncer


async def delete_conversations(c: Conn, lock: str, where: str, *args: Any) -> int:
    """Delete the conversations ``where`` picks (a condition on ``conversations c``) and
    all that is theirs, in the caller's transaction: the one deletion of history, for
    the right to be forgotten and for the retention. Their messages, attachments, notes,
    ratings, transcripts and message references go with them (ON DELETE CASCADE, and
    PostgreSQL's trigger for messages: migration 0012), and their webhook and bot events
    by hand; the files' bytes are the blob store's, so their keys are queued first, due
    at once. How many went.

    The rows are locked (``lock``: the store's row lock) before any key is queued: a
    contact's deletion and a purge that took one of its conversations would otherwise
    each wait for the other, one on the conversation, the other on a queued key."""
    if lock:
        await c.fetch(f"SELECT 1 FROM conversations c WHERE {where}{lock}", *args)
    await c.execute(queue_blobs_of(where), *args)
    # their webhook and bot events carry their messages' text (the outbox has no
    # foreign key to cascade)
    await c.execute(
        f"DELETE FROM outbox WHERE conversation_id IN (SELECT c.id FROM conversations c WHERE {where})",
        *args,
    )
    deleted = await c.fetch(f"DELETE FROM conversations AS c WHERE {where} RETURNING id", *args)
    return len(deleted)


class HistoryRows(SQLBase):
    async def get_contact(self, contact_id: str) -> Contact:
        return await self._get(CONTACTS, contact_id)

    async def find_contact(
        self, *, email: str = "", phone: str = "", saved: bool = False
    ) -> Contact | None:
        # An email match wins over a phone match; among equals, the oldest contact.
        only = " AND saved" if saved else ""
        if email and phone:
            sql = (
                f"{CONTACTS.select} WHERE (email_key = $1 OR phone = $2){only}"
                " ORDER BY CASE WHEN email_key = $1 THEN 0 ELSE 1 END, number LIMIT 1"
            )
            args: tuple[str, ...] = (email_key(email), phone)
        elif email:
            sql = f"{CONTACTS.select} WHERE email_key = $1{only} ORDER BY number LIMIT 1"
            args = (email_key(email),)
        elif phone:
            sql = f"{CONTACTS.select} WHERE phone = $1{only} ORDER BY number LIMIT 1"
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
        saved: bool | None = None,
        unnamed_only: bool = False,
    ) -> Contact:
        sets: list[str] = []
        args: list[Any] = [contact_id]
        for column, value in (("name", name), ("email", email), ("phone", phone), ("saved", saved)):
            if value is not None:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        for column, value in (
            ("email_key", None if email is None else email_key(email)),
            ("name_fold", None if name is None else search_fold(name)),
            ("email_fold", None if email is None else search_fold(email)),
        ):
            if value is not None:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        if email is not None or saved:
            # A duplicate migration 0017 left alone answers to the unique index again once
            # it is saved with an email anew: saved now from unsaved, or given another
            # email. Saved again as it was (a signed identity's visit) it stays marked,
            # or the index would refuse the very contact the visitor is.
            key = "email_key" if email is None else f"${len(args) + 1}"
            if email is not None:
                args.append(email_key(email))
            sets.append(
                f"email_duplicate = CASE WHEN saved AND email_key = {key}"
                " THEN email_duplicate ELSE FALSE END"
            )
        if not sets:
            return await self.get_contact(contact_id)
        only = " AND name = ''" if unnamed_only else ""
        async with self._connection() as c:
            row = await c.fetchrow(
                f"UPDATE contacts SET {', '.join(sets)} WHERE id = $1{only} {CONTACTS.returning}",
                *args,
            )
        if row is None:
            if unnamed_only:
                return await self.get_contact(contact_id)  # named meanwhile (or NotFound)
            raise NotFound(f"contact {contact_id!r} not found")
        return CONTACTS.decode(row)

    async def delete_contact(self, contact_id: str) -> int:
        async with self._transaction() as c:
            deleted = await delete_conversations(c, self._row_lock, "c.contact_id = $1", contact_id)
            if not await c.fetchrow("DELETE FROM contacts WHERE id = $1 RETURNING id", contact_id):
                raise NotFound(f"contact {contact_id!r} not found")
        return deleted

    async def purge_closed_conversations(self, closed_before: float, limit: int) -> int:
        async def batch(c: Conn) -> int:
            # closed_at >= created_at, so "created before" bounds the scan of the
            # (state, created_at, id) index to the candidates. The claim lock (its alias
            # "m") skips the rows another node is purging: each goes once.
            rows = await c.fetch(
                "SELECT m.id FROM conversations m WHERE m.state = 'closed'"
                " AND m.created_at < $1 AND m.closed_at < $1"
                f" ORDER BY m.created_at, m.id LIMIT $2{self._claim_lock}",
                closed_before,
                limit,
            )
            ids = [r[0] for r in rows]
            if not ids:
                return 0
            # locked already, by the claim above
            return await delete_conversations(c, "", f"c.id IN {_in(1, len(ids))}", *ids)

        return await self._atomically(batch)

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
            note_rows = await c.fetch(
                f"SELECT {', '.join('n.' + col for col in NOTES.columns)}"
                " FROM conversation_notes n JOIN conversations c ON c.id = n.conversation_id"
                " WHERE c.contact_id = $1 ORDER BY n.created_at, n.id",
                contact_id,
            )
            attachment_rows = await c.fetch(
                f"SELECT {', '.join('a.' + col for col in ATTACHMENTS.columns)}"
                " FROM attachments a JOIN conversations c ON c.id = a.conversation_id"
                " WHERE c.contact_id = $1 AND a.seq > 0",
                contact_id,
            )
        notes_by_conversation: dict[str, list[Any]] = {}
        for n in note_rows:
            notes_by_conversation.setdefault(n[1], []).append(msgspec.to_builtins(NOTES.decode(n)))
        sent = {a.id: a for a in map(ATTACHMENTS.decode, attachment_rows)}
        by_conversation: dict[str, list[Any]] = {}
        files: dict[str, list[Any]] = {}  # in the order of the messages that carry them
        for r in message_rows:
            decoded = decode_message(r)
            message = msgspec.to_builtins(decoded)
            message["attachments"] = list(message["attachments"])  # JSON's array, not a tuple
            by_conversation.setdefault(r[0], []).append(message)
            for ref in decoded.attachments:
                if ref.id in sent:
                    files.setdefault(r[0], []).append(msgspec.to_builtins(sent[ref.id]))
        conversations = []
        for r in conversation_rows:
            conv = CONVERSATIONS.decode(r)
            item = msgspec.to_builtins(conv)
            item["messages"] = by_conversation.get(conv.id, [])
            # agents' notes on the conversation: data about the contact too
            item["conversation_notes"] = notes_by_conversation.get(conv.id, [])
            item["attachments"] = files.get(conv.id, [])
            conversations.append(item)
        return {
            "contact": msgspec.to_builtins(CONTACTS.decode(contact_row)),
            "addresses": msgspec.to_builtins(await self.contact_addresses(contact_id)),
            "conversations": conversations,
        }

    # -- conversations -------------------------------------------------------------
    async def create_conversation(
        self,
        conv: Conversation,
        *,
        then: Callable[[Conn, Conversation], Awaitable[None]] | None = None,
    ) -> Conversation:
        """``then``, a check after the insert in its transaction (raising rolls it back:
        PostgreSQL's create_outbound_conversation)."""
        # the counters are the store's: a new conversation has no messages
        conv = msgspec.structs.replace(conv, last_seq=0, contact_unread=0, agent_unread=0)
        try:
            async with self._transaction() if then else self._connection() as c:
                await c.execute(CONVERSATIONS.sql_insert, *CONVERSATIONS.params(conv))
                if then is not None:
                    await then(c, conv)
        except LiveElsewhere:
            raise  # then's own refusal, as it said it
        except Conflict as exc:
            # Not the id (new ones are random): the one-live index (migration 0018).
            if not await self._conversation_exists(conv.id):
                raise LiveElsewhere(
                    "the contact has a live conversation on this touchpoint"
                ) from exc
            raise Conflict(f"conversation {conv.id!r} exists") from exc
        except NotFound as exc:
            raise NotFound(f"contact {conv.contact_id!r} not found") from exc
        return conv

    async def _conversation_exists(self, conversation_id: str) -> bool:
        async with self._connection() as c:
            row = await c.fetchrow("SELECT 1 FROM conversations WHERE id = $1", conversation_id)
        return row is not None

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return await self._get(CONVERSATIONS, conversation_id)

    async def update_conversation(
        self,
        conversation_id: str,
        *,
        announce: Sequence[Announcement] = (),
        announce_written: MessageAnnouncer | None = None,
        **changes: Any,
    ) -> Conversation:
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
        # The change and its events in one transaction; the UPDATE comes first, so on
        # PostgreSQL it row-locks the conversation and its events get outbox numbers in
        # the order the changes commit. Announcing what was written while new, the state
        # before is read first, under that row lock: an append waits for this change, or
        # this change for the append (docs/store.md, "The outbox").
        transact = bool(announce) or announce_written is not None
        async with self._transaction() if transact else self._connection() as c:
            before: ConversationState | None = None
            if announce_written is not None:
                found = await c.fetchrow(
                    f"SELECT state FROM conversations WHERE id = $1{self._row_lock}",
                    conversation_id,
                )
                before = None if found is None else found[0]
            row = await c.fetchrow(
                f"UPDATE conversations SET {', '.join(sets)} WHERE id = $1"
                f" {CONVERSATIONS.returning}",
                *args,
            )
            if row is None:
                raise NotFound(f"conversation {conversation_id!r} not found")
            conv = CONVERSATIONS.decode(row)
            await write_announcements(c, announce, conv)
            if announce_written is not None and before == "new" and conv.state != "new":
                await announce_written_messages(c, announce_written, conv)
        return conv

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

    async def idle_conversations(
        self, *, channels: list[ChannelName], before: float, limit: int = 100
    ) -> list[Conversation]:
        if not channels:
            return []
        wanted = sorted(set(channels))
        marks = ", ".join(f"${i + 3}" for i in range(len(wanted)))
        sql = (
            f"{CONVERSATIONS.select} WHERE state IN ('new', 'assigned')"
            f" AND acceptance <> 'hold' AND channel IN ({marks}) AND COALESCE(("
            "SELECT m.created_at FROM messages m WHERE m.conversation_id = conversations.id"
            " AND m.seq = conversations.last_seq), created_at) < $1"
            " ORDER BY created_at, id LIMIT $2"
        )
        async with self._connection() as c:
            rows = await c.fetch(sql, before, limit, *wanted)
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

    async def message_by_client_id(
        self, conversation_id: str, sender: Sender, sender_id: str, client_msg_id: str
    ) -> Message | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                SELECT_BY_CLIENT_ID, conversation_id, sender, sender_id, client_msg_id
            )
        return None if row is None else decode_message(row)

    async def set_delivery(
        self,
        conversation_id: str,
        seq: int,
        state: DeliveryState,
        error: str = "",
        *,
        provider_id: str = "",
    ) -> tuple[Message, bool]:
        if state not in _DELIVERY_RANK:
            raise ValueError(f"unknown delivery state {state!r}")
        async with self._transaction() as c:
            row = await c.fetchrow(
                f"{SELECT_MESSAGES} WHERE conversation_id = $1 AND seq = $2{self._row_lock}",
                conversation_id,
                seq,
            )
            if row is None:
                raise NotFound(f"message {seq} of conversation {conversation_id!r} not found")
            message = decode_message(row)
            old = _DELIVERY_RANK[message.delivery]
            if message.delivery in ("read", "failed") or _DELIVERY_RANK[state] <= old:
                if provider_id and not message.provider_id:
                    # a status callback overtook the record of the send: keep the id
                    await c.execute(
                        "UPDATE messages SET provider_id = $3"
                        " WHERE conversation_id = $1 AND seq = $2",
                        conversation_id,
                        seq,
                        provider_id,
                    )
                    return msgspec.structs.replace(message, provider_id=provider_id), False
                return message, False
            provider_id = provider_id or message.provider_id
            await c.execute(
                "UPDATE messages SET delivery = $3, delivery_error = $4, provider_id = $5,"
                " delivery_due = CASE WHEN $3 = 'pending' THEN delivery_due END"
                " WHERE conversation_id = $1 AND seq = $2",
                conversation_id,
                seq,
                state,
                error,
                provider_id,
            )
        message = msgspec.structs.replace(
            message, delivery=state, delivery_error=error, provider_id=provider_id
        )
        return message, True

    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        columns = ", ".join("m." + col for col in MESSAGE_COLUMNS.split(", "))
        async with self._transaction() as c:
            rows = await c.fetch(
                f"SELECT {columns}, m.delivery_attempts FROM messages m"
                " WHERE m.delivery = 'pending' AND m.delivery_due <= $1 AND NOT EXISTS ("
                "SELECT 1 FROM messages e WHERE e.conversation_id = m.conversation_id"
                " AND e.delivery = 'pending' AND e.seq < m.seq)"
                f" ORDER BY m.delivery_due, m.conversation_id, m.seq LIMIT $2{self._claim_lock}",
                now,
                limit,
            )
            jobs = []
            for r in rows:
                message = decode_message(r)
                await c.execute(
                    "UPDATE messages SET delivery_due = $3,"
                    " delivery_attempts = delivery_attempts + 1"
                    " WHERE conversation_id = $1 AND seq = $2",
                    message.conversation_id,
                    message.seq,
                    now + lease,
                )
                conv = await c.fetchrow(CONVERSATIONS.sql_get, message.conversation_id)
                assert conv is not None  # the message's foreign key
                jobs.append(DeliveryJob(CONVERSATIONS.decode(conv), message, r[-1] + 1))
        return jobs

    async def retry_delivery(
        self, conversation_id: str, seq: int, due: float, error: str, *, counted: bool = True
    ) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE messages SET delivery_due = $3, delivery_error = $4,"
                " delivery_attempts = delivery_attempts - $5"
                " WHERE conversation_id = $1 AND seq = $2 AND delivery = 'pending'",
                conversation_id,
                seq,
                due,
                error,
                0 if counted else 1,
            )

    async def message_by_provider_id(self, provider_id: str) -> Message | None:
        if not provider_id:
            return None
        async with self._connection() as c:
            row = await c.fetchrow(
                f"{SELECT_MESSAGES} WHERE provider_id = $1 AND provider_id <> ''", provider_id
            )
        return None if row is None else decode_message(row)

    async def mark_read(self, conversation_id: str, side: Side, seq: int) -> Conversation:
        sql = MARK_READ.get(side)
        if sql is None:
            raise ValueError(f"unknown side {side!r}")
        async with self._connection() as c:
            row = await c.fetchrow(sql, conversation_id, seq)
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} not found")
        return CONVERSATIONS.decode(row)
