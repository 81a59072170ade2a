"""The leader's presence sweep: agents whose every socket is gone (their node died)
go offline; agents with a socket somewhere but offline in the router come back; and a
share of the contact entries a dead node left behind is deleted."""

from __future__ import annotations

import asyncio
import logging

import routing as r
from gateway import metrics
from gateway.aio import cancel_and_wait
from gateway.errors import GatewayError
from gateway.ports.presence import Presence
from gateway.services.directory import Directory
from gateway.services.router_shell import RouterShell

log = logging.getLogger("gateway.presence")

PRESENCE_SWEEP = 5.0  # seconds between the leader's presence checks


class PresenceSweep:
    def __init__(
        self,
        shell: RouterShell,
        presence: Presence,
        directory: Directory,
        every: float = PRESENCE_SWEEP,
    ) -> None:
        self._shell = shell
        self._presence = presence
        self._dir = directory
        self._every = every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence sweep")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            if not self._shell.is_leader:
                continue
            try:
                await self.sweep()
            except GatewayError as exc:
                metrics.count_store_error(exc)
                log.warning("presence sweep: %s", exc)
            except Exception:
                log.exception("presence sweep failed")

    async def sweep(self) -> None:
        online = await self._presence.online("agent")
        statuses = await self._presence.statuses()
        router = self._shell.router
        for agent_id in list(self._dir.agents):
            view = router.agent(agent_id)
            if view is None:
                continue
            if view.status != "offline" and agent_id not in online:
                await self._shell.apply(r.AgentStatusChanged(agent_id, "offline"))
            elif view.status == "offline" and agent_id in online:
                await self._shell.apply(
                    r.AgentStatusChanged(agent_id, statuses.get(agent_id, "available"))
                )
        await self._presence.prune()
