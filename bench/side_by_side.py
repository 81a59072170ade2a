"""Side by side: two warm one-node gateways on the relay's set-up, fixed steps alternated.

Sides A and B are each the relay's one-node gateway (bench/relay.py: SQLite, its
conversations and agent sockets, the server pinned to the servers' core and the load
generators to theirs), both set up first and kept warm; then fixed steps (``duration_s``
at each rate of ``rates``) go to A and to B in turn, the order swapped every round, so
that a neighbour's load or a slower hour of a shared machine falls on both alike. Per
rate it reports each side's CPU per message (the median of its rounds), B ÷ A, and in
how many rounds B's was the lower; every step is in ``steps``.

By default A runs with every rate limiter on (as shipped, bench/gateway_setup.py
``RATE_LIMITS_ON``) and B with every limiter off: what the limits cost, read at the same
rates and minutes (the relay's ``gateway-nolimits`` row compares knees found minutes
apart). ``BENCH_SIDE_B_SOURCE=DIR`` runs B from another checkout instead, every limiter
on for both: a change before (B) and after (A). ``BENCH_SIDE_RATES=3000,5000`` and
``BENCH_SIDE_ROUNDS=6`` set the steps.
"""

from __future__ import annotations

import os
import statistics
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.pinning import placement
from bench.ramp import one_step, settle
from bench.relay import FULL as RELAY_FULL
from bench.relay import QUICK as RELAY_QUICK
from bench.relay import OneNode, one_node

FULL: dict[str, Any] = {
    **{k: RELAY_FULL[k] for k in ("conversations", "per_agent", "generators")},
    "rates": [3000, 5000, 7000],
    "rounds": 4,
    "duration_s": 4.0,
    "drain_s": 1.5,
}
QUICK: dict[str, Any] = {
    **{k: RELAY_QUICK[k] for k in ("conversations", "per_agent", "generators")},
    "rates": [400],
    "rounds": 2,
    "duration_s": 1.0,
    "drain_s": 0.5,
}
SIDES = ("A", "B")


def _config(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    if rates := os.environ.get("BENCH_SIDE_RATES"):
        cfg["rates"] = [int(r) for r in rates.split(",")]
    if rounds := os.environ.get("BENCH_SIDE_ROUNDS"):
        cfg["rounds"] = int(rounds)
    return cfg


def _sides() -> dict[str, dict[str, Any]]:
    """What each side runs: its checkout (None: this one) and its rate limits."""
    other = os.environ.get("BENCH_SIDE_B_SOURCE")
    if other:
        return {
            "A": {"label": "this checkout", "source": None, "rate_limits": True},
            "B": {"label": other, "source": Path(other), "rate_limits": True},
        }
    return {
        "A": {"label": "rate limits on", "source": None, "rate_limits": True},
        "B": {"label": "rate limits off", "source": None, "rate_limits": False},
    }


def run(quick: bool) -> dict[str, Any]:
    cfg = _config(quick)
    sides = _sides()
    loadgen.raise_nofile()
    loadgen.exit_on_sigterm()
    where = placement(None)
    steps: list[dict[str, Any]] = []
    with ExitStack() as stack:
        warm: dict[str, OneNode] = {}
        for name in SIDES:
            side = sides[name]
            warm[name] = stack.enter_context(
                one_node(cfg, where, side["rate_limits"], side["source"])
            )
        # Both nodes share the servers' core: a step starts once both have worked off
        # what came before (the other side's last step too), not only the one it measures.
        both = [one.node.proc.pid for one in warm.values()]
        n = 0
        for r in range(cfg["rounds"]):
            for rate in cfg["rates"]:
                for name in SIDES if r % 2 == 0 else SIDES[::-1]:
                    one = warm[name]
                    settle(both)
                    n += 1
                    out = one_step(
                        one.fleet, [one.node.proc.pid], n, rate, cfg["duration_s"], cfg["drain_s"]
                    )
                    steps.append({"side": name, "round": r + 1, **out})
                    print(
                        f"side-by-side: round {r + 1} {name} {rate} msg/s: "
                        f"{out['server_cpu_us_per_msg']} µs/msg, p99 {out['p99_ms']} ms",
                        flush=True,
                    )
        alive = {name: warm[name].node.alive() for name in SIDES}
    return {
        **{k: cfg[k] for k in ("conversations", "per_agent", "rounds", "duration_s")},
        "sides": {name: sides[name]["label"] for name in SIDES},
        "placement": where.as_json(),
        "rates": [compare(steps, rate) for rate in cfg["rates"]],
        "steps": steps,
        "server_alive": alive,
        "loadavg": os.getloadavg(),
    }


def compare(steps: list[dict[str, Any]], rate: int) -> dict[str, Any]:
    """One rate's figures: each side's median CPU per message over its rounds, B ÷ A,
    the rounds where B's was the lower, and what each side left undelivered."""
    at = [s for s in steps if s["offered_msgs_per_s"] == rate]
    cpu = {n: [s["server_cpu_us_per_msg"] for s in at if s["side"] == n] for n in SIDES}
    p99 = {n: [s["p99_ms"] for s in at if s["side"] == n] for n in SIDES}
    med = {n: statistics.median(v) if v and None not in v else None for n, v in cpu.items()}
    pairs = [
        (a, b) for a, b in zip(cpu["A"], cpu["B"], strict=True) if a is not None and b is not None
    ]
    return {
        "offered_msgs_per_s": rate,
        "cpu_us_per_msg": {n: round(m, 1) if m is not None else None for n, m in med.items()},
        "b_to_a": round(med["B"] / med["A"], 3) if med["A"] and med["B"] else None,
        "b_lower_in": sum(b < a for a, b in pairs),
        "rounds": len(pairs),
        "p99_ms": p99,
        "lost": {n: sum(s["lost"] for s in at if s["side"] == n) for n in SIDES},
    }


def summary(result: dict[str, Any]) -> str:
    a, b = result["sides"]["A"], result["sides"]["B"]
    lines = [
        f"side-by-side: A {a}, B {b}; {result['conversations']} conversations, "
        f"{result['rounds']} rounds of {result['duration_s']:g} s steps",
    ]
    for r in result["rates"]:
        c = r["cpu_us_per_msg"]
        lines.append(
            f"  {r['offered_msgs_per_s']} msg/s: A {c['A']} µs/msg, B {c['B']} µs/msg, "
            f"B/A {r['b_to_a']}, B lower in {r['b_lower_in']} of {r['rounds']}; "
            f"lost A {r['lost']['A']}, B {r['lost']['B']}"
        )
    lines.append(f"  servers alive: {result['server_alive']}; load average {result['loadavg']}")
    return "\n".join(lines)
