"""Visitors and agents chat end to end: the app in-process (the same services as a
process, in milliseconds), and on a real process with PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from devkit import services
from devkit.endpoint import Endpoint
from devkit.inprocess import InProcessGateway
from devkit.services import GatewayProcess
from gateway.model.records import Touchpoint
from tests.gateway.client import AgentClient, Socket, accepted_chat
from tests.gateway.conftest import (
    InProcessFactory,
    agent_record,
    demo_agent,
    demo_visitor,
    seed,
)


async def test_visitor_and_agent_chat_with_offer_accept_and_replies(
    inprocess_gateway: InProcessGateway,
) -> None:
    await chat_scenario(inprocess_gateway)


async def test_the_same_chat_on_postgresql(
    gateway_factory: Callable[..., GatewayProcess], postgres: services.Postgres
) -> None:
    url = services.createdb(postgres, f"chat_{uuid.uuid4().hex[:8]}")
    node = gateway_factory({"GATEWAY_DATABASE_URL": url})
    await chat_scenario(node)
    # It really was PostgreSQL that kept the conversation.
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("select count(*) from messages where body = 'Thanks!'") == 1
    finally:
        await conn.close()


async def chat_scenario(gateway: Endpoint) -> None:
    agent = demo_agent(gateway)
    await agent.login()
    snap = await agent.connect()
    assert snap["agent"]["status"] == "available" and snap["assigned"] == []
    assert snap["sounds"]["offered"] == "ring" and "Resolved" in snap["dispositions"]

    visitor = demo_visitor(gateway)
    boot = await visitor.bootstrap()
    assert boot["config"]["form"][0]["name"] == "name"
    welcome = await visitor.connect()
    assert welcome.get("conversation") is None

    # The first message comes with the start: the offer shows it.
    cid = await visitor.start("Hello, is my order shipped?", name="Lin", email="lin@example.com")
    assert visitor.last_seq[cid] == 1
    assert agent.sock and visitor.sock
    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == cid
    assert offer["conversation"]["contact_name"] == "Lin"
    assert offer["expires_at"] > offer["conversation"]["arrived_at"]
    assert 0 < offer["expires_in"] <= 30
    assert offer["conversation"]["contact_email"] == "lin@example.com"
    assert offer["conversation"]["last_message"] == "Hello, is my order shipped?"
    sound = await agent.sock.expect("sound", event="offered")
    assert sound["sound"] == "ring"

    assert (await agent.act("accept", cid))["type"] == "ok"
    joined = await visitor.sock.expect("event", event="agent_joined")
    assert joined["agent_name"].startswith("Ada") and joined["seq"] == 2
    row = await agent.sock.expect("conversation")
    while row["conversation"]["place"] != "assigned":
        row = await agent.sock.expect("conversation")
    assert row["conversation"]["unread"] == 1

    # The agent's ack carries the stored message; the visitor's one frame, their unread
    # count with it (docs/protocol.md, "One frame per message").
    reply = await agent.say(cid, "Yes, it left this morning.")
    assert reply["seq"] == 3 and reply["message"]["seq"] == 3
    assert reply["message"]["body"] == "Yes, it left this morning."
    got = await visitor.sock.expect("message", seq=3)
    assert got["sender"] == "agent" and got["body"] == "Yes, it left this morning."
    assert got["unread"] == 1
    await visitor.sock.send({"type": "read", "seq": 3})
    assert (await visitor.sock.expect("unread"))["count"] == 0

    # The visitor's next message reaches the agent live, with an unread bump and a sound.
    said = await visitor.say("Thanks!")
    assert said["message"]["body"] == "Thanks!" and said["message"]["sender"] == "visitor"
    live = await agent.sock.expect("message", conversation_id=cid, sender="visitor")
    assert live["body"] == "Thanks!" and live["sender_name"] == "Lin"
    assert live["unread"] == 2 and live["sound"] == {"event": "reply", "sound": "pop"}
    await agent.sock.send({"type": "read", "conversation_id": cid, "seq": live["seq"]})
    assert (await agent.sock.expect("unread", conversation_id=cid))["count"] == 0

    # Typing travels both ways and is not stored.
    await agent.sock.send({"type": "typing", "conversation_id": cid, "active": True})
    typing = await visitor.sock.expect("typing")
    assert typing["who"] == "agent" and typing["active"] is True
    await visitor.sock.send({"type": "typing", "active": True})
    assert (await agent.sock.expect("typing", conversation_id=cid))["who"] == "visitor"


async def test_a_retried_message_is_stored_once_and_acked_as_duplicate(
    inprocess_gateway: InProcessGateway,
) -> None:
    visitor = demo_visitor(inprocess_gateway)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start()
    first = await visitor.say("only once", "same-id")
    again = await visitor.say("only once", "same-id")
    assert again["seq"] == first["seq"] and again["duplicate"] is True
    assert visitor.sock
    await visitor.sock.send({"type": "history", "conversation_id": cid})
    history = await visitor.sock.expect("history")
    bodies = [
        i["body"] for i in history["items"] if i["type"] == "message" and i["sender"] == "visitor"
    ]
    assert bodies == ["Hello", "only once"]


async def test_resume_after_reconnect_gets_exactly_what_was_missed(
    inprocess_gateway: InProcessGateway,
) -> None:
    agent, visitor = demo_agent(inprocess_gateway), demo_visitor(inprocess_gateway)
    cid = await accepted_chat(agent, visitor, name="Sam")
    assert agent.sock and visitor.sock
    await visitor.say("one")
    joined = await visitor.sock.expect("event", event="agent_joined")
    visitor.note(joined)
    seen = visitor.last_seq[cid]
    await visitor.sock.close()

    # While the visitor is away (a page load), the agent writes twice.
    for text in ("missed 1", "missed 2"):
        await agent.say(cid, text)

    welcome = await visitor.connect()
    assert welcome["conversation"]["conversation_id"] == cid
    assert welcome["conversation"]["unread"] == 2
    frames = [await visitor.sock.expect_any(("message", "event")) for _ in range(2)]
    assert [f["body"] for f in frames] == ["missed 1", "missed 2"]
    assert [f["seq"] for f in frames] == [seen + 1, seen + 2]
    # Exactly: the next sequenced frame is the agent's next message, nothing before it.
    await agent.say(cid, "after")
    nxt = await visitor.sock.expect_any(("message", "event"))
    assert (nxt["body"], nxt["seq"]) == ("after", seen + 3)

    # A reload keeps the visitor: an old token brings back the same visitor id.
    old_vid = visitor.visitor_id
    await visitor.bootstrap()
    assert visitor.visitor_id == old_vid


async def test_two_agents_assign_the_same_inbox_conversation_one_wins(
    inprocess_factory: InProcessFactory,
) -> None:
    def setup(url: str, port: int) -> None:
        seed(
            url,
            agents=[
                agent_record("ag_one", "one@test", ["q_simple"]),
                agent_record("ag_two", "two@test", ["q_simple"]),
            ],
            touchpoints=[
                Touchpoint(
                    id="tp_simple",
                    name="Simple",
                    channel="chat",
                    active=True,
                    routing_mode="flow",
                    domain=f"127.0.0.1:{port}",
                    queue_ids=["q_simple"],
                ),
            ],
        )

    node = await inprocess_factory(setup=setup)
    one, two = (
        AgentClient(node, "one@test", "pw-ag_one"),
        AgentClient(node, "two@test", "pw-ag_two"),
    )
    for a in (one, two):
        await a.login()
        await a.connect()
        assert a.sock
        # Away: nothing rings them, the conversation waits in their Inbox.
        await a.sock.send({"type": "status", "status": "away", "ref": "s"})
        await a.sock.expect("ok", ref="s")
    visitor = demo_visitor(node)
    visitor.touchpoint_id = "tp_simple"
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start()
    assert one.sock and two.sock
    for a in (one, two):
        row = await a.sock.expect("conversation")
        assert (
            row["conversation"]["place"] == "inbox"
            and row["conversation"]["conversation_id"] == cid
        )

    results = await asyncio.gather(one.act("assign", cid), two.act("assign", cid))
    assert sorted(r["type"] for r in results) == ["error", "ok"]
    refusal = next(r for r in results if r["type"] == "error")
    assert refusal["code"] == "already_assigned"


async def test_agents_outside_the_queue_cannot_see_or_act(
    inprocess_factory: InProcessFactory,
) -> None:
    node = await inprocess_factory(
        setup=lambda url, port: seed(url, agents=[agent_record("ag_out", "out@test", ["q_other"])])
    )
    outsider = AgentClient(node, "out@test", "pw-ag_out")
    await outsider.login()
    snap = await outsider.connect()
    visitor = demo_visitor(node)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start()
    assert snap["inbox"] == []
    for action in ("assign", "accept", "end"):
        refused = await outsider.act(action, cid)
        assert refused["type"] == "error" and refused["code"] == "not_found", action
    assert outsider.sock
    await outsider.sock.send({"type": "history", "conversation_id": cid})
    assert (await outsider.sock.expect("error"))["code"] == "not_found"
    await outsider.sock.send(
        {"type": "send", "conversation_id": cid, "body": "hi", "client_msg_id": "x"}
    )
    assert (await outsider.sock.expect("error"))["code"] == "not_found"


async def test_end_wrapup_closes_and_a_later_visitor_message_is_refused(
    inprocess_gateway: InProcessGateway,
) -> None:
    agent, visitor = demo_agent(inprocess_gateway), demo_visitor(inprocess_gateway)
    cid = await accepted_chat(agent, visitor)
    assert agent.sock and visitor.sock
    refused = await agent.act("wrapup", cid, notes="too early")
    assert refused["type"] == "error"
    assert (await agent.act("end", cid))["type"] == "ok"
    ended = await visitor.sock.expect("event", event="ended")
    assert ended["conversation_id"] == cid
    # the owner's reply in wrap-up: ended, as a visitor is told (before: "forbidden")
    await agent.sock.send(
        {"type": "send", "conversation_id": cid, "body": "one more", "client_msg_id": "w1"}
    )
    late = await agent.sock.expect("error", ref="w1")
    assert late["code"] == "conversation_ended"
    assert (await agent.act("wrapup", cid, notes="Order shipped", disposition="Resolved"))[
        "type"
    ] == "ok"
    gone = await agent.sock.expect("conversation", timeout=5)
    while gone["conversation"]["place"] != "gone":
        gone = await agent.sock.expect("conversation", timeout=5)
    assert gone["conversation"]["state"] == "closed"
    await visitor.sock.send({"type": "send", "body": "one more", "client_msg_id": "late"})
    error = await visitor.sock.expect("error")
    assert error["code"] == "conversation_ended" and error["ref"] == "late"
    # A new conversation can start afterwards.
    assert await visitor.start() != cid


async def test_transfer_to_queue_and_send_to_inbox(
    inprocess_factory: InProcessFactory,
) -> None:
    node = await inprocess_factory(
        setup=lambda url, port: seed(url, agents=[agent_record("ag_b", "b@test", ["q_support"])])
    )
    ada, bob = demo_agent(node), AgentClient(node, "b@test", "pw-ag_b")
    await ada.login()
    await ada.connect()
    visitor = demo_visitor(node)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start()
    assert ada.sock and visitor.sock
    await ada.sock.expect("offer")
    assert (await ada.act("accept", cid))["type"] == "ok"
    await bob.login()
    await bob.connect()
    assert bob.sock
    # Bob, of the same queue but not its owner, "reads" Ada's conversation: her unread
    # count is hers, and stays (before, it was cleared for her).
    await visitor.say("hello?")
    first = await ada.sock.expect("message", conversation_id=cid, sender="visitor")
    await bob.sock.send({"type": "read", "conversation_id": cid, "seq": 2**53 - 1})
    # a socket's frames are handled in order: once this is answered, the read was
    await bob.sock.send({"type": "status", "status": "available", "ref": "after-read"})
    assert (await bob.sock.expect("ok", ref="after-read"))["type"] == "ok"
    await visitor.say("anyone?")
    second = await ada.sock.expect("message", conversation_id=cid, sender="visitor")
    assert second["unread"] == first["unread"] + 1
    # A queue that does not exist: refused, and the conversation stays Ada's (before, it
    # was requeued where no agent looks).
    nowhere = await ada.act("transfer", cid, to_queue_id="q_nope")
    assert (nowhere["type"], nowhere["code"]) == ("error", "invalid_field")
    assert "q_nope" in nowhere["message"]
    # Transfer straight to Bob: he is told (sound), Ada loses it, the visitor sees the change.
    assert (await ada.act("transfer", cid, to_agent_id="ag_b"))["type"] == "ok"
    assert (await bob.sock.expect("sound", event="transferred"))["conversation_id"] == cid
    left = await visitor.sock.expect("event", event="agent_left")
    assert left["agent_name"].startswith("Ada")
    # Bob sends it back to the Inbox: it waits again, and Bob's reply is refused.
    assert (await bob.act("send_to_inbox", cid))["type"] == "ok"
    await bob.sock.send(
        {"type": "send", "conversation_id": cid, "body": "x", "client_msg_id": "b1"}
    )
    error = await bob.sock.expect("error")
    assert error["code"] in ("forbidden", "not_found")
    transfer_bad = await ada.act("transfer", cid, to_agent_id="ag_b", to_queue_id="q_support")
    assert transfer_bad["type"] == "error"


async def test_logout_revokes_the_token(inprocess_gateway: InProcessGateway) -> None:
    agent = demo_agent(inprocess_gateway)
    await agent.login()
    await agent.connect()
    assert agent.sock
    async with inprocess_gateway.http() as http:
        r = await http.post("/api/logout", headers={"Authorization": f"Bearer {agent.token}"})
        assert r.status_code == 204
        assert await agent.sock.expect_close() == 4001
        me = await http.get("/api/me", headers={"Authorization": f"Bearer {agent.token}"})
        assert me.status_code == 401
    again = AgentClient(inprocess_gateway, agent.email, agent.password, token=agent.token)
    ws_code = await _hello_close_code(again)
    assert ws_code == 4001


async def test_an_open_console_socket_ends_with_its_login(
    inprocess_factory: InProcessFactory,
) -> None:
    """The agent's token ends, and with it the open socket: closed 4002 (the console then
    asks to log in again). Before, a socket kept open outlived its login for good."""
    node = await inprocess_factory({"GATEWAY_AGENT_TOKEN_TTL": "5"})
    agent = demo_agent(node)
    await agent.login()
    await agent.connect()
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "available", "ref": "open"})
    await agent.sock.expect("ok", ref="open")  # open and working before the end
    assert await agent.sock.expect_close(timeout=30) == 4002


async def _hello_close_code(agent: AgentClient) -> int:
    sock = Socket(await agent.node.websocket("/ws/agent", origin=agent.node.base_url))
    await sock.send({"type": "hello", "v": 1, "token": agent.token})
    return await sock.expect_close()


async def test_login_refuses_wrong_passwords_alike(inprocess_gateway: InProcessGateway) -> None:
    async with inprocess_gateway.http() as http:
        wrong = await http.post("/api/login", json={"email": "agent@demo.test", "password": "nope"})
        nobody = await http.post("/api/login", json={"email": "who@demo.test", "password": "nope"})
        malformed = await http.post("/api/login", content=b"{")
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    assert malformed.status_code == 422


async def test_history_without_before_seq_is_the_newest_page(
    inprocess_gateway: InProcessGateway,
) -> None:
    visitor = demo_visitor(inprocess_gateway)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start()
    for i in range(7):
        await visitor.say(f"m{i}")
    assert visitor.sock
    await visitor.sock.send({"type": "history", "limit": 3})
    page = await visitor.sock.expect("history")
    assert [i["body"] for i in page["items"]] == ["m4", "m5", "m6"] and page["has_more"]
    await visitor.sock.send(
        {
            "type": "history",
            "conversation_id": cid,
            "limit": 3,
            "before_seq": page["items"][0]["seq"],
        }
    )
    older = await visitor.sock.expect("history")
    assert [i["body"] for i in older["items"]] == ["m1", "m2", "m3"]


async def test_a_history_frame_without_a_limit_gets_the_configured_page(
    inprocess_factory: InProcessFactory,
) -> None:
    """GATEWAY_HISTORY_PAGE_SIZE is the page of a ``history`` frame that gives no
    ``limit`` (the widget's and the console's); it set nothing of the kind before."""
    node = await inprocess_factory({"GATEWAY_HISTORY_PAGE_SIZE": "4"})
    visitor = demo_visitor(node)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start()
    for i in range(6):
        await visitor.say(f"m{i}")
    assert visitor.sock
    await visitor.sock.send({"type": "history", "conversation_id": cid})
    page = await visitor.sock.expect("history")
    assert [i["body"] for i in page["items"]] == ["m2", "m3", "m4", "m5"] and page["has_more"]
    agent = AgentClient(node, "admin@demo.test", "demo-admin")
    await agent.login()
    await agent.connect()
    assert agent.sock
    await agent.sock.send({"type": "history", "conversation_id": cid})
    seen = await agent.sock.expect("history", conversation_id=cid)
    assert len(seen["items"]) == 4 and seen["has_more"]


async def test_deactivating_an_agent_closes_their_socket(
    inprocess_gateway: InProcessGateway,
) -> None:
    admin = AgentClient(inprocess_gateway, "admin@demo.test", "demo-admin")
    await admin.login()
    agent = demo_agent(inprocess_gateway)
    await agent.login()
    await agent.connect()
    assert agent.sock
    async with inprocess_gateway.http() as http:
        r = await http.patch(
            "/api/admin/agents/ag_demo",
            json={"active": False},
            headers={"Authorization": f"Bearer {admin.token}"},
        )
    assert r.status_code == 200, r.text
    assert await agent.sock.expect_close() == 4001


async def test_a_deactivated_agents_conversations_go_back_to_the_queue(
    inprocess_gateway: InProcessGateway,
) -> None:
    """Regression: the router is rebuilt from the store after a configuration change,
    with the active agents only; a conversation a deactivated agent held was refused
    (its owner unknown) and left out: in no list, its contact's words reaching no one.
    It goes back to its queue now, as the router's own agent removal does, and one in
    wrap-up is closed."""
    admin = AgentClient(inprocess_gateway, "admin@demo.test", "demo-admin")
    await admin.login()
    agent, visitor = demo_agent(inprocess_gateway), demo_visitor(inprocess_gateway)
    held = await accepted_chat(agent, visitor)
    other = demo_visitor(inprocess_gateway)
    ended = await accepted_chat(agent, other)
    assert (await agent.act("end", ended))["type"] == "ok"
    await admin.connect()  # (after: connected, the admin would be offered the chats)
    async with inprocess_gateway.http() as http:
        r = await http.patch(
            "/api/admin/agents/ag_demo",
            json={"active": False},
            headers={"Authorization": f"Bearer {admin.token}"},
        )
        assert r.status_code == 200, r.text

        async def stored(cid: str) -> dict[str, Any]:
            got = await http.get(
                f"/api/admin/conversations/{cid}",
                headers={"Authorization": f"Bearer {admin.token}"},
            )
            body: dict[str, Any] = got.json()
            return body

        assert (await stored(held))["state"] == "waiting"
        assert (await stored(held))["owner_agent_id"] is None
        assert (await stored(ended))["state"] == "closed"
    # back in the queue: the admin, available in it, sees it (rung), and the contact
    # is told the agent left
    assert admin.sock
    row = await admin.sock.expect("conversation", timeout=10)
    while row["conversation"]["conversation_id"] != held:
        row = await admin.sock.expect("conversation", timeout=10)
    assert row["conversation"]["place"] in ("inbox", "offered")  # rung: the admin is available
    assert visitor.sock
    await visitor.sock.expect("event", event="agent_left", reason="requeued", timeout=10)


async def test_a_reload_after_the_end_shows_the_ended_conversation(
    inprocess_gateway: InProcessGateway,
) -> None:
    agent, visitor = demo_agent(inprocess_gateway), demo_visitor(inprocess_gateway)
    cid = await accepted_chat(agent, visitor)
    assert (await agent.act("end", cid))["type"] == "ok"
    assert visitor.sock
    await visitor.sock.close()
    welcome = await visitor.connect()
    assert welcome["conversation"]["conversation_id"] == cid
    assert welcome["conversation"]["state"] in ("wrapup", "closed")


async def test_deactivating_a_touchpoint_closes_its_visitors_sockets(
    inprocess_gateway: InProcessGateway,
) -> None:
    admin = AgentClient(inprocess_gateway, "admin@demo.test", "demo-admin")
    await admin.login()
    visitor = demo_visitor(inprocess_gateway)
    await visitor.bootstrap()
    await visitor.connect()
    assert visitor.sock
    async with inprocess_gateway.http() as http:
        r = await http.post(
            f"/api/admin/touchpoints/{visitor.touchpoint_id}/deactivate",
            headers={"Authorization": f"Bearer {admin.token}"},
        )
    assert r.status_code == 200, r.text
    assert await visitor.sock.expect_close() == 4003


async def test_unknown_api_paths_answer_in_the_json_error_shape(
    inprocess_gateway: InProcessGateway,
) -> None:
    async with inprocess_gateway.http() as http:
        missing = await http.get("/api/admin/touchpoints/a%2Fb/duplicate")
        wrong = await http.delete("/api/login")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_an_open_visitor_socket_keeps_getting_fresh_tokens(
    inprocess_factory: InProcessFactory,
) -> None:
    node = await inprocess_factory({"GATEWAY_VISITOR_TOKEN_TTL": "3"})  # renewed every second
    visitor = demo_visitor(node)
    await visitor.bootstrap()
    await visitor.connect()  # reads the token sent with the welcome
    assert visitor.sock
    tokens = [visitor.token]
    for _ in range(2):
        renewed = await visitor.sock.expect("token", timeout=5)
        assert renewed["token"] not in tokens
        tokens.append(renewed["token"])
    # The newest token opens the next socket: a reconnect is always possible.
    visitor.token = tokens[-1]
    await visitor.sock.close()
    welcome = await visitor.connect()
    assert welcome["visitor_id"] == visitor.visitor_id
