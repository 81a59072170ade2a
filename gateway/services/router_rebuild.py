"""The router's state rebuilt from the store: at start, on election, after a
configuration change, and after a store failure left the router and the store apart
(routing.md, "Rebuild")."""

from __future__ import annotations

import logging

import msgspec

import routing as r
from gateway.model.records import OPEN_STATES, Conversation, Touchpoint
from gateway.ports.presence import Presence
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from routing.model import ConversationState as RouterState

log = logging.getLogger("gateway.router")


async def build_router(
    router: r.Router, directory: Directory, presence: Presence, store: Store, now: float
) -> tuple[r.Router, list[r.Decision]]:
    """``router`` (empty) fed the configuration, the agents' presence and the open
    conversations, and the decisions restoring them took (a waiting conversation may be
    offered at once)."""
    decisions: list[r.Decision] = []
    # A record the router refuses (written before a rule existed, or by hand) is left
    # out with a log line rather than keeping the whole gateway down.
    for touchpoint in directory.touchpoints.values():
        decisions += _feed(router, _touchpoint_event(touchpoint), now)
    for agent in directory.agents.values():
        if agent.active:
            decisions += _feed(
                router, r.AgentUpserted(agent.id, list(agent.queue_ids), agent.role), now
            )
    statuses = await presence.statuses()
    for agent_id in await presence.online("agent"):
        known = directory.agents.get(agent_id)
        if known is not None and known.active:
            decisions += _feed(
                router, r.AgentStatusChanged(agent_id, statuses.get(agent_id, "available")), now
            )
    # Owned conversations first, then waiting ones: capacity is taken before the router
    # re-dispatches what waits. Conversations created but not routed yet ("new") arrive
    # last, through the flow, as they would have.
    convs = await store.list_conversations(states=list(OPEN_STATES))
    order = {"assigned": 0, "wrapup": 0, "bot": 1, "waiting": 1, "offered": 1, "new": 2}
    convs.sort(key=lambda c: order[c.state])
    # Agents deactivated (or deleted) while they held conversations, or kept a dedicated
    # backlog: known to the router for the restore, then removed, so that the router
    # does what it does for a removed agent (theirs back to the queue, wrap-ups closed,
    # the backlog to the Inbox) and the effects write it down; left out, their
    # conversations were refused and reached no one.
    gone = sorted(
        {aid for c in convs if (aid := _held_by(c, directory))}
        - {a.id for a in directory.agents.values() if a.active}
    )
    for aid in gone:
        known = directory.agents.get(aid)
        decisions += _feed(
            router,
            r.AgentUpserted(
                aid, list(known.queue_ids) if known else [], known.role if known else "agent"
            ),
            now,
        )
    for conv in convs:
        tp = directory.touchpoints.get(conv.touchpoint_id)
        # No message yet: its first one routes it, unless an escalated transcript is
        # what the agent answers (routed when stored; the node may have died between).
        if (
            conv.state == "new"
            and not conv.last_seq
            and not routed_at_start(conv)
            and not await store.get_transcript(conv.id)
        ):
            continue
        if tp is not None:
            decisions += _feed(router, _restored(conv, tp), now)
            if conv.state == "new" and conv.owner_agent_id and router.conversation(conv.id) is None:
                # An agent's start a node died in (the row written, not theirs yet) that
                # the router refuses now (they are offline, as after a restart, or
                # full): closed, as the start closes it on a refusal. Nothing was sent;
                # the agent's retry starts it anew (left open, it kept the address).
                await store.update_conversation(conv.id, state="closed", closed_at=now)
    for aid in gone:
        decisions += _feed(router, r.AgentRemoved(aid), now)
    return router, decisions


def _held_by(conv: Conversation, directory: Directory) -> str | None:
    """The agent a restored conversation names: its owner, or its dedicated agent."""
    if conv.state in ("assigned", "wrapup"):
        return conv.owner_agent_id
    tp = directory.touchpoints.get(conv.touchpoint_id)
    if conv.dedicated and tp is not None and tp.routing_mode == "dedicated":
        return tp.dedicated_agent_id
    return None


def _feed(router: r.Router, event: r.Event, now: float) -> list[r.Decision]:
    try:
        return router.handle(event, now)
    except r.RoutingError as exc:
        log.error("ignoring %s: %s", type(event).__name__, exc)
        return []


def _touchpoint_event(tp: Touchpoint) -> r.TouchpointUpserted:
    return r.TouchpointUpserted(
        touchpoint_id=tp.id,
        channel=tp.channel,
        routing_mode=tp.routing_mode,
        queue_ids=list(tp.queue_ids),
        dedicated_agent_id=tp.dedicated_agent_id,
        flow=msgspec.convert(tp.flow, r.FlowConfig) if tp.flow else None,
    )


_RESTORE_STATE: dict[str, RouterState] = {
    "bot": "bot",
    "waiting": "waiting",
    "offered": "waiting",
    "assigned": "assigned",
    "wrapup": "wrapup",
}


def routed_at_start(conv: Conversation) -> bool:
    """Whether a conversation is routed when it starts rather than by its first message:
    the company's side started it (outbound), or for an agent."""
    return conv.direction == "outbound" or bool(conv.owner_agent_id)


def arrival(conv: Conversation) -> r.ConversationArrived:
    """A new conversation's arrival (an outbound one started by an agent names them; a
    message left for later is held)."""
    return r.ConversationArrived(
        conv.id,
        conv.touchpoint_id,
        conv.channel,
        dict(conv.fields),
        agent_id=conv.owner_agent_id if conv.owner_agent_id else msgspec.UNSET,
        hold=conv.left_message,
    )


def _restored(conv: Conversation, tp: Touchpoint) -> r.Event:
    if conv.state == "new":
        return arrival(conv)
    # An offer does not survive a rebuild: the conversation waits and is offered again.
    return r.ConversationRestored(
        conversation_id=conv.id,
        touchpoint_id=conv.touchpoint_id,
        channel=conv.channel,
        state=_RESTORE_STATE[conv.state],
        queue_ids=list(conv.queue_ids),
        priority=conv.priority,
        arrived_at=conv.arrived_at,
        # a dedicated touchpoint's conversation sent back, moved or transferred is the
        # router's simplified one (Router._requeue, _move, _transfer), as stored
        mode="simplified"
        if tp.routing_mode == "dedicated" and not conv.dedicated
        else tp.routing_mode,
        acceptance=conv.acceptance,
        owner_agent_id=conv.owner_agent_id,
        weight=conv.weight or None,
        dedicated_agent_id=tp.dedicated_agent_id if conv.dedicated else None,
        bot_id=conv.bot_id if conv.state == "bot" else msgspec.UNSET,
        bot_until=conv.bot_until
        if conv.state == "bot" and conv.bot_until is not None
        else msgspec.UNSET,
    )
