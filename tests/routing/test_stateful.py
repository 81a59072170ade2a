"""Random event sequences (hypothesis, derandomized so CI is stable) against the router's
invariants: no agent over capacity; at most one owner and one open offer per
conversation; no eligible available agent idle while a flow conversation it could take
waits; priority-then-FIFO service; refused events change nothing; replay and
snapshot/restore are deterministic."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from routing import (
    Accept,
    AgentRemoved,
    AgentStarted,
    AgentStatusChanged,
    AgentUpserted,
    Assign,
    BotHandover,
    Calendar,
    ChannelWeightChanged,
    Condition,
    ContactEnded,
    ConversationArrived,
    Decision,
    End,
    Event,
    FlowConfig,
    Outcome,
    Reject,
    Router,
    RouterConfig,
    RoutingError,
    Rule,
    SendToInbox,
    Tick,
    TouchpointUpserted,
    Transfer,
    WrapUp,
    digest,
    export_snapshot,
    restore_snapshot,
)

from .support import CHANNEL_MODES, T0, check_invariants, check_service_order

AGENTS = ["a0", "a1", "a2", "a3", "a4", "boss"]  # a4 exists only once upserted
QUEUES = ["q0", "q1", "q2"]
TOUCHPOINTS = {
    "web": "chat",
    "auto": "chat",
    "phone": "voice",
    "sms": "sms",
    "ded": "sms",
    "mail": "email",
    "bot": "chat",
    "shop": "chat",
}
SETUP: list[Event] = [
    TouchpointUpserted(
        "web",
        "chat",
        "flow",
        ["q0"],
        flow=FlowConfig(
            rules=[Rule(Condition(fields={"topic": ["x"]}), Outcome(["q0", "q1"], 2))],
            default=Outcome(auto_reply="busy"),
        ),
    ),
    TouchpointUpserted(
        "auto", "chat", "flow", ["q1"], flow=FlowConfig(default=Outcome(acceptance="auto"))
    ),
    TouchpointUpserted("phone", "voice", "flow", ["q2"]),
    TouchpointUpserted("sms", "sms", "simplified", ["q0"]),
    TouchpointUpserted("ded", "sms", "dedicated", ["q1"], dedicated_agent_id="a0"),
    TouchpointUpserted(
        "mail",
        "email",
        "flow",
        ["q1", "q2"],
        flow=FlowConfig(
            rules=[Rule(Condition(open=False), Outcome(["q2"], 1, "auto"))],
            calendar=Calendar("America/New_York", {"tue": ["09:00-17:00"]}),
        ),
    ),
    TouchpointUpserted(
        "bot",
        "chat",
        "flow",
        ["q0"],
        flow=FlowConfig(
            rules=[Rule(Condition(fields={"topic": ["x"]}), Outcome(["q1"], 1))],
            default=Outcome(["q0", "q2"], 2, bot="helper", bot_timeout=60),
        ),
    ),
    # closed hours hold conversations in the Inbox instead of ringing anyone
    TouchpointUpserted(
        "shop",
        "chat",
        "flow",
        ["q0", "q2"],
        flow=FlowConfig(
            rules=[Rule(Condition(open=False), Outcome(acceptance="hold", auto_reply="closed"))],
            calendar=Calendar("Europe/Paris", {"mon": ["00:00-24:00"], "tue": ["08:00-20:00"]}),
        ),
    ),
    AgentUpserted("boss", [], "supervisor"),
    AgentUpserted("a0", ["q0", "q1"]),
    AgentUpserted("a1", ["q1"]),
    AgentUpserted("a2", ["q0", "q2"]),
    AgentUpserted("a3", ["q2"]),
    AgentStatusChanged("a0", "available"),
    AgentStatusChanged("a1", "available"),
    AgentStatusChanged("a2", "available"),
]
CONFIG = RouterConfig(
    offer_timeout=30,
    reoffer_cooldown=60,
    channel_weights={"chat": 30, "sms": 20, "email": 10},
    channel_modes=CHANNEL_MODES,  # so snapshot/restore carries a non-empty one
)

agents = st.sampled_from(AGENTS)
steps = st.sampled_from([0.0, 1.0, 1.0, 5.0, 10.0, 30.0, 61.0, 3600.0 * 7])


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router(CONFIG)
        self.now = T0
        self.log: list[tuple[Event, float, bool]] = []
        self.arrived = 0
        for event in SETUP:
            self.apply(event)

    def apply(self, event: Event) -> list[Decision]:
        before = export_snapshot(self.router)
        try:
            out = self.router.handle(event, self.now)
        except RoutingError:
            assert export_snapshot(self.router) == before, f"{event} failed but changed the state"
            self.log.append((event, self.now, False))
            return []
        self.log.append((event, self.now, True))
        check_service_order(self.router, out)
        return out

    def ids(self, *states: str) -> list[tuple[str, str]]:
        """(conversation, its offer agent or owner) for conversations in these states."""
        return sorted(
            (c.conversation_id, c.offer_agent or c.owner or "")
            for c in self.router._convs.values()
            if c.state in states
        )

    @rule(agent=agents, queues=st.lists(st.sampled_from(QUEUES), max_size=2))
    def upsert_agent(self, agent: str, queues: list[str]) -> None:
        self.apply(AgentUpserted(agent, queues, "supervisor" if agent == "boss" else "agent"))

    @rule(agent=st.sampled_from(["a3", "a4"]))  # a0..a2 stay, so work keeps flowing
    def remove_agent(self, agent: str) -> None:
        self.apply(AgentRemoved(agent))

    @rule(agent=agents, status=st.sampled_from(["available", "available", "away", "offline"]))
    def status(self, agent: str, status: str) -> None:
        self.apply(AgentStatusChanged(agent, status))  # type: ignore[arg-type]

    @rule(
        tp=st.sampled_from(sorted(TOUCHPOINTS)),
        topic=st.sampled_from(["", "x"]),
        hold=st.sampled_from([False, False, False, True]),
    )
    def arrive(self, tp: str, topic: str, hold: bool) -> None:
        event = ConversationArrived(
            f"c{self.arrived}", tp, TOUCHPOINTS[tp], {"topic": topic}, hold=hold
        )
        out = self.apply(event)
        self.arrived += bool(out)

    @precondition(lambda self: self.ids("bot", "waiting", "offered", "assigned", "wrapup"))
    @rule(data=st.data(), by=st.sampled_from(["contact", "idle"]))
    def contact_ends(self, data: st.DataObject, by: str) -> None:
        states = ("bot", "waiting", "offered", "assigned", "wrapup")
        cid, _ = data.draw(st.sampled_from(self.ids(*states)))
        self.apply(ContactEnded(cid, by))  # type: ignore[arg-type]

    @rule(tp=st.sampled_from(sorted(TOUCHPOINTS)), agent=agents)
    def start_outbound(self, tp: str, agent: str) -> None:
        out = self.apply(
            ConversationArrived(f"c{self.arrived}", tp, TOUCHPOINTS[tp], agent_id=agent)
        )
        self.arrived += bool(out)

    @precondition(lambda self: self.ids("bot"))
    @rule(
        data=st.data(),
        reason=st.sampled_from(["escalated", "contact_asked", "transferred"]),
        to=st.sampled_from(["", "", "queue", "agent"]),
    )
    def bot_hands_over(self, data: st.DataObject, reason: str, to: str) -> None:
        cid, _ = data.draw(st.sampled_from(self.ids("bot")))
        self.apply(
            BotHandover(
                cid,
                reason,  # type: ignore[arg-type]
                to_queue_id=data.draw(st.sampled_from(QUEUES)) if to == "queue" else None,
                to_agent_id=data.draw(agents) if to == "agent" else None,
            )
        )

    @rule(tp=st.sampled_from(sorted(TOUCHPOINTS)), agent=agents)
    def agent_starts(self, tp: str, agent: str) -> None:
        out = self.apply(AgentStarted(f"c{self.arrived}", tp, TOUCHPOINTS[tp], agent))
        self.arrived += bool(out)

    @precondition(lambda self: self.ids("offered"))
    @rule(data=st.data(), accept=st.booleans())
    def answer_offer(self, data: st.DataObject, accept: bool) -> None:
        cid, agent = data.draw(st.sampled_from(self.ids("offered")))
        self.apply(Accept(cid, agent) if accept else Reject(cid, agent))

    @precondition(lambda self: self.ids("waiting", "offered"))
    @rule(data=st.data(), agent=agents)
    def assign(self, data: st.DataObject, agent: str) -> None:
        cid, _ = data.draw(st.sampled_from(self.ids("waiting", "offered")))
        self.apply(Assign(cid, agent))

    @precondition(lambda self: self.ids("assigned", "wrapup"))
    @rule(
        data=st.data(),
        action=st.sampled_from(["end", "end", "inbox", "wrapup", "to_agent", "to_queue"]),
    )
    def owner_action(self, data: st.DataObject, action: str) -> None:
        pool = (action == "wrapup" and self.ids("wrapup")) or self.ids("assigned", "wrapup")
        cid, owner = data.draw(st.sampled_from(pool))
        actor = data.draw(st.sampled_from([owner, owner, owner, "boss", "a1"]))
        event: Event
        if action == "end":
            event = End(cid, actor)
        elif action == "inbox":
            event = SendToInbox(cid, actor)
        elif action == "wrapup":
            event = WrapUp(cid, actor, "n", "d")
        elif action == "to_agent":
            event = Transfer(cid, actor, to_agent_id=data.draw(agents))
        else:
            event = Transfer(cid, actor, to_queue_id=data.draw(st.sampled_from(QUEUES)))
        self.apply(event)

    @precondition(lambda self: self.ids("bot", "waiting", "offered"))
    @rule(data=st.data(), to_agent=st.booleans())
    def move(self, data: st.DataObject, to_agent: bool) -> None:
        """A transfer of what nobody holds: a supervisor moves it to a queue (its place
        kept); to an agent, by an agent, to its only queue or with a bot: refused."""
        # ringing and dedicated ones are rarer: drawn first when there are any
        rare = self.ids("offered") + [
            (c.conversation_id, "")
            for c in self.router._convs.values()
            if c.mode == "dedicated" and c.state == "waiting"
        ]
        pool = (data.draw(st.booleans()) and sorted(rare)) or self.ids("bot", "waiting", "offered")
        cid, rung = data.draw(st.sampled_from(pool))
        actor = data.draw(st.sampled_from(["boss", "boss", "boss", "a1", rung or "a2"]))
        event = (
            Transfer(cid, actor, to_agent_id=data.draw(agents))
            if to_agent
            else Transfer(cid, actor, to_queue_id=data.draw(st.sampled_from(QUEUES)))
        )
        key = self.router._convs[cid].key
        if self.apply(event):
            c = self.router._convs[cid]
            assert c.key == key and c.queue_ids == (event.to_queue_id,)  # its place kept

    @rule(
        agent=agents,
        kind=st.sampled_from([Accept, Reject, Assign, End, SendToInbox, ContactEnded]),
    )
    def unknown_conversation(self, agent: str, kind: type[Accept]) -> None:
        self.apply(ContactEnded("nope") if kind is ContactEnded else kind("nope", agent))

    @rule(step=steps)
    def tick(self, step: float) -> None:
        self.now += step
        self.apply(Tick())

    @rule(step=steps)
    def time_passes(self, step: float) -> None:
        self.now += step  # without a Tick: offers may be expired but not yet withdrawn

    @rule(channel=st.sampled_from(["chat", "sms", "voice"]), weight=st.integers(0, 101))
    def weight(self, channel: str, weight: int) -> None:
        self.apply(ChannelWeightChanged(channel, weight))

    @invariant()
    def invariants_hold(self) -> None:
        check_invariants(self.router)

    def teardown(self) -> None:
        replayed = Router(CONFIG)
        for event, now, ok in self.log:
            try:
                replayed.handle(event, now)
                assert ok
            except RoutingError:
                assert not ok
        assert digest(replayed) == digest(self.router)
        restored = restore_snapshot(export_snapshot(self.router))
        assert digest(restored) == digest(self.router)
        later = self.now + 3600
        assert restored.handle(Tick(), later) == self.router.handle(Tick(), later)
        assert digest(restored) == digest(self.router)


RouterMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRouterStateful = RouterMachine.TestCase
