"""Automations: webhooks on conversation started, assigned, ended and (opt-in) message
created, configured for the account with filters, delivered signed from the outbox,
listed, dead-lettered and replayed through the admin API."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.gateway.client import AgentClient, Visitor, accepted_chat
from tests.gateway.conftest import AGENT
from tests.integration.conftest import HOOK_SECRET, Node, admin_client
from tests.integration.receiver import Receiver
from tests.poll import until


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    r = Receiver(HOOK_SECRET)
    await r.start()
    yield r
    await r.stop()


async def webhook(admin: httpx.AsyncClient, hook_id: str, url: str, **extra: Any) -> None:
    body = {
        "id": hook_id,
        "name": hook_id,
        "url": url,
        "secret": HOOK_SECRET,
        "events": ["conversation.started", "conversation.assigned", "conversation.ended"],
        **extra,
    }
    r = await admin.post("/api/admin/webhooks", json=body)
    assert r.status_code == 201, r.text
    assert "secret" not in r.json() and r.json()["secret_set"] is True


def visitor(node: Node) -> Visitor:
    origin = node.base_url
    return Visitor(node.proc, "tp_demo_127", origin + "/demo", origin=origin)


async def test_conversation_events_reach_the_webhooks_that_want_them(
    node: Node, hooks: Receiver
) -> None:
    other = Receiver(HOOK_SECRET)
    await other.start()
    try:
        async with await admin_client(node) as admin:
            await webhook(
                admin,
                "wh_all",
                hooks.url + "?w=all",
                events=[
                    "conversation.started",
                    "conversation.assigned",
                    "conversation.ended",
                    "message.created",
                ],
            )
            # filters: another touchpoint, another channel, this queue (started only)
            await webhook(admin, "wh_elsewhere", other.url, touchpoint_ids=["tp_demo_localhost"])
            await webhook(admin, "wh_sms", other.url, channels=["sms"])
            await webhook(
                admin,
                "wh_queue",
                hooks.url + "?w=queue",
                queue_ids=["q_support"],
                events=["conversation.started"],
            )
            agent = AgentClient(node.proc, *AGENT)
            guest = visitor(node)
            cid = await accepted_chat(agent, guest, name="Lin")
            await guest.say("Hello there")
            await agent.say(cid, "Hi Lin!")
            assert (await agent.act("end", cid))["type"] == "ok"
            await hooks.wait_events("conversation.ended")
            await hooks.wait_events("message.created", 3)
            await hooks.wait_for(lambda r: bool(r.sent_to("w=queue")), what="wh_queue's event")
            everything = hooks.sent_to("w=all")
            assert [e.type for e in everything if e.type != "message.created"] == [
                "conversation.started",
                "conversation.assigned",
                "conversation.ended",
            ]
            [queued] = hooks.sent_to("w=queue")  # the started event only, with its one id
            s, a, end = (e for e in everything if e.type != "message.created")
            assert queued.id == s.id
            assert s.conversation["id"] == cid and s.conversation["state"] == "waiting"
            assert s.conversation["queue_ids"] == ["q_support"]
            assert s.data["contact"]["name"] == "Lin"
            assert "history_url" not in s.conversation  # no GATEWAY_PUBLIC_URL: no link
            assert a.conversation["state"] == "assigned"
            assert a.data["assignment"] == {
                "agent_id": "ag_demo",
                "agent_name": "Ada (demo agent)",
                "how": "accept",
                "from_agent_id": None,
            }
            assert end.conversation["state"] == "wrapup" and end.data["ended_by"] == "agent"
            ids = [e.id for e in everything]
            assert len(set(ids)) == len(ids)  # each event its own stable id
            bodies = [(e.message or {})["body"] for e in everything if e.type == "message.created"]
            # the first message (it routed the conversation) is announced after the start
            assert [e.type for e in everything][:2] == ["conversation.started", "message.created"]
            assert bodies[:3] == ["Hello", "Hello there", "Hi Lin!"]
            # the admin API lists what each webhook was sent (recorded as sent a moment
            # after the receiver answered: deliveries are recorded in batches)

            async def all_sent() -> list[dict[str, Any]]:
                r = await admin.get("/api/admin/webhooks/wh_all/events")
                rows = list(r.json())
                return rows if all(e["state"] == "sent" for e in rows) else []

            listed = await until(all_sent, what="every event sent")
            assert {e["type"] for e in listed} >= {"conversation.started", "message.created"}
            assert all(e["attempts"] == 1 for e in listed)
            assert listed[0]["payload"]["conversation"]["id"] == cid
        assert other.got == []  # filtered out
    finally:
        await other.stop()


async def test_events_link_to_the_conversations_history_in_the_console(
    node_factory: Callable[..., Node], hooks: Receiver
) -> None:
    # the gateway's public address, as agents reach it (a link a CRM shows them)
    node = node_factory({"GATEWAY_PUBLIC_URL": "https://support.example/"})
    async with await admin_client(node) as admin:
        await webhook(admin, "wh_crm", hooks.url, events=["conversation.started"])
    # the demo touchpoints' domains take the public address's port; the chat app's
    # frames come from the gateway's own origin, the public one now
    guest = Visitor(
        node.proc, "tp_demo_127", "https://127.0.0.1/demo", origin="https://support.example"
    )
    await guest.bootstrap()
    await guest.connect()
    cid = await guest.start("Where is my order?", name="Lin")
    [started] = await hooks.wait_events("conversation.started")
    assert started.conversation["id"] == cid
    assert started.conversation["history_url"] == f"https://support.example/console#history/{cid}"


async def test_a_webhook_event_is_dead_lettered_then_replayed(
    node_factory: Callable[..., Node], hooks: Receiver
) -> None:
    node = node_factory(
        {"GATEWAY_DELIVERY_MAX_ATTEMPTS": "2", "GATEWAY_DELIVERY_RETRY_BASE": "0.05"}
    )
    hooks.answer = 500
    async with await admin_client(node) as admin:
        await webhook(admin, "wh_crm", hooks.url, events=["conversation.started"])
        guest = visitor(node)
        await guest.bootstrap()
        await guest.connect()
        cid = await guest.start(name="Kim")
        await hooks.wait_for(lambda r: len(r.got) >= 2, what="two attempts")

        async def dead() -> list[dict[str, Any]]:
            r = await admin.get("/api/admin/webhooks/wh_crm/events?state=dead")
            return list(r.json())

        # the second failure is recorded just after it was answered: no event tells
        # the test when, so it asks the admin API until it says so (bounded)
        [event] = await until(dead, what="a dead event")
        assert event["conversation_id"] == cid and event["attempts"] == 2
        assert event["last_error"] == "gave up after 2 attempts: the receiver answered HTTP 500"
        hooks.answer = 200
        r = await admin.post(f"/api/admin/webhooks/wh_crm/events/{event['event_id']}/replay")
        assert r.status_code == 200 and r.json()["state"] == "pending", r.text
        [delivered] = await hooks.wait_events("conversation.started")
        assert delivered.id == event["event_id"]
        assert len({r.headers["gateway-event-id"] for r in hooks.got}) == 1
        missing = await admin.post("/api/admin/webhooks/wh_crm/events/evt_nope/replay")
        assert missing.status_code == 404


async def test_an_event_committed_before_the_gateway_was_killed_is_delivered_after(
    node_factory: Callable[..., Node], hooks: Receiver
) -> None:
    node = node_factory({"GATEWAY_DELIVERY_LEASE": "3", "GATEWAY_WEBHOOK_TIMEOUT": "2.5"})
    async with await admin_client(node) as admin:
        await webhook(admin, "wh_crm", hooks.url, events=["conversation.started"])
    hooks.answer = "hang"  # the delivery starts and is never answered
    guest = visitor(node)
    await guest.bootstrap()
    await guest.connect()
    cid = await guest.start(name="Ari")
    await hooks.wait_for(lambda r: len(r.got) == 1, what="the delivery under way")
    first = hooks.got[0]
    node.proc.stop(signal.SIGKILL)  # committed with the conversation, never delivered
    hooks.answer = 200
    await hooks.stop()
    await hooks.start()
    node.restart()
    [event] = await hooks.wait_events("conversation.started", timeout=30)
    assert event.conversation["id"] == cid
    assert event.id == first.headers["gateway-event-id"]  # the same event, told again
