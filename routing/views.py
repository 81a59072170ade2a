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
