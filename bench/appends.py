"""The store's append under many callers at once, on PostgreSQL: the batched path
(``AppendBatcher``, one statement for all the appends that arrive together) against one
statement per message, measured in one process one round after the other.

Each round: every one of ``conversations`` callers appends a message to its own
conversation, all at once, ``rounds_per_step`` times. Figures per message: the CPU of
this process (the gateway's side of the store), the CPU of PostgreSQL's processes, and
wall time. ``./scripts/bench appends``.
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


async def _measure(cfg: dict[str, int], pg: services.Postgres) -> dict[str, Any]:
    store = PostgresStore(services.createdb(pg, f"bench_appends_{os.getpid()}"))
    await store.open()
    try:
        convs = await seed_conversations(store, cfg["conversations"])
        batched, alone = store._batcher.append, store._append_alone
        figures: dict[str, list[dict[str, float]]] = {"batched": [], "one_statement_each": []}
        n = 0
        for _ in range(cfg["steps"]):
            for mode, path in (("batched", batched), ("one_statement_each", alone)):
                store._batcher.append = path  # type: ignore[method-assign]
                cpu, pg_cpu, wall = (
                    time.process_time(),
                    _tree_cpu_s(pg.proc.pid),
                    time.perf_counter(),
                )
                for _ in range(cfg["rounds_per_step"]):
                    n += 1
                    await asyncio.gather(
                        *(
                            store.append(
                                cid,
                                sender="contact",
                                sender_id=cid,
                                client_msg_id=f"m{n}",
                                body="hello there",
                                now=1.0,
                            )
                            for cid in convs
                        )
                    )
                msgs = cfg["rounds_per_step"] * len(convs)
                figures[mode].append(
                    {
                        "client_cpu_us_per_msg": 1e6 * (time.process_time() - cpu) / msgs,
                        "postgres_cpu_us_per_msg": 1e6 * (_tree_cpu_s(pg.proc.pid) - pg_cpu) / msgs,
                        "wall_us_per_msg": 1e6 * (time.perf_counter() - wall) / msgs,
                    }
                )
        return {
            mode: {k: round(statistics.median(s[k] for s in steps), 1) for k in steps[0]}
            for mode, steps in figures.items()
        }
    finally:
        await store.close()


def run(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    pg = services.start_postgres()
    try:
        out = asyncio.run(_measure(cfg, pg))
    finally:
        pg.stop()
    one, many = out["one_statement_each"], out["batched"]
    ratios = {
        k: round(one[k] / many[k], 2) if many[k] else None
        for k in ("client_cpu_us_per_msg", "postgres_cpu_us_per_msg", "wall_us_per_msg")
    }
    return {
        "config": cfg,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "medians": out,
        "one_statement_each_over_batched": ratios,
    }


def summary(result: dict[str, Any]) -> str:
    lines = [f"appends on PostgreSQL, {result['config']} (load {' '.join(result['loadavg'])}):"]
    for mode, m in result["medians"].items():
        lines.append(
            f"  {mode:20} client CPU {m['client_cpu_us_per_msg']:7.1f} us/msg   PostgreSQL CPU "
            f"{m['postgres_cpu_us_per_msg']:7.1f} us/msg   wall {m['wall_us_per_msg']:7.1f} us/msg"
        )
    lines.append(f"  one statement each / batched: {result['one_statement_each_over_batched']}")
    return "\n".join(lines)
