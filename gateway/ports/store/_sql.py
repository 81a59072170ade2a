"""The store's operations whose SQL both dialects share (_config.py, _history.py,
_attachments.py, _channel_state.py, _channels.py), and the message append both dialects
build theirs on."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from gateway.model.integrations import Announcement
from gateway.model.records import DeliveryState, Message, MessageKind, Sender
from gateway.ports.store._attachments import AttachmentRows
from gateway.ports.store._channel_state import ChannelStateRows
from gateway.ports.store._channels import ChannelRows
from gateway.ports.store._config import ConfigRows
from gateway.ports.store._history import HistoryRows
from gateway.ports.store._integrations import IntegrationRows
from gateway.ports.store.base import Appended


class SQLStore(
    ConfigRows, HistoryRows, AttachmentRows, ChannelStateRows, ChannelRows, IntegrationRows
):
    """The operations whose SQL both dialects share."""

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
        announce: Sequence[Announcement] = (),
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
        announce: Sequence[Announcement] = (),
    ) -> Appended: ...
