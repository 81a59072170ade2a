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
    OptionalBody,
    Seq,
    TokenRenewed,
    Typing,
    Unread,
)

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
    """Start a conversation with the pre-conversation form's fields."""

    fields: dict[
        Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=1000)]
    ] = {}
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


class History(Frame, tag="history"):
    conversation_id: str = ""
    before_seq: Seq | None = None
    limit: Limit = 50


class ConversationInfo(msgspec.Struct, omit_defaults=True):
    conversation_id: str
    state: str
    last_seq: int
    unread: int
    agent_name: str = ""


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


VisitorIn = Hello | Start | Send | TypingIn | Read | History | Links
VisitorOut = (
    Welcome
    | Started
    | Ack
    | MessageOut
    | EventOut
    | Typing
    | Unread
    | HistoryOut
    | Error
    | TokenRenewed
    | LinksOut
)
