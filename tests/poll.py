"""Bounded polls, for the states nothing announces to a test (a gauge, an API's row, a
server's status, a row another process writes). Everything else waits on frames, futures
and events. One async poll for async tests, one blocking poll for the browser tests
(Playwright's sync API)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _holds(value: object) -> bool:
    return bool(value)


async def until(
    read: Callable[[], Awaitable[T]] | Callable[[], T],
    ok: Callable[[T], bool] = _holds,
    *,
    what: str = "the condition",
    within: float = 30.0,
    every: float = 0.05,
) -> T:
    """Read (a plain or an async function) until ``ok`` holds of the value, which is
    returned; an AssertionError naming ``what`` and the last value after ``within``
    seconds, a bound generous enough for a loaded machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value: Any = read()
        if inspect.isawaitable(value):
            value = await value
        if ok(value):
            return value  # type: ignore[no-any-return]
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:g} s: {what} (last read: {value!r})")
        await asyncio.sleep(every)


def until_sync(
    read: Callable[[], T],
    ok: Callable[[T], bool] = _holds,
    *,
    what: str = "the condition",
    within: float = 30.0,
    every: float = 0.1,
) -> T:
    """``until`` for blocking code (the browser tests)."""
    deadline = time.monotonic() + within
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what} (last read: {value!r})")
        time.sleep(every)


def until_page(
    page: Any,
    read: Callable[[], T],
    ok: Callable[[T], bool] = _holds,
    *,
    what: str = "the condition",
    within: float = 30.0,
) -> T:
    """``until_sync`` for what a page's Playwright callbacks fill (a route's held frames,
    the frames a page's socket received): the sync API runs them only while the test
    calls into it, so each read first lets the page run for 20 ms."""
    return until_sync(
        lambda: (page.wait_for_timeout(20), read())[1], ok, what=what, within=within, every=0
    )
