"""Events: everything the gateway tells the router. A tagged union of frozen msgspec
Structs (tag = class name in the ``type`` field), so events serialise as they are and can be
forwarded between nodes: ``msgspec.json.decode(data, type=Event)``."""

from __future__ import annotations

from typing import Literal

import msgspec

from routing.flow import FlowConfig
from routing.model import Acceptance, ConversationState, Role, RoutingMode, Status


class _Event(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    pass


class AgentUpserted(_Event, frozen=True):
    """Creates an agent (offline, empty) or changes its queues and role."""

    agent_id: str
    queue_ids: list[str] = []
    role: Role = "agent"


class AgentRemoved(_Event, frozen=True):
    agent_id: str


class AgentStatusChanged(_Event, frozen=True):
    agent_id: str
    status: Status


class TouchpointUpserted(_Event, frozen=True):
    """Changes apply to new conversations only."""

    touchpoint_id: str
    channel: str
    routing_mode: RoutingMode
    queue_ids: list[str] = []
    dedicated_agent_id: str | None = None
    flow: FlowConfig | None = None


class TouchpointRemoved(_Event, frozen=True):
    touchpoint_id: str


class ChannelWeightChanged(_Event, frozen=True):
    channel: str
    weight: int


class ConversationArrived(_Event, frozen=True, omit_defaults=True):
    """``hold``: the contact asked to be answered later (a message left while nobody
    could answer): it waits in the Inbox, rings no one, and gets no automatic reply.
    Defaults are left out of its encoding, so an arrival without ``hold`` reads the same
    to a node that predates the field."""

    conversation_id: str
    touchpoint_id: str
    channel: str
    fields: dict[str, str] = {}
    hold: bool = False


class Assign(_Event, frozen=True):
    """An agent takes a conversation from their Inbox."""

    conversation_id: str
    agent_id: str


class AgentStarted(_Event, frozen=True):
    """An agent starts a conversation with a contact (an outbound SMS, email, WhatsApp
    template): it is theirs at once, never in the Inbox. Refused like an Assign when the
    agent is offline or has no room for it."""

    conversation_id: str
    touchpoint_id: str
    channel: str
    agent_id: str


class Accept(_Event, frozen=True):
    conversation_id: str
    agent_id: str


class Reject(_Event, frozen=True):
    conversation_id: str
    agent_id: str


class Transfer(_Event, frozen=True):
    """``agent_id`` is who acts (the owner, or a supervisor/admin); exactly one target."""

    conversation_id: str
    agent_id: str
    to_agent_id: str | None = None
    to_queue_id: str | None = None


class SendToInbox(_Event, frozen=True):
    conversation_id: str
    agent_id: str


class End(_Event, frozen=True):
    conversation_id: str
    agent_id: str


class WrapUp(_Event, frozen=True):
    conversation_id: str
    agent_id: str
    notes: str = ""
    disposition: str | None = None


class ContactEnded(_Event, frozen=True):
    """The contact ended the conversation (``by="contact"``), or the gateway closed it
    after a time without messages (``by="idle"``). Unassigned, it closes at once;
    assigned, its owner's wrap-up begins and the points are freed."""

    conversation_id: str
    by: Literal["contact", "idle"] = "contact"


class Tick(_Event, frozen=True):
    """Time passed: expire offers, end cooldowns, re-dispatch."""


class ConversationRestored(_Event, frozen=True):
    """A conversation's persisted state, to rebuild a router without replaying history.
    Restore agents (and their status) and touchpoints first, then conversations.
    ``owner_agent_id`` and ``weight`` are required for assigned and wrapup (the owner
    who ended it); ``offer_*`` for offered; ``dedicated_agent_id`` for dedicated mode;
    ``cooldowns`` maps agent id → time until which it is not offered again."""

    conversation_id: str
    touchpoint_id: str
    channel: str
    state: ConversationState
    queue_ids: list[str]
    priority: int
    arrived_at: float
    mode: RoutingMode
    acceptance: Acceptance = "manual"
    owner_agent_id: str | None = None
    weight: int | None = None
    dedicated_agent_id: str | None = None
    offer_agent_id: str | None = None
    offer_expires_at: float | None = None
    cooldowns: dict[str, float] = {}


Event = (
    AgentUpserted
    | AgentRemoved
    | AgentStatusChanged
    | TouchpointUpserted
    | TouchpointRemoved
    | ChannelWeightChanged
    | ConversationArrived
    | AgentStarted
    | Assign
    | Accept
    | Reject
    | Transfer
    | SendToInbox
    | End
    | WrapUp
    | ContactEnded
    | Tick
    | ConversationRestored
)
