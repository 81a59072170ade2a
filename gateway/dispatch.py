"""The router's I/O shell: feeds the pure router events, carries out its decisions.

One event at a time (a lock): the router decides, every decision is written to the
store, and only then are agents and visitors told. The router's state can always be
rebuilt from the store (``rebuild``): at start, and after a store failure left the two
apart, the next event rebuilds first. Offer timeouts and cooldowns are driven by a timer
that sleeps until ``router.next_deadline()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

import msgspec

import routing as r
from gateway import protocol as p
from gateway.directory import Directory
from gateway.errors import ActionRefused, GatewayError, StoreError
from gateway.messages import event_body, frame_for
from gateway.settings import Settings
from gateway.store.base import Conversation, ConversationState, Store, Touchpoint
from routing.model import ConversationState as RouterState
from routing.model import Status

log = logging.getLogger("gateway.dispatch")

Publish = Callable[[str, p.Frame], Awaitable[None]]
Clock = Callable[[], float]

OPEN_STATES: list[ConversationState] = ["waiting", "offered", "assigned", "wrapup"]


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        directory: Directory,
        publish: Publish,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._store = store
        self._dir = directory
        self._publish = publish
        self._clock = clock
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._stale = True
        # The status each agent chose (available / away); offline while no socket is open.
        self.chosen_status: dict[str, Status] = {}
        self.online: set[str] = set()
        self.router = self._new_router()

    def _new_router(self) -> r.Router:
        weights = dict(self._dir.settings.channel_weights)
        return r.Router(
            r.RouterConfig(
                offer_timeout=self._settings.offer_timeout,
                reoffer_cooldown=self._settings.reoffer_cooldown,
                channel_weights=weights,
            )
        )

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        async with self._lock:
            await self._rebuild()
        self._timer = asyncio.create_task(self._run_timer(), name="router timer")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer

    async def _rebuild(self) -> None:
        """Make the router's state from the store and the agents' presence."""
        router = self._new_router()
        now = self._clock()
        # A record the router refuses (written before a rule existed, or by hand) is
        # left out with a log line rather than keeping the whole gateway down.
        for touchpoint in self._dir.touchpoints.values():
            _feed(router, _touchpoint_event(touchpoint), now)
        for agent in self._dir.agents.values():
            if agent.active:
                _feed(router, r.AgentUpserted(agent.id, list(agent.queue_ids), agent.role), now)
        for agent_id in self.online:
            known = self._dir.agents.get(agent_id)
            if known is not None and known.active:
                status = self.chosen_status.get(agent_id, "available")
                _feed(router, r.AgentStatusChanged(agent_id, status), now)
        # Owned conversations first, then waiting ones: capacity is taken before the
        # router re-dispatches what waits (routing.md, "Rebuild").
        convs = await self._store.list_conversations(states=OPEN_STATES)
        convs.sort(key=lambda c: c.state in ("waiting", "offered"))
        for conv in convs:
            tp = self._dir.touchpoints.get(conv.touchpoint_id)
            if tp is not None:
                _feed(router, _restored(conv, tp), now)
        self.router = router
        self._stale = False
        # Waiting work goes out to whoever is available now.
        await self._carry_out(router.handle(r.Tick(), now), now)
        self._wake.set()

    async def _run_timer(self) -> None:
        while True:
            deadline = self.router.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if self._wake.is_set():
                continue
            try:
                await self.apply(r.Tick())
            except GatewayError:
                log.exception("router tick failed; retrying")
                await asyncio.sleep(0.5)

    # -- events --------------------------------------------------------------------
    async def apply(self, event: r.Event) -> list[r.Decision]:
        """Feed one event; refuse with ActionRefused (state unchanged) when the router does."""
        async with self._lock:
            if self._stale:
                await self._rebuild()
            now = self._clock()
            try:
                decisions = self.router.handle(event, now)
            except r.RoutingError as exc:
                raise ActionRefused(str(exc), code=exc.code) from None
            try:
                await self._carry_out(decisions, now)
            except StoreError:
                # The router moved on but the store did not: rebuild before the next event.
                self._stale = True
                raise
            self._wake.set()
            return decisions

    async def wrap_up(
        self, conversation_id: str, agent_id: str, notes: str, disposition: str
    ) -> None:
        await self.apply(r.WrapUp(conversation_id, agent_id, notes, disposition or None))

    async def agent_online(self, agent_id: str) -> None:
        self.online.add(agent_id)
        await self.apply(
            r.AgentStatusChanged(agent_id, self.chosen_status.get(agent_id, "available"))
        )

    async def agent_offline(self, agent_id: str) -> None:
        self.online.discard(agent_id)
        await self.apply(r.AgentStatusChanged(agent_id, "offline"))

    async def set_status(self, agent_id: str, status: Status) -> None:
        self.chosen_status[agent_id] = status
        if agent_id in self.online:
            await self.apply(r.AgentStatusChanged(agent_id, status))

    async def config_changed(self) -> None:
        """The admin API changed configuration: reload it and rebuild the router."""
        async with self._lock:
            await self._dir.load()
            await self._rebuild()

    # -- decisions -----------------------------------------------------------------
    async def _carry_out(self, decisions: Iterable[r.Decision], now: float) -> None:
        touched: dict[str, set[str]] = defaultdict(set)
        offers: list[r.Offered] = []
        sounds: list[r.Sound] = []
        store = self._store
        for d in decisions:
            if isinstance(d, r.Queued):
                await store.update_conversation(
                    d.conversation_id,
                    queue_ids=list(d.queue_ids),
                    priority=d.priority,
                    acceptance=d.acceptance,
                )
            elif isinstance(d, r.Offered):
                offers.append(d)
            elif isinstance(d, r.OfferWithdrawn):
                await self._publish(
                    f"a:{d.agent_id}",
                    p.OfferWithdrawn(conversation_id=d.conversation_id, reason=d.reason),
                )
                touched[d.conversation_id].add(d.agent_id)
            elif isinstance(d, r.Assigned):
                previous = d.from_agent_id
                conv = await store.update_conversation(
                    d.conversation_id,
                    state="assigned",
                    owner_agent_id=d.agent_id,
                    weight=d.weight,
                    dedicated=d.how == "dedicated",
                )
                if previous and previous != d.agent_id:
                    await self._visitor_event(conv, "agent_left", previous, now)
                    touched[conv.id].add(previous)
                if previous != d.agent_id:
                    await self._visitor_event(conv, "agent_joined", d.agent_id, now)
                touched[conv.id].add(d.agent_id)
            elif isinstance(d, r.Requeued):
                conv = await store.update_conversation(
                    d.conversation_id,
                    state="waiting",
                    owner_agent_id=None,
                    weight=0,
                    queue_ids=list(d.queue_ids),
                )
                if d.from_agent_id:
                    await self._visitor_event(conv, "agent_left", d.from_agent_id, now)
                    touched[conv.id].add(d.from_agent_id)
            elif isinstance(d, r.AutoReply):
                conv = await store.get_conversation(d.conversation_id)
                msg, _ = await store.append_message(
                    conv.id,
                    sender="system",
                    sender_id="router",
                    client_msg_id=f"auto-{conv.id}",
                    body=d.text,
                    now=now,
                )
                await self._publish(
                    f"v:{conv.visitor_id}",
                    frame_for(msg, self._dir.touchpoint_name(conv.touchpoint_id)),
                )
            elif isinstance(d, r.Ended):
                conv = await store.update_conversation(
                    d.conversation_id, state="wrapup", ended_at=now
                )
                await self._visitor_event(conv, "ended", d.agent_id, now)
                touched[conv.id].add(d.agent_id)
            elif isinstance(d, r.Closed):
                conv = await store.update_conversation(
                    d.conversation_id,
                    state="closed",
                    closed_at=now,
                    notes=d.notes,
                    disposition=d.disposition or "",
                )
                if conv.owner_agent_id:
                    touched[conv.id].add(conv.owner_agent_id)
            elif isinstance(d, r.InboxVisibility):
                touched[d.conversation_id].update(self.inbox_viewers(d.queue_ids, d.agent_id))
            elif isinstance(d, r.Sound):
                sounds.append(d)
        for cid, agents in touched.items():
            conv = await store.get_conversation(cid)
            for agent_id in agents:
                summary = await self.summary(agent_id, conv)
                await self._publish(f"a:{agent_id}", p.ConversationUpdate(conversation=summary))
        for offer in offers:
            conv = await store.get_conversation(offer.conversation_id)
            summary = await self.summary(offer.agent_id, conv)
            await self._publish(
                f"a:{offer.agent_id}",
                p.Offer(
                    conversation=summary,
                    expires_at=offer.expires_at,
                    expires_in=max(0.0, offer.expires_at - now),
                ),
            )
        for s in sounds:
            await self.sound(s.agent_id, s.event, s.conversation_id)

    async def sound(self, agent_id: str, event: str, conversation_id: str) -> None:
        name = self._dir.settings.sounds.get(event, "")
        if name:
            await self._publish(
                f"a:{agent_id}",
                p.Sound(event=event, sound=name, conversation_id=conversation_id),  # type: ignore[arg-type]
            )

    async def _visitor_event(
        self, conv: Conversation, event: str, agent_id: str, now: float
    ) -> None:
        msg, _ = await self._store.append_message(
            conv.id,
            sender="system",
            sender_id="router",
            client_msg_id=f"{event}-{agent_id}-{now}",
            body=event_body(event, self._dir.agent_name(agent_id)),
            now=now,
            kind="event",
        )
        await self._publish(f"v:{conv.visitor_id}", frame_for(msg, ""))

    # -- views ---------------------------------------------------------------------
    def inbox_viewers(self, queue_ids: Iterable[str], only_agent: str | None = None) -> set[str]:
        """Online agents who see an Inbox conversation of these queues: queue members and
        supervisors/admins, or for a dedicated one its agent and supervisors/admins."""
        queues = set(queue_ids)
        out = set()
        for agent_id in self.online:
            agent = self._dir.agents.get(agent_id)
            if agent is None:
                continue
            if agent.role in ("supervisor", "admin") or (
                agent_id == only_agent if only_agent else bool(queues.intersection(agent.queue_ids))
            ):
                out.add(agent_id)
        return out

    def place(self, agent_id: str, conv: Conversation) -> str:
        view = self.router.conversation(conv.id) if conv.state != "closed" else None
        if view is None:
            return "gone"
        if view.owner_agent_id == agent_id:
            return "wrapup" if view.state == "wrapup" else "assigned"
        if view.offer_agent_id == agent_id:
            return "offered"
        if view.state in ("waiting", "offered") and self.router.can_see(agent_id, conv.id):
            return "inbox"
        return "gone"

    async def summary(
        self, agent_id: str, conv: Conversation, place: str | None = None
    ) -> p.ConversationSummary:
        contact = await self._store.get_contact(conv.contact_id)
        last = (
            await self._store.messages(conv.id, before_seq=conv.last_seq + 1, limit=1)
            if conv.last_seq
            else []
        )
        view = self.router.conversation(conv.id) if conv.state != "closed" else None
        agent = self._dir.agents.get(agent_id)
        tp = self._dir.touchpoints.get(conv.touchpoint_id)
        return p.ConversationSummary(
            conversation_id=conv.id,
            place=(place or self.place(agent_id, conv)),  # type: ignore[arg-type]
            state=view.state if view else conv.state,
            channel=conv.channel,
            touchpoint_id=conv.touchpoint_id,
            touchpoint_name=tp.name if tp else conv.touchpoint_id,
            contact_name=contact.display_name,
            contact_email=contact.email,
            contact_phone=contact.phone,
            queue_ids=list(conv.queue_ids),
            priority=conv.priority,
            arrived_at=conv.arrived_at,
            unread=conv.agent_unread,
            last_seq=conv.last_seq,
            dedicated=conv.dedicated,
            last_message=last[0].body if last and last[0].kind == "text" else "",
            last_message_at=last[0].created_at if last else 0.0,
            offer_expires_at=(view.offer_expires_at or 0.0) if view else 0.0,
            preview=bool(tp and agent and agent.role in tp.preview_roles),
        )


def _feed(router: r.Router, event: r.Event, now: float) -> None:
    try:
        router.handle(event, now)
    except r.RoutingError as exc:
        log.error("ignoring %s: %s", type(event).__name__, exc)


def _touchpoint_event(tp: Touchpoint) -> r.TouchpointUpserted:
    return r.TouchpointUpserted(
        touchpoint_id=tp.id,
        channel=tp.channel,
        routing_mode=tp.routing_mode,
        queue_ids=list(tp.queue_ids),
        dedicated_agent_id=tp.dedicated_agent_id,
        flow=msgspec.convert(tp.flow, r.FlowConfig) if tp.flow else None,
    )


_RESTORE_STATE: dict[str, RouterState] = {
    "waiting": "waiting",
    "offered": "waiting",
    "assigned": "assigned",
    "wrapup": "wrapup",
}


def _restored(conv: Conversation, tp: Touchpoint) -> r.ConversationRestored:
    # An offer does not survive a rebuild: the conversation waits and is offered again.
    return r.ConversationRestored(
        conversation_id=conv.id,
        touchpoint_id=conv.touchpoint_id,
        channel=conv.channel,
        state=_RESTORE_STATE[conv.state],
        queue_ids=list(conv.queue_ids),
        priority=conv.priority,
        arrived_at=conv.arrived_at,
        mode=tp.routing_mode,
        acceptance=conv.acceptance,
        owner_agent_id=conv.owner_agent_id,
        weight=conv.weight or None,
        dedicated_agent_id=tp.dedicated_agent_id if conv.dedicated else None,
    )
