"""A py-spy profile of the gateway while it relays at a rate under its knee."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.loadgen import Fleet
from bench.ramp import Parts, one_step, settle


def py_spy() -> str | None:
    import sys

    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def profile_gateway(
    fleet: Fleet, pid: int, result: dict[str, Any], cfg: dict[str, Any], out_dir: Path
) -> dict[str, Any]:
    """Record the gateway with py-spy while it relays at its sustained rate."""
    return profile_nodes(fleet, {"gateway": pid}, result, cfg, out_dir, "relay")["gateway"]


def profile_nodes(
    fleet: Fleet,
    pids: dict[str, int],
    result: dict[str, Any],
    cfg: dict[str, Any],
    out_dir: Path,
    stem: str,
    parts: Parts | None = None,
) -> dict[str, Any]:
    """Record each named process with py-spy, all at once, while the system relays at
    70 % of its sustained rate; per name, its profile (``<stem>-<name>.pyspy.txt``).

    ``--gil`` samples the thread holding the GIL: where the Python-level CPU goes."""
    exe = py_spy()
    if exe is None:
        return {
            n: {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"} for n in pids
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    settle(list(pids.values()))
    duration = max(2, int(cfg["duration_s"] * 3))
    recs = {}
    for name, pid in pids.items():
        raw = out_dir / f"{stem}-{name.replace(' ', '-')}.pyspy.txt"
        argv = [exe, "record", "--pid", str(pid), "--duration", str(duration), "--rate", "250"]
        argv += ["--gil", "--format", "raw", "--output", str(raw)]
        rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        recs[name] = (rec, raw)
    time.sleep(0.5)
    rate = round(result["sustained_msgs_per_s"] * 0.7)  # below the knee: the steady cost
    every = list(pids.values())
    step = one_step(fleet, every, 999, rate, duration - 0.5, cfg["drain_s"], every, parts)
    out: dict[str, Any] = {}
    for name, (rec, raw) in recs.items():
        _, err = rec.communicate(timeout=60)
        if rec.returncode != 0 or not raw.exists():
            why = err.decode(errors="replace")[-400:]
            out[name] = {"error": f"py-spy failed ({rec.returncode}): {why}"}
        else:
            out[name] = {"during_step": step, **summarise_profile(raw.read_text())}
    return out


def _samples(collapsed: str) -> Iterator[tuple[list[str], int]]:
    """(frames, outermost first; samples) per line of py-spy's collapsed stacks."""
    for line in collapsed.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if stack and count_s.isdigit():
            yield stack.split(";"), int(count_s)


def summarise_profile(collapsed: str, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for stack, count in _samples(collapsed):
        total += count
        frames = [_short(f) for f in stack]
        self_[frames[-1]] = self_.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count

    def table(d: dict[str, int], n: int) -> list[dict[str, Any]]:
        rows = sorted(d.items(), key=lambda kv: -kv[1])[:n]
        return [{"frame": f, "share_pct": round(100 * c / total, 1)} for f, c in rows]

    return {"samples": total, "self": table(self_, top), "inclusive": table(incl, 4 * top)}


# Where a relayed message's CPU goes, by layer: each sample is charged to the first
# layer whose pattern its stack matches, from the innermost frame outwards (the store's
# SQL statements run inside the gateway's code, the transport's write inside the hub's).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "SQLite calls (binding, rows: a statement itself runs without the GIL)",
        ("SyncConn.", "_transact ", "SQLiteStore._inline ", "Lane._main ", "_wal_checkpoint "),
    ),
    ("socket writes (`transport.write`: the system call)", ("GuardedWebSocket.uncork ",)),
    (
        "socket reads and WebSocket parsing",
        (
            "data_received ",
            "_text_frames ",
            "Protocol.receive_data ",
            "Protocol.parse ",
            "ServerProtocol.parse ",
            "Frame.parse ",
            "receive_frame ",
            "send_receive_event_to_app ",
            "handle_events ",
            "handle_text ",
            "Inbox.",
        ),
    ),
    ("frame encoding and framing", ("protocol/codec.py", "text_frame ", "write_frame ")),
    ("the store's Python (the group commit, rows)", ("gateway/ports/store/",)),
    (
        "fan-out: bus, hub, notifier, channel",
        (
            "web/hub.py",
            "services/notify.py",
            "ports/bus/",
            "services/contact_io.py",
            "chat/__init__",
        ),
    ),
    ("metrics", ("gateway/metrics.py",)),
    (
        "the message's handling (sessions, services, checks)",
        ("gateway/services/", "gateway/web/", "channels/", "gateway/model/", "gateway/protocol/"),
    ),
    ("the event loop, uvicorn", ("asyncio/", "uvicorn/", "uvloop", "Runner.run ")),
)


def layers(collapsed: str) -> list[dict[str, Any]]:
    """Sample shares by :data:`LAYERS` of py-spy's collapsed stacks, largest first."""
    counts: dict[str, int] = {}
    total = 0
    for stack, count in _samples(collapsed):
        total += count
        layer = "other"
        for frame in reversed(stack):
            hit = next((name for name, pats in LAYERS if any(p in frame for p in pats)), None)
            if hit is not None:
                layer = hit
                break
        counts[layer] = counts.get(layer, 0) + count
    rows = sorted(counts.items(), key=lambda kv: -kv[1])
    return [{"layer": k, "share_pct": round(100 * c / total, 1)} for k, c in rows if total]


def _short(frame: str) -> str:
    """``fn (/abs/path/site-packages/pkg/mod.py:12)`` -> ``fn (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    roots = [str(loadgen.ROOT) + "/"]
    if os.environ.get("BENCH_GATEWAY_SOURCE"):
        roots.append(os.environ["BENCH_GATEWAY_SOURCE"].rstrip("/") + "/")
    for marker in ("site-packages/", *roots, "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name
