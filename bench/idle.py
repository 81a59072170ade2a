"""Idle workload: how much resident memory one held connection costs, up to ~19,000.

One gateway process (SQLite, in-process bus) and visitor sockets that said hello and got
their welcome, then stay idle (the socket answers the server's pings). The connections
come from several generator processes (each has its own open-file limit and its own
source address, 127.0.0.2, .3, ...), so only the server holds all of them; the server's
limit is the machine's, about 20,000 open files.

At each checkpoint the server's RSS (VmRSS from /proc) is read after a pause to settle.
While the last checkpoint's sockets are held, the server's CPU (user + system) is read:
what idle sockets cost a node that does nothing else (``idle_cpu_core_share``).
``rss_per_conn_bytes`` is the slope of RSS over open connections (least squares over
the checkpoints, so start-up memory is left out); ``rss_per_conn_from_start_bytes``
divides the whole growth since start by the connections. Visitor tokens are minted with
the gateway's key in the generators (the bootstrap is not what is measured here).

For scale, the same is measured for the bare ``websockets`` peer (a socket in one room).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench import loadgen, peers
from bench.gateway_setup import SHOP, TOUCHPOINT, gateway_env, machine, seed_store, sqlite_url
from bench.loadgen import Fleet, cpu_seconds, rss_bytes
from devkit import services

FULL: dict[str, Any] = {
    "checkpoints": [1000, 5000, 10000, 15000, 19000],
    "generators": 4,
    "hold_s": 20.0,  # one ping interval: every socket is pinged once while held
    "settle_s": 3.0,
    "peers": ["ws"],
}
QUICK: dict[str, Any] = {
    "checkpoints": [50, 200],
    "generators": 2,
    "hold_s": 0.5,
    "settle_s": 0.3,
    "peers": [],
}
GATEWAY_TOUCHPOINT_PARAMS: dict[str, Any] = {"touchpoint_id": TOUCHPOINT}
GOALS = {"rss_per_conn_bytes_max": 16 * 1024, "connections_min": 19_000}


def _fds(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return -1


def _nofile(pid: int) -> int | None:
    """The process's soft limit on open files (/proc/PID/limits)."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _open(
    fleet: Fleet,
    node: tuple[str, int],
    system: str,
    origin: str,
    target: int,
    params: dict[str, Any],
) -> list[dict[str, Any]]:
    """Open idle sockets across the fleet up to ``target`` in all; each generator's reply."""
    g = len(fleet)
    return fleet.each(
        "idle_open",
        [
            {
                "system": system,
                "node": list(node),
                "origin": origin,
                "target": target // g + (1 if k < target % g else 0),
                "local_ip": f"127.0.0.{2 + k}",
                **params,
            }
            for k in range(g)
        ],
    )


def open_idle(
    fleet: Fleet,
    node: tuple[str, int],
    system: str,
    origin: str,
    target: int,
    params: dict[str, Any],
) -> int:
    """:func:`_open`, failing if any socket did not open; how many are open."""
    replies = _open(fleet, node, system, origin, target, params)
    failed = [f for r in replies for f in r["failures"]]
    if failed:
        raise RuntimeError(f"{len(failed)} sockets failed to open: {failed[:3]}")
    return sum(int(r["open"]) for r in replies)


def _slope(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def measure(
    pid: int,
    node: tuple[str, int],
    system: str,
    cfg: dict[str, Any],
    params: dict[str, Any],
    log: Any = print,
) -> dict[str, Any]:
    g = cfg["generators"]
    limit = _nofile(pid)
    if limit is not None and cfg["checkpoints"][-1] + 64 > limit:
        # Each socket is an open file of the server: past its limit, accept() fails.
        log(f"  {system}: the server may open {limit} files: fewer sockets than asked")
    time.sleep(cfg["settle_s"])
    rss0 = rss_bytes(pid)
    points: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with Fleet(g, system) as fleet:
        for target in cfg["checkpoints"]:
            replies = _open(fleet, node, system, SHOP, target, params)
            time.sleep(cfg["settle_s"])
            opened = sum(r["open"] for r in replies)
            failed = sum(r["failed"] for r in replies)
            point = {
                "target": target,
                "open": opened,
                "failed": failed,
                "rss_bytes": rss_bytes(pid),
                "server_fds": _fds(pid),
                "elapsed_s": round(time.monotonic() - t0, 1),
            }
            if failed:
                point["failures"] = [f for r in replies for f in r["failures"]][:3]
            points.append(point)
            log(
                f"  {system:8} {opened:>6} open ({failed} failed) "
                f"RSS {point['rss_bytes'] / 2**20:.1f} MiB, {point['server_fds']} fds"
            )
            if failed:
                break
        # What holding them costs: pings (one per socket per ping interval), timers; the
        # visitor token's renewal (every 5 minutes) falls outside a short hold.
        pings0 = sum(r["idle_pings"] for r in fleet.all("status"))
        cpu0, wall0 = cpu_seconds([pid]), time.monotonic()
        time.sleep(cfg["hold_s"])
        hold_cpu, hold_wall = cpu_seconds([pid]) - cpu0, time.monotonic() - wall0
        status = fleet.all("status")
        held = sum(r["idle"] for r in status)
        pings = sum(r["idle_pings"] for r in status) - pings0
        rss_end = rss_bytes(pid)
    xs = [float(p["open"]) for p in points]
    ys = [float(p["rss_bytes"]) for p in points]
    slope = _slope(xs, ys)
    last = points[-1]
    return {
        "points": points,
        "rss_start_bytes": rss0,
        "rss_end_bytes": rss_end,
        "connections_open": last["open"],
        "connections_held_after_s": {"seconds": cfg["hold_s"], "open": held},
        # the server's CPU while they were held: share of a core, and per socket
        "idle_cpu_core_share": round(hold_cpu / hold_wall, 4),
        "idle_cpu_us_per_conn_per_s": round(hold_cpu / hold_wall / held * 1e6, 2) if held else None,
        "pings_answered_while_held": pings,
        "server_nofile": limit,
        "rss_per_conn_bytes": round(slope) if slope is not None else None,
        "rss_per_conn_from_start_bytes": round((last["rss_bytes"] - rss0) / last["open"])
        if last["open"]
        else None,
        "connect_rate_per_s": round(last["open"] / last["elapsed_s"])
        if last["elapsed_s"]
        else None,
    }


def run_gateway(cfg: dict[str, Any]) -> dict[str, Any]:
    with sqlite_url() as url:
        seed_store(url, 0, 1)
        # BENCH_GATEWAY_SOURCE: another checkout's code (before and after in one sitting).
        source = os.environ.get("BENCH_GATEWAY_SOURCE")
        node = services.start_gateway(gateway_env(url), source=Path(source) if source else None)
        try:
            out = measure(
                node.proc.pid,
                ("127.0.0.1", node.port),
                "gateway",
                cfg,
                GATEWAY_TOUCHPOINT_PARAMS | {"secret": node.env["GATEWAY_SECRET_KEY"]},
            )
            out["server_alive"] = node.alive()
        finally:
            node.stop()
    return out


def run_peer(name: str, cfg: dict[str, Any], python: str | None = None) -> dict[str, Any]:
    server = peers.start(name, python)
    try:
        return measure(server.procs[0].pid, server.nodes[0], name, cfg, {})
    finally:
        server.stop()


def run(quick: bool, peer_python: str | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    loadgen.raise_nofile()
    loadgen.exit_on_sigterm()
    out: dict[str, Any] = {"machine": machine(), "config": cfg, "systems": {}}
    print("idle: gateway ...", flush=True)
    out["systems"]["gateway"] = gw = run_gateway(cfg)
    for name in cfg["peers"]:
        print(f"idle: {name} ...", flush=True)
        try:
            out["systems"][name] = run_peer(name, cfg, peer_python)
        except Exception as exc:
            out["systems"][name] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
    per = gw.get("rss_per_conn_bytes")
    out["rss_per_conn_bytes"] = per
    out["rss_per_conn_kib"] = round(per / 1024, 1) if per else None
    out["connections_open"] = gw["connections_open"]
    ws = out["systems"].get("ws", {}).get("rss_per_conn_bytes")
    if per and ws:
        out["gateway_to_ws_memory_ratio"] = round(per / ws, 2)
    out["goals"] = {
        "rss_16kib_per_conn": {
            "rss_per_conn_bytes": per,
            "met": bool(per and per <= GOALS["rss_per_conn_bytes_max"]),
        },
        "hold_19000_connections": {
            "open": gw["connections_held_after_s"]["open"],
            "met": gw["connections_held_after_s"]["open"] >= GOALS["connections_min"],
        },
    }
    return out


def summary(result: dict[str, Any]) -> str:
    lines = ["idle: visitor sockets after hello, RSS of the server process"]
    lines.append(
        f"  {'system':10} {'open':>7} {'RSS MiB':>9} {'KiB/conn (slope)':>17} {'from start':>11}"
        f" {'idle CPU %':>10}"
    )
    for name, s in result["systems"].items():
        if "error" in s:
            lines.append(f"  {name:10} failed: {s['error'][:200]}")
            continue
        per = s["rss_per_conn_bytes"]
        start = s["rss_per_conn_from_start_bytes"]
        lines.append(
            f"  {name:10} {s['connections_open']:>7,} {s['rss_end_bytes'] / 2**20:>9.1f} "
            f"{(per or 0) / 1024:>17.1f} {(start or 0) / 1024:>11.1f} "
            f"{s['idle_cpu_core_share'] * 100:>10.1f}"
        )
    for goal, v in result["goals"].items():
        lines.append(f"  goal {goal}: {'met' if v['met'] else 'NOT met'} ({v})")
    return "\n".join(lines)
