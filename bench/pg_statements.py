"""What PostgreSQL runs per message: pg_stat_statements over a benchmark's ramp.

The bench's PostgreSQL preloads the extension (:data:`SETTINGS`); :func:`reset` empties
its counters before the ramp and :func:`per_message` reads them after, each statement's
calls, rows, execution and planning time divided by the messages stored meanwhile (the
inserts into ``messages``: every relayed message is stored once), and each table's rows
per message (inserted, updated, and of those HOT: updated without writing any index).
A prepared statement that uses its generic plan is planned once per connection; one that
is planned at every call (custom plans) shows ``plans_per_call`` near 1 (docs/store.md,
"The batch is planned once").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_planning": "on",
}

_SNAPSHOT = """
SELECT s.query, s.calls, s.rows, s.total_exec_time, s.plans, s.total_plan_time
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database()
"""
_STORED = "SELECT count(*) FROM messages"
_TABLES = (
    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
    " WHERE n_tup_ins + n_tup_upd > 0"
)


# An idle backend sends its tables' counters to pg_stat_user_tables within 10 s.
_FLUSHED = 11.0


def _run(coro: Any) -> Any:
    # The bench's own thread may already run an event loop (it does not today): a thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _connect(dsn: str) -> Any:
    import asyncpg

    return await asyncpg.connect(dsn)


Tables = dict[str, tuple[int, int, int]]
Before = tuple[int, Tables]


async def _tables(conn: Any) -> Tables:
    return {r[0]: (r[1], r[2], r[3]) for r in await conn.fetch(_TABLES)}


def reset(dsn: str, tables: bool = True) -> Before:
    """Empty the statements' counters; returns the messages stored so far and the
    tables' row counters. ``tables``: wait for the backends' table counters (11 s here
    and in :func:`per_message`), else the tables' rows are not reported."""

    async def go() -> Before:
        conn = await _connect(dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await asyncio.sleep(_FLUSHED if tables else 0)
            await conn.execute("SELECT pg_stat_statements_reset()")
            return int(await conn.fetchval(_STORED)), await _tables(conn)
        finally:
            await conn.close()

    result: Before = _run(go())
    return result


def per_message(dsn: str, before: Before, top: int = 15, tables: bool = True) -> dict[str, Any]:
    """The statements run since :func:`reset`, per message stored, busiest first; and
    the rows each table got (inserted, updated, of which HOT: no index written)."""

    async def go() -> tuple[list[Any], int, Tables]:
        conn = await _connect(dsn)
        try:
            rows = await conn.fetch(_SNAPSHOT)
            stored = int(await conn.fetchval(_STORED))
            if not tables:
                return list(rows), stored, {}
            await asyncio.sleep(_FLUSHED)
            return list(rows), stored, await _tables(conn)
        finally:
            await conn.close()

    rows, stored, after = _run(go())
    zero = (0, 0, 0)
    changed = {
        name: tuple(a - b for a, b in zip(counts, before[1].get(name, zero), strict=True))
        for name, counts in after.items()
    }
    messages = stored - before[0]
    if messages <= 0:
        return {"messages": 0, "statements": []}
    own = ("pg_stat_statements", "pg_stat_user_tables", "pg_stat_force_next_flush")
    rows = [r for r in rows if not any(o in r["query"] for o in own)]
    rows.sort(key=lambda r: r["total_exec_time"] + r["total_plan_time"], reverse=True)
    statements = [
        {
            "query": " ".join(r["query"].split())[:160],
            "calls_per_msg": round(r["calls"] / messages, 3),
            "rows_per_call": round(r["rows"] / r["calls"], 2) if r["calls"] else None,
            "exec_us_per_msg": round(r["total_exec_time"] * 1000 / messages, 1),
            "exec_us_per_call": round(r["total_exec_time"] * 1000 / r["calls"], 1)
            if r["calls"]
            else None,
            "plans_per_call": round(r["plans"] / r["calls"], 2) if r["calls"] else None,
            "plan_us_per_msg": round(r["total_plan_time"] * 1000 / messages, 1),
        }
        for r in rows[:top]
    ]
    return {
        "messages": messages,
        "rows_per_msg": {
            name: dict(
                zip(
                    ("inserted", "updated", "hot"), (round(x / messages, 3) for x in t), strict=True
                )
            )
            for name, t in sorted(changed.items())
            if any(t)
        },
        "calls_per_msg": round(sum(r["calls"] for r in rows) / messages, 3),
        "exec_us_per_msg": round(sum(r["total_exec_time"] for r in rows) * 1000 / messages, 1),
        "plan_us_per_msg": round(sum(r["total_plan_time"] for r in rows) * 1000 / messages, 1),
        "statements": statements,
    }


def lines(stats: dict[str, Any]) -> list[str]:
    """The statement table for the terminal."""
    if not stats.get("messages"):
        return []
    out = [
        f"  PostgreSQL per message ({stats['messages']:,} stored): "
        f"{stats['calls_per_msg']} statements, {stats['exec_us_per_msg']} us executing, "
        f"{stats.get('plan_us_per_msg', 0)} us planning",
        f"    {'calls/msg':>9} {'rows/call':>9} {'us/msg':>7} {'us/call':>7} "
        f"{'plans/call':>10}  statement",
    ]
    if stats["rows_per_msg"]:
        out.append(f"    rows per message (inserted, updated, HOT): {stats['rows_per_msg']}")
    for s in stats["statements"]:
        out.append(
            f"    {s['calls_per_msg']:>9} {s['rows_per_call']!s:>9} {s['exec_us_per_msg']:>7} "
            f"{s['exec_us_per_call']!s:>7} {s.get('plans_per_call')!s:>10}  {s['query'][:90]}"
        )
    return out
