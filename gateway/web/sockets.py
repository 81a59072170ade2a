"""What both WebSocket endpoints share: the hello handshake, the read loop, and turning
errors into error frames or close codes.

A request that fails gets an ``error`` frame and the socket stays open; only failures
of the session itself (no valid hello, bad token, wrong Origin, a binary or oversized
frame) close it, with the error's close code (gateway/errors.py). The process never
goes down because of what a client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway import metrics
from gateway import protocol as p
from gateway.errors import (
    BinaryFrame,
    FrameTooLarge,
    GatewayError,
    ProtocolError,
    RateLimited,
    UnsupportedVersion,
)
from gateway.settings import Settings
from gateway.web.context import web_of
from gateway.web.errors import close_reason, error_frame
from gateway.web.hub import Connection, Wire
from gateway.web.lanes import Lanes
from gateway.web.limits import FrameLimit
from gateway.web.transport import WIRE

log = logging.getLogger("gateway.sockets")

HELLO_TIMEOUT = 10.0
_SENDS = frozenset({"Send", "AgentSend"})


async def send_frame(ws: WebSocket, frame: p.Frame) -> None:
    await ws.send_text(p.encode(frame).decode())


def wire_of(ws: WebSocket) -> Any:
    """The socket's protocol when it is the gateway's own (gateway/web/transport.py):
    frames are written to it and read from it below ASGI. None on another server."""
    return ws.scope.get("extensions", {}).get(WIRE)


def connection(ws: WebSocket, topic: str, settings: Settings) -> Connection:
    """The hub's end of this socket, for ``topic``."""
    wire: Wire | None = wire_of(ws)
    return Connection(
        topic, ws.send_text, ws.close, settings.send_queue_size, settings.send_queue_bytes, wire
    )


async def receive_text(ws: WebSocket, wire: Any) -> str:
    """The next text frame; BinaryFrame for a binary frame; WebSocketDisconnect when
    the peer is gone. ``wire``: ``wire_of(ws)``, looked up once per socket (per frame it
    was 1.5 % of a node's samples in the relay's profile)."""
    if wire is None:
        message = await ws.receive()
    else:
        item = await wire.receive_frame()
        if type(item) is str:
            return item
        if type(item) is bytes:
            raise BinaryFrame("binary frames are not part of the protocol")
        message = item
        if message["type"] == "websocket.disconnect":
            # What Starlette's receive would have noted (close() reads it).
            ws.client_state = WebSocketState.DISCONNECTED
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise BinaryFrame("binary frames are not part of the protocol")
    return str(text)


async def read_hello(ws: WebSocket, decode: Callable[[str, int], Any], limit: int) -> p.Hello:
    """The first frame, which must be a hello of this protocol version; a GatewayError
    (whose close code ends the session) otherwise."""
    limits = web_of(ws).limits
    await limits.admit_connection(limits.ip(ws))
    try:
        # not wait_for: its task, kept by the frame in the traceback of the disconnect
        # it raises, held that exception in a cycle (a socket gone before its hello)
        async with asyncio.timeout(HELLO_TIMEOUT):
            text = await receive_text(ws, wire_of(ws))
    except TimeoutError:
        raise ProtocolError("no hello") from None
    try:
        frame = decode(text, limit)
    except ProtocolError as exc:
        raise ProtocolError(f"first frame must be hello: {exc.message}"[:120]) from None
    if not isinstance(frame, p.Hello):
        raise ProtocolError("first frame must be hello")
    if frame.v != p.VERSION:
        raise UnsupportedVersion(f"this server speaks version {p.VERSION}")
    return frame


async def run_loop(
    ws: WebSocket,
    conn: Connection,
    decode: Callable[[str, int], Any],
    limit: int,
    handle: Callable[[Any], Awaitable[None]],
    lane: Callable[[Any], str | None] | None = None,
) -> None:
    """Read frames until the peer goes; each frame's failure is its own error frame.
    Frames over the per-connection rate limit are refused unprocessed (gateway/web/limits.py).
    ``lane``: frames it names a lane for go on beside other lanes' (gateway/web/lanes.py);
    without it, one frame at a time."""
    await _read_frames(ws, conn, decode, limit, handle, web_of(ws).limits.frame_limit(), lane)


async def _read_frames(
    ws: WebSocket,
    conn: Connection,
    decode: Callable[[str, int], Any],
    limit: int,
    handle: Callable[[Any], Awaitable[None]],
    frames: FrameLimit,
    lane: Callable[[Any], str | None] | None = None,
) -> None:
    # Only a socket that names lanes (an agent's) keeps them: a visitor's frames go one
    # at a time, with nothing more held per idle socket.
    lanes = Lanes() if lane is not None else None
    wire = wire_of(ws)
    try:
        while not conn.closed:
            try:
                text = await receive_text(ws, wire)
            except ProtocolError as exc:
                conn.abort(*close_reason(exc))
                return
            if not frames.allow():
                if frames.exhausted:
                    conn.abort(*close_reason(RateLimited("too many frames")))
                    return
                refused = RateLimited("too many frames; slow down")
                conn.send(p.encode(error_frame(refused, ref_in(text))))
                continue
            if lane is None or lanes is None:
                await _handled(conn, text, None, decode, limit, handle)
                continue
            frame = None
            key = None
            # a frame that does not decode goes alone: _handled answers it
            with contextlib.suppress(Exception):
                frame = decode(text, limit)
                key = lane(frame)
            await lanes.run(key, partial(_handled, conn, text, frame, decode, limit, handle))
    except asyncio.CancelledError:
        if lanes is not None:
            lanes.cancel()
        raise
    finally:
        if lanes is not None:
            # a peer gone: what it sent before is still stored, told and answered
            await lanes.drain()


async def _handled(
    conn: Connection,
    text: str,
    frame: Any,
    decode: Callable[[str, int], Any],
    limit: int,
    handle: Callable[[Any], Awaitable[None]],
) -> None:
    """One frame (decoded here unless ``frame`` is given) handled, its failure answered."""
    started = time.perf_counter()
    try:
        if frame is None:
            frame = decode(text, limit)
        await handle(frame)
        if type(frame).__name__ in _SENDS:
            metrics.ACK_LATENCY.observe(time.perf_counter() - started)
    except FrameTooLarge as exc:
        conn.abort(*close_reason(exc))
    except GatewayError as exc:
        metrics.count_store_error(exc)
        ref = getattr_ref(frame) if frame is not None else ref_in(text)
        conn.send(p.encode(error_frame(exc, ref)))
    except (WebSocketDisconnect, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("unexpected error handling a frame")
        conn.send(p.encode(p.Error(code="internal", message="internal error", retryable=True)))


def getattr_ref(frame: object) -> str:
    ref = getattr(frame, "ref", "") or getattr(frame, "client_msg_id", "")
    return str(ref)


class _Named(msgspec.Struct):
    """What a frame that did not decode (a field out of range, a note too long) may
    still say of itself: the request its error answers."""

    ref: str = ""
    client_msg_id: str = ""


_NAMED = msgspec.json.Decoder(_Named)


def ref_in(text: str) -> str:
    """The ``ref`` (or ``client_msg_id``) of a frame the protocol refused, if it has a
    readable one: the client then knows which of its requests failed."""
    try:
        return getattr_ref(_NAMED.decode(text))
    except Exception:  # not JSON, the ref no string, nested past msgspec's depth, ...
        return ""  # best effort, on a path that must not fail: no ref


async def close(ws: WebSocket, code: int, reason: str) -> None:
    if (
        ws.application_state != WebSocketState.DISCONNECTED
        and ws.client_state != WebSocketState.DISCONNECTED
    ):
        # the client may be gone by now (Starlette says so with WebSocketDisconnect):
        # nothing is left to close
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await ws.close(code, reason[:120])


def forget_handshake(ws: WebSocket) -> None:
    """Let go of the handshake's request headers (cookies, user agent, ...) once the
    session is open: a socket that idles for hours does not read them again, and there
    are thousands of them (docs/benchmarks.md#idle-connections). Reading ``ws.headers``
    afterwards finds none."""
    ws.scope["headers"] = []
    ws.__dict__.pop("_headers", None)


class Opened:
    """What a socket's session opened, for its end to close: its connection once it has
    one, and whose socket it is (a visitor's or an agent's id). The sessions are
    functions given this, not closures: a closure's captured names were objects per
    socket that every young collection walked (docs/deploy.md)."""

    __slots__ = ("conn", "peer_id")

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.peer_id = ""


async def guarded(ws: WebSocket, session: Awaitable[None]) -> None:
    """Run one socket's session: a GatewayError ends it with its close code."""
    try:
        await session
    except GatewayError as exc:
        await close(ws, *close_reason(exc))
    except WebSocketDisconnect:
        pass
