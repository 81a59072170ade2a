"""The webhooks' sender (gateway/services/webhooks.py) against a real HTTP server on
loopback: what each answer comes to, the connection kept for the next event, and the
proxies read from the environment only where one is set (gateway/services/http_client.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time

import pytest

from gateway.services import http_client
from gateway.services.deliveries import Outcome
from gateway.services.webhooks import ANSWER_READ, WebhookSender

NOW = 1_700_000_000.0


class Server:
    """Answers every request with ``answer`` (raw bytes; None: never answers) and counts
    the connections it accepted. With ``one_per_connection`` it closes a kept-alive
    connection when a second request comes on it, unanswered: a receiver whose idle
    timeout meets the client's next request."""

    def __init__(self, answer: bytes | None, *, one_per_connection: bool = False) -> None:
        self.answer = answer
        self.one_per_connection = one_per_connection
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(
                    (int(x.split(b":", 1)[1]) for x in lines if x.startswith(b"content-length:")),
                    0,
                )
                self.requests.append((head, await reader.readexactly(length)))
                if self.one_per_connection and served:
                    return
                served += 1
                if self.answer is None:
                    await reader.read()  # never answers; until the client lets go
                    return
                writer.write(self.answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


async def post_twice(
    answer: bytes | None, timeout: float = 10.0, *, one_per_connection: bool = False
) -> tuple[list[Outcome], Server]:
    server = Server(answer, one_per_connection=one_per_connection)
    sender = WebhookSender(lambda: NOW, timeout=timeout)
    try:
        async with server as url:
            outcomes = [
                await sender.post(url, "s3cret", b'{"n":1}', event_id="evt_1", event_type="t")
                for _ in range(2)
            ]
    finally:
        await sender.close()
    return outcomes, server


async def test_an_answer_read_to_its_end_keeps_the_connection_for_the_next_event() -> None:
    outcomes, server = await post_twice(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nthanks")
    assert [o.sent for o in outcomes] == [True, True]
    assert server.connections == 1
    head, body = server.requests[0]
    assert body == b'{"n":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert f"gateway-signature: t=1700000000,v1={expected}".encode() in head.lower()
    assert b"gateway-event-id: evt_1" in head.lower()


async def test_a_kept_connection_the_receiver_closed_as_it_was_reused_is_no_attempt() -> None:
    outcomes, server = await post_twice(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", one_per_connection=True
    )
    # the second event met the closing connection, and went again on another at once
    assert [o.sent for o in outcomes] == [True, True]
    assert server.connections == 2 and len(server.requests) == 3


async def test_a_long_answer_is_cut_off_with_its_connection() -> None:
    body = b"x" * (ANSWER_READ * 4)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    outcomes, server = await post_twice(answer)
    assert [o.sent for o in outcomes] == [True, True]
    assert server.connections == 2  # not read to its end: the connection went with it


async def test_an_error_answer_is_retried_after_what_it_asks() -> None:
    outcomes, _ = await post_twice(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"
    )
    assert outcomes[0].sent is False and outcomes[0].retryable
    assert outcomes[0].reason == "the receiver answered HTTP 503"
    assert outcomes[0].retry_after == 7.0


async def test_a_receiver_that_never_answers_fails_the_attempt_at_the_timeout() -> None:
    started = time.monotonic()
    outcomes, _ = await post_twice(None, timeout=0.3)
    assert [o.reason for o in outcomes] == ["the receiver did not answer in time"] * 2
    assert all(o.retryable for o in outcomes)
    assert time.monotonic() - started < 5  # each at its 0.3 s, not at a default


async def test_a_receiver_that_is_down_cannot_be_reached() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    sender = WebhookSender(lambda: NOW)
    try:
        outcome = await sender.post(
            f"http://127.0.0.1:{port}/hooks", "s", b"{}", event_id="e", event_type="t"
        )
    finally:
        await sender.close()
    assert outcome.retryable and outcome.reason.startswith("the receiver cannot be reached (")


def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


async def test_proxies_are_read_from_the_environment_only_where_one_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_proxies(monkeypatch)
    plain = http_client.session(1.0)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    proxied = http_client.session(1.0)
    try:
        assert plain.trust_env is False  # no lookup on a thread for every request
        assert proxied.trust_env is True
    finally:
        await plain.close()
        await proxied.close()
