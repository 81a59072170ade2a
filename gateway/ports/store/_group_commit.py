"""SQLite's append: a group commit.

Appends that arrive while a transaction is running wait and are stored together in the
next one, so a busy node pays one ``BEGIN IMMEDIATE``/``COMMIT``, and one hop to the
writer's thread, for many messages;
each caller still returns only once its own message is committed. Under SQLite's single
writer the seq is the conversation's ``last_seq + 1`` read in the same transaction. A
message with files attaches them (``_attachments.attach``) in that transaction too.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from gateway.errors import GatewayError, NotFound
from gateway.model.records import (
    Attachment,
    Conversation,
    DeliveryState,
    Message,
    MessageKind,
    Sender,
)
from gateway.ports.store._attachments import attach, attachable, refs
from gateway.ports.store._rows import (
    CONVERSATIONS,
    SELECT_BY_CLIENT_ID,
    Conn,
    announce_message,
    decode_message,
    guard_args,
    refs_json,
    unread_increments,
)
from gateway.ports.store._sql import SQLStore
from gateway.ports.store.base import Appended, MessageAnnouncer, Stale

T = TypeVar("T")

_APPEND = (
    "INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,"
    " created_at, kind, delivery, delivery_due, attachments)"
    " SELECT id, last_seq + 1, $2, $3, $4, $5, $6, $7, $8,"
    " CASE WHEN $8 = 'pending' THEN $6 END, $9 FROM conversations WHERE id = $1"
    # the guard (base.GUARDED): NULL when the caller gave none
    " AND ($10 IS NULL OR (state = $10 AND COALESCE(owner_agent_id, '') = $11"
    " AND bot_id = $12 AND json(queue_ids) = json($13)))"
    " ON CONFLICT DO NOTHING RETURNING seq"
)
_BUMP = (
    "UPDATE conversations SET last_seq = $2, agent_unread = agent_unread + $3,"
    " contact_unread = contact_unread + $4 WHERE id = $1 " + CONVERSATIONS.returning
)


class _Append:
    """One message waiting for the next group commit."""

    __slots__ = (
        "announce",
        "attachments",
        "body",
        "client_msg_id",
        "conversation_id",
        "delivery",
        "expect",
        "future",
        "kind",
        "now",
        "sender",
        "sender_id",
    )

    def __init__(
        self,
        conversation_id: str,
        sender: Sender,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: MessageKind,
        attachments: Sequence[str],
        delivery: DeliveryState,
        announce: MessageAnnouncer | None,
        expect: Conversation | None,
    ) -> None:
        self.announce = announce
        self.expect = expect
        self.attachments = attachments
        self.conversation_id = conversation_id
        self.sender = sender
        self.sender_id = sender_id
        self.client_msg_id = client_msg_id
        self.body = body
        self.now = now
        self.kind = kind
        self.delivery = delivery
        self.future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()


class GroupCommit(SQLStore):
    """``append`` for a store with one writer connection (SQLiteStore)."""

    @abc.abstractmethod
    async def _in_one_hop(self, body: Callable[[Conn], Coroutine[Any, Any, T]]) -> T:
        """``body`` in one write transaction, in one call to the writer."""

    def __init__(self) -> None:
        self._appends: list[_Append] = []
        self._committer: asyncio.Task[None] | None = None

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
        """Group commit: appends that arrive while a transaction is running are stored
        together in the next one, so a busy node pays one BEGIN/COMMIT for many
        messages. Each caller still returns only once its message is committed; its
        ``announce`` rows are written in the same transaction."""
        item = _Append(
            conversation_id,
            sender,
            sender_id,
            client_msg_id,
            body,
            now,
            kind,
            attachments,
            delivery,
            announce,
            expect,
        )
        self._appends.append(item)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_appends())
        # Shielded: a caller that gives up does not undo an append already under way.
        return await asyncio.shield(item.future)

    async def _commit_appends(self) -> None:
        while self._appends:
            batch, self._appends = self._appends, []

            async def store(c: Conn, batch: list[_Append] = batch) -> list[Appended | GatewayError]:
                return [await self._append_one(c, item) for item in batch]

            try:
                results = await self._in_one_hop(store)
            except BaseException as exc:
                # The whole transaction rolled back; or this task was cancelled (shutdown)
                # while the writer's thread ran it, and it may have committed: a retry
                # with the same client_msg_id finds the message either way.
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for item, result in zip(batch, results, strict=True):
                if item.future.done():
                    continue
                if isinstance(result, GatewayError):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    async def _append_one(self, c: Conn, item: _Append) -> Appended | GatewayError:
        agent_inc, contact_inc = unread_increments(item.sender, item.kind)
        files: list[Attachment] = []
        if item.attachments:
            # Under the single writer nothing changes between these checks and the insert;
            # a retry is answered before the files are looked at (they are sent already).
            if item.client_msg_id and await c.fetchrow(
                SELECT_BY_CLIENT_ID,
                item.conversation_id,
                item.sender,
                item.sender_id,
                item.client_msg_id,
            ):
                return await self._existing(c, item)
            found = await attachable(
                c, item.conversation_id, item.sender, item.sender_id, item.attachments
            )
            if isinstance(found, NotFound):
                return found
            files = found
        row = await c.fetchrow(
            _APPEND,
            item.conversation_id,
            item.sender,
            item.sender_id,
            item.client_msg_id,
            item.body,
            item.now,
            item.kind,
            item.delivery,
            refs_json(refs(files)),
            *guard_args(item.expect),
        )
        if row is None:
            # No such conversation, one changed since the caller read it, or a retry the
            # unique index turned away (ON CONFLICT DO NOTHING ends only this statement,
            # not the batch's transaction).
            return await self._existing(c, item)
        seq: int = row[0]
        if files:
            await attach(c, files, seq)
        bumped = await c.fetchrow(_BUMP, item.conversation_id, seq, agent_inc, contact_inc)
        assert bumped is not None
        message = Message(
            conversation_id=item.conversation_id,
            seq=seq,
            sender=item.sender,
            sender_id=item.sender_id,
            client_msg_id=item.client_msg_id,
            body=item.body,
            created_at=item.now,
            kind=item.kind,
            delivery=item.delivery,
            attachments=refs(files),
        )
        conv = CONVERSATIONS.decode(bumped)
        # the events of this message, in its transaction (docs/store.md, the outbox);
        # under SQLite's one writer no routing interleaves with it
        await announce_message(c, item.announce, conv, message)
        return Appended(message, True, conv)

    async def _existing(self, c: Conn, item: _Append) -> Appended | GatewayError:
        """The message a retry refers to; else NotFound for an unknown conversation, or
        Stale for one the caller's guard turned away."""
        existing = await c.fetchrow(
            SELECT_BY_CLIENT_ID,
            item.conversation_id,
            item.sender,
            item.sender_id,
            item.client_msg_id,
        )
        conv_row = await c.fetchrow(CONVERSATIONS.sql_get, item.conversation_id)
        if conv_row is None:
            return NotFound(f"conversation {item.conversation_id!r} not found")
        if existing is None:
            return Stale(f"conversation {item.conversation_id!r} changed")
        return Appended(decode_message(existing), False, CONVERSATIONS.decode(conv_row))
