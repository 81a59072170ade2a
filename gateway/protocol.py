"""The wire protocol: JSON text frames over WebSocket, one msgspec Struct per frame type.

Every frame is an object whose ``type`` field names it. A client's first frame is
``hello`` with the protocol version and its token (tokens never travel in URLs, which
end up in access logs). docs/protocol.md describes each frame with an example; the
JSON Schema in docs/protocol.schema.json is generated from these classes
(``python -m gateway.protocol > docs/protocol.schema.json``) and a test keeps both true.

Frames are decoded once at the edge by :func:`decode_visitor` / :func:`decode_agent`,
which raise :class:`ProtocolError` with a precise message; nothing past the edge sees
raw JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from gateway.errors import FrameTooLarge, ProtocolError

VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ClientMsgId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
# Bounded: an unbounded int reached the store (SQLite INTEGER is 64-bit) and failed there.
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=200)]


class Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True):
    """Base of every frame; ``type`` is its tag."""


# ----------------------------------------------------------------------------------
# Shared shapes


class MessageOut(Frame, tag="message"):
    """A stored message of a conversation (either side)."""

    conversation_id: str
    seq: int
    sender: Literal["visitor", "agent", "system"]
    sender_name: str
    body: str
    at: float
    client_msg_id: str = ""


class EventOut(Frame, tag="event"):
    """A stored conversation event, sequenced like messages so resume replays it."""

    conversation_id: str
    seq: int
    event: Literal["agent_joined", "agent_left", "ended"]
    at: float
    agent_name: str = ""


class Ack(Frame, tag="ack"):
    """The message with this client id is stored under ``seq``. ``duplicate`` when it was
    stored before (a retry)."""

    client_msg_id: str
    conversation_id: str
    seq: int
    duplicate: bool = False


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


class HistoryOut(Frame, tag="history"):
    conversation_id: str
    items: list[MessageOut | EventOut]
    has_more: bool


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


class Send(Frame, tag="send"):
    body: Body
    client_msg_id: ClientMsgId
    # visitors may omit it: their one open conversation is meant
    conversation_id: str = ""


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


VisitorIn = Hello | Start | Send | TypingIn | Read | History
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


class SendToInbox(AgentAction, tag="send_to_inbox"):
    pass


class End(AgentAction, tag="end"):
    pass


class WrapUp(AgentAction, tag="wrapup"):
    notes: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    disposition: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SetStatus(Frame, tag="status"):
    status: Literal["available", "away"]
    ref: str = ""


class AgentSend(Frame, tag="send"):
    conversation_id: Id
    body: Body
    client_msg_id: ClientMsgId


class AgentTyping(Frame, tag="typing"):
    conversation_id: Id
    active: bool


class AgentRead(Frame, tag="read"):
    conversation_id: Id
    seq: Seq


class AgentHistory(Frame, tag="history"):
    conversation_id: Id
    before_seq: Seq | None = None
    limit: Limit = 50


AgentIn = (
    Hello
    | Assign
    | Accept
    | Reject
    | Transfer
    | SendToInbox
    | End
    | WrapUp
    | SetStatus
    | AgentSend
    | AgentTyping
    | AgentRead
    | AgentHistory
)


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


class ChannelInfo(msgspec.Struct, omit_defaults=True):
    """What the console needs to know of a channel (gateway/model/channels.py)."""

    label: str
    live: bool
    attachments: bool = False
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
)

# ----------------------------------------------------------------------------------
# Encoding and decoding at the edge

_visitor_decoder = msgspec.json.Decoder(VisitorIn)
_agent_decoder = msgspec.json.Decoder(AgentIn)
_encoder = msgspec.json.Encoder()


def _decode(decoder: msgspec.json.Decoder[Any], data: str | bytes, limit: int) -> Any:
    if len(data) > limit:
        raise FrameTooLarge(f"frame of {len(data)} bytes is over the limit of {limit}")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(str(exc), code=_validation_code(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not a JSON frame: {exc}", code="bad_json") from None


def _validation_code(message: str) -> str:
    if "Invalid value" in message and "`$.type`" in message:
        return "unknown_type"
    if "missing required field `type`" in message or "Expected `object`" in message:
        return "bad_frame"
    return "invalid_field"


def decode_visitor(data: str | bytes, limit: int = 16384) -> VisitorIn:
    """Decode a visitor's frame or raise ProtocolError (code: bad_json, unknown_type,
    invalid_field, bad_frame, frame_too_large)."""
    frame: VisitorIn = _decode(_visitor_decoder, data, limit)
    return frame


def decode_agent(data: str | bytes, limit: int = 16384) -> AgentIn:
    frame: AgentIn = _decode(_agent_decoder, data, limit)
    return frame


def encode(frame: Frame) -> bytes:
    """Encode a frame as JSON bytes (sent as a text frame)."""
    return _encoder.encode(frame)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every frame, by endpoint and direction."""
    schemas, components = msgspec.json.schema_components(
        [VisitorIn, VisitorOut, AgentIn, AgentOut], ref_template="#/$defs/{name}"
    )
    names = ["visitor_in", "visitor_out", "agent_in", "agent_out"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Engagement gateway wire protocol, version {VERSION}",
        "properties": dict(zip(names, schemas, strict=True)),
        "$defs": components,
    }


if __name__ == "__main__":
    import json
    import sys

    json.dump(json_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
