"""Shared helpers for the router tests: a small world, and the invariants checked by brute
force against the router's internals (so they do not trust its indexes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from routing import (
    AgentStatusChanged,
    AgentUpserted,
    Assigned,
    Condition,
    Decision,
    Event,
    FlowConfig,
    Offered,
    Outcome,
    Router,
    RouterConfig,
    Rule,
    TouchpointUpserted,
)
from routing.model import RoutingMode

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC

# The gateway's channel definitions as the router sees them: chat is flow only, only SMS
# has dedicated numbers.
CHANNEL_MODES: dict[str, list[RoutingMode]] = {
    "chat": ["flow"],
    "sms": ["simplified", "dedicated", "flow"],
    "whatsapp": ["simplified", "flow"],
    "messenger": ["simplified", "flow"],
    "email": ["simplified", "flow"],
    "api": ["simplified", "flow"],
    "voice": ["simplified", "flow"],
}


def world(config: RouterConfig | None = None, available: Iterable[str] = ()) -> Router:
    """ann: sales; bob: sales+support; cat: support; sue: supervisor (no queue).
    Touchpoints: web (chat flow → sales, manual), auto (chat flow → support, auto-accept),
    sms (simplified → sales), ann-sms (dedicated to ann, labelled sales),
    phone (voice flow → sales), vip (chat flow, rule on the form's tier field)."""
    r = Router(config)
    setup: list[Event] = [
        AgentUpserted("ann", ["sales"]),
        AgentUpserted("bob", ["sales", "support"]),
        AgentUpserted("cat", ["support"]),
        AgentUpserted("sue", [], role="supervisor"),
        TouchpointUpserted("web", "chat", "flow", ["sales"]),
        TouchpointUpserted(
            "auto", "chat", "flow", ["support"], flow=FlowConfig(default=Outcome(acceptance="auto"))
        ),
        TouchpointUpserted("sms", "sms", "simplified", ["sales"]),
        TouchpointUpserted("ann-sms", "sms", "dedicated", ["sales"], dedicated_agent_id="ann"),
        TouchpointUpserted("phone", "voice", "flow", ["sales"]),
        TouchpointUpserted(
            "vip",
            "chat",
            "flow",
            ["sales"],
            flow=FlowConfig(
                rules=[Rule(Condition(fields={"tier": ["gold"]}), Outcome(priority=5), "gold")],
                default=Outcome(auto_reply="All our agents are busy; we will be with you shortly."),
            ),
        ),
    ]
    setup += [AgentStatusChanged(a, "available") for a in available]
    for ev in setup:
        r.handle(ev, T0)
    return r


def kinds(decisions: list[Decision]) -> list[str]:
    return [type(d).__name__ for d in decisions]


def only(decisions: list[Decision], kind: type[Any]) -> list[Any]:
    return [d for d in decisions if isinstance(d, kind)]


def check_invariants(r: Router) -> None:
    convs, agents = r._convs, r._agents
    waiting = 0
    for a in agents.values():
        owned = [convs[c] for c in a.owned]
        assert all(c.owner == a.agent_id for c in owned)
        load = sum(c.weight or 0 for c in owned if c.state == "assigned")
        reserved = sum(convs[c].weight or 0 for c in a.offers)
        assert (a.load, a.reserved) == (load, reserved), a.agent_id
        assert load + reserved <= 100, f"{a.agent_id} over capacity"
        for cid in a.offers:
            assert convs[cid].offer_agent == a.agent_id
    for c in convs.values():
        owners = [a for a in agents.values() if c.conversation_id in a.owned]
        offers = [a for a in agents.values() if c.conversation_id in a.offers]
        assert len(owners) <= 1 and len(offers) <= 1, c.conversation_id
        assert (c.state == "offered") == bool(offers) == (c.offer_agent is not None)
        assert (c.state in ("assigned", "wrapup")) == bool(owners) == (c.owner is not None)
        waiting += c.state == "waiting"
        if c.state == "bot":
            # with its bot: nobody's work, in no Inbox, its deadline in the heap
            assert c.bot and c.bot_until is not None and not owners and not offers
            lists = [q.inbox for q in r._queues.values()] + [r._orphans]
            lists += [w for q in r._queues.values() for w in q.waiting.values()]
            lists += [a.backlog for a in agents.values()]
            assert all(c.key not in lst for lst in lists), f"{c.conversation_id} is listed"
            assert (c.bot_until, c.conversation_id) in r._bot_heap
        else:
            assert c.bot is None and c.bot_until is None
        assert not (c.acceptance == "hold" and c.state == "offered"), "a held one rang"
        if c.state != "waiting":
            continue
        weight = r.weight(c.channel)
        if c.mode == "flow" and c.acceptance != "hold":  # held ones wait for Assign
            for a in agents.values():
                eligible = (
                    a.status == "available"
                    and not a.queue_set.isdisjoint(c.queue_ids)
                    and a.free >= weight
                    and a.agent_id not in c.cooldown
                )
                assert not eligible, f"{a.agent_id} idles while {c.conversation_id} waits"
        elif c.mode == "dedicated":
            a = agents[c.dedicated_agent or ""]
            head = convs[a.backlog[0][3]]
            assert a.status == "offline" or r.weight(head.channel) > a.free, (
                f"dedicated {c.conversation_id} waits while {a.agent_id} could take it"
            )
    assert r.waiting_count() == waiting
    check_lists(r)


def check_lists(r: Router) -> None:
    """Each unassigned conversation is in exactly the Inbox lists of its queues (or its
    agent's backlog, or the orphans) and, waiting to be routed, exactly its queues'
    waiting lists of its channel; nothing else is listed anywhere."""
    inboxes = {("inbox", qid): q.inbox for qid, q in r._queues.items()}
    inboxes[("orphans", "")] = r._orphans
    inboxes.update({("backlog", aid): a.backlog for aid, a in r._agents.items()})
    waits = {
        (qid, channel): lst for qid, q in r._queues.items() for channel, lst in q.waiting.items()
    }
    listed_in: dict[str, set[Any]] = {}
    waiting_in: dict[str, set[Any]] = {}
    for name, lst in inboxes.items():
        for key in lst:
            listed_in.setdefault(key[3], set()).add(name)
    for name, lst in waits.items():
        for key in lst:
            waiting_in.setdefault(key[3], set()).add(name)
    for c in r._convs.values():
        inbox: set[Any] = set()
        routed: set[Any] = set()
        if c.state in ("waiting", "offered"):
            if c.mode == "dedicated":
                inbox = {("backlog", c.dedicated_agent)}
            elif c.queue_ids:
                inbox = {("inbox", qid) for qid in c.queue_ids}
            else:
                inbox = {("orphans", "")}
            if c.state == "waiting" and c.mode == "flow" and c.acceptance != "hold":
                routed = {(qid, c.channel) for qid in c.queue_ids}
        assert listed_in.pop(c.conversation_id, set()) == inbox, c.conversation_id
        assert waiting_in.pop(c.conversation_id, set()) == routed, c.conversation_id
        assert all(c.key in inboxes[n] for n in inbox) and all(c.key in waits[n] for n in routed)
    assert not listed_in and not waiting_in, (listed_in, waiting_in)


def check_service_order(r: Router, decisions: list[Decision]) -> None:
    """Whatever the router handed an agent, no better-placed waiting conversation that
    agent could have taken instead was left waiting."""
    convs, agents = r._convs, r._agents
    for dec in decisions:
        if isinstance(dec, Offered) or (isinstance(dec, Assigned) and dec.how == "auto"):
            given = convs.get(dec.conversation_id)
            a = agents.get(dec.agent_id)
            if given is None or a is None:
                continue
            assert dec.agent_id not in given.cooldown, f"{dec.agent_id} is cooling down"
            for c in convs.values():
                if c.state != "waiting" or c.mode != "flow" or c.key >= given.key:
                    continue
                if c.acceptance == "hold":
                    continue
                could = (
                    not a.queue_set.isdisjoint(c.queue_ids)
                    and a.agent_id not in c.cooldown
                    and r.weight(c.channel) <= a.free + dec.weight
                    and a.status == "available"
                )
                assert not could, (
                    f"{dec.agent_id} got {given.conversation_id} before {c.conversation_id}"
                )
