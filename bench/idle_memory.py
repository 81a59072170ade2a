"""Where an idle visitor socket's memory goes: ``tracemalloc`` in the gateway process.

One gateway process (as bench/idle.py runs it) traces its allocations
(bench/tracehook/sitecustomize.py). Idle visitor sockets are opened up to ``half``,
a snapshot taken, then up to ``full`` and another: the difference divided by the sockets
added is what one more idle socket costs, by who allocated it (the innermost frame
outside the standard library: ``uvicorn``, ``websockets``, ``starlette``, ``gateway``,
...) and by line; and the live objects by type (the collector's view) per socket.

tracemalloc sees Python's allocators only; RSS also holds what the allocators keep
around (pymalloc arenas, malloc's own overhead) and the tracing itself: so the total
here is below bench/idle.py's slope, and its parts are what is worth trimming.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.gateway_setup import SHOP, gateway_env, seed_store, sqlite_url
from bench.idle import GATEWAY_TOUCHPOINT_PARAMS, open_idle
from bench.loadgen import ROOT, Fleet, rss_bytes
from devkit import services

FULL: dict[str, Any] = {"half": 2000, "full": 4000, "generators": 2, "settle_s": 2.0}
QUICK: dict[str, Any] = {"half": 200, "full": 400, "generators": 1, "settle_s": 0.5}
TOP_LINES = 60
_STDLIB = (sysconfig.get_paths()["stdlib"], "<frozen ")


def _owner(frames: list[tuple[str, int]]) -> tuple[str, str]:
    """(owner, file:line) of the innermost frame outside the standard library; frames
    innermost first."""
    for filename, lineno in frames:
        if filename.startswith(_STDLIB):
            continue
        if "/site-packages/" in filename:
            short = filename.split("/site-packages/", 1)[1]
            lib = short.split("/", 1)[0]
            if short.startswith(("uvicorn/server.py", "uvicorn/main.py", "uvicorn/_compat.py")):
                # uvloop (C) calls no Python code on the way: its own transports, handles
                return "event loop (uvloop)", f"{short}:{lineno}"
            return lib, f"{short}:{lineno}"
        if filename.startswith(str(ROOT)):
            short = os.path.relpath(filename, ROOT)
            return "gateway", f"{short}:{lineno}"
        return "other", f"{filename}:{lineno}"
    filename, lineno = frames[0] if frames else ("?", 0)
    return "stdlib only", f"{os.path.basename(filename)}:{lineno}"


def _ask(directory: Path, name: str) -> None:
    (directory / f"want-{name}").touch()
    deadline = time.monotonic() + 600
    while not (directory / f"{name}.done").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the traced gateway did not answer {name}")
        time.sleep(0.2)


def _snapshot(directory: Path, name: str) -> tuple[tracemalloc.Snapshot, dict[str, list[int]]]:
    _ask(directory, name)
    snap = tracemalloc.Snapshot.load(str(directory / f"{name}.snap"))
    types = json.loads((directory / f"{name}.types.json").read_text())
    return snap, types


def breakdown(
    a: tracemalloc.Snapshot, b: tracemalloc.Snapshot, added: int
) -> tuple[dict[str, float], list[tuple[str, str, float, float]]]:
    """Bytes per added socket by owner, and the top lines (owner, line, bytes, blocks)."""
    by_owner: dict[str, float] = defaultdict(float)
    by_line: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    hook = [tracemalloc.Filter(False, "*/tracehook/*", all_frames=True)]
    for diff in b.filter_traces(hook).compare_to(a.filter_traces(hook), "traceback"):
        frames = [(f.filename, f.lineno) for f in reversed(diff.traceback)]  # innermost first
        owner, line = _owner(frames)
        by_owner[owner] += diff.size_diff / added
        row = by_line[(owner, line)]
        row[0] += diff.size_diff / added
        row[1] += diff.count_diff / added
    top = sorted(((o, ln, s, c) for (o, ln), (s, c) in by_line.items()), key=lambda r: -r[2])
    return dict(by_owner), top[:TOP_LINES]


def run(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    loadgen.raise_nofile()
    loadgen.exit_on_sigterm()
    trace_dir = Path(tempfile.mkdtemp(prefix="gw-idle-trace-"))
    env = {
        **gateway_env(""),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "bench" / "tracehook"), os.environ.get("PYTHONPATH", "")]
        ),
        "IDLE_TRACE_DIR": str(trace_dir),
    }
    with sqlite_url() as url:
        seed_store(url, 0, 1)
        env["GATEWAY_DATABASE_URL"] = url
        source = os.environ.get("BENCH_GATEWAY_SOURCE")
        node = services.start_gateway(env, source=Path(source) if source else None)
        try:
            params = GATEWAY_TOUCHPOINT_PARAMS | {"secret": node.env["GATEWAY_SECRET_KEY"]}
            with Fleet(cfg["generators"], "gateway") as fleet:
                addr = ("127.0.0.1", node.port)
                _ask(trace_dir, "start")
                open_idle(fleet, addr, "gateway", SHOP, cfg["half"], params)
                time.sleep(cfg["settle_s"])
                rss_a = rss_bytes(node.proc.pid)
                snap_a, types_a = _snapshot(trace_dir, "half")
                opened = open_idle(fleet, addr, "gateway", SHOP, cfg["full"], params)
                time.sleep(cfg["settle_s"])
                rss_b = rss_bytes(node.proc.pid)
                snap_b, types_b = _snapshot(trace_dir, "full")
        finally:
            node.stop()
    added = opened - cfg["half"]
    owners, top = breakdown(snap_a, snap_b, added)
    types = sorted(
        (
            (
                name,
                (row[0] - types_a.get(name, [0, 0])[0]) / added,
                (row[1] - types_a.get(name, [0, 0])[1]) / added,
            )
            for name, row in types_b.items()
        ),
        key=lambda r: -r[2],
    )
    return {
        "config": cfg,
        "sockets_added": added,
        "rss_per_conn_bytes_traced": round((rss_b - rss_a) / added),
        "traced_per_conn_bytes": round(sum(owners.values())),
        "by_owner_bytes": {k: round(v) for k, v in sorted(owners.items(), key=lambda x: -x[1])},
        "top_lines": [
            {"owner": o, "line": ln, "bytes": round(s), "blocks": round(c, 2)}
            for o, ln, s, c in top
        ],
        "objects": [
            {"type": n, "count": round(c, 2), "bytes": round(s)}
            for n, c, s in types
            if c >= 0.5 or s >= 64
        ][:40],
    }


def summary(result: dict[str, Any]) -> str:
    n = result["sockets_added"]
    lines = [
        f"idle-memory: one more idle visitor socket (over {n} added), tracemalloc in the server",
        f"  RSS per socket (with tracing on): {result['rss_per_conn_bytes_traced'] / 1024:.1f} KiB;"
        f" traced: {result['traced_per_conn_bytes'] / 1024:.1f} KiB",
        "  by owner (innermost frame outside the standard library):",
    ]
    for owner, b in result["by_owner_bytes"].items():
        lines.append(f"    {b / 1024:7.2f} KiB  {owner}")
    lines.append("  top lines:")
    for r in result["top_lines"]:
        lines.append(
            f"    {r['bytes']:7,} B {r['blocks']:6.2f} blocks  {r['owner']:10} {r['line']}"
        )
    lines.append("  live objects per socket (gc-tracked, shallow + __dict__):")
    for r in result["objects"]:
        lines.append(f"    {r['count']:6.2f} x {r['type']:60} {r['bytes']:7,} B")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("run it as ./scripts/bench idle-memory")
