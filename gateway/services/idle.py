"""Idle chats close on their own: a live conversation (chat) with no message from either
side for ``GlobalSettings.idle_close_after`` seconds is ended as ``idle`` — it frees its
agent's points, and both sides are told (an ``ended`` event with reason ``idle``).

The router leader sweeps; a message left for later (held) never goes idle, and neither
does a conversation still waiting for its first agent (its contact is waiting on us).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from gateway import metrics
from gateway.aio import cancel_and_wait
from gateway.errors import GatewayError
from gateway.model.channels import CHANNELS, ChannelName
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from gateway.services.endings import Endings
from gateway.services.router_shell import RouterShell

log = logging.getLogger("gateway.idle")

LIVE: list[ChannelName] = [spec.name for spec in CHANNELS.values() if spec.live]
MAX_PERIOD = 30.0  # seconds between sweeps at most
BATCH = 100


def period(idle_close_after: float) -> float:
    """How often to look: a quarter of the idle time, between 1 and 30 seconds."""
    return min(MAX_PERIOD, max(1.0, idle_close_after / 4))


class IdleCloser:
    def __init__(
        self,
        *,
        store: Store,
        shell: RouterShell,
        directory: Directory,
        endings: Endings,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._shell = shell
        self._dir = directory
        self._endings = endings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        shell.on_config(self._configuration_changed)

    async def _configuration_changed(self) -> None:
        self._changed.set()  # the idle time may have changed: look again now

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="idle closer")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            after = self._dir.settings.idle_close_after
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period(after) if after > 0 else MAX_PERIOD):
                    await self._changed.wait()
            self._changed.clear()
            after = self._dir.settings.idle_close_after
            if after <= 0 or not self._shell.is_leader:
                continue
            try:
                await self.sweep()
            except GatewayError as exc:
                metrics.count_store_error(exc)
                log.warning("idle sweep: %s", exc)
            except Exception:
                log.exception("idle sweep failed")

    async def sweep(self) -> int:
        """End the conversations idle now, a batch at most (the next sweep goes on);
        how many."""
        after = self._dir.settings.idle_close_after
        if after <= 0:
            return 0
        idle = await self._store.idle_conversations(
            channels=LIVE, before=self._clock() - after, limit=BATCH
        )
        for conv in idle:
            await self._endings.end(conv, "idle")
        return len(idle)
