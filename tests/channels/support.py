"""Helpers of the channel tests: touchpoints pointing at the emulators, a gateway
seeded with them, an agent and an admin on it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from devkit import services
from gateway.model.records import Touchpoint
from gateway.ports.store import create_store
from tests.gateway.client import AgentClient
from tests.gateway.conftest import ADMIN, AGENT, seed

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-for-tests"


def sms_touchpoint(tp_id: str, number: str, api_base: str, **fields: Any) -> Touchpoint:
    fields.setdefault("routing_mode", "simplified")
    fields.setdefault("queue_ids", ["q_support"])
    # the tests read the contact's text on the Inbox row: the agent's role may preview
    fields.setdefault("preview_roles", ["agent", "supervisor", "admin"])
    return Touchpoint(
        id=tp_id,
        name=f"SMS {number}",
        channel="sms",
        active=True,
        settings={
            "provider": "twilio",
            "number": number,
            "account_sid": ACCOUNT,
            "auth_token": TOKEN,
            "api_base": api_base,
        },
        **fields,
    )


def start(
    factory: Callable[..., services.GatewayProcess], *touchpoints: Touchpoint, **kw: Any
) -> services.GatewayProcess:
    """A demo gateway whose store holds these touchpoints (the demo agent answers)."""
    return factory(
        kw.pop("env", None), setup=lambda url, port: seed(url, touchpoints=list(touchpoints), **kw)
    )


async def agent_on(node: services.GatewayProcess, who: tuple[str, str] = AGENT) -> AgentClient:
    agent = AgentClient(node, *who)
    await agent.login()
    await agent.connect()
    return agent


async def admin_token(node: services.GatewayProcess) -> str:
    async with node.http(timeout=services.LOGIN_TIMEOUT) as http:
        r = await http.post("/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    r.raise_for_status()
    return str(r.json()["token"])


async def admin_get(node: services.GatewayProcess, path: str) -> Any:
    token = await admin_token(node)
    async with httpx.AsyncClient() as http:
        r = await http.get(node.base_url + path, headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return r.json()


async def inbox_conversation(agent: AgentClient, channel: str, **match: Any) -> dict[str, Any]:
    """The next row of a conversation of this channel in the agent's lists (with these
    fields: ``last_message="..."``, ``place="assigned"``)."""
    assert agent.sock
    while True:
        frame = await agent.sock.expect_any(("conversation", "offer"), timeout=15)
        conv: dict[str, Any] = frame["conversation"]
        if conv["channel"] == channel and all(conv.get(k) == v for k, v in match.items()):
            return conv


APP_SECRET = "meta-app-secret-for-tests"
VERIFY = "verify-token-for-tests"
WA_TOKEN = "whatsapp-system-user-token"
PAGE_TOKEN = "messenger-page-access-token"


def whatsapp_touchpoint(
    tp_id: str, pnid: str, number: str, api_base: str, **fields: Any
) -> Touchpoint:
    fields.setdefault("routing_mode", "simplified")
    fields.setdefault("queue_ids", ["q_support"])
    # the tests read the contact's text on the Inbox row: the agent's role may preview
    fields.setdefault("preview_roles", ["agent", "supervisor", "admin"])
    return Touchpoint(
        id=tp_id,
        name=f"WhatsApp {number}",
        channel="whatsapp",
        active=True,
        settings={
            "phone_number_id": pnid,
            "number": number,
            "access_token": WA_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            "api_base": api_base,
            "api_version": "v21.0",
        },
        **fields,
    )


def messenger_touchpoint(tp_id: str, page_id: str, api_base: str, **fields: Any) -> Touchpoint:
    fields.setdefault("routing_mode", "simplified")
    fields.setdefault("queue_ids", ["q_support"])
    # the tests read the contact's text on the Inbox row: the agent's role may preview
    fields.setdefault("preview_roles", ["agent", "supervisor", "admin"])
    return Touchpoint(
        id=tp_id,
        name=f"Page {page_id}",
        channel="messenger",
        active=True,
        settings={
            "page_id": page_id,
            "page_name": "demoshop",
            "page_access_token": PAGE_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            "api_base": api_base,
            "api_version": "v21.0",
        },
        **fields,
    )


async def history(agent: AgentClient, cid: str) -> list[dict[str, Any]]:
    assert agent.sock
    await agent.sock.send({"type": "history", "conversation_id": cid})
    items: list[dict[str, Any]] = (await agent.sock.expect("history", conversation_id=cid))["items"]
    return items


async def declared_body_status(node: services.GatewayProcess, path: str, size: int) -> int:
    """The status a POST of ``size`` declared bytes gets before any of them is sent: a
    body over its limit is refused at once (413), without being read; sending it whole
    would meet a closed connection instead of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 60)
        return int(line.split()[1])
    finally:
        writer.close()


def meta_signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    """The headers of a Meta webhook POST of ``body``, signed with the app's secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


async def send_files(
    agent: AgentClient, cid: str, body: str, ids: list[str], ref: str
) -> dict[str, Any]:
    """The ack or the error (whose ``ref`` is the client_msg_id) of one message."""
    assert agent.sock
    await agent.sock.send(
        {"type": "send", "conversation_id": cid, "client_msg_id": ref, "body": body,
         "attachments": ids}
    )  # fmt: skip
    while True:
        frame = await agent.sock.expect_any(("ack", "error"))
        if ref in (frame.get("client_msg_id"), frame.get("ref")):
            return frame


def on_store(url: str, body: Callable[[Any], Awaitable[None]]) -> None:
    """``body(store)`` on a gateway's store (``url``) while it does not run, or before it
    starts: on a thread of its own, the test's event loop being busy running the test."""

    async def run() -> None:
        store = create_store(url)
        await store.open()
        try:
            await body(store)
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
