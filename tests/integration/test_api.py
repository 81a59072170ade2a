"""The integration API end to end: a real gateway, the example client, a real receiver
of the integration's webhooks on loopback, the demo agent on a real socket."""

from __future__ import annotations

import json
import time

import httpx

from examples.gateway_client import ApiError, TranscriptLine, sign
from tests.gateway.client import AgentClient
from tests.gateway.conftest import AGENT
from tests.integration.conftest import SECRET, Node, admin_client, client, integration
from tests.integration.receiver import Receiver


async def online_agent(node: Node) -> AgentClient:
    agent = AgentClient(node.proc, *AGENT)
    await agent.login()
    await agent.connect()
    return agent


async def test_a_conversation_from_start_to_close(node: Node, receiver: Receiver) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
    agent = await online_agent(node)
    assert agent.sock
    async with client(node, "tp_app", key) as api:
        conv = await api.start_conversation(
            "Lin@Example.com",
            name="Lin",
            subject="Order 1042",
            interaction_id="chat-77",
            message="Where is my parcel?",
            transcript=[
                TranscriptLine("contact", "parcel?", name="Lin"),
                TranscriptLine("bot", "I cannot find it.", name="Botty"),
            ],
        )
        assert (conv.subject, conv.direction, conv.interaction_id) == (
            "Order 1042",
            "inbound",
            "chat-77",
        )
        # checked and normalised as a form's email is (email-validator: the domain's case)
        assert conv.contact.email == "Lin@example.com" and conv.contact.name == "Lin"
        # auto-accept: the demo agent holds it at once
        update = await agent.sock.expect("conversation", timeout=10)
        assert update["conversation"]["conversation_id"] == conv.id
        assert (await api.conversation(conv.id)).state == "assigned"
        # the agent reads the contact's message, and the transcript as context
        await agent.sock.send({"type": "history", "conversation_id": conv.id, "limit": 20})
        history = await agent.sock.expect("history")
        assert [i["body"] for i in history["items"] if i["type"] == "message"] == [
            "Where is my parcel?"
        ]
        assert [(c["sender"], c["text"]) for c in history["context"]] == [
            ("contact", "parcel?"),
            ("bot", "I cannot find it."),
        ]
        # what the agent writes reaches the integration, signed
        await agent.say(conv.id, "It left our warehouse today.")
        [event] = (await receiver.wait_events("message.created", 2))[-1:]
        msg = event.message
        assert msg is not None and (msg["sender"], msg["body"], msg["sender_name"]) == (
            "agent",
            "It left our warehouse today.",
            "Ada (demo agent)",
        )
        assert event.conversation["id"] == conv.id and event.data["contact"]["name"] == "Lin"
        joined = receiver.of_type("message.created")[0].message
        assert joined is not None and (joined["kind"], joined["event"]) == (
            "event",
            "agent_joined",
        )
        # the contact's next message reaches the agent
        sent = await api.send(conv.id, "Thanks!", message_id="m-2")
        again = await api.send(conv.id, "Thanks!", message_id="m-2")
        assert again.seq == sent.seq  # the same message id stores nothing twice
        frame = await agent.sock.expect("message", body="Thanks!")
        assert frame["conversation_id"] == conv.id
        page = await api.messages(conv.id)
        assert [m.body for m in page.items if m.kind == "text"] == [
            "Where is my parcel?",
            "It left our warehouse today.",
            "Thanks!",
        ]
        # closed from the third party: the agent wraps it up
        closed = await api.close(conv.id)
        assert closed.state == "wrapup" and closed.ended_at is not None
        await receiver.wait_for(
            lambda r: any(
                (e.message or {}).get("event") == "ended" for e in r.of_type("message.created")
            ),
            what="the end, delivered as an event message",
        )
        # every delivery is in seq order, each with its own stable id
        seqs = [e.message["seq"] for e in receiver.of_type("message.created") if e.message]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # notes and dispositions as on every channel: the agent wraps it up
        done = await agent.act("wrapup", conv.id, notes="Parcel traced", disposition="Resolved")
        assert done["type"] == "ok", done
        assert (await api.conversation(conv.id)).state == "closed"


async def test_idempotency_keys_replay_the_first_answer(node: Node, receiver: Receiver) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
    body = {"contact": {"email": "kim@example.com"}, "message": "Hello", "interaction_id": "i-1"}
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "start-1"}
    url = node.base_url + "/api/integrations/tp_app/conversations"
    async with httpx.AsyncClient() as http:
        first = await http.post(url, json=body, headers=headers)
        replay = await http.post(url, json=body, headers=headers)
        other = await http.post(url, json={**body, "message": "Bye"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert replay.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    [conv] = node.conversations("tp_app")
    assert conv.last_seq == 1  # the message was stored once


async def test_outbound_conversations_are_their_agents_or_refused(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
    async with client(node, "tp_app", key) as api:
        try:
            await api.start_conversation(
                "joe@example.com", direction="outbound", agent_id="ag_demo"
            )
        except ApiError as exc:
            assert (exc.status, exc.code) == (409, "agent_unavailable")
        else:
            raise AssertionError("an offline agent cannot start an outbound conversation")
        assert node.conversations("tp_app") == []  # nothing was started
        await online_agent(node)
        conv = await api.start_conversation(
            "joe@example.com", direction="outbound", subject="Your order", agent_id="ag_demo"
        )
        assert (conv.state, conv.owner_agent_id, conv.direction) == (
            "assigned",
            "ag_demo",
            "outbound",
        )
        try:
            await api.start_conversation("joe@example.com", direction="outbound")
        except ApiError as exc:
            assert (exc.status, exc.code) == (409, "conversation_open")
        else:
            raise AssertionError("one open outbound conversation per contact")


async def test_signed_requests(node: Node, receiver: Receiver) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_sig", receiver.url, require_signed_requests=True)
    url = node.base_url + "/api/integrations/tp_sig/conversations"
    body = json.dumps({"contact": {"email": "sam@example.com"}}).encode()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient() as http:
        unsigned = await http.post(url, content=body, headers=auth)
        signature = sign(SECRET, body)
        ok = await http.post(url, content=body, headers={**auth, "Gateway-Signature": signature})
        replayed = await http.post(
            url, content=body, headers={**auth, "Gateway-Signature": signature}
        )
        old = sign(SECRET, body, int(time.time()) - 3600)
        expired = await http.post(url, content=body, headers={**auth, "Gateway-Signature": old})
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "signature_invalid"
    assert ok.status_code == 201, ok.text
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "signature_replayed"
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "signature_expired"
    assert len(node.conversations("tp_sig")) == 1
    async with client(node, "tp_sig", key, signing_secret=SECRET) as api:
        conv = await api.start_conversation("sam@example.com")
        assert (await api.conversation(conv.id)).id == conv.id  # the same open one


async def test_an_escalation_without_a_message_is_routed_with_what_can_be_shown(
    node: Node, receiver: Receiver
) -> None:
    """A start with a transcript and no message is an escalation: routed at once (the
    transcript is what to answer). A line that is nothing once control characters are
    taken out is left out of it (it once broke every later read of the transcript)."""
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_esc", receiver.url)
    agent = await online_agent(node)
    assert agent.sock
    async with client(node, "tp_esc", key) as api:
        conv = await api.start_conversation(
            "noor@example.com",
            name="Noor",
            transcript=[
                TranscriptLine("contact", "\u0092\u0090"),
                TranscriptLine("bot", "A refund, then?", name="Botty"),
            ],
        )
        assert conv.state == "assigned" and conv.last_seq == 1  # the agent's joining
        await agent.sock.send({"type": "history", "conversation_id": conv.id, "limit": 20})
        history = await agent.sock.expect("history")
        assert [(c["sender"], c["text"]) for c in history["context"]] == [
            ("bot", "A refund, then?")
        ]


async def test_the_contact_is_identified_by_email_alone(node: Node, receiver: Receiver) -> None:
    """Two people with the same phone are two contacts: the phone the integration gives
    is checked (E.164) and kept in the conversation's fields, for an agent to confirm;
    it never picks a contact, nor renames one (before, Bob's conversation went to Alice's
    contact, which was renamed Bob)."""
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_people", receiver.url)
    url = f"{node.base_url}/api/integrations/tp_people/conversations"
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=30) as http:
        started = []
        for email, name in (("alice@example.com", "Alice"), ("bob@example.com", "Bob")):
            contact = {"email": email, "name": name, "phone": "+44 20 7946 0958"}
            r = await http.post(url, json={"contact": contact, "message": "hi"}, headers=headers)
            assert r.status_code == 201, r.text
            started.append(r.json()["contact"])
        alice, bob = started
        assert alice["id"] != bob["id"]
        assert (alice["name"], bob["name"]) == ("Alice", "Bob")
        again = await http.post(
            url, json={"contact": {"email": "alice@example.com"}}, headers=headers
        )
        assert again.json()["contact"]["name"] == "Alice"  # her contact, not renamed
