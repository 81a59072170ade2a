"""The router's lease (gateway/cluster/lease.py) on a real Redis: a Redis that stops
answering, a slow rebuild on election, and a fence counter Redis lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

import routing as r
from devkit import services
from gateway import topics
from gateway.cluster.lease import Leadership
from gateway.cluster.link import ClusterLink
from gateway.cluster.messages import Forward, LogEntry, Reply, Reset, encode
from tests.cluster.test_redis_restart import Bus, Store, shell_on

WITHIN = 30.0  # what the tests wait for at most (a shared, loaded machine)


@pytest.fixture
def redis_server() -> Iterator[services.Redis]:
    server = services.start_redis()
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.proc.pid, signal.SIGCONT)  # a paused one hears no SIGTERM
        server.stop()


class Calls:
    """A lease's callbacks, as a queue of what happened: ("elected", fence), ("deposed", 0)."""

    def __init__(self) -> None:
        self.seen: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    async def elected(self, fence: int) -> None:
        await self.seen.put(("elected", fence))

    async def deposed(self) -> None:
        await self.seen.put(("deposed", 0))

    async def next(self) -> tuple[str, int]:
        return await asyncio.wait_for(self.seen.get(), WITHIN)


async def test_a_leader_on_a_paused_redis_is_deposed_and_leads_again_once_it_answers(
    redis_server: services.Redis,
) -> None:
    """A Redis that stops answering (paused here; a network that drops packets alike) held
    the renewal in its await for good: the node stopped acting by its own clock but was
    never deposed, nor took the lease again once Redis answered. The client has no socket
    timeout (redis-py's default before 8, and its 5 s would not be tied to the lease)."""
    client = aioredis.from_url(redis_server.url, socket_timeout=None, socket_connect_timeout=None)
    calls = Calls()
    lease = Leadership(client, "n1", 1.0, calls.elected, calls.deposed)
    try:
        await lease.start()
        kind, first = await calls.next()
        assert kind == "elected"
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        try:
            assert await calls.next() == ("deposed", 0)  # before: never
            assert not lease.is_leader
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        kind, again = await calls.next()
        assert kind == "elected" and again > first
        assert lease.is_leader
    finally:
        await lease.stop()
        await client.aclose()


async def test_a_rebuild_longer_than_the_lease_does_not_hold_its_renewals(
    redis_server: services.Redis,
) -> None:
    """The election's rebuild ran inside the lease's loop: while it read a slow store no
    renewal went out, the lease expired and another node took it. Now it is renewed all
    along; events (a follower's forward here) wait for the rebuild and are applied after
    it, and the router works once it is built."""
    # long enough that a loaded machine's event loop, stalled for a second or two, does
    # not let the rival in by itself (that would read as the fault this test looks for)
    lease_time = 4.0
    client = aioredis.from_url(redis_server.url)
    bus = Bus()
    store = Store()
    store.gate.clear()  # the election's rebuild waits here until the test opens it
    shell, _ = shell_on(bus, store)
    link = cast(ClusterLink, shell.link)
    leadership = Leadership(client, "n1", lease_time, shell.elected, shell.deposed)
    shell.join(link, leadership)
    # the renewals that succeed, counted once the rebuild is stuck
    renewals = 0
    renewed = asyncio.Event()
    renew = leadership._renew

    async def counted(**kwargs: Any) -> Any:
        nonlocal renewals
        reply = await renew(**kwargs)
        if reply and store.reading.is_set():
            renewals += 1
            if renewals >= 4:  # past one lease (a renewal every third of it)
                renewed.set()
        return reply

    leadership._renew = counted
    # another node competing for the lease
    rival_calls = Calls()
    rival = Leadership(client, "n2", lease_time, rival_calls.elected, rival_calls.deposed)
    await link.start()
    try:
        await leadership.start()
        await asyncio.wait_for(store.reading.wait(), WITHIN)  # elected, rebuilding
        fence = leadership.fence
        assert fence > 0
        await rival.start()
        # a follower's event, arrived during the rebuild
        forward = Forward(
            req_id="f1", reply_to="gw:node:n2", event=r.AgentStatusChanged("ag1", "away")
        )
        link.deliver(topics.ROUTER, encode(forward))

        rival_elected = asyncio.ensure_future(rival_calls.seen.get())
        done, _ = await asyncio.wait(
            {rival_elected, asyncio.ensure_future(renewed.wait())},
            timeout=WITHIN,
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert rival_elected not in done, "the lease expired during the rebuild"
        rival_elected.cancel()
        assert renewed.is_set(), "no renewals during the rebuild"
        assert leadership.is_leader and leadership.fence == fence
        election = shell._election
        assert election is not None and not election.done(), "the rebuild did not wait"
        assert shell.router is shell._replica.router  # read until the rebuild built it
        assert not bus.of(Reply), "a forward was applied before the rebuild"

        store.gate.set()
        await asyncio.wait_for(election, WITHIN)
        reply = await bus.first(Reply, WITHIN)
        assert reply.req_id == "f1" and reply.ok
        # the rebuild's Reset went out before the forward's log entry
        kinds = [type(msg) for _, msg in bus.sent if isinstance(msg, Reset | LogEntry)]
        assert kinds[0] is Reset and LogEntry in kinds
        assert all(m.fence == fence for m in bus.of(Reset) + bus.of(LogEntry))
        view = shell.router.agent("ag1")
        assert view is not None and view.status == "away"
        # and it goes on working
        await asyncio.wait_for(shell.apply(r.AgentStatusChanged("ag1", "available")), WITHIN)
        view = shell.router.agent("ag1")
        assert view is not None and view.status == "available"
        assert rival_calls.seen.empty() and leadership.fence == fence
    finally:
        store.gate.set()
        await shell.stop()
        await rival.stop()
        await link.stop()
        await client.aclose()


async def test_a_deposition_during_the_election_rebuild_ends_it() -> None:
    """The rebuild runs beside the lease's loop: a deposition meanwhile ends it, so it
    neither marks the router built (read as this node's newest) nor publishes a Reset
    for a leadership that is over; the next election rebuilds once, anew."""
    bus = Bus()
    store = Store()
    store.gate.clear()
    shell, lease = shell_on(bus, store)
    try:
        lease.is_leader = True
        await asyncio.wait_for(shell.elected(1), WITHIN)  # returns while it rebuilds
        await asyncio.wait_for(store.reading.wait(), WITHIN)
        first = shell._election
        lease.is_leader = False
        await asyncio.wait_for(shell.deposed(), WITHIN)
        assert first is not None and first.cancelled()
        assert not shell._built

        store.reading.clear()
        store.gate.set()
        lease.is_leader = True
        await shell.elected(2)
        second = shell._election
        assert second is not None and second is not first
        await asyncio.wait_for(second, WITHIN)
        assert [m.fence for m in bus.of(Reset)] == [2]
        assert shell._built and shell.router is shell._router
    finally:
        store.gate.set()
        await shell.stop()


async def test_a_node_that_saw_no_token_gets_one_above_the_last_after_redis_lost_the_counter(
    redis_server: services.Redis,
) -> None:
    """Redis restarted empty: the counter starts again. A node that saw the last token
    gets one above it (the floor); one started since, that saw none (a third node), got
    the lost counter's first again, at or below the last, and the followers that saw the
    last refuse its log. A counter started again starts at Redis's clock."""
    client = aioredis.from_url(redis_server.url)
    try:
        calls = Calls()
        before = Leadership(client, "n1", 1.0, calls.elected, calls.deposed)
        await before.start()
        kind, last = await calls.next()
        assert kind == "elected"
        await before.stop()  # gives the lease up
        await client.flushall()  # a Redis restarted empty

        calls = Calls()
        fresh = Leadership(client, "n3", 1.0, calls.elected, calls.deposed, floor=lambda: 0)
        await fresh.start()
        try:
            kind, fence = await calls.next()
            assert kind == "elected" and fence > last
        finally:
            await fresh.stop()
    finally:
        await client.aclose()
