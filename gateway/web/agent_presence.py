"""Which agents are online through this node's console sockets.

An agent is online while any socket of theirs is open (on any node); offline a grace
period after this node's last one closes, unless another node holds one, so a reload
does not withdraw their offers. A login session's sockets close when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib

from gateway import topics
from gateway.errors import CloseCode, GatewayError
from gateway.services.agents import AgentService
from gateway.web.hub import Connection, Hub

OFFLINE_GRACE = 15.0


class AgentSockets:
    """This node's console sockets, by agent and by login session."""

    def __init__(self, hub: Hub, agents: AgentService) -> None:
        self._hub = hub
        self._agents = agents
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._sessions: dict[str, set[Connection]] = {}

    async def connected(self, agent_id: str, session_id: str, conn: Connection) -> None:
        self._sessions.setdefault(session_id, set()).add(conn)
        timer = self._timers.pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        if self._agents.is_offline(agent_id) or self._hub.count(topics.agent(agent_id)) == 1:
            await self._agents.online(agent_id)

    def disconnected(self, agent_id: str, conn: Connection) -> None:
        for sid, conns in list(self._sessions.items()):
            conns.discard(conn)
            if not conns:
                del self._sessions[sid]
        if self._hub.count(topics.agent(agent_id)) == 0 and agent_id not in self._timers:
            self._timers[agent_id] = asyncio.create_task(self._offline_later(agent_id))

    def end_session(self, session_id: str) -> None:
        """The login session ended: close its sockets on this node."""
        for conn in self._sessions.pop(session_id, set()):
            conn.abort(CloseCode.UNAUTHENTICATED, "logged out")

    def close_deactivated(self, active: set[str]) -> None:
        """Close the sockets of agents no longer active (configuration reloaded)."""
        for conn in self._hub.connections(topics.AGENT):
            if topics.agent_of(conn.topic) not in active:
                conn.abort(CloseCode.UNAUTHENTICATED, "this agent was deactivated")

    async def close_revoked(self) -> None:
        """Close the sockets of login sessions revoked since they opened (log out
        everywhere, a new password, deactivation: the node that revoked them broadcast a
        configuration change, and every node checks the sessions it holds)."""
        for sid in list(self._sessions):
            if await self._agents.session_ended(sid):
                self.end_session(sid)

    async def _offline_later(self, agent_id: str) -> None:
        await asyncio.sleep(OFFLINE_GRACE)
        self._timers.pop(agent_id, None)
        if self._hub.count(topics.agent(agent_id)) == 0:
            with contextlib.suppress(GatewayError):
                await self._agents.offline(agent_id)
