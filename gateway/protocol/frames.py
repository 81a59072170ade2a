"""What both endpoints share: the frame base, the field types, the frames both send."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.settings import MAX_MESSAGE_CHARS

VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ClientMsgId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_CHARS)]
# A message with files may have no text.
OptionalBody = Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE_CHARS)]
# Ids of uploaded files a message carries (POST /widget/attachments, POST
# /api/conversations/{id}/attachments), in order.
AttachmentIds = Annotated[list[Id], msgspec.Meta(max_length=20)]
# Bounded: an unbounded int reached the store (SQLite INTEGER is 64-bit) and failed there.
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=200)]


class Frame(
    msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True, gc=False
):
    """Base of every frame; ``type`` is its tag. Frames are data, out of the garbage
    collector's walks, as :class:`gateway.model.records.Conversation` is."""


# ----------------------------------------------------------------------------------
# Shared shapes


class AttachmentOut(msgspec.Struct, omit_defaults=True):
    """A file a message carries. Its bytes are fetched through a short-lived link that
    a ``links`` request returns; ``thumbnail``: a small JPEG preview exists."""

    id: str
    name: str
    content_type: str
    size: int
    width: int = 0
    height: int = 0
    thumbnail: bool = False


class FileRules(msgspec.Struct, kw_only=True):
    """What a channel takes (docs/attachments.md), for a client to say it before an
    upload: the accepted types (extensions), the largest file, files per message. The
    gateway checks again, on the content."""

    types: list[str]
    max_bytes: int
    max_files: int


class SoundCue(msgspec.Struct):
    """The console's sound for a message (``sound``: the name the settings give the
    event; a silent event sends none)."""

    event: Literal["reply"]
    sound: str


class MessageOut(Frame, tag="message"):
    """A stored message of a conversation (either side). On a message to its recipient,
    ``unread`` is the recipient's unread count right after it (what an ``unread`` frame
    would say) and, to an agent, ``sound`` the sound to play: one frame per message."""

    conversation_id: str
    seq: int
    sender: Literal["visitor", "agent", "system"]
    sender_name: str
    body: str
    at: float
    client_msg_id: str = ""
    attachments: list[AttachmentOut] = []
    # what became of an agent's or the system's message on a tracked channel (SMS,
    # WhatsApp, ...): pending, sent, delivered, read or failed (with why); later changes
    # come as ``delivery`` frames
    delivery: Literal["", "pending", "sent", "delivered", "read", "failed"] = ""
    delivery_error: str = ""
    unread: int | None = None
    sound: SoundCue | None = None


class EventOut(Frame, tag="event"):
    """A stored conversation event, sequenced like messages so resume replays it.
    ``notice`` is an automatic notice to the agent (``text``: an unsupported message
    from the contact, a refused intake, ...); contacts are never sent one.
    ``reason``: on ``ended``, ``contact`` (the visitor ended it) or ``idle`` (closed after
    a time without messages; absent: the agent ended it); on ``agent_left``,
    ``requeued`` when the conversation went back to waiting for an agent (absent: another
    agent took it over)."""

    conversation_id: str
    seq: int
    event: Literal["agent_joined", "agent_left", "ended", "notice"]
    at: float
    agent_name: str = ""
    text: str = ""
    reason: Literal["", "contact", "idle", "requeued"] = ""


class Ack(Frame, tag="ack"):
    """The message with this client id is stored under ``seq``. ``duplicate`` when it was
    stored before (a retry). ``message``: the stored message itself, which the sending
    socket gets only here (the sender's other sockets get it as a ``message`` frame)."""

    client_msg_id: str
    conversation_id: str
    seq: int
    duplicate: bool = False
    message: MessageOut | None = None


class Typing(Frame, tag="typing"):
    conversation_id: str
    active: bool
    who: Literal["visitor", "agent"]
    name: str = ""


class Unread(Frame, tag="unread"):
    conversation_id: str
    count: int


class Error(Frame, tag="error"):
    """A request failed. ``ref`` repeats the request's ``ref`` or ``client_msg_id``;
    ``retryable`` says whether sending the same frame again later can succeed."""

    code: str
    message: str
    retryable: bool = False
    ref: str = ""


class Ok(Frame, tag="ok"):
    """The action named by ``ref`` was carried out."""

    ref: str


class TokenRenewed(Frame, tag="token"):
    """A fresh token to use on the next reconnect."""

    token: str
    expires_at: float


class ContextLine(msgspec.Struct, omit_defaults=True):
    """A line of what a bot and the contact said before the conversation was escalated
    (the integration API's transcript): context for the agent, not a message."""

    sender: Literal["contact", "bot", "agent"]
    text: str
    at: float | None = None
    name: str = ""


class HistoryOut(Frame, tag="history"):
    conversation_id: str
    items: list[MessageOut | EventOut]
    has_more: bool
    # agents, first page only: the escalated transcript, oldest first
    context: list[ContextLine] = []


class Links(Frame, tag="links"):
    """Ask for links to files of a conversation (a visitor may omit the id: their open
    conversation is meant)."""

    attachment_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=50)]
    conversation_id: str = ""
    ref: Annotated[str, msgspec.Meta(max_length=64)] = ""


class FileLink(msgspec.Struct, omit_defaults=True):
    url: str
    thumbnail_url: str = ""


class LinksOut(Frame, tag="links"):
    """Signed links to the files asked for, valid until ``expires_at`` (server time) and
    only for the one who asked. Files of other conversations are left out."""

    conversation_id: str
    links: dict[str, FileLink]
    expires_at: float
    ref: str = ""
