"""Deliveries to the integration's webhook: in order per conversation, retried with
backoff, dead-lettered after a bounded number of tries and replayed through the admin
API, delivered after the gateway was killed between the commit and the delivery, and
after the receiver was down for 30 s (duplicates carrying the same event id)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from tests.gateway.client import AgentClient
from tests.gateway.conftest import AGENT
from tests.integration.conftest import Node, admin_client, client, integration
from tests.integration.receiver import Receiver

FAST_RETRIES = {"GATEWAY_DELIVERY_RETRY_BASE": "0.05"}


async def assigned_conversation(node: Node, receiver: Receiver) -> tuple[AgentClient, str]:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
    agent = AgentClient(node.proc, *AGENT)
    await agent.login()
    await agent.connect()
    async with client(node, "tp_app", key) as api:
        conv = await api.start_conversation("lin@example.com", message="Hi")
    assert conv.state == "assigned", conv
    return agent, conv.id


def bodies(receiver: Receiver) -> list[str]:
    return [
        e.message["body"]
        for e in receiver.of_type("message.created")
        if e.message and e.message["kind"] == "text"
    ]


async def test_a_conversations_deliveries_arrive_in_order_through_retries(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    node = node_factory(FAST_RETRIES)
    agent, cid = await assigned_conversation(node, receiver)
    await receiver.wait_events("message.created")  # the agent joined
    receiver.fail_next = 3  # the next three attempts fail: retried, nothing overtakes
    for i in range(8):
        await agent.say(cid, f"part {i}")
    await receiver.wait_for(lambda r: len(bodies(r)) >= 8, what="eight messages")
    assert bodies(receiver) == [f"part {i}" for i in range(8)]
    failed = [r for r in receiver.got if r.answered == 500]
    assert len(failed) == 3
    # the retries were of the same event, with the same id, and counted their attempts
    first = failed[0].headers["gateway-event-id"]
    retried = [r for r in receiver.got if r.headers["gateway-event-id"] == first]
    assert [r.answered for r in retried] == [500, 500, 500, 200]


async def test_dead_lettered_after_bounded_tries_then_replayed(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    node = node_factory({**FAST_RETRIES, "GATEWAY_DELIVERY_MAX_ATTEMPTS": "3"})
    agent, cid = await assigned_conversation(node, receiver)
    await receiver.wait_events("message.created")
    receiver.answer = 503
    await agent.say(cid, "lost?")
    assert agent.sock
    failed = await agent.sock.expect("delivery", status="failed", timeout=20)
    assert failed["reason"] == "gave up after 3 attempts: the receiver answered HTTP 503"
    attempts = [r for r in receiver.got if r.answered == 503]
    assert len(attempts) == 3
    # the next message is not held up by the dead letter
    receiver.answer = 200
    await agent.say(cid, "after")
    await receiver.wait_for(lambda r: "after" in bodies(r), what="the next message")
    async with await admin_client(node) as admin:
        listed = (await admin.get("/api/admin/touchpoints/tp_app/failed-messages")).json()
        assert [(m["conversation_id"], m["body"], m["delivery"]) for m in listed] == [
            (cid, "lost?", "failed")
        ]
        r = await admin.post(
            "/api/admin/touchpoints/tp_app/failed-messages/replay",
            json={"conversation_id": cid, "seq": listed[0]["seq"]},
        )
        assert r.status_code == 200 and r.json()["delivery"] == "pending", r.text
        await receiver.wait_for(lambda r: "lost?" in bodies(r), what="the replayed message")
        assert (await admin.get("/api/admin/touchpoints/tp_app/failed-messages")).json() == []
        again = await admin.post(
            "/api/admin/touchpoints/tp_app/failed-messages/replay",
            json={"conversation_id": cid, "seq": listed[0]["seq"]},
        )
        assert again.status_code == 409
    # the replay carries the event id the failed attempts had
    ids = {r.headers["gateway-event-id"] for r in receiver.got if r.answered == 503}
    delivered = [r for r in receiver.got if r.event and r.event.message and r.event.message["body"] == "lost?" and r.answered == 200]  # fmt: skip
    assert ids == {delivered[0].headers["gateway-event-id"]}
    await agent.sock.expect("delivery", status="sent", seq=listed[0]["seq"], timeout=10)


async def test_the_gateway_killed_between_commit_and_delivery_delivers_after_restart(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    node = node_factory({"GATEWAY_DELIVERY_LEASE": "3", "GATEWAY_WEBHOOK_TIMEOUT": "2.5"})
    agent, cid = await assigned_conversation(node, receiver)
    await receiver.wait_events("message.created")
    receiver.answer = "hang"  # the delivery starts, and is never answered
    await agent.say(cid, "in flight")
    await receiver.wait_for(
        lambda r: any(x.answered == 0 for x in r.got), what="the delivery under way"
    )
    hung = next(x for x in receiver.got if x.answered == 0)
    node.proc.stop(signal.SIGKILL)  # committed, claimed, not delivered: the gateway dies
    receiver.answer = 200
    await receiver.stop()
    await receiver.start()
    node.restart()
    await receiver.wait_for(
        lambda r: "in flight" in bodies(r), timeout=30, what="the delivery after the restart"
    )
    delivered = next(
        x for x in receiver.got if x.event and x.event.message and x.event.message["body"] == "in flight"
    )  # fmt: skip
    # the same event, told twice at most: the receiver drops it by its id
    assert delivered.headers["gateway-event-id"] == hung.headers["gateway-event-id"]


async def test_a_receiver_down_for_30_seconds_gets_everything_after(
    node: Node, receiver: Receiver
) -> None:
    agent, cid = await assigned_conversation(node, receiver)
    await receiver.wait_events("message.created")
    await receiver.stop()
    for i in range(3):
        await agent.say(cid, f"while down {i}")
    await asyncio.sleep(30)  # the scenario itself: the receiver stays down for 30 s
    before = len(receiver.got)
    # back up; its first answer is lost (a 500 after it recorded the event): a duplicate
    receiver.fail_next = 1
    await receiver.start()
    await receiver.wait_for(
        lambda r: len(bodies(r)) >= 3, timeout=120, what="everything sent while down"
    )
    assert bodies(receiver) == [f"while down {i}" for i in range(3)]
    assert before == 1  # nothing could reach it while it was down
    dup = next(r for r in receiver.got[before:] if r.answered == 500)
    ok = [r for r in receiver.got if r.answered == 200 and r.body == dup.body]
    assert ok and ok[0].headers["gateway-event-id"] == dup.headers["gateway-event-id"]
