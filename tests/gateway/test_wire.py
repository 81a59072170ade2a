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
from collections.abc import AsyncIterator, Callable
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
async def _served(app: ASGIApp, max_size: int | None = None) -> AsyncIterator[str]:
    """uvicorn serving ``app`` with the gateway's protocols (gateway/cli.py's choices;
    ``max_size``: GATEWAY_MAX_FRAME_BYTES, the default's unless given)."""
    settings = load_settings({"GATEWAY_DATABASE_URL": "sqlite:///:memory:"})
    http, ws = protocols(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # a client's connect waits in the backlog until uvicorn accepts
    config = uvicorn.Config(
        app,
        http=http,
        ws=ws,
        log_level="warning",
        ws_per_message_deflate=False,
        ws_max_size=max_size or settings.max_frame_bytes,
        lifespan="off",
        interface="asgi3",
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


# -- frames in: whole masked text frames below websockets' parser ------------------------


def _client_frame(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    """A frame as a client sends it (masked), framed by websockets."""
    return Frame(opcode, payload, fin).serialize(mask=True)


def _text(payload: bytes) -> bytes:
    return _client_frame(Opcode.TEXT, payload)


class _Receiver:
    """The application side: every frame the gateway's read loop would get (the wire's
    ``receive_frame``, as gateway/web/sockets.py reads them), and the bytes that reached
    websockets' own parser."""

    def __init__(self) -> None:
        self.got: list[str | bytes | dict[str, object]] = []
        self.changed = asyncio.Event()
        self.parsed = 0  # bytes handed to websockets' parser once the socket is open

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)

    async def wait_for(self, n: int) -> list[str | bytes | dict[str, object]]:
        await self.until(lambda: len(self.got) >= n)
        return self.got

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        wire = scope["extensions"][WIRE]
        parse = wire.conn.receive_data

        def counted(data: bytes) -> None:
            self.parsed += len(data)
            self.changed.set()
            parse(data)

        wire.conn.receive_data = counted
        while True:
            item = await wire.receive_frame()
            self.got.append(item)
            self.changed.set()
            if isinstance(item, dict):  # websocket.disconnect
                return


@asynccontextmanager
async def _raw_client(
    url: str, receive_buffer: int | None = None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A client that writes the bytes it is given, as it is given them (``receive_buffer``:
    its socket's, set before it connects: a small one is a peer that reads slowly)."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        yield reader, writer
    finally:
        writer.close()


async def _server_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame the server sent, read by websockets' client-side parser."""
    head = await asyncio.wait_for(reader.readexactly(2), 10)
    n = head[1] & 0x7F
    extra = b""
    if n == 126:
        extra = await reader.readexactly(2)
        n = int.from_bytes(extra, "big")
    return _parsed(head + extra + await reader.readexactly(n))


async def test_whole_text_frames_pass_websockets_parser_by_and_arrive_as_it_would_give_them() -> (
    None
):
    """Whole masked text frames at a frame's start are taken below websockets' parser
    (gateway/web/transport.py ``_text_frames``); a frame split across reads, a control
    frame, a fragmented message go through the parser, which hands back once it waits at
    a frame's start again. What the application gets is the same either way, in order."""
    got = _Receiver()
    long = "é" * 100  # 200 bytes of UTF-8: a 16-bit length
    async with _served(got.app) as url, _raw_client(url) as (reader, writer):
        writer.write(_text(b"one") + _text(long.encode()) + _text(b"three"))
        assert await got.wait_for(3) == ["one", long, "three"]
        assert got.parsed == 0  # all three below the parser

        split = _text(b'{"split":"across two reads"}')
        writer.write(split[:5])
        await got.until(lambda: got.parsed >= 5)  # a partial frame: the parser holds it
        rest = split[5:] + _text(b"after the split")
        writer.write(rest)  # the parser is inside a frame: all of this is its
        assert (await got.wait_for(5))[3:] == ['{"split":"across two reads"}', "after the split"]
        assert got.parsed == len(split) + len(_text(b"after the split"))

        before = got.parsed
        writer.write(_text(b"below again"))  # the parser waits at a frame's start
        assert (await got.wait_for(6))[5] == "below again"
        assert got.parsed == before

        ping = _client_frame(Opcode.PING, b"hi")
        writer.write(ping + _text(b"after a ping"))
        pong = await _server_frame(reader)
        assert pong.opcode is Opcode.PONG and pong.data == b"hi"
        assert (await got.wait_for(7))[6] == "after a ping"

        fragments = _client_frame(Opcode.TEXT, b"frag", fin=False) + _client_frame(
            Opcode.CONT, b"mented"
        )
        writer.write(fragments + _text(b"whole"))
        assert (await got.wait_for(9))[7:] == ["fragmented", "whole"]
        before = got.parsed
        binary = _client_frame(Opcode.BINARY, b"\x00\x01")
        writer.write(_text(b"last") + binary)
        assert (await got.wait_for(11))[9:] == ["last", b"\x00\x01"]
        assert got.parsed == before + len(binary)  # a binary frame is the parser's


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (_text(b"\xff\xfe not UTF-8"), 1007),  # taken below the parser, refused there
        (_text(b"x" * 1001), 1009),  # over the frame limit (1000 here): the parser's
        (b"\x81\x03abc", 1002),  # not masked: the parser's
        (b"\xc1\x83" + b"\x00" * 7, 1002),  # a reserved bit: the parser's
    ],
    ids=["invalid-utf8", "over-the-limit", "unmasked", "reserved-bit"],
)
async def test_a_bad_frame_among_whole_ones_closes_the_socket_and_nothing_after_it_arrives(
    bad: bytes, code: int
) -> None:
    """The whole frame before the bad one, in the same read, is handled (websockets'
    parser alone dropped every frame of a read that ended in its error)."""
    got = _Receiver()
    async with _served(got.app, max_size=1000) as url, _raw_client(url) as (reader, writer):
        writer.write(_text(b"before") + bad + _text(b"after"))
        received = await got.wait_for(2)
        assert received[0] == "before"
        assert isinstance(received[1], dict) and received[1]["type"] == "websocket.disconnect"
        closing = await _server_frame(reader)
        assert closing.opcode is Opcode.CLOSE
        assert int.from_bytes(closing.data[:2], "big") == code
        assert "after" not in got.got


@pytest.mark.parametrize("cut", ["after-a-ping", "fragmented", "split-across-reads"])
async def test_frames_the_parser_finished_before_a_bad_one_in_the_same_read_arrive(
    cut: str,
) -> None:
    """Frames that went through websockets' parser (after a ping, a fragmented message,
    the end of a frame split across reads) and ended before a bad frame in the same read
    are handled before the close, as those taken below the parser are: what is handled
    does not depend on where TCP cut the stream (uvicorn's protocol dropped them)."""
    got = _Receiver()
    bad = b"\x81\x03abc"  # not masked: 1002
    async with _served(got.app) as url, _raw_client(url) as (reader, writer):
        if cut == "after-a-ping":
            writer.write(_client_frame(Opcode.PING, b"p") + _text(b"message") + bad)
            pong = await _server_frame(reader)
            assert pong.opcode is Opcode.PONG and pong.data == b"p"
        elif cut == "fragmented":
            first = _client_frame(Opcode.TEXT, b"mess", fin=False)
            writer.write(first + _client_frame(Opcode.CONT, b"age") + bad)
        else:
            split = _text(b"message")
            writer.write(split[:5])
            await got.until(lambda: got.parsed >= 5)
            writer.write(split[5:] + bad)
        received = await got.wait_for(2)
        assert received[0] == "message"
        assert isinstance(received[1], dict) and received[1]["type"] == "websocket.disconnect"
        closing = await _server_frame(reader)
        assert closing.opcode is Opcode.CLOSE
        assert int.from_bytes(closing.data[:2], "big") == 1002


async def test_pings_from_a_peer_that_does_not_read_get_only_the_latest_pong_buffered() -> None:
    """A peer that streams pings and reads nothing: while the transport's writes are
    paused, only the latest ping's pong is kept (RFC 6455 5.5.3), so what the server
    holds for it stays bounded (before, every pong was buffered: megabytes a second);
    once the peer reads again, that pong follows the ones written before the pause."""
    buffered: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        wire = scope["extensions"][WIRE]
        assert await wire.receive_frame() == "done"  # every ping before it was handled
        buffered.set_result(wire.transport.get_write_buffer_size())
        await wire.receive_frame()  # until the client goes

    count = 40_000  # 5 MB of pongs: more than the loopback socket's buffers take
    pings = [b"%08d" % i + b"." * 117 for i in range(count)]  # 125 bytes, the most
    async with _served(app) as url, _raw_client(url, receive_buffer=4096) as (reader, writer):
        for start in range(0, count, 1000):
            writer.write(
                b"".join(_client_frame(Opcode.PING, p) for p in pings[start : start + 1000])
            )
            await writer.drain()
        writer.write(_text(b"done"))
        held = await asyncio.wait_for(buffered, 60)
        assert held < 256 * 1024, held  # the high-water mark's order, not megabytes
        answered = []
        while not answered or answered[-1] != pings[-1]:
            pong = await _server_frame(reader)
            assert pong.opcode is Opcode.PONG
            answered.append(pong.data)
        assert answered == sorted(answered) and len(answered) < count  # in order, some dropped
