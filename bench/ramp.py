"""The relay's ramp: offer a rate for a step, read what was delivered, how late, and the
server processes' CPU (per process group too); step the rate up to the knee."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.loadgen import Fleet, cpu_seconds, machine_shares, machine_ticks, percentile

# A server's processes by name, each found again at every step (PostgreSQL starts a
# backend per connection).
Parts = dict[str, Callable[[], list[int]]]

P99_LIMIT_MS = 250.0
# A step whose deliveries fall this far short of what was offered is past the knee
# (the server stopped keeping up) even when the late messages have not yet hit the p99.
KEEP_UP = 0.9
# Generators this busy (cores, of the cores they may use) limit the step themselves.
GENERATOR_BUSY = 0.85


# -- steps -----------------------------------------------------------------------------


def one_step(
    fleet: Fleet,
    pids: list[int],
    step: int,
    rate: float,
    duration: float,
    drain: float,
    node_pids: list[int] | None = None,
    parts: Parts | None = None,
) -> dict[str, Any]:
    """Offer ``rate`` messages/s for ``duration`` s, spread over the generators.

    ``parts``: the server's processes by name ("node A", "Redis", ...); each step then
    reports the CPU of each part per message too, and the server's CPU is their sum."""
    g = len(fleet)
    parts0 = {name: _cpu_by_pid(find()) for name, find in (parts or {}).items()}
    cpu0 = cpu_seconds(pids)
    node_cpu0 = cpu_seconds(node_pids or pids)
    gen_cpu0 = cpu_seconds(fleet.pids)
    start_at = time.monotonic() + 0.3
    machine = _Window(start_at, start_at + duration)
    replies = fleet.all(
        "step", step=step, rate=rate / g, duration=duration, drain=drain, start_at=start_at
    )
    cpu = cpu_seconds(pids) - cpu0
    node_cpu = cpu_seconds(node_pids or pids) - node_cpu0
    gen_cpu = cpu_seconds(fleet.pids) - gen_cpu0
    by_part: dict[str, float] = {}
    for name, find in (parts or {}).items():
        before = parts0[name]
        # a process that started during the step (a PostgreSQL backend) counts whole
        by_part[name] = sum(c - before.get(pid, 0.0) for pid, c in _cpu_by_pid(find()).items())
    if parts:
        cpu = sum(by_part.values())
        node_cpu = sum(c for name, c in by_part.items() if name.startswith("node"))
    sent = sum(r["sent"] for r in replies)
    lat = sorted(x for r in replies for x in r["latencies_ms"])
    received = len(lat)
    lost = max(0, sent - received)
    # Lost (or not yet there) messages count as infinitely late.
    padded = lat + [math.inf] * lost
    sent_v = sum(r["sent_by_visitors"] for r in replies)
    to_agent = sorted(x for r in replies for x in r["to_agent_latencies_ms"])
    to_agent_padded = to_agent + [math.inf] * max(0, sent_v - len(to_agent))
    errors: dict[str, int] = {}
    for r in replies:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {
        "offered_msgs_per_s": round(rate),
        "delivered_msgs_per_s": round(received / duration),
        "sent": sent,
        "received": received,
        "lost": lost,
        "p50_ms": _finite(percentile(padded, 50)),
        "p90_ms": _finite(percentile(padded, 90)),
        "p99_ms": _finite(percentile(padded, 99)),
        "max_ms": _finite(lat[-1]) if lat else None,
        "to_agent_p50_ms": _finite(percentile(to_agent_padded, 50)),
        "to_agent_p99_ms": _finite(percentile(to_agent_padded, 99)),
        # the same over the messages that did arrive (lost ones left out): for reading an
        # overloaded step, never for a verdict
        "to_agent_p99_delivered_ms": _finite(percentile(to_agent, 99)),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_us_per_msg": round(cpu / received * 1e6, 1) if received else None,
        "node_cpu_us_per_msg": round(node_cpu / received * 1e6, 1) if received else None,
        "cpu_us_per_msg_by_process": {
            name: round(c / received * 1e6, 1) if received else None for name, c in by_part.items()
        },
        "server_cpu_utilisation": round(cpu / (duration + drain + 0.3), 2),
        "generator_lag_s": max(r["send_lag_s"] for r in replies),
        # the generators' share of the cores they may run on, while they sent
        "generator_busy": round(gen_cpu / (duration + drain + 0.3) / fleet.cores, 2),
        # the whole machine's cores while the step sent (every process and the kernel's)
        "machine": machine.shares(),
        "errors": errors,
    }


class _Window:
    """The machine's cores between two moments (/proc/stat read at each by a timer), so
    that a step's figure covers its sending only, not its start or its drain."""

    def __init__(self, start: float, end: float) -> None:
        self._ticks: dict[str, tuple[int, ...]] = {}
        self._timers = [
            threading.Timer(max(0.0, at - time.monotonic()), self._read, (name,))
            for name, at in (("start", start), ("end", end))
        ]
        for timer in self._timers:
            timer.daemon = True  # a step that fails leaves nothing behind
            timer.start()

    def _read(self, name: str) -> None:
        self._ticks[name] = machine_ticks()

    def shares(self) -> dict[str, float]:
        for timer in self._timers:
            timer.join()
        return machine_shares(self._ticks["start"], self._ticks["end"])


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def part_pids(parts: Parts) -> list[int]:
    return [pid for find in parts.values() for pid in find()]


def settle(pids: list[int], timeout: float = 20.0, idle_cores: float = 0.15) -> float:
    """Wait until the servers have worked off an overload's backlog (their CPU use falls
    under ``idle_cores``), so that the next step starts clean; the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c0 = cpu_seconds(pids)
        time.sleep(0.5)
        if (cpu_seconds(pids) - c0) / 0.5 < idle_cores:
            break
    return round(time.monotonic() - t0, 1)


def _within(step: dict[str, Any], limit_ms: float) -> bool:
    """Under the knee: p99 within the limit and (nearly) everything offered delivered."""
    return (
        step["p99_ms"] is not None
        and step["p99_ms"] <= limit_ms
        and step["delivered_msgs_per_s"] >= KEEP_UP * step["offered_msgs_per_s"]
    )


def _knee(step: dict[str, Any], limit_ms: float) -> str:
    """What ended the ramp at this step: ``p99`` or ``throughput`` (delivered fell short)."""
    if step["delivered_msgs_per_s"] < KEEP_UP * step["offered_msgs_per_s"]:
        return "throughput"
    return "p99"


def _finite(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else round(x, 2)


def stepped(
    fleet: Fleet,
    pids: list[int],
    cfg: dict[str, Any],
    node_pids: list[int] | None = None,
    limit_ms: float = P99_LIMIT_MS,
    log: Callable[[str], None] = print,
    label: str = "",
    parts: Parts | None = None,
) -> dict[str, Any]:
    """Warm up, then step the rate up until p99 passes ``limit_ms`` or the deliveries
    fall short of the offer (the knee), or the time budget ``cfg["budget_s"]`` runs out
    (then the result says the knee was not found).

    A step that fails by p99 alone (everything offered was delivered) is run once more,
    after the servers settle, and the second run decides (at most ``cfg["repeats"]``
    times a ramp, default 2). A stall that comes once a minute (PostgreSQL's autovacuum,
    a neighbour's burst on a shared machine) puts a few percent of a 3 s step's messages
    past the limit, and p99 with them, where it would put a fraction of a percent of a
    minute's; a system past its capacity fails the second run as well. A step that fell
    behind the offer is past capacity: it decides at once. The failed first run stays
    in ``steps``, marked ``repeated``.

    A system past its knee at the first rate is offered half of it, then half again
    (down to ``cfg["floor"]``, an eighth of the first rate unless told), until a step
    holds: a slow peer gets its figure rather than 0; if none holds, the knee says how
    low the offer went (``lowest_offered``)."""
    one_step(
        fleet, pids, 0, cfg["rates"][0] / 2, min(1.0, cfg["duration_s"]), 0.5, node_pids, parts
    )
    started = time.monotonic()
    budget = cfg.get("budget_s", math.inf)
    repeats = int(cfg.get("repeats", 2))
    steps: list[dict[str, Any]] = []
    knee: dict[str, Any] = {"found": False, "why": "the highest rate offered was sustained"}

    def run(n: int, rate: float, note: str = "") -> dict[str, Any]:
        s = one_step(fleet, pids, n, rate, cfg["duration_s"], cfg["drain_s"], node_pids, parts)
        steps.append(s)
        log(
            f"  {label:9} {round(rate):>7,} offered {s['delivered_msgs_per_s']:>7,} delivered "
            f"p50 {s['p50_ms']} p99 {s['p99_ms']} ms lost {s['lost']} "
            f"cpu {s['server_cpu_us_per_msg']} us/msg gen busy {s['generator_busy']} "
            f"lag {s['generator_lag_s']} s{note}"
        )
        return s

    def settled() -> None:
        """Wait for the servers to settle; the wait is noted on the step before it."""
        steps[-1]["settle_s"] = settle(pids)

    def decided(n: int, rate: float, note: str = "") -> dict[str, Any]:
        nonlocal repeats
        s = run(n, rate, note)
        # a step that fell behind the offer is past capacity, not stalled: no second run
        if _within(s, limit_ms) or _knee(s, limit_ms) == "throughput" or repeats <= 0:
            return s
        repeats -= 1
        s["repeated"] = True
        settled()
        return run(100 + len(steps), rate, f"{note} (again)")

    def _below_first(rate: float) -> tuple[float | None, float]:
        """The first rate failed: halve it until a step holds (a slow peer still gets a
        figure, not 0), down to ``cfg["floor"]``; the rate that held (None if none did)
        and the lowest that failed."""
        hi, lo = rate, rate / 2
        while lo >= cfg.get("floor", cfg["rates"][0] / 8):
            if time.monotonic() - started > budget:
                break
            settled()
            if _within(decided(100 + len(steps), lo, " (under the first rate)"), limit_ms):
                return lo, hi
            hi, lo = lo, lo / 2
        return None, hi

    for n, rate in enumerate(cfg["rates"], start=1):
        if time.monotonic() - started > budget:
            knee["why"] = f"time budget ({budget:g} s) spent before the knee"
            break
        s = decided(n, rate)
        if not _within(s, limit_ms):
            knee = {"found": True, "why": _knee(s, limit_ms), "at_offered": rate}
            lo, hi = (cfg["rates"][n - 2], rate) if n >= 2 else _below_first(rate)
            if lo is None:
                knee["lowest_offered"] = round(hi)  # nothing held, down to this rate
                break
            # More steps between the last good rate and this one (x1.22, then x1.1).
            for _ in range(cfg.get("refine", 2)):
                settled()
                mid = round(math.sqrt(lo * hi))
                s = decided(100 + len(steps), mid, " (refining)")
                lo, hi = (mid, hi) if _within(s, limit_ms) else (lo, mid)
            break
    ok = [s for s in steps if _within(s, limit_ms)]
    best = max(ok, key=lambda s: s["delivered_msgs_per_s"]) if ok else None
    # The generators, not the server, may have set the knee: say so.
    knee["generator_bound"] = bool(
        best and max(s["generator_busy"] for s in steps) >= GENERATOR_BUSY
    )
    return {
        "steps": steps,
        "sustained_msgs_per_s": best["delivered_msgs_per_s"] if best else 0,
        "p50_ms_at_sustained": best["p50_ms"] if best else None,
        "p99_ms_at_sustained": best["p99_ms"] if best else None,
        "server_cpu_us_per_msg": _median([s["server_cpu_us_per_msg"] for s in ok]),
        # at the highest sustained rate: the cost near saturation, fixed costs spread thin
        "server_cpu_us_per_msg_at_sustained": best["server_cpu_us_per_msg"] if best else None,
        "cpu_us_per_msg_by_process": {
            name: _median([s["cpu_us_per_msg_by_process"].get(name) for s in ok])
            for name in (parts or {})
        },
        "generator_busy_at_sustained": best["generator_busy"] if best else None,
        "saturated": knee["found"],
        "knee": knee,
        "ramp_s": round(time.monotonic() - started, 1),
    }


def _median(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 1) if vals else None
