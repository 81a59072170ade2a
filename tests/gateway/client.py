"""Clients of a gateway, a real process or the app in-process: each talks to its
``devkit.endpoint.Endpoint`` (HTTP with httpx, WebSockets with websockets' client or the
in-process harness's link that behaves alike)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from devkit.endpoint import Endpoint, WebSocketLink

TIMEOUT = 10.0


class Socket:
    """A WebSocket that reads JSON frames, with helpers to wait for a frame type."""

    def __init__(self, ws: WebSocketLink) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        if self._pending:
            return self._pending.pop(0)
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        self.seen.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The next frame of this type (and matching fields); others are kept for later."""
        return await self.expect_any((type_,), timeout, **match)

    async def expect_any(
        self, types: tuple[str, ...], timeout: float = TIMEOUT, **match: Any
    ) -> dict[str, Any]:
        type_ = "|".join(types)
        skipped: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError(f"no {type_} {match} frame; got {skipped}")
                frame = await self.recv(left)
                if frame.get("type") in types and all(frame.get(k) == v for k, v in match.items()):
                    return frame
                skipped.append(frame)
        finally:
            self._pending = skipped + self._pending

    async def expect_close(self, timeout: float = TIMEOUT) -> int:
        """Read until the server closes; the close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else 1006

    def drain(self) -> list[dict[str, Any]]:
        out, self._pending = self._pending, []
        return out

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Visitor:
    node: Endpoint
    touchpoint_id: str
    page_url: str
    origin: str
    token: str = ""
    visitor_id: str = ""
    last_seq: dict[str, int] = field(default_factory=dict)
    sock: Socket | None = None

    async def bootstrap(self) -> dict[str, Any]:
        async with self.node.http() as http:
            r = await http.post(
                "/widget/bootstrap",
                json={
                    "touchpoint_id": self.touchpoint_id,
                    "page_url": self.page_url,
                    "visitor_token": self.token,
                },
                headers={"Origin": self.origin},
            )
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        self.token, self.visitor_id = body["token"], body["visitor_id"]
        return body

    async def connect(self, *, resume: bool = True) -> dict[str, Any]:
        self.sock = Socket(await self.node.websocket("/ws/visitor", origin=self.origin))
        hello: dict[str, Any] = {"type": "hello", "v": 1, "token": self.token}
        if resume and self.last_seq:
            hello["resume"] = [
                {"conversation_id": c, "last_seq": s} for c, s in self.last_seq.items()
            ]
        await self.sock.send(hello)
        welcome = await self.sock.expect("welcome")
        renewed = await self.sock.expect("token")
        self.token = renewed["token"]
        return welcome

    async def start(self, first: str | None = "Hello", **fields: str) -> str:
        """Start a conversation with the form's ``fields`` and a ``first`` message (which
        routes it; None: a start without one, as protocol 1's first clients sent)."""
        assert self.sock
        frame: dict[str, Any] = {"type": "start", "fields": fields, "page": self.page_url}
        cid = uuid.uuid4().hex
        if first is not None:
            frame.update(message=first, client_msg_id=cid)
        await self.sock.send(frame)
        started = await self.sock.expect("started")
        if first is not None:
            ack = await self.sock.expect("ack", client_msg_id=cid)
            self.note({**ack, "type": "message"})
        return str(started["conversation_id"])

    async def say(self, body: str, client_msg_id: str | None = None) -> dict[str, Any]:
        assert self.sock
        cid = client_msg_id or uuid.uuid4().hex
        await self.sock.send({"type": "send", "body": body, "client_msg_id": cid})
        ack = await self.sock.expect("ack", client_msg_id=cid)
        self.note({**ack, "type": "message"})
        return ack

    def note(self, frame: dict[str, Any]) -> None:
        if frame.get("type") in ("message", "event"):
            c = frame["conversation_id"]
            self.last_seq[c] = max(self.last_seq.get(c, 0), frame["seq"])


@dataclass
class AgentClient:
    node: Endpoint
    email: str
    password: str
    token: str = ""
    sock: Socket | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # the console's origin; the node's own when empty

    async def login(self) -> dict[str, Any]:
        async with self.node.http() as http:
            r = await http.post(
                "/api/login",
                json={"email": self.email, "password": self.password},
            )
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        self.token = body["token"]
        return body

    async def connect(self) -> dict[str, Any]:
        origin = self.origin or self.node.base_url
        self.sock = Socket(await self.node.websocket("/ws/agent", origin=origin))
        await self.sock.send({"type": "hello", "v": 1, "token": self.token})
        self.snapshot = await self.sock.expect("snapshot")
        return self.snapshot

    async def act(self, type_: str, conversation_id: str, **fields: Any) -> dict[str, Any]:
        """Send an action and return its ok or error frame."""
        assert self.sock
        ref = uuid.uuid4().hex[:12]
        await self.sock.send(
            {"type": type_, "conversation_id": conversation_id, "ref": ref, **fields}
        )
        return await self.sock.expect_any(("ok", "error"), ref=ref)

    async def say(self, conversation_id: str, body: str) -> dict[str, Any]:
        assert self.sock
        cid = uuid.uuid4().hex
        await self.sock.send(
            {"type": "send", "conversation_id": conversation_id, "body": body, "client_msg_id": cid}
        )
        return await self.sock.expect("ack", client_msg_id=cid)


async def accepted_chat(agent: AgentClient, visitor: Visitor, **fields: str) -> str:
    """Log the agent in, let the visitor start a conversation, and have the agent
    accept the offer it gets; the conversation id."""
    await agent.login()
    await agent.connect()
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(**fields)
    assert agent.sock
    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == cid
    accepted = await agent.act("accept", cid)
    assert accepted["type"] == "ok", accepted
    return cid
