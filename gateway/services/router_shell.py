"""The router's I/O shell: feeds the pure router events, one at a time, and has its
decisions carried out (gateway/services/effects.py); a cluster's leader carries out
those of different conversations side by side (``_runs``).

Alone (no Redis), a node always leads. In a cluster it leads while it holds the lease
(gateway/cluster/lease.py); otherwise it forwards events to the leader and keeps a
replica of the router from the leader's log (gateway/cluster/replica.py).

The router's state can always be rebuilt from the store (router_rebuild.py): at start, on
election, after a configuration change, and after a store failure left the two apart
(the next event rebuilds first). Offer timeouts and cooldowns are driven by a timer that
sleeps until ``router.next_deadline()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

import routing as r
from gateway import metrics, topics
from gateway.aio import cancel_and_wait
from gateway.cluster.lease import Leadership
from gateway.cluster.link import ClusterLink
from gateway.cluster.messages import (
    ConfigChanged,
    Forward,
    LogEntry,
    Message,
    Reply,
    Reset,
    SnapshotReply,
    SnapshotRequest,
)
from gateway.cluster.replica import Replica, Resync
from gateway.errors import ActionRefused, BusUnavailable, GatewayError, RouterUnavailable
from gateway.model.channels import ROUTING_MODES
from gateway.ports.presence import Presence
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from gateway.services.effects import Effects, involved
from gateway.services.overlap import Overlap
from gateway.services.router_rebuild import build_router

log = logging.getLogger("gateway.router")

Clock = Callable[[], float]
Listener = Callable[[], Awaitable[None]]

# a follower's wait for the leader's answer (GATEWAY_ROUTER_FORWARD_TIMEOUT)
FORWARD_TIMEOUT = 3.0
# ... and up to this many seconds in all while the leader's log shows it at work: a burst
# of starts queues at the leader, which answers them in turn (docs/scaling.md)
FORWARD_PATIENCE = 30.0
# the events of different conversations whose effects a leader carries out at once (_runs):
# each holds a store connection while it writes
CARRY_OUTS_AT_ONCE = 8
RESYNC_ATTEMPTS = 5
RESYNC_PAUSE = 1.0  # seconds between snapshot requests while the bus is unreachable
STALE_RETRY = 1.0  # seconds between rebuild attempts while the store is unreachable
TICK_RETRY = 0.5  # seconds the timer pauses after a failed tick


class RouterShell:
    def __init__(
        self,
        *,
        offer_timeout: float,
        reoffer_cooldown: float,
        store: Store,
        forward_timeout: float = FORWARD_TIMEOUT,
        directory: Directory,
        presence: Presence,
        clock: Clock,
    ) -> None:
        self._offer_timeout = offer_timeout
        self._reoffer_cooldown = reoffer_cooldown
        self._forward_timeout = forward_timeout
        self._store = store
        self._dir = directory
        self._presence = presence
        self._clock = clock
        self.effects: Effects | None = None  # set by the composition root before start
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._stale = True
        # conversations whose decisions failed half way, and the agents they concern:
        # told again once the router is rebuilt
        self._untold: dict[str, set[str]] = {}
        self._router = self._new_router()
        # Cluster state: None when this node runs alone.
        self.link: ClusterLink | None = None
        self.leadership: Leadership | None = None
        self._seq = 0  # the leader's log position
        self._fence = 0  # this node's fencing token while it leads
        # elected and not deposed since: this node reads its own router (see ``router``)
        # once that router was built from the store in this leadership (``_built``)
        self._elected = False
        self._built = False
        # the election's rebuild, run beside the lease's renewals (``elected``)
        self._election: asyncio.Task[None] | None = None
        self._replica = Replica(self._router)
        self._replica_changed = asyncio.Event()
        self._resync_task: asyncio.Task[None] | None = None
        self._live_task: asyncio.Task[None] | None = None  # the view after a rebuild
        # The requests of this node's forwarded events still waiting for the leader's
        # answer (ended when this node is elected: see _forward)
        self._forwards: set[asyncio.Future[Reply | SnapshotReply]] = set()
        # Called on this node after configuration was reloaded.
        self._config_listeners: list[Listener] = []
        # A cluster's leader: events waiting for its next run (_runs), its own and its
        # followers' alike
        self._waiting: list[_Waiting] = []
        self._runner: asyncio.Task[None] | None = None

    def _new_router(self) -> r.Router:
        return r.Router(
            r.RouterConfig(
                offer_timeout=self._offer_timeout,
                reoffer_cooldown=self._reoffer_cooldown,
                channel_weights=dict(self._dir.settings.channel_weights),
                channel_modes=ROUTING_MODES,
            )
        )

    @property
    def is_leader(self) -> bool:
        return self.leadership is None or self.leadership.is_leader

    @property
    def router(self) -> r.Router:
        """The router this node reads: its own from its election until it is deposed,
        else its replica. Not ``is_leader``, which turns False at 80% of the lease, before
        ``deposed``: a leader's replica is the one from before its election, without the
        conversations routed since (their agents were told "not found"; docs/scaling.md).
        Its own only once the election's rebuild built it: until then it is empty (a
        first election) or the one of an earlier leadership, older than the replica."""
        return self._router if self._reads_own else self._replica.router

    @property
    def _reads_own(self) -> bool:
        return self.leadership is None or (self._elected and self._built)

    def on_config(self, listener: Listener) -> None:
        """Call ``listener`` on this node whenever configuration was reloaded."""
        self._config_listeners.append(listener)

    # -- lifecycle -----------------------------------------------------------------
    def join(self, link: ClusterLink, leadership: Leadership) -> None:
        """Run as one node of a cluster (before start)."""
        self.link = link
        self.leadership = leadership
        # a new leadership's fencing token is above every one this node has seen, even
        # after Redis restarted empty and lost the counter (cluster/lease.py)
        leadership.floor = lambda: max(self._fence, self._replica.fence)

    async def start(self) -> None:
        metrics.ROUTER_LEADER.set(1 if self.leadership is None else 0)
        if self.leadership is None:
            async with self._lock:
                await self._rebuild()
                await self._apply_locked(r.Tick())
            self._timer = asyncio.create_task(self._run_timer(), name="router timer")
        else:
            # A first replica from the store, until the leader's snapshot arrives.
            self._replica = Replica((await self._build())[0])
            await self.leadership.start()

    async def stop(self) -> None:
        for task in (self._election, self._timer, self._resync_task, self._runner):
            await cancel_and_wait(task)
        with contextlib.suppress(Exception):  # a view that failed: logged by its task
            await cancel_and_wait(self._live_task)
        if self.leadership is not None:
            await self.leadership.stop()
            # those an election or a deposition started meanwhile
            for task in (self._election, self._timer, self._resync_task):
                await cancel_and_wait(task)

    async def _build(self) -> tuple[r.Router, list[r.Decision]]:
        return await build_router(
            self._new_router(), self._dir, self._presence, self._store, self._clock()
        )

    async def _rebuild(self) -> None:
        """Leader: rebuild from the store and carry out what restoring decided;
        followers resynchronise from a snapshot."""
        self._router, decisions = await self._build()
        self._stale = False
        if self._elected and not self._built:
            self._built = True
            self._replica_changed.set()  # knows_agent: read this router from now on
        if self.link is not None:
            try:
                await self.link.send(topics.LOG, Reset(fence=self._fence, seq=self._seq))
            except BaseException:
                # Followers were not told (the first publish after Redis restarted often
                # fails), nor was what restoring decided carried out: again, and soon.
                self._apart()
                raise
        await self._carry_out(decisions, self._clock())
        if self._untold:
            # What a failure left half carried out is in the store (or not) but its
            # agents may not have been told: their rows as the store has them now.
            untold, self._untold = self._untold, {}
            try:
                await self._fx().refresh_rows(untold)
            except BaseException:
                self._remember_untold(untold)
                self._apart()
                raise
        if self._reads_own:  # a leader's (a follower's replica shows what its leader sends)
            self._show_live()
        self._wake.set()

    def _show_live(self) -> None:
        """The whole live view to the supervisors, beside the lock (reading every open
        conversation must not hold routing up); a newer one replaces one under way."""
        if self._live_task is not None:
            self._live_task.cancel()
        self._live_task = asyncio.create_task(
            self._fx().show_supervisors_all(self._clock()), name="router live view"
        )

    async def _run_timer(self) -> None:
        # Until deposed, not while ``is_leader``: a renewal late by more than a fifth of
        # the lease (a loaded machine, Redis slow) made it False for a moment, and the
        # timer ended for good while the node went on leading (offers never timed out,
        # a rebuild after a failure waited for the next event).
        while self.leadership is None or self._elected:
            if not self.is_leader:
                await asyncio.sleep(TICK_RETRY)
                continue
            deadline = self._router.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            if self._stale:  # the last rebuild failed (store down): try again soon
                timeout = STALE_RETRY if timeout is None else min(timeout, STALE_RETRY)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if self._wake.is_set():
                continue
            try:
                await self.apply(r.Tick())
            except Exception as exc:
                if isinstance(exc, GatewayError):
                    # Expected while the store is away or the lease lapses under load:
                    # a line, not a traceback.
                    log.warning("router tick failed (%s); retrying", exc.message)
                else:
                    # Still the next tick: a dead timer times out no offer and rebuilds
                    # nothing.
                    log.exception("router tick failed; retrying")
                # A pause, so a lasting failure does not spin (a failed tick may leave
                # the wake event set and its deadline past); events are applied by their
                # callers meanwhile, not held here.
                await asyncio.sleep(TICK_RETRY)

    # -- leadership ----------------------------------------------------------------
    async def elected(self, fence: int) -> None:
        """Returns at once: the lease's loop awaits it, and a rebuild that took longer
        than the lease (a big or slow store) held the renewals until the lease expired
        and another node took it. The rebuild runs in a task (``_take_over``) that holds
        the router's lock, so events, this node's and its followers', wait for it."""
        metrics.ROUTER_LEADER.set(1)
        # never two rebuilds at once (a deposition in between ended the last one already)
        await cancel_and_wait(self._election)
        self._elected = True
        self._built = False  # the replica is read until the rebuild (``router``)
        # This node's events forwarded to the leader it followed: that leader is gone or
        # deposed and will not answer; their callers are told to try again (_forward)
        # rather than wait out the forward's timeout, and their retries are applied here.
        for request in self._forwards:
            request.cancel()
        # The timer first: if the rebuild fails (the store is down), the next event or
        # tick rebuilds, and offers still time out once it succeeds.
        self._timer = asyncio.create_task(self._run_timer(), name="router timer")
        self._election = asyncio.create_task(self._take_over(fence), name="router election")

    async def _take_over(self, fence: int) -> None:
        async with self._lock:
            self._fence = max(self._fence, self._replica.fence, fence)
            self._seq = 0
            self._stale = True
            try:
                await self._rebuild()
                await self._apply_locked(r.Tick())
            except GatewayError as exc:
                log.warning("router rebuild after election failed, will retry: %s", exc)
            except Exception:  # a task's: nobody else would see it; the timer retries
                log.exception("router rebuild after election failed, will retry")

    async def deposed(self) -> None:
        metrics.ROUTER_LEADER.set(0)
        self._elected = False
        if self._timer is not None:
            self._timer.cancel()
        # The election's rebuild, if it still runs, ends before the router is looked at,
        # and publishes or carries out nothing more for a leadership that is over. Cut
        # short while it read the store, it leaves ``_built`` False (the replica stays);
        # once it built the router, that router becomes the replica, resynchronised from
        # the next leader below like any deposed leader's.
        await cancel_and_wait(self._election)
        if self._built:
            self._replica = Replica(self._router)
            self._replica.fence = self._fence
        # else the election's rebuild never finished: the replica is newer than the router
        self._built = False
        self._replica.unsynchronised()
        # A successor may be leading already: its Reset and log entries came while this
        # node still took itself for the leader and were ignored, and nothing else would
        # make this replica follow until its next entry (the roster here stayed as this
        # node last decided it: an agent back online shown offline for a minute).
        self._resync_soon()

    # -- events --------------------------------------------------------------------
    async def apply(self, event: r.Event) -> list[r.Decision]:
        """Feed one event; refuse with ActionRefused (state unchanged) when the router
        does. A follower forwards it to the leader."""
        if not self.is_leader:
            await self._forward(event)
            return []
        if self.link is not None:
            # a cluster's leader: in its next run, with its followers' events
            future: asyncio.Future[list[r.Decision]] = asyncio.get_running_loop().create_future()
            self._enqueue([_Waiting(event, functools.partial(_resolve, future))])
            return await future
        async with self._lock:
            return await self._apply_locked(event)

    async def _apply_locked(self, event: r.Event) -> list[r.Decision]:
        decisions, now = await self._decide_locked(event)
        await self._carry_out(decisions, now, event)
        self._carried_out()
        return decisions

    async def _decide_locked(self, event: r.Event) -> tuple[list[r.Decision], float]:
        """The router's decisions on ``event``, published on the log; not carried out."""
        if self._stale:
            await self._rebuild()
        now = self._clock()
        try:
            decisions = self._router.handle(event, now)
        except r.RoutingError as exc:
            raise ActionRefused(str(exc), code=exc.code) from None
        if self.link is not None:
            # Before any notification, so a follower's replica knows of an offer before
            # the agent it rings can answer it there.
            self._seq += 1
            try:
                await self.link.send(
                    topics.LOG, LogEntry(fence=self._fence, seq=self._seq, now=now, event=event)
                )
            except BaseException:
                self._apart()
                raise
        return decisions, now

    def _carried_out(self) -> None:
        self._wake.set()
        metrics.ROUTER_WAITING.set(self._router.waiting_count())

    async def _carry_out(
        self, decisions: list[r.Decision], now: float, event: r.Event | None = None
    ) -> None:
        try:
            await self._fx().carry_out(decisions, now, event)
        except BaseException:
            self._remember_untold(involved(decisions))
            self._apart()
            raise

    def _fx(self) -> Effects:
        assert self.effects is not None, "the composition root sets the effects"
        return self.effects

    def _remember_untold(self, rows: dict[str, set[str]]) -> None:
        for cid, agents in rows.items():
            self._untold.setdefault(cid, set()).update(agents)

    def _apart(self) -> None:
        """The router decided and what it decided was not (all) carried out: a store or
        bus failure, another exception, a cancellation. The router moved on, the store
        (and the followers' log) may not have: rebuild before the next event, and soon
        (the timer), not only when one comes. Left so, an arrival the router took but
        the store never heard of stays ``new``, its retry is refused as already routed,
        and no agent is ever told of it (docs/scaling.md, "Forwarding")."""
        self._stale = True
        self._wake.set()

    async def _forward(self, event: r.Event) -> None:
        assert self.link is not None
        link = self.link
        heard = link.heard

        def busy() -> bool:
            # the leader was heard from since the last look (it said it has the event
            # queued, its log moved on, it answered another request): alive, at work,
            # and our turn comes
            nonlocal heard
            moved, heard = link.heard != heard, link.heard
            return moved

        request = asyncio.ensure_future(
            link.request(
                lambda req, to: Forward(req_id=req, reply_to=to, event=event),
                self._forward_timeout,
                busy=busy,
                patience=FORWARD_PATIENCE,
            )
        )
        self._forwards.add(request)
        try:
            reply = await request
        except TimeoutError:
            raise RouterUnavailable("no router leader answered; try again") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the caller itself is cancelled
            # ended by elected(): this node leads now, and a retry is applied here
            raise RouterUnavailable("the router moved to this node; try again") from None
        finally:
            self._forwards.discard(request)
        assert isinstance(reply, Reply)
        if not reply.ok:
            if reply.retryable:
                raise RouterUnavailable(reply.message, code=reply.code)
            raise ActionRefused(reply.message, code=reply.code)

    async def knows_agent(self, agent_id: str) -> None:
        """Wait until the router this node reads knows the agent (a follower's replica
        may lag the leader's by a resynchronisation); RouterUnavailable after a while."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._forward_timeout
        while self.router.agent(agent_id) is None or not (self._reads_own or self._replica.ready):
            left = deadline - loop.time()
            if left <= 0:
                raise RouterUnavailable("this node's router does not know you yet; try again")
            if not self._reads_own:
                self._resync_soon()
            self._replica_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.25)):
                    await self._replica_changed.wait()

    # -- cluster messages ----------------------------------------------------------
    async def on_message(self, msg: Message) -> None:
        """A cluster message (gateway/cluster/messages.py), in arrival order."""
        if isinstance(msg, Forward):
            await self.on_forwards([msg])
        elif isinstance(msg, SnapshotRequest):
            if self.is_leader and self.link is not None:
                async with self._lock:
                    reply = SnapshotReply(
                        req_id=msg.req_id,
                        fence=self._fence,
                        seq=self._seq,
                        data=r.export_snapshot(self._router),
                    )
                await self.link.send(msg.reply_to, reply)
        elif isinstance(msg, LogEntry):
            if not self.is_leader:
                self._act(self._replica.on_entry(msg))
        elif isinstance(msg, Reset):
            if not self.is_leader:
                if msg.seq == 0 and self.link is not None:
                    # a leadership's first: what this node forwarded before it, unanswered
                    # and never queued, was dropped (on_forwards) and ends now
                    self.link.new_leader()
                self._act(self._replica.on_reset(msg))
        elif isinstance(msg, ConfigChanged):
            await self._dir.load()
            await self._config_reloaded()
            if self.is_leader:
                async with self._lock:
                    await self._rebuild()
                    await self._apply_locked(r.Tick())

    async def on_forwards(self, run: list[Forward]) -> None:
        """Events followers forwarded: applied in the leader's next run, each answered
        as soon as it is carried out (posted: the replies of a burst go out together)."""
        if self.is_leader:
            self._enqueue([_Waiting(m.event, functools.partial(self._answer, m)) for m in run])

    def _enqueue(self, items: list[_Waiting]) -> None:
        self._waiting.extend(items)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._runs(), name="router runs")

    async def _runs(self) -> None:
        """A cluster's leader applies the events waiting (its own and its followers')
        in runs, each in one hold of the lock. The router decides on them in order;
        their effects (store and bus round trips, awaited in turn) overlap where they
        concern different conversations, each conversation's event decided only once
        the one before it is carried out; an event that concerns no conversation or
        several, and a rebuild, wait for all before them (docs/scaling.md,
        "Forwarding"). One event at a time, each arrival of a burst waited for every
        effect of every arrival before it."""
        try:
            while self._waiting:
                run, self._waiting = self._waiting, []
                async with self._lock:
                    overlap = Overlap(CARRY_OUTS_AT_ONCE)
                    try:
                        for item in run:
                            await self._run_one(item, overlap)
                        await overlap.drain()
                    finally:
                        await overlap.cancel()  # cancelled (shutdown), as if awaited
                        _stopped(run)  # those it did not come to
        finally:
            _stopped(self._waiting)
            self._waiting = []

    async def _run_one(self, item: _Waiting, overlap: Overlap) -> None:
        key: str | None = getattr(item.event, "conversation_id", None) or None
        await overlap.ready(key)
        if self._stale:  # a carry-out failed: rebuilt once all of them are over
            await overlap.drain()
        try:
            if not self.is_leader:  # lost the lease meanwhile
                raise RouterUnavailable("the router is moving to another node; try again")
            decisions, now = await self._decide_locked(item.event)
        except Exception as exc:
            item.settle(exc)
            return
        if key and {d.conversation_id for d in decisions} <= {key}:
            overlap.start(key, self._carry_out_one(item, decisions, now))
        else:
            await overlap.drain()
            await self._carry_out_one(item, decisions, now)

    async def _carry_out_one(self, item: _Waiting, decisions: list[r.Decision], now: float) -> None:
        try:
            await self._carry_out(decisions, now, item.event)
        except Exception as exc:
            item.settle(exc)
            return
        self._carried_out()
        item.settle(decisions)

    def _answer(self, msg: Forward, outcome: Outcome) -> None:
        """A follower's event answered: done, refused with the error's code, or failed."""
        if not isinstance(outcome, BaseException):
            reply = Reply(req_id=msg.req_id, ok=True)
        else:
            exc = outcome
            if not isinstance(exc, GatewayError):
                # one event's failure is its own: the others of the run go on
                log.error("forwarded %s failed", type(msg.event).__name__, exc_info=exc)
                exc = RouterUnavailable("the router failed; try again")
            reply = Reply(
                req_id=msg.req_id,
                ok=False,
                code=exc.code,
                message=exc.public_message,
                retryable=exc.retryable,
            )
        assert self.link is not None
        self.link.post(msg.reply_to, reply)

    def _act(self, actions: list[Resync]) -> None:
        self._replica_changed.set()
        for action in actions:
            if action.reason:
                log.warning("%s: resynchronising", action.reason)
            self._resync_soon()

    def _resync_soon(self) -> None:
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.create_task(self.resync(), name="router resync")

    async def resync(self) -> None:
        """Follower: take the leader's snapshot, then the log entries after it."""
        if self.link is None or self.is_leader:
            return
        for _ in range(RESYNC_ATTEMPTS):
            try:
                reply = await self.link.request(
                    lambda req, to: SnapshotRequest(req_id=req, reply_to=to),
                    self._forward_timeout,
                )
            except TimeoutError:
                continue
            except BusUnavailable:  # Redis is away: asked again once it may be back
                await asyncio.sleep(RESYNC_PAUSE)
                continue
            assert isinstance(reply, SnapshotReply)
            actions = self._replica.on_snapshot(
                reply.fence, reply.seq, r.restore_snapshot(reply.data)
            )
            self._replica_changed.set()
            if self._replica.ready:
                # A gap among the entries kept meanwhile: the next snapshot is asked for
                # by the next entry or call (this task is still the running one).
                for action in actions:
                    if action.reason:
                        log.warning("%s: resynchronising", action.reason)
                return
        log.warning("no router leader answered a snapshot request")

    # -- configuration -------------------------------------------------------------
    async def config_changed(self) -> None:
        """Configuration changed (the admin API): every node reloads it (this one before
        this returns), the leader rebuilds the router."""
        if self.link is not None:
            await self.link.send(topics.LOG, ConfigChanged(origin=self.link.node_id))
            return
        async with self._lock:
            await self._dir.load()
            await self._rebuild()
            await self._apply_locked(r.Tick())
        await self._config_reloaded()

    async def _config_reloaded(self) -> None:
        for listener in self._config_listeners:
            try:
                await listener()
            except Exception:
                log.exception("configuration listener failed")


Outcome = list[r.Decision] | BaseException


class _Waiting:
    """An event in a cluster leader's queue, and how its outcome (its decisions, or why
    there are none) reaches whoever waits: a caller's future, or a follower's reply."""

    __slots__ = ("_answer", "_settled", "event")

    def __init__(self, event: r.Event, answer: Callable[[Outcome], None]) -> None:
        self.event = event
        self._answer = answer
        self._settled = False

    def settle(self, outcome: Outcome) -> None:
        """Only the first outcome counts."""
        if not self._settled:
            self._settled = True
            self._answer(outcome)


def _resolve(future: asyncio.Future[list[r.Decision]], outcome: Outcome) -> None:
    if future.done():  # its caller is gone
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _stopped(items: list[_Waiting]) -> None:
    for item in items:
        item.settle(RouterUnavailable("the router stopped; try again"))
