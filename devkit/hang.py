"""A test that hangs names itself: after ``GATEWAY_TEST_HANG_AFTER`` seconds (600 by
default) in one test, its set-up and teardown included, every thread's stack and every
asyncio task's are written to stderr and the worker exits, so a CI run stops with the
test and the coroutine it waits in rather than sitting until its own time limit. The
longest test (the install of scripts/serve's environment) takes a few minutes at most."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import inspect
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

HANG_AFTER = float(os.environ.get("GATEWAY_TEST_HANG_AFTER", "600"))
EXIT_CODE = 70


@contextmanager
def watched(
    name: str,
    after: float = HANG_AFTER,
    uncapture: Callable[[], None] = lambda: None,
    *,
    xdist_worker: bool = False,
) -> Iterator[None]:
    """``uncapture`` gives stderr back (pytest captures it, file descriptor and all);
    ``xdist_worker``: this process is a pytest-xdist worker, its parent the controller."""
    timer = threading.Timer(after, _hung, args=(name, after, uncapture, xdist_worker))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _hung(name: str, after: float, uncapture: Callable[[], None], xdist_worker: bool) -> None:
    uncapture()
    out = sys.__stderr__
    assert out is not None
    print(f"\n=== {name}: still running after {after:.0f} s; its stacks ===", file=out)
    faulthandler.dump_traceback(file=out, all_threads=True)
    # Read from this thread while the loop's own sits in select: a hung test's loop
    # is idle, which is the case this is for.
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
    for loop in loops:
        if loop.is_closed():
            continue
        for _ in range(3):
            try:
                tasks = asyncio.all_tasks(loop)
                break
            except RuntimeError:  # the set changed while read
                continue
        else:
            continue
        print(f"--- {len(tasks)} asyncio tasks of {loop!r}", file=out)
        for task in tasks:
            print(f"{task!r}", file=out)
            for where in _awaiting(task.get_coro()):
                print(f"    {where}", file=out)
    out.flush()
    if xdist_worker:
        # The controller, left with a crashed worker under --dist loadgroup, would wait
        # for good for the tests it had given it: interrupted, it ends the run, failed.
        os.kill(os.getppid(), signal.SIGINT)
    os._exit(EXIT_CODE)


def _awaiting(obj: object) -> Iterator[str]:
    """Where a coroutine waits, down its chain of awaits (Task.print_stack shows the top
    frame only), through async generators (a fixture's teardown is one)."""
    for _ in range(50):
        if obj is None:
            return
        frame = next(
            (f for a in ("cr_frame", "gi_frame", "ag_frame") if (f := getattr(obj, a, None))),
            None,
        )
        if frame is not None:
            yield f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        awaited = next(
            (w for a in ("cr_await", "gi_yieldfrom", "ag_await") if (w := getattr(obj, a, None))),
            None,
        )
        if awaited is None and frame is None:  # an async generator's __anext__()
            awaited = next((r for r in gc.get_referents(obj) if inspect.isasyncgen(r)), None)
        if awaited is None or isinstance(awaited, asyncio.Future):
            if awaited is not None:
                yield f"awaits {awaited!r}"
            return
        obj = awaited
