"""SQLite's append: a group commit.

The appends that arrive during one turn of the event loop are stored together at the
start of the next, in one transaction, so a busy node pays one ``BEGIN IMMEDIATE``/
``COMMIT`` for many messages; each caller still returns only once its own message is
committed. The batch runs inline on the event loop's thread when the writer is free (its
statements take microseconds, a hop to the writer's thread more), else through that
thread in one hop (docs/store.md, "SQLite's lanes"). Under SQLite's single writer the
seq is the conversation's ``last_seq + 1``, read in the same transaction, or kept from the
last batch while nothing else wrote (``GroupCommit._rows``). A message with files
attaches them (``_attachments.attach``) in that transaction too.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import msgspec

from gateway.errors import GatewayError, NotFound, StoreUnavailable
from gateway.model.records import (
    Attachment,
    AttachmentRef,
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
    announce_message,
    decode_message,
    refs_json,
    unread_increments,
)
from gateway.ports.store._sql import SQLStore
from gateway.ports.store._sqlite_lane import SyncConn
from gateway.ports.store.base import Appended, MessageAnnouncer, Stale, unchanged

T = TypeVar("T")

# Three statements (two when the row is kept: GroupCommit._rows), none with RETURNING:
# SQLite runs a RETURNING statement through a buffer of its own, which costs more than a
# plain point read (docs/store.md, "Seq allocation"). Under the one writer nothing
# changes the conversation between the read and the update: the row after is the row
# read with these three columns changed.
_CONVERSATION = CONVERSATIONS.sql_get
_INSERT = (
    "INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,"
    " created_at, kind, delivery, delivery_due, attachments)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $9 = 'pending' THEN $7 END, $10)"
    # a retry the unique index turns away: ends only this statement, not the batch's
    " ON CONFLICT DO NOTHING"
)
_NO_FILES = refs_json(())
# Where the counters' UPDATE writes in the row _CONVERSATION reads.
_SEQ, _AGENT_UNREAD, _CONTACT_UNREAD = (
    CONVERSATIONS.columns.index(c) for c in ("last_seq", "agent_unread", "contact_unread")
)
_BUMP = (
    "UPDATE conversations SET last_seq = $2, agent_unread = agent_unread + $3,"
    " contact_unread = contact_unread + $4 WHERE id = $1"
)


class _Append:
    """One message waiting for the next group commit, and its caller's future."""

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
        future: asyncio.Future[Appended],
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
        self.future = future


class WriterBusy(Exception):
    """The inline write could not start at once (another process holds the file's write
    lock): the batch goes to the writer's thread, which may wait for it."""


Body = Callable[[SyncConn], Coroutine[Any, Any, T]]
# A conversation's row as an append left it, and its decoding.
_Row = tuple[tuple[Any, ...], Conversation]
# A row the cache keeps, after the epoch it was last known to be the database's in.
_Kept = tuple[int, tuple[Any, ...], Conversation]
# A batch's results, the rows it left, and the writer's mark after it: its data version
# and total changes (SyncConn).
_Stored = tuple[list[Appended | GatewayError], dict[str, _Row], tuple[int, int]]


class GroupCommit(SQLStore):
    """``append`` for a store with one writer connection (SQLiteStore)."""

    INLINE_BATCH = 100
    # Conversations whose row the last committed append here left, with that row
    # decoded: the most recently written ones.
    DECODED_ROWS = 4096

    @abc.abstractmethod
    async def _in_one_hop(self, body: Body[T]) -> T:
        """``body`` in one write transaction, in one call to the writer's thread."""

    @abc.abstractmethod
    def _inline_ready(self) -> bool:
        """Whether the writer may be used on the event loop's thread now: the store is
        open, no transaction holds it and its thread has nothing queued."""

    @abc.abstractmethod
    def _inline(self, body: Body[T]) -> T:
        """``body`` in one write transaction on the event loop's thread, without ever
        waiting on the file's lock (``WriterBusy``); ``body`` awaits only its ``Conn``."""

    def __init__(self) -> None:
        self._appends: list[_Append] = []
        self._flush_scheduled = False
        # the batch that went to the writer's thread (a transaction held the writer, or
        # the file was busy); later appends wait behind it, so seq follows arrival
        self._committer: asyncio.Task[None] | None = None
        # The rows the committed batches left, decoded, each with the epoch it was last
        # known to be the database's in. A batch that finds the writer's mark (its data
        # version and total changes) moved since the last batch committed, someone else
        # having written, starts a new epoch: rows of older ones are read before use
        # (docs/store.md, "What append returns").
        self._rows: dict[str, _Kept] = {}
        self._rows_mark: tuple[int, int] | None = None
        self._epoch = 0

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
        """Group commit: the appends that arrive in one turn of the event loop are stored
        together, in one transaction, at the start of the next turn, so a busy node pays
        one BEGIN/COMMIT for many messages. Each caller still returns only once its
        message is committed; its ``announce`` rows are written in the same transaction.
        A caller cancelled while it waits does not take its message out of the batch: it
        is stored (or not) with the others, and a retry with its ``client_msg_id`` finds
        it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self._appends.append(
            _Append(
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
                future,
            )
        )
        self._resume()
        # No shield: the batch holds the item, whatever becomes of this caller's future.
        return await future

    def _writes_held(self) -> bool:
        """Whether batches wait now (SQLite: a WAL checkpoint catching up); the store
        calls :meth:`_resume` when they may go on."""
        return False

    def _resume(self) -> None:
        """Flush what waits, in the next turn of the loop: the one place a flush is
        scheduled (after an append, after an inline batch of at most INLINE_BATCH, after
        a batch through the writer's thread, after a held checkpoint)."""
        if self._appends and not self._flush_scheduled and self._committer is None:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """The batch, inline on the event loop's thread when the writer is free (every
        statement of it takes microseconds: no hop to a thread, no task); else through
        the writer's thread, in a task that keeps the later batches behind it."""
        self._flush_scheduled = False
        if self._committer is not None or not self._appends or self._writes_held():
            return
        if self._inline_ready():
            # at most INLINE_BATCH messages per turn, so one turn of the loop stays short
            # (a few milliseconds); the rest go in the next, in order
            batch, self._appends = (
                self._appends[: self.INLINE_BATCH],
                self._appends[self.INLINE_BATCH :],
            )
            self._resume()
            try:
                results = self._commit_inline(batch)
            except Exception as exc:  # the store is unavailable: the whole batch's
                _settle(batch, [exc] * len(batch))
                return
            _settle(batch[: len(results)], results)
            if len(results) == len(batch):
                return
            self._appends[:0] = batch[len(results) :]  # the file is busy: the lane waits
        self._committer = asyncio.create_task(self._commit_through_lane())

    def _commit_inline(self, batch: list[_Append]) -> list[Appended | BaseException]:
        """One transaction for ``batch``; when it fails (a row the database or the
        announcer refuses), each message again in a transaction of its own, so only the
        failing one's caller hears of it. An outage of the batch's transaction is the
        whole batch's (raised); one met on the way one by one is only the messages' it
        failed, those committed before it are answered. Stops early (fewer results than
        ``batch``) when the file's lock is taken."""
        try:
            return list(self._kept(self._inline(self._store_batch(batch))))
        except WriterBusy:
            return []
        except StoreUnavailable:
            raise
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        results: list[Appended | BaseException] = []
        for item in batch:
            try:
                results.extend(self._kept(self._inline(self._store_batch([item]))))
            except WriterBusy:
                break
            except Exception as exc:
                results.append(exc)
        return results

    def _store_batch(self, batch: list[_Append]) -> Body[_Stored]:
        async def store(c: SyncConn) -> _Stored:
            version = c.data_version()
            if (version, c.total_changes) != self._rows_mark:
                self._epoch += 1
            # The rows this batch leaves join _rows only once it commits (_kept).
            written: dict[str, _Row] = {}
            results = [await self._append_one(c, item, written) for item in batch]
            # no other connection commits while this one holds the write lock
            return results, written, (version, c.total_changes)

        return store

    def _kept(self, stored: _Stored) -> list[Appended | GatewayError]:
        """A committed batch's results; the rows it left are now the database's."""
        results, written, mark = stored
        rows, epoch = self._rows, self._epoch
        for conversation_id, (row, conv) in written.items():
            rows.pop(conversation_id, None)  # to the end: the most recently written last
            rows[conversation_id] = epoch, row, conv
        while len(rows) > self.DECODED_ROWS:
            del rows[next(iter(rows))]
        self._rows_mark = mark
        return results

    async def _commit_through_lane(self) -> None:
        """One batch through the writer's thread (waiting for the writer's lock, and for
        the file's busy handler), then back to the inline path for the next."""
        batch, self._appends = self._appends, []
        results: list[Appended | BaseException]
        try:
            try:
                results = list(self._kept(await self._in_one_hop(self._store_batch(batch))))
            except asyncio.CancelledError as exc:
                # Shutdown, while the writer's thread may have committed the batch: a
                # retry with the same client_msg_id finds the message either way.
                _settle(batch, [exc] * len(batch))
                raise
            except StoreUnavailable as exc:
                _settle(batch, [exc] * len(batch))
                return
            except Exception:
                results = []
                for item in batch:
                    try:
                        stored = await self._in_one_hop(self._store_batch([item]))
                        results.extend(self._kept(stored))
                    except asyncio.CancelledError as exc:
                        _settle(batch, [exc] * len(batch))
                        raise
                    except Exception as exc:
                        results.append(exc)
            _settle(batch, results)
        finally:
            self._committer = None
            self._resume()

    async def _append_one(
        self,
        c: SyncConn,
        item: _Append,
        written: dict[str, _Row],
    ) -> Appended | GatewayError:
        agent_inc, contact_inc = unread_increments(item.sender, item.kind)
        files: list[Attachment] = []
        files_refs: tuple[AttachmentRef, ...] = ()
        files_json = _NO_FILES
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
            files_refs = refs(files)
            files_json = refs_json(files_refs)
        # The conversation as this batch left it, or as an earlier one did when nothing
        # else wrote since; else read, and decoded only if someone changed it.
        known = self._rows.get(item.conversation_id)
        kept = written.get(item.conversation_id)
        if kept is None and known is not None and known[0] == self._epoch:
            kept = known[1:]
        if kept is not None:
            row, before = kept
        else:
            read = await c.fetchrow(_CONVERSATION, item.conversation_id)
            if read is None:  # no such conversation, unless the message is a retry
                return await self._existing(c, item)
            row = tuple(read)
            before = _decoded(row, known)
        expect = item.expect  # often the very row this node last stored (recent.py)
        if expect is not None and expect is not before and not unchanged(expect, before):
            # changed since the caller read it (base.GUARDED), unless this is a retry
            return await self._existing(c, item)
        seq = before.last_seq + 1
        if not await c.changes(
            _INSERT,
            item.conversation_id,
            seq,
            item.sender,
            item.sender_id,
            item.client_msg_id,
            item.body,
            item.now,
            item.kind,
            item.delivery,
            files_json,
        ):
            return await self._existing(c, item)  # a retry
        if files:
            await attach(c, files, seq)
        await c.execute(_BUMP, item.conversation_id, seq, agent_inc, contact_inc)
        conv = msgspec.structs.replace(
            before,
            last_seq=seq,
            agent_unread=before.agent_unread + agent_inc,
            contact_unread=before.contact_unread + contact_inc,
        )
        written[conv.id] = _after(row, conv)
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
            attachments=files_refs,
        )
        # the events of this message, in its transaction (docs/store.md, the outbox);
        # under SQLite's one writer no routing interleaves with it
        await announce_message(c, item.announce, conv, message)
        return Appended(message, True, conv)

    async def _existing(self, c: SyncConn, item: _Append) -> Appended | GatewayError:
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


def _decoded(row: tuple[Any, ...], known: _Kept | None) -> Conversation:
    """``row`` decoded; without decoding it again when it is the row kept for its
    conversation (``known``, of any epoch: compared whole, so a change by anyone else is
    decoded afresh). Decoding the row was the append's largest Python step (docs/store.md,
    "What append returns")."""
    if known is not None and known[1] == row:
        return known[2]
    return CONVERSATIONS.decode(row)


def _after(row: tuple[Any, ...], conv: Conversation) -> _Row:
    """The row as the counters' UPDATE leaves it, and ``conv``, its decoding."""
    after = list(row)
    after[_SEQ], after[_AGENT_UNREAD], after[_CONTACT_UNREAD] = (
        conv.last_seq,
        conv.agent_unread,
        conv.contact_unread,
    )
    return tuple(after), conv


def _settle(batch: list[_Append], results: Sequence[Appended | BaseException]) -> None:
    """Each caller its own answer; a caller that gave up (cancelled) is skipped."""
    for item, result in zip(batch, results, strict=True):
        future = item.future
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
