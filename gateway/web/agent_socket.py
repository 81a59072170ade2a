"""``/ws/agent``: the console's socket.

hello (agent token) → snapshot (Inbox, Assigned to you, unread counts, priorities,
settings), then live updates. Only the gateway's own pages may open it (the Origin is
checked: a third-party page cannot ride an agent's browser). An agent counts as online
while any of their sockets is open; when the last one closes they go offline after a
grace period, so a reload does not withdraw their offers.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.chat.bootstrap import self_origins
from gateway import protocol as p
from gateway.errors import AuthError, Forbidden, GatewayError, NotFound
from gateway.ports.store.base import Agent, Conversation
from gateway.services.engine import Engine
from gateway.web.hub import Connection
from gateway.web.sockets import Closed, close, close_code_for, read_hello, run_loop, send_frame

OFFLINE_GRACE = 15.0


class AgentSession:
    def __init__(self, engine: Engine, agent_id: str, session_id: str, conn: Connection) -> None:
        self.engine = engine
        self.agent_id = agent_id
        self.session_id = session_id
        self.conn = conn

    async def handle(self, frame: Any) -> None:
        engine = self.engine
        agent = engine.agent(self.agent_id)  # fresh: role or queues may have changed
        if isinstance(frame, p.AgentAction):
            await engine.agent_action(agent, frame)
            self.conn.send(p.encode(p.Ok(ref=frame.ref or frame.conversation_id)))
        elif isinstance(frame, p.AgentSend):
            conv = await engine.agent_conversation(agent, frame.conversation_id)
            self.conn.send(
                p.encode(await engine.agent_send(agent, conv, frame.client_msg_id, frame.body))
            )
        elif isinstance(frame, p.SetStatus):
            await engine.dispatcher.set_status(agent.id, frame.status)
            view = engine.dispatcher.router.agent(agent.id)
            await engine.publish(
                f"a:{agent.id}",
                p.StatusOut(
                    status=frame.status, load=view.load_points if view else 0, capacity=100
                ),
            )
            self.conn.send(p.encode(p.Ok(ref=frame.ref or "status")))
        elif isinstance(frame, p.AgentTyping):
            conv = await engine.agent_conversation(agent, frame.conversation_id)
            await engine.agent_typing(agent, conv, frame.active)
        elif isinstance(frame, p.AgentRead):
            conv = await engine.agent_conversation(agent, frame.conversation_id)
            await engine.agent_read(agent, conv, frame.seq)
        elif isinstance(frame, p.AgentHistory):
            conv = await engine.agent_conversation(agent, frame.conversation_id)
            if not self.may_read(agent, conv):
                raise Forbidden("preview of this conversation is not allowed for your role")
            self.conn.send(p.encode(await engine.history(conv, frame.before_seq, frame.limit)))
        else:
            raise GatewayError("hello was already received", code="bad_frame")

    def may_read(self, agent: Agent, conv: Conversation) -> bool:
        """The owner, supervisors and admins read any conversation they see; the agent an
        offer rings reads it; others preview Inbox conversations when the touchpoint
        allows their role."""
        if conv.owner_agent_id == agent.id or agent.role in ("supervisor", "admin"):
            return True
        view = self.engine.dispatcher.router.conversation(conv.id)
        if view is not None and view.offer_agent_id == agent.id:
            return True
        tp = self.engine.directory.touchpoints.get(conv.touchpoint_id)
        return conv.state in ("waiting", "offered") and bool(tp and agent.role in tp.preview_roles)


class AgentSockets:
    """An agent is online while any socket of theirs is open (on any node); offline a
    grace period after this node's last one closes, unless another node holds one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._timers: dict[str, asyncio.Task[None]] = {}

    async def connected(self, agent_id: str) -> None:
        timer = self._timers.pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        view = self.engine.dispatcher.router.agent(agent_id)
        if view is None or view.status == "offline" or self.engine.hub.count(f"a:{agent_id}") == 1:
            await self.engine.dispatcher.agent_online(agent_id)

    def disconnected(self, agent_id: str) -> None:
        if self.engine.hub.count(f"a:{agent_id}") == 0 and agent_id not in self._timers:
            self._timers[agent_id] = asyncio.create_task(self._offline_later(agent_id))

    async def _offline_later(self, agent_id: str) -> None:
        await asyncio.sleep(OFFLINE_GRACE)
        self._timers.pop(agent_id, None)
        if self.engine.hub.count(f"a:{agent_id}") == 0:
            with contextlib.suppress(GatewayError):
                await self.engine.dispatcher.agent_offline(agent_id)


async def agent_endpoint(ws: WebSocket) -> None:
    engine: Engine = ws.app.state.engine
    presence: AgentSockets = ws.app.state.presence
    settings = engine.settings
    origin = ws.headers.get("origin", "")
    await ws.accept()
    conn: Connection | None = None
    agent_id = ""
    try:
        if origin not in self_origins(ws):
            raise Closed(p.CloseCode.POLICY, "the agent socket is for the gateway's console only")
        hello = await read_hello(ws, p.decode_agent, settings.max_frame_bytes)
        claims = engine.tokens.verify_agent(hello.token)
        await engine.check_agent_session(claims)
        agent = engine.agent(claims.sub)
        agent_id = agent.id
        conn = Connection(f"a:{agent.id}", ws.send_text, ws.close, settings.send_queue_size)
        session = AgentSession(engine, agent.id, claims.sid, conn)
        conn.hold()
        await engine.hub.add(conn)
        engine.sessions.setdefault(claims.sid, set()).add(conn)
        await presence.connected(agent.id)
        await send_frame(ws, await engine.snapshot(agent))
        conn.release()
        await run_loop(ws, conn, p.decode_agent, settings.max_frame_bytes, session.handle)
    except Closed as exc:
        await close(ws, exc.code, exc.reason)
    except (AuthError, Forbidden, NotFound) as exc:
        await close(ws, close_code_for(exc), exc.message)
    except GatewayError as exc:
        await close(ws, close_code_for(exc), exc.message)
    except WebSocketDisconnect:
        pass
    finally:
        if conn is not None:
            for conns in engine.sessions.values():
                conns.discard(conn)
            await engine.hub.remove(conn)
            presence.disconnected(agent_id)
            if conn.close_code is not None:
                await close(ws, conn.close_code, "")
