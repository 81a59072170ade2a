"""``/ws/agent``: the console's socket.

hello (agent token) → snapshot (Inbox, Assigned to you, unread counts, priorities,
settings), then live updates. Only the gateway's own pages may open it (the Origin is
checked: a third-party page cannot ride an agent's browser). An agent counts as online
while any of their sockets is open; when the last one closes they go offline after a
grace period, so a reload does not withdraw their offers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket

from gateway import protocol as p
from gateway import topics
from gateway.errors import Conflict, GatewayError, NotFound, OriginRefused, TokenExpired
from gateway.web.context import Web, web_of
from gateway.web.errors import close_reason
from gateway.web.hub import Connection
from gateway.web.origins import self_origins
from gateway.web.sockets import (
    Opened,
    close,
    connection,
    guarded,
    read_hello,
    run_loop,
    send_frame,
)

MAX_MONITORS = 20  # conversations one console socket may monitor at once


class AgentSession:
    """One console socket's requests."""

    def __init__(self, web: Web, agent_id: str, conn: Connection, ws: WebSocket) -> None:
        self.web = web
        self.agent_id = agent_id
        self.conn = conn
        self.ws = ws
        # conversation id -> this socket's subscription to its messages (monitoring)
        self.monitors: dict[str, Connection] = {}

    async def close(self) -> None:
        for watch in self.monitors.values():
            await self.web.hub.remove(watch)
        self.monitors.clear()

    async def monitor(self, conversation_id: str, on: bool) -> None:
        web = self.web
        agent = web.agents.agent(self.agent_id)
        if not on:
            watch = self.monitors.pop(conversation_id, None)
            if watch is not None:
                await web.hub.remove(watch)
            return
        conv = await web.desk.conversation(agent, conversation_id)
        web.workspace.access.check_monitors(agent, conv)
        if conversation_id in self.monitors:
            return
        if len(self.monitors) >= MAX_MONITORS:
            await self._drop_closed()
        if len(self.monitors) >= MAX_MONITORS:
            # a code of its own (docs/protocol.md): "conflict" is the admin API's
            raise Conflict(
                f"monitor at most {MAX_MONITORS} conversations at once: stop one first",
                code="too_many_monitors",
            )
        watch = connection(self.ws, topics.watch(conversation_id), web.settings)
        self.monitors[conversation_id] = watch
        await web.hub.add(watch)

    async def _drop_closed(self) -> None:
        """Drop the monitors of conversations closed (or deleted) since: nothing is
        posted to them any more, and a console that missed their close must not be
        kept from monitoring open ones. Read only at the limit, never per message."""
        for conversation_id in list(self.monitors):
            try:
                conv = await self.web.store.get_conversation(conversation_id)
            except NotFound:
                conv = None
            if conv is None or conv.state == "closed":
                await self.web.hub.remove(self.monitors.pop(conversation_id))

    async def handle(self, frame: Any) -> None:
        web = self.web
        desk = web.desk
        agent = web.agents.agent(self.agent_id)  # fresh: role or queues may have changed
        if isinstance(frame, p.AgentAction):
            await web.act(agent, frame)
            self.conn.send(p.encode(p.Ok(ref=frame.ref or frame.conversation_id)))
        elif isinstance(frame, p.AddNote):
            conv = await desk.readable(agent, frame.conversation_id)
            await web.workspace.notes.add(agent, conv, frame.body)
            self.conn.send(p.encode(p.Ok(ref=frame.ref or frame.conversation_id)))
        elif isinstance(frame, p.WatchLive):
            web.workspace.access.check_watches_live(agent)
            if frame.on:
                self.conn.send(p.encode(await web.workspace.live.snapshot(web.clock())))
        elif isinstance(frame, p.Monitor):
            await self.monitor(frame.conversation_id, frame.on)
            self.conn.send(p.encode(p.Ok(ref=f"monitor:{frame.conversation_id}")))
        elif isinstance(frame, p.AgentSend):
            ack = await desk.send_recent(
                agent,
                frame.conversation_id,
                frame.client_msg_id,
                frame.body,
                attachments=frame.attachments,
                skip=self.conn.ref,
            )
            self.conn.send(p.encode(ack))
        elif isinstance(frame, p.Links):
            self.conn.send(p.encode(await desk.links(agent, frame)))
        elif isinstance(frame, p.SetStatus):
            await web.agents.set_status(agent.id, frame.status)
            self.conn.send(p.encode(p.Ok(ref=frame.ref or "status")))
        elif isinstance(frame, p.AgentTyping):
            await desk.typing(
                agent, await desk.conversation(agent, frame.conversation_id), frame.active
            )
        elif isinstance(frame, p.AgentRead):
            await desk.read(agent, await desk.conversation(agent, frame.conversation_id), frame.seq)
        elif isinstance(frame, p.AgentHistory):
            conv = await desk.readable(agent, frame.conversation_id)
            history = await web.conversations.history(
                conv, frame.before_seq, frame.limit, context=True
            )
            self.conn.send(p.encode(history))
        else:
            raise GatewayError("hello was already received", code="bad_frame")


def send_lane(frame: Any) -> str | None:
    """An agent's messages to different conversations go on together, each
    conversation's in order (gateway/web/lanes.py); any other frame alone."""
    return frame.conversation_id if isinstance(frame, p.AgentSend) else None


async def agent_endpoint(ws: WebSocket) -> None:
    web = web_of(ws)
    origin = ws.headers.get("origin", "")
    await ws.accept()
    opened = Opened()
    try:
        await guarded(ws, _session(ws, web, origin, opened))
    finally:
        conn = opened.conn
        if conn is not None:
            await web.hub.remove(conn)
            web.agent_sockets.disconnected(opened.peer_id, conn)
            if conn.close_code is not None:
                await close(ws, conn.close_code, conn.close_reason)


async def _session(ws: WebSocket, web: Web, origin: str, opened: Opened) -> None:
    """One console socket's session, from its hello; what its end cleans up, in
    ``opened`` (a function, not a closure: gateway/web/sockets.py, ``Opened``)."""
    if origin not in self_origins(ws):
        raise OriginRefused("the agent socket is for the gateway's console only")
    hello = await read_hello(ws, p.decode_agent, web.settings.max_frame_bytes)
    claims, agent = await web.agents.authenticate(hello.token)
    opened.peer_id = agent.id
    conn = opened.conn = connection(ws, topics.agent(agent.id), web.settings)
    conn.hold()
    await web.hub.add(conn)
    # The console draws what is there first; only then does the agent come online
    # (offers ring after the snapshot, never before the console has drawn).
    await send_frame(ws, await web.agents.snapshot(agent))
    conn.release()
    await web.agent_sockets.connected(agent.id, claims.sid, conn)
    # The login ends when its token does, open socket or not (the console then asks to
    # log in again): a socket kept open must not outlive it.
    expired = close_reason(TokenExpired("your login has expired: log in again"))
    expiry = asyncio.get_running_loop().call_later(
        max(0.0, claims.exp - web.clock()), conn.abort, *expired
    )
    handler = AgentSession(web, agent.id, conn, ws)
    try:
        await run_loop(
            ws, conn, p.decode_agent, web.settings.max_frame_bytes, handler.handle, send_lane
        )
    finally:
        expiry.cancel()
        await handler.close()
