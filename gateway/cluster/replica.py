"""A follower's copy of the router, fed by the leader's log: entries in, actions out.

No I/O here (the websockets library's sans-I/O protocol is the model): the node's
router shell hands each log entry, reset and snapshot to :class:`Replica` and carries
out what it answers, which is at most "ask the leader for a snapshot" (:class:`Resync`).

The rules:

* an entry with an older fencing token than one already seen is from a deposed leader:
  ignored, so a leader that lost its lease without knowing cannot move the replica;
* a newer fencing token (a new leader) or a replica not synchronised yet: keep the
  entry and resynchronise;
* an entry at or before the replica's position was applied already (it arrived again,
  or was part of the snapshot): ignored, silently;
* the next entry is replayed; a later one is a gap: keep it and resynchronise;
* a snapshot from the current leadership replaces the state, then the entries kept
  since are replayed in order.
"""

from __future__ import annotations

import msgspec

import routing as r
from gateway.cluster.messages import LogEntry, Reset


class Resync(msgspec.Struct, frozen=True):
    """Ask the leader for a snapshot; ``reason`` is for the log (empty when routine)."""

    reason: str = ""


RESYNC = Resync()


class Replica:
    def __init__(self, router: r.Router) -> None:
        self.router = router
        self.fence = 0  # the newest fencing token seen
        self.seq = 0  # the position in the leader's log
        self.ready = False  # synchronised with the current leadership
        self._pending: list[LogEntry] = []

    def on_entry(self, entry: LogEntry) -> list[Resync]:
        if entry.fence < self.fence:
            return []
        if entry.fence > self.fence or not self.ready:
            self.fence = entry.fence
            self.ready = False  # the new leader's log does not continue the old one's
            self._pending.append(entry)
            return [RESYNC]
        if entry.seq <= self.seq:
            return []
        if entry.seq != self.seq + 1:
            self.ready = False
            self._pending.append(entry)
            return [Resync(f"router log gap ({entry.seq} after {self.seq})")]
        return self._replay(entry)

    def on_reset(self, reset: Reset) -> list[Resync]:
        """The leader rebuilt its state in a way the log does not carry."""
        if reset.fence < self.fence:
            return []
        self.fence = reset.fence
        self.ready = False
        return [RESYNC]

    def on_snapshot(self, fence: int, seq: int, router: r.Router) -> list[Resync]:
        """Take the leader's state at ``seq``; refuse one from an older leadership."""
        if fence < self.fence:
            return [RESYNC]
        self.router = router
        self.fence, self.seq = fence, seq
        self.ready = True
        pending, self._pending = sorted(self._pending, key=lambda e: e.seq), []
        actions: list[Resync] = []
        for entry in pending:
            if entry.fence == self.fence and entry.seq > self.seq:
                actions += self.on_entry(entry)
        return actions[:1]

    def unsynchronised(self) -> None:
        """This node stopped leading, or lost the log: wait for a snapshot."""
        self.ready = False

    def _replay(self, entry: LogEntry) -> list[Resync]:
        try:
            self.router.handle(entry.event, entry.now)
        except r.RoutingError as exc:  # cannot happen with a faithful replica
            self.ready = False
            return [Resync(f"replica refused {type(entry.event).__name__}: {exc}")]
        self.seq = entry.seq
        return []
