"""Events: everything the gateway tells the router. A tagged union of frozen msgspec
Structs (tag = class name in the ``type`` field), so events serialise as they are and can be
forwarded between nodes: ``msgspec.json.decode(data, type=Event)``."""

from __future__ import annotations

from typing import Literal

import msgspec

from routing.flow import UNSET, FlowConfig, UnsetType
from routing.model import (
    Acceptance,
    ConversationState,
    HandoverReason,
    Role,
    RoutingMode,
    Status,
)


class _Event(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True, gc=False):
    """Events are data: out of the garbage collector's walks (gc=False), as the
    gateway's records and frames are."""


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
    """A new conversation. ``agent_id``: an outbound conversation started by or for this
    agent, assigned to them at once (refused if they are offline or it does not fit);
    otherwise the touchpoint's routing places it (a flow may hand it to a bot first).
    ``hold``: the contact asked to be answered later (a message left while nobody could
    answer): it waits in the Inbox, rings no one, and gets no automatic reply. Defaults
    are left out of its encoding, so an arrival without ``hold`` or ``agent_id`` reads
    the same to a node that predates the field."""

    conversation_id: str
    touchpoint_id: str
    channel: str
    fields: dict[str, str] = {}
    agent_id: str | UnsetType = UNSET
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


class BotHandover(_Event, frozen=True):
    """The conversation's bot lets it go to the agents: ``escalated`` (the bot asked),
    ``contact_asked`` (for a person), ``timeout`` (the Tick does this one itself) or
    ``transferred`` (to a named queue or agent). It waits from now, in its queues or
    ``to_queue_id``; with ``to_agent_id`` it is that agent's at once (not offline,
    must fit)."""

    conversation_id: str
    reason: HandoverReason
    to_queue_id: str | None = None
    to_agent_id: str | None = None


class ContactEnded(_Event, frozen=True):
    """The contact ended the conversation (``by="contact"``), or the gateway closed it
    after a time without messages (``by="idle"``). Unassigned (with a bot, waiting or
    offered), it closes at once; assigned, its owner's wrap-up begins and the points are
    freed. A third party closing through the integration API sends this too."""

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
    # state "bot": whose it is and until when (left out of the encoding when unset)
    bot_id: str | UnsetType = UNSET
    bot_until: float | UnsetType = UNSET


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
    | BotHandover
    | ContactEnded
    | Tick
    | ConversationRestored
)
