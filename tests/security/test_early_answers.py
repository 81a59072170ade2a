"""The answers the transport gives before the application runs (gateway/web/transport.py:
431, 408, httptools' 400, and the WebSocket handshakes it refuses) carry
``X-Content-Type-Options: nosniff``, as every response does (docs/security.md). Each is provoked over a raw socket, against a real
gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from devkit.services import GatewayProcess

NodeFactory = Callable[..., GatewayProcess]
BOUND = 60.0  # seconds: generous, for a loaded 2-core machine
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
UPGRADE = (
    b"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


async def _answer(node: GatewayProcess, request: bytes, trickle: bytes = b"") -> bytes:
    """What the gateway answers ``request`` (then ``trickle``, a byte every half second
    until the answer comes), read to the server's end of the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(request)
            await writer.drain()
        answer = asyncio.create_task(reader.read())
        async with asyncio.timeout(BOUND):
            for byte in trickle:
                if answer.done():
                    break
                with contextlib.suppress(ConnectionError):
                    writer.write(bytes((byte,)))
                    await writer.drain()
                await asyncio.wait([answer], timeout=0.5)
            return await answer
    finally:
        writer.close()


def _head(response: bytes) -> tuple[int, dict[str, str]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1]) if head[0] else 0
    fields = (line.split(":", 1) for line in head[1:])
    return status, {name.strip().lower(): value.strip() for name, value in fields}


async def test_the_transports_own_answers_say_nosniff(node_factory: NodeFactory) -> None:
    node = node_factory(
        {"GATEWAY_REQUEST_TIMEOUT": "2", "GATEWAY_MIN_BODY_BYTES_PER_SECOND": "1024"}
    )
    cases = {
        "a 17 KB header": (431, HEAD + b"X-Big: " + b"a" * 17_000 + b"\r\n\r\n", b""),
        "101 headers": (
            431,
            HEAD + b"".join(b"X-H%d: b\r\n" % i for i in range(101)) + b"\r\n",
            b"",
        ),
        "a stalled head": (408, HEAD + b"X-Slow: 1", b""),
        "a trickled body": (
            408,
            b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n",
            b" " * 100,  # 2 bytes a second, under the minimum rate
        ),
        "a garbage request line": (400, b"\x00GARBAGE\r\n\r\n", b""),
        # handshakes the WebSocket protocol refuses, before the application has a socket
        "a POST handshake": (405, UPGRADE.replace(b"GET", b"POST", 1) + b"\r\n", b""),
        "a handshake without a valid key": (
            400,
            UPGRADE.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short") + b"\r\n",
            b"",
        ),
        # a line over websockets' 8 KiB and under the server's 16: it was never answered,
        # the connection held open for good
        "a handshake with a 10 KB header line": (
            431,
            UPGRADE + b"X-Big: " + b"a" * 10_000 + b"\r\n\r\n",
            b"",
        ),
    }
    statuses, sniffable = {}, []
    for case, (_, request, trickle) in cases.items():
        response = await _answer(node, request, trickle)
        statuses[case], headers = _head(response)
        if headers.get("x-content-type-options") != "nosniff":
            sniffable.append((case, response[:300]))
    assert statuses == {case: status for case, (status, _, _) in cases.items()}
    assert sniffable == []
    assert node.alive()
