"""Delivering the outbox: the events automations and bots are sent
(gateway/services/automations.py announces them; the store writes them with the change).

A worker on every node claims due events for a lease (the earliest pending event of
each target and conversation only, so a target gets a conversation's events in order),
POSTs each, signed, to its target's URL (gateway/services/webhooks.py), and records the
outcome: ``sent``; a retry with exponential backoff and jitter (the same as outbound
messages', gateway/services/deliveries.py); or, after the bounded number of attempts,
``dead``: dead-lettered, listed and replayable through the admin API, while the
target's later events of the conversation go on. A node that dies mid-delivery leaves
its claim to expire; another node delivers the event, with the same id: delivery is at
least once, never lost, and never on the live path (nothing here is awaited by a
message or an agent's action).

Targets are webhook ids, or ``<prefix>:<id>`` for what a channel resolves itself (the
integration adapter registers ``bot:``: the bot's touchpoint's URL and secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from gateway import metrics
from gateway.aio import cancel_and_wait
from gateway.errors import NotFound
from gateway.model.integrations import Announcement, OutboxEvent, OutboxState
from gateway.model.records import Contact
from gateway.ports.store.base import Store
from gateway.services.deliveries import Outcome, failed, retry_delay
from gateway.services.directory import Directory
from gateway.services.event_views import event_json
from gateway.services.webhooks import WebhookSender

log = logging.getLogger("gateway.outbox")

PER_TARGET = 4  # attempts under way to one target at most (claims stop at it)
HOUSEKEEPING_EVERY = 3600.0  # seconds between purges of old events and idempotency keys
COALESCE = 0.05  # seconds a claim waits for more free slots (fewer, larger claims)
CONTACT_TTL = 30.0  # seconds a contact read for events is reused
CONTACT_CACHE = 10_000


@dataclass
class _Health:
    """A target's state on this node: attempts under way, failures in a row, and until
    when it is left alone. A target that failed is tried again with one event at a time
    (the others wait, not counting attempts), after a backoff that grows with its
    failures: a receiver that is down costs one attempt per backoff, not one per
    conversation with events for it."""

    inflight: int = 0
    streak: int = 0
    paused_until: float = 0.0


class Receiver(NamedTuple):
    url: str
    secret: str


Resolver = Callable[[str], Receiver | None]


class Outbox:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        sender: WebhookSender,
        clock: Callable[[], float],
        *,
        max_attempts: int = 8,
        retry_base: float = 2.0,
        retention: float = 7 * 86400.0,
        lease: float = 60.0,
        poll: float = 5.0,
        batch: int = 20,
        concurrency: int = 16,
        console_url: str = "",
    ) -> None:
        self._store = store
        # the agents' console (GATEWAY_PUBLIC_URL's): events link to the history there
        self._console_url = console_url
        self._dir = directory
        self._sender = sender
        self._clock = clock
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retention = retention
        self.lease = lease
        self.poll = poll
        self.batch = batch
        self.concurrency = concurrency
        self._resolvers: dict[str, Resolver] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._swept = 0.0
        # what came of the attempts since the last flush (_record, _flush)
        self._sent: list[int] = []
        self._retry: list[tuple[int, float, str]] = []
        self._dead: list[tuple[int, str]] = []
        self._health: dict[str, _Health] = {}
        self._contacts: dict[str, tuple[Contact | None, float]] = {}

    def register(self, prefix: str, resolver: Resolver) -> None:
        """Targets ``<prefix>:<id>`` are resolved by ``resolver(id)``."""
        self._resolvers[prefix] = resolver

    def resolve(self, target: str) -> Receiver | None:
        prefix, sep, rest = target.partition(":")
        if sep:
            resolver = self._resolvers.get(prefix)
            return resolver(rest) if resolver is not None else None
        hook = self._dir.webhooks.get(target)
        return Receiver(hook.url, hook.secret) if hook is not None and hook.active else None

    def wake(self, announced: Iterable[Announcement] = ()) -> None:
        """Events were written on this node: claim them now rather than at the next poll
        (not for targets left alone for now: a wake-up could claim nothing for them)."""
        targets = {t for a in announced for t in a.targets}
        if targets and targets <= set(self._skip()):
            return
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- admin -------------------------------------------------------------------------
    async def events(
        self,
        target: str,
        state: OutboxState | None = None,
        limit: int = 50,
        before_n: int | None = None,
    ) -> list[OutboxEvent]:
        """A target's events, newest first; older than ``before_n`` (a page's cursor)."""
        return await self._store.list_outbox(target, state=state, limit=limit, before_n=before_n)

    async def replay(self, target: str, event_id: str) -> OutboxEvent:
        """Deliver a dead (or delivered) event again, now, with its id."""
        event = await self._store.replay_outbox(target, event_id, self._clock())
        self.wake()
        return event

    # -- the worker ------------------------------------------------------------------------
    async def _run(self) -> None:
        # Claims only what free slots can start at once, as they free: a slow receiver
        # holds its own slots, never the others' events. The store is asked little: a
        # claim, and a record of what was delivered, at most every COALESCE seconds,
        # each one transaction for many events (on SQLite every statement takes the one
        # connection the chat's messages need too).
        loop = asyncio.get_running_loop()
        inflight: set[asyncio.Task[None]] = set()
        last_claim = last_flush = 0.0
        try:
            while True:
                self._wake.clear()
                now = loop.time()
                if self._pending_records and (
                    self._pending_records >= self.batch or now - last_flush >= COALESCE
                ):
                    last_flush = now
                    await self._flush()
                room = self.concurrency - len(inflight)
                want = min(self.batch, room)
                events: list[OutboxEvent] = []
                if want > 0 and now - last_claim >= COALESCE:
                    last_claim = now
                    try:
                        events = await self._store.claim_outbox(
                            self._clock(), self.lease, want, skip=self._skip()
                        )
                    except Exception as exc:  # the store is down: try again at the next poll
                        metrics.count_store_error(exc)
                        log.warning("claiming outbox events failed: %s", exc)
                for event in events:
                    task = asyncio.create_task(self._attempt(event))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if not inflight and not self._pending_records:
                    await self._housekeeping()
                # until a wake-up, a freed slot, or the next poll; sooner when a claim or
                # a record is held back to gather more
                timeout = self.poll
                if self._pending_records or (events and len(events) == want):
                    timeout = COALESCE
                # probe a resting receiver as soon as its rest is over (not while a
                # probe is under way: its end wakes the loop anyway)
                clock = self._clock()
                rested = [h.paused_until for h in self._health.values() if h.paused_until > clock]
                if rested:
                    timeout = max(COALESCE, min(timeout, min(rested) - clock))
                wake = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {wake, *inflight}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    wake.cancel()
                pause = COALESCE - (loop.time() - last_claim)
                if pause > 0 and (self._wake.is_set() or len(inflight) < self.concurrency):
                    await asyncio.sleep(pause)  # gather what else comes before claiming
        finally:
            for task in inflight:
                task.cancel()
            await self._flush()

    def _skip(self) -> list[str]:
        """The targets not to claim for now: at their limit, or resting after failures
        (then probed with one event at a time)."""
        now = self._clock()
        out = []
        for target, h in self._health.items():
            if h.inflight >= PER_TARGET or (h.streak and (h.paused_until > now or h.inflight >= 1)):
                out.append(target)
        for target in [t for t, h in self._health.items() if not (h.inflight or h.streak)]:
            del self._health[target]  # healthy and idle: nothing to remember
        return out

    @property
    def _pending_records(self) -> int:
        return len(self._sent) + len(self._retry) + len(self._dead)

    async def _flush(self) -> None:
        """Record what came of the attempts since the last flush, in one transaction."""
        sent, retry, dead = self._sent, self._retry, self._dead
        self._sent, self._retry, self._dead = [], [], []
        try:
            await self._store.record_outbox(self._clock(), sent=sent, retry=retry, dead=dead)
        except Exception as exc:  # their claims expire and they are tried again (same ids)
            log.warning("recording delivery attempts failed: %s", exc)

    async def _attempt(self, event: OutboxEvent) -> None:
        health = self._health.setdefault(event.target, _Health())
        health.inflight += 1
        try:
            outcome = await self._post(event)
        finally:
            health.inflight -= 1
        if outcome.sent:
            health.streak, health.paused_until = 0, 0.0
        elif outcome.retryable and self._clock() >= health.paused_until:
            # once per pause: the other attempts under way when it failed add nothing
            health.streak += 1
            health.paused_until = self._clock() + retry_delay(health.streak, base=self.retry_base)
        self._record(event, outcome)

    async def _post(self, event: OutboxEvent) -> Outcome:
        endpoint = self.resolve(event.target)
        if endpoint is None:
            outcome = failed(f"{event.target} is gone or inactive", retryable=False)
        else:
            try:
                outcome = await self._sender.post(
                    endpoint.url,
                    endpoint.secret,
                    await self._body(event),
                    event_id=event.event_id,
                    event_type=event.type,
                    attempt=event.attempts,
                )
            except Exception:
                log.exception("delivering %s to %s failed", event.event_id, event.target)
                outcome = failed("an unexpected error; retrying", retryable=True)
        return outcome

    async def _body(self, event: OutboxEvent) -> bytes:
        contact_id = event.payload.get("conversation", {}).get("contact_id", "")
        return event_json(
            event.event_id,
            event.type,
            event.created_at,
            event.payload,
            self._dir,
            await self._contact(contact_id) if contact_id else None,
            console_url=self._console_url,
        )

    async def _contact(self, contact_id: str) -> Contact | None:
        """The contact, read at most every CONTACT_TTL seconds (a conversation's events
        come in bursts; a changed name shows in the next ones)."""
        now = self._clock()
        cached = self._contacts.get(contact_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        contact = None
        with contextlib.suppress(NotFound):
            contact = await self._store.get_contact(contact_id)
        if len(self._contacts) >= CONTACT_CACHE:
            self._contacts.pop(next(iter(self._contacts)))
        self._contacts[contact_id] = (contact, now + CONTACT_TTL)
        return contact

    def _record(self, event: OutboxEvent, outcome: Outcome) -> None:
        """What came of an attempt, kept for the next flush."""
        if outcome.sent:
            self._sent.append(event.n)
        elif outcome.retryable and event.attempts < self.max_attempts:
            wait = retry_delay(event.attempts, base=self.retry_base)
            if outcome.retry_after is not None:
                wait = max(wait, outcome.retry_after)
            self._retry.append((event.n, self._clock() + wait, outcome.reason))
        else:
            reason = outcome.reason
            if outcome.retryable:
                reason = f"gave up after {event.attempts} attempts: {reason}"
            log.warning("event %s for %s dead-lettered: %s", event.event_id, event.target, reason)
            self._dead.append((event.n, reason))

    async def _housekeeping(self) -> None:
        now = self._clock()
        if now - self._swept < HOUSEKEEPING_EVERY:
            return
        self._swept = now
        try:
            purged = await self._store.purge_outbox(now - self.retention)
            expired = await self._store.purge_idempotency(now)
        except Exception as exc:
            log.warning("outbox housekeeping failed: %s", exc)
            return
        if purged or expired:
            log.info("purged %d delivered events and %d idempotency keys", purged, expired)
