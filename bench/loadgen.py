"""Load generators: client fleets in separate processes, and the controller that drives them.

``python -m bench.loadgen [--cpu N]`` is one generator: an asyncio (uvloop) process that
holds a fleet of WebSocket clients and obeys JSON commands, one a line on stdin, each
answered by one JSON line on stdout. :class:`Fleet` starts N of them and drives them
together (pinned to a core with ``os.sched_setaffinity`` where that helps).

The clients are deliberately thin (a WebSocket client on a bare ``asyncio.Protocol``,
no library) so that a generator costs far less CPU than the servers it loads. They
mask their frames with a zero key: legal (RFC 6455 only asks for an unpredictable key
to protect proxies; the server unmasks every frame all the same) and it saves the
client an XOR pass. Each client speaks one system's protocol:

* ``gateway``: the gateway's own frames (docs/protocol.md): visitors bootstrap over
  HTTP, say hello and start a conversation, which the router assigns to an agent;
  agents log in and say hello.
* ``ws``: the bare ``websockets`` peer (bench/peers/ws_server.py): ``J room,room`` joins,
  ``M room|body`` is relayed to the room's other members; ``ws-sqlite``
  (bench/peers/ws_sqlite_server.py) speaks the same, and acknowledges each message too.
* ``sio``: Socket.IO over the Engine.IO 4 WebSocket transport (bench/peers/sio_server.py):
  a ``join`` event with an acknowledgement, ``m`` events ``[room, body]``.
* ``channels``: JSON frames to the Django Channels consumer (bench/peers/channels_site).

Relay measurement: every message body is 100 bytes and starts with the step number and
the time it was *scheduled* to leave (``time.monotonic()``, one clock for all processes
of the machine). The generator sends open-loop (on schedule, whether or not the server
keeps up), and whichever generator receives the message on the other side records
``receive time - scheduled time``: queueing in the generator or the server counts. It
wakes at most once every ``SEND_TICK_S`` and sends every message due by then: a timer
and a turn of the event loop for each message cost a generator about as much CPU as the
message cost a gateway node, which on a machine the generators share with the servers
(the contact-center workload) was taken from the servers. A message held to the tick
leaves up to that much after its scheduled time, and the wait counts against the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import msgspec

ROOT = Path(__file__).resolve().parent.parent
BODY_BYTES = 100
# Systems whose clients speak another system's protocol.
SAME_PROTOCOL = {"ws-sqlite": "ws"}
SEND_TICK_S = 0.001  # docs/benchmarks-contact-center.md, "The generators' tick"


# -- a thin WebSocket client ---------------------------------------------------------


def time_ordered_id(ms: int | None = None, rng: random.Random | None = None) -> str:
    """A client message id as the widget and the console make them: a UUIDv7 (its
    first 48 bits the time in milliseconds, now unless ``ms``, RFC 9562), so ids sort by
    when they were made (the store's idempotency index is keyed by them first,
    docs/store.md). Its random bits from ``rng`` when given (a repeatable test)."""
    bits = (rng or random).getrandbits
    value = (
        (time.time_ns() // 1_000_000 if ms is None else ms) << 80
        | 0x7 << 76
        | bits(12) << 64
        | 0b10 << 62
        | bits(62)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class HandshakeFailed(ConnectionError):
    pass


class Conn(asyncio.Protocol):
    """One client WebSocket. Text frames go to ``on_frame`` when set, else to a queue
    that the set-up code reads with :meth:`recv`."""

    def __init__(self, host: str, path: str, origin: str) -> None:
        self.host = host
        self.path = path
        self.origin = origin
        self.transport: asyncio.WriteTransport | None = None
        self.buf = bytearray()
        self.open = False
        self.closed = False
        self.close_code: int | None = None
        self.pings = 0  # the server's pings answered
        self.on_frame: Callable[[Conn, bytes], None] | None = None
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fragments: list[bytes] = []
        self.tag: Any = None  # the fleet's own record of what this socket is

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        path: str,
        origin: str,
        local_addr: tuple[str, int] | None = None,
        timeout: float = 30.0,
    ) -> Conn:
        loop = asyncio.get_running_loop()
        conn = cls(f"{host}:{port}", path, origin)
        await loop.create_connection(lambda: conn, host, port, local_addr=local_addr)
        async with asyncio.timeout(timeout):
            await conn.ready
        return conn

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport subclasses
        self.transport = cast(asyncio.WriteTransport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {self.origin}\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(HandshakeFailed(f"connection lost: {exc}"))
        self.inbox.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(HandshakeFailed(head.split(b"\r\n", 1)[0].decode()))
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            self.ready.set_result(None)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, hdr = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, hdr = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, hdr = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < hdr + length:
                break
            payload = bytes(buf[pos + hdr : pos + hdr + length])
            pos += hdr + length
            self._frame(b0, payload)
        del buf[:pos]

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode in (1, 2, 0):
            if not b0 & 0x80:  # a fragment: keep until the final one
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                self._fragments = []
            if self.on_frame is not None:
                self.on_frame(self, payload)
            else:
                self.inbox.put_nowait(payload)
        elif opcode == 9:  # ping: pong with the same payload
            self.pings += 1
            self._write(0x8A, payload)
        elif opcode == 8:  # close: echo it and let the server close the TCP side
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._write(0x88, payload[:2])
            self.closed = True
            self.inbox.put_nowait(None)

    def _write(self, b0: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            head = bytes((b0, 0x80 | n))
        elif n < 65536:
            head = bytes((b0, 0xFE)) + n.to_bytes(2, "big")
        else:
            head = bytes((b0, 0xFF)) + n.to_bytes(8, "big")
        self.transport.write(head + b"\0\0\0\0" + payload)

    def send(self, text: str | bytes) -> None:
        self._write(0x81, text.encode() if isinstance(text, str) else text)

    async def recv(self, timeout: float = 30.0) -> bytes:
        async with asyncio.timeout(timeout):
            item = await self.inbox.get()
        if item is None:
            self.inbox.put_nowait(None)
            raise ConnectionError(f"closed with {self.close_code}")
        return item

    async def expect(self, match: Callable[[bytes], bool], timeout: float = 30.0) -> bytes:
        """The next frame ``match`` accepts; a gateway ``error`` frame raises."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if match(frame):
                return frame
            if frame.startswith(b'{"type":"error"'):
                raise RuntimeError(f"error frame: {frame[:300]!r}")

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._write(0x88, (1000).to_bytes(2, "big"))
            self.transport.close()


# -- HTTP, just enough for the gateway's bootstrap and login -------------------------


async def http_post_json(
    host: str, port: int, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    data = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n{extra}\r\n"
            ).encode()
            + data
        )
        async with asyncio.timeout(30):
            raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        payload = _unchunk(payload)
    if status != 200:
        raise RuntimeError(f"POST {path}: HTTP {status}: {payload[:300]!r}")
    result: dict[str, Any] = json.loads(payload)
    return result


def _unchunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        line_end = data.index(b"\r\n", pos)
        size = int(data[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2


# -- frames of the gateway that the fleet reads --------------------------------------


class _Summary(msgspec.Struct):
    conversation_id: str = ""
    place: str = ""


class _GwFrame(msgspec.Struct):
    type: str = ""
    sender: str = ""
    body: str = ""
    conversation_id: str = ""
    conversation: _Summary | None = None
    assigned: list[_Summary] = []
    code: str = ""


_gw_decode = msgspec.json.Decoder(_GwFrame).decode


# -- the fleet inside one generator --------------------------------------------------


@dataclass
class Sender:
    """Who sends on a schedule: a socket, and the room or conversation it sends into."""

    conn: Conn
    side: str  # "v" (visitor) or "a" (agent)
    target: str


@dataclass
class Generator:
    index: int = 0
    system: str = ""
    visitors: list[Conn] = field(default_factory=list)
    agents: list[Conn] = field(default_factory=list)
    idle: list[Conn] = field(default_factory=list)
    # gateway: the conversations each local agent holds; peers: rooms per socket
    held: dict[str, Conn] = field(default_factory=dict)
    visitor_conv: dict[int, str] = field(default_factory=dict)  # id(conn) -> conversation
    peer_rooms: dict[int, list[str]] = field(default_factory=dict)
    latencies: dict[int, list[float]] = field(default_factory=dict)
    to_agent: dict[int, list[float]] = field(default_factory=dict)  # visitor -> agent only
    errors: dict[str, int] = field(default_factory=dict)

    # -- receiving -------------------------------------------------------------------
    def record(self, body: str | bytes, to_agent: bool) -> None:
        """A message reached the other side: note its latency under its step."""
        now = time.monotonic()
        head = body[:24]
        if isinstance(head, bytes):
            head = head.decode()
        step_s, _, rest = head.partition(":")
        if not step_s.isdigit():
            return  # not a measured message (the visitor's first one, an automatic reply)
        step = int(step_s)
        lst = self.latencies.get(step)
        if lst is not None:
            latency = now - float(rest.split(" ", 1)[0])
            lst.append(latency)
            if to_agent:
                self.to_agent[step].append(latency)

    def on_gateway(self, conn: Conn, data: bytes) -> None:
        try:
            frame = _gw_decode(data)
        except msgspec.DecodeError:
            self.count("undecodable")
            return
        t = frame.type
        if t == "message":
            # A sender's other tabs get its messages too (its own socket only the ack):
            # only the other side's count.
            if frame.sender != ("visitor" if conn.tag == "v" else "agent"):
                self.record(frame.body, conn.tag == "a")
        elif t == "conversation" and conn.tag == "a" and frame.conversation is not None:
            c = frame.conversation
            if c.place == "assigned":
                self.held[c.conversation_id] = conn
            elif c.place in ("gone", "wrapup") and self.held.get(c.conversation_id) is conn:
                del self.held[c.conversation_id]  # "gone" also tells other agents' Inboxes
        elif t == "offer" and conn.tag == "a" and frame.conversation is not None:
            cid = frame.conversation.conversation_id
            conn.send(f'{{"type":"accept","conversation_id":"{cid}","ref":"{cid}"}}')
        elif t == "error":
            self.count(f"error:{frame.code}")

    def on_ws(self, conn: Conn, data: bytes) -> None:
        if data[:1] == b"M":
            self.record(data.split(b"|", 1)[1], conn.tag == "a")

    def on_sio(self, conn: Conn, data: bytes) -> None:
        if data[:2] == b"42":
            self.record(json.loads(data[2:])[1][1], conn.tag == "a")
        elif data == b"2":
            conn.send(b"3")

    def on_channels(self, conn: Conn, data: bytes) -> None:
        if data[:8] == b'{"room":':
            self.record(json.loads(data)["body"], conn.tag == "a")

    def count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    # -- gateway set-up ----------------------------------------------------------------
    async def gateway_agents(self, p: dict[str, Any]) -> dict[str, Any]:
        async def one(email: str, password: str, node: list[Any]) -> None:
            host, port = node[0], int(node[1])
            login = await http_post_json(
                host, port, "/api/login", {"email": email, "password": password}
            )
            conn = await Conn.connect(host, port, "/ws/agent", f"http://{host}:{port}")
            conn.tag = "a"
            conn.send(json.dumps({"type": "hello", "v": 1, "token": login["token"]}))
            snap = _gw_decode(await conn.expect(lambda f: f.startswith(b'{"type":"snapshot"')))
            for row in snap.assigned:
                self.held[row.conversation_id] = conn
            while not conn.inbox.empty():  # frames that came with the snapshot
                item = conn.inbox.get_nowait()
                if item is not None:
                    self.on_gateway(conn, item)
            conn.on_frame = self.on_gateway
            self.agents.append(conn)

        sem = asyncio.Semaphore(int(p.get("concurrency", 8)))

        async def bounded(a: list[Any]) -> None:
            async with sem:
                await one(a[0], a[1], a[2])

        await asyncio.gather(*(bounded(a) for a in p["agents"]))
        return {"agents": len(self.agents)}

    async def gateway_visitors(self, p: dict[str, Any]) -> dict[str, Any]:
        tp, page, origin = p["touchpoint_id"], p["page_url"], p["origin"]

        async def one(i: int, node: list[Any]) -> None:
            host, port = node[0], int(node[1])
            boot = await http_post_json(
                host,
                port,
                "/widget/bootstrap",
                {"touchpoint_id": tp, "page_url": page},
                {"Origin": origin},
            )
            conn = await Conn.connect(host, port, "/ws/visitor", origin)
            conn.tag = "v"
            conn.send(json.dumps({"type": "hello", "v": 1, "token": boot["token"]}))
            await conn.expect(lambda f: f.startswith(b'{"type":"welcome"'))
            # The first message comes with the start (it routes the conversation).
            start = json.dumps(
                {
                    "type": "start",
                    "fields": {"name": f"V{self.index}-{i}"},
                    "message": "Hello",
                    "client_msg_id": f"first-{self.index}-{i}",
                }
            )
            # The first message is acknowledged once the conversation is routed, as a
            # visitor sees it: this client waits for that too, so that the set-up's
            # starts reach the router no faster than it routes them (it once had up to
            # 2,000 waiting there, each answered after its node stopped waiting).
            mine = f'"first-{self.index}-{i}"'.encode()

            def answer(f: bytes) -> bool:
                return mine in f and f.startswith((b'{"type":"ack"', b'{"type":"error"'))

            for attempt in range(6):
                conn.send(start)
                frame = await conn.expect(
                    lambda f: f.startswith((b'{"type":"started"', b'{"type":"error"')) or answer(f)
                )
                started = _gw_decode(frame)
                if started.type != "error":
                    # started, then the first message's answer, in either order
                    first = frame
                    if started.type == "started":
                        first = await conn.expect(answer)
                    else:
                        started = _gw_decode(
                            await conn.expect(lambda f: f.startswith(b'{"type":"started"'))
                        )
                    if first.startswith(b'{"type":"error"'):
                        self.count(f"first_message_refused:{_gw_decode(first).code}")
                    break
                # A retryable refusal (a cluster's router leader busy or changing hands):
                # a widget tries again after a pause, and so does this client.
                self.count(f"start_retried:{started.code}")
                if b'"retryable":true' not in frame or attempt == 5:
                    raise RuntimeError(f"start refused: {frame[:300]!r}")
                await asyncio.sleep(0.2 * 2**attempt)
            self.visitor_conv[id(conn)] = started.conversation_id
            conn.on_frame = self.on_gateway
            self.visitors.append(conn)

        sem = asyncio.Semaphore(int(p.get("concurrency", 16)))
        failures: list[str] = []

        async def bounded(i: int, node: list[Any]) -> None:
            async with sem:
                try:
                    await one(i, node)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(bounded(i, node) for i, node in p["visitors"]))
        return {"visitors": len(self.visitors), "failures": failures[:5], "failed": len(failures)}

    def gateway_senders(self) -> list[Sender]:
        out: list[Sender] = []
        vs = [Sender(c, "v", self.visitor_conv[id(c)]) for c in self.visitors if not c.closed]
        held = sorted(self.held.items())
        ag = [Sender(c, "a", cid) for cid, c in held if not c.closed]
        # Alternate the two directions: a visitor speaks, an agent replies.
        for i in range(max(len(vs), len(ag))):
            if i < len(vs):
                out.append(vs[i])
            if i < len(ag):
                out.append(ag[i])
        return out

    # -- peers' set-up -----------------------------------------------------------------
    async def peer_clients(self, p: dict[str, Any]) -> dict[str, Any]:
        """Open the visitor and agent sockets of a peer and join their rooms.

        ``p["clients"]``: ``[side, [host, port], [room, ...]]`` for each socket."""
        system = self.system
        handler = {"ws": self.on_ws, "sio": self.on_sio, "channels": self.on_channels}[system]

        async def one(side: str, node: list[Any], rooms: list[str]) -> None:
            host, port = node[0], int(node[1])
            origin = f"http://{host}:{port}"
            if system == "ws":
                conn = await Conn.connect(host, port, "/", origin)
                conn.send("J " + ",".join(rooms))
                await conn.expect(lambda f: f.startswith(b"joined"))
            elif system == "sio":
                conn = await Conn.connect(
                    host, port, "/socket.io/?EIO=4&transport=websocket", origin
                )
                await conn.expect(lambda f: f.startswith(b"0"))
                conn.send("40")
                await conn.expect(lambda f: f.startswith(b"40"))
                conn.send("421" + json.dumps(["join", rooms]))
                await conn.expect(lambda f: f.startswith(b"431"))
            else:
                conn = await Conn.connect(host, port, "/ws/relay/", origin)
                conn.send(json.dumps({"join": rooms}))
                await conn.expect(lambda f: f.startswith(b'{"joined"'))
            conn.tag = side
            conn.on_frame = handler
            self.peer_rooms[id(conn)] = rooms
            (self.visitors if side == "v" else self.agents).append(conn)

        sem = asyncio.Semaphore(int(p.get("concurrency", 32)))

        async def bounded(c: list[Any]) -> None:
            async with sem:
                await one(c[0], c[1], c[2])

        await asyncio.gather(*(bounded(c) for c in p["clients"]))
        return {"visitors": len(self.visitors), "agents": len(self.agents)}

    def peer_senders(self) -> list[Sender]:
        vs = [Sender(c, "v", r) for c in self.visitors for r in self.peer_rooms[id(c)]]
        ag = [Sender(c, "a", r) for c in self.agents for r in self.peer_rooms[id(c)]]
        ag.sort(key=lambda s: s.target)
        out: list[Sender] = []
        for i in range(max(len(vs), len(ag))):
            if i < len(vs):
                out.append(vs[i])
            if i < len(ag):
                out.append(ag[i])
        return out

    # -- relay steps -------------------------------------------------------------------
    def frame(self, s: Sender, body: str) -> str:
        system = self.system
        if system == "gateway":
            mid = time_ordered_id()
            if s.side == "v":
                return f'{{"type":"send","body":"{body}","client_msg_id":"{mid}"}}'
            return (
                f'{{"type":"send","conversation_id":"{s.target}","body":"{body}",'
                f'"client_msg_id":"{mid}"}}'
            )
        if system == "ws":
            return f"M{s.target}|{body}"
        if system == "sio":
            return f'42["m",["{s.target}","{body}"]]'
        return f'{{"room":"{s.target}","body":"{body}"}}'

    async def step(self, p: dict[str, Any]) -> dict[str, Any]:
        """Send ``rate`` messages a second for ``duration`` s, then wait ``drain`` s."""
        step_no, rate, duration = int(p["step"]), float(p["rate"]), float(p["duration"])
        senders = self.gateway_senders() if self.system == "gateway" else self.peer_senders()
        self.latencies[step_no] = []
        self.to_agent[step_no] = []
        start = float(p.get("start_at", time.monotonic()))
        total = int(rate * duration)
        k = 0
        pad = "x" * BODY_BYTES
        while k < total:
            await asyncio.sleep(max(SEND_TICK_S, start + k / rate - time.monotonic()))
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while k < due:
                s = senders[k % len(senders)]
                head = f"{step_no}:{start + k / rate:.6f} "
                s.conn.send(self.frame(s, head + pad[len(head) :]))
                k += 1
        late = time.monotonic() - (start + duration)
        await asyncio.sleep(max(0.0, start + duration + float(p["drain"]) - time.monotonic()))
        lat = self.latencies.pop(step_no)
        to_agent = self.to_agent.pop(step_no)
        return {
            "sent": total,
            "sent_by_visitors": sum(
                1 for i in range(total) if senders[i % len(senders)].side == "v"
            ),
            "received": len(lat),
            "latencies_ms": [round(x * 1000, 3) for x in lat],
            "to_agent_latencies_ms": [round(x * 1000, 3) for x in to_agent],
            "senders": len(senders),
            "send_lag_s": round(late, 3),
            "closed": sum(c.closed for c in (*self.visitors, *self.agents)),
            "errors": dict(self.errors),
        }

    def status(self, p: dict[str, Any]) -> dict[str, Any]:
        codes: dict[str, int] = {}
        for c in (*self.visitors, *self.agents, *self.idle):
            if c.closed:
                key = str(c.close_code)
                codes[key] = codes.get(key, 0) + 1
        return {
            "held": len(self.held),
            "visitors": len(self.visitors),
            "agents": len(self.agents),
            "idle": len(self.idle) - sum(c.closed for c in self.idle),
            "idle_pings": sum(c.pings for c in self.idle),
            "closed": codes,
            "errors": dict(self.errors),
        }

    # -- idle connections --------------------------------------------------------------
    async def idle_open(self, p: dict[str, Any]) -> dict[str, Any]:
        """Open visitor sockets (hello, welcome) up to ``target`` in this generator."""
        host, port = p["node"][0], int(p["node"][1])
        origin, target = p["origin"], int(p["target"])
        local = (p["local_ip"], 0) if p.get("local_ip") else None
        if p["system"] == "gateway":
            from gateway.auth import Tokens

            tokens = Tokens(p["secret"].encode(), visitor_ttl=3600, agent_ttl=3600)
        failures: list[str] = []

        async def one(i: int) -> None:
            if p["system"] == "gateway":
                token, _ = tokens.issue_visitor(
                    touchpoint_id=p["touchpoint_id"],
                    origin=origin,
                    page_origin=origin,
                    visitor_id=f"vi_idle{self.index}x{i}",
                    now=time.time(),
                )
                conn = await Conn.connect(host, port, "/ws/visitor", origin, local)
                conn.send(json.dumps({"type": "hello", "v": 1, "token": token}))
                await conn.expect(lambda f: f.startswith(b'{"type":"token"'))
            else:  # the bare websockets peer: a socket that joined one room
                conn = await Conn.connect(host, port, "/", origin, local)
                conn.send(f"J idle{self.index}x{i}")
                await conn.expect(lambda f: f.startswith(b"joined"))
            conn.on_frame = lambda c, d: None
            self.idle.append(conn)

        sem = asyncio.Semaphore(int(p.get("concurrency", 64)))

        async def bounded(i: int) -> None:
            async with sem:
                try:
                    await one(i)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])

        start = len(self.idle)
        await asyncio.gather(*(bounded(i) for i in range(start, target)))
        return {
            "open": len(self.idle) - sum(c.closed for c in self.idle),
            "failed": len(failures),
            "failures": failures[:5],
        }

    def close_all(self) -> dict[str, Any]:
        for c in (*self.visitors, *self.agents, *self.idle):
            c.close()
        return {"closed": True}


def die_with_parent() -> None:
    """Linux: be killed when the controller dies, whatever it died of."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like SystemExit, so the servers a workload started are stopped."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, stop)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _serve_commands(gen: Generator) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    while True:
        line = await reader.readline()
        if not line:
            return
        cmd = json.loads(line)
        name = cmd.pop("cmd")
        try:
            if name == "setup":
                gen.system = SAME_PROTOCOL.get(cmd["system"], cmd["system"])
                result: dict[str, Any] = {"pid": os.getpid()}
            elif name == "gateway_agents":
                result = await gen.gateway_agents(cmd)
            elif name == "gateway_visitors":
                result = await gen.gateway_visitors(cmd)
            elif name == "peer_clients":
                result = await gen.peer_clients(cmd)
            elif name == "step":
                result = await gen.step(cmd)
            elif name == "status":
                result = gen.status(cmd)
            elif name == "idle_open":
                result = await gen.idle_open(cmd)
            elif name == "close":
                result = gen.close_all()
                out.write(json.dumps({"ok": True, **result}) + "\n")
                out.flush()
                await asyncio.sleep(0.2)
                return
            else:
                raise ValueError(f"unknown command {name}")
            reply = {"ok": True, **result}
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=-1, help="pin to this core")
    args = parser.parse_args(argv)
    raise_nofile()
    die_with_parent()
    if args.cpu >= 0:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    random.seed(args.index)
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    runner(_serve_commands(Generator(index=args.index)))
    return 0


# -- the controller ------------------------------------------------------------------


class GeneratorFailed(RuntimeError):
    pass


class Fleet:
    """N generator processes, driven together: a command goes to all (or some), and
    every one answers before the call returns."""

    def __init__(self, n: int, system: str, cpus: Sequence[int | None] = ()) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        pinned = {c for c in cpus if c is not None}
        # the cores the generators may run on, together
        self.cores = len(pinned) if pinned and None not in cpus else os.cpu_count() or 1
        for i in range(n):
            cpu = cpus[i % len(cpus)] if cpus else None
            cmd = [sys.executable, "-m", "bench.loadgen", "--index", str(i)]
            if cpu is not None:
                cmd += ["--cpu", str(cpu)]
            self.procs.append(
                subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            )
        self.pids = [int(r["pid"]) for r in self.all("setup", system=system)]

    def __len__(self) -> int:
        return len(self.procs)

    def send(self, i: int, cmd: str, **params: Any) -> None:
        stdin = self.procs[i].stdin
        assert stdin is not None
        stdin.write((json.dumps({"cmd": cmd, **params}) + "\n").encode())
        stdin.flush()

    def reply(self, i: int) -> dict[str, Any]:
        stdout = self.procs[i].stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise GeneratorFailed(f"generator {i} exited with {self.procs[i].wait()}")
        result: dict[str, Any] = json.loads(line)
        if not result.get("ok"):
            raise GeneratorFailed(f"generator {i}: {result.get('error')}")
        return result

    def each(self, cmd: str, params: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send each generator its own parameters; all answers, in order."""
        plist = list(params)
        for i, p in enumerate(plist):
            self.send(i, cmd, **p)
        return [self.reply(i) for i in range(len(plist))]

    def all(self, cmd: str, **params: Any) -> list[dict[str, Any]]:
        return self.each(cmd, [params] * len(self.procs))

    def close(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(Exception):
                    self.send(i, "close")
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- measuring server processes ------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of these processes (and their reaped children), in seconds."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:13]) / _TICKS
    return total


# /proc/stat's first line, the whole machine: user nice system idle iowait irq softirq steal
MACHINE_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_ticks() -> tuple[int, ...]:
    """Every core's time so far, by kind (``MACHINE_FIELDS``), in clock ticks."""
    with open("/proc/stat") as f:
        return tuple(int(x) for x in f.readline().split()[1 : 1 + len(MACHINE_FIELDS)])


def machine_shares(before: Sequence[int], after: Sequence[int]) -> dict[str, float]:
    """What the machine's cores did between two :func:`machine_ticks`: ``busy`` (neither
    idle nor waiting on a disk), and within it ``softirq`` (the kernel's deferred work:
    loopback's packets are handed to the receiving socket there) and ``steal`` (time the
    hypervisor gave another guest), each a share of all the cores' time."""
    d = dict(zip(MACHINE_FIELDS, (b - a for a, b in zip(before, after, strict=True)), strict=True))
    total = sum(d.values())
    if total <= 0:
        return {"busy": 0.0, "softirq": 0.0, "steal": 0.0}
    return {
        "busy": round(1 - (d["idle"] + d["iowait"]) / total, 3),
        "softirq": round(d["softirq"] / total, 3),
        "steal": round(d["steal"] / total, 3),
    }


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (PostgreSQL's backends)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
    out, frontier = [pid], [pid]
    while frontier:
        nxt = [c for c, p in parents.items() if p in frontier]
        out += nxt
        frontier = nxt
    return out


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


if __name__ == "__main__":
    sys.exit(main())
