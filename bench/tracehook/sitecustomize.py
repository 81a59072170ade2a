"""Loaded at start-up by a gateway process whose PYTHONPATH starts with this directory
(bench/idle_memory.py does that): when the file ``want-start`` appears in
``$IDLE_TRACE_DIR``, starts tracing allocations with ``tracemalloc`` (not before: the
imports would take minutes, traced); when ``want-NAME`` appears, writes ``NAME.snap``
(the snapshot, once the traced memory holds still) and ``NAME.types.json`` (live
objects by type: count and bytes) and ``NAME.quiet.json`` (how long it waited for
that); then ``NAME.done``.

A thread polls for the files, so nothing in the gateway knows about this.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _types() -> dict[str, list[int]]:
    """Objects the collector tracks, by type: [count, bytes], an instance's ``__dict__``
    counted with it (``sys.getsizeof`` is shallow: a list's items are their own rows)."""
    out: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        t = type(obj)
        name = f"{t.__module__}.{t.__qualname__}"
        size = sys.getsizeof(obj)
        d = getattr(obj, "__dict__", None) if not isinstance(obj, type) else None
        if isinstance(d, dict):
            size += sys.getsizeof(d)
        row = out.setdefault(name, [0, 0])
        row[0] += 1
        row[1] += size
    return out


def _quiet(step_s: float = 0.25, within: int = 64 * 1024, bound_s: float = 60.0) -> float:
    """Wait until the traced memory holds still (two readings ``step_s`` apart within
    ``within`` bytes), at most ``bound_s``: the sockets just opened may still have work
    under way (a loaded machine runs it late), whose buffers a snapshot would count as
    the sockets' own. How long it waited; negative when it never held still."""
    start = time.monotonic()
    last = tracemalloc.get_traced_memory()[0]
    while time.monotonic() - start < bound_s:
        time.sleep(step_s)
        now = tracemalloc.get_traced_memory()[0]
        if abs(now - last) <= within:
            return round(time.monotonic() - start, 2)
        last = now
    return -round(time.monotonic() - start, 2)


def _watch(directory: Path) -> None:
    while True:
        for want in directory.glob("want-*"):
            name = want.name.removeprefix("want-")
            want.unlink()
            if name == "start":
                tracemalloc.start(int(os.environ.get("IDLE_TRACE_FRAMES", "25")))
                (directory / "start.done").touch()
                continue
            waited = _quiet()
            gc.collect()
            tracemalloc.take_snapshot().dump(str(directory / f"{name}.snap"))
            (directory / f"{name}.quiet.json").write_text(json.dumps(waited))
            (directory / f"{name}.types.json").write_text(json.dumps(_types()))
            (directory / f"{name}.done").touch()
        time.sleep(0.1)


_dir = os.environ.get("IDLE_TRACE_DIR")
if _dir:
    threading.Thread(target=_watch, args=(Path(_dir),), daemon=True, name="tracehook").start()
