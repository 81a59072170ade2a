"""Router workload: cost per event with a standing backlog of waiting conversations.

Set-up (not timed): agents spread over queues (every fifth agent in a second queue), one
flow touchpoint per queue (half manual acceptance, half auto-accept; rules on a form
field and on opening hours in a time zone), every agent available and full (four chats
of 25 points), then ``waiting`` more conversations that wait.

Timed, in a steady state where the backlog stays at ``waiting``: an agent ends a
conversation, which frees points, so the router offers (or auto-assigns) that agent the
best waiting conversation; the offer is accepted (5 % rejected: re-offer to the same
agent's next best, a cooldown on the rejected one); the ended conversation is wrapped up;
a new conversation arrives and waits. Now and then an agent goes offline (its chats are
requeued at their place) and comes back, and a Tick runs. Every ``router.handle`` call
is timed on its own; events_per_s is events / the sum of those times (one core). Figures
use the wall clock; ``cpu_*`` repeat them from the thread's CPU clock.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from typing import Any

from routing import (
    Accept,
    AgentStatusChanged,
    AgentUpserted,
    Assigned,
    Calendar,
    Condition,
    ConversationArrived,
    End,
    Event,
    FlowConfig,
    Offered,
    Outcome,
    Reject,
    Requeued,
    Router,
    Rule,
    Tick,
    TouchpointUpserted,
    WrapUp,
)
from routing.decisions import Decision

FULL = {"agents": 10_000, "queues": 50, "waiting": [1_000, 10_000, 100_000], "events": 200_000}
QUICK = {"agents": 40, "queues": 4, "waiting": [20, 200], "events": 2_000}
GOALS = {"events_per_s": 100_000, "p99_us": 50.0, "p99_growth_ratio": 3.0}


class _Pool:
    """Assigned conversations, for picking one at random in O(1)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.index: dict[str, int] = {}

    def add(self, cid: str, agent: str) -> None:
        self.index[cid] = len(self.items)
        self.items.append((cid, agent))

    def remove(self, cid: str) -> None:
        i = self.index.pop(cid, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.index[last[0]] = i

    def pick(self, rng: random.Random) -> tuple[str, str]:
        cid, agent = self.items[rng.randrange(len(self.items))]
        self.remove(cid)
        return cid, agent


def _flow(i: int) -> FlowConfig:
    everyday = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return FlowConfig(
        rules=[
            Rule(Condition(fields={"vip": ["yes"]}), Outcome(priority=5), "vip"),
            Rule(Condition(open=False), Outcome(auto_reply="We are closed."), "closed"),
        ],
        default=Outcome(
            acceptance="auto" if i % 2 else "manual", auto_reply="All agents are busy."
        ),
        calendar=Calendar("Europe/Paris", everyday),  # type: ignore[arg-type]
    )


class _Driver:
    def __init__(self, agents: int, queues: int, seed: int) -> None:
        self.router = Router()
        self.rng = random.Random(seed)
        self.now = 1_700_000_000.0
        self.pool = _Pool()
        self.offers: list[tuple[str, str]] = []
        self.seq = 0
        self.queues = queues
        self.agents = agents
        self.samples: list[tuple[str, int, int]] = []  # (event, wall ns, CPU ns)
        self.timing = False
        for q in range(queues):
            self.apply(TouchpointUpserted(f"tp{q}", "chat", "flow", [f"q{q}"], flow=_flow(q)))
        for a in range(agents):
            qs = [f"q{a % queues}"] + ([f"q{(a * 7 + 3) % queues}"] if a % 5 == 0 else [])
            self.apply(AgentUpserted(f"a{a}", list(dict.fromkeys(qs))))
            self.apply(AgentStatusChanged(f"a{a}", "available"))

    def apply(self, event: Event) -> None:
        self.now += 0.001
        if self.timing:
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            out = self.router.handle(event, self.now)
            t1 = time.perf_counter_ns()
            c1 = time.thread_time_ns()
            self.samples.append((type(event).__name__, t1 - t0, c1 - c0))
        else:
            out = self.router.handle(event, self.now)
        self.observe(out)

    def observe(self, out: list[Decision]) -> None:
        for dec in out:
            if isinstance(dec, Offered):
                self.offers.append((dec.conversation_id, dec.agent_id))
            elif isinstance(dec, Assigned):
                self.pool.add(dec.conversation_id, dec.agent_id)
            elif isinstance(dec, Requeued):
                self.pool.remove(dec.conversation_id)

    def answer_offers(self, reject_rate: float) -> None:
        while self.offers:
            cid, agent = self.offers.pop()
            if self.rng.random() < reject_rate:
                self.apply(Reject(cid, agent))
            else:
                self.apply(Accept(cid, agent))

    def arrive(self) -> None:
        self.seq += 1
        q = self.rng.randrange(self.queues)
        fields = {"vip": "yes"} if self.rng.random() < 0.1 else {}
        self.apply(ConversationArrived(f"c{self.seq}", f"tp{q}", "chat", fields))

    def cycle(self, n: int) -> None:
        cid, agent = self.pool.pick(self.rng)
        self.apply(End(cid, agent))
        self.answer_offers(0.05)
        self.apply(WrapUp(cid, agent, "", "done"))
        self.arrive()
        if n % 100 == 0:
            self.apply(Tick())
        if n % 500 == 0:
            away = f"a{self.rng.randrange(self.agents)}"
            self.apply(AgentStatusChanged(away, "offline"))
            self.apply(AgentStatusChanged(away, "available"))
            self.answer_offers(0.0)


def _pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def measure(agents: int, queues: int, waiting: int, events: int, seed: int = 7) -> dict[str, Any]:
    drv = _Driver(agents, queues, seed)
    while drv.router.waiting_count() < waiting:  # fill every agent, then the backlog
        drv.arrive()
        drv.answer_offers(0.0)
    gc.collect()
    gc.freeze()  # the set-up's objects are permanent; don't rescan them in the timed part
    drv.timing = True
    n = 0
    while len(drv.samples) < events:
        n += 1
        drv.cycle(n)
    drv.timing = False
    gc.unfreeze()
    ns = sorted(t for _, t, _ in drv.samples)
    cpu = sorted(c for _, _, c in drv.samples)
    by_event: dict[str, dict[str, float]] = {}
    for kind in sorted({k for k, _, _ in drv.samples}):
        kns = sorted(t for k, t, _ in drv.samples if k == kind)
        by_event[kind] = {
            "count": len(kns),
            "median_us": round(statistics.median(kns) / 1000, 2),
            "p99_us": round(_pct(kns, 0.99), 2),
        }
    return {
        "waiting": waiting,
        "waiting_at_end": drv.router.waiting_count(),
        "agents": agents,
        "queues": queues,
        "events": len(ns),
        "events_per_s": round(len(ns) / (sum(ns) / 1e9)),
        "mean_us": round(sum(ns) / len(ns) / 1000, 2),
        "median_us": round(statistics.median(ns) / 1000, 2),
        "p99_us": round(_pct(ns, 0.99), 2),
        "p999_us": round(_pct(ns, 0.999), 2),
        "max_us": round(ns[-1] / 1000, 2),
        # The same from this thread's CPU clock: blind to preemption by other processes
        # (so it tells a busy machine from a slow router), but it includes ~0.3 µs of
        # clock reading per event.
        "cpu_events_per_s": round(len(cpu) / (sum(cpu) / 1e9)),
        "cpu_median_us": round(statistics.median(cpu) / 1000, 2),
        "cpu_p99_us": round(_pct(cpu, 0.99), 2),
        "by_event": by_event,
    }


def run(quick: bool) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    results = [
        measure(sizes["agents"], sizes["queues"], w, sizes["events"])  # type: ignore[arg-type]
        for w in sizes["waiting"]  # type: ignore[attr-defined]
    ]
    ratio = results[-1]["p99_us"] / results[0]["p99_us"]
    worst_rate = min(r["events_per_s"] for r in results)
    worst_p99 = max(r["p99_us"] for r in results)
    return {
        "results": results,
        "p99_growth_ratio": round(ratio, 2),
        "goals": GOALS,
        "goals_met": {
            "events_per_s": worst_rate >= GOALS["events_per_s"],
            "p99_us": worst_p99 < GOALS["p99_us"],
            "p99_growth_ratio": ratio <= GOALS["p99_growth_ratio"],
        },
    }


def summary(result: dict[str, Any]) -> str:
    lines = [f"router workload{' (quick: not a measurement)' if result['quick'] else ''}"]
    lines.append(
        f"{'waiting':>8} {'agents':>7} {'queues':>6} {'events':>8} {'events/s':>10} {'median µs':>10} {'p99 µs':>8} {'p99.9 µs':>9} {'max µs':>8}"
    )
    for r in result["results"]:
        lines.append(
            f"{r['waiting']:>8} {r['agents']:>7} {r['queues']:>6} {r['events']:>8} {r['events_per_s']:>10} "
            f"{r['median_us']:>10} {r['p99_us']:>8} {r['p999_us']:>9} {r['max_us']:>8}"
        )
    lines.append(
        "CPU clock (blind to preemption): "
        + ", ".join(
            f"{r['waiting']}: {r['cpu_events_per_s']}/s p99 {r['cpu_p99_us']} µs"
            for r in result["results"]
        )
    )
    lines.append(f"p99 at the largest backlog / p99 at the smallest: {result['p99_growth_ratio']}")
    lines.append("goals met: " + ", ".join(f"{k}={v}" for k, v in result["goals_met"].items()))
    return "\n".join(lines)
