"""IMAP XOAUTH2 against a real Dovecot whose oauth2 passdb asks a token introspection
endpoint (RFC 7662, a small real HTTP server on loopback here, as the identity
provider's would be): the receiver logs in with a good token; a token the provider
refuses marks the connection lost ("Email provider connection lost"); a new token
through the admin API resumes, and the mail that came meanwhile is imported once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from devkit import services
from tests.channels.email.mail import SmtpServer, an_email, deliver, new_mailbox, settings_for
from tests.gateway.client import AgentClient
from tests.gateway.conftest import ADMIN, AGENT


class Introspection:
    """The identity provider's token introspection endpoint: ``tokens`` maps each active
    token to the login it is for; any other token is inactive."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []  # the tokens Dovecot asked about, in order
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(size).decode())
                token = form.get("token", [""])[0]
                outer.asked.append(token)
                user = outer.tokens.get(token)
                out: dict[str, Any] = {"active": False}
                if user is not None:
                    out = {"active": True, "username": user, "scope": "mail"}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def introspection() -> Iterator[Introspection]:
    server = Introspection()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def oauth_dovecot(introspection: Introspection) -> Iterator[services.Dovecot]:
    server = services.start_dovecot(oauth2_introspection_url=introspection.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def node() -> AsyncIterator[services.GatewayProcess]:
    gw = services.start_gateway({"GATEWAY_DEMO": "1"})
    try:
        yield gw
    finally:
        gw.stop()


async def _login(http: httpx.AsyncClient, who: tuple[str, str]) -> dict[str, str]:
    r = await http.post("/api/login", json={"email": who[0], "password": who[1]})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def _status_becomes(
    http: httpx.AsyncClient, headers: dict[str, str], tp_id: str, want: str
) -> dict[str, Any]:
    """The touchpoint's connection status once it is ``want`` (the admin API's view)."""
    status: dict[str, Any] = {}
    for _ in range(600):
        status = (await http.get(f"/api/admin/touchpoints/{tp_id}/email", headers=headers)).json()
        if status["status"] == want:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"status {status} after 60 s, expected {want}")


async def test_xoauth2_login_a_refused_token_and_reauthentication(
    node: services.GatewayProcess,
    oauth_dovecot: services.Dovecot,
    introspection: Introspection,
) -> None:
    address, _ = new_mailbox(oauth_dovecot)
    introspection.tokens["token-1"] = address
    smtp = SmtpServer()
    smtp.start()
    agent = AgentClient(node, *AGENT)
    await agent.login()
    await agent.connect()
    assert agent.sock
    try:
        async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
            admin = await _login(http, ADMIN)
            settings = settings_for(oauth_dovecot, smtp, address, auth="oauth2")
            del settings["password"]
            settings["oauth_token"] = "token-1"
            r = await http.post(
                "/api/admin/touchpoints",
                headers=admin,
                json={"name": "OAuth mail", "channel": "email", "direction": "both",
                      "routing_mode": "simplified", "queue_ids": ["q_support"],
                      "settings": settings},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            tp_id = r.json()["id"]
            r = await http.post(f"/api/admin/touchpoints/{tp_id}/activate", headers=admin)
            assert r.status_code == 200, r.text

            # a good token: Dovecot asked the provider about it and let the receiver in
            status = await _status_becomes(http, admin, tp_id, "connected")
            assert status["auth"] == "oauth2" and status["notices"] == []
            assert "token-1" in introspection.asked
            assert f"user=<{address}>, method=XOAUTH2" in oauth_dovecot.log()
            await deliver(oauth_dovecot, address, an_email(
                to=address, sender="first@customer.test", message_id="<first@c.test>"))  # fmt: skip
            row = await agent.sock.expect("conversation", timeout=30)
            assert row["conversation"]["channel"] == "email"
            first = row["conversation"]["conversation_id"]

            # the provider revokes the token and the connection drops: the receiver's
            # next login is refused, the connection is lost and the admins are told
            del introspection.tokens["token-1"]
            oauth_dovecot.stop()
            oauth_dovecot.start()
            status = await _status_becomes(http, admin, tp_id, "lost")
            assert status["notices"] == ["Email provider connection lost"]
            assert "credentials" in status["reason"]
            assert introspection.asked.count("token-1") >= 2

            # mail keeps arriving meanwhile
            await deliver(oauth_dovecot, address, an_email(
                to=address, sender="second@customer.test", subject="Sent while lost",
                message_id="<second@c.test>"))  # fmt: skip

            # reauthenticate with a fresh token: connected, the waiting mail comes in once
            introspection.tokens["token-2"] = address
            r = await http.post(
                f"/api/admin/touchpoints/{tp_id}/email/reconnect",
                headers=admin,
                json={"oauth_token": "token-2"},
            )
            assert r.status_code == 200 and "token-2" not in r.text
            status = await _status_becomes(http, admin, tp_id, "connected")
            assert status["notices"] == []
            assert "token-2" in introspection.asked
            while row["conversation"]["conversation_id"] == first:  # the first one's updates
                row = await agent.sock.expect("conversation", timeout=30)
            assert row["conversation"]["channel"] == "email"
            cid = row["conversation"]["conversation_id"]
            assert (await agent.act("assign", cid))["type"] == "ok"
            headers = {"Authorization": f"Bearer {agent.token}"}
            content = (await http.get(f"/api/conversations/{cid}/content", headers=headers)).json()
            inbound = [c for c in content["items"].values() if c.get("direction") == "in"]
            assert [c["subject"] for c in inbound] == ["Sent while lost"], inbound
            # the first mail was not imported again: its conversation still has it once
            assert (await agent.act("assign", first))["type"] == "ok"
            content = (
                await http.get(f"/api/conversations/{first}/content", headers=headers)
            ).json()
            inbound = [c for c in content["items"].values() if c.get("direction") == "in"]
            assert [c["message_id"] for c in inbound] == ["<first@c.test>"], inbound
            assert "token-1" not in node.output() and "token-2" not in node.output()
    finally:
        if agent.sock:
            await agent.sock.close()
        smtp.stop()
