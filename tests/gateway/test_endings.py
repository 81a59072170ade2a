"""How a chat ends from the visitor's side and what follows: the visitor ends it
(waiting, ringing, assigned), idle chats close on their own, the visitor rates it, and a
chat sent back to the queue says so."""

from __future__ import annotations

import time
import uuid
from typing import Any

from devkit.services import GatewayProcess
from tests.gateway.client import AgentClient, Visitor, accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.gateway.test_starting import admin_client, connected, online


async def end(visitor: Visitor) -> None:
    assert visitor.sock
    ref = uuid.uuid4().hex
    await visitor.sock.send({"type": "end", "ref": ref})
    await visitor.sock.expect("ok", ref=ref)


async def rate(visitor: Visitor, cid: str, score: Any, comment: str = "") -> dict[str, Any]:
    assert visitor.sock
    ref = uuid.uuid4().hex
    await visitor.sock.send(
        {"type": "rate", "conversation_id": cid, "score": score, "comment": comment, "ref": ref}
    )
    return await visitor.sock.expect_any(("ok", "error"), ref=ref)


async def row(agent: AgentClient, cid: str, place: str) -> dict[str, Any]:
    assert agent.sock
    while True:
        frame = await agent.sock.expect("conversation")
        if (
            frame["conversation"]["conversation_id"] == cid
            and frame["conversation"]["place"] == place
        ):
            return frame["conversation"]  # type: ignore[no-any-return]


async def test_the_visitor_ends_a_waiting_chat_it_closes(gateway: GatewayProcess) -> None:
    visitor = await connected(demo_visitor(gateway))
    cid = await visitor.start("Hello?")
    await end(visitor)
    assert visitor.sock
    ended = await visitor.sock.expect("event", event="ended")
    assert ended["reason"] == "contact" and ended["conversation_id"] == cid
    await end(visitor)  # again: not an error
    await visitor.sock.send({"type": "send", "body": "more", "client_msg_id": "late"})
    assert (await visitor.sock.expect("error", ref="late"))["code"] == "conversation_ended"
    with admin_client(gateway) as admin:
        conv = admin.get(f"/api/admin/conversations/{cid}").json()
    assert conv["state"] == "closed" and conv["ended_at"] and conv["owner_agent_id"] is None


async def test_the_visitor_ends_while_it_rings_the_offer_is_withdrawn(
    gateway: GatewayProcess,
) -> None:
    agent = await online(demo_agent(gateway))
    visitor = await connected(demo_visitor(gateway))
    cid = await visitor.start("Hello?")
    assert agent.sock
    await agent.sock.expect("offer")
    await end(visitor)
    withdrawn = await agent.sock.expect("offer_withdrawn")
    assert withdrawn == {
        "type": "offer_withdrawn",
        "conversation_id": cid,
        "reason": "contact_ended",
    }


async def test_the_visitor_ends_an_assigned_chat_the_agent_wraps_up_with_room_again(
    gateway: GatewayProcess,
) -> None:
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Ola")
    await end(visitor)
    wrapup = await row(agent, cid, "wrapup")
    assert wrapup["state"] == "wrapup"
    assert agent.sock
    event = await agent.sock.expect("event", conversation_id=cid, event="ended")
    assert event["reason"] == "contact"
    # The points are free: a new chat rings at once.
    other = await connected(demo_visitor(gateway))
    second = await other.start("Me too")
    assert (await agent.sock.expect("offer"))["conversation"]["conversation_id"] == second


async def test_an_idle_chat_closes_on_its_own_and_frees_the_agent(
    gateway: GatewayProcess,
) -> None:
    """An abandoned chat used to hold the agent's capacity until the agent ended it."""
    with admin_client(gateway) as admin:
        r = admin.patch("/api/admin/settings", json={"idle_close_after": 2})
        assert r.status_code == 200 and r.json()["idle_close_after"] == 2
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Idris")
    assert visitor.sock and agent.sock
    ended = await visitor.sock.expect("event", event="ended", timeout=30)
    assert ended["reason"] == "idle" and ended["conversation_id"] == cid
    event = await agent.sock.expect("event", conversation_id=cid, event="ended", timeout=30)
    assert event["reason"] == "idle"
    await row(agent, cid, "wrapup")


async def test_a_rating_after_the_end_once_readable_by_supervisors(
    gateway: GatewayProcess,
) -> None:
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Rhea")
    early = await rate(visitor, cid, 5)
    assert early["type"] == "error" and early["code"] == "not_ended"
    assert (await agent.act("end", cid))["type"] == "ok"
    assert visitor.sock
    await visitor.sock.expect("event", event="ended")
    # Out of range: refused at the edge (the frame does not decode, so no ref).
    await visitor.sock.send({"type": "rate", "conversation_id": cid, "score": 6})
    assert "score" in (await visitor.sock.expect("error", code="invalid_field"))["message"]
    assert (await rate(visitor, cid, 4, "  Quick and kind  "))["type"] == "ok"
    again = await rate(visitor, cid, 1)
    assert again["type"] == "error" and again["code"] == "already_rated"
    # Someone else cannot rate it, nor learn that it exists.
    stranger = await connected(demo_visitor(gateway))
    other = await rate(stranger, cid, 1)
    assert other["type"] == "error" and other["code"] == "not_found"
    # A reload says it is rated (the widget does not ask again).
    await visitor.sock.close()
    welcome = await visitor.connect()
    assert welcome["conversation"]["rated"] is True
    with admin_client(gateway) as admin:
        got = admin.get(f"/api/admin/conversations/{cid}/rating").json()
        assert got["score"] == 4 and got["comment"] == "Quick and kind"
        assert got["agent_id"] == "ag_demo" and got["touchpoint_id"] == "tp_demo_127"
        page = admin.get("/api/admin/ratings", params={"touchpoint_id": "tp_demo_127"}).json()
        assert page["count"] == 1 and page["average"] == 4.0
        assert admin.get("/api/admin/ratings", params={"touchpoint_id": "tp_x"}).json() == {
            "items": [],
            "count": 0,
            "average": None,
        }
        # The reports' satisfaction is the visitors' rating.
        day = time.strftime("%Y-%m-%d", time.gmtime())
        report = admin.get("/api/reports", params={"since": day, "until": day}).json()
        assert report["satisfaction_available"] is True
        assert report["total"]["rated"] == 1 and report["total"]["satisfaction"] == 4.0


async def test_a_chat_sent_back_to_the_queue_tells_the_visitor_so(
    gateway: GatewayProcess,
) -> None:
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Ugo")
    assert (await agent.act("send_to_inbox", cid))["type"] == "ok"
    assert visitor.sock
    left = await visitor.sock.expect("event", event="agent_left")
    assert left["reason"] == "requeued"
    await visitor.sock.close()
    welcome = await visitor.connect()
    assert welcome["conversation"]["state"] == "waiting"
    assert welcome["conversation"].get("agent_name", "") == ""


async def test_a_message_retried_after_the_chat_ended_is_acked_as_a_duplicate(
    gateway: GatewayProcess,
) -> None:
    """The visitor's message was stored but its ack lost, and the chat ended before the
    client sent it again on a new socket, naming no conversation (the one open is
    meant): the retry is acked with the stored message (as any retry is), not refused
    as if it had never been sent; a new message is refused."""
    visitor = await connected(demo_visitor(gateway))
    await visitor.start("Hello?")
    assert visitor.sock
    await visitor.sock.send({"type": "send", "body": "Order 1182", "client_msg_id": "m-1"})
    first = await visitor.sock.expect("ack", client_msg_id="m-1")
    await end(visitor)
    await visitor.sock.expect("event", event="ended")
    await visitor.sock.ws.close()
    await visitor.connect()
    await visitor.sock.send({"type": "send", "body": "Order 1182", "client_msg_id": "m-1"})
    again = await visitor.sock.expect_any(("ack", "error"))  # the only answer pending
    assert again["type"] == "ack" and again["client_msg_id"] == "m-1", again
    assert again["duplicate"] is True and again["seq"] == first["seq"]
    assert again["message"]["body"] == "Order 1182"
    await visitor.sock.send({"type": "send", "body": "more", "client_msg_id": "m-2"})
    assert (await visitor.sock.expect("error", ref="m-2"))["code"] == "conversation_ended"
