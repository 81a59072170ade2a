"""Relay workload: visitors and agents exchanging 100-byte messages through the server.

Every system gets the same shape: ``conversations`` rooms, each with one visitor socket
and one agent socket, every agent socket in ``per_agent`` rooms. Messages alternate
between a visitor speaking and an agent replying; each is timed from the moment it was
scheduled to leave until the other side's socket has it (see bench/loadgen.py). The
offered rate is stepped up (x1.5; x2 with ``--quick``) until p99 passes 250 ms or less
than 90 % of the offer is delivered (a message lost or not there by the end of the step
counts as late): the knee (bench/ramp.py; a step failed by p99 alone is run once more,
and the second run decides). ``sustained_msgs_per_s`` is the highest rate delivered
under the knee; ``knee`` says what ended the ramp, or that none was found (the
time budget ran out, or the top rate was sustained), and whether the generators were
busy enough to be the limit themselves (``generator_busy``: their CPU share of the cores
they run on).

The systems, one after the other in the same run:

* ``gateway``: the gateway as it ships (uvicorn, in-process bus), SQLite, every message
  committed before it is acknowledged and relayed, every rate limiter on
  (bench/gateway_setup.py ``RATE_LIMITS_ON``); conversations assigned by the router (a
  flow touchpoint with automatic acceptance; chat weight 100 / ``per_agent``).
* ``gateway-nolimits``: the same with every rate limiter off: the limits' cost.
* ``gateway-2n``: two gateway nodes on Redis and PostgreSQL (limits on), visitors on
  node A and agents on node B, so every message crosses the bus; each is committed to
  PostgreSQL before it is acknowledged.
* ``ws``, ``ws-sqlite``, ``sio``, ``channels``: the peers (bench/peers); ``ws-sqlite`` is
  the bare relay committing each message to SQLite before it relays and acknowledges it
  (the floor of the one-node gateway's durability), ``sio`` is two nodes on Redis,
  visitors on the first and agents on the second.

Every server process of a system (nodes, Redis, PostgreSQL, all their threads) is pinned
to the same core(s), the load generators to the last core, the same way for every
system (bench/pinning.py; ``BENCH_PIN=0`` leaves the servers unpinned).
``server_cpu_us_per_msg`` is the CPU time (user + system, from /proc) of all the
server-side processes of the system, Redis and PostgreSQL included, per delivered
message; ``cpu_us_per_msg_by_process`` splits it per process (node A, node B,
PostgreSQL, Redis); ``node_cpu_us_per_msg`` is the nodes' alone. ``gateway-2n`` also
reports ``postgres_per_msg``: what PostgreSQL ran per message stored over the ramp, from
pg_stat_statements (bench/pg_statements.py).

``BENCH_RELAY_SYSTEMS=gateway-2n,sio`` runs only those systems; ``BENCH_GATEWAY_SOURCE=DIR``
runs the gateway nodes from another checkout (before and after in one sitting).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from bench import loadgen, peers, pg_statements
from bench.gateway_setup import (
    RATE_LIMITS_ON,
    gateway_conversations,
    gateway_env,
    machine,
    seed_store,
    sqlite_url,
)
from bench.loadgen import Fleet, descendants
from bench.pinning import Placement, placement
from bench.ramp import KEEP_UP, P99_LIMIT_MS, Parts, _within, part_pids, stepped
from bench.relay_profile import profile_gateway, profile_nodes
from devkit import services

SYSTEMS = ("gateway", "gateway-nolimits", "gateway-2n", "ws", "ws-sqlite", "sio", "channels")
GATEWAYS = ("gateway", "gateway-nolimits", "gateway-2n")
NAMES = {
    "gateway": "engagement gateway (uvicorn, SQLite, 1 process), rate limits on",
    "gateway-nolimits": "engagement gateway (uvicorn, SQLite, 1 process), rate limits off",
    "gateway-2n": "engagement gateway, 2 nodes + Redis + PostgreSQL, rate limits on",
    **peers.NAMES,
}
# Issue 18's goals, measured in one run beside the peers.
GOALS = {
    "gateway_2n_to_sio_min": 3.0,  # two nodes + Redis + PostgreSQL vs python-socketio x2
    "gateway_to_ws_min": 0.25,  # one node on SQLite vs the bare websockets relay
    "gateway_msgs_per_s_min": 10_000,  # one node on SQLite, on one core
    "gateway_cpu_us_per_msg_max": 100.0,  # ... about 100 us of server CPU per message
}


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
    # bounds the run (see full_run_bound_s); only a ceiling as high as the bare
    # websockets relay's gets near it
    "budget_s": 75.0,
}
# Quick: fewer conversations and shorter steps, the rate doubling from the start, but
# still up to each system's knee (or the time budget, which the result then names).
QUICK: dict[str, Any] = {
    "conversations": 200,
    "per_agent": 10,
    "generators": 2,
    "rates": _rates(250, 2.0, 140_000),
    "duration_s": 1.0,
    "drain_s": 0.5,
    "refine": 1,
    # a failed step decides at once: the quick run finds a knee, not the steadiest one
    "repeats": 0,
    "budget_s": 40.0,
    # PostgreSQL's table counters take 11 s to come (bench/pg_statements.py): not here
    "pg_table_counters": False,
}


# -- systems ---------------------------------------------------------------------------


def _generators(cfg: dict[str, Any], system: str, where: Placement) -> Fleet:
    return Fleet(cfg["generators"], system, cpus=[where.generator])


def _ramp(
    fleet: Fleet, cfg: dict[str, Any], parts: Parts, where: Placement, label: str
) -> dict[str, Any]:
    pids = part_pids(parts)
    # Again after the setup, for the processes started since (PostgreSQL's backends
    # inherit the postmaster's cores; this makes sure of it).
    where.pin(pids)
    return stepped(fleet, pids, cfg, label=label, parts=parts)


def _limits(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in RATE_LIMITS_ON}


class OneNode(NamedTuple):
    node: services.GatewayProcess
    fleet: Fleet
    setup: dict[str, Any]
    env: dict[str, str]


@contextmanager
def one_node(
    cfg: dict[str, Any], where: Placement, rate_limits: bool, source: Path | None = None
) -> Iterator[OneNode]:
    """The relay's one-node gateway, warm: a seeded SQLite store, the node pinned to the
    servers' core (``source``: another checkout's), its generators on theirs, and
    ``cfg["conversations"]`` held. bench/side_by_side.py runs two of them."""
    agents = math.ceil(cfg["conversations"] / cfg["per_agent"])
    with sqlite_url() as url:
        creds = seed_store(url, agents, cfg["per_agent"])
        env = gateway_env(url, rate_limits=rate_limits)
        node = services.start_gateway(env, source=source)
        try:
            where.pin([node.proc.pid])
            with _generators(cfg, "gateway", where) as fleet:
                setup = gateway_conversations(
                    fleet, [("127.0.0.1", node.port)], creds, cfg["conversations"]
                )
                yield OneNode(node, fleet, setup, env)
        finally:
            node.stop()


def run_gateway(
    cfg: dict[str, Any],
    where: Placement,
    rate_limits: bool = True,
    profile_dir: Path | None = None,
    label: str = "gateway",
) -> dict[str, Any]:
    source = os.environ.get("BENCH_GATEWAY_SOURCE")
    with one_node(cfg, where, rate_limits, Path(source) if source else None) as one:
        node, fleet = one.node, one.fleet
        out = _ramp(fleet, cfg, {"node": lambda: [node.proc.pid]}, where, label)
        out["setup"] = one.setup
        out["rate_limits_env"] = _limits(one.env)
        if profile_dir is not None and out["sustained_msgs_per_s"]:
            out["profile"] = profile_gateway(fleet, node.proc.pid, out, cfg, profile_dir)
        out["server_alive"] = node.alive()
        out["server_log_tail"] = node.output()[-1500:]
    return out


@contextmanager
def _cluster_services(where: Placement) -> Iterator[tuple[services.Postgres, services.Redis]]:
    # pg_stat_statements: what PostgreSQL runs per message (bench/pg_statements.py)
    pg = services.start_postgres(pg_statements.SETTINGS)
    try:
        redis = services.start_redis()
        try:
            # Before any backend starts: they inherit the postmaster's cores.
            where.pin([*descendants(pg.proc.pid), redis.proc.pid])
            yield pg, redis
        finally:
            redis.stop()
    finally:
        pg.stop()


class Cluster(NamedTuple):
    fleet: Fleet
    parts: Parts
    setup: dict[str, Any]
    pg: services.Postgres
    redis: services.Redis
    nodes: list[services.GatewayProcess]


@contextmanager
def gateway_cluster(cfg: dict[str, Any], where: Placement) -> Iterator[Cluster]:
    """Two nodes on Redis + PostgreSQL with ``cfg["conversations"]`` held, visitors on
    node A and agents on node B. The nodes' liveness and log tails are added to
    ``setup`` on the way out."""
    agents = math.ceil(cfg["conversations"] / cfg["per_agent"])
    with _cluster_services(where) as (pg, redis):
        creds = seed_store(pg.dsn, agents, cfg["per_agent"])
        env = gateway_env(pg.dsn, redis.url, rate_limits=True)
        source = os.environ.get("BENCH_GATEWAY_SOURCE")
        nodes: list[services.GatewayProcess] = []
        try:
            for _ in range(2):
                nodes.append(services.start_gateway(env, source=Path(source) if source else None))
                where.pin([nodes[-1].proc.pid])
            a, b = nodes
            parts: Parts = {
                "node A": lambda: [a.proc.pid],
                "node B": lambda: [b.proc.pid],
                "PostgreSQL": lambda: descendants(pg.proc.pid),
                "Redis": lambda: [redis.proc.pid],
            }
            addrs = [("127.0.0.1", a.port), ("127.0.0.1", b.port)]
            with _generators(cfg, "gateway", where) as fleet:
                setup = gateway_conversations(
                    fleet,
                    addrs,
                    creds,
                    cfg["conversations"],
                    agent_node=lambda i: 1,
                    visitor_node=lambda i: 0,
                )
                setup["rate_limits_env"] = _limits(env)
                yield Cluster(fleet, parts, setup, pg, redis, nodes)
            setup["server_alive"] = [n.alive() for n in nodes]
            setup["server_log_tail"] = [n.output()[-1500:] for n in nodes]
        finally:
            for n in nodes:
                n.stop()


def run_gateway_2n(
    cfg: dict[str, Any], where: Placement, profile_dir: Path | None = None
) -> dict[str, Any]:
    """Two nodes on Redis + PostgreSQL; visitors on node A, agents on node B.
    ``profile_dir``: py-spy both nodes at once after the ramp (relay-2n-node-A/B)."""
    with gateway_cluster(cfg, where) as (fleet, parts, setup, pg, _, nodes):
        tables = cfg.get("pg_table_counters", True)
        before = pg_statements.reset(pg.dsn, tables)
        out = _ramp(fleet, cfg, parts, where, "gateway-2n")
        out["postgres_per_msg"] = pg_statements.per_message(pg.dsn, before, tables=tables)
        out["setup"] = {k: setup[k] for k in ("setup_s", "held")}
        if profile_dir is not None and out["sustained_msgs_per_s"]:
            pids = {"node A": nodes[0].proc.pid, "node B": nodes[1].proc.pid}
            out["profile"] = profile_nodes(fleet, pids, out, cfg, profile_dir, "relay-2n", parts)
        out["rate_limits_env"] = setup.pop("rate_limits_env")
    out["server_alive"] = setup["server_alive"]
    out["server_log_tail"] = setup["server_log_tail"]
    return out


def run_peer(
    name: str, cfg: dict[str, Any], where: Placement, python: str | None = None
) -> dict[str, Any]:
    server = peers.start(name, python)
    try:
        where.pin(server.pids)
        procs = server.procs
        parts: Parts = (
            {"node A": lambda: [procs[0].pid], "node B": lambda: [procs[1].pid]}
            if len(procs) == 2
            else {"node": lambda: [procs[0].pid]}
        )
        if server.redis is not None:
            redis_pid = server.redis.proc.pid
            parts["Redis"] = lambda: [redis_pid]
        n, per_agent = cfg["conversations"], cfg["per_agent"]
        agents = math.ceil(n / per_agent)
        first, last = list(server.nodes[0]), list(server.nodes[-1])
        clients: list[list[Any]] = [["v", first, [f"r{i}"]] for i in range(n)]
        clients += [
            ["a", last, [f"r{i}" for i in range(n) if i % agents == j]] for j in range(agents)
        ]
        with _generators(cfg, name, where) as fleet:
            g = len(fleet)
            t0 = time.monotonic()
            fleet.each("peer_clients", [{"clients": clients[k::g]} for k in range(g)])
            setup_s = round(time.monotonic() - t0, 1)
            out = _ramp(fleet, cfg, parts, where, name)
            out["setup"] = {"setup_s": setup_s}
    finally:
        server.stop()
    return out


# -- the workload ----------------------------------------------------------------------


def run(
    quick: bool,
    systems: tuple[str, ...] = SYSTEMS,
    profile_dir: Path | None = None,
    peer_python: str | None = None,
    pin: bool | None = None,
) -> dict[str, Any]:
    """``peer_python``: run the peers with this interpreter instead of bench/.venv-peers
    (only the bare websockets peer can: the others need their packages). ``pin``: pin
    the servers (None: as ``BENCH_PIN`` says, on unless 0; bench/pinning.py)."""
    cfg = dict(QUICK if quick else FULL)
    # BENCH_RELAY_SYSTEMS=gateway-2n,sio: only those (while working on one of them)
    only = os.environ.get("BENCH_RELAY_SYSTEMS", "")
    if only:
        systems = tuple(s for s in only.split(",") if s in SYSTEMS)
    loadgen.raise_nofile()
    loadgen.exit_on_sigterm()
    where = placement(pin)
    if profile_dir is None and not quick:
        profile_dir = loadgen.ROOT / "docs" / "benchmarks"
    out: dict[str, Any] = {
        "machine": machine(),
        "config": cfg,
        "placement": where.as_json(),
        "full_run_bound_s": full_run_bound_s(FULL, len(SYSTEMS)),
        "body_bytes": loadgen.BODY_BYTES,
        # the gateway's clients' message ids, as the widget's (docs/store.md)
        "client_msg_ids": "uuid7",
        "p99_limit_ms": P99_LIMIT_MS,
        "names": {s: NAMES[s] for s in systems},
        "systems": {},
        "elapsed_s": {},
        # the machine's load beside the run (1, 5, 15 min): a pinned server shares its
        # core with whatever else runs there
        "loadavg": {"start": _loadavg()},
    }
    print(f"relay: {where.note}", flush=True)
    if peer_python is None and any(s in peers.PEERS for s in systems):
        peers.ensure_venv()
        out["peer_versions"] = peers.versions()
    for system in systems:
        print(f"relay: {system} ...", flush=True)
        t0 = time.monotonic()
        try:
            if system == "gateway":
                out["systems"][system] = run_gateway(cfg, where, True, profile_dir)
            elif system == "gateway-nolimits":
                out["systems"][system] = run_gateway(cfg, where, False, label=system)
            elif system == "gateway-2n":
                out["systems"][system] = run_gateway_2n(cfg, where, profile_dir)
            else:
                out["systems"][system] = run_peer(system, cfg, where, peer_python)
        except Exception as exc:  # one system failing must not lose the others' figures
            out["systems"][system] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"relay: {system} failed: {exc}", flush=True)
        out["elapsed_s"][system] = round(time.monotonic() - t0, 1)
    out["loadavg"]["end"] = _loadavg()
    out.update(ratios(out["systems"]))
    return out


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def full_run_bound_s(cfg: dict[str, Any], systems: int, setup_s: float = 30.0) -> int:
    """The longest a full run can take by its budget logic: per system a setup (started
    servers, conversations assigned: ``setup_s``, about 30 s at most on a quiet machine),
    the warm-up step, the ramp's budget plus the step under way when it ran out, then the
    refining steps and the failed steps run again, each after a settle of up to 20 s;
    and the gateway's py-spy profile. A system whose knee comes early takes far less
    (the gateway's comes within a few steps)."""
    duration, drain = float(cfg["duration_s"]), float(cfg["drain_s"])
    step = duration + drain + 0.3 + 0.2  # + the start delay, + the fleet's replies
    warm = min(1.0, duration) + 0.5 + 0.5
    ramp = float(cfg.get("budget_s", math.inf)) + step
    refine = int(cfg.get("refine", 2)) * (20.0 + step)
    repeats = int(cfg.get("repeats", 2)) * (20.0 + step)  # each after a settle too
    profile = 20.0 + 3 * duration + drain  # the gateway's, once
    return round(systems * (setup_s + warm + ramp + refine + repeats) + profile)


def _sustained(systems: dict[str, Any], name: str) -> Any:
    return systems.get(name, {}).get("sustained_msgs_per_s")


def _ratio(systems: dict[str, Any], ours: str, theirs: str) -> float | None:
    a, b = _sustained(systems, ours), _sustained(systems, theirs)
    return round(a / b, 3) if a and b else None


def ratios(systems: dict[str, Any]) -> dict[str, Any]:
    """The ratios and issue 18's goals, from the systems' results."""
    out: dict[str, Any] = {}
    for peer in peers.PEERS:
        if peer in systems:
            out[f"gateway_to_{peer}_ratio"] = _ratio(systems, "gateway", peer)
            out[f"gateway_to_{peer}_ratio_note"] = _ratio_note(systems, "gateway", peer)
    if "gateway-2n" in systems and "sio" in systems:
        out["gateway_2n_to_sio_ratio"] = _ratio(systems, "gateway-2n", "sio")
        out["gateway_2n_to_sio_ratio_note"] = _ratio_note(systems, "gateway-2n", "sio")
    on, off = systems.get("gateway", {}), systems.get("gateway-nolimits", {})
    if on.get("sustained_msgs_per_s") and off.get("sustained_msgs_per_s"):
        cpu_on, cpu_off = on.get("server_cpu_us_per_msg"), off.get("server_cpu_us_per_msg")
        out["rate_limits"] = {
            "on_msgs_per_s": on["sustained_msgs_per_s"],
            "off_msgs_per_s": off["sustained_msgs_per_s"],
            "on_to_off_ratio": _ratio(systems, "gateway", "gateway-nolimits"),
            "on_cpu_us_per_msg": cpu_on,
            "off_cpu_us_per_msg": cpu_off,
            "cpu_us_per_msg_added": round(cpu_on - cpu_off, 1) if cpu_on and cpu_off else None,
            **_same_rates(on, off),
        }
    goals: dict[str, Any] = {}
    if "gateway_2n_to_sio_ratio" in out:
        r = out["gateway_2n_to_sio_ratio"]
        goals["gateway_2n_3x_sio_2n"] = {
            "ratio": r,
            "goal": GOALS["gateway_2n_to_sio_min"],
            "met": bool(r and r >= GOALS["gateway_2n_to_sio_min"]),
            "note": out["gateway_2n_to_sio_ratio_note"],
        }
    if "gateway" in systems and "ws" in systems:
        r = out["gateway_to_ws_ratio"]
        goals["gateway_quarter_of_ws"] = {
            "ratio": r,
            "goal": GOALS["gateway_to_ws_min"],
            "met": bool(r and r >= GOALS["gateway_to_ws_min"]),
            "note": out["gateway_to_ws_ratio_note"],
        }
    if on.get("steps"):
        rate = on.get("sustained_msgs_per_s") or 0
        cpu = on.get("server_cpu_us_per_msg_at_sustained")
        goals["gateway_10000_msgs_per_s_one_core"] = {
            "msgs_per_s": rate,
            "cpu_us_per_msg_at_sustained": cpu,
            "goal_msgs_per_s": GOALS["gateway_msgs_per_s_min"],
            "goal_cpu_us_per_msg": GOALS["gateway_cpu_us_per_msg_max"],
            "met": bool(
                rate >= GOALS["gateway_msgs_per_s_min"]
                and cpu is not None
                and cpu <= GOALS["gateway_cpu_us_per_msg_max"]
            ),
        }
    out["goals"] = goals
    return out


def cpu_by_rate(s: dict[str, Any], limit_ms: float | None = None) -> dict[int, float]:
    """A system's server CPU per message at each rate it was offered, from the step that
    decided (a step run again is followed by its second run); ``limit_ms``: only the
    steps under that p99, the rates it relayed."""
    return {
        st["offered_msgs_per_s"]: st["server_cpu_us_per_msg"]
        for st in s.get("steps", [])
        if st["server_cpu_us_per_msg"] is not None and (limit_ms is None or _within(st, limit_ms))
    }


def _same_rates(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """CPU per message with the limits on less off, at the rates both relayed under their
    knees: the medians of their own steps compare different rates (CPU per message falls
    as the rate rises), and a knee on a shared machine moves with its neighbours."""

    a, b = cpu_by_rate(on, P99_LIMIT_MS), cpu_by_rate(off, P99_LIMIT_MS)
    rates = sorted(a.keys() & b.keys())
    added = statistics.median(a[r] - b[r] for r in rates) if rates else None
    return {
        "same_rates": rates,
        "cpu_us_per_msg_added_same_rates": None if added is None else round(added, 1),
    }


def _factor(rates: list[int]) -> str:
    return f"{rates[1] / rates[0]:.2g}" if len(rates) > 1 else "1"


def _ratio_note(systems: dict[str, Any], ours: str, peer: str) -> str:
    """Empty when both knees were found (the ratio compares two ceilings); else why the
    ratio is only a bound."""
    notes = []
    for name in (ours, peer):
        knee = systems.get(name, {}).get("knee")
        if knee is None:
            continue
        if not knee["found"]:
            notes.append(f"{name}: no knee ({knee['why']}), its figure is a lower bound")
        elif knee.get("generator_bound"):
            notes.append(f"{name}: the generators were busy, its figure may be theirs")
    return "; ".join(notes)


def summary(result: dict[str, Any]) -> str:
    cfg = result["config"]
    lines = [
        f"relay: {cfg['conversations']} conversations, "
        f"{result['body_bytes']}-byte messages, rate x{_factor(cfg['rates'])} "
        f"until p99 > {result['p99_limit_ms']:g} ms or under {KEEP_UP:.0%} delivered",
        f"  placement: {result.get('placement', {}).get('note', 'not recorded')}",
        f"  load average (1, 5, 15 min) at the start {result.get('loadavg', {}).get('start')}, "
        f"at the end {result.get('loadavg', {}).get('end')}",
    ]
    lines.append(
        f"  {'system':17} {'sustained msg/s':>16} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU us/msg':>18} {'at knee':>8}"
    )
    for name, s in result["systems"].items():
        if "error" in s:
            lines.append(f"  {name:17} failed: {s['error'][:200]}")
            continue
        lines.append(
            f"  {name:17} {s['sustained_msgs_per_s']:>16,} {s['p50_ms_at_sustained']!s:>8} "
            f"{s['p99_ms_at_sustained']!s:>8} {s['server_cpu_us_per_msg']!s:>18} "
            f"{s.get('server_cpu_us_per_msg_at_sustained')!s:>8}"
        )
    for name, s in result["systems"].items():
        split = s.get("cpu_us_per_msg_by_process") or {}
        if len(split) > 1:
            lines.append(
                f"  {name} CPU us/msg by process: "
                + ", ".join(f"{k} {v}" for k, v in split.items())
            )
    for s in result["systems"].values():
        lines.extend(pg_statements.lines(s.get("postgres_per_msg") or {}))
    for name, s in result["systems"].items():
        knee = s.get("knee")
        if knee is not None:
            found = f"knee by {knee['why']}" if knee["found"] else f"no knee: {knee['why']}"
            lines.append(
                f"  {name}: {found}; generators busy {s.get('generator_busy_at_sustained')} "
                f"at the sustained rate (of their cores); ramp {s.get('ramp_s')} s, "
                f"all {result.get('elapsed_s', {}).get(name)} s"
            )
    for key, value in result.items():
        if key.endswith("_ratio"):
            note = result.get(key + "_note")
            lines.append(f"  {key}: {value}" + (f" ({note})" if note else ""))
    limits = result.get("rate_limits")
    if limits:
        lines.append(
            f"  rate limits: on {limits['on_msgs_per_s']:,} msg/s "
            f"{limits['on_cpu_us_per_msg']} us/msg, off {limits['off_msgs_per_s']:,} msg/s "
            f"{limits['off_cpu_us_per_msg']} us/msg (on / off {limits['on_to_off_ratio']}, "
            f"{limits['cpu_us_per_msg_added']} us/msg added; at the same rates "
            f"{limits['same_rates']}: {limits['cpu_us_per_msg_added_same_rates']} us/msg added)"
        )
    for name, g in result.get("goals", {}).items():
        lines.append(
            f"  goal {name}: " + ", ".join(f"{k} {v}" for k, v in g.items() if k != "note")
        )
    total = sum(result.get("elapsed_s", {}).values())
    lines.append(
        f"  this run {total:.0f} s; a full run (./scripts/bench relay) is bounded by its "
        f"budgets at about {result.get('full_run_bound_s', 0) / 60:.0f} min"
    )
    return "\n".join(lines)
