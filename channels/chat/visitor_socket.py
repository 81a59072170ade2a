"""``/ws/visitor``: the widget's socket.

hello (token, resume points) → welcome, a renewed token, then exactly the messages and
events after each resume point, then live frames. The Origin must be the one the token
was issued to, and still allowed for the touchpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from channels.base import Core
from channels.chat.bootstrap import admitted_touchpoint
from channels.chat.forms import (
    FieldError,
    first_message,
    leave_message_form,
    refuse_unknown_fields,
    validate_fields,
)
from gateway import protocol as p
from gateway import topics
from gateway.auth import VisitorClaims
from gateway.errors import Conflict, Forbidden, GatewayError, NotFound
from gateway.model.records import LIVE_STATES, Conversation
from gateway.services.views import seq_of
from gateway.web.hub import Connection
from gateway.web.limits import GiveBack
from gateway.web.origins import self_origins
from gateway.web.sockets import (
    Opened,
    close,
    connection,
    forget_handshake,
    guarded,
    read_hello,
    run_loop,
    send_frame,
)

# seconds a finished conversation is still shown on reload (always, while the visitor
# has not read all of it: the answer to a message they left)
SHOW_ENDED_FOR = 3600.0


def visitor_topic(visitor_id: str) -> str:
    return topics.contact("chat", visitor_id)


class VisitorSession:
    # one per open socket, thousands idle: no __dict__
    __slots__ = ("_transcripts", "claims", "conn", "core", "current", "ip")

    def __init__(
        self,
        core: Core,
        claims: VisitorClaims,
        conn: Connection,
        ip: str,
        transcripts: Callable[[Conversation, str], Awaitable[int]] | None = None,
    ) -> None:
        self.core = core
        self.claims = claims
        self.conn = conn
        self.ip = ip  # the socket's address, for the rate limits of a new conversation
        self.current = ""  # id of the open conversation, once known
        self._transcripts = transcripts  # email_followup.py: a transcript by email

    async def admit(self) -> GiveBack | None:
        """The rate limits for a new conversation (gateway/web/limits.py)."""
        return await self.core.limits.admit_conversation(self.ip, self.claims.tp)

    async def transcripts(self, conv: Conversation, email: str) -> int:
        if self._transcripts is None:
            raise Conflict("transcripts by email are not offered", code="transcript_unavailable")
        return await self._transcripts(conv, email)

    @property
    def visitor_id(self) -> str:
        return self.claims.vid

    async def conversation(
        self, conversation_id: str, *, recent: bool = False, ended: bool = False
    ) -> Conversation:
        """The conversation named, or the open one; ``recent``: perhaps as this node last
        wrote to it, for a guarded write (gateway/services/recent.py). ``ended``: with
        none open, the last one, ended (a send's retry is acked there, docs/protocol.md)."""
        conversations = self.core.conversations
        if conversation_id:
            return await conversations.of_contact(
                self.claims.tp, self.visitor_id, conversation_id, recent=recent
            )
        if self.current:
            # The conversation this socket last used: one read by primary key instead of
            # a search on every message; searched again once it has ended.
            try:  # (not contextlib.suppress: a context manager per message)
                conv = await conversations.get(self.current, recent=recent)
            except NotFound:
                pass
            else:
                if conv.state in LIVE_STATES:
                    return conv
            self.current = ""
        found = await conversations.open_for(self.claims.tp, self.visitor_id)
        if found is None:
            latest = await conversations.latest_for(self.claims.tp, self.visitor_id)
            if latest is not None and ended:
                return latest  # the send decides: conversation_ended, or a retry's ack
            if latest is not None:
                raise Conflict(
                    "the conversation has ended; start a new one", code="conversation_ended"
                )
            raise NotFound("start a conversation first", code="no_conversation")
        self.current = found.id
        return found

    async def linked(self, conversation_id: str) -> Conversation:
        """The conversation files are asked of: the one named (an ended one too: its
        transcript still shows), else the open one."""
        if conversation_id:
            return await self.core.conversations.of_contact(
                self.claims.tp, self.visitor_id, conversation_id
            )
        return await self.conversation("")

    async def handle(self, frame: Any) -> None:
        conversations = self.core.conversations
        if isinstance(frame, p.Send):
            ack = await conversations.contact_send_recent(
                lambda recent: self.conversation(frame.conversation_id, recent=recent, ended=True),
                frame.client_msg_id,
                frame.body,
                frame.attachments,
                skip=self.conn.ref,
            )
            self.conn.send(p.encode(ack))
        elif isinstance(frame, p.Links):
            conv = await self.linked(frame.conversation_id)
            links = await conversations.contact_links(conv, frame.attachment_ids, frame.ref)
            self.conn.send(p.encode(links))
        elif isinstance(frame, p.Start):
            await self.start(frame)
        elif isinstance(frame, p.EndChat):
            try:
                conv = await self.conversation(frame.conversation_id)
            except Conflict:
                conv = None  # ended already: so be it
            if conv is not None:
                await self.core.endings.end(conv, "contact")
            if frame.ref:
                self.conn.send(p.encode(p.Ok(ref=frame.ref)))
        elif isinstance(frame, p.Rate):
            conv = await conversations.of_contact(
                self.claims.tp, self.visitor_id, frame.conversation_id
            )
            await self.core.endings.rate(conv, frame.score, frame.comment)
            self.conn.send(p.encode(p.Ok(ref=frame.ref or conv.id)))
        elif isinstance(frame, p.TranscriptRequest):
            conv = await conversations.of_contact(
                self.claims.tp, self.visitor_id, frame.conversation_id
            )
            await self.transcripts(conv, frame.email)
            self.conn.send(p.encode(p.Ok(ref=frame.ref or conv.id)))
        elif isinstance(frame, p.TypingIn):
            conv = await self.conversation(frame.conversation_id)
            await conversations.contact_typing(conv, frame.active)
        elif isinstance(frame, p.Read):
            conv = await self.conversation(frame.conversation_id)
            await conversations.contact_read(conv, frame.seq)
        elif isinstance(frame, p.History):
            conv = await self.conversation(frame.conversation_id)
            self.conn.send(
                p.encode(await conversations.history(conv, frame.before_seq, frame.limit))
            )
        else:
            raise GatewayError("hello was already received", code="bad_frame")

    async def start(self, frame: p.Start) -> None:
        """A conversation with its first message (routed by it), or a message left for
        later; the open one, if any, gets the message instead."""
        conversations = self.core.conversations
        tp = self.core.directory.touchpoints.get(self.claims.tp)
        if tp is None or not tp.active:
            raise Forbidden("this touchpoint is not active")
        message = first_message(frame.message, frame.client_msg_id)
        form = leave_message_form(tp.form) if frame.leave_message else tp.form
        # A field the form does not have is refused also while one is open (whose start
        # reads no fields): whether a bad frame is refused must not depend on that.
        refuse_unknown_fields(form, frame.fields)
        # One start at a time per visitor: two tabs starting at once get one conversation.
        async with conversations.one_at_a_time(tp.id, self.visitor_id):
            existing = await conversations.open_for(tp.id, self.visitor_id)
            fields: dict[str, str] = {}
            if existing is None:
                fields = validate_fields(form, frame.fields)
                if frame.leave_message and message is None:
                    raise FieldError("message", "a message is required")
            conv, contact = await conversations.start(
                tp.id,
                self.visitor_id,
                fields,
                identity=self.claims.identity,
                admit=self.admit,
                left_message=frame.leave_message,
                page=_same_site_page(frame.page, self.claims.page),
            )
        # Every tab of this visitor learns of it, before its first message.
        started = p.Started(
            conversation_id=conv.id,
            visitor_name=contact.display_name,
            left_message=conv.left_message,
        )
        await self.core.notifier.publish(visitor_topic(self.visitor_id), p.encode(started))
        if message is not None:
            self.current = conv.id
            ack = await conversations.contact_send(
                conv, frame.client_msg_id, message, skip=self.conn.ref
            )
            self.conn.send(p.encode(ack))

    async def welcome(self, ws: WebSocket, hello: p.Hello) -> None:
        """Welcome, renewed token and backlog, sent before any held live frame."""
        core = self.core
        conversations = core.conversations
        tp_id, vid = self.claims.tp, self.visitor_id
        contact = await core.contacts.at("chat", vid)
        conv = await conversations.open_for(tp_id, vid)
        if conv is None:
            # A conversation that ended recently is shown, ended, after a reload; an
            # older one is not (a returning visitor gets a fresh form).
            latest = await conversations.latest_for(tp_id, vid)
            if (
                latest is not None
                and latest.ended_at is not None
                and (core.clock() - latest.ended_at < SHOW_ENDED_FOR or latest.contact_unread)
            ):
                conv = latest
        info = None
        if conv is not None:
            info = p.ConversationInfo(
                conversation_id=conv.id,
                state=conv.state,
                last_seq=conv.last_seq,
                unread=conv.contact_unread,
                agent_name=core.directory.agent_name(conv.owner_agent_id),
                held=conv.acceptance == "hold",
                left_message=conv.left_message,
                rated=conv.state in ("wrapup", "closed") and await core.endings.rated(conv.id),
            )
        await send_frame(
            ws,
            p.Welcome(
                v=p.VERSION,
                visitor_id=vid,
                visitor_name=contact.display_name if contact else "",
                conversation=info,
            ),
        )
        await self.renew(ws)
        sent: dict[str, int] = {}
        for point in hello.resume[:10]:
            try:
                rconv = await conversations.of_contact(tp_id, vid, point.conversation_id)
            except NotFound:
                continue
            for frame in await conversations.backlog(rconv, point.last_seq):
                await send_frame(ws, frame)
                sent[rconv.id] = frame.seq
            if rconv.contact_unread:
                await send_frame(ws, p.Unread(conversation_id=rconv.id, count=rconv.contact_unread))

        def newer(data: bytes) -> bool:
            key = seq_of(data)
            return key is None or key[1] > sent.get(key[0], -1)

        self.conn.release(newer)

    async def renew(self, ws: WebSocket | None = None) -> None:
        c = self.claims
        token, claims = self.core.tokens.issue_visitor(
            touchpoint_id=c.tp,
            origin=c.org,
            page_origin=c.page,
            visitor_id=c.vid,
            now=self.core.clock(),
            first_seen=c.first,
            identity=c.identity,
            bound=c.who,
        )
        frame = p.TokenRenewed(token=token, expires_at=claims.exp)
        if ws is not None:
            await send_frame(ws, frame)
        else:
            self.conn.send(p.encode(frame))


log = logging.getLogger("gateway.chat")

# Renewals per turn of the event loop. Signing a token costs about 60 µs, so renewing
# every socket of a node in one turn held all of them, 1.3 s at 19,000 sockets
# (docs/scaling.md, "Periodic work over every socket").
RENEWALS_PER_TURN = 50


class VisitorSockets:
    """This node's visitor sockets: token renewal for all of them on one timer (rather
    than a task per socket: memory per idle connection), and who is connected."""

    def __init__(
        self,
        core: Core,
        transcripts: Callable[[Conversation, str], Awaitable[int]] | None = None,
    ) -> None:
        self.core = core
        self.transcripts = transcripts
        self.renewals: dict[Connection, Callable[[], Awaitable[None]]] = {}

    async def renew_all(self) -> None:
        """A fresh token for every open socket, :data:`RENEWALS_PER_TURN` to a turn of
        the event loop; a socket that closed meanwhile is skipped."""
        for n, (conn, renew) in enumerate(list(self.renewals.items()), 1):
            if conn in self.renewals:
                try:
                    await renew()
                except Exception:
                    log.exception("token renewal failed")
            if n % RENEWALS_PER_TURN == 0:
                await asyncio.sleep(0)  # the other sockets' turn

    async def endpoint(self, ws: WebSocket) -> None:
        core = self.core
        origin = ws.headers.get("origin", "")
        await ws.accept()
        opened = Opened()
        try:
            await guarded(ws, self._session(ws, origin, opened))
        finally:
            conn = opened.conn
            if conn is not None:
                self.renewals.pop(conn, None)
                await core.hub.remove(conn)
                if core.hub.count(conn.topic) == 0:
                    with contextlib.suppress(Exception):
                        await core.presence.disconnected("contact", f"chat:{opened.peer_id}")
                if conn.close_code is not None:
                    await close(ws, conn.close_code, conn.close_reason)

    async def _session(self, ws: WebSocket, origin: str, opened: Opened) -> None:
        """One socket's session, from its hello; what its end cleans up, in ``opened``
        (a method, not a closure: gateway/web/sockets.py, ``Opened``)."""
        core = self.core
        settings = core.settings
        hello = await read_hello(ws, p.decode_visitor, settings.max_frame_bytes)
        claims = core.tokens.verify_visitor(hello.token)
        admitted_touchpoint(core.directory.touchpoints, claims, origin, self_origins(ws))
        opened.peer_id = claims.vid
        topic = visitor_topic(claims.vid)
        conn = opened.conn = connection(ws, topic, settings)
        conn.touchpoint_id = claims.tp
        visitor = VisitorSession(core, claims, conn, core.limits.ip(ws), self.transcripts)
        conn.hold()
        await core.hub.add(conn)
        if core.hub.count(topic) == 1:
            await core.presence.connected("contact", f"chat:{claims.vid}")
        await visitor.welcome(ws, hello)
        # What only the opening needed is not kept while the socket idles for hours.
        del hello
        forget_handshake(ws)
        self.renewals[conn] = visitor.renew
        await run_loop(ws, conn, p.decode_visitor, settings.max_frame_bytes, visitor.handle)


def _same_site_page(page: str, origin: str) -> str:
    """The page the widget says the visitor is on, kept only when it is on the origin the
    session token is bound to (a tampered widget cannot show the agent another site)."""
    return page if page == origin or page.startswith(origin + "/") else ""
