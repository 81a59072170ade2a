"""A supervisor moves a conversation nobody holds to another queue, over a real gateway
process: the console's transfer frame (and the admin API's transfer, the same desk
action) with ``to_queue_id`` on a waiting or ringing conversation. The old queue's
agents lose its Inbox row, the new queue's get it (rung, if it rings), the stored row
has the new queue, the live view says so, and a restarted gateway rebuilds it there. An
agent trying the same is refused with the router's code and nothing changes
(docs/protocol.md, the transfer frame; docs/routing.md, "Conversation actions")."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from devkit import services
from gateway.model.records import Queue
from tests.gateway.client import AgentClient
from tests.gateway.conftest import agent_record, demo_visitor, seed
from tests.gateway.test_admin_live import row_of
from tests.gateway.test_agent_frames_refused import connected, held, stored

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    """Agent a in q_support, c in q_billing, a supervisor in no queue. Offers ring for
    ten minutes."""
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gw-move-')}/gateway.db"
    seed(
        url,
        queues=[Queue(id="q_billing", name="Billing")],
        agents=[
            agent_record("ag_a", "a@test", ["q_support"]),
            agent_record("ag_c", "c@test", ["q_billing"]),
            agent_record("ag_sup", "sup@test", [], role="supervisor"),
        ],
    )
    env = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_DEMO": "1",
        "GATEWAY_OFFER_TIMEOUT": "600",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_FRAMES_PER_MINUTE": "0",
    }
    gw = services.start_gateway(env)
    yield gw
    gw.stop()


async def conversation(node: services.GatewayProcess, cid: str) -> dict[str, Any]:
    """The stored conversation, as the admin API reads it."""
    token = await asyncio.to_thread(
        services.login_token, node.base_url, "admin@demo.test", "demo-admin"
    )
    async with node.http(headers={"Authorization": f"Bearer {token}"}) as c:
        r = await c.get(f"/api/admin/conversations/{cid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def live_queues(sup: AgentClient, cid: str, queue_ids: list[str]) -> dict[str, Any]:
    """The live view's update with the row of ``cid`` in these queues (earlier updates
    of it, from its arrival, may come first)."""
    assert sup.sock
    seen: list[Any] = []
    while True:
        try:
            frame = await sup.sock.expect("live_update")
        except TimeoutError:
            raise AssertionError(f"no live row of {cid} in {queue_ids}: {seen}") from None
        for row in frame["conversations"]:
            if row["conversation_id"] == cid:
                seen.append(row["queue_ids"])
                if row["queue_ids"] == queue_ids:
                    return frame


async def test_a_supervisor_moves_a_waiting_conversation_to_another_queue(
    node: services.GatewayProcess,
) -> None:
    a, c, sup = await connected(node, "a"), await connected(node, "c"), await connected(node, "sup")
    assert a.sock and c.sock and sup.sock
    await sup.sock.send({"type": "live", "on": True})
    await sup.sock.expect("live")
    cid = await held(node)  # waits in q_support, rings nobody
    assert (await row_of(a, cid, "inbox"))["queue_ids"] == ["q_support"]
    before = stored(node)
    arrived = (await conversation(node, cid))["arrived_at"]

    # an agent cannot move what nobody holds: the router's code, nothing changed
    refused = await a.act("transfer", cid, to_queue_id="q_billing", note="n")
    assert (refused["type"], refused["code"]) == ("error", "not_assigned"), refused
    assert stored(node) == before
    assert (await conversation(node, cid))["queue_ids"] == ["q_support"]

    a.sock.drain()
    c.sock.drain()
    sup.sock.drain()
    done = await sup.act("transfer", cid, to_queue_id="q_billing")
    assert done["type"] == "ok", done
    # out of a's Inbox, into c's, at its place (its arrival is kept)
    await row_of(a, cid, "gone")
    row = await row_of(c, cid, "inbox")
    assert (row["queue_ids"], row["state"]) == (["q_billing"], "waiting")
    update = await live_queues(sup, cid, ["q_billing"])
    # both queues' counts: the one it left as well as the one it is in
    counts = {q["queue_id"]: q["waiting"] for q in update["queues"]}
    assert counts == {"q_billing": 1, "q_support": 0}, update
    after = await conversation(node, cid)
    assert (after["queue_ids"], after["state"]) == (["q_billing"], "waiting")
    assert after["arrived_at"] == arrived
    # a may no longer take it; c may
    assert (await a.act("assign", cid))["code"] == "not_found"
    assert (await c.act("assign", cid))["type"] == "ok"


async def test_the_admin_api_moves_a_ringing_conversation_and_a_restart_keeps_it(
    node: services.GatewayProcess,
) -> None:
    a, c, sup = await connected(node, "a"), await connected(node, "c"), await connected(node, "sup")
    assert a.sock and c.sock
    await c.sock.send({"type": "status", "status": "away", "ref": "away"})
    await c.sock.expect("ok", ref="away")
    visitor = demo_visitor(node)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Misrouted")
    assert (await a.sock.expect("offer"))["conversation"]["conversation_id"] == cid
    async with node.http(headers={"Authorization": f"Bearer {sup.token}"}) as http:
        r = await http.post(
            f"/api/admin/conversations/{cid}/transfer", json={"to_queue_id": "q_billing"}
        )
    assert r.status_code == 200, r.text
    assert (r.json()["queue_ids"], r.json()["state"]) == (["q_billing"], "waiting")
    withdrawn = await a.sock.expect("offer_withdrawn", conversation_id=cid)
    assert withdrawn["reason"] == "moved"
    await row_of(a, cid, "gone")
    await row_of(c, cid, "inbox")
    # c comes back: it rings c, the new queue's agent
    await c.sock.send({"type": "status", "status": "available", "ref": "back"})
    assert (await c.sock.expect("offer"))["conversation"]["conversation_id"] == cid
    # moving it again to the queue it is in only is refused
    async with node.http(headers={"Authorization": f"Bearer {sup.token}"}) as http:
        r = await http.post(
            f"/api/admin/conversations/{cid}/transfer", json={"to_queue_id": "q_billing"}
        )
    assert (r.status_code, r.json()["error"]["code"]) == (409, "invalid_transfer")
    assert visitor.sock
    await visitor.sock.close()

    # a restarted gateway rebuilds its router from the store: it is in q_billing there
    for agent in (a, c, sup):
        assert agent.sock
        await agent.sock.close()
    node.stop()
    again = services.start_gateway(node.env, port=node.port)
    try:
        c2 = await connected(again, "c")
        a2 = await connected(again, "a")
        assert cid in {row["conversation_id"] for row in c2.snapshot["inbox"]}
        assert cid not in {row["conversation_id"] for row in a2.snapshot["inbox"]}
        for agent in (a2, c2):
            assert agent.sock
            await agent.sock.close()
    finally:
        again.stop()
