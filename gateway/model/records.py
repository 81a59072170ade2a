"""The records the gateway keeps and passes around, and their literals, defined once.

The store (gateway/ports/store) persists them; services read and write them through
it; the web layer and the channels see them through the services. Times are UNIX
seconds as floats, passed in by the caller.

A conversation belongs to a **contact** reached at a channel **address** on a
**touchpoint**: a web visitor id (chat), an E.164 number (SMS), a WhatsApp id, a
page-scoped Messenger id, an email address, an integration's external id
(gateway/model/channels.py names them). A contact may be reached at several addresses
(``ContactAddress``); the address a conversation runs on is kept on the conversation.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

import msgspec

from gateway.model.channels import CONFIGURABLE_WEIGHTS, ChannelName
from routing.model import SUPERVISING_ROLES, Acceptance, Role, RoutingMode

Direction = Literal["inbound", "outbound", "both"]
# Who wrote a message: the contact (a visitor, a texter, a sender of email, ...), an
# agent, or the system (auto-replies, conversation events).
Sender = Literal["contact", "agent", "system"]
MessageKind = Literal["text", "event"]
# new: created, not routed yet; bot (a flow handed it to a bot first), waiting (in an
# Inbox) and offered (ringing an agent) are the router's; assigned; wrapup (ended, notes
# to write); closed (history).
ConversationState = Literal["new", "bot", "waiting", "offered", "assigned", "wrapup", "closed"]
OPEN_STATES: Final[tuple[ConversationState, ...]] = (
    "new",
    "bot",
    "waiting",
    "offered",
    "assigned",
    "wrapup",
)
# Open and the contact may still write: everything but wrap-up and closed.
LIVE_STATES: Final[tuple[ConversationState, ...]] = (
    "new",
    "bot",
    "waiting",
    "offered",
    "assigned",
)
# Who started a conversation: the contact (inbound), or the company's side (outbound).
ConversationDirection = Literal["inbound", "outbound"]
# Which side of a conversation a read marker or unread count belongs to: the contact,
# or the agent side (whoever owns it now, or the queue while it waits).
Side = Literal["contact", "agent"]
# What became of an outbound message on a channel that reports it (not chat, whose
# delivery is the socket's ack and resume): empty until the adapter says.
DeliveryState = Literal["", "pending", "sent", "delivered", "read", "failed"]
SoundEvent = Literal["offered", "auto_assigned", "transferred", "reply"]
# The sounds the console can play (gateway/web/static/console/sounds.js synthesises each).
SoundName = Literal["ring", "chime", "swoosh", "pop"]
SOUND_NAMES: Final[tuple[SoundName, ...]] = get_args(SoundName)
SOUND_EVENTS: Final[tuple[SoundEvent, ...]] = ("offered", "auto_assigned", "transferred", "reply")
DEFAULT_SOUNDS: Final[dict[str, str]] = {
    "offered": "ring",
    "auto_assigned": "chime",
    "transferred": "swoosh",
    "reply": "pop",
}


class FormField(msgspec.Struct, kw_only=True, frozen=True):
    """One field of the pre-conversation form. A ``hidden`` one is not shown: the page
    fills it (``GatewayChat.setFields``), so its value is the page's word, not proven;
    it is never required and has no options (docs/widget.md)."""

    name: str
    label: str
    kind: Literal["text", "email", "phone", "textarea", "select", "hidden"] = "text"
    required: bool = False
    options: list[str] = []
    max_length: int = 200


class Touchpoint(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    channel: ChannelName = "chat"
    active: bool = False
    direction: Direction = "inbound"
    routing_mode: RoutingMode = "flow"
    # chat: the configured domain, validated by the chat channel at configuration time
    domain: str = ""
    # simplified: the linked queues; flow: the default queues when no rule matches
    queue_ids: list[str] = []
    dedicated_agent_id: str | None = None
    # flow routing rules; their shape is routing's (routing.flow), stored as given
    flow: dict[str, Any] = {}
    # chat: what the widget shows: colours, font, texts by key, launcher icon, language
    widget: dict[str, Any] = {}
    # chat: the pre-conversation form
    form: list[FormField] = []
    # chat: signed visitor identity (HMAC-SHA256 or HS256 JWT) and whether it is required
    identity_secret: str = ""
    require_identity: bool = False
    # roles allowed to preview Inbox conversations of this touchpoint before assigning
    preview_roles: list[Role] = msgspec.field(default_factory=lambda: ["supervisor", "admin"])
    # the channel's own settings (provider numbers, credentials, ...), validated by the
    # channel's adapter; chat's settings predate it and are the fields above
    settings: dict[str, Any] = {}
    created_at: float = 0.0
    # the name contacts see on automatic messages (auto-replies); empty: none (the
    # internal ``name`` is for agents and admins only)
    display_name: str = ""


class Queue(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str


class Agent(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    email: str
    name: str
    role: Role = "agent"
    queue_ids: list[str] = []
    password_hash: str = ""
    active: bool = True

    @property
    def supervises(self) -> bool:
        return self.role in SUPERVISING_ROLES


class DispositionSet(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    dispositions: list[str] = []


class GlobalSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Admin > Channels > Global settings."""

    # channel weights in capacity points, for the channels whose weight is configurable
    channel_weights: dict[str, int] = msgspec.field(
        default_factory=lambda: dict(CONFIGURABLE_WEIGHTS)
    )
    # sound per event (SOUND_EVENTS); "" means silent
    sounds: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_SOUNDS))
    priority_display: Literal["icons", "numbers"] = "icons"
    disposition_set_id: str | None = None
    # live conversations (chat) with no message from either side for this long are
    # closed (gateway/services/idle.py); 0: never
    idle_close_after: int = 900


class Contact(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    # "Visitor #NNN": a number unique within the store, given at creation
    number: int
    name: str = ""
    email: str = ""
    phone: str = ""
    created_at: float = 0.0
    # Confirmed: matched by a signed identity or saved by an agent from the contact card.
    # A contact made for an address that wrote is not, and a form never makes one so
    # (what a form says stays on the conversation, in ``fields``).
    saved: bool = False

    @property
    def display_name(self) -> str:
        """The name when known, else the phone number (SMS, WhatsApp), else "Visitor #N"."""
        return self.name or self.phone or f"Visitor #{self.number}"


class ContactAddress(msgspec.Struct, kw_only=True, frozen=True):
    """A contact is reached at ``address`` on ``channel`` (unique per channel)."""

    channel: ChannelName
    address: str
    contact_id: str
    created_at: float = 0.0


# gc=False: out of the garbage collector's walks. A record holds strings, numbers and
# lists and dicts of them, never a reference back to itself, so the collector has nothing
# to find in one; a busy node makes one per message it stores and keeps the latest of
# every conversation, and each young collection walked all of them (docs/deploy.md).
# tests/gateway/test_settle_heap.py checks that no field can hold anything but data.
class Conversation(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    id: str
    touchpoint_id: str
    channel: ChannelName
    contact_id: str
    # the contact's address on the channel (for chat, the visitor id the session token
    # is bound to)
    address: str
    state: ConversationState = "new"
    queue_ids: list[str] = []
    priority: int = 0
    owner_agent_id: str | None = None
    # the capacity weight the owner took it with (not retroactive)
    weight: int = 0
    # set by routing on arrival: manual (offers ring), auto (assigned directly) or hold
    # (waits in the Inbox for an agent to take it: a message left, closed hours)
    acceptance: Acceptance = "manual"
    dedicated: bool = False
    fields: dict[str, str] = {}
    # the page the contact was on when the conversation started (chat), as the widget
    # reported it: information for the agent, never a basis for any decision
    page: str = ""
    created_at: float = 0.0
    # original arrival, kept through send-to-inbox so it keeps its place
    arrived_at: float = 0.0
    ended_at: float | None = None
    closed_at: float | None = None
    notes: str = ""
    disposition: str = ""
    last_seq: int = 0
    contact_unread: int = 0
    agent_unread: int = 0
    # state "bot": the bot holding it (an integration touchpoint's id), until when at
    # the latest; kept afterwards as history
    bot_id: str = ""
    bot_until: float | None = None
    subject: str = ""
    direction: ConversationDirection = "inbound"
    # the contact left a message for later (nobody could answer): it is held in the Inbox
    left_message: bool = False


class AttachmentRef(msgspec.Struct, kw_only=True, frozen=True):
    """What a message says of one of its files (kept with the message, so every read of
    messages has it without a join)."""

    id: str
    name: str
    content_type: str
    size: int
    # images: pixel size after metadata stripping, and whether a thumbnail exists
    width: int = 0
    height: int = 0
    thumbnail: bool = False


class Attachment(msgspec.Struct, kw_only=True, frozen=True):
    """A stored file of a conversation. Uploaded first (``seq`` 0: not attached yet),
    then attached to the message that carries it; an upload never attached is an
    orphan, removed after a while (docs/attachments.md)."""

    id: str
    conversation_id: str
    # who uploaded it: only they can attach it to a message of theirs
    uploader: Sender
    uploader_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    # where the bytes are in the blob store (gateway/ports/blobs), and its thumbnail's
    blob_key: str
    thumb_key: str = ""
    width: int = 0
    height: int = 0
    # the seq of the message carrying it; 0 until attached
    seq: int = 0
    created_at: float = 0.0

    def ref(self) -> AttachmentRef:
        return AttachmentRef(
            id=self.id,
            name=self.name,
            content_type=self.content_type,
            size=self.size,
            width=self.width,
            height=self.height,
            thumbnail=bool(self.thumb_key),
        )


class Message(msgspec.Struct, kw_only=True, frozen=True):
    conversation_id: str
    seq: int
    sender: Sender
    sender_id: str
    client_msg_id: str
    body: str
    created_at: float
    # "event" for joined / left / ended notices, stored and sequenced like text
    kind: MessageKind = "text"
    # outbound messages on channels that deliver through a provider (see DeliveryState)
    delivery: DeliveryState = ""
    delivery_error: str = ""
    # the files it carries, in the order they were sent
    attachments: tuple[AttachmentRef, ...] = ()
    # the provider's id for the outbound message (maps its status callbacks back)
    provider_id: str = ""


class Rating(msgspec.Struct, kw_only=True, frozen=True):
    """A contact's satisfaction with an ended conversation: one per conversation."""

    conversation_id: str
    touchpoint_id: str
    contact_id: str
    # who answered: the agent who held it when it ended; empty when nobody did
    agent_id: str = ""
    score: int  # 1..5
    comment: str = ""
    created_at: float = 0.0


RefusalCode = Literal["domain_mismatch", "origin_mismatch", "touchpoint_inactive"]


class EmbedRefusal(msgspec.Struct, kw_only=True, frozen=True):
    """A site that tried to show a touchpoint's chat and was refused, per origin: what an
    admin reads to see why a snippet shows nothing."""

    touchpoint_id: str
    origin: str
    # the last refused page from that origin, without its query, fragment or user information
    page_url: str
    code: RefusalCode
    reason: str
    times: int = 1
    first_at: float = 0.0
    last_at: float = 0.0


class Template(msgspec.Struct, kw_only=True, frozen=True):
    """A pre-written reply in a collection ("Sales", "Support"). ``content`` holds the
    text by channel name, with ``"default"`` for every channel without its own; texts
    may use variables (gateway/services/templates.py, VARIABLES)."""

    id: str
    collection: str
    name: str
    content: dict[str, str] = {}
    created_at: float = 0.0


class ConversationNote(msgspec.Struct, kw_only=True, frozen=True):
    """An agent's note on a conversation: kept apart from its messages, so no path that
    delivers messages to a contact can ever carry it."""

    id: str
    conversation_id: str
    agent_id: str
    body: str
    created_at: float


AgentChosenStatus = Literal["available", "away"]


# What an admin notice is about (gateway/services/notices.py).
NoticeKind = Literal["sending_refused", "provider_error"]


class AdminNotice(msgspec.Struct, kw_only=True, frozen=True):
    """Something the admins must act on (a provider refused a touchpoint's number, for
    example), shown live to the admins online and kept for the admin API."""

    id: str
    kind: NoticeKind
    # what happened and what to do, in words an admin understands (no secrets)
    message: str
    touchpoint_id: str = ""
    conversation_id: str = ""
    created_at: float = 0.0


class AgentSession(msgspec.Struct, kw_only=True, frozen=True):
    """A login: the token id an agent token carries, revocable before it expires."""

    id: str
    agent_id: str
    created_at: float
    expires_at: float
    revoked: bool = False


# Fields of a conversation the gateway may change with update_conversation.
CONVERSATION_MUTABLE: Final = frozenset(
    {
        "state",
        "arrived_at",
        "bot_id",
        "bot_until",
        "queue_ids",
        "priority",
        "owner_agent_id",
        "weight",
        "acceptance",
        "dedicated",
        "ended_at",
        "closed_at",
        "notes",
        "disposition",
    }
)
