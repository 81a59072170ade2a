"""PostgreSQL's append statements, and the batcher that sends concurrent appends in one.

``APPEND`` stores one message in one statement (docs/store.md, "Seq allocation").
``APPEND_MANY`` stores several in one statement and one round trip: the bump of each
conversation and the insert of its messages take their rows from ``unnest`` of one
array per column. :class:`AppendBatcher` feeds it: appends that arrive while a batch is
on its way to the database wait and go together in the next, several of one
conversation too (it is bumped once by their number; their seqs follow the order they
came in). The statement runs in autocommit: it commits before any of its callers
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

# The columns of one append, in APPEND's argument order after the conversation id; the
# last four are the guard's.
_TYPES = (
    "text",  # conversation_id
    "text",  # sender
    "text",  # sender_id
    "text",  # client_msg_id
    "text",  # body
    "float8",  # created_at
    "text",  # kind
    "integer",  # agent_inc
    "integer",  # contact_inc
    "text",  # delivery
    "text",  # g_state
    "text",  # g_owner
    "text",  # g_bot
    "jsonb",  # g_queues
)
_NAMES = (
    "conversation_id, sender, sender_id, client_msg_id, body, created_at, kind,"
    " agent_inc, contact_inc, delivery, g_state, g_owner, g_bot, g_queues"
)

# ``c.id = ANY($1)`` (the ids again) makes the bump an index scan of the conversations'
# key whatever the table's size: joined only to ``input`` (whose size the generic plan
# guesses as 100 rows), a small table is read whole, every row of it, for each batch.
#
# A conversation may have several messages in the batch (``k``: their order in it, as
# they arrived): it is bumped once, by their number, and each message takes its seq in
# that order. Each row of the answer is the conversation as it was right after that
# message (its seq, and the unread counts without what the later ones added), as if
# they had been appended one by one. A guard that fails fails the conversation's
# messages together: they go alone, in order (AppendBatcher._together).
_AS_AFTER = {
    "last_seq": "inserted.seq",
    "agent_unread": "b.agent_unread - r.agent_later",
    "contact_unread": "b.contact_unread - r.contact_later",
}
APPEND_MANY = f"""
WITH input AS (
    SELECT * FROM unnest({", ".join(f"${n}::{t}[]" for n, t in enumerate(_TYPES, 1))})
        WITH ORDINALITY AS i({_NAMES}, k)
), ranked AS (
    SELECT i.conversation_id, i.k,
        row_number() OVER mine AS r,
        count(*) OVER all_mine AS n,
        coalesce(sum(i.agent_inc) OVER later, 0) AS agent_later,
        coalesce(sum(i.contact_inc) OVER later, 0) AS contact_later
    FROM input i
    WINDOW all_mine AS (PARTITION BY i.conversation_id),
        mine AS (PARTITION BY i.conversation_id ORDER BY i.k),
        later AS (mine ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
), totals AS (
    SELECT conversation_id, count(*) AS n, sum(agent_inc) AS agent_inc,
        sum(contact_inc) AS contact_inc
    FROM input GROUP BY conversation_id
), bumped AS (
    UPDATE conversations c
    SET last_seq = c.last_seq + t.n,
        agent_unread = c.agent_unread + t.agent_inc,
        contact_unread = c.contact_unread + t.contact_inc
    FROM totals t
    -- ANY: found by key (the join alone is planned as a scan of every conversation)
    WHERE c.id = ANY($1::text[]) AND c.id = t.conversation_id
        AND NOT EXISTS (SELECT 1 FROM input g WHERE g.conversation_id = c.id
            AND g.g_state IS NOT NULL AND (c.state = g.g_state
            AND COALESCE(c.owner_agent_id, '') = g.g_owner AND c.bot_id = g.g_bot
            AND c.queue_ids = g.g_queues) IS NOT TRUE)
    RETURNING {", ".join("c." + c for c in CONVERSATIONS.columns)}
), inserted AS (
    INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,
        created_at, kind, delivery, delivery_due, attachments)
    SELECT i.conversation_id, b.last_seq - r.n + r.r, i.sender, i.sender_id,
        i.client_msg_id, i.body, i.created_at, i.kind, i.delivery,
        CASE WHEN i.delivery = 'pending' THEN i.created_at END, '[]'::jsonb
    FROM input i JOIN ranked r ON r.k = i.k JOIN bumped b ON b.id = i.conversation_id
    RETURNING conversation_id, seq
)
SELECT inserted.seq, {", ".join(_AS_AFTER.get(c, "b." + c) for c in CONVERSATIONS.columns)},
    r.k
FROM inserted JOIN bumped b ON b.id = inserted.conversation_id
    JOIN ranked r ON r.conversation_id = inserted.conversation_id
        AND b.last_seq - r.n + r.r = inserted.seq
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
        many: Callable[[list[list[Any]]], Awaitable[Sequence[Row]]],
        one: Callable[[Pending], Awaitable[Appended]],
        done: Callable[[Pending, Row], Appended],
    ) -> None:
        self._many = many  # runs APPEND_MANY with one array per column
        self._one = one  # the one-message path (answers retries, NotFound, Stale)
        self._done = done  # a caller's answer from its row of APPEND_MANY
        self._waiting: list[Pending] = []
        self._sender: asyncio.Task[None] | None = None

    async def append(self, item: Pending) -> Appended:
        self._waiting.append(item)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        # Shielded: a caller that gives up does not undo an append already under way.
        return await asyncio.shield(item.future)

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            if len(batch) == 1:
                await self._alone(batch[0])
            else:
                await self._together(batch)

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
        # PostgreSQL aborts one, whose callers then go one at a time. The sort is stable:
        # one conversation's messages keep the order they came in, and so their seqs.
        batch = sorted(batch, key=lambda i: i.conversation_id)
        columns: list[list[Any]] = [[] for _ in _TYPES]
        for item in batch:
            for column, value in zip(
                columns, (item.conversation_id, *item.args, *item.guard), strict=True
            ):
                column.append(value)
        try:
            rows = await self._many(columns)
        except Exception:
            # a retry's duplicate aborted the statement, or the database failed: each on
            # its own, so that one message's trouble is only its own
            rows = []
        except BaseException as exc:  # cancelled (shutdown): it may have committed
            for item in batch:
                _fail(item, exc)
            raise
        found = {row[-1]: row for row in rows}  # the last column: k, 1 for the first item
        alone: dict[str, list[Pending]] = {}
        for k, item in enumerate(batch, 1):
            row = found.get(k)
            if row is None:
                alone.setdefault(item.conversation_id, []).append(item)
            elif not item.future.done():
                item.future.set_result(self._done(item, tuple(row)[:-1]))
        if alone:
            # conversations side by side, each one's messages in order
            await asyncio.gather(*(self._in_order(items) for items in alone.values()))

    async def _in_order(self, items: list[Pending]) -> None:
        for item in items:
            await self._alone(item)


def _fail(item: Pending, exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def batched(item: Pending, row: Row) -> Appended:
    """A caller's answer from its row of APPEND_MANY (the same columns as APPEND's,
    without the last: the item's place in the batch)."""
    message = inserted_message(item.conversation_id, row, item.args, [])
    return Appended(message, True, CONVERSATIONS.decode(tuple(row)[1:]))


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
