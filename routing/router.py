"""The router: one synchronous state machine driven by ``handle(event, now)``.

Every handler validates the whole event first and raises a ``RoutingError`` before it
changes anything; then it mutates and appends decisions. After the handler, ``_dispatch``
brings the state back to its fixpoint: every agent whose capacity grew takes the best work
it can (dedicated backlog first, then the highest priority, oldest conversation of its
queues), then every conversation that became waiting is placed with the best agent (least
loaded, then longest idle, then agent id). docs/routing.md explains the rules.

Indexes (all kept in step by the few helpers below, never touched elsewhere):
- per queue, ``avail``: keys (points, idle_since, agent_id) of its available members;
- per queue, ``inbox``: keys of unassigned conversations labelled with it (service order);
- per queue and channel, ``waiting``: keys of flow conversations waiting for an agent;
- per agent, ``backlog``: dedicated conversations waiting for that agent;
- heaps of offer expiries, cooldown ends and bot deadlines, cleaned lazily.
A conversation a flow handed to a bot first is in state "bot": in no index but the
bot-deadline heap, using no capacity, until it is handed over (then it waits from the
handover, as a new arrival would).
A conversation key is (-priority, arrived_at, seq, conversation_id): sorting it is
service order, priority first, then arrival.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from routing import decisions as d
from routing import events as e
from routing._sorted import SortedList
from routing.errors import (
    AgentUnavailable,
    AlreadyAssigned,
    AlreadyEnded,
    ConversationExists,
    InvalidRestore,
    InvalidTouchpoint,
    InvalidTransfer,
    NotAssigned,
    NotInWrapUp,
    NotOffered,
    NotOwner,
    NotVisible,
    NotWithBot,
    OfferExpired,
    OverCapacity,
    UnknownAgent,
    UnknownConversation,
    UnknownTouchpoint,
    WithBot,
)
from routing.flow import CompiledFlow, FlowConfig, Routing
from routing.model import (
    CAPACITY,
    SUPERVISING_ROLES,
    VOICE,
    VOICE_WEIGHT,
    Acceptance,
    ConversationState,
    HandoverReason,
    Role,
    RouterConfig,
    RoutingMode,
    Status,
    check_transition,
    check_weight,
    describe_modes,
)
from routing.state import AgentRecord, RouterState
from routing.views import AgentView, Availability, ConversationView

Key = tuple[int, float, int, str]  # (-priority, arrived_at, seq, conversation_id)
AgentKey = tuple[int, float, str]  # (points held, idle_since, agent_id)


class _Agent:
    __slots__ = (
        "agent_id",
        "backlog",
        "cooldowns",
        "idle_since",
        "key",
        "load",
        "offers",
        "owned",
        "queue_ids",
        "queue_set",
        "reserved",
        "role",
        "status",
    )

    def __init__(self, agent_id: str, queue_ids: tuple[str, ...], role: Role) -> None:
        self.agent_id = agent_id
        self.queue_ids = queue_ids
        self.queue_set = frozenset(queue_ids)
        self.role: Role = role
        self.status: Status = "offline"
        self.idle_since = 0.0
        self.load = 0  # points of assigned conversations
        self.reserved = 0  # points of open offers
        self.key: AgentKey | None = None  # its entry in the queues' avail lists, if any
        self.owned: set[str] = set()  # assigned and in wrap-up
        self.offers: set[str] = set()
        self.cooldowns: set[str] = set()  # conversations not to be offered to it for now
        self.backlog: SortedList[Key] = SortedList()  # dedicated, waiting for it

    @property
    def free(self) -> int:
        return CAPACITY - self.load - self.reserved


class _Conversation:
    __slots__ = (
        "acceptance",
        "arrived_at",
        "bot",
        "bot_until",
        "channel",
        "conversation_id",
        "cooldown",
        "dedicated_agent",
        "key",
        "mode",
        "offer_agent",
        "offer_expires",
        "owner",
        "priority",
        "queue_ids",
        "state",
        "touchpoint_id",
        "weight",
    )

    def __init__(
        self,
        cid: str,
        touchpoint_id: str,
        channel: str,
        routing: Routing,
        mode: RoutingMode,
        arrived_at: float,
        seq: int,
    ) -> None:
        self.conversation_id = cid
        self.touchpoint_id = touchpoint_id
        self.channel = channel
        self.queue_ids = routing.queue_ids
        self.priority = routing.priority
        self.acceptance: Acceptance = routing.acceptance
        self.mode: RoutingMode = mode
        self.arrived_at = arrived_at
        self.key: Key = (-routing.priority, arrived_at, seq, cid)
        self.state: ConversationState = "waiting"
        self.owner: str | None = None
        self.weight: int | None = None  # taken at offer/assignment, kept until the end
        self.dedicated_agent: str | None = None
        self.offer_agent: str | None = None
        self.offer_expires: float | None = None
        self.cooldown: dict[str, float] = {}  # agent id → until
        self.bot: str | None = None  # state "bot": the bot holding it, until bot_until
        self.bot_until: float | None = None


class _Queue:
    __slots__ = ("avail", "inbox", "waiting")

    def __init__(self) -> None:
        self.avail: SortedList[AgentKey] = SortedList()
        self.inbox: SortedList[Key] = SortedList()
        self.waiting: dict[str, SortedList[Key]] = {}


class _Touchpoint:
    __slots__ = ("event", "flow")

    def __init__(self, event: e.TouchpointUpserted, flow: CompiledFlow | None) -> None:
        self.event = event
        self.flow = flow


def _supervises(agent: _Agent) -> bool:
    return agent.role in SUPERVISING_ROLES


class Router:
    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = (config or RouterConfig()).validated()
        self._weights = dict(self.config.channel_weights)
        self._agents: dict[str, _Agent] = {}
        self._touchpoints: dict[str, _Touchpoint] = {}
        self._convs: dict[str, _Conversation] = {}
        self._queues: dict[str, _Queue] = {}
        self._orphans: SortedList[Key] = SortedList()  # unassigned, no queue: supervisors only
        self._offer_heap: list[tuple[float, str]] = []  # (expires_at, conversation_id)
        self._cooldown_heap: list[tuple[float, str, str]] = []  # (until, conversation, agent)
        self._bot_heap: list[tuple[float, str]] = []  # (bot_until, conversation_id)
        self._seq = 0
        self._waiting = 0  # conversations in state waiting
        self._now = 0.0
        self._out: list[d.Decision] = []
        self._dirty_agents: set[str] = set()
        self._dirty_convs: set[str] = set()
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            e.AgentUpserted: self._agent_upserted,
            e.AgentRemoved: self._agent_removed,
            e.AgentStatusChanged: self._agent_status,
            e.TouchpointUpserted: self._touchpoint_upserted,
            e.TouchpointRemoved: self._touchpoint_removed,
            e.ChannelWeightChanged: self._weight_changed,
            e.ConversationArrived: self._arrived,
            e.AgentStarted: self._agent_started,
            e.Assign: self._assign_event,
            e.Accept: self._accept,
            e.Reject: self._reject,
            e.Transfer: self._transfer,
            e.SendToInbox: self._send_to_inbox,
            e.End: self._end,
            e.WrapUp: self._wrap_up,
            e.BotHandover: self._bot_handover,
            e.ContactEnded: self._contact_ended,
            e.Tick: self._tick,
            e.ConversationRestored: self._restored,
        }

    # ------------------------------------------------------------------ entry point

    def handle(self, event: e.Event, now: float) -> list[d.Decision]:
        """Apply one event at time ``now`` (seconds, non-decreasing) and return the
        decisions in order. Raises a ``RoutingError`` and changes nothing on bad input."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"not a routing event: {event!r}")
        self._now = float(now)
        out: list[d.Decision] = []
        self._out = out
        handler(event)
        self._dispatch()
        self._prune_heaps()
        return out

    # ------------------------------------------------------------------ queries

    def weight(self, channel: str) -> int:
        return (
            VOICE_WEIGHT
            if channel == VOICE
            else self._weights.get(channel, self.config.default_weight)
        )

    def conversation(self, conversation_id: str) -> ConversationView | None:
        c = self._convs.get(conversation_id)
        if c is None:
            return None
        return ConversationView(
            conversation_id=c.conversation_id,
            touchpoint_id=c.touchpoint_id,
            channel=c.channel,
            state=c.state,
            queue_ids=list(c.queue_ids),
            priority=c.priority,
            arrived_at=c.arrived_at,
            mode=c.mode,
            acceptance=c.acceptance,
            dedicated=c.mode == "dedicated",
            dedicated_agent_id=c.dedicated_agent,
            owner_agent_id=c.owner,
            weight=c.weight,
            offer_agent_id=c.offer_agent,
            offer_expires_at=c.offer_expires,
            cooldowns=dict(sorted(c.cooldown.items())),
            bot_id=c.bot,
            bot_until=c.bot_until,
        )

    def agent(self, agent_id: str) -> AgentView | None:
        a = self._agents.get(agent_id)
        if a is None:
            return None
        return AgentView(
            agent_id=a.agent_id,
            role=a.role,
            status=a.status,
            queue_ids=list(a.queue_ids),
            load_points=a.load,
            reserved_points=a.reserved,
            capacity_left=a.free,
            idle_since=a.idle_since,
        )

    def inbox_for(self, agent_id: str, limit: int | None = None) -> list[str]:
        """Unassigned conversations (waiting or ringing someone) the agent sees, in
        service order: those of its queues and its dedicated backlog; supervisors and
        admins see every one. O(limit · log queues) with a limit."""
        a = self._get_agent(agent_id)
        if _supervises(a):
            lists: list[Iterable[Key]] = [q.inbox for q in self._queues.values()]
            lists.append(self._orphans)
            lists.extend(x.backlog for x in self._agents.values())
        else:
            lists = [self._queues[q].inbox for q in a.queue_ids if q in self._queues]
            lists.append(a.backlog)
        out: list[str] = []
        last: Key | None = None
        for key in heapq.merge(*lists):
            if key != last:  # a conversation in two of the agent's queues shows once
                out.append(key[3])
                if limit is not None and len(out) >= limit:
                    break
            last = key
        return out

    def assigned_to(self, agent_id: str) -> list[str]:
        """The agent's conversations, assigned and in wrap-up, in service order."""
        a = self._get_agent(agent_id)
        return [k[3] for k in sorted(self._convs[cid].key for cid in a.owned)]

    def offers_to(self, agent_id: str) -> list[str]:
        a = self._get_agent(agent_id)
        return [k[3] for k in sorted(self._convs[cid].key for cid in a.offers)]

    def can_see(self, agent_id: str, conversation_id: str) -> bool:
        a = self._agents.get(agent_id)
        c = self._convs.get(conversation_id)
        if a is None or c is None:
            return False
        if _supervises(a) or agent_id in (c.owner, c.offer_agent):
            return True
        if c.state == "bot":
            return False  # with its bot: no agent's list shows it yet
        if c.mode == "dedicated":
            return c.dedicated_agent == agent_id
        return not a.queue_set.isdisjoint(c.queue_ids)

    def availability(
        self, touchpoint_id: str, now: float, fields: dict[str, str] | None = None
    ) -> Availability:
        """Could a contact arriving at ``now`` be answered? Routes a would-be arrival
        (with ``fields``, none by default) through the touchpoint's flow and looks at the
        head of each of its queues' available agents: O(queues). Changes nothing."""
        tp = self._touchpoints.get(touchpoint_id)
        if tp is None:
            raise UnknownTouchpoint(f"no touchpoint {touchpoint_id!r}")
        channel = tp.event.channel
        is_open: bool | None = None
        opens_at: float | None = None
        if tp.flow is not None:
            routing = tp.flow.route(touchpoint_id, channel, fields or {}, now)
            is_open = tp.flow.is_open(now)
            opens_at = tp.flow.next_open(now) if is_open is False else None
        else:
            routing = Routing(tuple(dict.fromkeys(tp.event.queue_ids)))
        limit = CAPACITY - self.weight(channel)
        available = room = False
        for qid in routing.queue_ids:
            q = self._queues.get(qid)
            if q is not None and q.avail:
                available = True
                if q.avail[0][0] <= limit:  # the least loaded member has room
                    room = True
                    break
        return Availability(
            touchpoint_id=touchpoint_id,
            acceptance=routing.acceptance,
            queue_ids=list(routing.queue_ids),
            open=is_open,
            opens_at=opens_at,
            agents_available=available,
            room=room,
            bot=routing.bot,
        )

    def queue_depth(self, queue_id: str) -> tuple[int, float | None]:
        """How many unassigned conversations (waiting or ringing) a queue holds, and the
        earliest arrival among them (None when it holds none)."""
        q = self._queues.get(queue_id)
        if q is None or not q.inbox:
            return 0, None
        return len(q.inbox), min(k[1] for k in q.inbox)

    def next_deadline(self) -> float | None:
        """When the gateway should next send Tick: the earliest offer expiry, cooldown
        end or bot deadline (possibly one already resolved: an early Tick is harmless)."""
        times = [h[0][0] for h in (self._offer_heap, self._cooldown_heap, self._bot_heap) if h]
        return min(times) if times else None

    def waiting_count(self) -> int:
        return self._waiting

    def conversation_ids(self) -> list[str]:
        """Every conversation it holds, in arrival order (``export_state``'s order)."""
        return [c.conversation_id for c in self._in_arrival_order()]

    def agent_ids(self) -> list[str]:
        """Every agent it knows, by id (``export_state``'s order)."""
        return sorted(self._agents)

    def _in_arrival_order(self) -> list[_Conversation]:
        # (arrived_at, seq): arrival order stands in for the sequence numbers
        return sorted(self._convs.values(), key=lambda c: (c.key[1], c.key[2]))

    def __len__(self) -> int:
        return len(self._convs)

    # ------------------------------------------------------------------ export

    def export_state(self) -> RouterState:
        """The whole state as plain records in canonical order (agents and touchpoints by
        id, conversations in arrival order): equal states give equal records.
        ``Router.from_state`` rebuilds an equal router from them."""
        config = msgspec.structs.replace(
            self.config, channel_weights=dict(sorted(self._weights.items()))
        )
        return RouterState(
            config=config,
            agents=[
                AgentRecord(a.agent_id, list(a.queue_ids), a.role, a.status, a.idle_since)
                for a in sorted(self._agents.values(), key=lambda a: a.agent_id)
            ],
            touchpoints=sorted(
                (t.event for t in self._touchpoints.values()), key=lambda t: t.touchpoint_id
            ),
            conversations=[
                e.ConversationRestored(
                    conversation_id=c.conversation_id,
                    touchpoint_id=c.touchpoint_id,
                    channel=c.channel,
                    state=c.state,
                    queue_ids=list(c.queue_ids),
                    priority=c.priority,
                    arrived_at=c.arrived_at,
                    mode=c.mode,
                    acceptance=c.acceptance,
                    owner_agent_id=c.owner,
                    weight=c.weight,
                    dedicated_agent_id=c.dedicated_agent,
                    offer_agent_id=c.offer_agent,
                    offer_expires_at=c.offer_expires,
                    cooldowns=dict(sorted(c.cooldown.items())),
                    bot_id=msgspec.UNSET if c.bot is None else c.bot,
                    bot_until=msgspec.UNSET if c.bot_until is None else c.bot_until,
                )
                for c in self._in_arrival_order()
            ],
        )

    @classmethod
    def from_state(cls, state: RouterState) -> Router:
        """A router equal to the one whose ``export_state`` gave ``state``. Nothing is
        dispatched and no decision made: an exported state is at its fixpoint. Raises a
        ``RoutingError`` on records no router could have exported."""
        router = cls(state.config)
        router._quiet(state.touchpoints)
        for rec in state.agents:
            if rec.agent_id in router._agents:
                raise InvalidRestore(f"agent {rec.agent_id!r} appears twice")
            a = _Agent(rec.agent_id, tuple(dict.fromkeys(rec.queue_ids)), rec.role)
            a.status, a.idle_since = rec.status, float(rec.idle_since)
            router._agents[a.agent_id] = a
            router._index_in(a)
        router._quiet(state.conversations)
        return router

    # ------------------------------------------------------------------ lookups

    def _get_agent(self, agent_id: str) -> _Agent:
        a = self._agents.get(agent_id)
        if a is None:
            raise UnknownAgent(f"no agent {agent_id!r}")
        return a

    def _get_conv(self, conversation_id: str) -> _Conversation:
        c = self._convs.get(conversation_id)
        if c is None:
            raise UnknownConversation(f"no conversation {conversation_id!r}")
        return c

    def _queue(self, queue_id: str) -> _Queue:
        q = self._queues.get(queue_id)
        if q is None:
            q = self._queues[queue_id] = _Queue()
        return q

    def _may_act(self, c: _Conversation, a: _Agent) -> None:
        if c.state == "bot":
            raise WithBot(f"{c.conversation_id} is with the bot {c.bot}")
        if c.state != "assigned":
            raise NotAssigned(f"{c.conversation_id} is {c.state}, not assigned")
        if c.owner != a.agent_id and not _supervises(a):
            raise NotOwner(f"{c.conversation_id} belongs to {c.owner}")

    # ------------------------------------------------------------------ agents

    def _agent_upserted(self, ev: e.AgentUpserted) -> None:
        queues = tuple(dict.fromkeys(ev.queue_ids))
        a = self._agents.get(ev.agent_id)
        if a is None:
            self._agents[ev.agent_id] = _Agent(ev.agent_id, queues, ev.role)
            return
        self._index_out(a)
        a.queue_ids, a.queue_set, a.role = queues, frozenset(queues), ev.role
        self._index_in(a)
        self._dirty_agents.add(a.agent_id)

    def _agent_removed(self, ev: e.AgentRemoved) -> None:
        a = self._get_agent(ev.agent_id)
        self._leave_work(a, "agent_removed")
        for key in list(a.backlog):  # its dedicated backlog falls back to the Inbox
            c = self._convs[key[3]]
            self._hide(c)
            c.mode, c.dedicated_agent = "simplified", None
            self._show(c)
        for cid in sorted(a.owned, key=self._sort_key):
            c = self._convs[cid]
            if c.state == "wrapup":
                self._out.append(d.Closed(cid, a.agent_id, "", None))
                self._drop(c)
            else:
                self._requeue(c, "agent_removed", cooldown=False)
        for cid in a.cooldowns:
            self._convs[cid].cooldown.pop(a.agent_id, None)
        self._index_out(a)
        del self._agents[a.agent_id]
        self._dirty_agents.discard(a.agent_id)

    def _agent_status(self, ev: e.AgentStatusChanged) -> None:
        a = self._get_agent(ev.agent_id)
        old, new = a.status, ev.status
        if old == new:
            return
        self._index_out(a)
        a.status = new
        if new == "available":
            a.idle_since = self._now
        self._index_in(a)
        if new != "available":
            self._leave_work(a, "agent_away" if new == "away" else "agent_offline")
        if new == "offline":
            # Live conversations must not wait on someone who is gone; dedicated ones stay
            # (they are that agent's by definition, to answer when back).
            for cid in sorted(a.owned, key=self._sort_key):
                c = self._convs[cid]
                if c.state == "assigned" and c.mode != "dedicated":
                    self._requeue(c, "agent_offline", cooldown=False)
        self._dirty_agents.add(a.agent_id)

    def _leave_work(self, a: _Agent, reason: d.WithdrawReason) -> None:
        for cid in sorted(a.offers, key=self._sort_key):
            self._withdraw(self._convs[cid], reason, cooldown=False)

    # ------------------------------------------------------------------ configuration

    def _touchpoint_upserted(self, ev: e.TouchpointUpserted) -> None:
        allowed = self.config.channel_modes.get(ev.channel)
        if allowed is not None and ev.routing_mode not in allowed:
            raise InvalidTouchpoint(
                f"{ev.channel} touchpoints support only {describe_modes(allowed)}"
            )
        if ev.routing_mode == "dedicated" and not ev.dedicated_agent_id:
            raise InvalidTouchpoint("dedicated-agent routing names its agent (dedicated_agent_id)")
        queues = tuple(dict.fromkeys(ev.queue_ids))
        flow = None
        if ev.routing_mode == "flow":
            flow = CompiledFlow(ev.flow or FlowConfig(), queues)
        self._touchpoints[ev.touchpoint_id] = _Touchpoint(ev, flow)

    def _touchpoint_removed(self, ev: e.TouchpointRemoved) -> None:
        if ev.touchpoint_id not in self._touchpoints:
            raise UnknownTouchpoint(f"no touchpoint {ev.touchpoint_id!r}")
        del self._touchpoints[ev.touchpoint_id]

    def _weight_changed(self, ev: e.ChannelWeightChanged) -> None:
        check_weight(ev.channel, ev.weight)
        old = self.weight(ev.channel)
        self._weights[ev.channel] = ev.weight
        if ev.weight < old:  # rare admin action: what waits on this channel may fit now
            # The conversations placed, each to its best agent (the fairness of an
            # arrival), not the agents filled in id order: no agent's room changed.
            for q in self._queues.values():
                self._dirty_convs.update(key[3] for key in q.waiting.get(ev.channel, ()))
            # a dedicated backlog whose head is of this channel
            self._dirty_agents.update(
                a.agent_id
                for a in self._agents.values()
                if a.status != "offline"
                and a.backlog
                and self._convs[a.backlog[0][3]].channel == ev.channel
            )

    # ------------------------------------------------------------------ arrival

    def _arrived(self, ev: e.ConversationArrived) -> None:
        if ev.conversation_id in self._convs:
            raise ConversationExists(f"conversation {ev.conversation_id!r} exists")
        tp = self._touchpoints.get(ev.touchpoint_id)
        if tp is None:
            raise UnknownTouchpoint(f"no touchpoint {ev.touchpoint_id!r}")
        if ev.channel != tp.event.channel:
            raise InvalidTouchpoint(
                f"touchpoint {ev.touchpoint_id} is {tp.event.channel}, not {ev.channel}"
            )
        starter: _Agent | None = None
        if isinstance(ev.agent_id, str):  # outbound, by or for this agent
            starter = self._get_agent(ev.agent_id)
            if starter.status == "offline":
                raise AgentUnavailable(f"{starter.agent_id} is offline")
            if self.weight(ev.channel) > starter.free:
                raise OverCapacity(
                    f"{starter.agent_id} has {starter.free} points left, "
                    f"needs {self.weight(ev.channel)}"
                )
        mode = tp.event.routing_mode
        if tp.flow is not None:
            routing = tp.flow.route(
                ev.touchpoint_id, ev.channel, ev.fields, self._now, ev.conversation_id
            )
        else:
            routing = Routing(tuple(dict.fromkeys(tp.event.queue_ids)))
        if ev.hold and mode != "dedicated":
            routing = msgspec.structs.replace(routing, acceptance="hold")
        dedicated = (
            self._agents.get(tp.event.dedicated_agent_id or "") if mode == "dedicated" else None
        )
        if mode == "dedicated" and dedicated is None:
            mode = "simplified"  # its agent was removed: fall back to the Inbox
        if starter is not None and dedicated is not None and dedicated is not starter:
            # someone else's dedicated number: the one who starts it holds it, as a
            # transfer would leave it (simplified)
            mode, dedicated = "simplified", None
        self._seq += 1
        c = _Conversation(
            ev.conversation_id, ev.touchpoint_id, ev.channel, routing, mode, self._now, self._seq
        )
        self._convs[c.conversation_id] = c
        # A message left for later waits for a person: no bot answers it.
        bot = routing.bot if starter is None and not ev.hold else None
        if bot is not None:
            c.state, c.bot, c.bot_until = "bot", bot, self._now + routing.bot_timeout
            heapq.heappush(self._bot_heap, (c.bot_until, c.conversation_id))
        self._out.append(
            d.Queued(
                c.conversation_id,
                list(c.queue_ids),
                c.priority,
                c.acceptance,
                mode,
                routing.rule,
                dedicated.agent_id if dedicated else None,
                bot,
                c.bot_until,
            )
        )
        if starter is not None:
            c.dedicated_agent = dedicated.agent_id if dedicated else None
            self._take(c, starter, "outbound", fresh=True)
            return
        if bot is not None:
            return  # nobody sees it until the bot lets it go
        if dedicated is not None:
            c.dedicated_agent = dedicated.agent_id
            if (
                not dedicated.backlog
                and dedicated.status != "offline"
                and self.weight(c.channel) <= dedicated.free
            ):
                self._take(c, dedicated, "dedicated", fresh=True)
                return
        self._show(c)
        self._enter_waiting(c)
        if mode == "flow":
            # The state was at its fixpoint, so placing the newcomer now is what a full
            # dispatch would do; doing it here tells us whether to auto-reply. A held one
            # is never placed; a contact who asked to be answered later knows already.
            self._dirty_convs.discard(c.conversation_id)
            if c.acceptance != "hold":
                self._place(c)
            if c.state == "waiting" and routing.auto_reply and not ev.hold:
                self._out.append(d.AutoReply(c.conversation_id, routing.auto_reply))

    # ------------------------------------------------------------------ agent actions

    def _agent_started(self, ev: e.AgentStarted) -> None:
        if ev.conversation_id in self._convs:
            raise ConversationExists(f"conversation {ev.conversation_id!r} exists")
        tp = self._touchpoints.get(ev.touchpoint_id)
        if tp is None:
            raise UnknownTouchpoint(f"no touchpoint {ev.touchpoint_id!r}")
        if ev.channel != tp.event.channel:
            raise InvalidTouchpoint(
                f"touchpoint {ev.touchpoint_id} is {tp.event.channel}, not {ev.channel}"
            )
        a = self._get_agent(ev.agent_id)
        if a.status == "offline":
            raise AgentUnavailable(f"{a.agent_id} is offline")
        weight = self.weight(ev.channel)
        if weight > a.free:
            raise OverCapacity(f"{a.agent_id} has {a.free} points left, a new one needs {weight}")
        self._seq += 1
        routing = Routing(tuple(dict.fromkeys(tp.event.queue_ids)))
        # on their own dedicated number it is theirs as dedicated (as if routed to them);
        # on any other, an ordinary conversation they hold
        own = tp.event.routing_mode == "dedicated" and tp.event.dedicated_agent_id == a.agent_id
        mode: RoutingMode = "dedicated" if own else "simplified"
        c = _Conversation(
            ev.conversation_id, ev.touchpoint_id, ev.channel, routing, mode, self._now, self._seq
        )
        c.dedicated_agent = a.agent_id if own else None
        self._convs[c.conversation_id] = c
        self._out.append(
            d.Queued(
                c.conversation_id,
                list(c.queue_ids),
                c.priority,
                c.acceptance,
                mode,
                dedicated_agent_id=c.dedicated_agent,
            )
        )
        self._take(c, a, "assign", weight, fresh=True)

    def _assign_event(self, ev: e.Assign) -> None:
        c = self._get_conv(ev.conversation_id)
        a = self._get_agent(ev.agent_id)
        if c.state == "bot":
            raise WithBot(f"{c.conversation_id} is with the bot {c.bot}: hand it over first")
        if c.state not in ("waiting", "offered"):
            raise AlreadyAssigned(f"{c.conversation_id} is already {c.state} ({c.owner})")
        if not self.can_see(a.agent_id, c.conversation_id):
            raise NotVisible(f"{a.agent_id} cannot see {c.conversation_id}")
        if a.status == "offline":
            raise AgentUnavailable(f"{a.agent_id} is offline")
        mine = c.offer_agent == a.agent_id
        weight = c.weight if mine and c.weight is not None else self.weight(c.channel)
        if weight > a.free + (weight if mine else 0):
            raise OverCapacity(
                f"{a.agent_id} has {a.free} points left, {c.conversation_id} needs {weight}"
            )
        if c.state == "offered" and not mine:
            self._withdraw(c, "assigned_elsewhere", cooldown=False, requeue=False)
        self._take(c, a, "assign", weight)
        if c.mode == "dedicated" and c.dedicated_agent != a.agent_id:
            c.mode, c.dedicated_agent = "simplified", None  # a supervisor took it over

    def _open_offer(self, ev: e.Accept | e.Reject) -> tuple[_Conversation, _Agent]:
        c = self._get_conv(ev.conversation_id)
        a = self._get_agent(ev.agent_id)
        if c.state == "offered" and c.offer_agent == a.agent_id:
            assert c.offer_expires is not None
            if self._now >= c.offer_expires:
                raise OfferExpired(f"the offer of {c.conversation_id} expired at {c.offer_expires}")
            return c, a
        if c.state in ("assigned", "wrapup"):
            raise AlreadyAssigned(f"{c.conversation_id} is already {c.state} ({c.owner})")
        if a.agent_id in c.cooldown:
            raise OfferExpired(
                f"the offer of {c.conversation_id} to {a.agent_id} is no longer open"
            )
        raise NotOffered(f"{c.conversation_id} is not offered to {a.agent_id}")

    def _accept(self, ev: e.Accept) -> None:
        c, a = self._open_offer(ev)
        self._take(c, a, "accept", c.weight)

    def _reject(self, ev: e.Reject) -> None:
        c, _ = self._open_offer(ev)
        self._withdraw(c, "rejected", cooldown=True)

    def _transfer(self, ev: e.Transfer) -> None:
        c = self._get_conv(ev.conversation_id)
        a = self._get_agent(ev.agent_id)
        if (ev.to_agent_id is None) == (ev.to_queue_id is None):
            raise InvalidTransfer("transfer to exactly one of an agent or a queue")
        if c.state in ("waiting", "offered") and _supervises(a):
            self._move(c, ev.to_queue_id)
            return
        self._may_act(c, a)
        if ev.to_queue_id is not None:
            self._requeue(c, "transferred", cooldown=True, queue_ids=(ev.to_queue_id,))
            return
        assert ev.to_agent_id is not None
        target = self._get_agent(ev.to_agent_id)
        if target.agent_id == c.owner:
            raise InvalidTransfer(f"{c.conversation_id} is already {target.agent_id}'s")
        if target.status == "offline":
            raise AgentUnavailable(f"{target.agent_id} is offline")
        weight = self.weight(c.channel)  # a new assignment takes today's weight
        if weight > target.free:
            raise OverCapacity(f"{target.agent_id} has {target.free} points left, needs {weight}")
        previous = self._release(c)
        c.mode, c.dedicated_agent = ("simplified" if c.mode == "dedicated" else c.mode), None
        self._take(c, target, "transfer", weight, from_agent=previous)

    def _move(self, c: _Conversation, to_queue: str | None) -> None:
        """A supervisor moves an unassigned conversation (waiting, or ringing someone) to
        another queue: it keeps its place in service order (priority and arrival) and is
        routed there as after any event. An agent takes it with Assign, so only queues."""
        if to_queue is None:
            raise NotAssigned(
                f"{c.conversation_id} is {c.state}, not assigned: move it to a queue, "
                "or have the agent assign it"
            )
        if c.mode != "dedicated" and c.queue_ids == (to_queue,):
            raise InvalidTransfer(f"{c.conversation_id} is already in {to_queue} only")
        if c.state == "offered":
            self._withdraw(c, "moved", cooldown=False, requeue=False)
        else:
            self._leave_waiting(c)  # out of its old queues' waiting lists
        self._hide(c)
        if c.mode == "dedicated":  # out of its agent's backlog, into a queue's Inbox
            c.mode, c.dedicated_agent = "simplified", None
        c.queue_ids = (to_queue,)
        self._out.append(d.Requeued(c.conversation_id, "", [to_queue], "moved"))
        self._show(c)
        self._enter_waiting(c)

    def _send_to_inbox(self, ev: e.SendToInbox) -> None:
        c = self._get_conv(ev.conversation_id)
        a = self._get_agent(ev.agent_id)
        self._may_act(c, a)
        self._requeue(c, "sent_to_inbox", cooldown=True)

    def _end(self, ev: e.End) -> None:
        c = self._get_conv(ev.conversation_id)
        a = self._get_agent(ev.agent_id)
        self._may_act(c, a)
        self._finish(c, "agent")

    def _finish(self, c: _Conversation, by: d.EndedBy) -> None:
        """An assigned conversation ends: wrap-up begins and its points are freed."""
        check_transition(c.state, "wrapup")
        owner = self._agents[c.owner or ""]
        assert c.weight is not None
        self._index_out(owner)
        owner.load -= c.weight
        self._index_in(owner)
        c.state = "wrapup"
        self._out.append(d.Ended(c.conversation_id, owner.agent_id, by))
        self._dirty_agents.add(owner.agent_id)

    def _wrap_up(self, ev: e.WrapUp) -> None:
        c = self._get_conv(ev.conversation_id)
        a = self._get_agent(ev.agent_id)
        if c.state != "wrapup":
            raise NotInWrapUp(f"{c.conversation_id} is {c.state}")
        if c.owner != a.agent_id and not _supervises(a):
            raise NotOwner(f"{c.conversation_id} belongs to {c.owner}")
        check_transition(c.state, "closed")
        self._out.append(
            d.Closed(c.conversation_id, c.owner or a.agent_id, ev.notes, ev.disposition)
        )
        self._drop(c)

    # ------------------------------------------------------------------ bots and contacts

    def _bot_handover(self, ev: e.BotHandover) -> None:
        c = self._get_conv(ev.conversation_id)
        if c.state != "bot":
            raise NotWithBot(f"{c.conversation_id} is {c.state}, not with a bot")
        if ev.to_agent_id is not None and ev.to_queue_id is not None:
            raise InvalidTransfer("hand over to an agent or to a queue, not both")
        target: _Agent | None = None
        if ev.to_agent_id is not None:
            target = self._get_agent(ev.to_agent_id)
            if target.status == "offline":
                raise AgentUnavailable(f"{target.agent_id} is offline")
            if self.weight(c.channel) > target.free:
                raise OverCapacity(
                    f"{target.agent_id} has {target.free} points left, "
                    f"needs {self.weight(c.channel)}"
                )
        self._leave_bot(c, ev.reason, ev.to_queue_id)
        if target is not None:
            self._take(c, target, "transfer", fresh=True)
        else:
            self._show(c)
            self._enter_waiting(c)

    def _leave_bot(self, c: _Conversation, reason: HandoverReason, to_queue: str | None) -> None:
        """Out of the bot's hands: its waiting time starts now (a new place in service
        order, as a new arrival's), in ``to_queue`` if given."""
        bot = c.bot or ""
        c.bot = c.bot_until = None
        if to_queue is not None:
            c.queue_ids = (to_queue,)
        self._seq += 1
        c.arrived_at = self._now
        c.key = (-c.priority, self._now, self._seq, c.conversation_id)
        self._out.append(
            d.BotReleased(c.conversation_id, bot, reason, list(c.queue_ids), self._now)
        )

    def _contact_ended(self, ev: e.ContactEnded) -> None:
        c = self._get_conv(ev.conversation_id)
        if c.state == "wrapup":
            raise AlreadyEnded(f"{c.conversation_id} has ended already")
        if c.state == "assigned":
            self._finish(c, ev.by)
            return
        check_transition(c.state, "closed")
        if c.state == "offered":
            self._withdraw(c, "contact_ended", cooldown=False, requeue=False)
        elif c.state == "waiting":
            self._leave_waiting(c)
        if c.state != "bot":  # a bot's conversation was never in the Inbox
            self._hide(c)
        self._out.append(d.Closed(c.conversation_id, "", "", None, ev.by))
        self._drop(c)

    # ------------------------------------------------------------------ time

    def _tick(self, _: e.Tick) -> None:
        now = self._now
        heap = self._offer_heap
        while heap and heap[0][0] <= now:
            expires, cid = heapq.heappop(heap)
            c = self._convs.get(cid)
            if c is not None and c.state == "offered" and c.offer_expires == expires:
                self._withdraw(c, "expired", cooldown=True)
        cheap = self._cooldown_heap
        while cheap and cheap[0][0] <= now:
            until, cid, aid = heapq.heappop(cheap)
            c = self._convs.get(cid)
            if c is not None and c.cooldown.get(aid) == until:
                del c.cooldown[aid]
                self._agents[aid].cooldowns.discard(cid)
                if c.state == "waiting":
                    self._dirty_convs.add(cid)
        bots = self._bot_heap
        while bots and bots[0][0] <= now:
            until, cid = heapq.heappop(bots)
            c = self._convs.get(cid)
            if c is not None and c.state == "bot" and c.bot_until == until:
                self._leave_bot(c, "timeout", None)
                self._show(c)
                self._enter_waiting(c)

    def _prune_heaps(self) -> None:
        """Drop resolved entries from the heads so next_deadline is exact."""
        heap = self._offer_heap
        while heap:
            expires, cid = heap[0]
            c = self._convs.get(cid)
            if c is not None and c.state == "offered" and c.offer_expires == expires:
                break
            heapq.heappop(heap)
        cheap = self._cooldown_heap
        while cheap:
            until, cid, aid = cheap[0]
            c = self._convs.get(cid)
            if c is not None and c.cooldown.get(aid) == until:
                break
            heapq.heappop(cheap)
        bots = self._bot_heap
        while bots:
            until, cid = bots[0]
            c = self._convs.get(cid)
            if c is not None and c.state == "bot" and c.bot_until == until:
                break
            heapq.heappop(bots)

    # ------------------------------------------------------------------ restore

    def _restored(self, ev: e.ConversationRestored) -> None:
        if ev.conversation_id in self._convs:
            raise ConversationExists(f"conversation {ev.conversation_id!r} exists")
        weight = self.weight(ev.channel) if ev.weight is None else ev.weight
        check_weight(ev.channel, weight)
        holder: _Agent | None = None
        if ev.state == "bot" and not (
            isinstance(ev.bot_id, str) and isinstance(ev.bot_until, float | int)
        ):
            raise InvalidRestore("bot needs bot_id and bot_until")
        if ev.state in ("assigned", "wrapup"):
            if ev.owner_agent_id is None or ev.weight is None:
                raise InvalidRestore(f"{ev.state} needs owner_agent_id and weight")
            holder = self._get_agent(ev.owner_agent_id)
        elif ev.state == "offered":
            if ev.offer_agent_id is None or ev.offer_expires_at is None:
                raise InvalidRestore("offered needs offer_agent_id and offer_expires_at")
            holder = self._get_agent(ev.offer_agent_id)
            if holder.status != "available":
                raise AgentUnavailable(
                    f"{holder.agent_id} is {holder.status}: restore it as waiting"
                )
        if holder is not None and ev.state != "wrapup" and weight > holder.free:
            raise OverCapacity(f"{holder.agent_id} has {holder.free} points left, needs {weight}")
        dedicated = None
        if ev.mode == "dedicated":
            dedicated = self._get_agent(ev.dedicated_agent_id or ev.owner_agent_id or "")
        elif ev.mode == "flow" and ev.state == "offered" and ev.acceptance != "manual":
            raise InvalidRestore(f"{ev.acceptance} conversations are never offered")
        self._seq += 1
        routing = Routing(tuple(dict.fromkeys(ev.queue_ids)), ev.priority, ev.acceptance)
        c = _Conversation(
            ev.conversation_id,
            ev.touchpoint_id,
            ev.channel,
            routing,
            ev.mode,
            float(ev.arrived_at),
            self._seq,
        )
        c.dedicated_agent = dedicated.agent_id if dedicated else None
        self._convs[c.conversation_id] = c
        for aid, until in sorted(ev.cooldowns.items()):
            if aid in self._agents:  # a cooldown of a removed agent is moot
                self._start_cooldown(c, self._agents[aid], float(until))
        if ev.state == "bot":
            assert isinstance(ev.bot_id, str) and not isinstance(ev.bot_until, msgspec.UnsetType)
            c.state, c.bot, c.bot_until = "bot", ev.bot_id, float(ev.bot_until)
            heapq.heappush(self._bot_heap, (c.bot_until, c.conversation_id))
            return
        if holder is None or ev.state == "offered":
            self._show(c)
            self._enter_waiting(c)
        if holder is None:
            return
        if ev.state == "offered":
            assert ev.offer_expires_at is not None
            self._set_offer(c, holder, weight, float(ev.offer_expires_at))
        else:
            c.state, c.owner, c.weight = ev.state, holder.agent_id, weight
            holder.owned.add(c.conversation_id)
            if ev.state == "assigned":
                self._index_out(holder)
                holder.load += weight
                self._index_in(holder)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        while self._dirty_agents or self._dirty_convs:
            # Agents first: each takes the best work it can reach (priority order);
            # then waiting conversations, best first, each to its best agent (fairness).
            dirty_agents = sorted(self._dirty_agents)
            self._dirty_agents.clear()
            for aid in dirty_agents:
                agent = self._agents.get(aid)
                if agent is not None:
                    self._fill(agent)
            convs = self._convs
            dirty = sorted(convs[cid].key for cid in self._dirty_convs if cid in convs)
            self._dirty_convs.clear()
            for key in dirty:
                c = convs[key[3]]
                if c.state == "waiting" and c.mode == "flow" and c.acceptance != "hold":
                    self._place(c)

    def _fill(self, a: _Agent) -> None:
        """Give an agent whose capacity grew the best work it can take."""
        if a.status == "offline":
            return
        backlog = a.backlog
        while backlog:
            c = self._convs[backlog[0][3]]
            if self.weight(c.channel) > a.free:
                break  # FIFO: a small newer conversation does not jump a big older one
            self._take(c, a, "dedicated")
        if a.status != "available":
            return
        queues = self._queues
        cooldowns = a.cooldowns
        while True:
            free = a.free
            best: Key | None = None
            for qid in a.queue_ids:
                q = queues.get(qid)
                if q is None:
                    continue
                for channel, waiting in q.waiting.items():
                    if self.weight(channel) > free:
                        continue
                    for key in waiting:
                        if best is not None and key >= best:
                            break
                        if cooldowns and key[3] in cooldowns:
                            continue
                        best = key
                        break
            if best is None:
                return
            self._route(self._convs[best[3]], a)

    def _place(self, c: _Conversation) -> None:
        """Give a waiting flow conversation to its best agent, if any can take it."""
        limit = CAPACITY - self.weight(c.channel)
        cooldown = c.cooldown
        best: AgentKey | None = None
        queues = self._queues
        for qid in c.queue_ids:
            q = queues.get(qid)
            if q is None:
                continue
            for key in q.avail:
                if key[0] > limit or (best is not None and key >= best):
                    break
                if cooldown and key[2] in cooldown:
                    continue
                best = key
                break
        if best is not None:
            self._route(c, self._agents[best[2]])

    def _route(self, c: _Conversation, a: _Agent) -> None:
        if c.acceptance == "auto":
            self._take(c, a, "auto")
        else:
            self._set_offer(c, a, self.weight(c.channel), self._now + self.config.offer_timeout)
            self._out.append(
                d.Offered(c.conversation_id, a.agent_id, c.offer_expires or 0.0, c.weight or 0)
            )
            self._out.append(d.Sound(a.agent_id, "offered", c.conversation_id))

    # ------------------------------------------------------------------ state changes
    # The only code that moves a conversation between states and keeps the indexes.

    def _set_offer(self, c: _Conversation, a: _Agent, weight: int, expires: float) -> None:
        check_transition(c.state, "offered")
        self._leave_waiting(c)
        c.state, c.offer_agent, c.offer_expires, c.weight = "offered", a.agent_id, expires, weight
        heapq.heappush(self._offer_heap, (expires, c.conversation_id))
        self._index_out(a)
        a.reserved += weight
        a.idle_since = max(a.idle_since, self._now)
        self._index_in(a)
        a.offers.add(c.conversation_id)

    def _close_offer(self, c: _Conversation) -> _Agent:
        a = self._agents[c.offer_agent or ""]
        self._index_out(a)
        a.reserved -= c.weight or 0
        self._index_in(a)
        a.offers.discard(c.conversation_id)
        c.offer_agent = c.offer_expires = c.weight = None
        return a

    def _withdraw(
        self, c: _Conversation, reason: d.WithdrawReason, *, cooldown: bool, requeue: bool = True
    ) -> None:
        a = self._close_offer(c)
        self._out.append(d.OfferWithdrawn(c.conversation_id, a.agent_id, reason))
        if cooldown:
            self._start_cooldown(c, a, self._now + self.config.reoffer_cooldown)
        if requeue:
            check_transition(c.state, "waiting")
            self._enter_waiting(c)
        self._dirty_agents.add(a.agent_id)

    def _start_cooldown(self, c: _Conversation, a: _Agent, until: float) -> None:
        c.cooldown[a.agent_id] = until
        a.cooldowns.add(c.conversation_id)
        heapq.heappush(self._cooldown_heap, (until, c.conversation_id, a.agent_id))

    def _take(
        self,
        c: _Conversation,
        a: _Agent,
        how: d.AssignHow,
        weight: int | None = None,
        *,
        from_agent: str | None = None,
        fresh: bool = False,
    ) -> None:
        """Make ``a`` the owner. An open offer must be ``a``'s or closed already; ``fresh``:
        a new arrival that never entered the Inbox."""
        w = self.weight(c.channel) if weight is None else weight
        check_transition(c.state, "assigned")
        if not fresh and c.state != "assigned":  # a transfer was never in the Inbox
            if c.state == "waiting":
                self._leave_waiting(c)
            self._hide(c)
        if c.offer_agent == a.agent_id:
            # Accepting turns the offer's points into the assignment's and the offer was
            # the work received (idle_since): the agent's index key does not move.
            a.reserved -= w
            a.load += w
            a.offers.discard(c.conversation_id)
            c.offer_agent = c.offer_expires = None
        else:
            self._index_out(a)
            a.load += w
            a.idle_since = max(a.idle_since, self._now)
            self._index_in(a)
        c.state, c.owner, c.weight = "assigned", a.agent_id, w
        a.owned.add(c.conversation_id)
        self._out.append(
            d.Assigned(
                c.conversation_id,
                a.agent_id,
                w,
                how,
                from_agent,
                c.mode == "dedicated" and c.dedicated_agent == a.agent_id,
            )
        )
        if how in ("auto", "dedicated"):
            self._out.append(d.Sound(a.agent_id, "auto_assigned", c.conversation_id))
        elif how == "transfer":
            self._out.append(d.Sound(a.agent_id, "transferred", c.conversation_id))

    def _release(self, c: _Conversation) -> str:
        """The owner lets go of an assigned conversation; its points are freed."""
        a = self._agents[c.owner or ""]
        self._index_out(a)
        a.load -= c.weight or 0
        self._index_in(a)
        a.owned.discard(c.conversation_id)
        c.owner = c.weight = None
        self._dirty_agents.add(a.agent_id)
        return a.agent_id

    def _requeue(
        self,
        c: _Conversation,
        reason: d.RequeueReason,
        *,
        cooldown: bool,
        queue_ids: tuple[str, ...] | None = None,
    ) -> None:
        """Back to waiting at its original place (the key keeps priority and arrival)."""
        check_transition(c.state, "waiting")
        previous = self._release(c)
        if cooldown:
            self._start_cooldown(
                c, self._agents[previous], self._now + self.config.reoffer_cooldown
            )
        if c.mode == "dedicated":
            c.mode, c.dedicated_agent = "simplified", None
        if queue_ids is not None:
            c.queue_ids = queue_ids
        self._out.append(d.Requeued(c.conversation_id, previous, list(c.queue_ids), reason))
        self._show(c)
        self._enter_waiting(c)

    def _enter_waiting(self, c: _Conversation) -> None:
        c.state = "waiting"
        self._waiting += 1
        if c.mode == "flow" and c.acceptance != "hold":  # held: in the Inbox only
            for qid in c.queue_ids:
                q = self._queue(qid)
                waiting = q.waiting.get(c.channel)
                if waiting is None:
                    waiting = q.waiting[c.channel] = SortedList()
                waiting.add(c.key)
            self._dirty_convs.add(c.conversation_id)
        elif c.mode == "dedicated":
            self._dirty_agents.add(c.dedicated_agent or "")

    def _leave_waiting(self, c: _Conversation) -> None:
        self._waiting -= 1
        if c.mode == "flow" and c.acceptance != "hold":
            for qid in c.queue_ids:
                q = self._queues[qid]
                waiting = q.waiting[c.channel]
                waiting.remove(c.key)
                if not waiting:
                    del q.waiting[c.channel]
        elif c.mode == "dedicated":
            # the head of the agent's backlog leaves: what waited behind it may fit
            self._dirty_agents.add(c.dedicated_agent or "")

    def _show(self, c: _Conversation) -> None:
        """Into the Inbox (unassigned: waiting or ringing)."""
        for lst in self._inbox_lists(c):
            lst.add(c.key)
        self._out.append(self._visibility(c, True))

    def _hide(self, c: _Conversation) -> None:
        for lst in self._inbox_lists(c):
            lst.remove(c.key)
        self._out.append(self._visibility(c, False))

    def _inbox_lists(self, c: _Conversation) -> Iterator[SortedList[Key]]:
        if c.mode == "dedicated":
            yield self._agents[c.dedicated_agent or ""].backlog
        elif c.queue_ids:
            for qid in c.queue_ids:
                yield self._queue(qid).inbox
        else:
            yield self._orphans

    def _visibility(self, c: _Conversation, visible: bool) -> d.InboxVisibility:
        agent = c.dedicated_agent if c.mode == "dedicated" else None
        return d.InboxVisibility(
            c.conversation_id, visible, list(c.queue_ids), c.priority, c.arrived_at, agent
        )

    def _drop(self, c: _Conversation) -> None:
        """Closed: the conversation leaves the router."""
        if c.owner is not None:
            self._agents[c.owner].owned.discard(c.conversation_id)
        for aid in c.cooldown:
            self._agents[aid].cooldowns.discard(c.conversation_id)
        del self._convs[c.conversation_id]

    def _index_out(self, a: _Agent) -> None:
        if a.key is not None:
            for qid in a.queue_ids:
                self._queues[qid].avail.remove(a.key)
            a.key = None

    def _index_in(self, a: _Agent) -> None:
        if a.status == "available":
            a.key = (a.load + a.reserved, a.idle_since, a.agent_id)
            for qid in a.queue_ids:
                self._queue(qid).avail.add(a.key)

    def _sort_key(self, cid: str) -> Key:
        return self._convs[cid].key

    def _quiet(self, events: Iterable[e.Event]) -> None:
        """Apply restore events without dispatch (an exported state is at its fixpoint)."""
        for ev in events:
            self._out = []
            self._handlers[type(ev)](ev)
        self._dirty_agents.clear()
        self._dirty_convs.clear()
        self._out = []
        self._prune_heaps()
