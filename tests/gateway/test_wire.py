"""Frames written below ASGI (gateway/web/hub.py, gateway/web/transport.py): framed once,
the same bytes for every socket of a topic, written at once while the transport takes
writes, queued (bounded, in order) while it does not. Pure logic with a recording wire;
the real-socket paths (a slow consumer closed 4008, the write timeout, pings) are
tests/security/test_limits.py's, which run on this path."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gateway.errors import CloseCode
from gateway.ports.bus import InProcessBus, all_but
from gateway.web.hub import Connection, Hub
from gateway.web.transport import Writable, text_frame


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
