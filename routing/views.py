"""Read-only views returned by the router's queries."""

from __future__ import annotations

import msgspec

from routing.model import Acceptance, ConversationState, Role, RoutingMode, Status


class ConversationView(msgspec.Struct, frozen=True):
    conversation_id: str
    touchpoint_id: str
    channel: str
    state: ConversationState
    queue_ids: list[str]
    priority: int
    arrived_at: float
    mode: RoutingMode
    acceptance: Acceptance
    dedicated: bool
    dedicated_agent_id: str | None
    owner_agent_id: str | None
    weight: int | None
    offer_agent_id: str | None
    offer_expires_at: float | None
    cooldowns: dict[str, float]  # agent id → until when it is not offered this again
    bot_id: str | None = None  # state "bot": the bot that holds it
    bot_until: float | None = None  # and when it hands it over at the latest


class AgentView(msgspec.Struct, frozen=True):
    agent_id: str
    role: Role
    status: Status
    queue_ids: list[str]
    load_points: int  # held by assigned conversations
    reserved_points: int  # held by open offers
    capacity_left: int
    idle_since: float


class Availability(msgspec.Struct, frozen=True):
    """Whether a contact arriving now on a touchpoint could be answered (``availability``).

    ``acceptance``, ``queue_ids``: how and where a conversation arriving now without form
    fields would be routed; ``open``: what the flow's calendar says (None without one),
    ``opens_at`` the next opening when closed (within two weeks); ``agents_available``:
    an available agent is in one of those queues; ``room``: one of them has room for the
    channel's weight now; ``bot``: the bot the flow hands such a conversation to first
    (it answers whatever the agents' state)."""

    touchpoint_id: str
    acceptance: Acceptance
    queue_ids: list[str]
    open: bool | None
    opens_at: float | None
    agents_available: bool
    room: bool
    bot: str | None = None
