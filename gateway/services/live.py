"""The supervisor's live view: every ongoing conversation with its agent, queue,
priority and arrival; each agent's status, load and lists; each queue's depth and
earliest arrival.

Everything is read from the router this node reads (the leader's own, or a follower's
exact replica) and the store, never counted by a client. A supervisor's console asks
for the whole view (``live``); after each routing event the leader's effects send the
rows it touched (``live_update``) over the bus to every online supervisor and admin, so
the ones on any node are told.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import routing as r
from gateway import protocol as p
from gateway.model.records import OPEN_STATES, Conversation
from gateway.ports.store.base import Store
from gateway.services.directory import Directory


class LiveView:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        contact_name: Callable[[str], Awaitable[str]],
        router: Callable[[], r.Router],
    ) -> None:
        self._store = store
        self._dir = directory
        self._contact_name = contact_name
        self._router = router

    def views(self) -> list[r.ConversationView]:
        """Every ongoing conversation as the router this node reads holds it, in arrival
        order (the admin API's list filters and pages these: gateway/web/admin/live.py)."""
        router = self._router()
        return [v for v in map(router.conversation, router.conversation_ids()) if v is not None]

    async def row(self, conv: Conversation) -> p.LiveConversation | None:
        """The live view's row of one conversation; None once it left the router."""
        return await self._conversation(self._router(), conv.id, conv)

    async def snapshot(self, now: float) -> p.LiveSnapshot:
        router = self._router()
        stored = {c.id: c for c in await self._store.list_conversations(states=list(OPEN_STATES))}
        conversations = [
            await self._conversation(router, cid, stored.get(cid))
            for cid in router.conversation_ids()
        ]
        return p.LiveSnapshot(
            now=now,
            conversations=[c for c in conversations if c is not None],
            agents=[a for a in (self.agent(router, aid) for aid in router.agent_ids()) if a],
            queues=self.queues(router, self._dir.queues),
        )

    async def update(
        self, conversation_ids: Iterable[str], agent_ids: Iterable[str], now: float
    ) -> p.LiveUpdate:
        router = self._router()
        rows: list[p.LiveConversation] = []
        gone: list[str] = []
        queues: set[str] = set()
        for cid in dict.fromkeys(conversation_ids):
            view = router.conversation(cid)
            conv = await self._store.get_conversation(cid)
            queues.update(conv.queue_ids)
            row = await self._conversation(router, cid, conv) if view is not None else None
            if row is None:
                gone.append(cid)
            else:
                rows.append(row)
        agents = [a for a in (self.agent(router, aid) for aid in dict.fromkeys(agent_ids)) if a]
        return p.LiveUpdate(
            now=now,
            conversations=rows,
            gone=gone,
            agents=agents,
            queues=self.queues(router, sorted(queues)),
        )

    async def _conversation(
        self, router: r.Router, cid: str, conv: Conversation | None
    ) -> p.LiveConversation | None:
        view = router.conversation(cid)
        if view is None:
            return None
        if conv is None:
            conv = await self._store.get_conversation(cid)
        return p.LiveConversation(
            conversation_id=cid,
            state=view.state,
            channel=view.channel,
            touchpoint_name=self._dir.touchpoint_name(view.touchpoint_id),
            contact_name=await self._contact_name(conv.contact_id),
            queue_ids=list(view.queue_ids),
            priority=view.priority,
            arrived_at=view.arrived_at,
            agent_id=view.owner_agent_id or "",
            offer_agent_id=view.offer_agent_id or "",
            dedicated=view.dedicated,
        )

    def agent(self, router: r.Router, agent_id: str) -> p.LiveAgent | None:
        view = router.agent(agent_id)
        agent = self._dir.agents.get(agent_id)
        if view is None or agent is None:
            return None
        return p.LiveAgent(
            agent_id=agent_id,
            name=agent.name,
            role=agent.role,
            status=view.status,
            load=view.load_points,
            capacity=r.CAPACITY,
            assigned=router.assigned_to(agent_id),
            offers=router.offers_to(agent_id),
        )

    def queues(self, router: r.Router, queue_ids: Iterable[str]) -> list[p.LiveQueue]:
        out = []
        for qid in queue_ids:
            waiting, oldest = router.queue_depth(qid)
            queue = self._dir.queues.get(qid)
            out.append(
                p.LiveQueue(
                    queue_id=qid,
                    name=queue.name if queue else qid,
                    waiting=waiting,
                    oldest_arrived_at=oldest or 0.0,
                )
            )
        return out
