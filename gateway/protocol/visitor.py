"""The visitor endpoint's frames: ``/ws/visitor``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.protocol.frames import (
    Ack,
    AttachmentIds,
    ClientMsgId,
    Error,
    EventOut,
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
from gateway.settings import MAX_MESSAGE_CHARS

# ----------------------------------------------------------------------------------
# Visitor endpoint: /ws/visitor


class Resume(msgspec.Struct, forbid_unknown_fields=True):
    conversation_id: Id
    last_seq: Seq


class Hello(Frame, tag="hello"):
    """First frame on both endpoints."""

    v: int
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    resume: list[Resume] = []


class Start(Frame, tag="start"):
    """Start a conversation with the pre-conversation form's fields and the visitor's
    first ``message`` (required when present: blank is refused). It is stored before the
    conversation is routed, so no empty chat rings and an automatic reply follows the
    message it answers; it is acknowledged like a ``send`` with ``client_msg_id``.
    Without ``message`` (the first clients of protocol 1) the conversation is created
    but waits, unrouted, for its first ``send``. ``leave_message``: nobody can answer
    now; the conversation is held in the Inbox for later, and needs an email."""

    fields: dict[
        Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=1000)]
    ] = {}
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE_CHARS)] | None = None
    client_msg_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    leave_message: bool = False
    # the page the visitor is on, shown to the agent on the contact card
    page: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Send(Frame, tag="send"):
    """A message: text, files (uploaded first), or both."""

    client_msg_id: ClientMsgId
    body: OptionalBody = ""
    # visitors may omit it: their one open conversation is meant
    conversation_id: str = ""
    attachments: AttachmentIds = []


class TypingIn(Frame, tag="typing"):
    active: bool
    conversation_id: str = ""


class Read(Frame, tag="read"):
    seq: Seq
    conversation_id: str = ""


class EndChat(Frame, tag="end"):
    """The visitor ends their conversation (the open one when no id is given); ending
    one that has ended is not an error. Answered by ``ok`` when ``ref`` is given."""

    conversation_id: str = ""
    ref: Annotated[str, msgspec.Meta(max_length=64)] = ""


class Rate(Frame, tag="rate"):
    """The visitor's satisfaction with an ended conversation of theirs: once."""

    conversation_id: Id
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    ref: Annotated[str, msgspec.Meta(max_length=64)] = ""


class TranscriptRequest(Frame, tag="transcript"):
    """Email the transcript of an ended conversation of the visitor's to ``email``
    (docs/widget.md, "Answers and transcripts by email"): ``ok``, or ``error``."""

    conversation_id: Id
    email: Annotated[str, msgspec.Meta(max_length=320)]
    ref: Annotated[str, msgspec.Meta(max_length=64)] = ""


class History(Frame, tag="history"):
    conversation_id: str = ""
    before_seq: Seq | None = None
    limit: Limit | None = None  # GATEWAY_HISTORY_PAGE_SIZE when left out


class ConversationInfo(msgspec.Struct, omit_defaults=True):
    """``held``: it waits for an agent to take it, ringing no one (a message left for
    later, or closed hours); ``left_message``: the visitor left it as a message;
    ``rated``: the visitor rated it (ended ones)."""

    conversation_id: str
    state: str
    last_seq: int
    unread: int
    agent_name: str = ""
    held: bool = False
    left_message: bool = False
    rated: bool = False


class Welcome(Frame, tag="welcome"):
    """Answer to a visitor's hello: who they are and their open conversation, if any,
    else one that ended in the last hour (``state`` wrapup or closed), to show ended."""

    v: int
    visitor_id: str
    visitor_name: str
    conversation: ConversationInfo | None = None


class Started(Frame, tag="started"):
    conversation_id: str
    visitor_name: str
    left_message: bool = False


class BotHolds(Frame, tag="bot"):
    """A bot answers the conversation (``active``), or it handed it to the agents (not
    ``active``): while a bot holds it, the widget promises no agent."""

    conversation_id: str
    active: bool


VisitorIn = (
    Hello | Start | Send | TypingIn | Read | History | Links | EndChat | Rate | TranscriptRequest
)
VisitorOut = (
    Welcome
    | Started
    | BotHolds
    | Ack
    | MessageOut
    | EventOut
    | Typing
    | Unread
    | HistoryOut
    | Error
    | TokenRenewed
    | LinksOut
    | Ok
)
