"""Relay workload: visitors and agents exchanging 100-byte messages through the server.

Every system gets the same shape: ``conversations`` rooms, each with one visitor socket
and one agent socket, every agent socket in ``per_agent`` rooms. Messages alternate
between a visitor speaking and an agent replying; each is timed from the moment it was
scheduled to leave until the other side's socket has it (see bench/loadgen.py). The
offered rate is stepped up (x1.5) until p99 passes 250 ms (a message lost or not there
by the end of the step counts as late); ``sustained_msgs_per_s`` is the highest rate
delivered with p99 within the limit.

The systems, one after the other in the same run:

* ``gateway``: the gateway as it ships (uvicorn, in-process bus), SQLite, every message
  committed before it is acknowledged and relayed; conversations assigned by the router
  (a flow touchpoint with automatic acceptance; chat weight 100 / ``per_agent``).
* ``ws``, ``sio``, ``channels``: the peers (bench/peers).

The load generators are pinned to core 1; the server-side processes (with their Redis)
are not pinned: they may use both cores, less what the generators take. Pinning the
servers to core 0 was tried too (docs/benchmarks.md says what it changed).
``server_cpu_us_per_msg`` is the CPU time (user + system, from /proc) of the
server-side processes, Redis included, per delivered message; ``node_cpu_us_per_msg``
leaves Redis out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import loadgen, peers
from bench.loadgen import Fleet, cpu_seconds, percentile, pin
from devkit import services

P99_LIMIT_MS = 250.0
SERVER_CPUS: set[int] | None = None  # None: not pinned
GENERATOR_CPU = 1
TOUCHPOINT = "tp_bench"
QUEUE = "q_bench"
SHOP = "https://shop.bench.test"
PASSWORD = "bench-password"
SYSTEMS = ("gateway", "ws", "sio", "channels")
NAMES = {"gateway": "engagement gateway (uvicorn, SQLite, 1 process)", **peers.NAMES}
GOALS = {"sio_ratio_min": 3.0, "ws_ratio_min": 0.8}


def _rates(first: float, factor: float, last: float) -> list[int]:
    out: list[int] = []
    r = first
    while r <= last:
        out.append(round(r))
        r *= factor
    return out


FULL: dict[str, Any] = {
    "conversations": 1000,
    "per_agent": 20,
    "generators": 2,
    "rates": _rates(300, 1.5, 140_000),
    "duration_s": 3.0,
    "drain_s": 1.5,
}
QUICK: dict[str, Any] = {
    "conversations": 20,
    "per_agent": 10,
    "generators": 1,
    "rates": [50, 100],
    "duration_s": 0.5,
    "drain_s": 0.5,
}


# -- the machine ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "open_files_limit": loadgen.raise_nofile(),
    }


# -- a gateway set up for benchmarks -------------------------------------------------


def seed_store(database_url: str, agents: int, per_agent: int) -> list[tuple[str, str]]:
    """Write a queue, an auto-accepting chat touchpoint for ``SHOP``, ``agents`` agents and
    the chat weight (100 / per_agent) into a store before any gateway starts on it.
    Returns the agents' (email, password)."""
    from gateway.auth import hash_password
    from gateway.model.records import Agent, FormField, GlobalSettings, Queue, Touchpoint
    from gateway.ports.store import create_store

    weight = max(1, 100 // per_agent)
    password_hash = hash_password(PASSWORD)
    creds = [(f"bench{i}@bench.test", PASSWORD) for i in range(agents)]

    async def write() -> None:
        store = create_store(database_url)
        await store.open()
        try:
            settings = GlobalSettings()
            await store.put_settings(
                GlobalSettings(channel_weights={**settings.channel_weights, "chat": weight})
            )
            await store.put_queue(Queue(id=QUEUE, name="Bench"))
            await store.put_touchpoint(
                Touchpoint(
                    id=TOUCHPOINT,
                    name="Bench shop",
                    channel="chat",
                    active=True,
                    routing_mode="flow",
                    domain=SHOP.removeprefix("https://"),
                    queue_ids=[QUEUE],
                    flow={"default": {"queue_ids": [QUEUE], "priority": 1, "acceptance": "auto"}},
                    form=[FormField(name="name", label="Your name", max_length=80)],
                    created_at=time.time(),
                )
            )
            for i, (email, _) in enumerate(creds):
                await store.put_agent(
                    Agent(
                        id=f"ag_bench{i}",
                        email=email,
                        name=f"Agent {i}",
                        queue_ids=[QUEUE],
                        password_hash=password_hash,
                    )
                )
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()
    return creds


def gateway_env(database_url: str, redis_url: str = "") -> dict[str, str]:
    env = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_DEMO": "0",
        "GATEWAY_LOG_LEVEL": "warning",
        # A benchmark agent holds many conversations at high rates: let its queue be deep.
        "GATEWAY_SEND_QUEUE_SIZE": "100000",
        "GATEWAY_SEND_QUEUE_BYTES": str(1 << 30),
        "GATEWAY_MAX_CONNECTIONS_PER_IP": "0",
        # All the load comes from one address (127.0.0.1) at rates no person types at:
        # the per-client abuse limits (docs/security.md) are off for the benchmark.
        "GATEWAY_FRAMES_PER_MINUTE": "0",
        "GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_CONVERSATIONS_PER_TOUCHPOINT_PER_HOUR": "0",
    }
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        yield f"sqlite:///{tmp}/gateway.db"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gateway_conversations(
    fleet: Fleet,
    nodes: list[tuple[str, int]],
    creds: list[tuple[str, str]],
    conversations: int,
    agent_node: Callable[[int], int] = lambda i: 0,
    visitor_node: Callable[[int], int] = lambda i: 0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Agents log in and connect; visitors bootstrap, connect and start conversations,
    which the router assigns; returns when every conversation is held by an agent."""
    g = len(fleet)
    t0 = time.monotonic()
    fleet.each(
        "gateway_agents",
        [
            {
                "agents": [
                    [e, p, list(nodes[agent_node(i)])]
                    for i, (e, p) in enumerate(creds)
                    if i % g == k
                ]
            }
            for k in range(g)
        ],
    )
    replies = fleet.each(
        "gateway_visitors",
        [
            {
                "visitors": [
                    [i, list(nodes[visitor_node(i)])] for i in range(conversations) if i % g == k
                ],
                "touchpoint_id": TOUCHPOINT,
                "page_url": SHOP + "/",
                "origin": SHOP,
            }
            for k in range(g)
        ],
    )
    failed = sum(r["failed"] for r in replies)
    if failed:
        raise RuntimeError(
            f"{failed} visitors failed to start: {[f for r in replies for f in r['failures']][:5]}"
        )
    deadline = time.monotonic() + timeout
    while True:
        held = sum(r["held"] for r in fleet.all("status"))
        if held >= conversations:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {held} of {conversations} conversations were assigned")
        time.sleep(0.2)
    return {"setup_s": round(time.monotonic() - t0, 1), "held": held}


# -- steps -----------------------------------------------------------------------------


def one_step(
    fleet: Fleet,
    pids: list[int],
    step: int,
    rate: float,
    duration: float,
    drain: float,
    node_pids: list[int] | None = None,
) -> dict[str, Any]:
    """Offer ``rate`` messages/s for ``duration`` s, spread over the generators."""
    g = len(fleet)
    cpu0 = cpu_seconds(pids)
    node_cpu0 = cpu_seconds(node_pids or pids)
    start_at = time.monotonic() + 0.3
    replies = fleet.all(
        "step", step=step, rate=rate / g, duration=duration, drain=drain, start_at=start_at
    )
    cpu = cpu_seconds(pids) - cpu0
    node_cpu = cpu_seconds(node_pids or pids) - node_cpu0
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
        "server_cpu_utilisation": round(cpu / (duration + drain + 0.3), 2),
        "generator_lag_s": max(r["send_lag_s"] for r in replies),
        "errors": errors,
    }


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
    return step["p99_ms"] is not None and step["p99_ms"] <= limit_ms


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
) -> dict[str, Any]:
    """Warm up, then step the rate up until p99 passes ``limit_ms``."""
    one_step(fleet, pids, 0, cfg["rates"][0] / 2, min(1.0, cfg["duration_s"]), 0.5, node_pids)
    steps: list[dict[str, Any]] = []
    for n, rate in enumerate(cfg["rates"], start=1):
        s = one_step(fleet, pids, n, rate, cfg["duration_s"], cfg["drain_s"], node_pids)
        steps.append(s)
        log(
            f"  {label:9} {rate:>7,} offered {s['delivered_msgs_per_s']:>7,} delivered "
            f"p50 {s['p50_ms']} p99 {s['p99_ms']} ms lost {s['lost']} "
            f"cpu {s['server_cpu_us_per_msg']} us/msg gen lag {s['generator_lag_s']} s"
        )
        if not _within(s, limit_ms):
            # Two more steps between the last good rate and this one (x1.22, then x1.1).
            lo = cfg["rates"][n - 2] if n >= 2 else rate / 2
            hi = rate
            for _ in range(cfg.get("refine", 2)):
                s["settle_s"] = settle(pids)
                mid = round(math.sqrt(lo * hi))
                s = one_step(
                    fleet, pids, 100 + len(steps), mid, cfg["duration_s"], cfg["drain_s"], node_pids
                )
                steps.append(s)
                log(
                    f"  {label:9} {mid:>7,} offered {s['delivered_msgs_per_s']:>7,} delivered "
                    f"p50 {s['p50_ms']} p99 {s['p99_ms']} ms lost {s['lost']} (refining)"
                )
                lo, hi = (mid, hi) if _within(s, limit_ms) else (lo, mid)
            break
    ok = [s for s in steps if _within(s, limit_ms)]
    best = max(ok, key=lambda s: s["delivered_msgs_per_s"]) if ok else None
    return {
        "steps": steps,
        "sustained_msgs_per_s": best["delivered_msgs_per_s"] if best else 0,
        "p50_ms_at_sustained": best["p50_ms"] if best else None,
        "p99_ms_at_sustained": best["p99_ms"] if best else None,
        "server_cpu_us_per_msg": _median([s["server_cpu_us_per_msg"] for s in ok]),
        "saturated": any(not _within(s, limit_ms) for s in steps),
    }


def _median(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 1) if vals else None


# -- systems ---------------------------------------------------------------------------


def _generators(cfg: dict[str, Any], system: str) -> Fleet:
    return Fleet(cfg["generators"], system, cpus=[GENERATOR_CPU])


def run_gateway(cfg: dict[str, Any], profile_dir: Path | None = None) -> dict[str, Any]:
    agents = math.ceil(cfg["conversations"] / cfg["per_agent"])
    with sqlite_url() as url:
        creds = seed_store(url, agents, cfg["per_agent"])
        node = services.start_gateway(gateway_env(url))
        try:
            if SERVER_CPUS:
                pin([node.proc.pid], SERVER_CPUS)
            with _generators(cfg, "gateway") as fleet:
                setup = gateway_conversations(
                    fleet, [("127.0.0.1", node.port)], creds, cfg["conversations"]
                )
                out = stepped(fleet, [node.proc.pid], cfg, label="gateway")
                out["setup"] = setup
                if profile_dir is not None and out["sustained_msgs_per_s"]:
                    out["profile"] = profile_gateway(fleet, node.proc.pid, out, cfg, profile_dir)
            out["server_alive"] = node.alive()
            out["server_log_tail"] = node.output()[-1500:]
        finally:
            node.stop()
    return out


def run_peer(name: str, cfg: dict[str, Any], python: str | None = None) -> dict[str, Any]:
    server = peers.start(name, python)
    try:
        if SERVER_CPUS:
            pin(server.pids, SERVER_CPUS)
        n, per_agent = cfg["conversations"], cfg["per_agent"]
        agents = math.ceil(n / per_agent)
        first, last = list(server.nodes[0]), list(server.nodes[-1])
        clients: list[list[Any]] = [["v", first, [f"r{i}"]] for i in range(n)]
        clients += [
            ["a", last, [f"r{i}" for i in range(n) if i % agents == j]] for j in range(agents)
        ]
        with _generators(cfg, name) as fleet:
            g = len(fleet)
            t0 = time.monotonic()
            fleet.each("peer_clients", [{"clients": clients[k::g]} for k in range(g)])
            setup_s = round(time.monotonic() - t0, 1)
            out = stepped(fleet, server.pids, cfg, node_pids=server.node_pids, label=name)
            out["setup"] = {"setup_s": setup_s}
    finally:
        server.stop()
    return out


# -- profile ---------------------------------------------------------------------------


def py_spy() -> str | None:
    import sys

    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def profile_gateway(
    fleet: Fleet, pid: int, result: dict[str, Any], cfg: dict[str, Any], out_dir: Path
) -> dict[str, Any]:
    """Record the gateway with py-spy while it relays at its sustained rate.

    ``--gil`` samples the thread holding the GIL: where the Python-level CPU goes."""
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    settle([pid])
    raw = out_dir / "relay-gateway.pyspy.txt"
    duration = max(2, int(cfg["duration_s"] * 3))
    rec = subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(duration),
            "--rate",
            "250",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    rate = round(result["sustained_msgs_per_s"] * 0.7)  # below the knee: the steady cost
    step = one_step(fleet, [pid], 999, rate, duration - 0.5, cfg["drain_s"])
    _, err = rec.communicate(timeout=60)
    if rec.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed ({rec.returncode}): {err.decode(errors='replace')[-400:]}"}
    return {"during_step": step, **summarise_profile(raw.read_text())}


def summarise_profile(collapsed: str, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        self_[frames[-1]] = self_.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count

    def table(d: dict[str, int], n: int) -> list[dict[str, Any]]:
        rows = sorted(d.items(), key=lambda kv: -kv[1])[:n]
        return [{"frame": f, "share_pct": round(100 * c / total, 1)} for f, c in rows]

    return {"samples": total, "self": table(self_, top), "inclusive": table(incl, 4 * top)}


def _short(frame: str) -> str:
    """``fn (/abs/path/site-packages/pkg/mod.py:12)`` -> ``fn (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", str(loadgen.ROOT) + "/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name


# -- the workload ----------------------------------------------------------------------


def run(
    quick: bool,
    systems: tuple[str, ...] = SYSTEMS,
    profile_dir: Path | None = None,
    peer_python: str | None = None,
) -> dict[str, Any]:
    """``peer_python``: run the peers with this interpreter instead of bench/.venv-peers
    (only the bare websockets peer can: the others need their packages)."""
    cfg = dict(QUICK if quick else FULL)
    loadgen.raise_nofile()
    loadgen.exit_on_sigterm()
    if profile_dir is None and not quick:
        profile_dir = loadgen.ROOT / "docs" / "benchmarks"
    out: dict[str, Any] = {
        "machine": machine(),
        "config": cfg,
        "body_bytes": loadgen.BODY_BYTES,
        "p99_limit_ms": P99_LIMIT_MS,
        "names": {s: NAMES[s] for s in systems},
        "systems": {},
    }
    if peer_python is None and any(s in peers.PEERS for s in systems):
        peers.ensure_venv()
        out["peer_versions"] = peers.versions()
    for system in systems:
        print(f"relay: {system} ...", flush=True)
        try:
            if system == "gateway":
                out["systems"][system] = run_gateway(cfg, profile_dir)
            else:
                out["systems"][system] = run_peer(system, cfg, peer_python)
        except Exception as exc:  # one system failing must not lose the others' figures
            out["systems"][system] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"relay: {system} failed: {exc}", flush=True)
    gw = out["systems"].get("gateway", {}).get("sustained_msgs_per_s")
    for peer in systems:
        if peer == "gateway":
            continue
        theirs = out["systems"][peer].get("sustained_msgs_per_s")
        out[f"gateway_to_{peer}_ratio"] = round(gw / theirs, 2) if gw and theirs else None
    goals: dict[str, Any] = {}
    if "gateway_to_sio_ratio" in out:
        r = out["gateway_to_sio_ratio"]
        goals["throughput_3x_socketio"] = {"ratio": r, "met": bool(r and r >= 3.0)}
    if "gateway_to_ws_ratio" in out:
        r = out["gateway_to_ws_ratio"]
        goals["throughput_0.8x_websockets"] = {"ratio": r, "met": bool(r and r >= 0.8)}
    out["goals"] = goals
    return out


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"relay: {result['config']['conversations']} conversations, "
        f"{result['body_bytes']}-byte messages, rate x1.5 until p99 > {result['p99_limit_ms']:g} ms"
    ]
    lines.append(
        f"  {'system':10} {'sustained msg/s':>16} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU us/msg':>18}"
    )
    for name, s in result["systems"].items():
        if "error" in s:
            lines.append(f"  {name:10} failed: {s['error'][:200]}")
            continue
        lines.append(
            f"  {name:10} {s['sustained_msgs_per_s']:>16,} {s['p50_ms_at_sustained']!s:>8} "
            f"{s['p99_ms_at_sustained']!s:>8} {s['server_cpu_us_per_msg']!s:>18}"
        )
    for key, value in result.items():
        if key.endswith("_ratio"):
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)
