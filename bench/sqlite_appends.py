"""The store's append under many callers at once, on SQLite (the embedded default): CPU of
the whole process (event loop and any thread of the store) and wall time per message.

Each round: every one of ``callers`` callers appends a message to its own conversation,
all at once (as the gateway's sockets do under load), ``rounds`` times; then again with
a single caller (no batch to share). The store is a file in WAL mode, as a node runs it.
Then the floor: the same three statements per message (the conversation's point read, the
INSERT, the counters' UPDATE) in the same batches, straight on a ``sqlite3`` connection to
the same file with the store's settings, no gateway code; what SQLite itself costs here
(``sqlite_alone``).

``BENCH_GATEWAY_SOURCE=DIR ./scripts/bench sqlite-appends`` measures that checkout's
store too, alternating the two in one sitting, and prints the ratio (A/B).
Each measurement runs in a child process (this file run as a script with the checkout
on ``PYTHONPATH``), so the two never share an interpreter.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FULL = {"callers": 200, "rounds": 25, "steps": 5}
QUICK = {"callers": 20, "rounds": 3, "steps": 1}
_HERE = Path(__file__).resolve().parents[1]


async def seed_conversations(store: Any, count: int) -> list[str]:
    """``count`` conversations, each with a contact of its own; their ids. Also used by
    bench/appends.py. Imports inside: the child runs with another checkout's gateway."""
    from gateway.model.records import Conversation

    convs = [f"c{i}" for i in range(count)]
    for cid in convs:
        await store.create_contact(f"k{cid}", now=1.0)
        await store.create_conversation(
            Conversation(
                id=cid, touchpoint_id="tp", channel="chat", contact_id=f"k{cid}", address=cid
            )
        )
    return convs


async def _measure(cfg: dict[str, int], path: str) -> dict[str, dict[str, float]]:
    from gateway.ports.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    await store.open()
    try:
        convs = await seed_conversations(store, cfg["callers"])
        n = 0

        async def one(cid: str) -> None:
            await store.append(
                cid,
                sender="contact",
                sender_id=cid,
                client_msg_id=f"m{n}",
                body="hello there",
                now=1.0,
            )

        out: dict[str, dict[str, float]] = {}
        for mode, group, rounds in _modes(cfg, convs):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(rounds):
                n += 1
                await asyncio.gather(*(one(cid) for cid in group))
            out[mode] = _per_msg(cpu, wall, rounds * len(group))
    finally:
        await store.close()
    floor = _sqlite_alone(cfg, path, convs)
    if floor:
        out.update(floor)
    return out


def _modes(cfg: dict[str, int], convs: list[str]) -> list[tuple[str, list[str], int]]:
    """(mode, the conversations written at once, rounds): every caller at once, then one
    alone for as many messages (at most 20 rounds' worth)."""
    return [
        (mode, group, min(cfg["rounds"] * (len(convs) // len(group)), cfg["rounds"] * 20))
        for mode, group in (("concurrent", convs), ("one_caller", convs[:1]))
    ]


def _per_msg(cpu: float, wall: float, msgs: int) -> dict[str, float]:
    """CPU and wall time since ``cpu``/``wall`` (process_time, perf_counter) per message."""
    return {
        "cpu_us_per_msg": 1e6 * (time.process_time() - cpu) / msgs,
        "wall_us_per_msg": 1e6 * (time.perf_counter() - wall) / msgs,
    }


def _sqlite_alone(cfg: dict[str, int], path: str, convs: list[str]) -> dict[str, dict[str, float]]:
    """The append's statements with no gateway code around them: the floor under the
    store's figures (empty for a checkout without them)."""
    import sqlite3

    try:
        from gateway.ports.store._group_commit import _BUMP, _CONVERSATION, _INSERT
        from gateway.ports.store._sqlite_lane import sql
    except ImportError:
        return {}
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        db.execute(f"PRAGMA {pragma}")
    read, insert, bump = sql(_CONVERSATION), sql(_INSERT), sql(_BUMP)
    out: dict[str, dict[str, float]] = {}
    n = 0
    try:
        for mode, group, rounds in _modes(cfg, convs):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(rounds):
                n += 1
                db.execute("BEGIN IMMEDIATE")
                for cid in group:
                    db.execute(read, (cid,)).fetchall()  # as the store reads it
                    seq = 1_000_000 + n  # one message per conversation and round
                    db.execute(
                        insert,
                        (cid, seq, "contact", cid, f"s{n}", "hello there", 1.0, "text", "", "[]"),
                    )
                    db.execute(bump, (cid, seq, 1, 0))
                db.execute("COMMIT")
            out["sqlite_alone_" + mode] = _per_msg(cpu, wall, rounds * len(group))
    finally:
        db.close()
    return out


def _child(source: Path, cfg: dict[str, int]) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="gw-bench-sqlite-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(source)}
        done = subprocess.run(
            [sys.executable, __file__, json.dumps(cfg), str(Path(tmp) / "bench.db")],
            cwd=source,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    figures: dict[str, dict[str, float]] = json.loads(done.stdout)
    return figures


def run(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    sources = {"this": _HERE}
    other = os.environ.get("BENCH_GATEWAY_SOURCE")
    if other:
        sources["other"] = Path(other).resolve()
    steps: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in sources}
    for _ in range(cfg["steps"]):
        for name, source in sources.items():  # alternate: the same load for both
            steps[name].append(_child(source, cfg))
    medians = {
        name: {
            mode: {k: round(statistics.median(s[mode][k] for s in runs), 1) for k in runs[0][mode]}
            for mode in runs[0]
        }
        for name, runs in steps.items()
    }
    result: dict[str, Any] = {
        "config": cfg,
        "sources": {k: str(v) for k, v in sources.items()},
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "medians": medians,
    }
    if other:
        result["other_over_this"] = {
            mode: {
                k: round(medians["other"][mode][k] / medians["this"][mode][k], 2)
                for k in medians["this"][mode]
            }
            for mode in medians["this"]
            if mode in medians["other"]  # an older checkout has no floor
        }
    return result


def summary(result: dict[str, Any]) -> str:
    lines = [f"appends on SQLite, {result['config']} (load {' '.join(result['loadavg'])}):"]
    for name, modes in result["medians"].items():
        for mode, m in modes.items():
            lines.append(
                f"  {name:5} {mode:23}  CPU {m['cpu_us_per_msg']:7.1f} us/msg"
                f"   wall {m['wall_us_per_msg']:7.1f} us/msg"
            )
    if "other_over_this" in result:
        lines.append(f"  other / this: {result['other_over_this']}")
    return "\n".join(lines)


if __name__ == "__main__":  # the child: measure the checkout on PYTHONPATH
    print(json.dumps(asyncio.run(_measure(json.loads(sys.argv[1]), sys.argv[2]))))
