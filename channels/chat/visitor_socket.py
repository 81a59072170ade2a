"""``/ws/visitor``: the widget's socket.

hello (token, resume points) → welcome, a renewed token, then exactly the messages and
events after each resume point, then live frames. The Origin must be the one the token
was issued to, and still allowed for the touchpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.chat.bootstrap import origin_allowed, self_origins
from gateway import protocol as p
from gateway.auth import VisitorClaims
from gateway.errors import AuthError, Conflict, GatewayError, NotFound
from gateway.ports.store.base import Conversation
from gateway.services.engine import LIVE_STATES, Engine
from gateway.services.messages import seq_of
from gateway.web.hub import Connection
from gateway.web.limits import limits_for
from gateway.web.sockets import Closed, close, close_code_for, read_hello, run_loop, send_frame

SHOW_ENDED_FOR = 3600.0  # seconds a finished conversation is still shown on reload


class VisitorSession:
    def __init__(
        self,
        engine: Engine,
        claims: VisitorClaims,
        conn: Connection,
        admit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.claims = claims
        self.conn = conn
        self.current = ""  # id of the open conversation, once known
        self.admit = admit  # the rate limits for a new conversation (gateway/limits.py)

    @property
    def visitor_id(self) -> str:
        return self.claims.vid

    async def conversation(self, conversation_id: str) -> Conversation:
        if conversation_id:
            conv = await self.engine.visitor_conversation(self.visitor_id, conversation_id)
            if conv.touchpoint_id != self.claims.tp:
                raise NotFound("no such conversation")
            return conv
        if self.current:
            # The conversation this socket last used: one read by primary key instead of
            # a search on every message; searched again once it has ended.
            with contextlib.suppress(NotFound):
                conv = await self.engine.store.get_conversation(self.current)
                if conv.state in LIVE_STATES:
                    return conv
            self.current = ""
        conv_or_none = await self.engine.open_conversation(self.visitor_id, self.claims.tp)
        if conv_or_none is not None:
            self.current = conv_or_none.id
        if conv_or_none is None:
            if await self.engine.latest_conversation(self.visitor_id, self.claims.tp):
                raise Conflict(
                    "the conversation has ended; start a new one", code="conversation_ended"
                )
            raise NotFound("start a conversation first", code="no_conversation")
        return conv_or_none

    async def handle(self, frame: Any) -> None:
        engine = self.engine
        if isinstance(frame, p.Send):
            conv = await self.conversation(frame.conversation_id)
            self.conn.send(
                p.encode(
                    await engine.visitor_send(
                        self.visitor_id, conv, frame.client_msg_id, frame.body
                    )
                )
            )
        elif isinstance(frame, p.Start):
            conv, contact = await engine.start_conversation(
                self.visitor_id,
                self.claims.tp,
                frame.fields,
                identity=self.claims.identity,
                admit=self.admit,
            )
            # Every tab of this visitor learns of it.
            await engine.publish(
                f"v:{self.visitor_id}",
                p.Started(conversation_id=conv.id, visitor_name=contact.display_name),
            )
        elif isinstance(frame, p.TypingIn):
            await engine.visitor_typing(
                await self.conversation(frame.conversation_id), frame.active
            )
        elif isinstance(frame, p.Read):
            await engine.visitor_read(await self.conversation(frame.conversation_id), frame.seq)
        elif isinstance(frame, p.History):
            conv = await self.conversation(frame.conversation_id)
            self.conn.send(p.encode(await engine.history(conv, frame.before_seq, frame.limit)))
        else:
            raise GatewayError("hello was already received", code="bad_frame")

    async def welcome(self, ws: WebSocket, hello: p.Hello) -> None:
        """Welcome, renewed token and backlog, sent before any held live frame."""
        engine = self.engine
        contact = await engine.visitor_contact(self.visitor_id)
        conv = await engine.open_conversation(self.visitor_id, self.claims.tp)
        if conv is None:
            # A conversation that ended recently is shown, ended, after a reload; an
            # older one is not (a returning visitor gets a fresh form).
            latest = await engine.latest_conversation(self.visitor_id, self.claims.tp)
            ended = latest.ended_at if latest is not None else None
            if ended is not None and engine.clock() - ended < SHOW_ENDED_FOR:
                conv = latest
        info = None
        if conv is not None:
            info = p.ConversationInfo(
                conversation_id=conv.id,
                state=conv.state,
                last_seq=conv.last_seq,
                unread=conv.visitor_unread,
                agent_name=engine.directory.agent_name(conv.owner_agent_id),
            )
        await send_frame(
            ws,
            p.Welcome(
                v=p.VERSION,
                visitor_id=self.visitor_id,
                visitor_name=contact.display_name if contact else "",
                conversation=info,
            ),
        )
        await self.renew(ws)
        sent: dict[str, int] = {}
        for point in hello.resume[:10]:
            try:
                rconv = await engine.visitor_conversation(self.visitor_id, point.conversation_id)
            except NotFound:
                continue
            for frame in await engine.backlog(rconv, point.last_seq):
                await send_frame(ws, frame)
                sent[rconv.id] = frame.seq
            if rconv.visitor_unread:
                await send_frame(ws, p.Unread(conversation_id=rconv.id, count=rconv.visitor_unread))

        def newer(data: bytes) -> bool:
            key = seq_of(data)
            return key is None or key[1] > sent.get(key[0], -1)

        self.conn.release(newer)

    async def renew(self, ws: WebSocket | None = None) -> None:
        c = self.claims
        token, claims = self.engine.tokens.issue_visitor(
            touchpoint_id=c.tp,
            origin=c.org,
            page_origin=c.page,
            visitor_id=c.vid,
            now=self.engine.clock(),
            first_seen=c.first,
            identity=c.identity,
            bound=c.who,
        )
        frame = p.TokenRenewed(token=token, expires_at=claims.exp)
        if ws is not None:
            await send_frame(ws, frame)
        else:
            self.conn.send(p.encode(frame))


async def visitor_endpoint(ws: WebSocket) -> None:
    engine: Engine = ws.app.state.engine
    settings = engine.settings
    origin = ws.headers.get("origin", "")
    await ws.accept()
    conn: Connection | None = None
    try:
        hello = await read_hello(ws, p.decode_visitor, settings.max_frame_bytes)
        claims = engine.tokens.verify_visitor(hello.token)
        if origin != claims.org:
            raise Closed(p.CloseCode.FORBIDDEN, "this token was issued to another origin")
        tp = engine.directory.touchpoints.get(claims.tp)
        if tp is None or not tp.active:
            raise Closed(p.CloseCode.FORBIDDEN, "this touchpoint does not accept chats")
        if tp.require_identity and claims.identity is None:
            raise Closed(p.CloseCode.FORBIDDEN, "this chat is for signed-in visitors only")
        allowed = origin_allowed(tp.domain, origin, self_origins(ws))
        if not allowed.matched:
            raise Closed(p.CloseCode.POLICY, allowed.reason)
        conn = Connection(f"v:{claims.vid}", ws.send_text, ws.close, settings.send_queue_size)
        conn.touchpoint_id = claims.tp
        limits = limits_for(ws)
        ip = limits.ip(ws)

        async def admit() -> None:
            await limits.admit_conversation(ip, claims.tp)

        session = VisitorSession(engine, claims, conn, admit)
        conn.hold()
        await engine.hub.add(conn)
        if engine.hub.count(conn.topic) == 1:
            await engine.presence.connected("visitor", claims.vid)
        await session.welcome(ws, hello)
        engine.renewals[conn] = session.renew
        await run_loop(ws, conn, p.decode_visitor, settings.max_frame_bytes, session.handle)
    except Closed as exc:
        await close(ws, exc.code, exc.reason)
    except AuthError as exc:
        await close(ws, close_code_for(exc), exc.message)
    except GatewayError as exc:
        await close(ws, close_code_for(exc), exc.message)
    except WebSocketDisconnect:
        pass
    finally:
        if conn is not None:
            engine.renewals.pop(conn, None)
            await engine.hub.remove(conn)
            if engine.hub.count(conn.topic) == 0:
                with contextlib.suppress(Exception):
                    await engine.presence.disconnected("visitor", conn.topic[2:])
            if conn.close_code is not None:
                await close(ws, conn.close_code, "")
