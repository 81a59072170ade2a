"""Loaded at start-up by a gateway process whose PYTHONPATH starts with this directory
(bench/idle_memory.py does that): when the file ``want-start`` appears in
``$IDLE_TRACE_DIR``, starts tracing allocations with ``tracemalloc`` (not before: the
imports would take minutes, traced); when ``want-NAME`` appears, writes ``NAME.snap``
(the snapshot) and ``NAME.types.json`` (live objects by type: count and bytes); then
``NAME.done``.

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


def _watch(directory: Path) -> None:
    while True:
        for want in directory.glob("want-*"):
            name = want.name.removeprefix("want-")
            want.unlink()
            if name == "start":
                tracemalloc.start(int(os.environ.get("IDLE_TRACE_FRAMES", "25")))
                (directory / "start.done").touch()
                continue
            gc.collect()
            tracemalloc.take_snapshot().dump(str(directory / f"{name}.snap"))
            (directory / f"{name}.types.json").write_text(json.dumps(_types()))
            (directory / f"{name}.done").touch()
        time.sleep(0.1)


_dir = os.environ.get("IDLE_TRACE_DIR")
if _dir:
    threading.Thread(target=_watch, args=(Path(_dir),), daemon=True, name="tracehook").start()
