"""Telling people: frames to agents' sockets over the bus, and notices to the contact
side through the conversation's channel.

The bus is the fast path, not the record: a frame that cannot be published (Redis
away) is logged and dropped, never turned into a failed request, because what was
committed stays committed and clients get it back by resuming from the store.

What reaches a contact depends on the channel: chat shows every notice in the
visitor's open tabs; SMS sends the agent's messages as texts and ignores typing. The
core hands each notice to the conversation's :class:`ContactSide` (the channel's
adapter, registered by the composition root) and knows nothing more of channels.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from gateway import protocol as p
from gateway import topics
from gateway.model.records import Conversation, Message
from gateway.ports.bus import Bus, all_but, for_node
from gateway.services.recent import encode_row

log = logging.getLogger("gateway.notify")


class MessageNote(msgspec.Struct, frozen=True):
    """A message was stored in the conversation: the contact's own (for their other
    sessions), an agent's or the system's (to deliver), or an event."""

    message: Message
    sender_name: str
    # the message's wire frame, encoded once for everyone who gets it as it is
    frame: bytes
    # the contact's unread count right after it, for the channel to show with it (chat
    # folds it into the message frame); None: unchanged (the contact's own message)
    unread: int | None = None
    # the ref of the contact's socket that sent it: it has the message in its ack
    skip: str = ""
    # ``frame`` before encoding, for a channel that sends a variant of it (chat folds
    # ``unread`` in) without building it again; never to be changed in place
    out: p.MessageOut | p.EventOut | None = None


class UnreadNote(msgspec.Struct, frozen=True):
    count: int


class TypingNote(msgspec.Struct, frozen=True):
    active: bool
    name: str


class BotNote(msgspec.Struct, frozen=True):
    """A bot holds the conversation from now (``active``), or handed it to the agents."""

    active: bool


ContactNote = MessageNote | UnreadNote | TypingNote | BotNote


class ContactSide(Protocol):
    """What a channel does with notices for its contacts."""

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None: ...


class Notifier:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._sides: dict[str, ContactSide] = {}

    def register(self, channel: str, side: ContactSide) -> None:
        self._sides[channel] = side

    async def publish(self, topic: str, data: bytes, skip: str = "") -> None:
        """``data`` to every socket of ``topic`` but the one whose ref is ``skip``:
        queued on the bus, not waited for (one pipeline carries what a message's path
        posts, in order; a failure is the bus's to log and count)."""
        self._bus.post(topic, all_but(skip, data))

    async def agent(self, agent_id: str, frame: p.Frame | bytes, skip: str = "") -> None:
        data = frame if isinstance(frame, bytes) else p.encode(frame)
        self._bus.post(topics.agent(agent_id), all_but(skip, data))

    def owner_row(self, conv: Conversation) -> None:
        """The conversation as it is now, for the node(s) holding its owner's sockets
        (their recent rows: gateway/services/recent.py), not for the sockets."""
        if conv.owner_agent_id:
            self._bus.post(topics.agent(conv.owner_agent_id), for_node(encode_row(conv)))

    async def contact(self, conv: Conversation, note: ContactNote) -> None:
        if isinstance(note, MessageNote):
            # Supervisors monitoring the conversation read every message it gets.
            self._bus.post(topics.watch(conv.id), note.frame)
        side = self._sides.get(conv.channel)
        if side is None:
            # A channel this node carries no adapter for: nothing reaches its contacts
            # from here (they are history, or served by a node that has the adapter).
            log.debug("no adapter for %s: notice dropped", conv.channel)
            return
        await side.to_contact(conv, note)
