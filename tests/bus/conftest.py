"""Helpers for the bus tests: a recorder of deliveries and a Redis of one's own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from devkit import services


class Recorder:
    """Collects ``deliver(topic, data)`` calls; tests wait on it, never sleep."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __call__(self, topic: str, data: bytes) -> None:
        self.frames.append((topic, data))
        for n, future in self._waiters:
            if len(self.frames) >= n and not future.done():
                future.set_result(None)

    async def wait_count(self, n: int, timeout: float = 5.0) -> None:
        if len(self.frames) >= n:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((n, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(
                f"{len(self.frames)} frames delivered, expected {n}: {self.frames[-5:]}"
            ) from None

    async def wait_for(self, topic: str, data: bytes, timeout: float = 5.0) -> None:
        """Until ``(topic, data)`` has been delivered."""
        start = 0
        async with asyncio.timeout(timeout):
            while (topic, data) not in self.frames[start:]:
                start = len(self.frames)
                await self.wait_count(start + 1, timeout)

    def data(self, topic: str) -> list[bytes]:
        return [d for t, d in self.frames if t == topic]


@pytest.fixture
def own_redis() -> Iterator[services.Redis]:
    """A redis-server for this test alone, to kill and restart."""
    server = services.start_redis()
    try:
        yield server
    finally:
        server.stop()


def restart_redis(server: services.Redis, monkeypatch: pytest.MonkeyPatch) -> services.Redis:
    """A new redis-server on the same port as ``server`` (which must be stopped)."""
    monkeypatch.setattr(services, "free_port", lambda: server.port)
    return services.start_redis()
