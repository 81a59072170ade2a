"""One client must not stall or exhaust the gateway (issue 11, items 1-4 and 11): login
floods, clients that never read, huge bodies, slowloris, oversized headers, IPv6 /64s.
Each test runs the attack against a real gateway and checks the documented answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devkit.services import GatewayProcess
from tests.security.conftest import visitor

NodeFactory = Callable[..., GatewayProcess]
ADMIN = ("admin@demo.test", "demo-admin")
BOUND = 60.0  # seconds: generous, for a loaded 2-core machine


async def _login(node: GatewayProcess, email: str, password: str, ip: str = "") -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    async with httpx.AsyncClient(timeout=BOUND) as http:
        return await http.post(
            node.base_url + "/api/login",
            json={"email": email, "password": password},
            headers=headers,
        )


async def _raw(node: GatewayProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", node.port)


async def _status(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), BOUND)
    return int(line.split()[1]) if line else 0


def _rss_peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


# -- 1. logins -----------------------------------------------------------------------------


async def test_logins_are_limited_per_address_and_per_account(node_factory: NodeFactory) -> None:
    node = node_factory(
        {
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
            "GATEWAY_LOGINS_PER_IP_PER_MINUTE": "5",
            "GATEWAY_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR": "3",
        }
    )
    # One address, many accounts: 5 answered, then 429 without a password check.
    answers = [(await _login(node, f"x{i}@demo.test", "wrong", "203.0.113.7")) for i in range(7)]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 2
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    # Another address is not affected.
    assert (await _login(node, *ADMIN, "203.0.113.8")).status_code == 200
    # One account, many addresses: after 3 failures even the right password waits.
    for i in range(3):
        assert (await _login(node, ADMIN[0], "wrong", f"198.51.100.{i}")).status_code == 401
    locked = await _login(node, *ADMIN, "198.51.100.9")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "rate_limited"
    # Other accounts still log in from those addresses.
    assert (await _login(node, "agent@demo.test", "demo-agent", "198.51.100.1")).status_code == 200


async def test_a_password_an_admin_sets_lifts_the_lockout_at_once(
    node_factory: NodeFactory,
) -> None:
    """One node without Redis (the failures in its memory): an admin's new password for
    a locked-out agent lets the agent in at once, not after the hour."""
    node = node_factory(
        {
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
            "GATEWAY_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR": "3",
        }
    )
    admin = (await _login(node, *ADMIN, "203.0.113.1")).json()["token"]
    for i in range(3):
        assert (
            await _login(node, "agent@demo.test", "wrong", f"198.51.100.{i}")
        ).status_code == 401
    locked = await _login(node, "agent@demo.test", "demo-agent", "198.51.100.9")
    assert locked.status_code == 429
    async with httpx.AsyncClient(
        base_url=node.base_url, headers={"Authorization": f"Bearer {admin}"}, timeout=BOUND
    ) as http:
        [agent_id] = [
            a["id"]
            for a in (await http.get("/api/admin/agents")).json()
            if a["email"] == "agent@demo.test"
        ]
        r = await http.patch(f"/api/admin/agents/{agent_id}", json={"password": "a new one 1"})
        assert r.status_code == 200, r.text
    assert (await _login(node, "Agent@Demo.test", "a new one 1", "198.51.100.9")).status_code == 200


async def test_password_checks_run_off_the_event_loop(node_factory: NodeFactory) -> None:
    """Thirty logins at once (Argon2, ~0.2 s of CPU each), then fifteen /healthz in a row
    once the first login is answered: they all come back while at most seven logins do.
    With the check on the event loop, each /healthz waited for about one check (fifteen
    in all). One client, so that all thirty are sent at once (a client each would space
    them by its own start-up). Thirty stay under the 32 checks that may wait."""
    node = node_factory()
    done: list[int] = []
    first = asyncio.Event()
    async with httpx.AsyncClient(
        timeout=BOUND * 4, limits=httpx.Limits(max_connections=50)
    ) as http:

        async def login(i: int) -> None:
            r = await http.post(
                node.base_url + "/api/login",
                json={"email": f"flood{i}@demo.test", "password": "wrong"},
            )
            assert r.status_code == 401
            done.append(i)
            first.set()

        logins = [asyncio.create_task(login(i)) for i in range(30)]
        await asyncio.wait_for(first.wait(), BOUND * 4)
        before = len(done)
        for _ in range(15):
            assert (await http.get(node.base_url + "/healthz")).status_code == 200
        between = len(done) - before
        await asyncio.gather(*logins)
    assert between <= 7, f"{between} logins were answered during fifteen /healthz"


# -- 2. clients that never read ------------------------------------------------------------


async def test_a_client_that_never_reads_is_dropped_and_its_memory_freed(
    node_factory: NodeFactory,
) -> None:
    node = node_factory({"GATEWAY_WRITE_TIMEOUT": "2", "GATEWAY_MAX_FRAME_BYTES": "65536"})
    v = visitor(node)
    await v.bootstrap()
    await v.connect()
    await v.start(name="Reader")
    for i in range(50):  # a full history page: 50 x 4000 two-byte characters, ~400 KB
        await v.say("é" * 4000, f"long-{i}")
    before = _rss_peak_mb(node.proc.pid)
    ws = await connect(
        node.ws_url + "/ws/visitor",
        origin=v.origin,  # type: ignore[arg-type]
        max_queue=1,
        max_size=None,
    )
    await ws.send(f'{{"type":"hello","v":1,"token":"{v.token}"}}')
    for _ in range(240):
        await ws.send('{"type":"history","limit":50}')
    # Never read until the server has given up; then read what the kernel kept.
    await asyncio.sleep(8)
    received = 0
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), BOUND)
            received += 1
    grown = _rss_peak_mb(node.proc.pid) - before
    assert received < 60, received  # not the 240 answers (~96 MB)
    assert grown < 40, f"the server's peak RSS grew {grown:.0f} MB"
    assert node.alive()


# -- 3. bodies ---------------------------------------------------------------------------------


async def test_an_oversized_body_is_refused_before_it_is_read(node_factory: NodeFactory) -> None:
    node = node_factory()
    for path in ("/widget/bootstrap", "/api/login", "/api/admin/queues"):
        reader, writer = await _raw(node)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * 1024 * 1024}\r\n\r\n{{".encode()
        )
        await writer.drain()
        assert await _status(reader) == 413, path  # answered before 300 MB were sent
        writer.close()


async def test_webhooks_and_uploads_take_their_own_limits(node_factory: NodeFactory) -> None:
    """Providers' webhooks (Meta documents payloads of up to 3 MB) and file uploads pass the
    public 64 KB limit, each up to its own, and are refused past it before being read."""
    node = node_factory()
    too_big = 300 * 1024 * 1024
    for path, size, status in (
        ("/webhooks/whatsapp/tp_nowhere", 2 * 1024 * 1024, 404),  # read, then no such touchpoint
        ("/webhooks/sms/tp_nowhere", 200 * 1024, 404),
        ("/webhooks/messenger/tp_nowhere", too_big, 413),
        ("/widget/attachments?name=a.png", 5 * 1024 * 1024, 401),  # no visitor token
        ("/widget/attachments?name=a.png", too_big, 413),
        ("/api/conversations/c_x/attachments?name=a.png", 5 * 1024 * 1024, 401),
        ("/api/conversations/c_x/attachments?name=a.png", too_big, 413),
    ):
        reader, writer = await _raw(node)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        if status != 413:
            writer.write(b" " * size)  # the whole body, as a provider or browser sends it
        await writer.drain()
        assert await _status(reader) == status, path
        writer.close()


async def test_a_streamed_body_is_cut_at_the_limit(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_MAX_PUBLIC_BODY_BYTES": "65536"})
    reader, writer = await _raw(node)
    writer.write(
        b"POST /widget/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://x.test\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 16384
    sent = 0
    answer = asyncio.create_task(_status(reader))
    with contextlib.suppress(ConnectionError):
        while sent < 10 * 1024 * 1024 and not answer.done():
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0.01)
    # the 413 arrives: the server half-closes and drops what is still sent (LINGER_S)
    # rather than closing on unread bytes, whose reset could have lost the answer
    assert await answer == 413
    assert sent < 1024 * 1024, sent  # refused near the limit, not after the whole body
    writer.close()


async def test_a_refused_connection_lingers_then_closes(node_factory: NodeFactory) -> None:
    """After a 413 the server sends its FIN at once and reads on for a while: the client
    may go on sending (no reset) and reads the answer whole, then the end."""
    node = node_factory({"GATEWAY_MAX_PUBLIC_BODY_BYTES": "1024"})
    reader, writer = await _raw(node)
    writer.write(
        b"POST /widget/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://x.test\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"800\r\n"
        + b"x" * 2048
        + b"\r\n"
    )
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), BOUND)  # to the server's FIN
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert b'"too_large"' in response
    # the server still reads (and drops): more of the body meets no reset
    for _ in range(20):
        writer.write(b"800\r\n" + b"y" * 2048 + b"\r\n")
        await writer.drain()
    started = time.monotonic()
    await asyncio.sleep(0.2)
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    # and then closes by itself: a write fails once the socket is gone
    with pytest.raises(ConnectionError):
        while time.monotonic() - started < BOUND:
            writer.write(b"x" * 1024)
            await writer.drain()
            await asyncio.sleep(0.05)
    writer.close()
    assert node.alive()


async def test_an_upgrade_that_is_no_websocket_handshake_is_refused_cleanly(
    node: GatewayProcess,
) -> None:
    """A POST asking for the WebSocket upgrade reaches the WebSocket protocol, whose
    parser refuses it (405) before a session exists: its connection ends without a
    scope, and nothing may assume one (a socket's end once raised there)."""
    before = len(node.output())
    reader, writer = await _raw(node)
    writer.write(
        b"POST /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
    )
    await writer.drain()
    assert await _status(reader) == 405
    await asyncio.wait_for(reader.read(), BOUND)  # to the server's end of it
    writer.close()
    # a later request answered: the server's loop has run that connection's end since
    async with httpx.AsyncClient(timeout=BOUND) as http:
        assert (await http.get(node.base_url + "/healthz")).status_code == 200
    log = node.output()[before:]
    assert "Traceback" not in log and "Error" not in log, log[-3000:]
    assert node.alive()


async def test_a_deeply_nested_admin_body_is_a_422(node: GatewayProcess) -> None:
    token = (await _login(node, *ADMIN)).json()["token"]
    async with httpx.AsyncClient(timeout=BOUND) as http:
        r = await http.post(
            node.base_url + "/api/admin/queues",
            content=b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    assert r.status_code == 422 and "nested" in r.json()["error"]["message"]
    assert "RecursionError" not in node.output()


async def test_bytes_no_store_can_hold_are_refused_clearly(node: GatewayProcess) -> None:
    """Text that is not UTF-8 inside a JSON string, a NUL character (PostgreSQL's text
    refuses it: a 500 there, stored as sent on SQLite), a seq past 2^53 - 1 (an overflow
    in the store): 422 for a body or a query, 404 for an id in the path, before any
    route reads them; never a 500, and the same on either store."""
    token = (await _login(node, *ADMIN)).json()["token"]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    before = len(node.output())
    posts = [
        ("/api/login", b'{"email": "admin@demo.test", "password": "\xff"}', {}),
        ("/api/login", b'{"email": "admin@demo.test\\u0000", "password": "x"}', {}),
        ("/widget/bootstrap", b'{"touchpoint_id": "tp_demo_127\xff"}', {}),
        ("/api/admin/queues", b'{"name": "Sales\\u0000"}', auth),
        ("/api/admin/queues", b'{"name": "Sales", "x\\u0000": 1}', auth),
    ]
    async with httpx.AsyncClient(timeout=BOUND) as http:
        for path, body, headers in posts:
            r = await http.post(node.base_url + path, content=body, headers=headers)
            assert r.status_code == 422, (path, body, r.status_code, r.text)
            assert r.json()["error"]["code"] in ("invalid", "invalid_request"), r.text
        r = await http.get(
            node.base_url + "/api/admin/conversations/cv_x/messages",
            params={"before_seq": str(2**63)},
            headers=auth,
        )
        assert r.status_code == 422 and "before_seq" in r.text, r.text
        queues = await http.get(node.base_url + "/api/admin/queues", headers=auth)
        assert queues.status_code == 200 and "Sales" not in queues.text
    for target, status in (
        ("/api/console/history?q=a%00", 422),
        ("/api/console/contacts?q=%00", 422),
        ("/api/admin/contacts/ct%00x", 404),
        ("/api/console/history/cv%00x", 404),
    ):
        reader, writer = await _raw(node)
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
            "\r\n\r\n".encode()
        )
        assert await _status(reader) == status, target
        writer.close()
    assert "Traceback" not in node.output()[before:]
    assert node.alive()


# -- 4. slowloris --------------------------------------------------------------------------------


async def test_unfinished_requests_and_handshakes_time_out(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_REQUEST_TIMEOUT": "2"})
    partial = [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1",  # headers never end
        b"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",  # handshake
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{",  # body
        b"",  # a connection that never sends a byte
    ]
    conns = [await _raw(node) for _ in partial]
    for (_, writer), data in zip(conns, partial, strict=True):
        writer.write(data)
        await writer.drain()
    for reader, writer in conns:
        status = await _status(reader)
        assert status in (408, 0), status  # 408, or closed (the idle one)
        assert await asyncio.wait_for(reader.read(), BOUND) is not None
        assert reader.at_eof()
        writer.close()
    node.stop()
    # the body cut short is the client's doing, not the app's error: no ASGI traceback
    assert "Exception in ASGI application" not in node.output(), node.output()[-3000:]


async def test_a_body_that_keeps_flowing_outlives_the_request_timeout(
    node_factory: NodeFactory,
) -> None:
    """A large upload on a slow link is not a slowloris: a body arriving faster than
    GATEWAY_MIN_BODY_BYTES_PER_SECOND earns time past GATEWAY_REQUEST_TIMEOUT, one
    trickling slower does not."""
    node = node_factory(
        {"GATEWAY_REQUEST_TIMEOUT": "2", "GATEWAY_MIN_BODY_BYTES_PER_SECOND": "1024"}
    )
    size = 60 * 1024
    head = (
        "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    reader, writer = await _raw(node)  # 4 KiB every 0.5 s: 8 KiB/s, for ~7 s
    writer.write(head)
    for _ in range(size // 4096):
        writer.write(b" " * 4096)
        await writer.drain()
        await asyncio.sleep(0.5)
    assert await _status(reader) in (400, 422)  # read whole, then refused: not JSON
    writer.close()
    reader, writer = await _raw(node)  # 100 bytes every 0.5 s: 200 B/s
    writer.write(head)
    answer = asyncio.create_task(_status(reader))
    with contextlib.suppress(ConnectionError):
        while not answer.done():
            writer.write(b" " * 100)
            await writer.drain()
            await asyncio.sleep(0.5)
    assert await answer in (408, 0)
    writer.close()


async def test_connections_per_address_are_capped(node_factory: NodeFactory) -> None:
    node = node_factory({"GATEWAY_MAX_CONNECTIONS_PER_IP": "5"})
    held = [await _raw(node) for _ in range(5)]
    for _, writer in held:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # trickling
        await writer.drain()
    reader, writer = await _raw(node)  # the sixth: closed at once, nothing answered
    assert await asyncio.wait_for(reader.read(), BOUND) == b""
    writer.close()
    for _, w in held:
        w.close()
        await w.wait_closed()
    # Once they are gone, the address is served again.
    for _ in range(50):
        with contextlib.suppress(httpx.TransportError):
            async with httpx.AsyncClient(timeout=BOUND) as http:
                if (await http.get(node.base_url + "/healthz")).status_code == 200:
                    break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the address was not served again")


# -- 11. headers, IPv6, widget configuration -------------------------------------------------------


async def test_oversized_and_too_many_headers_are_431(node_factory: NodeFactory) -> None:
    node = node_factory()
    big = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    many = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-H%d: b\r\n" % i for i in range(2000))
        + b"\r\n"
    )
    for request in (big, many):
        reader, writer = await _raw(node)
        with contextlib.suppress(ConnectionError):
            writer.write(request)
            await writer.drain()
        assert await _status(reader) == 431
        writer.close()
    assert node.alive()


async def test_per_address_limits_count_an_ipv6_64_as_one(node_factory: NodeFactory) -> None:
    node = node_factory(
        {"GATEWAY_TRUSTED_PROXIES": "127.0.0.1", "GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "2"}
    )
    v = visitor(node)

    async def bootstrap(ip: str) -> int:
        async with httpx.AsyncClient(timeout=BOUND) as http:
            r = await http.post(
                node.base_url + "/widget/bootstrap",
                json={"touchpoint_id": v.touchpoint_id, "page_url": v.page_url},
                headers={"Origin": v.origin, "X-Forwarded-For": ip},
            )
        return r.status_code

    assert await bootstrap("2001:db8:1:2::1") == 200
    assert await bootstrap("2001:db8:1:2:ffff::9") == 200
    assert await bootstrap("2001:db8:1:2::" + os.urandom(2).hex()) == 429  # same /64
    assert await bootstrap("2001:db8:1:3::1") == 200  # the next /64 is another client


async def test_the_widget_configuration_is_capped(node: GatewayProcess) -> None:
    token = (await _login(node, *ADMIN)).json()["token"]
    async with httpx.AsyncClient(timeout=BOUND) as http:
        r = await http.patch(
            node.base_url + "/api/admin/touchpoints/tp_demo_127",
            json={"widget": {"title": "x" * 900_000}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code in (413, 422), r.text
    async with httpx.AsyncClient(timeout=BOUND) as http:
        r = await http.patch(
            node.base_url + "/api/admin/touchpoints/tp_demo_127",
            json={"widget": {"title": "x" * 40_000}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "widget"
