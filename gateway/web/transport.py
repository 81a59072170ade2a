"""Connection-level limits, below the ASGI application (docs/security.md#connections).

uvicorn's protocols, subclassed: what an attacker can do before a request reaches the
application (or while the application waits on their socket) is bounded here:

* **open connections per client address** (``GATEWAY_MAX_CONNECTIONS_PER_IP``; IPv6
  addresses count by their /64): more are closed as soon as they connect. Trusted
  proxies are exempt: their clients are behind them.
* **request timeout** (``GATEWAY_REQUEST_TIMEOUT``): the request line and headers (for a
  WebSocket, its handshake) must arrive within it, counted from the connection or from
  the first byte of a request on a kept-alive one; the body within it again plus one
  second per ``GATEWAY_MIN_BODY_BYTES_PER_SECOND`` bytes received, so a 25 MB upload on a
  slow link finishes while a body that trickles is cut; else ``408`` and close.
  (uvicorn times out idle kept-alive connections, but not a request that trickles in.)
* **header size and count** (``GATEWAY_MAX_HEADER_BYTES``, ``GATEWAY_MAX_HEADERS``):
  counted while the head arrives, before httptools holds it whole; over either: ``431``.
* **write timeout** (``GATEWAY_WRITE_TIMEOUT``): a peer that keeps the transport's
  write buffer full (it does not read) for that long is aborted, which frees the buffer
  and ends whatever waits to write to it. ``transport.close()`` would wait for the
  buffer to drain, which a non-reading peer never lets happen.

The WebSocket protocol also holds less per connection than uvicorn's (an idle socket's
memory, docs/benchmarks.md#idle-connections): a receive queue and a "writable" flag that
allocate only while something waits on them, in place of an ``asyncio.Queue`` and an
``asyncio.Event`` (four deques, about 4 KiB); the handshake's parsed request and
response (their headers) are let go once the handshake is answered; and its keepalive
(pings, pong deadlines) runs on one timer for all sockets (:class:`Keepalive`) instead
of a timer each.

And it is the gateway's **wire** (the scope extension ``gateway.wire``): the hub writes
frames it framed once (:func:`text_frame`) straight to the transport (``write_frame``),
and the read loop takes each frame's text from the inbox (``receive_frame``), neither
through an ASGI message; the handshake, closes and the few frames sent while a session
opens still go through ASGI. The frames one socket gets in one turn of the event loop
(say, the acks and messages of one group commit) go out together at its end: one system
call instead of one per frame. The inbox holds up to ``INBOX_FRAMES`` frames before the
transport stops reading (uvicorn pauses after every frame and resumes when the
application takes it: two system calls per frame), so a client that sends faster than
the gateway handles is still held back by TCP. Whole masked text frames are unmasked
here, below websockets' parser, while it waits at a frame's start; everything else is
its (docs/security.md#frames-in).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import random
import struct
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Response
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol
from websockets.typing import StatusLike

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

from gateway.settings import IPNetwork, Settings
from gateway.web.limits import address_key

log = logging.getLogger("gateway.transport")


class Guard:
    """The limits' shared state for one server: open connections by address key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.trusted: list[IPNetwork] = settings.trusted_proxy_networks
        self.open: dict[str, int] = {}
        self._keys: dict[int, str] = {}

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection; False when its address already holds the maximum."""
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not host or self._is_trusted(host):
            return True
        key = address_key(host)
        limit = self.settings.max_connections_per_ip
        if limit and self.open.get(key, 0) >= limit:
            return False
        self.open[key] = self.open.get(key, 0) + 1
        self._keys[id(transport)] = key
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        key = self._keys.pop(id(transport), None)
        if key is None:
            return
        left = self.open[key] - 1
        if left:
            self.open[key] = left
        else:
            del self.open[key]

    def _is_trusted(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


class _WriteTimeout:
    """Aborts a transport whose writes stay paused (peer not reading) too long."""

    __slots__ = ("_loop", "_seconds", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self._seconds = seconds
        self._timer: asyncio.TimerHandle | None = None

    def paused(self, transport: asyncio.BaseTransport) -> None:
        if self._timer is None:
            self._timer = self._loop.call_later(self._seconds, self._abort, transport)

    def resumed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _abort(self, transport: asyncio.BaseTransport) -> None:
        self._timer = None
        log.info("dropping a connection whose peer does not read (write timeout)")
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        else:
            transport.close()


class _Due:
    """A socket's next keepalive step (its ping, or its pong's deadline) in
    :class:`Keepalive`; uvicorn cancels its ping and pong timers by calling ``cancel()``,
    which is all this needs to stand for one."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn: Callable[[], None] | None = fn

    def cancel(self) -> None:
        self.fn = None


class Keepalive:
    """Every socket's pings and pong deadlines, on one event-loop timer a tick: each step
    runs at the end of the tick it falls in. With uvicorn's timer a socket, 19,000 idle
    sockets woke the node about 1,900 times a second, one step each, and the wake-ups
    cost more than the pings (docs/benchmarks.md#idle-connections)."""

    def __init__(self, tick: float) -> None:
        self._tick = tick
        self._slots: dict[int, list[_Due]] = {}

    def at(self, loop: asyncio.AbstractEventLoop, when: float, fn: Callable[[], None]) -> _Due:
        due = _Due(fn)
        slot = math.ceil(when / self._tick)
        bucket = self._slots.get(slot)
        if bucket is None:
            bucket = self._slots[slot] = []
            loop.call_at(slot * self._tick, self._fire, slot)
        bucket.append(due)
        return due

    def _fire(self, slot: int) -> None:
        for due in self._slots.pop(slot, ()):
            fn, due.fn = due.fn, None
            if fn is not None:
                try:
                    fn()
                except Exception:
                    log.exception("keepalive step failed")


# Received frames a socket's inbox holds before its transport stops reading (uvicorn
# pauses after every frame: two system calls per frame; see the module's docstring).
INBOX_FRAMES = 8
# Bytes of frames a socket gathers in one turn of the event loop before they are written
# (the transport's default high-water mark).
CORK_BYTES = 64 * 1024
# An HTTP connection closed after its response (a refused body, a timeout) is half-closed
# first: what the client still sends is read and dropped for up to LINGER_S, or
# LINGER_BYTES, or until it closes its side. Closed at once with unread bytes, the socket
# answers them with a reset, and a client still sending its body can lose the response
# with it (nginx's lingering close).
LINGER_S = 2.0
LINGER_BYTES = 1 << 20


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8) as one unmasked, unfragmented WebSocket text frame (RFC 6455
    5.2): what a server writes, the same bytes for every socket it goes to."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _at_frame_start(conn: Protocol) -> bool:
    """Whether websockets' parser waits for the first byte of a frame (its generators'
    innermost step is the stream's ``at_eof``, which it awaits before each frame's
    header) with nothing buffered: past a frame's header it waits in ``read_exact``, and
    once it has failed or seen a close it is another generator (``discard``). The parse
    is ``parse`` → ``parse`` → ``at_eof`` (the server's handshake, then the frames').
    These are websockets' internals (pinned in constraints.txt): if an upgrade moves
    them, tests/gateway/test_wire.py fails rather than the frames quietly going slow."""
    if conn.reader.buffer or conn.current_size is not None:
        return False
    step: Any = conn.parser
    while step.gi_yieldfrom is not None:
        step = step.gi_yieldfrom
    return step.__name__ == "at_eof"  # type: ignore[no-any-return]


class Inbox:
    """The part of ``asyncio.Queue`` uvicorn's WebSocket protocol uses (``put_nowait``,
    ``get``, ``empty``) for the events it hands the application: a list and, while the
    application waits, one future. Its one reader is the application's receive loop; a
    second reader waiting at once is refused rather than left hanging."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []  # a deque is 600 bytes even empty
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("another task is already receiving on this socket")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Writable:
    """The part of ``asyncio.Event`` uvicorn's protocol uses for "the transport takes
    writes" (``set``, ``clear``, ``is_set``, ``wait``); starts set, and holds a list of
    waiters only while writes are paused."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


# The scope extension under which the WebSocket protocol hands the application itself:
# ``write_frame``, ``writable`` and ``receive_frame`` (gateway/web/sockets.py wire_of).
WIRE = "gateway.wire"


class _ClosesLingering:
    """A transport as an HTTP response cycle sees it: the same, but its ``close`` is the
    protocol's lingering close (``LINGER_S``)."""

    __slots__ = ("_transport", "close")

    def __init__(self, transport: asyncio.Transport, close: Callable[[], None]) -> None:
        self._transport = transport
        self.close = close

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


def _response(status: bytes, text: bytes) -> bytes:
    """An answer the transport gives itself, before (or instead of) the application's:
    with the header every response carries (docs/security.md, gateway/web/guard.py)."""
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"x-content-type-options: nosniff\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text
    )


class _HandshakeProtocol(ServerProtocol):
    """websockets' server side, whose refusals of a handshake carry the header every
    response does: websockets' own (a handshake it will not accept: 400, 405, 426...)
    and uvicorn's (403, the application closing before it accepts; 500), all made by
    ``reject``. uvicorn makes the ``ServerProtocol``; :class:`GuardedWebSocket` gives it
    this class, which adds no state (idle sockets' memory)."""

    def reject(self, status: StatusLike, text: str) -> Response:
        response = super().reject(status, text)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def protocols(settings: Settings) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """The HTTP and WebSocket protocol classes for one server, sharing one :class:`Guard`."""
    guard = Guard(settings)
    # A tick well under the interval and the timeout: a ping or a deadline a tick late
    # at most (a second at the defaults' 20 s).
    keepalive = Keepalive(min(1.0, settings.ping_interval / 4, settings.ping_timeout / 4))

    class GuardedWebSocket(WebSocketsSansIOProtocol):
        # the latest ping's pong while writes are paused (an instance's only then: idle
        # sockets' memory)
        _pong: bytes | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.conn.__class__ = _HandshakeProtocol
            self.queue = Inbox()  # type: ignore[assignment]
            self.writable = Writable()  # type: ignore[assignment]
            self._writes = _WriteTimeout(self.loop, settings.write_timeout)
            self._corked: list[bytes] | None = None  # frames to write at this turn's end
            self._corked_bytes = 0

        # uvicorn's keepalive, each step in the shared wheel instead of a timer of its own
        def schedule_ping(self) -> None:
            assert self.ping_interval is not None
            delay = max(0.0, self.ping_interval - self.last_ping_rtt)
            self.ping_timer = keepalive.at(  # type: ignore[assignment]
                self.loop, self.loop.time() + delay, self.send_keepalive_ping
            )

        def send_keepalive_ping(self) -> None:
            # uvicorn's, but the ping frame of an open socket is written as bytes (a
            # server's frames are not masked) rather than built by websockets
            self.ping_timer = None
            if self.close_sent or self.transport.is_closing():
                return
            payload = self.pending_ping_payload = struct.pack("!I", random.getrandbits(32))
            self.ping_sent_at = self.loop.time()
            if self.conn.state is State.OPEN:
                self.transport.write(b"\x89\x04" + payload)
            else:
                self.conn.send_ping(payload)
                self.transport.write(b"".join(self.conn.data_to_send()))
            if self.ping_timeout is not None:
                self.pong_timer = keepalive.at(  # type: ignore[assignment]
                    self.loop, self.ping_sent_at + self.ping_timeout, self.keepalive_timeout
                )
            else:
                self.schedule_ping()

        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if scope is not None:  # the handshake goes on to the application
                scope["extensions"][WIRE] = self

        def write_frame(self, frame: bytes) -> bool:
            """Write a frame built by :func:`text_frame` straight to the transport; False
            once the socket takes no more frames (closing or gone). The caller waits on
            ``writable`` first. The frames written to one socket in one turn of the event
            loop go out in one ``transport.write`` at its end (one system call, which on
            loopback costs more than the Python around it), or at once past
            ``CORK_BYTES``."""
            if self.disconnected or self.conn.state is not State.OPEN:
                return False
            corked = self._corked
            if corked is None:
                self._corked = [frame]
                self._corked_bytes = len(frame)
                self.loop.call_soon(self.uncork)
            else:
                corked.append(frame)
                self._corked_bytes += len(frame)
            if self._corked_bytes > CORK_BYTES:
                self.uncork()  # the transport's high-water mark sees them now
            return True

        def uncork(self) -> None:
            corked, self._corked = self._corked, None
            if not corked or self.disconnected or self.conn.state is not State.OPEN:
                return  # the peer is closing or gone: what it would not read
            self.transport.write(corked[0] if len(corked) == 1 else b"".join(corked))

        async def send(self, message: Any) -> None:
            # An ASGI send (a close, a frame of the opening) follows what is corked.
            if self._corked:
                self.uncork()
            await super().send(message)

        def shutdown(self) -> None:
            if self._corked:
                self.uncork()  # before the 1012 close frame
            super().shutdown()

        def data_received(self, data: bytes) -> None:
            # What clients send nearly always: whole masked text frames. Taken here
            # (about 1 µs a frame) instead of through websockets' generator-based parser
            # and uvicorn's events (5 to 9), only while that parser waits at a frame's
            # start; the first byte that is not such a frame goes to it, with everything
            # after, and it takes over from there (docs/security.md#frames-in).
            # Nothing kept per socket for it (idle sockets' memory): asked each time.
            conn = self.conn
            if conn.state is State.OPEN and not self.close_sent and _at_frame_start(conn):
                data = self._text_frames(data)
                if not data:
                    return
            # uvicorn's, but the frames the parser finished before a bad one are handled
            # before the close, as the fast path's are: what is handled does not depend
            # on where TCP cut the stream (uvicorn drops them)
            conn.receive_data(data)
            self.handle_events()
            if conn.handshake_exc is not None and not self.handshake_complete:
                # websockets refused the handshake while parsing it (a header line over
                # its 8 KiB, under the server's limit): its answer waits in the protocol,
                # which uvicorn never sends, and the connection was held open for good
                self.handshake_complete = self.close_sent = True
                self.transport.write(b"".join(conn.data_to_send()))
                self.transport.close()
                return
            if conn.parser_exc is not None:
                self.handle_parser_exception()

        def _text_frames(self, data: bytes) -> bytes:
            """Hand the application the whole, unfragmented, masked text frames at the
            start of ``data`` (the payload under the frame limit, no reserved bit: what
            websockets would accept and pass on unchanged); what is left, from the first
            byte that is not one of them."""
            at, end = 0, len(data)
            limit = self.conn.max_message_size or end  # None: no limit
            fragment = self.conn.max_fragment_size
            if fragment is not None and fragment < limit:
                limit = fragment
            while end - at >= 6 and data[at] == 0x81:  # FIN, no RSV bit, text
                n = data[at + 1] ^ 0x80  # the length, if the mask bit is set; else >= 128
                head = 6
                if n > 125:
                    if n != 126 or end - at < 8:
                        break  # unmasked (a protocol error), 64-bit length, or partial
                    n = data[at + 2] << 8 | data[at + 3]
                    head = 8
                start = at + head
                if start + n > end or n > limit:
                    break  # not all here yet, or too big: websockets says so (1009)
                self.curr_msg_data_type = "text"
                self.frames = [apply_mask(data[start : start + n], data[start - 4 : start])]
                at = start + n
                self.send_receive_event_to_app()
                if self.close_sent:
                    break  # invalid UTF-8 (closed 1007): the rest is discarded there
            return data[at:] if at else data

        def send_receive_event_to_app(self) -> None:
            # uvicorn's, minus the ASGI message (made only for Starlette's receive,
            # below) and with reading paused only once INBOX_FRAMES wait, not after
            # every frame.
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            self.frames = []
            if self.close_sent:
                return
            item: str | bytes = data
            if self.curr_msg_data_type == "text":
                try:
                    item = data.decode()
                except UnicodeDecodeError:
                    self.logger.exception("Invalid UTF-8 sequence received from client.")
                    self.conn.send_close(1007)
                    self.handle_parser_exception()
                    return
            inbox: Inbox = self.queue  # type: ignore[assignment]
            inbox.put_nowait(item)
            if len(inbox) >= INBOX_FRAMES and not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()

        async def receive_frame(self) -> str | bytes | dict[str, Any]:
            """The next frame's text (or bytes, for a binary frame), or the ASGI event
            that ends the socket (``websocket.disconnect``): the application's read loop,
            without an ASGI message per frame."""
            inbox: Inbox = self.queue  # type: ignore[assignment]
            item = await inbox.get()
            if self.read_paused and len(inbox) < INBOX_FRAMES:
                self.read_paused = False
                self.transport.resume_reading()
            return item  # type: ignore[no-any-return]

        async def receive(self) -> Any:
            item = await self.receive_frame()
            if isinstance(item, str):
                return {"type": "websocket.receive", "text": item}
            if isinstance(item, bytes):
                return {"type": "websocket.receive", "bytes": item}
            return item

        def start_keepalive(self) -> None:
            # Called once, when the handshake's response has been written: the parsed
            # request and response (headers and all) are not read again. The request's
            # headers are emptied in place: websockets' parser keeps the request.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]
            super().start_keepalive()

        def connection_lost(self, exc: Exception | None) -> None:
            self._writes.resumed()
            guard.release(self.transport)
            super().connection_lost(exc)
            # The scope's way to this protocol made a cycle (protocol, scope, protocol)
            # that only the garbage collector freed: the application reads on through
            # the wire it holds already, or through ASGI's receive (the disconnect).
            # No scope: the handshake never parsed (handle_connect).
            scope = getattr(self, "scope", None)
            if scope is not None:
                scope["extensions"].pop(WIRE, None)

        def handle_ping(self) -> None:
            # uvicorn writes every pong, even to a peer that reads nothing: pings
            # streamed at such a socket grew its buffer without bound (20 MiB/s, before
            # any hello) until the write timeout. While writes are paused only the
            # latest ping's pong is kept, written when they resume (RFC 6455 5.5.3).
            output = self.conn.data_to_send()
            if self.writable.is_set() or self.conn.state is not State.OPEN:
                self.transport.write(b"".join(output))
            elif output:
                self._pong = output[-1]

        def pause_writing(self) -> None:
            super().pause_writing()
            self._writes.paused(self.transport)

        def resume_writing(self) -> None:
            self._writes.resumed()
            super().resume_writing()
            pong = self._pong
            if pong is not None:
                self._pong = None
                if self.conn.state is State.OPEN:
                    self.transport.write(pong)

    class GuardedHttp(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._writes = _WriteTimeout(self.loop, settings.write_timeout)
            self._deadline: asyncio.TimerHandle | None = None
            self._head_bytes = 0
            self._header_count = 0
            self._in_head = True
            self._body_bytes = 0
            self._body_start = 0.0
            self._refused = False  # answered (408, 431) or turned away by the guard
            self._uncounted = False  # turned away before it was counted
            self._linger: asyncio.TimerHandle | None = None  # closing, reading to drop
            self._dropped = 0  # bytes read and dropped while closing

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not guard.admit(transport):
                self._refused = self._uncounted = True
                transport.abort()
                return
            self._start_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_deadline()
            if self._linger is not None:
                self._linger.cancel()
            self._writes.resumed()
            if not self._uncounted:
                guard.release(self.transport)
            super().connection_lost(exc)
            # The cycle's transport closes through this protocol (_ClosesLingering): a
            # cycle, protocol to cycle and back, that only the garbage collector freed.
            self.cycle = None  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            if self._refused:
                if self._linger is not None:
                    self._dropped += len(data)
                    if self._dropped > LINGER_BYTES:
                        self.transport.close()
                return
            if self._deadline is None:
                # The first byte of another request on a kept-alive connection (the
                # deadline stops when a request is complete).
                self._start_deadline()
            if self._in_head:
                end = data.find(b"\r\n\r\n")  # the body that may follow is not the head's
                self._head_bytes += len(data) if end < 0 else end
                if self._head_bytes > settings.max_header_bytes:
                    self._refuse(b"431 Request Header Fields Too Large", b"headers too large")
                    return
            super().data_received(data)

        def on_message_begin(self) -> None:
            self._in_head = True
            self._head_bytes = 0
            self._header_count = 0
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > settings.max_headers:
                self._refuse(b"431 Request Header Fields Too Large", b"too many headers")
                raise _Refused  # stops the parser (uvicorn then calls send_400_response)
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            # httptools refused the request (a malformed head, or _Refused above): the
            # answer is this module's, as the 408s and 431s are, rather than uvicorn's
            # (which lacks the nosniff header), and its close lingers as theirs do.
            self._refuse(b"400 Bad Request", msg.encode("ascii", "replace"))

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._body_bytes = 0
            self._body_start = self.loop.time()
            if self._deadline is not None:
                self._start_deadline()  # the body's own time, from now
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:
                # a response that ends the connection (a refusal, an error) lingers
                cycle.transport = _ClosesLingering(self.transport, self._close_lingering)  # type: ignore[assignment]

        def on_body(self, body: bytes) -> None:
            # A body that keeps flowing earns time: one second per minimum-rate's bytes.
            self._body_bytes += len(body)
            earned = self._body_bytes / settings.min_body_bytes_per_second
            due = self._body_start + settings.request_timeout + earned
            if self._deadline is not None and due - self._deadline.when() >= 1.0:
                self._deadline.cancel()
                self._deadline = self.loop.call_at(due, self._too_slow)
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._stop_deadline()
            super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            # The handshake is complete: from here the WebSocket protocol (and the
            # application's hello timeout) takes over.
            self._stop_deadline()
            super().handle_websocket_upgrade()
            # This protocol is done with (the transport is the WebSocket protocol's now):
            # its parser calls back into it, a cycle only the garbage collector freed.
            self.parser = None  # type: ignore[assignment]

        def pause_writing(self) -> None:
            super().pause_writing()
            self._writes.paused(self.transport)

        def resume_writing(self) -> None:
            self._writes.resumed()
            super().resume_writing()

        def _start_deadline(self) -> None:
            self._stop_deadline()
            self._deadline = self.loop.call_later(settings.request_timeout, self._too_slow)

        def _stop_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            self._refuse(b"408 Request Timeout", b"request timeout")

        def shutdown(self) -> None:
            if self._linger is not None:
                self.transport.close()  # the server stops: no more lingering
                return
            super().shutdown()

        def _close_lingering(self) -> None:
            """Close after the response written: a FIN now, the socket once the client
            closes its side, sends LINGER_BYTES more or LINGER_S pass; what it sends
            meanwhile is read and dropped, never parsed."""
            transport = self.transport
            if self._linger is not None or transport.is_closing():
                return
            self._stop_deadline()
            self._refused = True
            if not transport.can_write_eof():
                transport.close()
                return
            transport.write_eof()
            self._linger = self.loop.call_later(LINGER_S, transport.close)
            if self.flow is not None:
                self.flow.resume_reading()  # read on, if the body's flow had paused it

        def _refuse(self, status: bytes, text: bytes) -> None:
            self._stop_deadline()
            if self._refused or self.transport.is_closing():
                return
            self._refused = True
            self.transport.write(_response(status, text))
            self._close_lingering()
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()

    return GuardedHttp, GuardedWebSocket
