"""Redis restarted empty under two nodes: the router's leadership changes hands while
consoles and visitors come back, and what the product promises still holds (an agent
back online is seen with the status they chose, a start is answered, nothing is lost).

The end-to-end test drives clients as the real ones behave (the console reconnects after
a reconnect code, the widget sends a start again after a retryable refusal) and waits on
what it checks with generous bounds. The races it met once in a while are pinned down
one by one below it, in-process, with stand-ins for the bus and the lease."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed

import routing as r
from devkit import services
from gateway import topics
from gateway.cluster.lease import Leadership
from gateway.cluster.link import ClusterLink
from gateway.cluster.messages import (
    Forward,
    Message,
    Queued,
    Reply,
    Reset,
    SnapshotReply,
    SnapshotRequest,
    decode,
    encode,
)
from gateway.errors import BusUnavailable, RouterUnavailable
from gateway.ports.presence import LocalPresence
from gateway.services import router_shell
from gateway.services.router_shell import RouterShell
from tests.cluster.conftest import Cluster
from tests.cluster.test_faults import two_nodes
from tests.gateway.client import AgentClient
from tests.poll import until

# What the product promises is "within a few seconds"; the bounds are for a shared,
# loaded machine (a test that passed alone failed at load average 6).
SEEN_WITHIN = 30.0  # an agent's status on every node once their console is back
ANSWER_WITHIN = 40.0  # a start's ack or refusal (a follower waits 30 s at most)
RECOVERY = 120.0  # the whole recovery
RETRY_PAUSE = 0.5  # a client's pause before it tries again (bounded by the above)


async def roster_status(node: services.GatewayProcess, token: str) -> str | None:
    """ag_demo's status in the router ``node`` reads (the transfer dialog's roster); None
    while the node cannot say."""
    try:
        async with node.http(headers={"Authorization": f"Bearer {token}"}) as http:
            r = await http.get("/api/console/agents")
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    return next(str(a["status"]) for a in r.json() if a["agent_id"] == "ag_demo")


def leaders(cluster: Cluster) -> list[services.GatewayProcess]:
    out = []
    for node in cluster.alive():
        with contextlib.suppress(OSError):
            if cluster.readiness(node)["router_leader"]:
                out.append(node)
    return out


class Console:
    """The agent console as it behaves: connects, and after any close connects again
    (the real one does for every reconnect code; a test that kept a socket the server
    had closed after its snapshot took that agent for online)."""

    def __init__(self, agent: AgentClient) -> None:
        self.agent = agent
        self.open = asyncio.Event()
        self.opened_at = 0.0
        self.snapshots: list[dict[str, Any]] = []
        self.closes: list[int] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.agent.sock is not None:
            with contextlib.suppress(Exception):
                await self.agent.sock.close()

    async def _run(self) -> None:
        while True:
            try:
                snapshot = await self.agent.connect()
            except Exception:  # refused, closed with 1013, the node busy: again
                await asyncio.sleep(RETRY_PAUSE)
                continue
            self.snapshots.append(snapshot)
            self.opened_at = time.monotonic()
            self.open.set()
            assert self.agent.sock is not None
            code = await self.agent.sock.expect_close(timeout=3600)
            self.open.clear()
            self.closes.append(code)
            await asyncio.sleep(RETRY_PAUSE)


async def widget_start(cluster: Cluster, node: services.GatewayProcess) -> dict[str, Any]:
    """A start sent as the widget sends it: again after a pause when refused as
    retryable, again after a reconnect; every attempt must be answered. The ack."""
    visitor = cluster.visitor(node)
    await visitor.bootstrap()
    client_msg_id = uuid.uuid4().hex
    frame = {
        "type": "start",
        "fields": {"name": "Kim"},
        "page": visitor.page_url,
        "message": "Hello",
        "client_msg_id": client_msg_id,
    }
    loop = asyncio.get_running_loop()
    give_up = loop.time() + RECOVERY
    while True:
        assert loop.time() < give_up, "the start was never acknowledged"
        if visitor.sock is None:
            try:
                await visitor.connect()
            except Exception:  # refused or closed (1013) while Redis comes back: again
                visitor.sock = None
                await asyncio.sleep(RETRY_PAUSE)
                continue
        assert visitor.sock is not None
        try:
            await visitor.sock.send(frame)
            answer_by = loop.time() + ANSWER_WITHIN
            while True:
                left = answer_by - loop.time()
                try:
                    got = await visitor.sock.recv(timeout=max(left, 0.01))
                except TimeoutError:
                    raise AssertionError(
                        f"a start on {node.base_url} got no answer in {ANSWER_WITHIN} s"
                    ) from None
                if got["type"] == "ack" and got["client_msg_id"] == client_msg_id:
                    got["visitor_id"] = visitor.visitor_id
                    return got
                if got["type"] == "error" and got.get("ref") == client_msg_id:
                    assert got["retryable"], f"a start refused for good: {got}"
                    await asyncio.sleep(RETRY_PAUSE)
                    break
        except ConnectionClosed:  # (1012, 1013): the widget reconnects and sends it again
            visitor.sock = None
            await asyncio.sleep(RETRY_PAUSE)


async def test_an_agent_away_before_redis_restarts_empty_stays_away(cluster: Cluster) -> None:
    leader, follower = two_nodes(cluster)
    agent = cluster.agent(follower)
    await agent.login()
    await agent.connect()
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away"})
    assert (await agent.sock.expect("status"))["status"] == "away"
    # Offline while Redis restarts, so the first status the router gives them after it
    # is read from presence (copied back from the store), not kept from before.
    await agent.sock.close()
    await until(
        lambda: roster_status(leader, agent.token),
        lambda s: s == "offline",
        what="the agent offline",
        within=60,
        every=0.2,
    )

    cluster.redis.proc.kill()
    cluster.redis.proc.wait()
    services.restart_redis(cluster.redis)
    # At once, while the lease changes hands: the console coming back, a start on each
    # node (the leader's node and the other).
    console = Console(agent)
    console.start()
    try:
        acks = await asyncio.gather(*(widget_start(cluster, node) for node in (leader, follower)))

        # Once the console is back (and stays), every node shows the status they chose:
        # the leader's router, and the other node's replica of it.
        give_up = time.monotonic() + RECOVERY
        while True:
            now = time.monotonic()
            assert now < give_up, f"never settled; console closes {console.closes}"
            if console.open.is_set():
                statuses = [await roster_status(n, agent.token) for n in (leader, follower)]
                if statuses == ["away", "away"] and len(leaders(cluster)) == 1:
                    break
                assert now - console.opened_at < SEEN_WITHIN, (
                    f"the console is back since {now - console.opened_at:.1f} s and the "
                    f"nodes say {statuses}"
                )
            await asyncio.sleep(0.2)
        assert console.snapshots[-1]["agent"]["status"] == "away"
    finally:
        await console.stop()

    # Nothing rang for them, nothing was lost or stored twice: each start is one
    # conversation waiting in the Inbox with its one first message.
    conn = await asyncpg.connect(cluster.database_url)
    try:
        for ack in acks:
            rows = await conn.fetch(
                "select id, state from conversations where address = $1", ack["visitor_id"]
            )
            assert [(row["id"], row["state"]) for row in rows] == [
                (ack["conversation_id"], "waiting")
            ]
            stored = await conn.fetch(
                "select client_msg_id from messages where conversation_id = $1 and sender = "
                "'contact'",
                ack["conversation_id"],
            )
            assert [row["client_msg_id"] for row in stored] == [ack["client_msg_id"]]
    finally:
        await conn.close()


# -- the races, one at a time ------------------------------------------------------------


class Bus:
    """A stand-in bus: what was published, by topic; the next ``failing`` publishes may
    be made to fail with ``fail`` (``failed`` counts them)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []
        self.fail: type[Exception] | None = None
        self.failing = 1
        self.failed = 0
        self._more = asyncio.Event()

    async def publish(self, topic: str, data: bytes) -> None:
        if self.fail is not None and self.failed < self.failing:
            self.failed += 1
            raise self.fail("Redis: connection closed by server")
        self.post(topic, data)

    def post(self, topic: str, data: bytes) -> None:
        self.sent.append((topic, decode(data)))
        self._more.set()

    async def subscribe(self, topic: str) -> None:
        return None

    def of(self, kind: type[Any]) -> list[Any]:
        return [msg for _, msg in self.sent if isinstance(msg, kind)]

    async def first(self, kind: type[Any], within: float = 10.0) -> Any:
        """The first message of this kind published, once it is."""
        async with asyncio.timeout(within):
            while not self.of(kind):
                self._more.clear()
                await self._more.wait()
        return self.of(kind)[0]


class Store:
    """Only what a rebuild reads; ``gate``: the rebuild waits there."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.reading = asyncio.Event()  # a rebuild has started reading

    async def list_conversations(self, **_: Any) -> list[Any]:
        self.reading.set()
        await self.gate.wait()
        return []


class Effects:
    async def carry_out(self, *_: Any) -> None:
        return None

    async def refresh_rows(self, *_: Any) -> None:
        return None


def shell_on(bus: Bus, store: Store | None = None) -> tuple[RouterShell, Lease]:
    """A cluster node's router shell on the stand-in bus; the lease is a stand-in whose
    ``is_leader`` the test sets."""
    agent = SimpleNamespace(id="ag1", active=True, queue_ids=["q"], role="agent")
    directory = SimpleNamespace(
        settings=SimpleNamespace(channel_weights={}), touchpoints={}, agents={"ag1": agent}
    )
    shell = RouterShell(
        offer_timeout=30,
        reoffer_cooldown=5,
        store=cast(Any, store or Store()),
        forward_timeout=30.0,
        directory=cast(Any, directory),
        presence=LocalPresence(),
        clock=time.time,
    )
    shell.effects = cast(Any, Effects())
    link = ClusterLink(cast(Any, bus), "n1", shell.on_message, shell.on_forwards)
    lease = Lease()
    shell.join(link, cast(Any, lease))
    return shell, lease


class Lease:
    """The lease, as the shell sees it; each look at ``is_leader`` is an event the
    tests can wait for (``looked[answer]``)."""

    def __init__(self) -> None:
        self.leading = False
        self.floor = lambda: 0
        self.looked = {False: asyncio.Event(), True: asyncio.Event()}

    @property
    def is_leader(self) -> bool:
        self.looked[self.leading].set()
        return self.leading

    @is_leader.setter
    def is_leader(self, value: bool) -> None:
        self.leading = value

    async def stop(self) -> None:
        return None


async def replica_until(shell: RouterShell, holds: Callable[[], bool], what: str) -> None:
    """Until ``holds()``, looked at whenever the replica changes (10 s at most)."""
    async with asyncio.timeout(10):
        while not holds():
            shell._replica_changed.clear()
            await shell._replica_changed.wait()
    assert holds(), what


def leader_router(*events: r.Event) -> r.Router:
    router = r.Router(r.RouterConfig())
    for event in events:
        router.handle(event, 1.0)
    return router


async def test_a_forward_no_leader_queued_ends_when_a_new_leader_starts() -> None:
    """A start forwarded while the lease changed hands reached the next leader before its
    election, which drops it: the forwarding node waited the forward's timeout (longer
    while it heard the new leader's log) before telling the visitor to try again."""
    bus = Bus()
    shell, _ = shell_on(bus)
    assert shell.link is not None
    await shell.link.start()
    try:
        forward = asyncio.create_task(shell.apply(r.AgentStatusChanged("ag1", "available")))
        await bus.first(Forward)
        # a new leadership's first Reset: nobody queued the event
        shell.link.deliver(topics.LOG, encode(Reset(fence=2, seq=0)))
        with pytest.raises(RouterUnavailable):
            await asyncio.wait_for(forward, 10)  # the forward's timeout is 30 s

        # one the leader queued is waited for still
        bus.sent.clear()
        queued = asyncio.create_task(shell.apply(r.AgentStatusChanged("ag1", "away")))
        await bus.first(Forward)
        request = bus.of(Forward)[0]
        shell.link.deliver(request.reply_to, encode(Queued(req_id=request.req_id)))
        shell._replica_changed.clear()
        shell.link.deliver(topics.LOG, encode(Reset(fence=3, seq=0)))
        await asyncio.wait_for(shell._replica_changed.wait(), 10)  # the Reset handled
        # the leader's answer still reaches it (ended by the Reset: RouterUnavailable)
        shell.link.deliver(request.reply_to, encode(Reply(req_id=request.req_id, ok=True)))
        assert await asyncio.wait_for(queued, 10) == []
    finally:
        await shell.stop()
        await shell.link.stop()


async def test_a_deposed_leader_asks_its_successor_for_a_snapshot() -> None:
    """The successor's Reset and entries came while this node still took itself for the
    leader (it learns it lost the lease at its next renewal), so it ignored them: its
    replica followed nobody until the successor's next entry, and the roster read there
    kept what this node had last decided (an agent back online, offline)."""
    bus = Bus()
    shell, lease = shell_on(bus)
    assert shell.link is not None
    await shell.link.start()
    try:
        lease.is_leader = True
        await shell.elected(1)
        successor = leader_router(
            r.AgentUpserted("ag1", ["q"], "agent"), r.AgentStatusChanged("ag1", "away")
        )
        await shell.on_message(Reset(fence=2, seq=0))  # ignored: still leading
        lease.is_leader = False
        await shell.deposed()
        request = await bus.first(SnapshotRequest)  # before: never
        shell.link.deliver(
            request.reply_to,
            encode(
                SnapshotReply(
                    req_id=request.req_id, fence=2, seq=1, data=r.export_snapshot(successor)
                )
            ),
        )

        def away() -> bool:
            view = shell.router.agent("ag1")
            return view is not None and view.status == "away"

        await replica_until(shell, away, "the replica never took the successor's snapshot")
    finally:
        await shell.stop()
        await shell.link.stop()


async def test_a_node_elected_reads_its_replica_until_its_router_is_rebuilt() -> None:
    """On a first election the node's own router is empty until the rebuild from the
    store ends (on a later one, as old as the last leadership): read before it, an agent
    on that node was told "not found" for their own conversation."""
    bus = Bus()
    store = Store()
    shell, lease = shell_on(bus, store)
    assert shell.link is not None
    await shell.link.start()
    # a follower's replica, from its leader's snapshot
    known = leader_router(
        r.TouchpointUpserted("tp", "chat", "simplified", ["q"]),
        r.AgentUpserted("ag1", ["q"], "agent"),
        r.AgentStatusChanged("ag1", "available"),
    )
    shell.link.deliver(topics.LOG, encode(Reset(fence=1, seq=3)))
    request = await bus.first(SnapshotRequest)
    shell.link.deliver(
        request.reply_to,
        encode(SnapshotReply(req_id=request.req_id, fence=1, seq=3, data=r.export_snapshot(known))),
    )
    await replica_until(
        shell, lambda: r.digest(shell.router) == r.digest(known), "the snapshot was not taken"
    )

    store.gate.clear()  # the election's rebuild waits for the store
    lease.is_leader = True
    await shell.elected(2)  # the rebuild runs in a task of its own (test_lease.py)
    election = shell._election
    assert election is not None
    try:
        await asyncio.wait_for(store.reading.wait(), 10)  # the rebuild waits at the gate
        assert not election.done()
        view = shell.router.agent("ag1")
        assert view is not None and view.status == "available", (
            "read an unbuilt router during the election's rebuild"
        )
        store.gate.set()
        await asyncio.wait_for(election, 10)
        # its own now, rebuilt (the stand-in store and presence: the agent offline)
        view = shell.router.agent("ag1")
        assert view is not None and view.status == "offline"
    finally:
        store.gate.set()
        await shell.stop()
        await shell.link.stop()


async def test_a_reset_that_failed_to_go_out_is_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first publish after Redis restarted empty often fails. The election's Reset
    was that publish: the rebuild counted as done, so followers were never told of the
    new leadership and what restoring decided was not carried out."""
    monkeypatch.setattr(router_shell, "STALE_RETRY", 0.05)
    bus = Bus()
    bus.fail = BusUnavailable
    shell, lease = shell_on(bus)
    lease.is_leader = True
    try:
        await shell.elected(1)  # logs the failure
        await bus.first(Reset)  # before: never
    finally:
        await shell.stop()


async def test_the_timer_outlives_a_lease_renewed_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """A renewal late by more than a fifth of the lease made ``is_leader`` False for a
    moment: the timer ended for good while the node went on leading."""
    monkeypatch.setattr(router_shell, "TICK_RETRY", 0.05)
    bus = Bus()
    shell, lease = shell_on(bus)
    lease.is_leader = True
    try:
        await shell.elected(1)
        timer = shell._timer
        assert timer is not None
        lease.is_leader = False
        lease.looked[False].clear()
        shell._wake.set()  # the timer looks again
        await asyncio.wait_for(lease.looked[False].wait(), 10)  # and sees the lapse
        lease.looked[True].clear()
        lease.is_leader = True
        # it looks again after its pause (or, as before, it has ended)
        looked = asyncio.ensure_future(lease.looked[True].wait())
        await asyncio.wait({timer, looked}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        looked.cancel()
        assert not timer.done(), "the timer ended with the lapse"
        assert lease.looked[True].is_set(), "the timer never looked again"
    finally:
        await shell.stop()


async def test_a_new_fencing_token_is_above_every_one_seen_after_redis_lost_the_counter() -> None:
    """Redis restarted empty: INCR of the lost counter starts at 1 again, the token the
    last leadership had, so followers could not tell the new leader's log from the old."""
    server = services.start_redis()
    client = aioredis.from_url(server.url)
    elected: asyncio.Queue[int] = asyncio.Queue()

    async def on_elected(fence: int) -> None:
        await elected.put(fence)

    async def on_deposed() -> None:
        return None

    try:  # the server stopped however the lease fares (even made with a bad argument)
        # a counter below the floor: Redis restarted empty, then gave a token or two
        # (a counter Redis lost altogether starts again at its clock: test_lease.py)
        await client.set("gw:router:fence", 3)
        lease = Leadership(client, "n1", 0.5, on_elected, on_deposed, floor=lambda: 7)
        try:
            await lease.start()
            assert await asyncio.wait_for(elected.get(), 30) == 8
            stored = await client.get("gw:router:fence")
            assert stored is not None and int(stored) == 8
        finally:
            await lease.stop()
    finally:
        await client.aclose()
        server.stop()


async def test_a_resync_while_the_bus_is_down_asks_again_until_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The snapshot request raised BusUnavailable out of the 'router resync' task ("Task
    exception was never retrieved"): it asks again after a pause."""
    monkeypatch.setattr(router_shell, "RESYNC_PAUSE", 0.01)
    bus = Bus()
    bus.fail, bus.failing = BusUnavailable, 2
    shell, _ = shell_on(bus)
    assert shell.link is not None
    resync = asyncio.create_task(shell.resync())
    request = await bus.first(SnapshotRequest)
    assert bus.failed == 2
    leader = leader_router(r.TouchpointUpserted("tp", "chat", "simplified", ["q"]))
    shell.link.deliver(
        request.reply_to,
        encode(
            SnapshotReply(req_id=request.req_id, fence=1, seq=1, data=r.export_snapshot(leader))
        ),
    )
    await asyncio.wait_for(resync, 10)
    assert r.digest(shell.router) == r.digest(leader)


async def test_a_bus_down_for_every_attempt_ends_the_resync_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(router_shell, "RESYNC_PAUSE", 0.01)
    bus = Bus()
    bus.fail, bus.failing = BusUnavailable, 100
    shell, _ = shell_on(bus)
    await asyncio.wait_for(shell.resync(), 10)  # the next log entry or call asks again
    assert bus.failed == router_shell.RESYNC_ATTEMPTS
