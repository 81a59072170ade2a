"""How stored records look on the wire: message and event frames, and the rows of an
agent's Inbox and Assigned lists (gateway/protocol.py has the frames).

Conversation events a contact sees (agent joined / left, ended) are stored as messages
of kind "event" with a small JSON body, so a resume replays them with the text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

import msgspec

import routing as r
from gateway import protocol as p
from gateway.model.attachment_rules import AttachmentRule
from gateway.model.records import Conversation, Message, Sender
from gateway.ports.store.base import Store
from gateway.services.access import previews_on, reads_row
from gateway.services.directory import Directory

EVENT_KINDS = ("agent_joined", "agent_left", "ended", "notice")
EVENT_REASONS = ("", "contact", "idle", "requeued")
# The wire keeps protocol version 1's word for the contact side: "visitor".
WIRE_SENDER: dict[Sender, Literal["visitor", "agent", "system"]] = {
    "contact": "visitor",
    "agent": "agent",
    "system": "system",
}
Place = Literal["inbox", "offered", "assigned", "wrapup", "gone"]
LAST_TEXT_LOOKBACK = 8


class EventBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an event message stores in its body. ``reason``: see ``EventOut``."""

    event: str
    agent_name: str = ""
    # a notice's text (event "notice")
    text: str = ""
    reason: str = ""


_event_decoder = msgspec.json.Decoder(EventBody)
_event_encoder = msgspec.json.Encoder()


def event_body(event: str, agent_name: str = "", text: str = "", *, reason: str = "") -> str:
    return _event_encoder.encode(EventBody(event, agent_name, text, reason)).decode()


def frame_for(msg: Message, sender_name: str) -> p.MessageOut | p.EventOut:
    """The wire frame of a stored message."""
    if msg.kind == "event":
        body = _event_decoder.decode(msg.body)
        event = body.event if body.event in EVENT_KINDS else "ended"
        return p.EventOut(
            conversation_id=msg.conversation_id,
            seq=msg.seq,
            event=event,  # type: ignore[arg-type]
            at=msg.created_at,
            agent_name=body.agent_name,
            text=body.text,
            reason=body.reason if body.reason in EVENT_REASONS else "",  # type: ignore[arg-type]
        )
    return p.MessageOut(
        conversation_id=msg.conversation_id,
        seq=msg.seq,
        sender=WIRE_SENDER[msg.sender],
        sender_name=sender_name,
        body=msg.body,
        at=msg.created_at,
        client_msg_id=msg.client_msg_id,
        attachments=[
            p.AttachmentOut(
                id=a.id,
                name=a.name,
                content_type=a.content_type,
                size=a.size,
                width=a.width,
                height=a.height,
                thumbnail=a.thumbnail,
            )
            for a in msg.attachments
        ],
        delivery=msg.delivery,
        delivery_error=msg.delivery_error,
    )


def ack_for(
    client_msg_id: str, msg: Message, created: bool, out: p.MessageOut | p.EventOut
) -> p.Ack:
    """The sender's ack: it carries the stored message (the sending socket gets no
    echo; docs/protocol.md, "One frame per message")."""
    return p.Ack(
        client_msg_id=client_msg_id,
        conversation_id=msg.conversation_id,
        seq=msg.seq,
        duplicate=not created,
        message=out if isinstance(out, p.MessageOut) else None,
    )


def file_rules(rule: AttachmentRule | None) -> p.FileRules | None:
    """A channel's attachment rule as the clients see it; None when it takes no files."""
    if rule is None or not rule.types:
        return None
    return p.FileRules(
        types=rule.allowed_names(), max_bytes=rule.max_file_bytes, max_files=rule.max_files
    )


def preview(msg: Message) -> str:
    """A message in one line, for list rows: its text, or its files' names."""
    if msg.body or not msg.attachments:
        return msg.body
    return "\N{PAPERCLIP} " + ", ".join(a.name for a in msg.attachments)


class _Peek(msgspec.Struct):
    type: str
    conversation_id: str = ""
    seq: int | None = None


_peek = msgspec.json.Decoder(_Peek)


def seq_of(data: bytes) -> tuple[str, int] | None:
    """(conversation id, seq) of an encoded message or event frame, else None. Used only
    on the rare path that filters frames held during a resume."""
    try:
        frame = _peek.decode(data)
    except msgspec.DecodeError:
        return None
    if frame.type in ("message", "event") and frame.seq is not None:
        return frame.conversation_id, frame.seq
    return None


def place(router: r.Router, agent_id: str, conv: Conversation) -> Place:
    """Where a conversation shows in an agent's console."""
    view = router.conversation(conv.id) if conv.state != "closed" else None
    if view is None:
        return "gone"
    if view.owner_agent_id == agent_id:
        return "wrapup" if view.state == "wrapup" else "assigned"
    if view.offer_agent_id == agent_id:
        return "offered"
    if view.state in ("waiting", "offered") and router.can_see(agent_id, conv.id):
        return "inbox"
    return "gone"


# A channel's rules as they apply to a conversation now (its adapter's
# ``conversation_state``), for the console.
ChannelStateOf = Callable[[Conversation], Awaitable["p.ChannelState | None"]]


class Summaries:
    """The rows of agents' lists, read from the store and the router."""

    def __init__(
        self, store: Store, directory: Directory, contact_name: Callable[[str], Awaitable[str]]
    ) -> None:
        self._store = store
        self._dir = directory
        self._contact_name = contact_name
        # registered by the composition root, per channel
        self.channel_states: dict[str, ChannelStateOf] = {}

    async def channel_state(self, conv: Conversation) -> p.ChannelState | None:
        state_of = self.channel_states.get(conv.channel)
        return None if state_of is None or conv.state == "closed" else await state_of(conv)

    async def summary(
        self, router: r.Router, agent_id: str, conv: Conversation, where: Place | None = None
    ) -> p.ConversationSummary:
        row = await self._common(router, conv)
        return self._for_agent(row, router, agent_id, conv, where)

    async def summaries(
        self, router: r.Router, agent_ids: Iterable[str], conv: Conversation
    ) -> list[tuple[str, p.ConversationSummary]]:
        """The conversation's row for each of ``agent_ids``: the store is read once for
        all of them (a new conversation's row goes to every agent of its queues)."""
        ids = list(agent_ids)
        if not ids:
            return []
        row = await self._common(router, conv)
        return [(a, self._for_agent(row, router, a, conv, None)) for a in ids]

    async def _common(self, router: r.Router, conv: Conversation) -> p.ConversationSummary:
        """The row as its readers see it; ``place``, ``preview`` and whether it carries
        ``last_message`` are per agent (``_for_agent``)."""
        contact = await self._store.get_contact(conv.contact_id)
        # The last text (an event such as "agent joined" is no message to show); a few
        # back, as events come in small runs.
        recent = (
            await self._store.messages(
                conv.id, before_seq=conv.last_seq + 1, limit=LAST_TEXT_LOOKBACK
            )
            if conv.last_seq
            else []
        )
        last = [m for m in recent if m.kind == "text"][-1:]
        view = router.conversation(conv.id) if conv.state != "closed" else None
        tp = self._dir.touchpoints.get(conv.touchpoint_id)
        return p.ConversationSummary(
            conversation_id=conv.id,
            place="gone",
            state=view.state if view else conv.state,
            channel=conv.channel,
            touchpoint_id=conv.touchpoint_id,
            touchpoint_name=tp.name if tp else conv.touchpoint_id,
            contact_name=contact.display_name,
            # the confirmed details, else what the form said (unconfirmed: the card says so)
            contact_email=contact.email or conv.fields.get("email", ""),
            contact_phone=contact.phone or conv.fields.get("phone", ""),
            queue_ids=list(conv.queue_ids),
            priority=conv.priority,
            arrived_at=conv.arrived_at,
            unread=conv.agent_unread,
            last_seq=conv.last_seq,
            dedicated=conv.dedicated,
            last_message=preview(last[0]) if last else "",
            last_message_at=last[0].created_at if last else 0.0,
            offer_expires_at=(view.offer_expires_at or 0.0) if view else 0.0,
            preview=False,
            subject=conv.subject,
            left_message=conv.left_message,
            held=conv.acceptance == "hold",
            channel_state=await self.channel_state(conv),
            disposition=conv.disposition,
        )

    def _for_agent(
        self,
        row: p.ConversationSummary,
        router: r.Router,
        agent_id: str,
        conv: Conversation,
        where: Place | None,
    ) -> p.ConversationSummary:
        agent = self._dir.agents.get(agent_id)
        at = where or place(router, agent_id, conv)
        previews = agent is not None and previews_on(self._dir, agent, conv.touchpoint_id)
        if agent is None or not reads_row(agent, at, previews):
            # An Inbox row the agent's role may not preview: no message text on the wire.
            return msgspec.structs.replace(row, place=at, preview=previews, last_message="")
        return msgspec.structs.replace(row, place=at, preview=previews)

    async def sender_name(self, msg: Message, conv: Conversation) -> str:
        if msg.sender == "agent":
            return self._dir.agent_name(msg.sender_id)
        if msg.sender == "contact":
            return await self._contact_name(conv.contact_id)
        return self._dir.display_name(conv.touchpoint_id)

    async def message_frame(self, msg: Message, conv: Conversation) -> p.MessageOut | p.EventOut:
        return frame_for(msg, await self.sender_name(msg, conv))
