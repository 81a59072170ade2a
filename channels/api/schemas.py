"""The integration API's request and response bodies (docs/integration-api.md). The same
Structs validate requests and make the OpenAPI document's schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from channels.chat.forms import FieldError, validate_fields
from gateway.errors import InvalidInput
from gateway.model.integrations import TranscriptLine
from gateway.model.records import AttachmentRef, Contact, Conversation, FormField, Message
from gateway.services.event_views import sender_of
from gateway.settings import MAX_MESSAGE_CHARS

# checked by email-validator in ContactIn.checked (a pattern here answered with the regex)
Email = Annotated[str, msgspec.Meta(max_length=254, extra_json_schema={"format": "email"})]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_CHARS)]
Ref = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$",
        description="letters, digits, '_', '.', ':' and '-'; 1..200 characters",
    ),
]
Transcript = Annotated[list[TranscriptLine], msgspec.Meta(max_length=500)]
FieldName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
FieldValue = Annotated[str, msgspec.Meta(max_length=1000)]


_CONTACT = [
    FormField(name="email", label="Email", kind="email", required=True, max_length=254),
    FormField(name="name", label="Name", kind="text", max_length=200),
    FormField(name="phone", label="Phone", kind="phone", max_length=32),
]


class ContactIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The contact, identified by their email (an existing contact with this email is
    theirs: the integration, holding an API key, is trusted like a signed identity)."""

    email: Email
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""

    def checked(self) -> dict[str, str]:
        """The fields cleaned as the chat's pre-conversation form cleans them (the email
        by email-validator, normalised; the phone by phonenumbers, E.164; the name one
        line), or InvalidInput on ``contact.<field>``."""
        given = {"email": self.email, "name": self.name, "phone": self.phone}
        try:
            return validate_fields(_CONTACT, given)
        except FieldError as exc:
            message = exc.fields[0][1]
            if exc.field == "email" and self.email:
                message = f"not an email address: {message}"
            raise InvalidInput([(f"contact.{exc.field}", message)]) from None


class StartIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Start a conversation. ``interaction_id`` is the integration's own id for it: one
    open conversation per interaction (the same id gives the open one back); without it,
    one per contact on this touchpoint."""

    contact: ContactIn
    direction: Literal["inbound", "outbound"] = "inbound"
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""
    interaction_id: Ref | None = None
    # what the flow's conditions may read (form fields)
    fields: Annotated[dict[FieldName, FieldValue], msgspec.Meta(max_length=50)] = {}
    # inbound: the contact's first message
    message: Text | None = None
    # what an external bot and the contact said before: context for the agent
    transcript: Transcript = []
    # outbound: the agent who starts it (theirs at once); else it is routed
    agent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None

    def check(self) -> None:
        """What the shape cannot say, checked with it (bad input: refused before the
        request runs, its Idempotency-Key left free): the contact's fields."""
        self.contact.checked()


class MessageIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A message in the conversation: the contact's (the integration is their front
    end), or the bot's (the integration is the bot holding the conversation)."""

    # empty only with attachments
    text: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE_CHARS)] = ""
    sender: Literal["contact", "bot"] = "contact"
    # ids of files uploaded to the conversation (POST .../attachments), in order; the
    # contact's only
    attachments: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
        msgspec.Meta(max_length=10),
    ] = []
    # the integration's id for the message: a second message with it stores nothing
    # (defaults to the Idempotency-Key)
    message_id: Ref | None = None


class EscalateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The bot hands the conversation to the agents; its transcript travels as context."""

    transcript: Transcript = []
    queue_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class TransferIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """To an agent or to a queue: exactly one."""

    agent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    queue_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class MessagesQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    after_seq: Annotated[int, msgspec.Meta(ge=0, le=2**53)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class ContactOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    email: str
    phone: str


class ConversationOut(msgspec.Struct, kw_only=True):
    id: str
    touchpoint_id: str
    channel: str
    state: str
    direction: str
    subject: str
    # the interaction id (or the contact's email when none was given)
    interaction_id: str
    contact: ContactOut
    queue_ids: list[str]
    priority: int
    owner_agent_id: str | None
    bot_id: str
    created_at: float
    arrived_at: float
    ended_at: float | None
    closed_at: float | None
    last_seq: int


class MessageOut(msgspec.Struct, kw_only=True):
    conversation_id: str
    seq: int
    kind: str
    sender: str
    sender_name: str
    body: str
    created_at: float
    # outbound messages: what became of their delivery to the integration
    delivery: str
    # its files (their ids, names, types found in the content, sizes)
    attachments: list[AttachmentRef] = []


class MessagePage(msgspec.Struct, kw_only=True):
    items: list[MessageOut]
    # pass as after_seq for the next page
    next_after_seq: int
    has_more: bool


# -- admin ------------------------------------------------------------------------------


class ApiKeyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    # the key's first characters
    prefix: str
    created_at: float
    revoked_at: float | None


class ApiKeyCreated(ApiKeyOut, kw_only=True):
    # the key itself: shown this once, stored only as its digest
    key: str


class ReplayIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]


class FailedMessage(msgspec.Struct, kw_only=True):
    conversation_id: str
    seq: int
    sender: str
    body: str
    created_at: float
    delivery: str
    reason: str


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut(
        id=contact.id, name=contact.display_name, email=contact.email, phone=contact.phone
    )


def conversation_out(conv: Conversation, contact: Contact) -> ConversationOut:
    return ConversationOut(
        id=conv.id,
        touchpoint_id=conv.touchpoint_id,
        channel=conv.channel,
        state=conv.state,
        direction=conv.direction,
        subject=conv.subject,
        interaction_id=conv.address,
        contact=contact_out(contact),
        queue_ids=list(conv.queue_ids),
        priority=conv.priority,
        owner_agent_id=conv.owner_agent_id,
        bot_id=conv.bot_id,
        created_at=conv.created_at,
        arrived_at=conv.arrived_at,
        ended_at=conv.ended_at,
        closed_at=conv.closed_at,
        last_seq=conv.last_seq,
    )


def message_out(msg: Message, view: dict[str, Any]) -> MessageOut:
    """``view``: the message's public form (gateway/services/event_views.py)."""
    body = view["body"] if msg.kind == "text" else view.get("event", "")
    return MessageOut(
        conversation_id=msg.conversation_id,
        seq=msg.seq,
        kind=msg.kind,
        sender=sender_of(msg.sender, msg.sender_id),
        sender_name=view["sender_name"],
        body=body,
        created_at=msg.created_at,
        delivery=msg.delivery,
        attachments=list(msg.attachments),
    )


def failed_message(msg: Message) -> FailedMessage:
    return FailedMessage(
        conversation_id=msg.conversation_id,
        seq=msg.seq,
        sender=sender_of(msg.sender, msg.sender_id),
        body=msg.body,
        created_at=msg.created_at,
        delivery=msg.delivery,
        reason=msg.delivery_error,
    )
