"""Limits: over each one the client gets a documented error frame, HTTP status or close
code, the process stays up, and other clients are unaffected."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devkit.services import GatewayProcess
from tests.gateway.client import Socket, Visitor
from tests.security.conftest import visitor

NodeFactory = Callable[..., GatewayProcess]


async def _ready(node: GatewayProcess, xff: str = "") -> Visitor:
    v = visitor(node)
    await _bootstrap(v, xff)
    await _connect(v, xff)
    await v.start(name="Vic")
    return v


async def _bootstrap(v: Visitor, xff: str | list[str] = "") -> httpx.Response:
    """``xff``: an X-Forwarded-For line, or a list of lines (one header each)."""
    lines = [xff] if isinstance(xff, str) and xff else list(xff)
    headers = [("Origin", v.origin), *(("X-Forwarded-For", line) for line in lines)]
    async with httpx.AsyncClient() as http:
        r = await http.post(
            v.node.base_url + "/widget/bootstrap",
            json={"touchpoint_id": v.touchpoint_id, "page_url": v.page_url},
            headers=headers,
        )
    if r.status_code == 200:
        v.token, v.visitor_id = r.json()["token"], r.json()["visitor_id"]
    return r


async def _connect(v: Visitor, xff: str = "") -> Socket:
    ws = await connect(
        v.node.ws_url + "/ws/visitor",
        origin=v.origin,  # type: ignore[arg-type]
        additional_headers={"X-Forwarded-For": xff} if xff else None,
    )
    v.sock = Socket(ws)
    with contextlib.suppress(ConnectionClosed):  # refused at once: the caller looks
        await v.sock.send({"type": "hello", "v": 1, "token": v.token})
    return v.sock


async def test_frames_over_the_limit_get_rate_limited_then_4029(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_FRAMES_PER_MINUTE": "20"})
    bystander = await _ready(node)
    flooder = await _ready(node)
    assert flooder.sock and bystander.sock
    await flooder.sock.expect("token")
    for i in range(19):  # start was the first frame
        await flooder.sock.send({"type": "typing", "active": i % 2 == 0})
    await flooder.sock.send({"type": "send", "body": "one too many", "client_msg_id": "over-1"})
    refused = await flooder.sock.expect("error")
    assert refused == {
        "type": "error",
        "code": "rate_limited",
        "message": refused["message"],
        "retryable": True,
        "ref": "over-1",
    }
    # The refused message was not stored.
    await bystander.sock.send({"type": "send", "body": "I am fine", "client_msg_id": "b-1"})
    assert (await bystander.sock.expect("ack"))["client_msg_id"] == "b-1"
    # Keeping on sending closes the socket with 4029 (reconnect after a pause).
    for _ in range(20):
        try:
            await flooder.sock.send({"type": "typing", "active": True})
        except Exception:
            break
    assert await flooder.sock.expect_close() == 4029
    await bystander.sock.send({"type": "send", "body": "still fine", "client_msg_id": "b-2"})
    assert (await bystander.sock.expect("ack"))["client_msg_id"] == "b-2"
    assert node.alive()


async def test_connections_per_ip_per_hour(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "3"})
    v = visitor(node)
    # Bootstraps: three, then 429 - and a forged X-Forwarded-For does not help, since
    # no proxy is trusted.
    for i in range(3):
        assert (await _bootstrap(v, xff=f"198.51.100.{i}")).status_code == 200
    refused = await _bootstrap(v, xff="198.51.100.99")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    # Handshakes are counted apart: three sockets, then 4029 before any frame is read.
    for _ in range(3):
        sock = await _connect(v)
        await sock.expect("welcome")
        await sock.close()
    sock = await _connect(v, xff="198.51.100.98")
    assert await sock.expect_close() == 4029
    assert not [f for f in sock.seen if f["type"] == "welcome"]
    assert node.alive()


async def test_a_trusted_proxy_names_the_client(node_factory: NodeFactory) -> None:
    node = node_factory(
        {"GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "2", "GATEWAY_TRUSTED_PROXIES": "127.0.0.0/8"}
    )
    v = visitor(node)
    for _ in range(2):
        assert (await _bootstrap(v, xff="203.0.113.7")).status_code == 200
    assert (await _bootstrap(v, xff="203.0.113.7")).status_code == 429
    # A client cannot escape by prepending addresses: the proxy appends the real one,
    # to the client's line or in a line of its own (which the gateway ignored: only the
    # first line was read, so the client's own line named the client)
    assert (await _bootstrap(v, xff="192.0.2.1, 203.0.113.7")).status_code == 429
    assert (await _bootstrap(v, xff=["192.0.2.2", "203.0.113.7"])).status_code == 429
    # Another client behind the same proxy has a budget of its own.
    assert (await _bootstrap(v, xff="203.0.113.8, 127.0.0.1")).status_code == 200
    sock = await _connect(v, xff="203.0.113.9")
    await sock.expect("welcome")


async def test_new_conversations_per_ip_and_per_touchpoint(node_factory: NodeFactory) -> None:
    node = node_factory(
        {
            "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "2",
            "GATEWAY_CONVERSATIONS_PER_TOUCHPOINT_PER_HOUR": "3",
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
        }
    )
    for _ in range(2):
        await _ready(node, xff="198.51.100.1")
    v = visitor(node)
    await _bootstrap(v, xff="198.51.100.1")
    sock = await _connect(v, xff="198.51.100.1")
    await sock.expect("welcome")
    await sock.send({"type": "start", "fields": {"name": "Third"}})
    refused = await sock.expect("error")
    assert refused["code"] == "rate_limited" and refused["retryable"] is True
    await sock.send({"type": "send", "body": "hello?", "client_msg_id": "x"})
    assert (await sock.expect("error"))["code"] == "no_conversation"
    # Another address may start one: the touchpoint's third this hour ...
    await _ready(node, xff="198.51.100.2")
    # ... and then the touchpoint is full, whoever asks.
    v = visitor(node)
    await _bootstrap(v, xff="198.51.100.3")
    sock = await _connect(v, xff="198.51.100.3")
    await sock.send({"type": "start", "fields": {}})
    assert (await sock.expect("error"))["code"] == "rate_limited"
    # Another touchpoint still takes conversations.
    other = visitor(node, "tp_billing")
    await _bootstrap(other, xff="198.51.100.4")
    await _connect(other, xff="198.51.100.4")
    assert (await other.start()).startswith("cv_")


async def test_a_slow_consumer_is_closed_4008_and_others_are_unaffected(
    node_factory: NodeFactory,
) -> None:
    node = node_factory({"GATEWAY_SEND_QUEUE_SIZE": "8"})
    slow = await _ready(node)
    for i in range(40):
        await slow.say("z" * 4000, f"big-{i}")
    bystander = await _ready(node)
    # A client that stops reading: its library buffers one frame, then TCP fills up.
    ws = await connect(
        node.ws_url + "/ws/visitor",
        origin=slow.origin,  # type: ignore[arg-type]
        max_queue=1,
        max_size=None,
    )
    await ws.send(f'{{"type":"hello","v":1,"token":"{slow.token}"}}')
    for _ in range(400):  # ~160 KB of history each
        await ws.send('{"type":"history","limit":50}')
    # The bystander is answered at once meanwhile.
    assert bystander.sock
    started = time.monotonic()
    await bystander.sock.send({"type": "send", "body": "quick", "client_msg_id": "q-1"})
    assert (await bystander.sock.expect("ack"))["client_msg_id"] == "q-1"
    assert time.monotonic() - started < 2.0
    # The slow one was dropped: 4008, or - since it also left requests unread, and the
    # server stops reading a socket it closes - a reset that loses the close frame
    # (1006 on the client). Either way it reads only what was queued before, not 400
    # answers. (docs/security.md#slow-consumers)
    # Nothing outside the server shows the moment it gives up on a client that does
    # not read (that is the point): give it a few seconds of not reading.
    await asyncio.sleep(3)
    received = 0
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 20)
            received += 1
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else 1006
    assert code in (4008, 1006)
    assert received < 100, received  # what was queued before; not the 400 answers
    assert node.alive() and "Traceback" not in node.output()


def _raw_handshake(node: GatewayProcess, extra: str = "") -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {node.base_url}\r\n{extra}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, head


def _read_until_eof(s: socket.socket, timeout: float) -> tuple[bytes, float]:
    started = time.monotonic()
    s.settimeout(timeout)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data, time.monotonic() - started
        data += chunk


def test_a_dead_peer_is_dropped_by_ping_timeout(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_PING_INTERVAL": "0.3", "GATEWAY_PING_TIMEOUT": "0.3"})
    s, _ = _raw_handshake(node)
    # Never answer: the server pings (opcode 0x9), gets no pong and drops the
    # connection well before the 10 s hello timeout.
    data, took = _read_until_eof(s, timeout=8)
    assert data[:1] == b"\x89", data[:8]
    assert took < 5, took
    s.close()


def test_a_peer_that_answers_is_pinged_again_and_again(node_factory: NodeFactory) -> None:
    """Each pong answered starts the next interval: pings keep coming, each its own."""
    node = node_factory({"GATEWAY_PING_INTERVAL": "0.2", "GATEWAY_PING_TIMEOUT": "0.4"})
    s, _ = _raw_handshake(node)
    s.settimeout(8)  # before the 10 s hello timeout
    payloads: list[bytes] = []
    data = b""
    while len(payloads) < 5:
        chunk = s.recv(4096)
        assert chunk, payloads  # closed: a pong was not taken, or pings stopped
        data += chunk
        while len(data) >= 6:
            assert data[:2] == b"\x89\x04", data[:8]  # a ping with its 4-byte payload
            payloads.append(data[2:6])
            s.sendall(_masked(0x8A, data[2:6]))  # the pong, masked as a client's is
            data = data[6:]
    assert len(set(payloads)) == len(payloads)
    s.close()


async def test_a_live_peer_that_answers_pings_stays(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_PING_INTERVAL": "0.2", "GATEWAY_PING_TIMEOUT": "0.2"})
    v = await _ready(node)
    assert v.sock
    # The client library answers pings; several ping rounds later it is still served.
    await asyncio.sleep(1.0)
    await v.sock.send({"type": "send", "body": "still here", "client_msg_id": "p-1"})
    assert (await v.sock.expect("ack"))["client_msg_id"] == "p-1"


def _masked(first: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return struct.pack("!BB", first, 0x80 | len(payload)) + mask + body


def test_compression_is_never_negotiated_and_compressed_frames_are_refused(
    node_factory: NodeFactory,
) -> None:
    node = node_factory()
    s, head = _raw_handshake(
        node, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    )
    assert b"sec-websocket-extensions" not in head.lower()
    # A frame with RSV1 set (a "compressed" frame: a deflate bomb's carrier) is a
    # protocol error: close 1002 and the connection goes.
    s.sendall(_masked(0xC1, b"\x00" * 16))
    data, _ = _read_until_eof(s, timeout=5)
    assert data[:1] == b"\x88" and struct.unpack("!H", data[2:4])[0] == 1002, data
    s.close()
    assert node.alive()


async def test_a_message_split_into_small_fragments_is_still_capped(
    node_factory: NodeFactory,
) -> None:
    node = node_factory()
    bystander = await _ready(node)
    v = await _ready(node)
    assert v.sock and bystander.sock
    # Each fragment is small; together they are over GATEWAY_MAX_FRAME_BYTES (16 KiB).
    await v.sock.ws.send(iter(["x" * 4000] * 6))
    # 1009, or 1006 when the close frame is lost to the reset of a connection closed
    # with the rest of the fragments unread (docs/security.md#message-size).
    assert await v.sock.expect_close() in (1009, 1006)
    await bystander.sock.send({"type": "send", "body": "fine", "client_msg_id": "f-1"})
    assert (await bystander.sock.expect("ack"))["client_msg_id"] == "f-1"
