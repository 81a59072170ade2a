"""What an open socket holds while idle, and that holding less keeps every behaviour:
the hub's Connection (no queue and no writer task while idle; in order and bounded under
backpressure) and the light receive queue and writable flag of the WebSocket protocol
(gateway/web/transport.py). Pure logic, so no server: the real-socket paths (pings,
slow consumers, write timeout) are tests/security/test_limits.py's."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import CloseCode
from gateway.web.hub import Connection
from gateway.web.transport import Inbox, Writable


class Peer:
    """A socket's two ends as the Connection sees them; ``gate`` cleared = not reading."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.closed: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()
        self.arrived = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        self.got.append(text)
        self.arrived.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed.append(code)


async def _until(cond: object, event: asyncio.Event) -> None:
    while not cond():  # type: ignore[operator]
        event.clear()
        await asyncio.wait_for(event.wait(), 10)


async def test_an_idle_connection_holds_no_queue_and_no_writer() -> None:
    peer = Peer()
    conn = Connection("contact:chat:v1", peer.send_text, peer.close, 8, 1 << 20)
    assert conn._queue is None and conn._writer is None
    conn.send(b"one")
    await _until(lambda: peer.got == ["one"], peer.arrived)
    writer = conn._writer
    if writer is not None:
        await writer
    # Drained: back to holding nothing but its fields.
    assert conn._queue is None and conn._writer is None
    assert not hasattr(conn, "__dict__")


async def test_frames_queued_behind_a_blocked_write_arrive_in_order() -> None:
    peer = Peer()
    conn = Connection("contact:chat:v1", peer.send_text, peer.close, 100, 1 << 20)
    peer.gate.clear()  # the peer stops reading: the first write blocks
    conn.send(b"0")
    await asyncio.wait_for(peer.waiting.wait(), 10)
    for i in range(1, 20):
        conn.send(str(i).encode())
    assert conn.queued_bytes == sum(len(str(i)) for i in range(1, 20))
    peer.gate.set()
    await _until(lambda: len(peer.got) == 20, peer.arrived)
    assert peer.got == [str(i) for i in range(20)]
    # A second burst after the first drained starts a new writer, still in order.
    await asyncio.sleep(0)
    conn.send(b"a")
    conn.send(b"b")
    await _until(lambda: len(peer.got) == 22, peer.arrived)
    assert peer.got[20:] == ["a", "b"]
    assert conn.queued_bytes == 0


async def test_a_consumer_over_its_queue_is_closed_slow_consumer() -> None:
    peer = Peer()
    conn = Connection("contact:chat:v1", peer.send_text, peer.close, 3, 1 << 20)
    peer.gate.clear()
    conn.send(b"first")  # taken by the writer, which blocks on it
    await asyncio.wait_for(peer.waiting.wait(), 10)
    for i in range(4):
        conn.send(f"q{i}".encode())
    assert conn.closed and conn.close_code == CloseCode.SLOW_CONSUMER
    assert conn._queue is None and conn.queued_bytes == 0
    await conn.stop()
    assert conn._closer is not None
    await asyncio.wait_for(conn._closer, 10)
    assert peer.closed == [CloseCode.SLOW_CONSUMER]
    conn.send(b"late")  # ignored: closed
    assert conn._queue is None


async def test_held_frames_follow_the_backlog() -> None:
    peer = Peer()
    conn = Connection("contact:chat:v1", peer.send_text, peer.close, 8, 1 << 20)
    conn.hold()
    conn.send(b"live-1")
    conn.send(b"live-2")
    assert conn._queue is None  # held, not queued
    conn.release(lambda data: data != b"live-1")
    await _until(lambda: peer.got == ["live-2"], peer.arrived)


async def test_the_inbox_hands_events_over_in_order_and_wakes_its_reader() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait({"n": 1})
    inbox.put_nowait({"n": 2})
    assert inbox.qsize() == 2
    assert await inbox.get() == {"n": 1}
    assert await inbox.get() == {"n": 2}
    assert inbox.empty()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait({"n": 3})
    assert await asyncio.wait_for(reader, 10) == {"n": 3}


async def test_the_inbox_refuses_a_second_reader_and_survives_a_cancelled_one() -> None:
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # The cancelled reader left nothing behind: the next one is served.
    inbox.put_nowait("x")
    assert await asyncio.wait_for(inbox.get(), 10) == "x"


async def test_writable_blocks_writers_while_cleared_and_wakes_all_on_set() -> None:
    flag = Writable()
    assert flag.is_set()
    assert await flag.wait()  # set: no waiting
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 10) == [True, True, True]
    # A cancelled waiter is forgotten; set() after it still works.
    flag.clear()
    gone = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert flag._waiters == []
    flag.set()
    assert flag.is_set()
