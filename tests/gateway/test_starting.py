"""Starting a chat: the first message comes with the start (no empty chat rings, the
automatic reply follows it and is signed with the touchpoint's display name), required
fields on the server's side, and leaving a message when nobody can answer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from devkit.services import GatewayProcess, login_token
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import ADMIN, demo_agent, demo_visitor


def admin_client(node: GatewayProcess) -> httpx.Client:
    return httpx.Client(
        base_url=node.base_url,
        headers={"Authorization": f"Bearer {login_token(node.base_url, *ADMIN)}"},
        timeout=10,
    )


async def connected(visitor: Visitor) -> Visitor:
    await visitor.bootstrap()
    await visitor.connect()
    return visitor


async def online(agent: AgentClient) -> AgentClient:
    await agent.login()
    await agent.connect()
    return agent


async def nothing_rang(agent: AgentClient) -> list[dict[str, Any]]:
    """The offers the agent got so far: a status round trip first, so that anything the
    gateway published before it has arrived."""
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "available", "ref": "sync"})
    await agent.sock.expect("ok", ref="sync")
    return [f for f in [*agent.sock.seen, *agent.sock.drain()] if f["type"] == "offer"]


async def test_the_automatic_reply_follows_the_first_message_signed_with_the_display_name(
    gateway: GatewayProcess,
) -> None:
    """It used to come first (seq 1, before the visitor had written) and be signed with
    the internal touchpoint name, "Demo site (127.0.0.1)"."""
    visitor = await connected(demo_visitor(gateway))  # no agent is online
    cid = await visitor.start("Is anybody there?", name="Lin")
    assert visitor.sock
    # the visitor's own message comes in its ack (docs/protocol.md)
    mine = next(f for f in visitor.sock.seen if f["type"] == "ack")["message"]
    assert mine["seq"] == 1
    assert mine["sender"] == "visitor" and mine["body"] == "Is anybody there?"
    auto = await visitor.sock.expect("message", seq=2)
    assert auto["sender"] == "system" and "busy" in auto["body"]
    assert auto["sender_name"] == "Demo shop"
    assert auto["conversation_id"] == cid


async def test_a_start_without_a_message_rings_nobody_until_the_first_send(
    gateway: GatewayProcess,
) -> None:
    """An empty pre-chat form used to start a chat that rang an agent with nothing in
    it. A start without message (protocol 1's first clients) now waits for its first
    send."""
    agent = await online(demo_agent(gateway))
    visitor = await connected(demo_visitor(gateway))
    cid = await visitor.start(None)
    assert await nothing_rang(agent) == []
    await visitor.say("Now I have a question")
    assert agent.sock
    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == cid
    assert offer["conversation"]["last_message"] == "Now I have a question"


async def test_a_blank_first_message_and_missing_required_fields_are_refused(
    gateway_factory: Any,
) -> None:
    node = gateway_factory()
    with admin_client(node) as admin:
        r = admin.patch(
            "/api/admin/touchpoints/tp_demo_127",
            json={
                "form": [
                    {"name": "name", "label": "Your name", "required": True},
                    {"name": "phone", "label": "Phone", "kind": "phone", "required": True},
                ]
            },
        )
        assert r.status_code == 200, r.text
    visitor = await connected(demo_visitor(node))
    assert visitor.sock
    good = {"name": "Lin", "phone": "+44 20 7946 0958"}
    for fields, message, field in (
        (good, "   ", "message"),
        ({"name": "Lin"}, "Hello", "phone"),
        ({"phone": "+44 20 7946 0958"}, "Hello", "name"),
        ({**good, "phone": "12"}, "Hello", "phone"),
    ):
        ref = uuid.uuid4().hex
        await visitor.sock.send(
            {"type": "start", "fields": fields, "message": message, "client_msg_id": ref}
        )
        error = await visitor.sock.expect("error", ref=ref)
        assert error["code"] == "invalid_field" and error["message"].startswith(f"{field}:")
    # Nothing was created: the next start with everything right is the first.
    cid = await visitor.start("Hello", **good)
    await visitor.sock.send({"type": "history"})
    items = (await visitor.sock.expect("history"))["items"]
    assert items[0]["body"] == "Hello" and items[0]["conversation_id"] == cid


async def test_a_message_left_while_nobody_answers_waits_and_is_answered_later(
    gateway: GatewayProcess,
) -> None:
    agent = await online(demo_agent(gateway))  # online, but it must not ring
    visitor = await connected(demo_visitor(gateway))
    assert visitor.sock and agent.sock
    ref = uuid.uuid4().hex
    frame = {
        "type": "start",
        "fields": {"name": "Noor"},
        "message": "Please call me back",
        "client_msg_id": ref,
        "leave_message": True,
    }
    await visitor.sock.send(frame)
    error = await visitor.sock.expect("error", ref=ref)
    assert error["code"] == "invalid_field" and error["message"].startswith("email:")
    await visitor.sock.send({**frame, "fields": {"name": "Noor", "email": "noor@example.com"}})
    started = await visitor.sock.expect("started")
    assert started["left_message"] is True
    cid = started["conversation_id"]
    await visitor.sock.expect("ack", client_msg_id=ref)
    # No automatic reply, no offer: it is held in the Inbox, marked as left.
    row = await agent.sock.expect("conversation", timeout=10)
    while row["conversation"]["conversation_id"] != cid:
        row = await agent.sock.expect("conversation")
    assert row["conversation"]["place"] == "inbox"
    assert row["conversation"]["left_message"] is True and row["conversation"]["held"] is True
    assert row["conversation"]["contact_email"] == "noor@example.com"
    assert await nothing_rang(agent) == []
    await visitor.sock.close()  # the visitor leaves

    assert (await agent.act("assign", cid))["type"] == "ok"
    await agent.say(cid, "Hello Noor, we will call you at 5.")
    assert (await agent.act("end", cid))["type"] == "ok"
    wrapped = await agent.act("wrapup", cid, notes="", disposition="Resolved")
    assert wrapped["type"] == "ok"

    # Their next visit shows the answer, unread.
    welcome = await visitor.connect(resume=False)
    info = welcome["conversation"]
    assert info["conversation_id"] == cid and info["unread"] == 1
    assert info["left_message"] is True and info["state"] == "closed"
    await visitor.sock.send({"type": "history", "conversation_id": cid})
    bodies = [i.get("body") for i in (await visitor.sock.expect("history"))["items"]]
    assert "Hello Noor, we will call you at 5." in bodies
    assert not any(i and "busy" in i for i in bodies)  # no automatic reply was stored
