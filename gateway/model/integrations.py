"""The records of the integration API, bots and automations (docs/integration-api.md).

* An **API key** lets a third party act for one integration touchpoint; the gateway keeps
  only its SHA-256 digest (the key is shown once, when it is made).
* A **webhook** is an automation: an account's subscription to conversation events,
  filtered by channel, touchpoint and queue, delivered signed to its URL.
* The **outbox** holds every event to deliver (to a webhook, or to a bot that holds a
  conversation), written by the store in the same transaction as the change it
  announces, and delivered at least once, in order per target and conversation.
* A **transcript** is what a bot and the contact said before an escalation: context for
  the agent, not messages of the conversation.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec

from gateway.model.channels import ChannelName
from gateway.settings import MAX_MESSAGE_CHARS

# What automations may subscribe to ("message.created" is opt-in: it is the busiest).
EventType = Literal[
    "conversation.started", "conversation.assigned", "conversation.ended", "message.created"
]
EVENT_TYPES: Final[tuple[EventType, ...]] = (
    "conversation.started",
    "conversation.assigned",
    "conversation.ended",
    "message.created",
)
# What a bot holding a conversation is sent: these, and the handover that ends its turn.
BotEventType = Literal[
    "conversation.started",
    "message.created",
    "conversation.ended",
    "conversation.handed_over",
]
OutboxState = Literal["pending", "sent", "dead"]
BOT_TARGET_PREFIX: Final = "bot:"


def bot_target(bot_id: str) -> str:
    """The outbox target of a bot (an integration touchpoint's id)."""
    return BOT_TARGET_PREFIX + bot_id


class ApiKey(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    touchpoint_id: str
    name: str
    # SHA-256 of the key, hex (docs/security.md, "API keys")
    digest: str
    # the key's first characters, to tell keys apart
    prefix: str
    created_at: float
    revoked_at: float | None = None


class Webhook(msgspec.Struct, kw_only=True, frozen=True):
    """An automation: events of the account's conversations, to ``url``, signed with
    ``secret``. An empty filter list means any (channel, touchpoint, queue)."""

    id: str
    name: str
    url: str
    secret: str
    events: list[EventType] = []
    channels: list[ChannelName] = []
    touchpoint_ids: list[str] = []
    queue_ids: list[str] = []
    active: bool = True
    created_at: float = 0.0


TranscriptSender = Literal["contact", "bot", "agent"]


class TranscriptLine(msgspec.Struct, kw_only=True, frozen=True):
    """One line a bot's conversation had before it was escalated."""

    sender: TranscriptSender
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    # when it was said (UNIX seconds), if the bot knows
    at: float | None = None
    # who said it, as the bot knew them
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class Announcement(NamedTuple):
    """An event the store writes to the outbox in the same transaction as the change it
    announces: one row per target, each with a payload of ``{"conversation": ...}`` as
    the change left it (and ``"message"`` for an append), plus ``data``."""

    event_id: str
    type: str
    targets: tuple[str, ...]
    # when it happened (UNIX seconds)
    at: float
    data: dict[str, Any] = {}


class OutboxEvent(msgspec.Struct, kw_only=True, frozen=True):
    """One event for one target."""

    n: int
    event_id: str
    target: str
    type: str
    conversation_id: str
    payload: dict[str, Any]
    created_at: float
    state: OutboxState
    # attempts so far (a claim counts one)
    attempts: int = 0
    due: float | None = None
    last_error: str = ""
    delivered_at: float | None = None


class IdempotencyRecord(msgspec.Struct, kw_only=True, frozen=True):
    """The first request made with an Idempotency-Key, and what it answered."""

    scope: str
    key: str
    fingerprint: str
    # 0 while the first request runs
    status: int
    body: str
    created_at: float
    expires_at: float
