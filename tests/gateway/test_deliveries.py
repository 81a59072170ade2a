"""Outbound delivery through a channel's adapter (gateway/services/deliveries.py): the
message is the job, committed before anything is sent, delivered in order, retried with
backoff, failed with a reason, taken over after a crash.

The node, its store and its services are real; the adapter is this test's own channel
adapter for SMS, recording what it is asked to deliver (the real SMS adapter and its
provider emulator are tested in tests/channels)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import protocol as p
from gateway import topics
from gateway.app import Node
from gateway.errors import Forbidden
from gateway.model.inbound import InboundMessage
from gateway.model.records import Agent, Conversation, Message, Queue, Touchpoint
from gateway.services.deliveries import Deliveries, Outcome, failed, retry_delay, sent
from gateway.settings import load_settings
from gateway.web.hub import Connection


class Provider:
    """What the test's SMS adapter answers, in order; records every attempt."""

    def __init__(self, *answers: Outcome) -> None:
        self.answers = list(answers)
        self.attempts: list[tuple[str, int, str]] = []
        self.refuse: Exception | None = None
        self.delivered = asyncio.Event()
        self._attempted = asyncio.Condition()

    async def check_outbound(self, conv: Conversation) -> None:
        if self.refuse is not None:
            raise self.refuse

    async def until(self, count: int) -> None:
        """Wait until ``count`` attempts were made."""
        async with self._attempted:
            await asyncio.wait_for(
                self._attempted.wait_for(lambda: len(self.attempts) >= count), 10
            )

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        self.attempts.append((conv.id, message.seq, message.body))
        async with self._attempted:
            self._attempted.notify_all()
        outcome = self.answers.pop(0) if self.answers else sent(f"SM{len(self.attempts)}")
        if outcome.sent or not outcome.retryable:
            self.delivered.set()
        return outcome


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        {
            "GATEWAY_DATA_DIR": str(tmp_path),
            "GATEWAY_SECRET_KEY": "k" * 40,
            "GATEWAY_DEMO": "false",
        }
    )
    node = Node(settings)
    await node.start()
    node.deliveries.poll = 0.05  # the retries below are due within a second
    store = node.store
    await store.put_queue(Queue(id="q", name="Q"))
    await store.put_agent(Agent(id="ag", email="a@x.test", name="Ada", queue_ids=["q"]))
    await store.put_touchpoint(
        Touchpoint(
            id="tp_sms",
            name="SMS",
            channel="sms",
            active=True,
            routing_mode="simplified",
            queue_ids=["q"],
        )
    )
    await node.shell.config_changed()
    await node.agents.online("ag")
    try:
        yield node
    finally:
        await node.stop()


async def assigned_sms(node: Node, provider: Provider) -> tuple[Agent, Conversation]:
    node.deliveries.register("sms", provider)
    conv, _, _ = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms", address="+15550001", provider_message_id="in-1", body="hi"
        )
    )
    agent = node.agents.agent("ag")
    await node.desk.act(agent, p.Assign(conversation_id=conv.id))
    return agent, await node.conversations.get(conv.id)


async def frames_for(node: Node, agent_id: str) -> asyncio.Queue[bytes]:
    """What an agent's console socket on this node receives (a socket of the hub)."""
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def send_text(text: str) -> None:
        got.put_nowait(text.encode())

    async def close(code: int, reason: str) -> None:
        return None

    await node.hub.add(Connection(topics.agent(agent_id), send_text, close, 256, 1 << 22))
    return got


async def delivery_frame(frames: asyncio.Queue[bytes]) -> dict[str, object]:
    import json

    while True:
        frame = json.loads(await asyncio.wait_for(frames.get(), 10))
        if frame["type"] == "delivery":
            return dict(frame)


async def test_an_agents_message_is_delivered_and_reported(node: Node) -> None:
    provider = Provider()
    agent, conv = await assigned_sms(node, provider)
    frames = await frames_for(node, agent.id)
    ack = await node.desk.send(agent, conv, "c-1", "Your parcel left today.")
    stored = (await node.store.messages(conv.id, after_seq=ack.seq - 1))[0]
    assert stored.delivery in ("pending", "sent")  # committed before anything was sent
    await asyncio.wait_for(provider.delivered.wait(), 10)
    frame = await delivery_frame(frames)
    assert frame == {
        "type": "delivery",
        "conversation_id": conv.id,
        "seq": ack.seq,
        "status": "sent",
    }
    assert provider.attempts == [(conv.id, ack.seq, "Your parcel left today.")]
    msg = await node.deliveries.by_provider_id("SM1", "tp_sms")
    assert await node.deliveries.by_provider_id("SM1", "tp_other") is None
    assert msg is not None and (msg.seq, msg.delivery) == (ack.seq, "sent")
    # a retry of the same client message id sends nothing twice
    again = await node.desk.send(agent, conv, "c-1", "Your parcel left today.")
    assert again.duplicate and again.seq == ack.seq
    # the next message's attempt comes after any second one of the first would have
    nxt = await node.desk.send(agent, conv, "c-2", "It arrives tomorrow.")
    await provider.until(2)
    assert provider.attempts == [
        (conv.id, ack.seq, "Your parcel left today."),
        (conv.id, nxt.seq, "It arrives tomorrow."),
    ]


async def test_a_failed_automatic_reply_is_told_to_the_agent_it_is_with(node: Node) -> None:
    """A system message (an automatic reply, a keyword's confirmation) that failed was
    told to nobody: only the agent who wrote a message heard of its fate."""
    provider = Provider(failed("the number cannot receive texts", retryable=False))
    agent, conv = await assigned_sms(node, provider)
    frames = await frames_for(node, agent.id)
    msg, _ = await node.conversations.system_send(conv, "auto-1", "We are closed today.")
    frame = await delivery_frame(frames)
    assert (frame["seq"], frame["status"]) == (msg.seq, "failed")
    assert frame["reason"] == "the number cannot receive texts"


async def test_retries_with_backoff_then_fails_with_a_reason(node: Node) -> None:
    node.deliveries.max_attempts = 3
    timeout = failed("the provider did not answer", retryable=True, retry_after=0.01)
    provider = Provider(timeout, timeout, timeout)
    agent, conv = await assigned_sms(node, provider)
    frames = await frames_for(node, agent.id)
    original = node.deliveries._store.retry_delivery

    async def soon(conversation_id: str, seq: int, due: float, error: str) -> None:
        # the backoff itself is tested as a pure function below; here, be quick
        await original(conversation_id, seq, node.clock(), error)

    node.deliveries._store.retry_delivery = soon  # type: ignore[method-assign]
    ack = await node.desk.send(agent, conv, "c-1", "Are you there?")
    frame = await delivery_frame(frames)
    # dead-lettered: the reason says it was given up on, and why
    reason = "gave up after 3 attempts: the provider did not answer"
    assert (frame["status"], frame["reason"]) == ("failed", reason)
    assert len(provider.attempts) == 3
    [msg] = await node.store.messages(conv.id, after_seq=ack.seq - 1)
    assert (msg.delivery, msg.delivery_error) == ("failed", reason)


async def test_a_refusal_before_sending_stores_nothing(node: Node) -> None:
    provider = Provider()
    provider.refuse = Forbidden("this number has opted out", code="opted_out")
    agent, conv = await assigned_sms(node, provider)
    with pytest.raises(Forbidden) as info:
        await node.desk.send(agent, conv, "c-1", "Hello?")
    assert info.value.code == "opted_out"
    assert [m.sender for m in await node.store.messages(conv.id)] == ["contact", "system"]
    assert provider.attempts == []


async def test_a_conversations_messages_go_out_in_order(node: Node) -> None:
    slow = failed("busy", retryable=True, retry_after=0.0)
    provider = Provider(slow)
    agent, conv = await assigned_sms(node, provider)
    for i in range(4):
        await node.desk.send(agent, conv, f"c-{i}", f"part {i}")
    await provider.until(5)
    bodies = [body for _, _, body in provider.attempts]
    # the first failed once and was retried before any later message went out
    assert bodies == ["part 0", "part 0", "part 1", "part 2", "part 3"]


async def test_a_message_claimed_by_a_node_that_died_is_delivered_by_another(
    node: Node,
) -> None:
    provider = Provider()
    agent, conv = await assigned_sms(node, provider)
    await node.deliveries.stop()  # this node's worker is gone
    await node.store.append_message(
        conv.id,
        sender="agent",
        sender_id=agent.id,
        client_msg_id="orphan",
        body="written before the crash",
        now=node.clock(),
        delivery="pending",
    )
    # it was claimed, then the claimer died before recording anything
    [job] = await node.store.claim_deliveries(node.clock(), lease=0.3, limit=10)
    assert job.message.body == "written before the crash"
    frames = await frames_for(node, agent.id)
    other = Deliveries(node.store, node.notifier, node.clock, poll=0.05)
    other.register("sms", provider)
    await other.start()
    try:
        frame = await delivery_frame(frames)
    finally:
        await other.stop()
    assert (frame["seq"], frame["status"]) == (job.message.seq, "sent")
    assert [body for _, _, body in provider.attempts] == ["written before the crash"]
    [msg] = await node.store.messages(conv.id, after_seq=job.message.seq - 1)
    assert msg.delivery == "sent"


def test_the_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    assert [retry_delay(a, rng=lambda: 1.0) for a in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(1, rng=lambda: 0.0) == 1.0  # jitter keeps at least half
    assert retry_delay(30, rng=lambda: 1.0) == 300.0  # capped
    assert all(1.0 <= retry_delay(1) <= 2.0 for _ in range(100))
