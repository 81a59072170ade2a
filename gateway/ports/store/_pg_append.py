"""PostgreSQL's append statements, and the batcher that sends concurrent appends in one.

``APPEND`` stores one message in one statement (docs/store.md, "Seq allocation").
``APPEND_MANY`` stores several in one statement and one round trip: the bump of each
conversation and the insert of its messages take their rows from two JSON parameters
(a row per conversation, a row per message). :class:`AppendBatcher` feeds it: appends
that arrive while a batch is on its way to the database wait and go together in the
next, several of one conversation too (it is bumped once by their number; their seqs
follow the order they came in). The statement runs in autocommit: it commits before any of its callers
returns, as a single append does. Anything unusual in a batch -- a retry (its duplicate
aborts the statement), an unknown or changed conversation (its rows are missing from
the answer), a lost connection -- sends the callers concerned through the one-message
path, which answers each on its own, one conversation's in order: one failing message
never fails the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from gateway.errors import StoreError
from gateway.model.records import Attachment, Message
from gateway.ports.store._attachments import refs
from gateway.ports.store._rows import CONVERSATIONS, MESSAGE_COLUMNS, Row
from gateway.ports.store.base import Appended

# $12-$15: the guard (base.GUARDED), NULL when the caller gave none
APPEND = f"""
WITH bumped AS (
    UPDATE conversations
    SET last_seq = last_seq + 1,
        agent_unread = agent_unread + $8::integer,
        contact_unread = contact_unread + $9::integer
    WHERE id = $1 AND ($12::text IS NULL OR (state = $12::text
        AND COALESCE(owner_agent_id, '') = $13::text AND bot_id = $14::text
        AND queue_ids = $15::jsonb))
    {CONVERSATIONS.returning}
), inserted AS (
    INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,
        created_at, kind, delivery, delivery_due, attachments)
    SELECT $1, bumped.last_seq, $2::text, $3::text, $4::text, $5::text, $6::float8, $7::text,
        $10::text, CASE WHEN $10::text = 'pending' THEN $6::float8 END, $11::jsonb
    FROM bumped
    RETURNING seq
)
SELECT inserted.seq, {", ".join("bumped." + c for c in CONVERSATIONS.columns)}
FROM inserted, bumped
"""

# APPEND_MANY's parameters: the ids of the batch's conversations (an array), then two
# JSON documents, each an array of rows (arrays, a value per column, in these orders).
# First one row per conversation of the batch: its id, its number of messages in the
# batch, the unread counts they add, and their guard (base.GUARDED, NULL when none); then
# one per message: its conversation, its place among that conversation's messages (1, 2,
# ...) and their number, and APPEND's arguments after the conversation id (without the
# attachments). JSON rather than an array per column: asyncpg checks every element of an
# array against collections.abc's Iterable and Sized (a Python call each) before encoding
# it; with JSON (msgspec encodes the batch in one call) the gateway's side of a batched
# append of 200 callers cost 59 us per message instead of 83 (docs/store.md).
_CONVERSATION_TYPES = {
    "id": "text",
    "n": "integer",
    "agent_inc": "integer",
    "contact_inc": "integer",
    "g_state": "text",
    "g_owner": "text",
    "g_bot": "text",
    "g_queues": "jsonb",
}
_MESSAGE_TYPES = {
    "conversation_id": "text",
    "r": "integer",
    "n": "integer",
    "sender": "text",
    "sender_id": "text",
    "client_msg_id": "text",
    "body": "text",
    "created_at": "float8",
    "kind": "text",
    "delivery": "text",
}
TYPES = ("text[]", "jsonb", "jsonb")  # APPEND_MANY's parameters


def _rows(columns: dict[str, str], param: int) -> str:
    """The rows of a JSON parameter, typed: ``->>`` gives each value as text (NULL for
    null), cast as APPEND casts its parameter (a float8 goes through its shortest
    decimal form, which reads back as the same double)."""
    values = ", ".join(f"(e->>{i})::{t} AS {c}" for i, (c, t) in enumerate(columns.items()))
    return f"SELECT {values} FROM jsonb_array_elements(${param}::jsonb) e"


# Several messages of one conversation go in one batch: the conversation is bumped once,
# by their number, and each message takes ``last_seq - n + r``, in the order they came.
# Everything is joined by hash or by key, nothing per pair of rows. The answer is one
# row per conversation bumped, as the batch left it (each caller's row, as its own
# message left it, is worked out from it: AppendBatcher._together); a conversation
# missing from it stored nothing (unknown, or its guard failed).
#
# ``c.id = ANY($1)`` (the ids again) makes the bump an index scan of the conversations'
# key whatever the table's size: joined only to ``input`` (whose size the generic plan
# guesses as 100 rows), a small table is read whole, every row of it, for each batch.
APPEND_MANY = f"""
WITH batch AS (
    {_rows(_CONVERSATION_TYPES, 2)}
), input AS (
    {_rows(_MESSAGE_TYPES, 3)}
), bumped AS (
    UPDATE conversations c
    SET last_seq = c.last_seq + g.n,
        agent_unread = c.agent_unread + g.agent_inc,
        contact_unread = c.contact_unread + g.contact_inc
    FROM batch g
    -- ANY: found by key (the join alone is planned as a scan of every conversation)
    WHERE c.id = ANY($1::text[]) AND c.id = g.id
        AND (g.g_state IS NULL OR (c.state = g.g_state
        AND COALESCE(c.owner_agent_id, '') = g.g_owner AND c.bot_id = g.g_bot
        AND c.queue_ids = g.g_queues))
    RETURNING {", ".join("c." + c for c in CONVERSATIONS.columns)}
), inserted AS (
    INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,
        created_at, kind, delivery, delivery_due, attachments)
    SELECT i.conversation_id, b.last_seq - i.n + i.r, i.sender, i.sender_id,
        i.client_msg_id, i.body, i.created_at, i.kind, i.delivery,
        CASE WHEN i.delivery = 'pending' THEN i.created_at END, '[]'::jsonb
    FROM input i JOIN bumped b ON b.id = i.conversation_id
)
SELECT * FROM bumped
"""


# Why APPEND stored nothing, in one round trip: no row, an unknown conversation; else
# the conversation, and the message stored the first time when this is a retry its guard
# turned away (all NULL otherwise). $2-$4: sender, sender_id, client_msg_id, or NULL.
NOT_APPENDED = f"""
SELECT {", ".join("c." + c for c in CONVERSATIONS.columns)},
    {", ".join("m." + c for c in MESSAGE_COLUMNS.split(", "))}
FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
    AND m.sender = $2::text AND m.sender_id = $3::text AND m.client_msg_id = $4::text
    AND m.client_msg_id <> ''
WHERE c.id = $1
"""


class Pending:
    """One append waiting for its batch: APPEND's arguments after the conversation id
    (without the attachments), the guard's, and the caller's future."""

    __slots__ = ("args", "conversation_id", "future", "guard")

    def __init__(self, conversation_id: str, args: tuple[Any, ...], guard: tuple[Any, ...]):
        self.conversation_id = conversation_id
        self.args = args
        self.guard = guard
        self.future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()


class AppendBatcher:
    """One batch on its way at a time; what arrives meanwhile goes in the next."""

    def __init__(
        self,
        many: Callable[[list[tuple[Any, ...]], list[tuple[Any, ...]]], Awaitable[Sequence[Row]]],
        one: Callable[[Pending], Awaitable[Appended]],
        done: Callable[[list[Pending], Row], list[Appended]],
    ) -> None:
        self._many = many  # runs APPEND_MANY on the conversations' rows and the messages'
        self._one = one  # the one-message path (answers retries, NotFound, Stale)
        self._done = done  # a conversation's callers' answers from its row of APPEND_MANY
        self._waiting: list[Pending] = []
        self._sender: asyncio.Task[None] | None = None

    async def append(self, item: Pending) -> Appended:
        self._waiting.append(item)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        # No shield needed: a caller that gives up cancels only its own future; the
        # batch sends every item it holds whatever its future's state (an append under
        # way is not undone) and answers only the futures still pending.
        return await item.future

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                if len(batch) == 1:
                    await self._alone(batch[0])
                else:
                    await self._together(batch)
            except Exception as exc:
                # A fault of the batcher's own (answering is meant not to raise): its
                # callers are told, and those waiting for the next batch still get one.
                for item in batch:
                    _fail(item, exc)
            except BaseException as exc:  # cancelled (shutdown): nobody is left waiting
                for item in (*batch, *self._waiting):
                    _fail(item, exc)
                self._waiting = []
                raise

    async def _alone(self, item: Pending) -> None:
        try:
            result = await self._one(item)
        except BaseException as exc:
            _fail(item, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not item.future.done():
                item.future.set_result(result)

    async def _together(self, batch: list[Pending]) -> None:
        # By id: two nodes' batches that share conversations lock them in one order (the
        # index scan of ``id = ANY`` takes them in key order). Should they deadlock anyway,
        # PostgreSQL aborts one, whose callers then go one at a time.
        groups: dict[str, list[Pending]] = {}
        for item in batch:  # in the order they came: one conversation's seqs follow it
            groups.setdefault(item.conversation_id, []).append(item)
        alone: list[list[Pending]] = []
        convs: list[tuple[Any, ...]] = []  # the rows of APPEND_MANY's two JSON parameters
        msgs: list[tuple[Any, ...]] = []
        for cid in sorted(groups):
            items = groups[cid]
            guard = items[0].guard
            if any(item.guard != guard for item in items):
                alone.append(items)  # told apart only one by one (rare: a row changed)
                continue
            n = len(items)
            agent = sum(item.args[6] for item in items)
            contact = sum(item.args[7] for item in items)
            convs.append((cid, n, agent, contact, *guard))
            for r, item in enumerate(items, 1):
                a = item.args  # APPEND's: sender .. delivery, the unread increments at 6, 7
                msgs.append((cid, r, n, a[0], a[1], a[2], a[3], a[4], a[5], a[8]))
        rows: Sequence[Row] = []
        if convs:
            try:
                rows = await self._many(convs, msgs)
            except Exception:
                # a retry's duplicate aborted the statement, or the database failed: each
                # on its own, so that one message's trouble is only its own
                rows = []
            except BaseException as exc:  # cancelled (shutdown): it may have committed
                for item in batch:
                    _fail(item, exc)
                raise
        found = {row[0]: row for row in rows}  # column 0: the conversation's id
        for cid, *_ in convs:
            row = found.get(cid)
            if row is None:
                alone.append(groups[cid])
                continue
            try:
                results = self._done(groups[cid], row)
            except StoreError as exc:
                # Committed, but its row does not read back (a state this node does not
                # know, written by a newer one): only this conversation's callers hear.
                for item in groups[cid]:
                    _fail(item, exc)
                continue
            for item, result in zip(groups[cid], results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
        if alone:
            # conversations side by side, each one's messages in order
            await asyncio.gather(*(self._in_order(items) for items in alone))

    async def _in_order(self, items: list[Pending]) -> None:
        for item in items:
            await self._alone(item)


def _fail(item: Pending, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def batched(items: list[Pending], row: Row) -> list[Appended]:
    """The answers of one conversation's messages in a batch, from its row of
    APPEND_MANY (as the batch left it): each with its seq, and the conversation as its
    own message left it, as if they had been appended one by one."""
    after = CONVERSATIONS.decode(tuple(row))
    seq = after.last_seq - len(items)
    agent, contact = after.agent_unread, after.contact_unread
    # the unread counts right after each message: the final ones, less what came later
    counts = []
    for item in reversed(items):
        counts.append((agent, contact))
        agent -= item.args[6]
        contact -= item.args[7]
    out = []
    for item, (agent_unread, contact_unread) in zip(items, reversed(counts), strict=True):
        seq += 1
        conv = msgspec.structs.replace(
            after, last_seq=seq, agent_unread=agent_unread, contact_unread=contact_unread
        )
        out.append(
            Appended(inserted_message(item.conversation_id, (seq,), item.args, []), True, conv)
        )
    return out


def inserted_message(
    conversation_id: str, row: Row, args: tuple[Any, ...], files: list[Attachment]
) -> Message:
    """The message ``APPEND`` inserted, from its arguments and the seq it returned."""
    return Message(
        conversation_id=conversation_id,
        seq=row[0],
        sender=args[0],
        sender_id=args[1],
        client_msg_id=args[2],
        body=args[3],
        created_at=args[4],
        kind=args[5],
        delivery=args[8],
        attachments=refs(files),
    )
