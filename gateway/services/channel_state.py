"""What channel adapters keep in the core (gateway/model/channel_state.py), through one
service: where a touchpoint stopped in its provider's stream, its connection to the
provider (and the admins' notice when it is lost), the provider's references to
messages (threading, idempotency across conversations) and a message's channel content.

Adapters never reach the store themselves (import-linter keeps it so): this is their
door to it, one transaction per call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.model.channel_state import (
    Connection,
    ConnectionStatus,
    Content,
    Cursor,
    MessageRef,
)
from gateway.ports.store.base import Store

log = logging.getLogger("gateway.channels")

# Told when a touchpoint's connection changes status: (before, after).
ConnectionListener = Callable[[Connection | None, Connection], Awaitable[None]]


class ChannelState:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._listeners: list[ConnectionListener] = []

    # -- cursors -------------------------------------------------------------------------
    async def cursor(self, touchpoint_id: str, stream: str) -> Cursor | None:
        return await self._store.get_cursor(touchpoint_id, stream)

    async def advance(self, touchpoint_id: str, stream: str, epoch: str, position: int) -> Cursor:
        """Move the cursor forward (never back within an epoch)."""
        return await self._store.put_cursor(
            touchpoint_id, stream, epoch, position, now=self._clock()
        )

    # -- connections -----------------------------------------------------------------------
    def on_connection(self, listener: ConnectionListener) -> None:
        self._listeners.append(listener)

    async def connection(self, touchpoint_id: str) -> Connection | None:
        return await self._store.get_connection(touchpoint_id)

    async def connections(self) -> list[Connection]:
        return await self._store.list_connections()

    async def set_connection(
        self, touchpoint_id: str, status: ConnectionStatus, reason: str = ""
    ) -> Connection:
        """Record the status; when it changed, the listeners hear of it (on the node that
        changed it: exactly one node sees each change)."""
        before, after = await self._store.set_connection(
            touchpoint_id, status, reason, now=self._clock()
        )
        if before is None or before.status != after.status:
            for listener in self._listeners:
                try:
                    await listener(before, after)
                except Exception:
                    log.exception("a connection listener failed for %s", touchpoint_id)
        return after

    async def reminded(self, touchpoint_id: str) -> None:
        await self._store.mark_reminded(touchpoint_id, now=self._clock())

    # -- references and content -----------------------------------------------------------
    async def find_ref(self, touchpoint_id: str, refs: list[str]) -> MessageRef | None:
        return await self._store.find_ref(touchpoint_id, refs)

    async def remember(
        self, touchpoint_id: str, ref: str, conversation_id: str, seq: int
    ) -> MessageRef:
        return await self._store.put_ref(
            touchpoint_id, ref, conversation_id, seq, now=self._clock()
        )

    async def content(self, conversation_id: str, client_msg_id: str) -> Content | None:
        return await self._store.get_content(conversation_id, client_msg_id)

    async def put_content(self, conversation_id: str, client_msg_id: str, content: Content) -> None:
        await self._store.put_content(conversation_id, client_msg_id, content, now=self._clock())

    async def contents(self, conversation_id: str) -> dict[str, Content]:
        return await self._store.list_content(conversation_id)
