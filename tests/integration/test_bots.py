"""Bots before agents, end to end: a flow hands a new chat to a bot (an integration
touchpoint with a real receiver on loopback, or the example bot run as a script), which
answers through the API; the conversation goes to the agents when the bot escalates,
the contact asks for a person, or the bot's time is up, waiting from the handover."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from devkit import services
from devkit.services import ROOT, free_port
from examples.gateway_client import ApiError, IntegrationClient, TranscriptLine
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import AGENT
from tests.integration.conftest import SECRET, Node, admin_client, integration
from tests.integration.receiver import Receiver


async def bot_first(node: Node, webhook_url: str, timeout: int = 600) -> str:
    """The demo chat touchpoint hands new chats to the bot tp_bot first; its API key."""
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_bot", webhook_url)
        flow = {
            "default": {
                "queue_ids": ["q_support"],
                "priority": 1,
                "bot": "tp_bot",
                "bot_timeout": timeout,
            }
        }
        r = await admin.patch("/api/admin/touchpoints/tp_demo_127", json={"flow": flow})
        assert r.status_code == 200, r.text
    return key


async def chat(node: Node, first: str = "Hello") -> tuple[Visitor, str]:
    """A visitor's chat, started with its ``first`` message (which routes it)."""
    guest = Visitor(node.proc, "tp_demo_127", node.base_url + "/demo", origin=node.base_url)
    await guest.bootstrap()
    await guest.connect()
    return guest, await guest.start(first, name="Lin")


async def agent_online(node: Node) -> AgentClient:
    agent = AgentClient(node.proc, *AGENT)
    await agent.login()
    await agent.connect()
    return agent


async def test_a_bot_answers_then_escalates_and_the_agent_gets_context(
    node: Node, receiver: Receiver
) -> None:
    key = await bot_first(node, receiver.url)
    agent = await agent_online(node)
    # the question is the chat's first message: stored before the bot holds the
    # conversation, it is sent to the bot after the start
    guest, cid = await chat(node, "When are you open?")
    [started] = await receiver.wait_events("conversation.started")
    assert started.conversation["id"] == cid and started.conversation["state"] == "bot"
    assert started.conversation["bot_id"] == "tp_bot" and started.data["contact"]["name"] == "Lin"
    async with IntegrationClient(node.base_url, "tp_bot", key) as bot:
        conv = await bot.conversation(cid)
        assert (conv.state, conv.bot_id, conv.channel) == ("bot", "tp_bot", "chat")
        # no agent sees it: not offered, not in the Inbox
        again = await agent_online(node)
        assert cid not in [c["conversation_id"] for c in again.snapshot["inbox"]]
        [asked] = await receiver.wait_events("message.created")
        assert [e.type for e in receiver.events][:2] == ["conversation.started", "message.created"]
        assert asked.message is not None and asked.message["body"] == "When are you open?"
        reply = await bot.send(cid, "9 to 6, Monday to Friday.", sender="bot")
        assert (reply.sender, reply.sender_name) == ("bot", "Integration tp_bot")
        assert guest.sock
        seen = await guest.sock.expect("message", body="9 to 6, Monday to Friday.")
        assert (seen["sender"], seen["sender_name"]) == ("system", "Integration tp_bot")
        # the bot escalates: the transcript travels, the waiting starts now
        handed = await bot.escalate(cid, [TranscriptLine("bot", "Asked about opening hours")])
        assert handed.state in ("waiting", "offered") and handed.arrived_at > handed.created_at
        assert agent.sock
        offer = await agent.sock.expect("offer", timeout=10)
        summary = offer["conversation"]
        assert summary["conversation_id"] == cid and summary["unread"] == 0  # context, not news
        assert summary["arrived_at"] == handed.arrived_at
        assert (await agent.act("accept", cid))["type"] == "ok"
        await agent.sock.send({"type": "history", "conversation_id": cid, "limit": 20})
        history = await agent.sock.expect("history")
        assert [i.get("body") for i in history["items"] if i["type"] == "message"] == [
            "When are you open?",
            "9 to 6, Monday to Friday.",
        ]
        assert history["context"] == [{"sender": "bot", "text": "Asked about opening hours"}]
        handover = await receiver.wait_events("conversation.handed_over")
        assert handover[0].data["handover"] == {"reason": "escalated"}
        try:
            await bot.send(cid, "Still here?", sender="bot")
        except ApiError as exc:
            assert (exc.status, exc.code) == (409, "not_with_bot")
        else:
            raise AssertionError("the bot no longer holds the conversation")


async def test_the_contact_asking_for_a_person_hands_over(node: Node, receiver: Receiver) -> None:
    await bot_first(node, receiver.url)
    agent = await agent_online(node)
    guest, cid = await chat(node)
    await receiver.wait_events("conversation.started")
    await guest.say("Can I talk to a HUMAN please?")
    assert agent.sock
    offer = await agent.sock.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == cid
    [handover] = await receiver.wait_events("conversation.handed_over")
    assert handover.data["handover"] == {"reason": "contact_asked"}
    assert handover.conversation["state"] == "waiting"


async def test_a_bot_closing_a_chat_ends_it_for_the_visitor(node: Node, receiver: Receiver) -> None:
    key = await bot_first(node, receiver.url)
    guest, cid = await chat(node)
    await receiver.wait_events("conversation.started")
    async with IntegrationClient(node.base_url, "tp_bot", key) as bot:
        closed = await bot.close(cid)
    assert closed.state == "closed" and closed.ended_at is not None
    assert guest.sock
    await guest.sock.expect("event", event="ended", timeout=10)
    [ended] = await receiver.wait_events("conversation.ended")
    assert ended.data["ended_by"] == "contact" and ended.conversation["state"] == "closed"


async def test_the_bots_time_runs_out(node: Node, receiver: Receiver) -> None:
    await bot_first(node, receiver.url, timeout=2)
    agent = await agent_online(node)
    _, cid = await chat(node)
    assert agent.sock
    offer = await agent.sock.expect("offer", timeout=20)  # the router's Tick hands it over
    assert offer["conversation"]["conversation_id"] == cid
    [handover] = await receiver.wait_events("conversation.handed_over")
    assert handover.data["handover"] == {"reason": "timeout"}


async def test_the_example_bot_greets_answers_one_question_and_hands_over(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    node = node_factory()
    port = free_port()
    key = await bot_first(node, f"http://127.0.0.1:{port}/events")
    bot = example_bot(node, key, port)
    try:
        await wait_listening(port, bot)
        agent = await agent_online(node)
        guest, cid = await chat(node, "How long does delivery take?")
        assert guest.sock and agent.sock
        # Bounds for a busy machine: the bot is a process of its own, answering through
        # the webhook and the integration API (15 s was once too short at load 6).
        greeting = await guest.sock.expect("message", timeout=60, sender="system")
        assert greeting["body"].startswith("Hi! I am the demo bot.")
        answer = await guest.sock.expect("message", timeout=60, sender="system")
        assert answer["body"].startswith("We deliver in three working days.")
        offer = await agent.sock.expect("offer", timeout=60)
        assert offer["conversation"]["conversation_id"] == cid
    finally:
        bot.terminate()
        bot.wait(10)


def example_bot(node: Node, key: str, port: int) -> subprocess.Popen[bytes]:
    """examples/demo_bot.py as its own process, for tp_bot, listening on ``port``."""
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "demo_bot.py"),
            *("--gateway", node.base_url, "--touchpoint", "tp_bot", "--key", key),
            *("--secret", SECRET, "--port", str(port)),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the bot listens (devkit's wait_port, off the event loop: an in-process
    gateway keeps serving meanwhile)."""
    await asyncio.to_thread(services.wait_port, port, 20.0, proc)


def two_free_ports() -> int:
    """A port whose next one is free too (for a test to take: another node's)."""
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


async def test_the_demo_runs_the_example_bot_for_its_bot_page() -> None:
    """What ./scripts/serve does: the demo seeds the bot, writes its key (mode 0600) and
    secret for it, and examples/demo_bot.py --config answers the chats of /demo/bot. The
    bot listens on a port the OS gave, not on the gateway's + 1: that one is another
    node's (./scripts/cluster, gateway@8001), taken here."""
    port = two_free_ports()
    next_node = socket.socket()
    next_node.bind(("127.0.0.1", port + 1))
    next_node.listen()
    node = services.start_gateway({"GATEWAY_DEMO": "1"}, port=port)
    bot: subprocess.Popen[bytes] | None = None
    try:
        path = Path(node.env["GATEWAY_DATA_DIR"]) / "demo-bot.json"
        assert path.stat().st_mode & 0o777 == 0o600
        config = json.loads(path.read_text())
        assert config["port"] not in (port, port + 1) and config["api_key"].startswith("gk_")
        assert config["api_key"] not in node.output()
        async with httpx.AsyncClient() as http:
            page = await http.get(node.base_url + "/demo/bot")
        assert page.status_code == 200 and 'data-touchpoint="tp_demo_bot_127"' in page.text
        bot = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
            [sys.executable, str(ROOT / "examples" / "demo_bot.py"), "--config", str(path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        await wait_listening(config["port"], bot)
        guest = Visitor(node, "tp_demo_bot_127", node.base_url + "/demo/bot", origin=node.base_url)
        await guest.bootstrap()
        await guest.connect()
        await guest.start()
        assert guest.sock
        greeting = await guest.sock.expect("message", timeout=15, sender="system")
        assert (greeting["sender_name"], greeting["body"][:20]) == (
            "Demo bot",
            "Hi! I am the demo bo",
        )
    finally:
        if bot is not None:
            bot.terminate()
            bot.wait(10)
        node.stop()
    # a restart keeps the file (its key still works) and the bot's settings
    again = services.start_gateway({**node.env}, port=port)
    try:
        assert json.loads(path.read_text()) == config
    finally:
        again.stop()
        next_node.close()


async def test_the_contact_card_lists_the_conversation_a_bot_holds(
    node: Node, receiver: Receiver
) -> None:
    """The contact writes on two integration touchpoints: one hands its chats to a bot,
    the other to the agents; the agent's card of the second lists the first, with its
    bot."""
    async with await admin_client(node) as admin:
        await integration(admin, "tp_bot", receiver.url)
        bot_flow = {"default": {"queue_ids": ["q_support"], "bot": "tp_bot"}}
        front = await integration(admin, "tp_front", receiver.url, flow=bot_flow)
        app = await integration(admin, "tp_app", receiver.url)
    agent = await agent_online(node)
    async with IntegrationClient(node.base_url, "tp_front", front) as api:
        held = await api.start_conversation("lin@example.com", name="Lin", message="Hi bot")
    assert held.state == "bot"
    async with IntegrationClient(node.base_url, "tp_app", app) as api:
        cid = (await api.start_conversation("lin@example.com", name="Lin", message="Hi")).id
    async with httpx.AsyncClient(
        base_url=node.base_url, headers={"Authorization": f"Bearer {agent.token}"}
    ) as http:
        r = await http.get(f"/api/console/conversations/{cid}/card")
    assert r.status_code == 200, r.text
    [earlier] = r.json()["earlier"]
    assert earlier["conversation_id"] == held.id
    assert (earlier["state"], earlier["bot_name"]) == ("bot", "Integration tp_bot")
