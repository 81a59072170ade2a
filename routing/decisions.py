"""Decisions: what the router tells the gateway to do, in order. A tagged union of frozen
msgspec Structs like the events (``msgspec.json.decode(data, type=Decision)``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from routing.model import Acceptance, HandoverReason, RoutingMode

WithdrawReason = Literal[
    "rejected",
    "expired",
    "agent_away",
    "agent_offline",
    "agent_removed",
    "assigned_elsewhere",
    "contact_ended",
    "moved",  # a supervisor moved it to another queue
]
# "moved": a supervisor moved an unassigned conversation to another queue (nobody held it)
RequeueReason = Literal["sent_to_inbox", "transferred", "agent_offline", "agent_removed", "moved"]
AssignHow = Literal["assign", "accept", "auto", "dedicated", "transfer", "outbound"]
SoundEvent = Literal["offered", "auto_assigned", "transferred"]
# Who ended a conversation: its agent, its contact, or the gateway after a time without
# messages (events.ContactEnded).
EndedBy = Literal["agent", "contact", "idle"]


class _Decision(msgspec.Struct, frozen=True, tag=True):
    pass


class Queued(_Decision, frozen=True):
    """How an arrival was routed: its labels, priority, acceptance, and the flow rule that
    matched (None: the default outcome or a non-flow mode). ``bot_id``: it is with that
    bot until ``bot_until`` at the latest (no agent sees it meanwhile)."""

    conversation_id: str
    queue_ids: list[str]
    priority: int
    acceptance: Acceptance
    mode: RoutingMode
    rule: str | None = None
    dedicated_agent_id: str | None = None
    bot_id: str | None = None
    bot_until: float | None = None


class BotReleased(_Decision, frozen=True):
    """The bot let the conversation go; it waits for the agents from ``arrived_at`` (the
    handover) in ``queue_ids`` (what follows says whether someone takes it at once)."""

    conversation_id: str
    bot_id: str
    reason: HandoverReason
    queue_ids: list[str]
    arrived_at: float


class Offered(_Decision, frozen=True):
    conversation_id: str
    agent_id: str
    expires_at: float
    weight: int


class OfferWithdrawn(_Decision, frozen=True):
    conversation_id: str
    agent_id: str
    reason: WithdrawReason


class Assigned(_Decision, frozen=True):
    """The agent now owns the conversation; ``weight`` points are held until it ends.
    ``from_agent_id`` is the previous owner on a transfer. ``dedicated``: it is its
    dedicated agent's (whether routed there, assigned or started by that agent)."""

    conversation_id: str
    agent_id: str
    weight: int
    how: AssignHow
    from_agent_id: str | None = None
    dedicated: bool = False


class Requeued(_Decision, frozen=True):
    """Back to waiting, at its original place (arrival time). ``from_agent_id`` is who
    held it; empty for a conversation a supervisor moved while it waited or rang
    (reason ``moved``)."""

    conversation_id: str
    from_agent_id: str
    queue_ids: list[str]
    reason: RequeueReason


class AutoReply(_Decision, frozen=True):
    conversation_id: str
    text: str


class Ended(_Decision, frozen=True):
    """Wrap-up begins; the agent's capacity is freed. ``by``: who ended it."""

    conversation_id: str
    agent_id: str
    by: EndedBy = "agent"


class Closed(_Decision, frozen=True):
    """The conversation leaves the router. ``agent_id`` is empty when nobody held it (its
    contact ended it while it waited or was with a bot: ``by`` says so, and it had no
    wrap-up)."""

    conversation_id: str
    agent_id: str
    notes: str
    disposition: str | None
    by: EndedBy = "agent"


class InboxVisibility(_Decision, frozen=True):
    """The conversation entered (visible) or left (not visible) the Inbox. Who sees it:
    members of ``queue_ids`` and every supervisor/admin; when ``agent_id`` is set (a
    dedicated conversation waiting for its agent) only that agent and supervisors/admins.
    One decision per conversation rather than per agent keeps the cost O(1) however big
    the queue: the gateway fans it out by queue."""

    conversation_id: str
    visible: bool
    queue_ids: list[str]
    priority: int
    arrived_at: float
    agent_id: str | None = None


class Sound(_Decision, frozen=True):
    agent_id: str
    event: SoundEvent
    conversation_id: str


Decision = (
    Queued
    | BotReleased
    | Offered
    | OfferWithdrawn
    | Assigned
    | Requeued
    | AutoReply
    | Ended
    | Closed
    | InboxVisibility
    | Sound
)
