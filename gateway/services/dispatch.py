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
from gateway import metrics
from gateway import protocol as p
from gateway.cluster.link import (
    LOG_TOPIC,
    ClusterLink,
    ConfigChanged,
    Forward,
    Leadership,
    LogEntry,
    Message,
    Reply,
    Reset,
    SnapshotReply,
    SnapshotRequest,
)
from gateway.errors import ActionRefused, GatewayError, StoreError
from gateway.model.channels import ROUTING_MODES
from gateway.ports.presence import Presence
from gateway.ports.presence import Status as ChosenStatus
from gateway.ports.store.base import Conversation, ConversationState, Store, Touchpoint
from gateway.services.directory import Directory
from gateway.services.messages import event_body, frame_for
from gateway.settings import Settings
from routing.model import ConversationState as RouterState

log = logging.getLogger("gateway.dispatch")

Publish = Callable[[str, p.Frame], Awaitable[None]]
Clock = Callable[[], float]

OPEN_STATES: list[ConversationState] = ["waiting", "offered", "assigned", "wrapup"]
FORWARD_TIMEOUT = 3.0  # a follower's wait for the leader's answer
RESYNC_ATTEMPTS = 5
PRESENCE_SWEEP = 5.0  # seconds between the leader's presence checks
STALE_RETRY = 1.0  # seconds between rebuild attempts while the store is unreachable


class RouterUnavailable(GatewayError):
    """No router leader can take the event now (a failover is under way)."""

    code = "router_unavailable"
    retryable = True


class Dispatcher:
    """One node's side of the router. Alone (no Redis), it always leads. In a cluster it
    leads while it holds the lease (gateway/cluster.py) and otherwise forwards events
    to the leader and keeps a replica of the router from the leader's log."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        directory: Directory,
        publish: Publish,
        clock: Clock,
        presence: Presence,
    ) -> None:
        self._settings = settings
        self._store = store
        self._dir = directory
        self._publish = publish
        self._clock = clock
        self.presence = presence
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stale = True
        self.router = self._new_router()
        # Cluster state: None when this node runs alone.
        self.link: ClusterLink | None = None
        self.leadership: Leadership | None = None
        self._seq = 0  # the leader's log position, or the replica's
        self._fence = 0  # the newest fencing token seen
        self._replica_ready = False
        self._pending: list[LogEntry] = []
        self._resync_task: asyncio.Task[None] | None = None
        # Called on this node after configuration was reloaded (the engine closes the
        # sockets of deactivated agents).
        self.after_config: Callable[[], Awaitable[None]] | None = None

    def _new_router(self) -> r.Router:
        weights = dict(self._dir.settings.channel_weights)
        return r.Router(
            r.RouterConfig(
                offer_timeout=self._settings.offer_timeout,
                reoffer_cooldown=self._settings.reoffer_cooldown,
                channel_weights=weights,
                channel_modes=ROUTING_MODES,
            )
        )

    @property
    def is_leader(self) -> bool:
        return self.leadership is None or self.leadership.is_leader

    # -- lifecycle -----------------------------------------------------------------
    def join(self, link: ClusterLink, leadership: Leadership) -> None:
        """Run as one node of a cluster (before start)."""
        self.link = link
        self.leadership = leadership

    async def start(self) -> None:
        metrics.ROUTER_LEADER.set(1 if self.leadership is None else 0)
        if self.leadership is None:
            async with self._lock:
                await self._rebuild()
                await self._apply_locked(r.Tick())
            self._timer = asyncio.create_task(self._run_timer(), name="router timer")
        else:
            # A first replica from the store, until the leader's snapshot arrives.
            self.router, _ = await self._build()
            await self.leadership.start()
        self._sweeper = asyncio.create_task(self._sweep_presence(), name="presence sweep")

    async def stop(self) -> None:
        for task in (self._timer, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.leadership is not None:
            await self.leadership.stop()

    async def _build(self) -> tuple[r.Router, list[r.Decision]]:
        """The router's state from the store and the agents' presence, and the decisions
        restoring it took (a waiting conversation may be offered at once)."""
        router = self._new_router()
        decisions: list[r.Decision] = []
        now = self._clock()
        # A record the router refuses (written before a rule existed, or by hand) is
        # left out with a log line rather than keeping the whole gateway down.
        for touchpoint in self._dir.touchpoints.values():
            decisions += _feed(router, _touchpoint_event(touchpoint), now)
        for agent in self._dir.agents.values():
            if agent.active:
                decisions += _feed(
                    router, r.AgentUpserted(agent.id, list(agent.queue_ids), agent.role), now
                )
        statuses = await self.presence.statuses()
        for agent_id in await self.presence.online("agent"):
            known = self._dir.agents.get(agent_id)
            if known is not None and known.active:
                decisions += _feed(
                    router, r.AgentStatusChanged(agent_id, statuses.get(agent_id, "available")), now
                )
        # Owned conversations first, then waiting ones: capacity is taken before the
        # router re-dispatches what waits (routing.md, "Rebuild").
        convs = await self._store.list_conversations(states=OPEN_STATES)
        convs.sort(key=lambda c: c.state in ("waiting", "offered"))
        for conv in convs:
            tp = self._dir.touchpoints.get(conv.touchpoint_id)
            if tp is not None:
                decisions += _feed(router, _restored(conv, tp), now)
        return router, decisions

    async def _rebuild(self) -> None:
        """Leader: rebuild from the store and carry out what restoring decided;
        followers resynchronise from a snapshot."""
        self.router, decisions = await self._build()
        self._stale = False
        if self.link is not None:
            await self.link.send(LOG_TOPIC, Reset(fence=self._fence, seq=self._seq))
        await self._carry_out(decisions, self._clock())
        self._wake.set()

    async def _run_timer(self) -> None:
        while self.is_leader:
            deadline = self.router.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            if self._stale:  # the last rebuild failed (store down): try again soon
                timeout = STALE_RETRY if timeout is None else min(timeout, STALE_RETRY)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if self._wake.is_set():
                continue
            try:
                await self.apply(r.Tick())
            except GatewayError:
                log.exception("router tick failed; retrying")
                await asyncio.sleep(0.5)

    async def _sweep_presence(self) -> None:
        """Leader: agents whose every socket is gone (a node died) go offline; agents
        with a socket somewhere but offline in the router come back."""
        while True:
            await asyncio.sleep(PRESENCE_SWEEP)
            if not self.is_leader:
                continue
            try:
                online = await self.presence.online("agent")
                statuses = await self.presence.statuses()
                for agent_id in list(self._dir.agents):
                    view = self.router.agent(agent_id)
                    if view is None:
                        continue
                    if view.status != "offline" and agent_id not in online:
                        await self.apply(r.AgentStatusChanged(agent_id, "offline"))
                    elif view.status == "offline" and agent_id in online:
                        await self.apply(
                            r.AgentStatusChanged(agent_id, statuses.get(agent_id, "available"))
                        )
            except GatewayError as exc:
                log.warning("presence sweep: %s", exc)
            except Exception:
                log.exception("presence sweep failed")

    # -- leadership ----------------------------------------------------------------
    async def elected(self, fence: int) -> None:
        metrics.ROUTER_LEADER.set(1)
        # The timer first: if the rebuild below fails (the store is down), the next
        # event or tick rebuilds, and offers still time out once it succeeds.
        self._timer = asyncio.create_task(self._run_timer(), name="router timer")
        async with self._lock:
            self._fence = max(self._fence, fence)
            self._seq = 0
            self._stale = True
            try:
                await self._rebuild()
                await self._apply_locked(r.Tick())
            except GatewayError as exc:
                log.warning("router rebuild after election failed, will retry: %s", exc)

    async def deposed(self) -> None:
        metrics.ROUTER_LEADER.set(0)
        if self._timer is not None:
            self._timer.cancel()
        self._replica_ready = False

    # -- events --------------------------------------------------------------------
    async def apply(self, event: r.Event) -> list[r.Decision]:
        """Feed one event; refuse with ActionRefused (state unchanged) when the router
        does. A follower forwards it to the leader."""
        if not self.is_leader:
            await self._forward(event)
            return []
        async with self._lock:
            if not self.is_leader:  # lost the lease while waiting for the lock
                raise RouterUnavailable("the router is moving to another node; try again")
            return await self._apply_locked(event)

    async def _apply_locked(self, event: r.Event) -> list[r.Decision]:
        if self._stale:
            await self._rebuild()
        now = self._clock()
        try:
            decisions = self.router.handle(event, now)
        except r.RoutingError as exc:
            raise ActionRefused(str(exc), code=exc.code) from None
        if self.link is not None:
            # Before any notification, so a follower's replica knows of an offer before
            # the agent it rings can answer it there.
            self._seq += 1
            await self.link.send(
                LOG_TOPIC, LogEntry(fence=self._fence, seq=self._seq, now=now, event=event)
            )
        try:
            await self._carry_out(decisions, now)
        except StoreError:
            # The router moved on but the store did not: rebuild before the next event.
            self._stale = True
            raise
        self._wake.set()
        metrics.ROUTER_WAITING.set(self.router.waiting_count())
        return decisions

    async def _forward(self, event: r.Event) -> None:
        assert self.link is not None
        try:
            reply = await self.link.request(
                lambda req, to: Forward(req_id=req, reply_to=to, event=event), FORWARD_TIMEOUT
            )
        except TimeoutError:
            raise RouterUnavailable("no router leader answered; try again") from None
        assert isinstance(reply, Reply)
        if not reply.ok:
            if reply.retryable:
                raise RouterUnavailable(reply.message, code=reply.code)
            raise ActionRefused(reply.message, code=reply.code)

    async def on_message(self, msg: Message) -> None:
        """A cluster message (gateway/cluster.py), in arrival order."""
        if isinstance(msg, Forward):
            if self.is_leader:
                await self._answer(msg)
        elif isinstance(msg, SnapshotRequest):
            if self.is_leader and self.link is not None:
                async with self._lock:
                    reply = SnapshotReply(
                        req_id=msg.req_id,
                        fence=self._fence,
                        seq=self._seq,
                        data=r.export_snapshot(self.router),
                    )
                await self.link.send(msg.reply_to, reply)
        elif isinstance(msg, LogEntry):
            self._follow(msg)
        elif isinstance(msg, Reset):
            if not self.is_leader and msg.fence >= self._fence:
                self._fence = msg.fence
                await self.resync()
        elif isinstance(msg, ConfigChanged):
            await self._dir.load()
            if self.after_config is not None:
                await self.after_config()
            if self.is_leader:
                async with self._lock:
                    await self._rebuild()
                    await self._apply_locked(r.Tick())

    async def _answer(self, msg: Forward) -> None:
        assert self.link is not None
        try:
            await self.apply(msg.event)
            reply = Reply(req_id=msg.req_id, ok=True)
        except GatewayError as exc:
            reply = Reply(
                req_id=msg.req_id,
                ok=False,
                code=exc.code,
                message=exc.message,
                retryable=exc.retryable,
            )
        await self.link.send(msg.reply_to, reply)

    def _follow(self, entry: LogEntry) -> None:
        if self.is_leader or entry.fence < self._fence:
            return  # our own entry, or one from a deposed leader
        if entry.fence > self._fence or not self._replica_ready:
            self._fence = max(self._fence, entry.fence)
            self._pending.append(entry)
            self._resync_soon()
            return
        if entry.seq != self._seq + 1:
            log.warning("router log gap (%d after %d): resynchronising", entry.seq, self._seq)
            self._replica_ready = False
            self._pending.append(entry)
            self._resync_soon()
            return
        self._replay(entry)

    def _replay(self, entry: LogEntry) -> None:
        try:
            self.router.handle(entry.event, entry.now)
        except r.RoutingError as exc:  # cannot happen with a faithful replica: resync
            log.error("replica refused %s: %s", type(entry.event).__name__, exc)
            self._replica_ready = False
            self._resync_soon()
            return
        self._seq = entry.seq

    def _resync_soon(self) -> None:
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.create_task(self.resync())

    async def resync(self) -> None:
        """Follower: take the leader's snapshot, then the log entries after it."""
        if self.link is None or self.is_leader:
            return
        for _ in range(RESYNC_ATTEMPTS):
            try:
                reply = await self.link.request(
                    lambda req, to: SnapshotRequest(req_id=req, reply_to=to), FORWARD_TIMEOUT
                )
            except TimeoutError:
                continue
            assert isinstance(reply, SnapshotReply)
            if reply.fence < self._fence:
                continue
            self.router = r.restore_snapshot(reply.data)
            self._fence, self._seq = reply.fence, reply.seq
            self._replica_ready = True
            pending, self._pending = sorted(self._pending, key=lambda e: e.seq), []
            for entry in pending:
                if entry.fence == self._fence and entry.seq > self._seq:
                    self._follow(entry)
            return
        log.warning("no router leader answered a snapshot request")

    async def wrap_up(
        self, conversation_id: str, agent_id: str, notes: str, disposition: str
    ) -> None:
        await self.apply(r.WrapUp(conversation_id, agent_id, notes, disposition or None))

    async def agent_online(self, agent_id: str) -> None:
        await self.presence.connected("agent", agent_id)
        status = (await self.presence.statuses()).get(agent_id, "available")
        await self.apply(r.AgentStatusChanged(agent_id, status))

    async def agent_offline(self, agent_id: str) -> None:
        """This node holds no socket of the agent any more: offline unless another does."""
        await self.presence.disconnected("agent", agent_id)
        if not await self.presence.is_online("agent", agent_id):
            await self.apply(r.AgentStatusChanged(agent_id, "offline"))

    async def set_status(self, agent_id: str, status: ChosenStatus) -> None:
        await self.presence.set_status(agent_id, status)
        if await self.presence.is_online("agent", agent_id):
            await self.apply(r.AgentStatusChanged(agent_id, status))

    async def config_changed(self) -> None:
        """The admin API changed configuration: every node reloads it; the leader
        rebuilds the router."""
        if self.link is not None:
            await self.link.send(LOG_TOPIC, ConfigChanged(origin=self.link.node_id))
            return
        async with self._lock:
            await self._dir.load()
            await self._rebuild()
            await self._apply_locked(r.Tick())
        if self.after_config is not None:
            await self.after_config()

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
        for agent_id, agent in self._dir.agents.items():
            view = self.router.agent(agent_id)
            if view is None or view.status == "offline":
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


def _feed(router: r.Router, event: r.Event, now: float) -> list[r.Decision]:
    try:
        return router.handle(event, now)
    except r.RoutingError as exc:
        log.error("ignoring %s: %s", type(event).__name__, exc)
        return []


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
