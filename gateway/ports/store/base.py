"""The store interface: records and the operations the gateway needs.

The store is the log (ARCHITECTURE.md, principle 3): a message gets its
per-conversation sequence number and is committed before the sender is acknowledged.
Two implementations live beside this file, ``sqlite.py`` (aiosqlite, the embedded
default) and ``postgres.py`` (asyncpg); ``tests/store/`` runs one contract suite
against both. Implementations translate driver errors into ``StoreError`` /
``StoreUnavailable`` and unknown ids into ``NotFound``; no operation leaves half-written
state (each is one transaction).

Times are UNIX seconds as floats, passed in by the caller (the store reads no clock of
its own for anything that matters to behaviour).
"""

from __future__ import annotations

import abc
from typing import Any, Literal, NamedTuple

import msgspec

from routing.model import DEFAULT_WEIGHTS

Channel = Literal["chat", "sms", "whatsapp", "messenger", "email", "api", "voice"]
RoutingMode = Literal["simplified", "dedicated", "flow"]
Role = Literal["agent", "supervisor", "admin"]
SenderKind = Literal["visitor", "agent", "system"]
ConversationState = Literal["waiting", "offered", "assigned", "wrapup", "closed"]
# Which side of a conversation a read marker or unread count belongs to: the visitor
# (contact), or the agent side (whoever owns it now, or the queue while it waits).
Side = Literal["visitor", "agent"]


class FormField(msgspec.Struct, kw_only=True, frozen=True):
    """One field of the pre-conversation form."""

    name: str
    label: str
    kind: Literal["text", "email", "phone", "textarea", "select"] = "text"
    required: bool = False
    options: list[str] = []
    max_length: int = 200


class Touchpoint(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    channel: Channel = "chat"
    active: bool = False
    direction: Literal["inbound", "outbound", "both"] = "inbound"
    routing_mode: RoutingMode = "flow"
    # chat: the configured domain, validated by channels.chat.domain at configuration time
    domain: str = ""
    # simplified: the linked queues; flow: the default queues when no rule matches
    queue_ids: list[str] = []
    dedicated_agent_id: str | None = None
    # flow routing rules; their shape is routing's (routing.flow), stored as given
    flow: dict[str, Any] = {}
    # what the widget shows: colours, font, texts by key, launcher icon, language
    widget: dict[str, Any] = {}
    form: list[FormField] = []
    # signed visitor identity (HMAC-SHA256 or HS256 JWT) and whether it is required
    identity_secret: str = ""
    require_identity: bool = False
    # roles allowed to preview Inbox conversations of this touchpoint before assigning
    preview_roles: list[Role] = msgspec.field(default_factory=lambda: ["supervisor", "admin"])
    created_at: float = 0.0


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


class DispositionSet(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str
    dispositions: list[str] = []


# The router's defaults for the digital channels (voice is fixed, not a setting).
DEFAULT_CHANNEL_WEIGHTS = {c: w for c, w in DEFAULT_WEIGHTS.items() if c != "voice"}
DEFAULT_SOUNDS = {
    "offered": "ring",
    "auto_assigned": "chime",
    "transferred": "swoosh",
    "reply": "pop",
}


class GlobalSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Admin > Channels > Global settings."""

    # digital channel weights in capacity points (voice is fixed at 51)
    channel_weights: dict[str, int] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_CHANNEL_WEIGHTS)
    )
    # sound per event; "" means silent. Events: offered, auto_assigned, transferred, reply
    sounds: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_SOUNDS))
    priority_display: Literal["icons", "numbers"] = "icons"
    disposition_set_id: str | None = None


class Contact(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    # "Visitor #NNN": a number unique within the store, given at creation
    number: int
    name: str = ""
    email: str = ""
    phone: str = ""
    created_at: float = 0.0

    @property
    def display_name(self) -> str:
        return self.name or f"Visitor #{self.number}"


class Conversation(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    touchpoint_id: str
    channel: Channel
    contact_id: str
    # the browser-side visitor id the session token is bound to
    visitor_id: str
    state: ConversationState = "waiting"
    queue_ids: list[str] = []
    priority: int = 0
    owner_agent_id: str | None = None
    # the capacity weight the owner took it with (not retroactive)
    weight: int = 0
    # set by routing on arrival: manual (offers ring) or auto (assigned directly)
    acceptance: Literal["manual", "auto"] = "manual"
    dedicated: bool = False
    fields: dict[str, str] = {}
    created_at: float = 0.0
    # original arrival, kept through send-to-inbox so it keeps its place
    arrived_at: float = 0.0
    ended_at: float | None = None
    closed_at: float | None = None
    notes: str = ""
    disposition: str = ""
    last_seq: int = 0
    visitor_unread: int = 0
    agent_unread: int = 0


class Message(msgspec.Struct, kw_only=True, frozen=True):
    conversation_id: str
    seq: int
    sender: SenderKind
    sender_id: str
    client_msg_id: str
    body: str
    created_at: float
    # message kinds other than text: "event" for joined/left/ended notices the visitor sees
    kind: Literal["text", "event"] = "text"


class AgentSession(msgspec.Struct, kw_only=True, frozen=True):
    """A login: the token id an agent token carries, revocable before it expires."""

    id: str
    agent_id: str
    created_at: float
    expires_at: float
    revoked: bool = False


class Appended(NamedTuple):
    """What ``Store.append`` returns."""

    message: Message
    created: bool
    conversation: Conversation


# Fields of a conversation the gateway may change with update_conversation.
CONVERSATION_MUTABLE = frozenset(
    {
        "state",
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


class Store(abc.ABC):
    """Everything the gateway keeps. One transaction per call."""

    # -- lifecycle ---------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the database answers; never raises."""

    # -- configuration -------------------------------------------------------------
    @abc.abstractmethod
    async def put_touchpoint(self, tp: Touchpoint) -> None:
        """Insert or replace by id."""

    @abc.abstractmethod
    async def get_touchpoint(self, touchpoint_id: str) -> Touchpoint:
        """Raise NotFound when absent."""

    @abc.abstractmethod
    async def list_touchpoints(self) -> list[Touchpoint]: ...

    @abc.abstractmethod
    async def delete_touchpoint(self, touchpoint_id: str) -> None:
        """Raise NotFound when absent. Conversations keep their touchpoint id as history."""

    @abc.abstractmethod
    async def put_queue(self, queue: Queue) -> None: ...

    @abc.abstractmethod
    async def get_queue(self, queue_id: str) -> Queue: ...

    @abc.abstractmethod
    async def list_queues(self) -> list[Queue]: ...

    @abc.abstractmethod
    async def delete_queue(self, queue_id: str) -> None: ...

    @abc.abstractmethod
    async def put_agent(self, agent: Agent) -> None:
        """Insert or replace by id; raise Conflict when the email belongs to another agent."""

    @abc.abstractmethod
    async def get_agent(self, agent_id: str) -> Agent: ...

    @abc.abstractmethod
    async def get_agent_by_email(self, email: str) -> Agent:
        """Case-insensitive on the email; raise NotFound when absent."""

    @abc.abstractmethod
    async def list_agents(self) -> list[Agent]: ...

    @abc.abstractmethod
    async def delete_agent(self, agent_id: str) -> None: ...

    @abc.abstractmethod
    async def put_disposition_set(self, ds: DispositionSet) -> None: ...

    @abc.abstractmethod
    async def get_disposition_set(self, ds_id: str) -> DispositionSet: ...

    @abc.abstractmethod
    async def list_disposition_sets(self) -> list[DispositionSet]: ...

    @abc.abstractmethod
    async def delete_disposition_set(self, ds_id: str) -> None: ...

    @abc.abstractmethod
    async def get_settings(self) -> GlobalSettings:
        """The global settings; the defaults until someone saves them."""

    @abc.abstractmethod
    async def put_settings(self, settings: GlobalSettings) -> None: ...

    # -- agent sessions ------------------------------------------------------------
    @abc.abstractmethod
    async def create_session(self, session: AgentSession) -> None:
        """Conflict if the id exists, NotFound for an unknown agent. Deleting an agent
        deletes its sessions."""

    @abc.abstractmethod
    async def get_session(self, session_id: str) -> AgentSession: ...

    @abc.abstractmethod
    async def revoke_session(self, session_id: str) -> None:
        """Idempotent; raise NotFound for an unknown id."""

    # -- contacts ------------------------------------------------------------------
    @abc.abstractmethod
    async def create_contact(
        self, contact_id: str, *, name: str = "", email: str = "", phone: str = "", now: float
    ) -> Contact:
        """Create with the next visitor number (1, 2, 3, ... per store)."""

    @abc.abstractmethod
    async def get_contact(self, contact_id: str) -> Contact: ...

    @abc.abstractmethod
    async def find_contact(self, *, email: str = "", phone: str = "") -> Contact | None:
        """The contact with this email (case-insensitive) or phone, if any."""

    @abc.abstractmethod
    async def update_contact(
        self,
        contact_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> Contact: ...

    @abc.abstractmethod
    async def delete_contact(self, contact_id: str) -> int:
        """Delete the contact, its conversations and their messages (right to be
        forgotten). Return the number of conversations deleted. NotFound if unknown."""

    @abc.abstractmethod
    async def export_contact(self, contact_id: str) -> dict[str, Any]:
        """{"contact": {...}, "conversations": [{..., "messages": [...]}, ...]} as JSON-able
        builtins, conversations by creation time, messages by seq."""

    # -- conversations -------------------------------------------------------------
    @abc.abstractmethod
    async def create_conversation(self, conv: Conversation) -> Conversation:
        """Insert; raise Conflict if the id exists, NotFound if the contact does not.
        last_seq and the unread counts are the store's: they start at 0 whatever is
        passed, and the returned record says so."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation: ...

    @abc.abstractmethod
    async def update_conversation(self, conversation_id: str, **changes: Any) -> Conversation:
        """Change the fields named in CONVERSATION_MUTABLE (others: ValueError) and
        return the new record; NotFound if unknown."""

    @abc.abstractmethod
    async def list_conversations(
        self,
        *,
        states: list[ConversationState] | None = None,
        contact_id: str | None = None,
        visitor_id: str | None = None,
        touchpoint_id: str | None = None,
    ) -> list[Conversation]:
        """Filtered (all filters AND-ed, None = any), ordered by created_at then id."""

    # -- messages ------------------------------------------------------------------
    @abc.abstractmethod
    async def append_message(
        self,
        conversation_id: str,
        *,
        sender: SenderKind,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: Literal["text", "event"] = "text",
    ) -> tuple[Message, bool]:
        """Store a message with the conversation's next seq, in one transaction that also
        bumps the other side's unread count (a visitor message bumps agent_unread, agent
        and system text bumps visitor_unread; events bump nothing) and last_seq.

        Idempotent on (conversation_id, sender, sender_id, client_msg_id): a retry returns
        the message stored the first time and False, storing nothing. Returns (message,
        True) when new. NotFound for an unknown conversation. An empty client_msg_id
        opts out of idempotency (every such call stores a new message)."""

    async def append(
        self,
        conversation_id: str,
        *,
        sender: SenderKind,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: Literal["text", "event"] = "text",
    ) -> Appended:
        """``append_message``, and the conversation as it is right after (its owner,
        state and unread counts, which the message path needs next). Stores that can
        read it back in the same statement override this to save a round trip."""
        message, created = await self.append_message(
            conversation_id,
            sender=sender,
            sender_id=sender_id,
            client_msg_id=client_msg_id,
            body=body,
            now=now,
            kind=kind,
        )
        return Appended(message, created, await self.get_conversation(conversation_id))

    @abc.abstractmethod
    async def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Ascending by seq. With before_seq, the *last* `limit` messages before it (for
        paging back through history), still returned in ascending order."""

    @abc.abstractmethod
    async def mark_read(self, conversation_id: str, side: Side, seq: int) -> Conversation:
        """The side has read up to seq: its unread count becomes the number of the other
        side's text messages with a greater seq (0 when seq >= last_seq)."""
