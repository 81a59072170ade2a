"""The Bus contract, held by every implementation.

Each test gets a publishing node and a subscribing node: the same InProcessBus, the same
RedisBus, or two RedisBus instances on one server (two gateway nodes). Negative checks
("not delivered") are made safe without sleeping by publishing a marker afterwards from
the same publisher: frames from one publisher arrive in order, so once the marker is
in, anything that was going to arrive before it has.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from devkit import services
from gateway.ports.bus import Bus, InProcessBus
from gateway.ports.bus.redis import RedisBus
from tests.bus.conftest import Recorder


@dataclass
class Nodes:
    pub: Bus
    sub: Bus
    got: Recorder

    async def marker(self, topic: str) -> None:
        """Publish a marker on subscribed ``topic`` and wait until it is delivered."""
        mark = b"marker-" + uuid.uuid4().bytes
        await self.pub.publish(topic, mark)
        await self.got.wait_for(topic, mark)


@pytest.fixture(params=["memory", "redis", "redis-two-nodes"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    got = Recorder()
    buses: list[Bus] = []
    if request.param == "memory":
        buses = [InProcessBus()]
    else:
        server: services.Redis = request.getfixturevalue("redis_server")
        count = 1 if request.param == "redis" else 2
        buses = [RedisBus(server.url) for _ in range(count)]
    other = Recorder()  # the publishing node's own deliveries, when it is another node
    await buses[-1].start(got)
    if len(buses) == 2:
        await buses[0].start(other)
    try:
        yield Nodes(pub=buses[0], sub=buses[-1], got=got)
    finally:
        for bus in buses:
            await bus.stop()
    assert other.frames == []  # the publisher subscribed to nothing


def topic() -> str:
    return f"v:{uuid.uuid4()}"


async def test_delivered_exactly_once_with_same_bytes(nodes: Nodes) -> None:
    t = topic()
    await nodes.sub.subscribe(t)
    await nodes.pub.publish(t, b'{"type":"message","body":"hi"}')
    await nodes.marker(t)
    assert nodes.got.data(t)[0] == b'{"type":"message","body":"hi"}'
    assert len(nodes.got.data(t)) == 2  # the frame, then the marker: no duplicate


async def test_not_delivered_after_unsubscribe(nodes: Nodes) -> None:
    t, keep = topic(), topic()
    await nodes.sub.subscribe(t)
    await nodes.sub.subscribe(keep)
    await nodes.pub.publish(t, b"before")
    await nodes.marker(keep)
    await nodes.sub.unsubscribe(t)
    await nodes.pub.publish(t, b"after")
    await nodes.marker(keep)
    assert nodes.got.data(t) == [b"before"]


async def test_not_delivered_for_topics_not_subscribed(nodes: Nodes) -> None:
    t, other = topic(), topic()
    await nodes.sub.subscribe(t)
    await nodes.pub.publish(other, b"not for us")
    await nodes.marker(t)
    assert [tp for tp, _ in nodes.got.frames] == [t]


async def test_resubscribe_after_unsubscribe(nodes: Nodes) -> None:
    t = topic()
    await nodes.sub.subscribe(t)
    await nodes.sub.unsubscribe(t)
    await nodes.sub.subscribe(t)
    await nodes.pub.publish(t, b"again")
    await nodes.marker(t)
    assert nodes.got.data(t)[0] == b"again"


async def test_order_kept_for_1000_frames_published_concurrently(nodes: Nodes) -> None:
    t = topic()
    await nodes.sub.subscribe(t)
    frames = [b"%d" % i for i in range(1000)]
    # Started in order, none awaited before the next: the batching path.
    await asyncio.gather(*(nodes.pub.publish(t, f) for f in frames))
    await nodes.got.wait_count(1000)
    assert nodes.got.data(t) == frames


async def test_order_kept_for_sequential_awaits(nodes: Nodes) -> None:
    t = topic()
    await nodes.sub.subscribe(t)
    frames = [b"seq-%d" % i for i in range(200)]
    for f in frames:
        await nodes.pub.publish(t, f)
    await nodes.got.wait_count(200)
    assert nodes.got.data(t) == frames


async def test_order_kept_per_topic_across_topics(nodes: Nodes) -> None:
    a, b = topic(), topic()
    await nodes.sub.subscribe(a)
    await nodes.sub.subscribe(b)
    await asyncio.gather(*(nodes.pub.publish(a if i % 3 else b, b"%d" % i) for i in range(600)))
    await nodes.got.wait_count(600)
    assert nodes.got.frames == [(a if i % 3 else b, b"%d" % i) for i in range(600)]


@pytest.mark.parametrize(
    "payload",
    [
        bytes(range(256)),
        b"",
        b"\xff\xfe\x00\x80 not utf-8 \xc3\x28",
        b"\r\n$3\r\n*1\r\n",  # RESP syntax inside the payload
        bytes(range(256)) * 4096,  # 1 MiB
    ],
    ids=["all-bytes", "empty", "invalid-utf8", "resp-like", "1MiB"],
)
async def test_binary_safe(nodes: Nodes, payload: bytes) -> None:
    t = topic()
    await nodes.sub.subscribe(t)
    await nodes.pub.publish(t, payload)
    await nodes.marker(t)
    assert nodes.got.data(t)[0] == payload
    assert type(nodes.got.frames[0][0]) is str and type(nodes.got.frames[0][1]) is bytes


async def test_unicode_topic(nodes: Nodes) -> None:
    t = f"a:agent-ä-{uuid.uuid4()}"
    await nodes.sub.subscribe(t)
    await nodes.pub.publish(t, b"x")
    await nodes.marker(t)
    assert nodes.got.frames[0] == (t, b"x")


async def test_publish_without_subscribers_is_fine(nodes: Nodes) -> None:
    await nodes.pub.publish(topic(), b"nobody listens")
    assert nodes.got.frames == []


async def test_nothing_delivered_once_unsubscribe_returned(nodes: Nodes) -> None:
    t, keep = topic(), topic()
    await nodes.sub.subscribe(t)
    await nodes.sub.subscribe(keep)
    # A burst still in flight (on Redis, in socket buffers) when unsubscribe returns.
    burst = asyncio.ensure_future(
        asyncio.gather(*(nodes.pub.publish(t, b"%d" % i) for i in range(3000)))
    )
    await nodes.got.wait_count(1)
    await nodes.sub.unsubscribe(t)
    seen = len(nodes.got.data(t))
    await burst
    await nodes.marker(keep)
    assert len(nodes.got.data(t)) == seen


async def test_posted_frames_arrive_in_order_with_the_published_ones(nodes: Nodes) -> None:
    # post() returns at once; posted and published frames of one node share one order.
    t, other = topic(), topic()
    await nodes.sub.subscribe(t)
    await nodes.sub.subscribe(other)
    nodes.pub.post(t, b"1")
    nodes.pub.post(other, b"x")
    await nodes.pub.publish(t, b"2")
    nodes.pub.post(t, b"3")
    nodes.pub.post("v:nobody-listens", b"lost in silence")  # fine: no subscriber
    await nodes.marker(t)
    assert nodes.got.data(t)[:3] == [b"1", b"2", b"3"]
    assert nodes.got.data(other) == [b"x"]
