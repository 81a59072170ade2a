"""The agent endpoint's frames: ``/ws/agent``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.protocol.frames import (
    Ack,
    AttachmentIds,
    ClientMsgId,
    Error,
    EventOut,
    FileRules,
    Frame,
    HistoryOut,
    Id,
    Limit,
    Links,
    LinksOut,
    MessageOut,
    Ok,
    OptionalBody,
    Seq,
    TokenRenewed,
    Typing,
    Unread,
)
from gateway.protocol.visitor import (
    Hello,
)
from gateway.protocol.workspace import (
    AddNote,
    LiveSnapshot,
    LiveUpdate,
    Monitor,
    NoteOut,
    WatchLive,
)

# ----------------------------------------------------------------------------------
# Agent endpoint: /ws/agent


class AgentAction(Frame):
    """An action on one conversation; ``ref`` is echoed in ``ok`` / ``error``."""

    conversation_id: Id
    ref: Annotated[str, msgspec.Meta(max_length=64)] = ""


class Assign(AgentAction, tag="assign"):
    """Take a conversation from the Inbox."""


class Accept(AgentAction, tag="accept"):
    pass


class Reject(AgentAction, tag="reject"):
    pass


class Transfer(AgentAction, tag="transfer"):
    """To an agent or to a queue: exactly one of the two."""

    to_agent_id: str = ""
    to_queue_id: str = ""
    # for the receiving agent: kept as a note of the conversation, never sent to the contact
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class SendToInbox(AgentAction, tag="send_to_inbox"):
    pass


class End(AgentAction, tag="end"):
    pass


class WrapUp(AgentAction, tag="wrapup"):
    notes: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    disposition: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SetDisposition(AgentAction, tag="disposition"):
    """Choose the disposition while the conversation is assigned or in wrap-up (FAQ 12:
    "at that stage or even before"); ``""`` clears it. Stored at once, without the
    router; a ``wrapup`` without one keeps it."""

    disposition: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SetStatus(Frame, tag="status"):
    status: Literal["available", "away"]
    ref: str = ""


class AgentSend(Frame, tag="send"):
    """A reply: text, files (uploaded first), or both."""

    conversation_id: Id
    client_msg_id: ClientMsgId
    body: OptionalBody = ""
    attachments: AttachmentIds = []


class AgentTyping(Frame, tag="typing"):
    conversation_id: Id
    active: bool


class AgentRead(Frame, tag="read"):
    conversation_id: Id
    seq: Seq


class AgentHistory(Frame, tag="history"):
    conversation_id: Id
    before_seq: Seq | None = None
    limit: Limit | None = None  # GATEWAY_HISTORY_PAGE_SIZE when left out


AgentIn = (
    Hello
    | Assign
    | Accept
    | Reject
    | Transfer
    | SendToInbox
    | End
    | WrapUp
    | SetDisposition
    | SetStatus
    | AgentSend
    | AgentTyping
    | AgentRead
    | AgentHistory
    | AddNote
    | WatchLive
    | Monitor
    | Links
)


class ChannelState(msgspec.Struct, omit_defaults=True):
    """What the console shows of a conversation's channel rules (docs/channels/*.md):
    the session window, why the editor is locked, whether attachments can be sent, and
    whether to count SMS segments as the agent types."""

    # when the session window closes (server time) and how many seconds were left when
    # this was sent (count down from receipt, whatever the client's clock says); 0: no
    # window. The console reopens it when the contact writes (their message's ``at``
    # plus the channel's ``session_window``).
    window_closes_at: float = 0.0
    window_closes_in: float = 0.0
    # why the agent cannot write now ("session_expired", "opted_out"), and the notice
    locked: Literal["", "session_expired", "opted_out"] = ""
    notice: str = ""
    attachments: bool = False
    # why attachments are disabled on this conversation ("" when they are not)
    attachments_reason: str = ""
    # count SMS segments in the editor (GSM-7 160/153, UCS-2 70/67)
    segments: bool = False
    # the link contacts use to start a conversation on this touchpoint (wa.me, m.me)
    link: str = ""


class ConversationSummary(msgspec.Struct, omit_defaults=True):
    """One row of the agent's Inbox or Assigned list."""

    conversation_id: str
    place: Literal["inbox", "offered", "assigned", "wrapup", "gone"]
    state: str
    channel: str
    touchpoint_id: str
    touchpoint_name: str
    contact_name: str
    queue_ids: list[str]
    priority: int
    arrived_at: float
    unread: int
    last_seq: int
    dedicated: bool = False
    contact_email: str = ""
    contact_phone: str = ""
    last_message: str = ""
    last_message_at: float = 0.0
    offer_expires_at: float = 0.0
    preview: bool = False
    # what it is about (the integration API's conversations have one)
    subject: str = ""
    # the contact left it as a message for later: they are not in the chat now
    left_message: bool = False
    # it waits for someone to take it with assign: nobody is rung
    held: bool = False
    # the channel's rules as they apply to this conversation now (messaging channels)
    channel_state: ChannelState | None = None
    # chosen so far (``disposition`` frame, or the wrap-up's); absent while none is
    disposition: str = ""


class ChannelInfo(msgspec.Struct, omit_defaults=True):
    """What the console needs to know of a channel (gateway/model/channels.py)."""

    label: str
    live: bool
    attachments: bool = False
    # what it takes, as configured (absent when it takes no files)
    files: FileRules | None = None
    outbound_start: bool = False
    # seconds the contact's last message keeps the agent's editor open
    session_window: float | None = None


class AgentInfo(msgspec.Struct):
    agent_id: str
    name: str
    role: str
    status: str
    queue_ids: list[str]
    load: int
    capacity: int


class Snapshot(Frame, tag="snapshot"):
    """The first frame after an agent's hello, and again after every reconnect."""

    v: int
    agent: AgentInfo
    inbox: list[ConversationSummary]
    assigned: list[ConversationSummary]
    queues: dict[str, str]
    agents: dict[str, str]
    sounds: dict[str, str]
    priority_display: str
    dispositions: list[str]
    channels: dict[str, ChannelInfo] = {}
    # touchpoint id -> name (for the console's filters)
    touchpoints: dict[str, str] = {}
    # the server's clock when it was drawn (UNIX seconds): what the client's own clock
    # is off by, for the times in it (a ringing row's ``offer_expires_at``)
    now: float = 0.0


class ConversationUpdate(Frame, tag="conversation"):
    """A conversation appeared, moved or changed in this agent's lists; ``place=gone``
    removes it."""

    conversation: ConversationSummary


class Offer(Frame, tag="offer"):
    """A ringing offer: accept or reject before ``expires_at`` (server time), that is
    within ``expires_in`` seconds of receiving it, whatever the client's clock says."""

    conversation: ConversationSummary
    expires_at: float
    expires_in: float


class OfferWithdrawn(Frame, tag="offer_withdrawn"):
    conversation_id: str
    reason: str


class Sound(Frame, tag="sound"):
    """Play the configured sound for ``event`` (offered, auto_assigned, transferred, reply)."""

    event: Literal["offered", "auto_assigned", "transferred", "reply"]
    sound: str
    conversation_id: str


class Delivery(Frame, tag="delivery"):
    """What became of an outbound message on a channel that reports it (SMS,
    WhatsApp, ...): sent, delivered, read, or failed with a reason."""

    conversation_id: str
    seq: int
    status: Literal["pending", "sent", "delivered", "read", "failed"]
    reason: str = ""


class NoticeOut(Frame, tag="notice"):
    """An admin notice (to admins online): something to act on, e.g. a provider refused
    a touchpoint's number. The admin API keeps them (``GET /api/admin/notices``)."""

    id: str
    kind: str
    message: str
    at: float
    touchpoint_id: str = ""
    conversation_id: str = ""


class StatusOut(Frame, tag="status"):
    status: str
    load: int
    capacity: int


AgentOut = (
    Snapshot
    | ConversationUpdate
    | Offer
    | OfferWithdrawn
    | Sound
    | Delivery
    | NoticeOut
    | StatusOut
    | MessageOut
    | EventOut
    | Ack
    | Typing
    | Unread
    | HistoryOut
    | Ok
    | Error
    | TokenRenewed
    | NoteOut
    | LiveSnapshot
    | LiveUpdate
    | LinksOut
)
