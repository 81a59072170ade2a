"""Conversations an agent starts: an outbound SMS or email (docs/channels.md, "Agents
start conversations"). The channel must allow it (``outbound_start``: SMS, email, API;
never WhatsApp or Messenger, as the reference and issue 13 say), the touchpoint must
send (direction outbound or both) and be linked to one of the agent's queues, and the
channel's adapter has the last word on the address (SMS: a valid number that has not
opted out; email: a valid address and a subject) before anything is written. The
conversation is the agent's at once; the first message is an ordinary reply.
"""

from __future__ import annotations

from collections.abc import Callable

import routing as r
from gateway import protocol as p
from gateway.auth import new_id
from gateway.errors import ActionRefused, Conflict, Forbidden, NotFound
from gateway.model.channel_state import Content
from gateway.model.channels import channel
from gateway.model.records import Agent, Conversation, Touchpoint
from gateway.ports.store.base import LiveElsewhere, Store
from gateway.services.agent_desk import AgentDesk
from gateway.services.contacts import ContactService
from gateway.services.conversations import ConversationService
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.router_shell import RouterShell


class OutboundStart:
    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        shell: RouterShell,
        contacts: ContactService,
        conversations: ConversationService,
        deliveries: Deliveries,
        desk: AgentDesk,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._dir = directory
        self._shell = shell
        self._contacts = contacts
        self._conversations = conversations
        self._deliveries = deliveries
        self._desk = desk
        self._clock = clock

    def _startable(self, agent: Agent, tp: Touchpoint) -> None:
        """Refuse (Forbidden) a touchpoint this agent may not start on."""
        spec = channel(tp.channel)
        if not spec.outbound_start:
            raise Forbidden(
                f"agents cannot start {spec.label} conversations: only the contact can",
                code="outbound_start_unavailable",
            )
        if tp.direction == "inbound":
            raise Forbidden(
                "this touchpoint only receives (its direction is inbound)",
                code="touchpoint_inbound_only",
            )
        if not agent.supervises and not set(agent.queue_ids) & set(tp.queue_ids):
            raise Forbidden("this touchpoint is not linked to any of your queues")

    def touchpoints(self, agent: Agent) -> list[tuple[Touchpoint, str]]:
        """The active touchpoints this agent may start on, with their channel's label."""
        out = []
        for tp in sorted(self._dir.touchpoints.values(), key=lambda t: t.name):
            try:
                if tp.active:
                    self._startable(agent, tp)
                    out.append((tp, channel(tp.channel).label))
            except Forbidden:
                continue
        return out

    async def start(
        self,
        agent: Agent,
        touchpoint_id: str,
        address: str,
        client_msg_id: str,
        body: str,
        content: Content | None = None,
    ) -> tuple[Conversation, p.Ack]:
        tp = self._dir.touchpoints.get(touchpoint_id)
        if tp is None or not tp.active:
            raise NotFound("no such active touchpoint")
        self._startable(agent, tp)
        # the channel's word on the address, before anything is stored (an opt-out ...)
        address, fields = await self._deliveries.check_start(tp, address, content)
        view = self._shell.router.agent(agent.id)
        if view is None or view.status == "offline":
            raise Forbidden("go online to start a conversation", code="agent_offline")
        conv = await self._conversation(tp, address, fields, agent)
        ack = await self._desk.send(agent, conv, client_msg_id, body, content=content)
        return conv, ack

    async def _conversation(
        self, tp: Touchpoint, address: str, fields: dict[str, str], agent: Agent
    ) -> Conversation:
        """The new conversation, the agent's at once (the router's AgentStarted), never
        in the Inbox. Conflict when the contact has a live conversation on the
        touchpoint with someone else (one thread per contact and touchpoint); the
        agent's own is returned (a retried start)."""
        async with self._conversations.one_at_a_time(tp.id, address):
            existing = await self._conversations.open_for(tp.id, address)
            if existing is not None:
                return _agents_own(existing, agent)
            contact = await self._contacts.for_conversation(tp.channel, address, fields, None)
            now = self._clock()
            try:
                conv = await self._store.create_conversation(
                    Conversation(id=new_id("cv"), touchpoint_id=tp.id, channel=tp.channel,
                                 contact_id=contact.id, address=address, state="new",
                                 queue_ids=list(tp.queue_ids), fields=dict(fields),
                                 created_at=now, arrived_at=now, direction="outbound",
                                 # the agent's until the router makes it theirs: a
                                 # rebuild in between routes it to them (router_rebuild)
                                 owner_agent_id=agent.id)
                )  # fmt: skip
            except LiveElsewhere:
                # Another node made it in the same few milliseconds (the store's one-live
                # index): as if this node had found it (still new, it is not yet theirs: 409).
                existing = await self._conversations.open_for(tp.id, address)
                if existing is None:
                    raise  # ended already: 409 conversation_open
                return _agents_own(existing, agent)
            try:
                await self._shell.apply(r.AgentStarted(conv.id, tp.id, tp.channel, agent.id))
            except ActionRefused as exc:
                if exc.code != "conversation_exists":
                    # refused (the agent went offline or filled up since the check): the
                    # row must not reach the Inbox at the next rebuild
                    await self._store.update_conversation(conv.id, state="closed", closed_at=now)
                    raise
                # a rebuild in between (an admin's change) routed the row to its owner,
                # this agent, as its start would have: theirs, or refused as ever
                return _agents_own(await self._store.get_conversation(conv.id), agent)
            return await self._store.get_conversation(conv.id)


def _agents_own(existing: Conversation, agent: Agent) -> Conversation:
    """The contact's live conversation, if it is this agent's (a retried start); else
    Conflict (one thread per contact and touchpoint)."""
    if existing.owner_agent_id == agent.id and existing.state == "assigned":
        return existing
    raise Conflict(
        "this contact already has an open conversation on this touchpoint",
        code="conversation_open",
    )
