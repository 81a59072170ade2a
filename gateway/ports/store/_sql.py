"""The store's operations whose SQL both dialects share (_config.py, _history.py,
_attachments.py, _channel_state.py, _channels.py, _ratings.py), and the message append
both dialects build theirs on."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Sequence

from gateway.model.records import Conversation, DeliveryState, Message, MessageKind, Sender
from gateway.ports.store import migrate
from gateway.ports.store._attachments import AttachmentRows
from gateway.ports.store._channel_state import ChannelStateRows
from gateway.ports.store._channels import ChannelRows
from gateway.ports.store._config import ConfigRows
from gateway.ports.store._history import HistoryRows
from gateway.ports.store._integrations import IntegrationRows
from gateway.ports.store._ratings import RatingRows
from gateway.ports.store._workspace import WorkspaceRows
from gateway.ports.store.base import Appended, MessageAnnouncer

log = logging.getLogger("gateway.store")

# Every table the gateway reads and writes: readiness checks that each is there.
TABLES = (
    "touchpoints", "queues", "agents", "disposition_sets", "settings", "agent_sessions",
    "contacts", "conversations", "messages", "contact_addresses", "api_keys", "webhooks",
    "outbox",
)  # fmt: skip


class SQLStore(
    ConfigRows,
    HistoryRows,
    WorkspaceRows,
    AttachmentRows,
    ChannelStateRows,
    ChannelRows,
    IntegrationRows,
    RatingRows,
):
    """The operations whose SQL both dialects share."""

    async def ready(self, dialect: migrate.Dialect) -> bool:
        """Whether the store can serve now: the schema is at this gateway's version,
        every table is there, and a write commits (a database that answers reads but
        refuses writes is not ready). Never raises; what is wrong goes to the log."""
        try:
            async with asyncio.timeout(5), self._transaction(write=True) as c:
                row = await c.fetchrow("SELECT max(version) FROM schema_migrations")
                version = int(row[0]) if row is not None and row[0] is not None else None
                migrate.check_version(version, dialect)
                for table in TABLES:
                    await c.fetch(f"SELECT 1 FROM {table} LIMIT 1")
                # A write that changes nothing, and commits: the database takes writes.
                await c.execute(
                    "UPDATE schema_migrations SET applied_at = applied_at WHERE version = $1",
                    version,
                )
        except Exception as exc:
            log.warning("store not ready: %s", exc)
            return False
        return True

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
        attachments: Sequence[str] = (),
        delivery: DeliveryState = "",
        announce: MessageAnnouncer | None = None,
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
            attachments=attachments,
            delivery=delivery,
            announce=announce,
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
        attachments: Sequence[str] = (),
        delivery: DeliveryState = "",
        announce: MessageAnnouncer | None = None,
        expect: Conversation | None = None,
    ) -> Appended: ...
