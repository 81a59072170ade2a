"""RedisBus beyond the contract: fan-out between nodes, batching, and faults.

Faults are real: pub/sub clients killed by the server, the server process killed and
restarted on the same port, the server paused. Tests that kill or pause the server use
their own redis-server (``own_redis``), never the session's.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from redis._parsers.hiredis import NOT_ENOUGH_DATA

from devkit import services
from gateway.errors import GatewayError
from gateway.ports.bus.redis import BusUnavailable, RedisBus, _buffered, _reply
from tests.bus.conftest import Recorder, restart_redis
from tests.poll import until


def topic() -> str:
    return f"v:{uuid.uuid4()}"


class Gaps:
    """A gap handler the test can wait on."""

    def __init__(self) -> None:
        self.calls = 0
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self.calls += 1
        self._event.set()

    async def wait(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()


@pytest.fixture
async def make_bus() -> AsyncIterator[Callable[..., RedisBus]]:
    """RedisBus factory; every bus made is stopped at the end."""
    made: list[RedisBus] = []

    def make(url: str, **kwargs: object) -> RedisBus:
        bus = RedisBus(url, **kwargs)  # type: ignore[arg-type]
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()


@pytest.fixture
async def client(redis_server: services.Redis) -> AsyncIterator[aioredis.Redis]:
    """A plain redis client on the session server, to inspect and to kill."""
    r = aioredis.from_url(redis_server.url)
    yield r
    await r.aclose()


async def listening(bus: RedisBus) -> tuple[Recorder, str]:
    """``bus`` started, recording what it delivers, and subscribed to a new topic."""
    got = Recorder()
    await bus.start(got)
    t = topic()
    await bus.subscribe(t)
    return got, t


async def numsub(r: aioredis.Redis, t: str) -> int:
    return int(dict(await r.pubsub_numsub(t))[t.encode()])


async def test_fan_out_to_every_subscribed_node(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    a, b, c = make_bus(redis_server.url), make_bus(redis_server.url), make_bus(redis_server.url)
    got_a, got_b, got_c = Recorder(), Recorder(), Recorder()
    await a.start(got_a)
    await b.start(got_b)
    await c.start(got_c)
    t = topic()
    await a.subscribe(t)
    await b.subscribe(t)
    await a.publish(t, b"one")  # a hears itself too: the hub does not care who sent
    await got_a.wait_for(t, b"one")
    await got_b.wait_for(t, b"one")
    await c.publish(t, b"two")
    await got_b.wait_for(t, b"two")
    await got_a.wait_for(t, b"two")
    assert got_a.data(t) == got_b.data(t) == [b"one", b"two"]
    assert got_c.frames == []
    assert a.stats()["delivered"] == 2 and c.stats()["published"] == 1


async def test_concurrent_publishes_are_batched(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    bus = make_bus(redis_server.url, batch_size=256)
    got, t = await listening(bus)
    await asyncio.gather(*(bus.publish(t, b"%d" % i) for i in range(1000)))
    stats = bus.stats()
    assert stats["published"] == 1000
    assert stats["batches"] <= 8  # 1000 / 256 rounded up, with slack; not 1000
    # No load: a lone publish is sent at once as its own batch (nothing waits to fill).
    before = bus.stats()["batches"]
    await asyncio.wait_for(bus.publish(t, b"alone"), 10)
    assert bus.stats()["batches"] == before + 1
    await got.wait_count(1001)


async def test_cancelled_publish_does_not_disturb_the_others(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    bus = make_bus(redis_server.url)
    got, t = await listening(bus)
    first = asyncio.create_task(bus.publish(t, b"0"))
    cancelled = asyncio.create_task(bus.publish(t, b"cancelled"))
    last = asyncio.create_task(bus.publish(t, b"2"))
    await asyncio.sleep(0)  # all three are queued
    cancelled.cancel()
    await asyncio.gather(first, last)
    await bus.publish(t, b"3")
    await got.wait_for(t, b"3")
    assert got.data(t) == [b"0", b"2", b"3"]


async def test_reconnects_after_client_kill(
    redis_server: services.Redis, client: aioredis.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    gaps = Gaps()
    name = f"bus-{uuid.uuid4().hex[:8]}"
    sub = make_bus(redis_server.url, on_resubscribed=gaps, client_name=name)
    pub = make_bus(redis_server.url)
    got = Recorder()
    await sub.start(got)
    kept, dropped = topic(), topic()
    await sub.subscribe(kept)
    await sub.subscribe(dropped)
    await sub.unsubscribe(dropped)
    await pub.publish(kept, b"before")
    await got.wait_for(kept, b"before")

    killed = await client.client_kill_filter(_type="pubsub")
    assert killed >= 1
    await gaps.wait()

    assert gaps.calls == 1 and sub.stats()["reconnects"] == 1
    assert await numsub(client, kept) == 1  # re-subscribed, once
    assert await numsub(client, dropped) == 0  # what was given up stays given up
    names = [c["name"] for c in await client.client_list()]
    assert names.count(f"{name}-sub") == 1  # the old connection is not leaked
    await pub.publish(kept, b"after")
    await got.wait_for(kept, b"after")
    assert got.data(kept) == [b"before", b"after"]


async def test_deliver_and_gap_handler_errors_do_not_stop_the_reader(
    redis_server: services.Redis, client: aioredis.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    got = Recorder()
    gap_ran = asyncio.Event()

    def deliver(t: str, data: bytes) -> None:
        if data == b"boom":
            raise RuntimeError("a bug in the hub")
        got(t, data)

    async def failing_gap_handler() -> None:  # async handlers are awaited too
        gap_ran.set()
        raise RuntimeError("a bug in the gap handler")

    bus = make_bus(redis_server.url, on_resubscribed=failing_gap_handler)
    await bus.start(deliver)
    t = topic()
    await bus.subscribe(t)
    await bus.publish(t, b"boom")
    await bus.publish(t, b"fine")
    await got.wait_for(t, b"fine")
    await client.client_kill_filter(_type="pubsub")
    await asyncio.wait_for(gap_ran.wait(), 5)
    await bus.publish(t, b"still fine")
    await got.wait_for(t, b"still fine")


async def test_recovers_after_server_restart(
    own_redis: services.Redis,
    make_bus: Callable[..., RedisBus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gaps = Gaps()
    bus = make_bus(own_redis.url, on_resubscribed=gaps)
    got = Recorder()
    await bus.start(got)
    before, during = topic(), topic()
    await bus.subscribe(before)

    own_redis.proc.kill()  # a crash, not a clean shutdown
    own_redis.proc.wait()
    # Subscribing while Redis is down returns at once; the reconnection covers it.
    await asyncio.wait_for(bus.subscribe(during), 10)

    server = restart_redis(own_redis, monkeypatch)
    try:
        await gaps.wait(timeout=8)
        other = make_bus(server.url)
        await other.publish(before, b"b")
        await other.publish(during, b"d")
        await bus.publish(before, b"own")  # the publish connection came back too
        await got.wait_for(before, b"own")
        assert got.frames == [(before, b"b"), (during, b"d"), (before, b"own")]
        assert bus.connected
    finally:
        server.stop()


async def test_publish_while_down_fails_promptly_then_recovers(
    own_redis: services.Redis,
    make_bus: Callable[..., RedisBus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bus = make_bus(own_redis.url)
    await bus.start(Recorder())
    t = topic()
    await bus.publish(t, b"up")
    own_redis.proc.kill()
    own_redis.proc.wait()

    started = time.monotonic()
    with pytest.raises(BusUnavailable) as raised:
        await asyncio.wait_for(bus.publish(t, b"down"), 3)
    results = await asyncio.wait_for(
        asyncio.gather(*(bus.publish(t, b"%d" % i) for i in range(20)), return_exceptions=True),
        3,
    )
    assert time.monotonic() - started < 2
    assert all(isinstance(r, BusUnavailable) for r in results)
    err = raised.value
    assert isinstance(err, GatewayError) and err.code == "bus_unavailable" and err.retryable
    assert bus.stats()["publish_failures"] == 21

    server = restart_redis(own_redis, monkeypatch)
    try:
        await asyncio.wait_for(bus.publish(t, b"back"), 3)  # retried on the next publish
        assert bus.stats()["published"] == 2
    finally:
        server.stop()


async def test_start_while_down_then_redis_appears(
    own_redis: services.Redis,
    make_bus: Callable[..., RedisBus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own_redis.stop()
    gaps = Gaps()
    bus = make_bus(own_redis.url, on_resubscribed=gaps)
    got = Recorder()
    await asyncio.wait_for(bus.start(got), 3)  # does not wait for Redis
    assert not bus.connected
    t = topic()
    await bus.subscribe(t)
    server = restart_redis(own_redis, monkeypatch)
    try:
        await gaps.wait(timeout=8)  # clients that came meanwhile must resume: a gap
        await make_bus(server.url).publish(t, b"hello")
        await got.wait_for(t, b"hello")
    finally:
        server.stop()


async def test_unresponsive_server_is_detected(
    own_redis: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # CLIENT PAUSE makes the server ignore commands while the socket stays open, as a
    # half-open connection would: only the PING watchdog can notice.
    gaps = Gaps()
    bus = make_bus(own_redis.url, on_resubscribed=gaps, ping_interval=0.1)
    got, t = await listening(bus)
    admin = aioredis.from_url(own_redis.url)
    try:
        await admin.client_pause(600, all=True)
        await gaps.wait(timeout=5)
        assert bus.stats()["reconnects"] >= 1
        await admin.publish(t, b"after the pause")
        await got.wait_for(t, b"after the pause")
    finally:
        await admin.aclose()


async def test_stop_leaves_nothing_behind(
    redis_server: services.Redis, client: aioredis.Redis
) -> None:
    name = f"bus-{uuid.uuid4().hex[:8]}"
    bus = RedisBus(redis_server.url, client_name=name)
    got, t = await listening(bus)
    await bus.publish(t, b"x")
    await got.wait_for(t, b"x")
    mine = {task for task in asyncio.all_tasks() if task.get_name().startswith("bus redis")}
    assert len(mine) == 3  # reader, pinger, writer

    # what earlier tests on this worker left is collected now, while the bus is whole:
    # the collection below then finds only what the stop let go (an earlier test's
    # garbage, collected in that window, failed this test once in CI)
    gc.collect()
    await bus.stop()
    assert all(task.done() for task in mine)
    with pytest.raises(BusUnavailable):
        await bus.publish(t, b"after stop")

    async def closed() -> bool:  # the server has seen the sockets close
        return not any(c["name"].startswith(name) for c in await client.client_list())

    await until(closed, what="the bus's sockets closed", every=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del bus
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


async def test_gap_handler_runs_once_every_topic_is_subscribed_again(
    redis_server: services.Redis, client: aioredis.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # Many topics make the re-SUBSCRIBE long; the handler (which tells clients to read
    # the store) must not run before Redis has them all, or frames could slip between.
    topics = [topic() for _ in range(20000)]
    seen: list[int] = []
    gap = asyncio.Event()

    sample = topics[::400]  # small, so that the query itself is quick to send

    async def on_gap() -> None:
        counts = await client.pubsub_numsub(*sample)
        seen.append(sum(int(n) for _, n in counts))
        gap.set()

    bus = make_bus(redis_server.url, on_resubscribed=on_gap)
    for t in topics:
        await bus.subscribe(t)  # before start: one SUBSCRIBE for all on connecting
    await bus.start(Recorder())

    async def subscribed() -> bool:  # killable as a pub/sub client only once it is one
        return sum(int(n) for _, n in await client.pubsub_numsub(*sample)) == len(sample)

    await until(subscribed, what="the bus subscribed", every=0.01)
    await client.client_kill_filter(_type="pubsub")
    await asyncio.wait_for(gap.wait(), 5)
    assert seen == [len(sample)]


async def test_frames_in_flight_are_dropped_once_unsubscribe_returned(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    bus = make_bus(redis_server.url)
    got = Recorder()
    first = True

    def deliver(t: str, data: bytes) -> None:
        nonlocal first
        if first:
            first = False
            time.sleep(0.2)  # block the loop: Redis keeps pushing into our socket
        got(t, data)

    await bus.start(deliver)
    t = topic()
    await bus.subscribe(t)

    def burst() -> None:  # from a thread: unaffected by the blocked loop
        with sync_redis.Redis.from_url(redis_server.url) as r:
            pipe = r.pipeline(transaction=False)
            for i in range(5000):  # 5 MB: more than one socket read
                pipe.publish(t, b"%d " % i + bytes(1000))
            pipe.execute()

    sent = asyncio.ensure_future(asyncio.to_thread(burst))
    await got.wait_count(1)
    await bus.unsubscribe(t)
    seen = len(got.frames)
    await sent
    keep = topic()
    await bus.subscribe(keep)
    await bus.publish(keep, b"marker")
    await got.wait_for(keep, b"marker")
    assert seen < 5000  # the race was really run
    assert len(got.data(t)) == seen


async def _bus_for_v_channels(
    own_redis: services.Redis, make_bus: Callable[..., RedisBus]
) -> RedisBus:
    """A bus that logs in as a user whose ACL allows only the channels ``v:*``."""
    admin = aioredis.from_url(own_redis.url)
    try:
        await admin.acl_setuser(
            "node", enabled=True, nopass=True, categories=["+@all"], channels=["v:*"]
        )
    finally:
        await admin.aclose()
    return make_bus(own_redis.url.replace("redis://", "redis://node@"))


async def test_a_refused_frame_fails_alone(
    own_redis: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # An ACL that forbids one channel: Redis answers that PUBLISH with an error, the rest
    # of the pipeline goes through and the connection stays usable.
    bus = await _bus_for_v_channels(own_redis, make_bus)
    got, t = await listening(bus)
    results = await asyncio.gather(
        bus.publish(t, b"1"),
        bus.publish("a:forbidden", b"2"),
        bus.publish(t, b"3"),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], BusUnavailable) and "permissions" in str(results[1])
    await bus.publish(t, b"4")
    await got.wait_for(t, b"4")
    assert got.data(t) == [b"1", b"3", b"4"]
    assert bus.stats()["publish_failures"] == 1


class _Logged(logging.Handler):
    """Sets ``seen`` when a record with ``text`` is logged (on the event loop's thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


async def test_a_refused_subscribe_is_logged_not_ignored(
    own_redis: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # The subscriber reads Redis's replies itself (gateway/ports/bus/redis.py, _reply):
    # an error reply to SUBSCRIBE must end the connection with a warning, as redis-py's
    # read_response did by raising it, not pass for a PONG.
    bus = await _bus_for_v_channels(own_redis, make_bus)
    await listening(bus)
    logged = _Logged("no permissions")
    logger = logging.getLogger("gateway.ports.bus.redis")
    logger.addHandler(logged)
    try:
        await bus.subscribe("a:forbidden")  # returns when the connection is dropped
        async with asyncio.timeout(10):
            await logged.seen.wait()
    finally:
        logger.removeHandler(logged)


async def test_replies_one_read_brought_are_taken_without_waiting(
    redis_server: services.Redis,
) -> None:
    # The publisher's pipeline replies and the subscriber's frames come several to a
    # read; those after the first are taken from hiredis's reader as they are (_buffered),
    # with read_response's checks, and _reply is there for the rest.
    pool = aioredis.ConnectionPool.from_url(redis_server.url, protocol=2)
    conn = pool.connection_class(**pool.connection_kwargs)
    await conn.connect()
    try:
        assert _buffered(conn) is NOT_ENOUGH_DATA  # nothing asked yet
        ping, unknown = b"*1\r\n$4\r\nPING\r\n", b"*1\r\n$7\r\nNOSUCHC\r\n"
        await conn.send_packed_command(ping * 3 + unknown + ping, check_health=False)
        replies = [await _reply(conn)]  # the first waits for the read
        while (reply := _buffered(conn)) is not NOT_ENOUGH_DATA:
            replies.append(reply)
        assert replies[:3] == [b"PONG"] * 3 and replies[4:] == [b"PONG"]
        # an error reply is returned, not raised: the connection stays in step
        assert isinstance(replies[3], sync_redis.ResponseError)
        assert _buffered(conn) is NOT_ENOUGH_DATA
    finally:
        await conn.disconnect()
    assert _buffered(conn) is NOT_ENOUGH_DATA  # closed: read_response refuses too

    # Without hiredis (redis-py's own RESP2 parser) every reply goes through _reply.
    from redis._parsers import _AsyncRESP2Parser

    plain = pool.connection_class(**{**pool.connection_kwargs, "parser_class": _AsyncRESP2Parser})
    await plain.connect()
    try:
        await plain.send_packed_command(ping * 2, check_health=False)
        assert await _reply(plain) == b"PONG"
        assert _buffered(plain) is NOT_ENOUGH_DATA
        assert await _reply(plain) == b"PONG"
    finally:
        await plain.disconnect()
        await pool.disconnect()


def test_a_reply_the_parser_makes_a_connection_error_is_raised_from_the_buffer() -> None:
    # As read_response raises it: Redis answering -LOADING (restarted, still reading its
    # data) ends the connection's use instead of passing for a reply. hiredis's reader
    # with redis-py's error mapping, fed the bytes (a server cannot be made to send it).
    import hiredis
    from redis._parsers.hiredis import _AsyncHiredisParser
    from redis.exceptions import BusyLoadingError, InvalidResponse

    parser = _AsyncHiredisParser(65536)
    parser._reader = hiredis.Reader(
        protocolError=InvalidResponse, replyError=parser.parse_error, notEnoughData=NOT_ENOUGH_DATA
    )
    parser._connected = True
    conn: Any = SimpleNamespace(_parser=parser)
    parser._reader.feed(b"-LOADING Redis is loading the dataset in memory\r\n+OK\r\n")
    with pytest.raises(BusyLoadingError):
        _buffered(conn)
    assert _buffered(conn) == b"OK"
    assert _buffered(conn) is NOT_ENOUGH_DATA


async def test_posted_frames_keep_their_order_across_pipelines(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # post() awaits nothing: many frames of many conversations go out in a few
    # pipelines, interleaved with awaited publishes; each topic keeps its order.
    bus = make_bus(redis_server.url, batch_size=16)
    got = Recorder()
    await bus.start(got)
    ts = [topic() for _ in range(5)]
    for t in ts:
        await bus.subscribe(t)
    for i in range(300):
        bus.post(ts[i % 5], b"%d" % i)
        if i % 50 == 49:
            await bus.publish(ts[0], b"awaited %d" % i)  # joins the same queue, in turn
    await got.wait_count(306)
    for k, t in enumerate(ts):
        posted = [b"%d" % i for i in range(k, 300, 5)]
        frames = got.data(t)
        assert [f for f in frames if not f.startswith(b"awaited")] == posted
    # the awaited ones sit where they were queued, among the posted ones
    first = got.data(ts[0])
    assert first.index(b"awaited 49") == first.index(b"45") + 1
    stats = bus.stats()
    assert stats["published"] == 306 and stats["publish_failures"] == 0
    assert stats["batches"] < 100  # pipelined, not one round trip per frame


async def test_a_posted_frame_survives_a_dropped_publish_connection(
    redis_server: services.Redis, client: aioredis.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # Redis drops the publishing connection between two frames (a restart behind a
    # proxy, a timeout, CLIENT KILL): the next pipeline fails on the dead connection and
    # is sent again on a new one, so the frame is not lost.
    name = f"bus-{uuid.uuid4().hex[:8]}"
    pub = make_bus(redis_server.url, client_name=name)
    sub = make_bus(redis_server.url)
    got, t = await listening(sub)
    pub.post(t, b"before")
    await got.wait_for(t, b"before")
    ids = [c["id"] for c in await client.client_list() if c["name"] == f"{name}-pub"]
    assert len(ids) == 1
    await client.execute_command("CLIENT", "KILL", "ID", ids[0])
    pub.post(t, b"after")
    await got.wait_for(t, b"after")
    assert got.data(t) == [b"before", b"after"]
    assert pub.stats()["publish_failures"] == 0


async def test_post_after_stop_is_counted_not_raised(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    bus = make_bus(redis_server.url)
    bus.post(topic(), b"queued")
    await bus.stop()  # what was queued goes out first (nothing is left pending)
    assert bus.stats()["published"] == 1
    bus.post(topic(), b"late")
    assert bus.stats()["publish_failures"] == 1


async def test_posted_frames_linger_to_share_a_pipeline(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # Frames posted one loop turn apart find the writer idle: it holds them for company
    # (a long linger here, so nothing but the two rules below can end it early).
    bus = make_bus(redis_server.url, linger=60.0, batch_size=8)
    got, t = await listening(bus)
    for i in range(5):
        bus.post(t, b"%d" % i)
        await asyncio.sleep(0)  # the writer wakes between posts
    assert bus.stats()["batches"] == 0
    # An awaited publish is not held: it takes the posted frames with it, in order.
    await asyncio.wait_for(bus.publish(t, b"awaited"), 5)
    await got.wait_count(6)
    assert got.data(t) == [b"0", b"1", b"2", b"3", b"4", b"awaited"]
    assert bus.stats()["batches"] == 1
    # A full batch is not held either.
    for i in range(8):
        bus.post(t, b"full %d" % i)
        await asyncio.sleep(0)
    await got.wait_count(14)
    assert bus.stats()["batches"] == 2


async def test_a_lone_posted_frame_goes_after_the_linger(
    redis_server: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    bus = make_bus(redis_server.url, linger=0.05)
    got, t = await listening(bus)
    bus.post(t, b"alone")
    await got.wait_for(t, b"alone")
    assert bus.stats()["batches"] == 1


async def test_a_publish_to_an_unanswering_server_fails_within_io_timeout(
    own_redis: services.Redis, make_bus: Callable[..., RedisBus]
) -> None:
    # The publish connection has one deadline per pipeline (no socket timeout of its
    # own): a server that takes the write and never answers must still fail the caller.
    bus = make_bus(own_redis.url, io_timeout=0.2, ping_interval=60)
    await bus.start(Recorder())
    t = topic()
    await bus.publish(t, b"up")
    admin = aioredis.from_url(own_redis.url)
    try:
        await admin.client_pause(1500, all=True)
        with pytest.raises(BusUnavailable, match=r"no reply within 0\.2 s"):
            await asyncio.wait_for(bus.publish(t, b"paused"), 10)
        assert bus.stats()["publish_failures"] == 1
        await admin.ping()  # answered once the pause is over
        # The next publish opens a new connection and goes through.
        await asyncio.wait_for(bus.publish(t, b"back"), 10)
        assert bus.stats()["published"] == 2
    finally:
        await admin.aclose()


def bus_connected() -> float | None:
    return REGISTRY.get_sample_value("gateway_bus_connected")


async def test_the_connected_gauge_follows_redis_down_and_back(
    own_redis: services.Redis,
    make_bus: Callable[..., RedisBus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/readyz stays 200 while Redis is down (docs/deploy.md): gateway_bus_connected is
    what reports it."""
    gaps = Gaps()
    bus = make_bus(own_redis.url, on_resubscribed=gaps)
    await listening(bus)
    assert bus_connected() == 1
    own_redis.proc.kill()
    own_redis.proc.wait()

    async def down() -> bool:
        return bus_connected() == 0

    await until(down, what="the bus disconnected", every=0.01)
    server = restart_redis(own_redis, monkeypatch)
    try:
        await gaps.wait(timeout=20)
        assert bus_connected() == 1
    finally:
        server.stop()
