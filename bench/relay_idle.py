"""Relay idle: the two-node gateway's CPU with no traffic, once the relay's conversations
are held.

The relay's ``gateway-2n`` system is set up as for the relay (bench/relay.py: two nodes
on Redis and PostgreSQL, visitors on node A, agents on node B, every server process
pinned to one core), then nothing is sent. The CPU of each server process (user +
system, from /proc) is read over ``windows`` quiet windows of ``window_s`` seconds one
after the other, so work left over from the set-up shows as a first window busier than
the later ones. ``cores`` is the share of a core each process used in a window; the
figures at ``steady`` are the last window's: what the held sockets, timers, heartbeats
and leases cost whatever the message rate. Over the last window it also reads Redis's
commands (INFO commandstats) and PostgreSQL's statements (pg_stat_statements), per
second, busiest first.

``BENCH_IDLE_PYSPY=DIR`` also records both nodes with py-spy over the last window.
``BENCH_GATEWAY_SOURCE=DIR`` runs the nodes from another checkout (before and after in
one sitting), as for the relay.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.loadgen import cpu_seconds
from bench.pinning import placement
from bench.ramp import Parts
from bench.relay import FULL, QUICK, gateway_cluster
from bench.relay_profile import py_spy
from devkit import services

WINDOWS = {"windows": 4, "window_s": 5.0}
QUICK_WINDOWS = {"windows": 2, "window_s": 2.0}


def _cpu(parts: Parts) -> dict[str, float]:
    return {name: cpu_seconds(find()) for name, find in parts.items()}


def _redis_commands(url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def _pg(dsn: str, query: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def _pg_statements(dsn: str) -> dict[str, int]:
    asyncio.run(_pg(dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    rows = asyncio.run(_pg(dsn, "SELECT query, calls FROM pg_stat_statements"))
    out: dict[str, int] = {}
    for r in rows:
        key = " ".join(r["query"].split())[:90]
        out[key] = out.get(key, 0) + int(r["calls"])
    return out


def _per_s(after: dict[str, int], before: dict[str, int], secs: float) -> dict[str, float]:
    rates = {k: (n - before.get(k, 0)) / secs for k, n in after.items()}
    busy = sorted(((r, k) for k, r in rates.items() if r > 0), reverse=True)
    return {k: round(r, 1) for r, k in busy[:12]}


def _spy(nodes: list[services.GatewayProcess], secs: float) -> list[subprocess.Popen[bytes]]:
    """``BENCH_IDLE_PYSPY=DIR``: py-spy records each node over the window (where the
    quiet nodes' CPU goes), collapsed stacks in DIR/relay-idle-node-A/B.pyspy.txt."""
    exe, where = py_spy(), os.environ.get("BENCH_IDLE_PYSPY")
    if not exe or not where:
        return []
    Path(where).mkdir(parents=True, exist_ok=True)
    procs = []
    for name, n in zip("AB", nodes, strict=True):
        out = f"{where}/relay-idle-node-{name}.pyspy.txt"
        argv = [exe, "record", "--pid", str(n.proc.pid), "--duration", str(int(secs))]
        argv += ["--rate", "250", "--format", "raw", "--output", out]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def run(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    win = QUICK_WINDOWS if quick else WINDOWS
    loadgen.raise_nofile()
    loadgen.exit_on_sigterm()
    where = placement(None)
    out: dict[str, Any] = {"conversations": cfg["conversations"], **win}
    with gateway_cluster(cfg, where) as c:
        where.pin([pid for find in c.parts.values() for pid in find()])
        windows: list[dict[str, float]] = []
        for n in range(win["windows"]):
            last = n == win["windows"] - 1
            if last:
                redis0 = _redis_commands(c.redis.url)
                pg0 = _pg_statements(c.pg.dsn)
                spies = _spy(c.nodes, win["window_s"])
            cpu0, t0 = _cpu(c.parts), time.monotonic()
            time.sleep(win["window_s"])
            cpu1, secs = _cpu(c.parts), time.monotonic() - t0
            windows.append({k: round((cpu1[k] - cpu0[k]) / secs, 3) for k in cpu1})
            print(f"relay-idle: window {n + 1}: cores {windows[-1]}", flush=True)
        out["redis_per_s"] = _per_s(_redis_commands(c.redis.url), redis0, secs)
        out["postgres_per_s"] = _per_s(_pg_statements(c.pg.dsn), pg0, secs)
        for spy in spies:
            spy.wait(timeout=60)
        out["setup"] = c.setup
    out["cores"] = windows
    out["steady"] = windows[-1]
    out["steady_total_cores"] = round(sum(windows[-1].values()), 3)
    out["source"] = os.environ.get("BENCH_GATEWAY_SOURCE") or "this checkout"
    out["loadavg"] = os.getloadavg()
    return out


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"relay-idle: {result['conversations']} conversations held "
        f"(set-up {result['setup']['setup_s']} s), nodes from {result['source']}",
    ]
    for n, w in enumerate(result["cores"], start=1):
        cells = ", ".join(f"{k} {v:.3f}" for k, v in w.items())
        lines.append(f"  window {n} ({result['window_s']:g} s), cores: {cells}")
    lines.append(f"  steady total: {result['steady_total_cores']} cores")
    lines.append(f"  Redis commands/s: {result['redis_per_s']}")
    lines.append("  PostgreSQL statements/s:")
    lines += [f"    {r:8.1f}  {q}" for q, r in result["postgres_per_s"].items()]
    lines.append(f"  server alive: {result['setup'].get('server_alive')}")
    lines.append(f"  load average: {result['loadavg']}")
    return "\n".join(lines)
