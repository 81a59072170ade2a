"""The follower's replica (gateway/cluster/replica.py): log entries in, actions out, no
I/O, so no Redis and no leader are needed to test it."""

from __future__ import annotations

import routing as r
from gateway.cluster.messages import LogEntry, Reset
from gateway.cluster.replica import RESYNC, Replica, Resync


def leader_log(count: int, fence: int = 1) -> tuple[r.Router, list[LogEntry]]:
    """A leader's router and the log of the events it applied."""
    router = r.Router(r.RouterConfig())
    events: list[r.Event] = [
        r.TouchpointUpserted("tp", "chat", "simplified", ["q"]),
        *(r.AgentUpserted(f"ag{i}", ["q"], "agent") for i in range(count - 1)),
    ]
    log = []
    for seq, event in enumerate(events[:count], start=1):
        router.handle(event, float(seq))
        log.append(LogEntry(fence=fence, seq=seq, now=float(seq), event=event))
    return router, log


def snapshot_of(router: r.Router) -> r.Router:
    return r.restore_snapshot(r.export_snapshot(router))


def synced(fence: int = 1, seq: int = 0) -> Replica:
    replica = Replica(r.Router(r.RouterConfig()))
    assert replica.on_snapshot(fence, seq, r.Router(r.RouterConfig())) == []
    return replica


def test_in_order_entries_are_replayed_and_the_replica_equals_the_leader() -> None:
    leader, log = leader_log(6)
    replica = synced()
    for entry in log:
        assert replica.on_entry(entry) == []
    assert replica.seq == 6 and r.digest(replica.router) == r.digest(leader)


def test_entries_it_already_has_are_ignored_without_resynchronising() -> None:
    """A follower used to log 'router log gap (N after M)' and resynchronise for entries
    with N <= M: entries that were part of the snapshot, or arrived twice."""
    leader, log = leader_log(8)
    first, rest = log[:5], log[5:]
    for_snapshot = r.Router(r.RouterConfig())
    for entry in first:
        for_snapshot.handle(entry.event, entry.now)
    replica = synced(seq=0)
    assert replica.on_snapshot(1, 5, snapshot_of(for_snapshot)) == []
    for entry in [*first, log[2], log[4]]:  # in the snapshot, and repeated
        assert replica.on_entry(entry) == [], entry.seq
    assert replica.ready and replica.seq == 5
    for entry in rest:
        assert replica.on_entry(entry) == []
    assert replica.on_entry(rest[-1]) == []
    assert r.digest(replica.router) == r.digest(leader)


def test_a_real_gap_keeps_the_entry_and_asks_for_a_snapshot() -> None:
    leader, log = leader_log(6)
    replica = synced()
    for entry in log[:3]:
        replica.on_entry(entry)
    actions = replica.on_entry(log[4])  # seq 5 after 3
    assert actions == [Resync("router log gap (5 after 3)")]
    assert not replica.ready
    # The snapshot at 4 arrives; the kept entry 5 is replayed after it, then 6 follows.
    at4 = r.Router(r.RouterConfig())
    for entry in log[:4]:
        at4.handle(entry.event, entry.now)
    assert replica.on_snapshot(1, 4, snapshot_of(at4)) == []
    assert replica.seq == 5
    assert replica.on_entry(log[5]) == []
    assert r.digest(replica.router) == r.digest(leader)


def test_a_deposed_leaders_entries_and_resets_are_ignored() -> None:
    _, log = leader_log(3, fence=2)
    replica = synced(fence=2)
    for entry in log:
        replica.on_entry(entry)
    stale = LogEntry(fence=1, seq=4, now=9.0, event=r.AgentStatusChanged("ag0", "available"))
    assert replica.on_entry(stale) == []
    assert replica.on_reset(Reset(fence=1, seq=0)) == []
    assert replica.seq == 3 and replica.ready


def test_a_new_leader_or_a_reset_resynchronises() -> None:
    _, log = leader_log(3, fence=1)
    replica = synced(fence=1)
    replica.on_entry(log[0])
    new_leader = LogEntry(fence=2, seq=1, now=5.0, event=log[1].event)
    assert replica.on_entry(new_leader) == [RESYNC]
    assert replica.fence == 2 and not replica.ready
    assert replica.on_reset(Reset(fence=2, seq=7)) == [RESYNC]


def test_a_snapshot_of_an_older_leadership_is_refused() -> None:
    replica = synced(fence=3)
    assert replica.on_snapshot(2, 10, r.Router(r.RouterConfig())) == [RESYNC]
    assert replica.fence == 3 and replica.seq == 0


def test_an_entry_the_replica_refuses_resynchronises() -> None:
    replica = synced()
    bad = LogEntry(fence=1, seq=1, now=1.0, event=r.AgentStatusChanged("nobody", "available"))
    [action] = replica.on_entry(bad)
    assert action.reason.startswith("replica refused AgentStatusChanged")
    assert not replica.ready and replica.seq == 0
