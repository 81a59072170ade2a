"""Changing a touchpoint's queues affects new conversations only (PRODUCT.md, "Queues";
docs/routing.md, "Touchpoints"), over a real gateway: the admin API moves a simplified
integration touchpoint from q_support to a new queue while a conversation waits; the
waiting one stays in q_support's Inbox (the demo agent sees and takes it, the new
queue's agent neither), the next one goes to the new queue only, also after a restart. The router's logic
alone: tests/routing/test_touchpoint_queues.py."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.client import AgentClient
from tests.gateway.conftest import AGENT
from tests.integration.conftest import SECRET, Node, admin_client, client
from tests.integration.receiver import Receiver

TP = "tp_queues"
NIA = ("nia@queues.test", "nia-password-1")


async def simplified_integration(admin: httpx.AsyncClient, webhook_url: str) -> str:
    """An active integration touchpoint under simplified routing to q_support; its key."""
    r = await admin.post(
        "/api/admin/touchpoints",
        json={"id": TP, "name": "Queues", "channel": "api", "direction": "both",
              "routing_mode": "simplified", "queue_ids": ["q_support"],
              "settings": {"webhook_url": webhook_url, "signing_secret": SECRET}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert (await admin.post(f"/api/admin/touchpoints/{TP}/activate")).status_code == 200
    r = await admin.post(f"/api/admin/touchpoints/{TP}/api-keys", json={"name": "tests"})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def online(node: Node, who: tuple[str, str]) -> AgentClient:
    agent = AgentClient(node.proc, *who)
    await agent.login()
    await agent.connect()
    return agent


def inbox(agent: AgentClient) -> list[str]:
    return [row["conversation_id"] for row in agent.snapshot["inbox"]]


async def row_for(agent: AgentClient, cid: str) -> dict[str, Any]:
    assert agent.sock
    frame = await agent.sock.expect("conversation", timeout=10)
    assert frame["conversation"]["conversation_id"] == cid, frame
    return dict(frame["conversation"])


async def test_a_waiting_conversation_keeps_its_queue_and_a_new_one_takes_the_new(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await simplified_integration(admin, receiver.url)
        r = await admin.post("/api/admin/queues", json={"id": "q_new", "name": "New"})
        assert r.status_code == 201, r.text
        r = await admin.post(
            "/api/admin/agents",
            json={"id": "ag_nia", "email": NIA[0], "name": "Nia", "role": "agent",
                  "queue_ids": ["q_new"], "password": NIA[1]},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        ada = await online(node, AGENT)  # q_support
        nia = await online(node, NIA)  # q_new
        assert ada.sock and nia.sock
        async with client(node, TP, key) as api:
            old = await api.start_conversation("old@example.com", subject="Old", message="Hi")
            row = await row_for(ada, old.id)
            assert row["queue_ids"] == ["q_support"]

            r = await admin.patch(f"/api/admin/touchpoints/{TP}", json={"queue_ids": ["q_new"]})
            assert r.status_code == 200, r.text
            new = await api.start_conversation("new@example.com", subject="New", message="Hi")
            row = await row_for(nia, new.id)
            assert row["queue_ids"] == ["q_new"]
            assert (await api.conversation(old.id)).queue_ids == ["q_support"]
            assert (await api.conversation(new.id)).queue_ids == ["q_new"]

            # what each sees after the change, from a fresh snapshot: its own queue's only,
            # also once the router is rebuilt from the store (a restart)
            node.proc.stop()
            node.restart()
            ada, nia = await online(node, AGENT), await online(node, NIA)
            assert inbox(ada) == [old.id] and inbox(nia) == [new.id]
            for agent, other in ((ada, new.id), (nia, old.id)):
                refused = await agent.act("assign", other)
                assert refused["type"] == "error", refused
            assert (await ada.act("assign", old.id))["type"] == "ok"
            assert (await nia.act("assign", new.id))["type"] == "ok"
            assert (await api.conversation(old.id)).state == "assigned"
            assert (await api.conversation(new.id)).state == "assigned"
