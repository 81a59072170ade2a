"""The outbox worker's care for a failing receiver (gateway/services/outbox.py
``_Health``): left alone for a backoff that grows with its failures, then probed with
one event at a time, forgotten once it answers. The logic is the worker's own; the
sender here is a scripted one (what a receiver answers is tested against real ones in
tests/integration)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.model.integrations import OutboxEvent, Webhook
from gateway.services.deliveries import Outcome, failed, sent
from gateway.services.directory import Directory
from gateway.services.outbox import PER_TARGET, Outbox


class Sender:
    def __init__(self) -> None:
        self.answer: Outcome = failed("the receiver cannot be reached", retryable=True)
        self.posts = 0

    async def post(self, *args: Any, **kwargs: Any) -> Outcome:
        self.posts += 1
        await asyncio.sleep(0)
        return self.answer


def event(n: int) -> OutboxEvent:
    return OutboxEvent(
        n=n,
        event_id=f"e{n}",
        target="wh",
        type="conversation.started",
        conversation_id=f"c{n}",
        payload={},
        created_at=0.0,
        state="pending",
        attempts=1,
    )


async def test_a_failing_receiver_is_left_alone_then_probed_one_event_at_a_time() -> None:
    now = [100.0]
    directory = Directory(None)  # type: ignore[arg-type]
    directory.webhooks = {"wh": Webhook(id="wh", name="CRM", url="http://x/", secret="s" * 32)}
    sender = Sender()
    outbox = Outbox(None, directory, sender, lambda: now[0], retry_base=2.0)  # type: ignore[arg-type]
    assert outbox._skip() == []
    # a burst claimed before anyone knew: all fail, and count as one failure
    await asyncio.gather(*(outbox._attempt(event(i)) for i in range(PER_TARGET)))
    health = outbox._health["wh"]
    assert health.streak == 1 and 101.0 <= health.paused_until <= 102.0
    assert outbox._skip() == ["wh"]  # resting: none of its events is claimed
    assert len(outbox._retry) == PER_TARGET  # each event keeps its own retry too
    now[0] = 102.5  # rested: one probe at a time
    assert outbox._skip() == []
    probe = asyncio.ensure_future(outbox._attempt(event(9)))
    await asyncio.sleep(0)
    assert outbox._skip() == ["wh"]  # while the probe is under way
    await probe
    assert health.streak == 2 and 104.5 <= health.paused_until <= 106.5  # a longer rest
    now[0] = 107.0
    sender.answer = sent()
    await outbox._attempt(event(10))
    assert outbox._skip() == [] and "wh" not in outbox._health  # healthy: forgotten
    assert sender.posts == PER_TARGET + 2
