"""API keys, idempotency keys, transcripts, webhooks, the outbox and the dead letters of
outbound messages, in SQL both dialects share (integrations_base.py says what each
operation means)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.errors import Conflict, NotFound
from gateway.model.integrations import (
    ApiKey,
    IdempotencyRecord,
    OutboxEvent,
    OutboxState,
    TranscriptLine,
    Webhook,
)
from gateway.model.records import Message
from gateway.ports.store._rows import (
    API_KEYS,
    MESSAGE_COLUMNS,
    OUTBOX_COLUMNS,
    SELECT_MESSAGES,
    WEBHOOKS,
    Conn,
    Row,
    SQLBase,
    decode_message,
    decode_outbox,
    to_json,
)

_IDEMPOTENCY = "scope, key, fingerprint, status, body, created_at, expires_at"
_transcript = msgspec.json.Decoder(list[TranscriptLine])


def _idempotency(r: Row) -> IdempotencyRecord:
    return msgspec.convert(dict(zip(_IDEMPOTENCY.split(", "), r, strict=True)), IdempotencyRecord)


class IntegrationRows(SQLBase):
    # -- API keys ------------------------------------------------------------------
    async def create_api_key(self, key: ApiKey) -> None:
        try:
            async with self._connection() as c:
                await c.execute(API_KEYS.sql_insert, *API_KEYS.params(key))
        except NotFound as exc:
            raise NotFound(f"touchpoint {key.touchpoint_id!r} not found") from exc
        except Conflict as exc:
            raise Conflict(f"API key {key.id!r} exists") from exc

    async def api_key_by_digest(self, digest: str) -> ApiKey | None:
        async with self._connection() as c:
            row = await c.fetchrow(f"{API_KEYS.select} WHERE digest = $1", digest)
        return None if row is None else API_KEYS.decode(row)

    async def list_api_keys(self, touchpoint_id: str) -> list[ApiKey]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"{API_KEYS.select} WHERE touchpoint_id = $1 ORDER BY created_at, id",
                touchpoint_id,
            )
        return [API_KEYS.decode(r) for r in rows]

    async def revoke_api_key(self, touchpoint_id: str, key_id: str, now: float) -> ApiKey:
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)"
                f" WHERE id = $1 AND touchpoint_id = $2 {API_KEYS.returning}",
                key_id,
                touchpoint_id,
                now,
            )
        if row is None:
            raise NotFound(f"no API key {key_id!r} on touchpoint {touchpoint_id!r}")
        return API_KEYS.decode(row)

    # -- idempotency keys -------------------------------------------------------------
    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float, expires_at: float
    ) -> IdempotencyRecord | None:
        async with self._transaction() as c:
            taken = await c.fetchrow(
                f"INSERT INTO idempotency_keys ({_IDEMPOTENCY}) VALUES ($1, $2, $3, 0, '', $4, $5)"
                " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " status = 0, body = '', created_at = excluded.created_at,"
                " expires_at = excluded.expires_at WHERE idempotency_keys.expires_at <= $4"
                " RETURNING scope",
                scope,
                key,
                fingerprint,
                now,
                expires_at,
            )
            if taken is not None:
                return None
            row = await c.fetchrow(
                f"SELECT {_IDEMPOTENCY} FROM idempotency_keys WHERE scope = $1 AND key = $2",
                scope,
                key,
            )
        assert row is not None  # the conflict was with it, in this transaction
        return _idempotency(row)

    async def finish_idempotency(self, scope: str, key: str, status: int, body: str) -> None:
        async with self._connection() as c:
            await c.execute(
                "UPDATE idempotency_keys SET status = $3, body = $4 WHERE scope = $1 AND key = $2",
                scope,
                key,
                status,
                body,
            )

    async def release_idempotency(self, scope: str, key: str) -> None:
        async with self._connection() as c:
            await c.execute(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0",
                scope,
                key,
            )

    async def purge_idempotency(self, now: float) -> int:
        async with self._connection() as c:
            rows = await c.fetch(
                "DELETE FROM idempotency_keys WHERE expires_at <= $1 RETURNING key", now
            )
        return len(rows)

    # -- transcripts ------------------------------------------------------------------
    async def add_transcript(
        self, conversation_id: str, lines: list[TranscriptLine], now: float
    ) -> list[TranscriptLine]:
        try:
            async with self._transaction() as c:
                row = await c.fetchrow(
                    "SELECT lines FROM transcripts WHERE conversation_id = $1", conversation_id
                )
                old = [] if row is None else _transcript.decode(row[0])
                await c.execute(
                    "INSERT INTO transcripts (conversation_id, lines, updated_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE"
                    " SET lines = excluded.lines, updated_at = excluded.updated_at",
                    conversation_id,
                    to_json(old + lines),
                    now,
                )
        except NotFound as exc:
            raise NotFound(f"conversation {conversation_id!r} not found") from exc
        return old + lines

    async def first_transcript(
        self, conversation_id: str, lines: list[TranscriptLine], now: float
    ) -> bool:
        try:
            async with self._connection() as c:
                # the unique key decides between two firsts at the same moment
                kept = await c.fetchrow(
                    "INSERT INTO transcripts (conversation_id, lines, updated_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO NOTHING"
                    " RETURNING conversation_id",
                    conversation_id,
                    to_json(lines),
                    now,
                )
        except NotFound as exc:
            raise NotFound(f"conversation {conversation_id!r} not found") from exc
        return kept is not None

    async def get_transcript(self, conversation_id: str) -> list[TranscriptLine]:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT lines FROM transcripts WHERE conversation_id = $1", conversation_id
            )
        return [] if row is None else _transcript.decode(row[0])

    # -- webhooks ------------------------------------------------------------------------
    async def put_webhook(self, webhook: Webhook) -> None:
        await self._put(WEBHOOKS, webhook)

    async def update_webhook(self, webhook: Webhook) -> None:
        await self._update(WEBHOOKS, webhook)

    async def create_webhook(self, webhook: Webhook) -> None:
        await self._insert_new(WEBHOOKS, webhook)

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return await self._get(WEBHOOKS, webhook_id)

    async def list_webhooks(self) -> list[Webhook]:
        return await self._list(WEBHOOKS)

    async def delete_webhook(self, webhook_id: str) -> None:
        async def both(c: Conn) -> None:
            if await c.fetchrow(WEBHOOKS.sql_delete, webhook_id) is None:
                raise NotFound(f"webhook {webhook_id!r} not found")
            # Its events go with it: a webhook made again with this id got them (listed,
            # replayable, the pending ones sent to its URL), a conversation's data with them.
            await c.execute("DELETE FROM outbox WHERE target = $1", webhook_id)

        await self._atomically(both)

    # -- the outbox ----------------------------------------------------------------------
    async def claim_outbox(
        self, now: float, lease: float, limit: int, *, skip: Sequence[str] = ()
    ) -> list[OutboxEvent]:
        columns = ", ".join("m." + col for col in OUTBOX_COLUMNS.split(", "))
        skipped = ""
        if skip:
            skipped = (
                " AND m.target NOT IN (" + ", ".join(f"${i + 3}" for i in range(len(skip))) + ")"
            )

        async def claim(c: Conn) -> list[OutboxEvent]:
            rows = await c.fetch(
                f"SELECT {columns} FROM outbox m"
                f" WHERE m.state = 'pending' AND m.due <= $1{skipped} AND NOT EXISTS ("
                "SELECT 1 FROM outbox e WHERE e.target = m.target"
                " AND e.conversation_id = m.conversation_id AND e.state = 'pending'"
                f" AND e.n < m.n) ORDER BY m.due, m.n LIMIT $2{self._claim_lock}",
                now,
                limit,
                *skip,
            )
            events = []
            for r in rows:
                event = decode_outbox(r)
                await c.execute(
                    "UPDATE outbox SET due = $2, attempts = attempts + 1 WHERE n = $1",
                    event.n,
                    now + lease,
                )
                events.append(
                    msgspec.structs.replace(event, attempts=event.attempts + 1, due=now + lease)
                )
            return events

        return await self._atomically(claim)

    async def record_outbox(
        self,
        now: float,
        *,
        sent: Sequence[int] = (),
        retry: Sequence[tuple[int, float, str]] = (),
        dead: Sequence[tuple[int, str]] = (),
    ) -> None:
        if not (sent or retry or dead):
            return

        async def record(c: Conn) -> None:
            for n in sent:
                await self._leave_pending(c, n, "sent", "", now, now)
            for n, due, error in retry:
                await c.execute(
                    "UPDATE outbox SET due = $2, last_error = $3"
                    " WHERE n = $1 AND state = 'pending'",
                    n,
                    due,
                    error,
                )
            for n, error in dead:
                await self._leave_pending(c, n, "dead", error, None, now)

        await self._atomically(record)

    @staticmethod
    async def _leave_pending(
        c: Conn, n: int, state: str, error: str, delivered_at: float | None, now: float | None
    ) -> None:
        """The event is done with (sent or dead): the next pending event of its target
        and conversation becomes due, in the caller's transaction."""
        row = await c.fetchrow(
            "UPDATE outbox SET state = $2, due = NULL, last_error = $3, delivered_at = $4"
            " WHERE n = $1 AND state = 'pending' RETURNING target, conversation_id, created_at",
            n,
            state,
            error,
            delivered_at,
        )
        if row is not None:
            await c.execute(
                "UPDATE outbox SET due = $3 WHERE n = (SELECT min(n) FROM outbox"
                " WHERE target = $1 AND conversation_id = $2 AND state = 'pending')"
                " AND due IS NULL",
                row[0],
                row[1],
                now if now is not None else row[2],
            )

    async def list_outbox(
        self,
        target: str,
        *,
        state: OutboxState | None = None,
        limit: int = 50,
        before_n: int | None = None,
    ) -> list[OutboxEvent]:
        args: list[Any] = [target, limit]
        where = "target = $1"
        if state is not None:
            args.append(state)
            where += f" AND state = ${len(args)}"
        if before_n is not None:
            args.append(before_n)
            where += f" AND n < ${len(args)}"
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {where} ORDER BY n DESC LIMIT $2",
                *args,
            )
        return [decode_outbox(r) for r in rows]

    async def replay_outbox(self, target: str, event_id: str, now: float) -> OutboxEvent:
        async with self._transaction() as c:
            row = await c.fetchrow(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE target = $1 AND event_id = $2",
                target,
                event_id,
            )
            if row is None:
                raise NotFound(f"no event {event_id!r} for {target!r}")
            event = decode_outbox(row)
            if event.state == "pending":
                raise Conflict(f"event {event_id!r} is still being delivered")
            await c.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, due = $2, last_error = '',"
                " delivered_at = NULL WHERE n = $1",
                event.n,
                now,
            )
        return msgspec.structs.replace(
            event, state="pending", attempts=0, due=now, last_error="", delivered_at=None
        )

    async def purge_outbox(self, sent_before: float) -> int:
        async with self._connection() as c:
            rows = await c.fetch(
                "DELETE FROM outbox WHERE state = 'sent' AND delivered_at < $1 RETURNING n",
                sent_before,
            )
        return len(rows)

    # -- dead letters of outbound messages -------------------------------------------------
    async def failed_messages(self, touchpoint_id: str, limit: int = 50) -> list[Message]:
        columns = ", ".join("m." + col for col in MESSAGE_COLUMNS.split(", "))
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {columns} FROM messages m JOIN conversations c"
                " ON c.id = m.conversation_id WHERE c.touchpoint_id = $1"
                " AND m.delivery = 'failed' ORDER BY m.created_at DESC, m.conversation_id,"
                " m.seq DESC LIMIT $2",
                touchpoint_id,
                limit,
            )
        return [decode_message(r) for r in rows]

    async def replay_delivery(self, conversation_id: str, seq: int, now: float) -> Message:
        async with self._transaction() as c:
            row = await c.fetchrow(
                f"{SELECT_MESSAGES} WHERE conversation_id = $1 AND seq = $2", conversation_id, seq
            )
            if row is None:
                raise NotFound(f"message {seq} of conversation {conversation_id!r} not found")
            message = decode_message(row)
            if message.delivery != "failed":
                raise Conflict(f"the delivery of message {seq} did not fail")
            await c.execute(
                "UPDATE messages SET delivery = 'pending', delivery_error = '',"
                " delivery_attempts = 0, delivery_due = $3"
                " WHERE conversation_id = $1 AND seq = $2",
                conversation_id,
                seq,
                now,
            )
        return msgspec.structs.replace(message, delivery="pending", delivery_error="")
