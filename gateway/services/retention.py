"""History retention: conversations closed longer ago than ``GATEWAY_HISTORY_RETENTION``
are deleted with everything that is theirs (messages, files and their bytes, notes,
ratings, transcripts), the way the right to be forgotten deletes a contact's
(``Store.purge_closed_conversations`` shares ``delete_contact``'s deletion). An open
conversation never goes, whatever its age; contacts stay, even with no conversation
left: the contact card is the customer's record (the right to be forgotten deletes it).
0, the default, keeps everything for ever and runs nothing.

Every node purges, as every node's outbox purges its old events: rounds of at most
``batches`` transactions of ``batch`` conversations each, so a first run on a long
history holds no lock for long and each round's work is bounded. A round that ends on
that bound (more are due) is followed by the next after ``PAUSE``; otherwise the next
comes after :func:`period`. Nodes purging at once delete each conversation once: the
store's transaction skips the rows another one is deleting (docs/store.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway import metrics
from gateway.aio import cancel_and_wait
from gateway.errors import GatewayError
from gateway.ports.store.base import Store
from gateway.services.attachments import Attachments

log = logging.getLogger("gateway.retention")

BATCH = 500  # conversations a transaction deletes at most
BATCHES = 10  # transactions a round at most
PAUSE = 1.0  # seconds between rounds while more are due (others' writes go between)
MAX_PERIOD = 3600.0  # seconds between rounds at most


def period(retention: float) -> float:
    """How often to look: a quarter of the retention, between 1 second and an hour (a
    conversation is kept at most that much longer than the retention)."""
    return min(MAX_PERIOD, max(1.0, retention / 4))


class HistoryRetention:
    def __init__(
        self,
        store: Store,
        attachments: Attachments,
        clock: Callable[[], float],
        *,
        retention: float,
        batch: int = BATCH,
        batches: int = BATCHES,
    ) -> None:
        self._store = store
        self._attachments = attachments
        self._clock = clock
        self.retention = retention
        self.batch = batch
        self.batches = batches
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.retention > 0:
            self._task = asyncio.create_task(self._run(), name="history retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            deleted = 0
            try:
                deleted = await self.purge()
            except GatewayError as exc:  # the store is away: the next round tries again
                metrics.count_store_error(exc)
                log.warning("history retention: %s", exc)
            except Exception:
                log.exception("history retention failed")
            more = deleted >= self.batch * self.batches
            await asyncio.sleep(PAUSE if more else period(self.retention))

    async def purge(self) -> int:
        """One round: delete the conversations closed before now less the retention, at
        most ``batches`` transactions of ``batch``, then their files' bytes; how many."""
        if self.retention <= 0:
            return 0
        closed_before = self._clock() - self.retention
        total = 0
        for _ in range(self.batches):
            deleted = await self._store.purge_closed_conversations(closed_before, self.batch)
            metrics.HISTORY_PURGED.inc(deleted)
            total += deleted
            if deleted < self.batch:
                break
        if total:
            log.info("deleted %d conversations closed over %gs ago", total, self.retention)
            # their files now, rather than at the next sweep (which retries if this fails)
            try:
                await self._attachments.drain()
            except GatewayError as exc:
                log.warning("files of purged conversations not deleted yet: %s", exc.message)
        return total
