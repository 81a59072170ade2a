"""What a channel adapter hands the core: a contact's message, and what became of a
message the core asked it to deliver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(max_length=100_000)]


@dataclass(frozen=True)
class InboundFile:
    """A file a contact sent, as the adapter can fetch it from its provider. ``open``
    starts the download and yields its bytes; the core reads it once, through the
    channel's rules (type from the content, size counted as it streams), and stores
    it. A file that fails (refused, or its download breaks) becomes part of the notice
    the agent gets."""

    name: str
    open: Callable[[], AsyncIterator[bytes]]
    # what the provider says; the gateway checks it against the content
    content_type: str = ""
    size: int | None = None


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message from a contact, as a channel received it from its provider.

    The conversation service (gateway/services/conversations.py) appends it to the
    contact's open conversation on the touchpoint, or starts one. ``provider_message_id``
    makes it idempotent: a provider's retry of the same message stores nothing twice.
    """

    touchpoint_id: str
    # the contact's address on the touchpoint's channel (gateway/model/channels.py)
    address: str
    provider_message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Text = ""
    # what the channel knows of the contact and the conversation: name, email, phone,
    # subject, ... (the flow's conditions can read them on arrival)
    fields: dict[str, str] = {}
    # when the provider says it was sent (UNIX seconds); the gateway's clock otherwise
    sent_at: float | None = None
    # the files it carries
    files: tuple[InboundFile, ...] = ()
    # what it carried that the adapter cannot pass on (a location, a sticker, a
    # contact card ...), in words for the agent: each gets them an automatic notice
    unsupported: tuple[str, ...] = ()
    # the conversation this message continues, when the channel threads messages itself
    # (email: In-Reply-To and References); used while that conversation is live on this
    # touchpoint, whoever on the thread writes; otherwise the message goes where any
    # message from ``address`` goes
    conversation_id: str = ""


DeliveryStatus = Literal["sent", "delivered", "read", "failed"]


class DeliveryReport(msgspec.Struct, frozen=True, kw_only=True):
    """A channel's report on an outbound message (a provider's status callback)."""

    conversation_id: str
    seq: int
    status: DeliveryStatus
    # why it failed, in words an agent understands (never a credential or raw payload)
    reason: str = ""
    # the provider's id for the message, when this report gives it first (on "sent")
    provider_id: str = ""
