"""The store's append under many callers at once, on PostgreSQL: the batched path
(``AppendBatcher``, one statement for all the appends that arrive together) against one
statement per message, measured in one process one round after the other.

Each round: every one of ``conversations`` callers appends a message to its own
conversation, all at once, ``rounds_per_step`` times. Figures per message: the CPU of
this process (the gateway's side of the store), the CPU of PostgreSQL's processes, and
wall time. ``./scripts/bench appends``.

On three servers, one after the other: the benches' own (``bench``: fsync and
synchronous_commit off, as every throwaway server of the tests and benchmarks), a
durable one (every commit flushed to disk before the statement answers, as production
needs, docs/deploy.md) and a durable one with PostgreSQL's own group commit
(``commit_delay``), which docs/deploy.md weighs with these figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.sqlite_appends import seed_conversations
from devkit import services
from gateway.ports.store.postgres import PostgresStore

FULL = {"conversations": 200, "rounds_per_step": 15, "steps": 6}
QUICK = {"conversations": 20, "rounds_per_step": 3, "steps": 1}

# docs/deploy.md, "PostgreSQL": commit before ack needs fsync and synchronous_commit on
# (the server's defaults). commit_delay: a committing backend waits that long (µs) for
# others to flush with it when at least commit_siblings other transactions are open.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
GROUP_COMMIT = {"commit_delay": "200", "commit_siblings": "3"}
SERVERS: dict[str, dict[str, str]] = {
    "bench": {},
    "durable": DURABLE,
    "durable_group_commit": {**DURABLE, **GROUP_COMMIT},
}


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it (PostgreSQL's backends)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    pids, frontier = [pid], [pid]
    while frontier:
        frontier = [c for c, p in parents.items() if p in frontier]
        pids += frontier
    ticks = 0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(stat[11]) + int(stat[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _open(pg: services.Postgres, count: int) -> PostgresStore:
    store = PostgresStore(services.createdb(pg, f"bench_appends_{os.getpid()}"))
    await store.open()
    await seed_conversations(store, count)
    return store


async def _step(
    cfg: dict[str, int], pg: services.Postgres, store: PostgresStore, batched: bool, n: int
) -> dict[str, float]:
    """``rounds_per_step`` rounds on one path (a new message each time); per message."""
    convs = [f"c{i}" for i in range(cfg["conversations"])]
    cpu, pg_cpu, wall = time.process_time(), _tree_cpu_s(pg.proc.pid), time.perf_counter()
    for r in range(cfg["rounds_per_step"]):
        msg_id = f"m{n}.{r}.{batched}"
        # the batched path is the store's own; one statement each: APPEND per message
        got = await asyncio.gather(
            *(
                store.append(cid, sender="contact", sender_id=cid, client_msg_id=msg_id,
                             body="hello there", now=1.0)
                if batched
                else store._append_one(cid, _args(cid, msg_id), None, (None,) * 4)
                for cid in convs
            )
        )  # fmt: skip
        assert all(a.created for a in got), "a retry measured instead of an append"
    msgs = cfg["rounds_per_step"] * len(convs)
    return {
        "client_cpu_us_per_msg": 1e6 * (time.process_time() - cpu) / msgs,
        "postgres_cpu_us_per_msg": 1e6 * (_tree_cpu_s(pg.proc.pid) - pg_cpu) / msgs,
        "wall_us_per_msg": 1e6 * (time.perf_counter() - wall) / msgs,
    }


def _args(cid: str, msg_id: str) -> tuple[Any, ...]:
    """APPEND's arguments after the conversation id (PostgresStore.append's ``args``)."""
    return ("contact", cid, msg_id, "hello there", 1.0, "text", 1, 0, "")


async def _measure(
    cfg: dict[str, int], servers: dict[str, services.Postgres]
) -> dict[str, dict[str, dict[str, float]]]:
    """Every server and path one step at a time, in turn (one sitting); medians."""
    stores = {name: await _open(pg, cfg["conversations"]) for name, pg in servers.items()}
    modes = {"batched": True, "one_statement_each": False}
    steps: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {mode: [] for mode in modes} for name in servers
    }
    try:
        for n in range(cfg["steps"]):
            for name, pg in servers.items():
                for mode, batched in modes.items():
                    steps[name][mode].append(await _step(cfg, pg, stores[name], batched, n))
    finally:
        for store in stores.values():
            await store.close()
    return {
        name: {
            mode: {k: round(statistics.median(s[k] for s in got), 1) for k in got[0]}
            for mode, got in by_mode.items()
        }
        for name, by_mode in steps.items()
    }


def run(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    started: dict[str, services.Postgres] = {}
    try:
        for name, settings in SERVERS.items():
            started[name] = services.start_postgres(settings)
        out = asyncio.run(_measure(cfg, started))
    finally:
        for pg in started.values():
            pg.stop()
    servers: dict[str, Any] = {}
    for name, medians in out.items():
        one, many = medians["one_statement_each"], medians["batched"]
        servers[name] = {
            "settings": SERVERS[name],
            "medians": medians,
            "one_statement_each_over_batched": {
                k: round(one[k] / many[k], 2) if many[k] else None
                for k in ("client_cpu_us_per_msg", "postgres_cpu_us_per_msg", "wall_us_per_msg")
            },
        }
    return {
        "config": cfg,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "servers": servers,
    }


def summary(result: dict[str, Any]) -> str:
    lines = [f"appends on PostgreSQL, {result['config']} (load {' '.join(result['loadavg'])}):"]
    for name, server in result["servers"].items():
        lines.append(f"  server {name} {server['settings'] or '(fsync, synchronous_commit off)'}")
        for mode, m in server["medians"].items():
            lines.append(
                f"    {mode:20} client CPU {m['client_cpu_us_per_msg']:7.1f} us/msg   PostgreSQL"
                f" CPU {m['postgres_cpu_us_per_msg']:7.1f} us/msg   wall"
                f" {m['wall_us_per_msg']:7.1f} us/msg"
            )
        lines.append(
            f"    one statement each / batched: {server['one_statement_each_over_batched']}"
        )
    return "\n".join(lines)
