"""What visitors and agents can do, independent of the socket that asked.

The WebSocket endpoints (visitor_ws.py, agent_ws.py) decode frames and call these
methods; the methods check who may do what, go through the store and the dispatcher,
and publish frames on the bus. Every method raises a GatewayError on refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

import routing as r
from gateway import metrics
from gateway import protocol as p
from gateway.auth import AgentClaims, Identity, Tokens, hash_password, new_id, verify_password
from gateway.cluster.link import ClusterLink, Leadership
from gateway.errors import (
    AuthError,
    BusUnavailable,
    Conflict,
    Forbidden,
    NotFound,
    ProtocolError,
    TokenInvalid,
)
from gateway.ports.bus import Bus
from gateway.ports.presence import LocalPresence, Presence, RedisPresence
from gateway.ports.store.base import (
    Agent,
    AgentSession,
    Contact,
    Conversation,
    ConversationState,
    Message,
    Store,
)
from gateway.services.directory import Directory
from gateway.services.dispatch import Dispatcher
from gateway.services.forms import validate_fields
from gateway.services.messages import frame_for
from gateway.settings import Settings
from gateway.web.hub import Connection, Hub

log = logging.getLogger("gateway.engine")

LIVE_STATES: tuple[ConversationState, ...] = ("waiting", "offered", "assigned")
NAME_CACHE = 10_000  # contacts whose display name is kept in memory
_DUMMY_HASH = hash_password("not a password anyone has")


class Engine:
    def __init__(
        self, settings: Settings, store: Store, bus: Bus, tokens: Tokens, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.hub = Hub(bus)
        self.tokens = tokens
        self.clock = clock
        self.directory = Directory(store)
        self.node_id = settings.node_id or new_id("node")
        self._redis: aioredis.Redis | None = None
        presence: Presence = LocalPresence()
        if settings.redis_url:
            self._redis = aioredis.from_url(settings.redis_url)
            presence = RedisPresence(self._redis, self.node_id)
        self.presence = presence
        self.dispatcher = Dispatcher(settings, store, self.directory, self.publish, clock, presence)
        self.dispatcher.after_config = self._config_loaded
        self.link: ClusterLink | None = None
        if self._redis is not None:
            self.link = ClusterLink(bus, self.node_id, self.dispatcher.on_message)
            leadership = Leadership(
                self._redis,
                self.node_id,
                settings.router_lease,
                self.dispatcher.elected,
                self.dispatcher.deposed,
            )
            self.dispatcher.join(self.link, leadership)
            self.hub.system_topics("gw:", self.link.deliver)
            set_gap = getattr(bus, "set_gap_handler", None)
            if set_gap is not None:
                set_gap(self.on_bus_gap)
        self._names: dict[str, str] = {}
        self.draining = False
        # Visitor sockets whose session token is renewed while they are open: one timer
        # for all of them rather than a task per socket (memory per idle connection).
        self.renewals: dict[Connection, Callable[[], Awaitable[None]]] = {}
        self._renewer: asyncio.Task[None] | None = None
        # This node's agent sockets by login session, closed when the session is revoked.
        self.sessions: dict[str, set[Connection]] = {}

    async def start(self) -> None:
        await self.store.open()
        await self.directory.load()
        await self.presence.start()
        await self.hub.start()
        if self.link is not None:
            await self.link.start()
        await self.dispatcher.start()
        self._renewer = asyncio.create_task(self._renew_tokens(), name="token renewal")

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self.dispatcher.stop()
        if self.link is not None:
            await self.link.stop()
        await self.presence.stop()
        await self.hub.stop()
        await self.store.close()
        if self._redis is not None:
            await self._redis.aclose()

    async def _renew_tokens(self) -> None:
        """Every third of a visitor token's life, a fresh token for every open visitor
        socket, so a reconnect always has a valid one."""
        while True:
            await asyncio.sleep(self.tokens.visitor_ttl / 3)
            for renew in list(self.renewals.values()):
                try:
                    await renew()
                except Exception:
                    log.exception("token renewal failed")

    def begin_drain(self) -> None:
        """SIGTERM: readiness answers 503 from now on."""
        self.draining = True
        metrics.DRAINING.set(1)

    async def on_bus_gap(self) -> None:
        """The bus lost frames (Redis reconnected): every socket here may have missed
        some, so close them with a reconnect code; clients resume from the store."""
        metrics.BUS_RECONNECTS.inc()
        for conn in self.hub.connections():
            conn.abort(p.CloseCode.RESTART, "resynchronising")
        await self.dispatcher.resync()

    async def publish(self, topic: str, frame: p.Frame) -> None:
        await self.send_to(topic, p.encode(frame))

    async def send_to(self, topic: str, data: bytes) -> None:
        """Publish on the bus. The bus is the fast path, not the record: if Redis is
        away, what was committed stays committed and clients get it by resuming, so a
        failed publish is logged, never turned into a failed request."""
        started = time.perf_counter()
        try:
            await self.bus.publish(topic, data)
            metrics.BUS_PUBLISH_LATENCY.observe(time.perf_counter() - started)
        except BusUnavailable as exc:
            log.warning("frame for %s not published: %s", topic.split(":", 1)[0], exc)

    async def config_changed(self) -> None:
        """Configuration changed (admin API): every node reloads it (on one node, before
        this returns), the router is rebuilt, and deactivated agents lose their sockets."""
        await self.dispatcher.config_changed()

    async def _config_loaded(self) -> None:
        """Close the sockets configuration no longer allows: agents deactivated or
        deleted, visitors of a touchpoint deactivated or deleted."""
        for conn in self.hub.connections():
            if conn.topic.startswith("a:"):
                agent = self.directory.agents.get(conn.topic[2:])
                if agent is None or not agent.active:
                    conn.abort(p.CloseCode.UNAUTHENTICATED, "this agent was deactivated")
            elif conn.touchpoint_id:
                tp = self.directory.touchpoints.get(conn.touchpoint_id)
                if tp is None or not tp.active:
                    conn.abort(p.CloseCode.FORBIDDEN, "this touchpoint does not accept chats")

    # -- names ---------------------------------------------------------------------
    async def contact_for(self, conv: Conversation) -> Contact:
        return await self.store.get_contact(conv.contact_id)

    async def sender_name(self, msg: Message, conv: Conversation) -> str:
        if msg.sender == "agent":
            return self.directory.agent_name(msg.sender_id)
        if msg.sender == "visitor":
            return await self.contact_name(conv.contact_id)
        return self.directory.touchpoint_name(conv.touchpoint_id)

    async def contact_name(self, contact_id: str) -> str:
        """A contact's display name, cached: read on every message, changed rarely (this
        node forgets it when it changes a contact; another node's change shows once the
        entry is evicted)."""
        name = self._names.get(contact_id)
        if name is None:
            name = (await self.store.get_contact(contact_id)).display_name
            if len(self._names) >= NAME_CACHE:
                self._names.pop(next(iter(self._names)))
            self._names[contact_id] = name
        return name

    def forget_contact(self, contact_id: str) -> None:
        self._names.pop(contact_id, None)

    async def message_frame(self, msg: Message, conv: Conversation) -> p.MessageOut | p.EventOut:
        return frame_for(msg, await self.sender_name(msg, conv))

    # -- visitors ------------------------------------------------------------------
    async def open_conversation(self, visitor_id: str, touchpoint_id: str) -> Conversation | None:
        """The visitor's live conversation on this touchpoint, if any (the newest)."""
        convs = await self.store.list_conversations(
            visitor_id=visitor_id, touchpoint_id=touchpoint_id, states=list(LIVE_STATES)
        )
        return convs[-1] if convs else None

    async def latest_conversation(self, visitor_id: str, touchpoint_id: str) -> Conversation | None:
        convs = await self.store.list_conversations(
            visitor_id=visitor_id, touchpoint_id=touchpoint_id
        )
        return convs[-1] if convs else None

    async def visitor_conversation(self, visitor_id: str, conversation_id: str) -> Conversation:
        """A conversation of this visitor, or NotFound (also for someone else's: a visitor
        cannot even learn that another visitor's conversation exists)."""
        try:
            conv = await self.store.get_conversation(conversation_id)
        except NotFound:
            raise NotFound("no such conversation") from None
        if conv.visitor_id != visitor_id:
            raise NotFound("no such conversation")
        return conv

    async def visitor_contact(self, visitor_id: str) -> Contact | None:
        try:
            return await self.store.get_contact(_contact_id(visitor_id))
        except NotFound:
            return None

    async def start_conversation(
        self,
        visitor_id: str,
        touchpoint_id: str,
        fields: dict[str, str],
        *,
        identity: Identity | None = None,
        admit: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[Conversation, Contact]:
        """Start (or return the open) conversation. ``identity`` is the signed identity
        from the visitor's token (widget/identity.py): only it creates or matches a
        contact by email or phone. ``admit`` raises RateLimited when a new conversation
        is over the limits (gateway/limits.py); it runs only when one is created."""
        tp = self.directory.touchpoints.get(touchpoint_id)
        if tp is None or not tp.active:
            raise Forbidden("this touchpoint is not active")
        existing = await self.open_conversation(visitor_id, touchpoint_id)
        if existing is not None:
            return existing, await self.contact_for(existing)
        clean = validate_fields(tp.form, fields)
        if admit is not None:
            await admit()
        now = self.clock()
        contact = await self.visitor_contact(visitor_id)
        if identity is not None and (identity.email or identity.phone):
            matched = await self.store.find_contact(email=identity.email, phone=identity.phone)
            name = identity.name or clean.get("name", "")
            if matched is not None:
                contact = matched
                if identity.name and identity.name != contact.name:
                    self.forget_contact(contact.id)
                    contact = await self.store.update_contact(contact.id, name=identity.name)
            elif contact is not None:
                self.forget_contact(contact.id)
                contact = await self.store.update_contact(
                    contact.id,
                    name=name or None,
                    email=identity.email or None,
                    phone=identity.phone or None,
                )
            else:
                contact = await self.store.create_contact(
                    _contact_id(visitor_id),
                    name=name,
                    email=identity.email,
                    phone=identity.phone,
                    now=now,
                )
        elif contact is None:
            contact = await self.store.create_contact(
                _contact_id(visitor_id),
                name=clean.get("name", ""),
                email=clean.get("email", ""),
                phone=clean.get("phone", ""),
                now=now,
            )
        elif clean.get("name") and clean["name"] != contact.name:
            self.forget_contact(contact.id)
            contact = await self.store.update_contact(contact.id, name=clean["name"])
        conv = await self.store.create_conversation(
            Conversation(
                id=new_id("cv"),
                touchpoint_id=tp.id,
                channel=tp.channel,
                contact_id=contact.id,
                visitor_id=visitor_id,
                state="waiting",
                queue_ids=list(tp.queue_ids),
                fields=clean,
                created_at=now,
                arrived_at=now,
            )
        )
        await self.dispatcher.apply(r.ConversationArrived(conv.id, tp.id, tp.channel, dict(clean)))
        return await self.store.get_conversation(conv.id), contact

    async def visitor_send(
        self, visitor_id: str, conv: Conversation, client_msg_id: str, body: str
    ) -> p.Ack:
        if conv.state not in LIVE_STATES:
            raise Conflict("the conversation has ended; start a new one", code="conversation_ended")
        msg, created, after = await self.store.append(
            conv.id,
            sender="visitor",
            sender_id=visitor_id,
            client_msg_id=client_msg_id,
            body=body,
            now=self.clock(),
        )
        if created:
            metrics.MESSAGES.labels(sender="visitor").inc()
        # Published again for a retry too: the first attempt may have stored the message
        # and then failed to publish it (clients drop what they already have by seq).
        await self._deliver_visitor_message(msg, after, fresh=created)
        return p.Ack(
            client_msg_id=client_msg_id, conversation_id=conv.id, seq=msg.seq, duplicate=not created
        )

    async def _deliver_visitor_message(self, msg: Message, conv: Conversation, fresh: bool) -> None:
        """To the visitor's other tabs, and to the owner (with the unread count and the
        reply sound) or to the Inbox rows; ``conv`` is as it was right after the append."""
        frame = p.encode(await self.message_frame(msg, conv))
        await self.send_to(f"v:{conv.visitor_id}", frame)
        owner = conv.owner_agent_id if conv.state == "assigned" else None
        if owner:
            await self.send_to(f"a:{owner}", frame)
            await self.publish(
                f"a:{owner}", p.Unread(conversation_id=conv.id, count=conv.agent_unread)
            )
            if fresh:
                await self.dispatcher.sound(owner, "reply", conv.id)
        else:
            # Waiting in the Inbox (new, sent back or transferred to a queue): its row
            # shows the unread count to every agent who sees it there.
            view = self.dispatcher.router.conversation(conv.id)
            only = view.dedicated_agent_id if view and view.dedicated else None
            for agent_id in self.dispatcher.inbox_viewers(conv.queue_ids, only):
                summary = await self.dispatcher.summary(agent_id, conv)
                await self.publish(f"a:{agent_id}", p.ConversationUpdate(conversation=summary))

    async def visitor_read(self, conv: Conversation, seq: int) -> None:
        conv = await self.store.mark_read(conv.id, "visitor", seq)
        await self.publish(
            f"v:{conv.visitor_id}", p.Unread(conversation_id=conv.id, count=conv.visitor_unread)
        )

    async def visitor_typing(self, conv: Conversation, active: bool) -> None:
        if conv.owner_agent_id and conv.state == "assigned":
            contact = await self.contact_for(conv)
            await self.publish(
                f"a:{conv.owner_agent_id}",
                p.Typing(
                    conversation_id=conv.id, active=active, who="visitor", name=contact.display_name
                ),
            )

    async def history(self, conv: Conversation, before_seq: int | None, limit: int) -> p.HistoryOut:
        """A page of up to ``limit`` items before ``before_seq`` (the newest page without it)."""
        before = before_seq if before_seq is not None else conv.last_seq + 1
        rows = await self.store.messages(conv.id, before_seq=before, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[1:] if has_more else rows
        items = [await self.message_frame(m, conv) for m in rows]
        return p.HistoryOut(conversation_id=conv.id, items=items, has_more=has_more)

    async def backlog(self, conv: Conversation, after_seq: int) -> list[p.MessageOut | p.EventOut]:
        """Everything after ``after_seq``, for a resume."""
        out: list[p.MessageOut | p.EventOut] = []
        page = self.settings.history_page_size * 4
        while True:
            rows = await self.store.messages(conv.id, after_seq=after_seq, limit=page)
            out.extend([await self.message_frame(m, conv) for m in rows])
            if len(rows) < page:
                return out
            after_seq = rows[-1].seq

    # -- agents --------------------------------------------------------------------
    def agent(self, agent_id: str) -> Agent:
        agent = self.directory.agents.get(agent_id)
        if agent is None or not agent.active:
            raise Forbidden("unknown or deactivated agent")
        return agent

    async def check_agent_session(self, claims: AgentClaims) -> None:
        """TokenInvalid unless the token's login session exists and is not revoked."""
        try:
            session = await self.store.get_session(claims.sid)
        except NotFound:
            raise TokenInvalid("unknown session") from None
        if session.revoked or session.agent_id != claims.sub:
            raise TokenInvalid("this session was revoked")

    async def login(self, email: str, password: str) -> tuple[str, AgentClaims, Agent]:
        try:
            agent = await self.store.get_agent_by_email(email)
        except NotFound:
            agent = None
        # Hash anyway when the agent is unknown, so timing does not tell who exists.
        ok = verify_password(agent.password_hash if agent else _DUMMY_HASH, password)
        if agent is None or not ok or not agent.active or not agent.password_hash:
            raise AuthError("wrong email or password", code="bad_credentials")
        now = self.clock()
        session = AgentSession(
            id=new_id("se"),
            agent_id=agent.id,
            created_at=now,
            expires_at=now + self.tokens.agent_ttl,
        )
        await self.store.create_session(session)
        token, claims = self.tokens.issue_agent(agent_id=agent.id, session_id=session.id, now=now)
        return token, claims, agent

    async def logout(self, session_id: str) -> None:
        await self.store.revoke_session(session_id)
        for conn in self.sessions.pop(session_id, set()):
            conn.abort(p.CloseCode.UNAUTHENTICATED, "logged out")

    async def agent_conversation(self, agent: Agent, conversation_id: str) -> Conversation:
        """A conversation this agent may see, or NotFound."""
        try:
            conv = await self.store.get_conversation(conversation_id)
        except NotFound:
            raise NotFound("no such conversation") from None
        if conv.state == "closed":
            if conv.owner_agent_id == agent.id or agent.role in ("supervisor", "admin"):
                return conv
        elif self.dispatcher.router.can_see(agent.id, conv.id):
            return conv
        raise NotFound("no such conversation")

    async def snapshot(self, agent: Agent) -> p.Snapshot:
        router = self.dispatcher.router
        inbox: list[p.ConversationSummary] = []
        assigned: list[p.ConversationSummary] = []
        for cid in (*router.inbox_for(agent.id), *router.offers_to(agent.id)):
            conv = await self.store.get_conversation(cid)
            inbox.append(await self.dispatcher.summary(agent.id, conv))
        for cid in router.assigned_to(agent.id):
            conv = await self.store.get_conversation(cid)
            assigned.append(await self.dispatcher.summary(agent.id, conv))
        av = router.agent(agent.id)
        d = self.directory
        return p.Snapshot(
            v=p.VERSION,
            agent=p.AgentInfo(
                agent_id=agent.id,
                name=agent.name,
                role=agent.role,
                status=av.status if av else "offline",
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
        )

    async def agent_send(
        self, agent: Agent, conv: Conversation, client_msg_id: str, body: str
    ) -> p.Ack:
        if conv.state != "assigned" or conv.owner_agent_id != agent.id:
            raise Forbidden("only the agent the conversation is assigned to can reply")
        msg, created, conv = await self.store.append(
            conv.id,
            sender="agent",
            sender_id=agent.id,
            client_msg_id=client_msg_id,
            body=body,
            now=self.clock(),
        )
        if created:
            metrics.MESSAGES.labels(sender="agent").inc()
        # Published again for a retry too (see visitor_send).
        frame = p.encode(frame_for(msg, agent.name))
        await self.send_to(f"v:{conv.visitor_id}", frame)
        await self.send_to(f"a:{agent.id}", frame)
        await self.publish(
            f"v:{conv.visitor_id}", p.Unread(conversation_id=conv.id, count=conv.visitor_unread)
        )
        return p.Ack(
            client_msg_id=client_msg_id, conversation_id=conv.id, seq=msg.seq, duplicate=not created
        )

    async def agent_read(self, agent: Agent, conv: Conversation, seq: int) -> None:
        conv = await self.store.mark_read(conv.id, "agent", seq)
        await self.publish(
            f"a:{agent.id}", p.Unread(conversation_id=conv.id, count=conv.agent_unread)
        )

    async def agent_typing(self, agent: Agent, conv: Conversation, active: bool) -> None:
        if conv.owner_agent_id == agent.id and conv.state == "assigned":
            await self.publish(
                f"v:{conv.visitor_id}",
                p.Typing(conversation_id=conv.id, active=active, who="agent", name=agent.name),
            )

    async def agent_action(self, agent: Agent, frame: p.AgentAction) -> None:
        """Assign, accept, reject, transfer, send to inbox, end, wrap up."""
        conv = await self.agent_conversation(agent, frame.conversation_id)
        cid, aid = conv.id, agent.id
        if isinstance(frame, p.Assign):
            await self.dispatcher.apply(r.Assign(cid, aid))
        elif isinstance(frame, p.Accept):
            await self.dispatcher.apply(r.Accept(cid, aid))
        elif isinstance(frame, p.Reject):
            await self.dispatcher.apply(r.Reject(cid, aid))
        elif isinstance(frame, p.Transfer):
            if bool(frame.to_agent_id) == bool(frame.to_queue_id):
                raise ProtocolError(
                    "transfer to an agent or to a queue: exactly one", code="invalid_field"
                )
            await self.dispatcher.apply(
                r.Transfer(
                    cid,
                    aid,
                    to_agent_id=frame.to_agent_id or None,
                    to_queue_id=frame.to_queue_id or None,
                )
            )
        elif isinstance(frame, p.SendToInbox):
            await self.dispatcher.apply(r.SendToInbox(cid, aid))
        elif isinstance(frame, p.End):
            await self.dispatcher.apply(r.End(cid, aid))
        elif isinstance(frame, p.WrapUp):
            allowed = self.directory.dispositions()
            if frame.disposition and allowed and frame.disposition not in allowed:
                raise ProtocolError(
                    f"unknown disposition {frame.disposition!r}", code="invalid_field"
                )
            await self.dispatcher.wrap_up(cid, aid, frame.notes, frame.disposition)
        else:  # pragma: no cover - the decoder admits nothing else
            raise ProtocolError("unknown action")


def _contact_id(visitor_id: str) -> str:
    return f"ct_{visitor_id}"
