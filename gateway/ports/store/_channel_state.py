"""What the core keeps for channel adapters (gateway/model/channel_state.py), in SQL
both dialects share: cursors, connections, message references and message content."""

from __future__ import annotations

import msgspec

from gateway.errors import NotFound
from gateway.model.channel_state import (
    Connection,
    ConnectionStatus,
    Content,
    Cursor,
    MessageRef,
)
from gateway.ports.store._rows import Row, SQLBase, to_json

_CURSOR = "touchpoint_id, stream, epoch, position, updated_at"
_CONNECTION = "touchpoint_id, status, reason, since, connected_at, reminded_at"
_REF = "touchpoint_id, ref, conversation_id, seq, created_at"

# Within an epoch the position never moves back; a new epoch starts over.
_PUT_CURSOR = f"""
INSERT INTO touchpoint_cursors ({_CURSOR}) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (touchpoint_id, stream) DO UPDATE SET
    position = CASE
        WHEN touchpoint_cursors.epoch <> excluded.epoch
          OR excluded.position > touchpoint_cursors.position
        THEN excluded.position ELSE touchpoint_cursors.position END,
    epoch = excluded.epoch,
    updated_at = excluded.updated_at
RETURNING {_CURSOR}
"""

_SET_CONNECTION = f"""
INSERT INTO touchpoint_connections ({_CONNECTION})
VALUES ($1, CAST($2 AS TEXT), $3, CAST($4 AS DOUBLE PRECISION),
    CASE WHEN CAST($2 AS TEXT) = 'connected' THEN CAST($4 AS DOUBLE PRECISION) END, NULL)
ON CONFLICT (touchpoint_id) DO UPDATE SET
    since = CASE WHEN touchpoint_connections.status = excluded.status
        THEN touchpoint_connections.since ELSE excluded.since END,
    connected_at = CASE
        WHEN excluded.status = 'connected' AND touchpoint_connections.status <> 'connected'
        THEN excluded.since ELSE touchpoint_connections.connected_at END,
    status = excluded.status,
    reason = excluded.reason
RETURNING {_CONNECTION}
"""


def _cursor(row: Row) -> Cursor:
    return Cursor(
        touchpoint_id=row[0], stream=row[1], epoch=row[2], position=row[3], updated_at=row[4]
    )


def _connection(row: Row) -> Connection:
    return Connection(
        touchpoint_id=row[0],
        status=row[1],
        reason=row[2],
        since=row[3],
        connected_at=row[4],
        reminded_at=row[5],
    )


def _ref(row: Row) -> MessageRef:
    return MessageRef(
        touchpoint_id=row[0], ref=row[1], conversation_id=row[2], seq=row[3], created_at=row[4]
    )


class ChannelStateRows(SQLBase):
    async def get_cursor(self, touchpoint_id: str, stream: str) -> Cursor | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_CURSOR} FROM touchpoint_cursors WHERE touchpoint_id = $1"
                " AND stream = $2",
                touchpoint_id,
                stream,
            )
        return None if row is None else _cursor(row)

    async def put_cursor(
        self, touchpoint_id: str, stream: str, epoch: str, position: int, *, now: float
    ) -> Cursor:
        try:
            async with self._connection() as c:
                row = await c.fetchrow(_PUT_CURSOR, touchpoint_id, stream, epoch, position, now)
        except NotFound as exc:
            raise NotFound(f"touchpoint {touchpoint_id!r} not found") from exc
        assert row is not None
        return _cursor(row)

    async def set_connection(
        self, touchpoint_id: str, status: ConnectionStatus, reason: str = "", *, now: float
    ) -> tuple[Connection | None, Connection]:
        try:
            async with self._transaction() as c:
                before = await c.fetchrow(
                    f"SELECT {_CONNECTION} FROM touchpoint_connections WHERE touchpoint_id = $1",
                    touchpoint_id,
                )
                row = await c.fetchrow(_SET_CONNECTION, touchpoint_id, status, reason, now)
        except NotFound as exc:
            raise NotFound(f"touchpoint {touchpoint_id!r} not found") from exc
        assert row is not None
        return (None if before is None else _connection(before)), _connection(row)

    async def get_connection(self, touchpoint_id: str) -> Connection | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_CONNECTION} FROM touchpoint_connections WHERE touchpoint_id = $1",
                touchpoint_id,
            )
        return None if row is None else _connection(row)

    async def list_connections(self) -> list[Connection]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_CONNECTION} FROM touchpoint_connections ORDER BY touchpoint_id"
            )
        return [_connection(r) for r in rows]

    async def mark_reminded(self, touchpoint_id: str, *, now: float) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE touchpoint_connections SET reminded_at = $2 WHERE touchpoint_id = $1",
                touchpoint_id,
                now,
            )

    async def put_ref(
        self, touchpoint_id: str, ref: str, conversation_id: str, seq: int, *, now: float
    ) -> MessageRef:
        try:
            async with self._transaction() as c:
                await c.execute(
                    f"INSERT INTO message_refs ({_REF}) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (touchpoint_id, ref) DO NOTHING",
                    touchpoint_id,
                    ref,
                    conversation_id,
                    seq,
                    now,
                )
                row = await c.fetchrow(
                    f"SELECT {_REF} FROM message_refs WHERE touchpoint_id = $1 AND ref = $2",
                    touchpoint_id,
                    ref,
                )
        except NotFound as exc:
            raise NotFound(f"conversation {conversation_id!r} not found") from exc
        assert row is not None
        return _ref(row)

    async def find_ref(self, touchpoint_id: str, refs: list[str]) -> MessageRef | None:
        wanted = sorted(set(refs))
        if not wanted:
            return None
        marks = ", ".join(f"${i + 2}" for i in range(len(wanted)))
        async with self._connection() as c:
            row = await c.fetchrow(
                f"SELECT {_REF} FROM message_refs WHERE touchpoint_id = $1 AND ref IN ({marks})"
                " ORDER BY created_at DESC, seq DESC LIMIT 1",
                touchpoint_id,
                *wanted,
            )
        return None if row is None else _ref(row)

    async def put_content(
        self, conversation_id: str, client_msg_id: str, content: Content, *, now: float
    ) -> None:
        try:
            async with self._connection() as c:
                await c.execute(
                    "INSERT INTO message_content (conversation_id, client_msg_id, content,"
                    " created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (conversation_id,"
                    " client_msg_id) DO UPDATE SET content = excluded.content",
                    conversation_id,
                    client_msg_id,
                    to_json(content),
                    now,
                )
        except NotFound as exc:
            raise NotFound(f"conversation {conversation_id!r} not found") from exc

    async def get_content(self, conversation_id: str, client_msg_id: str) -> Content | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT content FROM message_content WHERE conversation_id = $1"
                " AND client_msg_id = $2",
                conversation_id,
                client_msg_id,
            )
        return None if row is None else _decode(row[0])

    async def list_content(self, conversation_id: str) -> dict[str, Content]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT client_msg_id, content FROM message_content WHERE conversation_id = $1",
                conversation_id,
            )
        return {r[0]: _decode(r[1]) for r in rows}


def _decode(text: str) -> Content:
    value = msgspec.json.decode(text)
    return value if isinstance(value, dict) else {}
