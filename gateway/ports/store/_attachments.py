"""Attachments and the blob deletion queue, in SQL both dialects share; and the check
both dialects' ``append`` make before attaching uploads to a message."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gateway.errors import Conflict, NotFound
from gateway.model.records import Attachment, AttachmentRef, Sender
from gateway.ports.store._rows import ATTACHMENTS, Conn, SQLBase

# Queue a key; a key queued already takes the new due time.
QUEUE_DELETION = (
    "INSERT INTO blob_deletions (blob_key, due_at) VALUES ($1, $2)"
    " ON CONFLICT (blob_key) DO UPDATE SET due_at = excluded.due_at"
)


def queue_blobs_of(conversations: str) -> str:
    """The statement that queues the files of the conversations ``conversations`` picks
    (a condition on ``conversations c``) for deletion, due at once, before their rows go
    ("WHERE true": SQLite needs it between INSERT ... SELECT and ON CONFLICT)."""
    return (
        "INSERT INTO blob_deletions (blob_key, due_at)"
        " SELECT k, 0 FROM (SELECT a.blob_key AS k FROM attachments a"
        f" JOIN conversations c ON c.id = a.conversation_id WHERE {conversations}"
        " UNION SELECT a.thumb_key FROM attachments a"
        " JOIN conversations c ON c.id = a.conversation_id"
        f" WHERE {conversations} AND a.thumb_key <> '') AS keys WHERE true"
        " ON CONFLICT (blob_key) DO UPDATE SET due_at = 0"
    )


def _in(start: int, count: int) -> str:
    return "(" + ", ".join(f"${start + i}" for i in range(count)) + ")"


async def attachable(
    c: Conn,
    conversation_id: str,
    sender: Sender,
    sender_id: str,
    ids: Sequence[str],
    *,
    lock: bool = False,
) -> list[Attachment] | NotFound:
    """The uploads ``ids`` as records, in order, when every one may be attached to a new
    message of this sender in this conversation; NotFound (returned, not raised, so
    that a group commit can refuse one message and store the others) otherwise.
    ``lock`` takes their rows for the transaction (PostgreSQL: FOR UPDATE)."""
    if len(set(ids)) != len(ids):
        return NotFound("the same attachment is listed twice")
    rows = await c.fetch(
        f"{ATTACHMENTS.select} WHERE id IN {_in(1, len(ids))}" + (" FOR UPDATE" if lock else ""),
        *ids,
    )
    found = {a.id: a for a in (ATTACHMENTS.decode(r) for r in rows)}
    out: list[Attachment] = []
    for attachment_id in ids:
        a = found.get(attachment_id)
        if (
            a is None
            or a.conversation_id != conversation_id
            or (a.uploader, a.uploader_id) != (sender, sender_id)
        ):
            return NotFound(f"no attachment {attachment_id!r} of yours in this conversation")
        if a.seq:
            return NotFound(f"the attachment {attachment_id!r} was sent already")
        out.append(a)
    return out


async def attach(c: Conn, attachments: list[Attachment], seq: int) -> None:
    ids = [a.id for a in attachments]
    await c.execute(f"UPDATE attachments SET seq = $1 WHERE id IN {_in(2, len(ids))}", seq, *ids)


def refs(attachments: list[Attachment]) -> tuple[AttachmentRef, ...]:
    return tuple(a.ref() for a in attachments)


class AttachmentRows(SQLBase):
    async def create_attachment(self, attachment: Attachment) -> None:
        attachment = msgspec.structs.replace(attachment, seq=0)
        keys = [k for k in (attachment.blob_key, attachment.thumb_key) if k]
        try:
            async with self._transaction() as c:
                await c.execute(ATTACHMENTS.sql_insert, *ATTACHMENTS.params(attachment))
                await c.execute(
                    f"DELETE FROM blob_deletions WHERE blob_key IN {_in(1, len(keys))}", *keys
                )
        except Conflict as exc:
            raise Conflict(f"attachment {attachment.id!r} exists") from exc
        except NotFound as exc:
            raise NotFound(f"conversation {attachment.conversation_id!r} not found") from exc

    async def get_attachment(self, attachment_id: str) -> Attachment:
        return await self._get(ATTACHMENTS, attachment_id)

    async def get_attachments(self, attachment_ids: Sequence[str]) -> list[Attachment]:
        if not attachment_ids:
            return []
        async with self._connection() as c:
            rows = await c.fetch(
                f"{ATTACHMENTS.select} WHERE id IN {_in(1, len(attachment_ids))}",
                *attachment_ids,
            )
        found = {a.id: a for a in (ATTACHMENTS.decode(r) for r in rows)}
        return [found[i] for i in attachment_ids if i in found]

    async def unsent_uploads(
        self, conversation_id: str, uploader: Sender, uploader_id: str
    ) -> tuple[int, int]:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT count(*), coalesce(sum(size), 0) FROM attachments"
                " WHERE conversation_id = $1 AND seq = 0 AND uploader = $2 AND uploader_id = $3",
                conversation_id,
                uploader,
                uploader_id,
            )
        assert row is not None  # an aggregate has its row
        return int(row[0]), int(row[1])

    async def queue_blob_deletions(self, blob_keys: Sequence[str], due_at: float) -> None:
        if not blob_keys:
            return
        async with self._transaction() as c:
            for key in blob_keys:
                await c.execute(QUEUE_DELETION, key, due_at)

    async def due_blob_deletions(self, now: float, limit: int = 100) -> list[str]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT blob_key FROM blob_deletions WHERE due_at <= $1"
                " ORDER BY due_at, blob_key LIMIT $2",
                now,
                limit,
            )
        return [r[0] for r in rows]

    async def forget_blob_deletions(self, blob_keys: Sequence[str]) -> None:
        if not blob_keys:
            return
        async with self._connection() as c:
            await c.execute(
                f"DELETE FROM blob_deletions WHERE blob_key IN {_in(1, len(blob_keys))}",
                *blob_keys,
            )

    async def expire_unattached(self, created_before: float) -> int:
        async with self._transaction() as c:
            rows = await c.fetch(
                "DELETE FROM attachments WHERE seq = 0 AND created_at < $1"
                " RETURNING blob_key, thumb_key",
                created_before,
            )
            for row in rows:
                for key in row:
                    if key:
                        await c.execute(QUEUE_DELETION, key, 0.0)
        return len(rows)
