"""Agents: logging in and out, their status (available, away, offline), and the snapshot
their console starts from.

An agent is online while any of their sockets is open on any node (the web layer tells
``online`` / ``offline``); the status they chose (available / away) is kept in presence
so it survives a reconnect and a change of router leader.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import msgspec

import routing as r
from gateway import protocol as p
from gateway.auth import NOBODY_HASH, AgentClaims, Passwords, Tokens, new_id
from gateway.errors import AuthError, GatewayError, NotFound, RouterUnavailable, TokenInvalid
from gateway.model.attachment_rules import AttachmentRule
from gateway.model.channels import CHANNELS
from gateway.model.records import Agent, AgentSession
from gateway.ports.presence import Presence
from gateway.ports.presence import Status as ChosenStatus
from gateway.ports.store.base import Store
from gateway.services.access import AccessPolicy
from gateway.services.directory import Directory
from gateway.services.notify import Notifier
from gateway.services.router_shell import RouterShell
from gateway.services.views import Summaries, file_rules

CHANNEL_INFO: dict[str, p.ChannelInfo] = {
    c.name: p.ChannelInfo(
        label=c.label,
        live=c.live,
        attachments=c.attachments,
        outbound_start=c.outbound_start,
        session_window=c.session_window,
    )
    for c in CHANNELS.values()
}


class RosterEntry(msgspec.Struct, kw_only=True):
    """An agent as a transfer dialog shows them."""

    agent_id: str
    name: str
    status: str
    # capacity points left (an agent is offered or given work only if it fits)
    capacity_left: int
    queue_ids: list[str]


class AgentService:
    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        shell: RouterShell,
        access: AccessPolicy,
        presence: Presence,
        notifier: Notifier,
        summaries: Summaries,
        tokens: Tokens,
        passwords: Passwords,
        attachment_rules: dict[str, AttachmentRule],
        clock: Callable[[], float],
    ) -> None:
        self.passwords = passwords
        self._store = store
        self._dir = directory
        self._shell = shell
        self._access = access
        self._presence = presence
        self._notifier = notifier
        self._summaries = summaries
        self._tokens = tokens
        self._clock = clock
        # the channels as the console sees them, with the files each takes as configured
        self._channels = {
            name: msgspec.structs.replace(info, files=file_rules(attachment_rules.get(name)))
            for name, info in CHANNEL_INFO.items()
        }

    def agent(self, agent_id: str) -> Agent:
        """The agent as configured now; Forbidden when unknown or deactivated."""
        return self._access.active_agent(agent_id)

    # -- sessions ------------------------------------------------------------------
    async def login(self, email: str, password: str) -> tuple[str, AgentClaims, Agent]:
        try:
            agent: Agent | None = await self._store.get_agent_by_email(email)
        except NotFound:
            agent = None
        # Checked anyway when the agent is unknown, so timing does not tell who exists.
        ok = await self.passwords.verify(agent.password_hash if agent else NOBODY_HASH, password)
        if agent is None or not ok or not agent.active or not agent.password_hash:
            raise AuthError("wrong email or password", code="bad_credentials")
        now = self._clock()
        session = AgentSession(
            id=new_id("se"),
            agent_id=agent.id,
            created_at=now,
            expires_at=now + self._tokens.agent_ttl,
        )
        await self._store.create_session(session)
        token, claims = self._tokens.issue_agent(agent_id=agent.id, session_id=session.id, now=now)
        return token, claims, agent

    async def logout(self, session_id: str) -> None:
        await self._store.revoke_session(session_id)

    async def revoke_all(self, agent_id: str) -> list[str]:
        """End every login session of the agent (log out everywhere, deactivation, a new
        password): the ids ended now. The web layer then closes their sockets on every
        node."""
        return await self._store.revoke_agent_sessions(agent_id)

    async def session_ended(self, session_id: str) -> bool:
        """Whether a login session was revoked or is gone. An unreachable store says
        no: an outage must not log everyone out."""
        try:
            session = await self._store.get_session(session_id)
        except NotFound:
            return True
        except GatewayError:
            return False
        return session.revoked

    async def authenticate(self, token: str) -> tuple[AgentClaims, Agent]:
        """The agent a token belongs to; AuthError otherwise: a bad or expired token, a
        revoked login session, an agent deleted or deactivated since."""
        claims = self._tokens.verify_agent(token)
        try:
            session = await self._store.get_session(claims.sid)
        except NotFound:
            raise TokenInvalid("unknown session") from None
        if session.revoked or session.agent_id != claims.sub:
            raise TokenInvalid("this session was revoked")
        agent = self._dir.agents.get(claims.sub)
        if agent is None:
            # Created on another node a moment ago: this node's directory reloads soon,
            # the store knows now.
            with contextlib.suppress(NotFound):
                agent = await self._store.get_agent(claims.sub)
        if agent is None or not agent.active:
            raise TokenInvalid("unknown or deactivated agent")
        return claims, agent

    # -- status --------------------------------------------------------------------
    async def online(self, agent_id: str) -> None:
        await self._presence.connected("agent", agent_id)
        status = (await self._presence.statuses()).get(agent_id, "available")
        await self._shell.apply(r.AgentStatusChanged(agent_id, status))

    async def offline(self, agent_id: str) -> None:
        """This node holds no socket of the agent any more: offline unless another does."""
        await self._presence.disconnected("agent", agent_id)
        if not await self._presence.is_online("agent", agent_id):
            await self._shell.apply(r.AgentStatusChanged(agent_id, "offline"))

    async def set_status(self, agent_id: str, status: ChosenStatus) -> None:
        """The status the agent chose, kept in the store (it survives a restart) and in
        presence (every node reads it there); every console tab of theirs is told."""
        await self._store.set_agent_status(agent_id, status, self._clock())
        await self._presence.set_status(agent_id, status)
        if await self._presence.is_online("agent", agent_id):
            await self._shell.apply(r.AgentStatusChanged(agent_id, status))
        await self._notifier.agent(agent_id, self.status_frame(agent_id, status))

    def status_frame(self, agent_id: str, status: str | None = None) -> p.StatusOut:
        """The agent's status (as the router holds it unless given), load and capacity."""
        view = self._shell.router.agent(agent_id)
        return p.StatusOut(
            status=status or (view.status if view else "offline"),
            load=view.load_points if view else 0,
            capacity=r.CAPACITY,
        )

    async def restore_statuses(self) -> None:
        """At start: presence learns the statuses agents chose before a restart (those it
        does not hold already, as Redis may after a restart of this node alone), and
        learns them again from the store whenever Redis restarts empty."""
        await self._presence.keep_statuses(self._store.agent_statuses)

    def roster(self) -> list[RosterEntry]:
        """Every active agent with their status now, from the router this node reads."""
        router = self._shell.router
        out = []
        for agent in sorted(self._dir.agents.values(), key=lambda a: (a.name, a.id)):
            if not agent.active:
                continue
            view = router.agent(agent.id)
            out.append(
                RosterEntry(
                    agent_id=agent.id,
                    name=agent.name,
                    status=view.status if view else "offline",
                    capacity_left=view.capacity_left if view else 0,
                    queue_ids=list(agent.queue_ids),
                )
            )
        return out

    def is_offline(self, agent_id: str) -> bool:
        view = self._shell.router.agent(agent_id)
        return view is None or view.status == "offline"

    # -- the console's first frame -------------------------------------------------------
    async def snapshot(self, agent: Agent) -> p.Snapshot:
        await self._shell.knows_agent(agent.id)
        router = self._shell.router
        try:
            # A conversation ringing for the agent is in their Inbox once.
            inbox_ids = list(
                dict.fromkeys((*router.inbox_for(agent.id), *router.offers_to(agent.id)))
            )
            assigned_ids = router.assigned_to(agent.id)
        except r.RoutingError as exc:  # the replica moved on under us: reconnect
            raise RouterUnavailable(f"the router is resynchronising: {exc}") from None
        inbox = [
            await self._summaries.summary(router, agent.id, await self._store.get_conversation(cid))
            for cid in inbox_ids
        ]
        assigned = [
            await self._summaries.summary(router, agent.id, await self._store.get_conversation(cid))
            for cid in assigned_ids
        ]
        av = router.agent(agent.id)
        # The snapshot is drawn before the agent comes online (gateway/web/agent_socket.py):
        # it shows the status they are about to have, the one they chose last.
        status = av.status if av and av.status != "offline" else None
        if status is None:
            status = (await self._presence.statuses()).get(agent.id, "available")
        d = self._dir
        return p.Snapshot(
            v=p.VERSION,
            agent=p.AgentInfo(
                agent_id=agent.id,
                name=agent.name,
                role=agent.role,
                status=status,
                queue_ids=list(agent.queue_ids),
                load=av.load_points if av else 0,
                capacity=r.CAPACITY,
            ),
            inbox=inbox,
            assigned=assigned,
            queues={q.id: q.name for q in d.queues.values()},
            agents={a.id: a.name for a in d.agents.values() if a.active},
            sounds=dict(d.settings.sounds),
            priority_display=d.settings.priority_display,
            dispositions=d.dispositions(),
            channels=self._channels,
            touchpoints={t.id: t.name for t in d.touchpoints.values()},
            now=self._clock(),
        )
