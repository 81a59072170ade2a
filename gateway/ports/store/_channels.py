"""The messaging channels' rules the store keeps (opt-outs, when the contact last
wrote) and the admins' notices, in SQL both dialects share."""

from __future__ import annotations

from typing import Any

from gateway.errors import Conflict
from gateway.model.channels import ChannelName
from gateway.model.records import AdminNotice
from gateway.ports.store._rows import SQLBase, Table

NOTICES = Table("admin_notices", AdminNotice, order="created_at, id")


class ChannelRows(SQLBase):
    async def last_contact_message_at(self, conversation_id: str) -> float | None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT max(created_at) FROM messages"
                " WHERE conversation_id = $1 AND sender = 'contact'",
                conversation_id,
            )
        return None if row is None or row[0] is None else float(row[0])

    async def set_opt_out(
        self, channel: ChannelName, address: str, opted_out: bool, *, now: float
    ) -> bool:
        async with self._connection() as c:
            if opted_out:
                row = await c.fetchrow(
                    "INSERT INTO opt_outs (channel, address, created_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (channel, address) DO NOTHING RETURNING address",
                    channel,
                    address,
                    now,
                )
            else:
                row = await c.fetchrow(
                    "DELETE FROM opt_outs WHERE channel = $1 AND address = $2 RETURNING address",
                    channel,
                    address,
                )
        return row is not None

    async def is_opted_out(self, channel: ChannelName, address: str) -> bool:
        async with self._connection() as c:
            row = await c.fetchrow(
                "SELECT 1 FROM opt_outs WHERE channel = $1 AND address = $2", channel, address
            )
        return row is not None

    async def add_notice(self, notice: AdminNotice) -> None:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"{NOTICES.sql_insert} ON CONFLICT (id) DO NOTHING RETURNING id",
                *NOTICES.params(notice),
            )
        if row is None:
            raise Conflict(f"notice {notice.id!r} exists")

    async def give_notice(self, notice: AdminNotice, key: str, *, quiet: float) -> float | None:
        now = notice.created_at
        expired = now - quiet
        # One transaction: a claim is never taken without its notice kept (a failed
        # insert, a node dying between them, would silence the notice cluster-wide).
        async with self._transaction() as c:
            # The upsert decides: PostgreSQL makes a racing insert of the same key wait
            # for the first and then checks the WHERE against the row it committed;
            # SQLite has one writer.
            row = await c.fetchrow(
                "INSERT INTO notice_claims (key, claimed_at) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET claimed_at = excluded.claimed_at"
                " WHERE notice_claims.claimed_at <= $3 RETURNING key",
                key,
                now,
                expired,
            )
            if row is None:
                standing = await c.fetchrow(
                    "SELECT claimed_at FROM notice_claims WHERE key = $1", key
                )
                return now if standing is None else float(standing[0])
            # only when a claim is taken (at most once a key and quiet time): other
            # keys' old claims go, so the table holds the quiet time's notices
            await c.execute("DELETE FROM notice_claims WHERE claimed_at <= $1", expired)
            kept = await c.fetchrow(
                f"{NOTICES.sql_insert} ON CONFLICT (id) DO NOTHING RETURNING id",
                *NOTICES.params(notice),
            )
            if kept is None:
                raise Conflict(f"notice {notice.id!r} exists")
        return None

    async def list_notices(
        self, *, limit: int = 50, after: tuple[float, str] | None = None
    ) -> list[AdminNotice]:
        args: list[Any] = [limit]
        sql = f"{NOTICES.select} ORDER BY created_at DESC, id DESC LIMIT $1"
        if after is not None:
            # By (created_at, id): notices of the same instant are not lost at a page's end.
            sql = (
                f"{NOTICES.select} WHERE created_at < $1 OR (created_at = $1 AND id < $2)"
                " ORDER BY created_at DESC, id DESC LIMIT $3"
            )
            args = [*after, limit]
        async with self._connection() as c:
            rows = await c.fetch(sql, *args)
        return [NOTICES.decode(r) for r in rows]
