"""Frames written below ASGI (gateway/web/hub.py, gateway/web/transport.py): framed once,
the same bytes for every socket of a topic, written at once while the transport takes
writes, queued (bounded, in order) while it does not. Pure logic with a recording wire;
the real-socket paths (a slow consumer closed 4008, the write timeout, pings) are
tests/security/test_limits.py's, which run on this path; the last tests here drive the
protocol itself on a real uvicorn server and a real client."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gateway import metrics
from gateway.errors import CloseCode
from gateway.ports.bus import InProcessBus, all_but, for_node
from gateway.settings import load_settings
from gateway.web.hub import Connection, Hub
from gateway.web.transport import WIRE, Writable, protocols, text_frame


class RecordingWire:
    """A socket's transport as the hub sees it: what was written, and a writable flag
    the test clears to play a peer that does not read."""

    def __init__(self) -> None:
        self.writable = Writable()
        self.written: list[bytes] = []
        self.gone = False
        self.wrote = asyncio.Event()

    def write_frame(self, frame: bytes) -> bool:
        if self.gone:
            return False
        self.written.append(frame)
        self.wrote.set()
        return True


async def _no_send_text(text: str) -> None:
    raise AssertionError("a socket with a wire is not written through ASGI")


async def _close(code: int, reason: str) -> None:
    return None


def _conn(wire: RecordingWire, size: int = 8, topic: str = "contact:chat:v1") -> Connection:
    return Connection(topic, _no_send_text, _close, size, 1 << 20, wire)


def _parsed(frame: bytes) -> Frame:
    """The frame as websockets' own client-side parser reads it."""
    reader = StreamReader()
    reader.feed_data(frame)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        parsed: Frame = done.value
        return parsed
    raise AssertionError("the frame was not complete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_parses_back_to_its_payload(size: int) -> None:
    payload = b'{"type":"x","b":"' + b"a" * size + b'"}'
    frame = _parsed(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data == payload


async def test_a_writable_socket_is_written_at_once_without_a_task_or_queue() -> None:
    wire = RecordingWire()
    conn = _conn(wire)
    conn.send(b'{"n":1}')
    conn.send(b'{"n":2}')
    assert wire.written == [text_frame(b'{"n":1}'), text_frame(b'{"n":2}')]
    assert conn._writer is None and conn._queue is None and conn.queued_bytes == 0


async def test_while_the_transport_is_paused_frames_queue_and_follow_in_order() -> None:
    wire = RecordingWire()
    conn = _conn(wire, size=100)
    wire.writable.clear()  # over the high-water mark: the peer reads slowly
    for i in range(5):
        conn.send(str(i).encode())
    assert wire.written == [] and conn.queued_bytes == 5 * len(text_frame(b"0"))
    writer = conn._writer
    assert writer is not None
    wire.writable.set()  # resumed: everything queued goes, then the writer ends
    # One that arrives before the writer ran still goes after the queued ones.
    conn.send(b"5")
    await asyncio.wait_for(writer, 10)
    assert [_parsed(f).data for f in wire.written] == [str(i).encode() for i in range(6)]
    assert conn._writer is None and conn._queue is None and conn.queued_bytes == 0
    conn.send(b"6")  # writable again and nothing ahead: at once
    assert _parsed(wire.written[-1]).data == b"6" and conn._writer is None


async def test_a_paused_socket_over_its_queue_is_closed_slow_consumer() -> None:
    wire = RecordingWire()
    conn = _conn(wire, size=3)
    wire.writable.clear()
    for i in range(4):
        conn.send(f"q{i}".encode())
    assert conn.closed and conn.close_code == CloseCode.SLOW_CONSUMER
    assert conn._queue is None and conn.queued_bytes == 0
    await conn.stop()
    wire.writable.set()
    conn.send(b"late")
    assert wire.written == []


async def test_a_socket_that_takes_no_more_frames_is_marked_closed() -> None:
    wire = RecordingWire()
    conn = _conn(wire)
    wire.gone = True
    conn.send(b"one")
    assert conn.closed and wire.written == []


async def test_the_same_frame_bytes_reach_every_socket_of_the_topic_but_the_skipped() -> None:
    hub = Hub(InProcessBus())
    wires = [RecordingWire() for _ in range(3)]
    conns = [_conn(w, topic="agent:ag1") for w in wires]
    for conn in conns:
        await hub.add(conn)
    hub.deliver("agent:ag1", b'{"type":"typing","active":true}')
    assert all(len(w.written) == 1 for w in wires)
    first = wires[0].written[0]
    # framed once: one bytes object, not equal copies
    assert all(w.written[0] is first for w in wires)
    assert _parsed(first).data == b'{"type":"typing","active":true}'
    # a publish that leaves the sender's socket out
    hub.deliver("agent:ag1", all_but(conns[1].ref, b'{"type":"ok"}'))
    assert [len(w.written) for w in wires] == [2, 1, 2]
    assert wires[0].written[1] is wires[2].written[1]
    for conn in conns:
        await hub.remove(conn)


async def test_data_for_the_node_goes_to_its_handler_and_to_no_socket() -> None:
    hub = Hub(InProcessBus())
    got: list[tuple[str, bytes]] = []
    hub.node_data(lambda topic, data: got.append((topic, data)))
    wire = RecordingWire()
    conn = _conn(wire, topic="agent:ag1")
    hub.deliver("agent:ag1", for_node(b"row"))  # no socket of the topic here: not ours
    assert got == []
    await hub.add(conn)
    hub.deliver("agent:ag1", for_node(b"row"))
    hub.deliver("agent:ag1", b'{"type":"typing","active":true}')
    assert got == [("agent:ag1", b"row")]
    assert [_parsed(f).data for f in wire.written] == [b'{"type":"typing","active":true}']
    await hub.remove(conn)


async def test_a_message_only_its_sender_has_is_neither_framed_nor_timed() -> None:
    """The topic's only socket sent it (its ack has it): nothing is written, and the
    commit-to-delivery latency counts only deliveries to someone."""
    hub = Hub(InProcessBus())
    wire = RecordingWire()
    conn = _conn(wire, topic="agent:ag1")
    await hub.add(conn)
    latency = metrics.MESSAGE_LATENCY
    counted = sum(latency._counts)
    frame = b'{"type":"message","at":1.0,"body":"hi"}'
    hub.deliver("agent:ag1", all_but(conn.ref, frame))
    assert wire.written == [] and sum(latency._counts) == counted
    # another socket of the topic gets it, once, and that delivery is timed
    other = RecordingWire()
    second = _conn(other, topic="agent:ag1")
    await hub.add(second)
    hub.deliver("agent:ag1", all_but(conn.ref, frame))
    assert wire.written == [] and len(other.written) == 1
    assert sum(latency._counts) == counted + 1
    for c in (conn, second):
        await hub.remove(c)


# -- the gateway's WebSocket protocol on a real uvicorn server and a real client ----------


@asynccontextmanager
async def _served(app: ASGIApp) -> AsyncIterator[str]:
    """uvicorn serving ``app`` with the gateway's protocols (gateway/cli.py's choices)."""
    settings = load_settings({"GATEWAY_DATABASE_URL": "sqlite:///:memory:"})
    http, ws = protocols(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # a client's connect waits in the backlog until uvicorn accepts
    config = uvicorn.Config(
        app, http=http, ws=ws, log_level="warning", ws_per_message_deflate=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def test_frames_of_one_turn_arrive_in_order_before_a_close_sent_through_asgi() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        wire = scope["extensions"][WIRE]
        for i in range(5):  # one turn of the loop: gathered, one write
            assert wire.write_frame(text_frame(b'{"n":%d}' % i))
        await send({"type": "websocket.close", "code": CloseCode.SLOW_CONSUMER})
        assert not wire.write_frame(text_frame(b'{"n":"late"}'))  # closing: refused

    async with _served(app) as url, connect(url) as client:
        got = [json.loads(await asyncio.wait_for(client.recv(), 10)) for _ in range(5)]
        assert got == [{"n": i} for i in range(5)]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CloseCode.SLOW_CONSUMER


async def test_a_peer_that_does_not_read_clears_writable_within_one_turn() -> None:
    """Frames gathered in one turn are written as soon as they pass CORK_BYTES, so the
    transport's high-water mark (and with it the hub's queue bound and the write
    timeout) sees a peer that does not read even while one turn writes and writes."""
    outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        wire = scope["extensions"][WIRE]
        frame = text_frame(b'{"pad":"' + b"x" * 4000 + b'"}')
        written = 0
        while wire.writable.is_set() and written < 10_000:  # no await: one turn
            assert wire.write_frame(frame)
            written += 1
        outcome.set_result(written)
        await receive()  # until the client goes

    async with _served(app) as url, connect(url, max_queue=1, max_size=None) as client:
        written = await asyncio.wait_for(outcome, 30)
        # stopped by back-pressure (the socket buffers: a few MiB), not by the cap
        assert written < 10_000
        client.transport.abort()  # a closing handshake would wait behind the unread MiBs
