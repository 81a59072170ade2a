"""The admin notices' once-an-hour rule, decided by the store for the whole cluster
(``claim_notice``, gateway/services/notices.py): of the claims of one key within the
quiet time one is taken, also when two nodes (two stores on one database) claim it at
once; a lapsed claim is taken again, and the old ones are removed."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from tests.store.conftest import StoreFactory

HOUR = 3600.0
T0 = 1_800_000_000.0

_WAITING = (
    "SELECT count(*) FROM pg_locks WHERE relation = 'notice_claims'::regclass AND NOT granted"
)


async def _keys(store: Store) -> list[str]:
    async with store._connection() as c:  # type: ignore[attr-defined]
        rows = await c.fetch("SELECT key FROM notice_claims ORDER BY key")
    return [r[0] for r in rows]


async def test_two_claims_of_one_key_within_the_quiet_time_have_one_winner(
    store: Store,
) -> None:
    assert await store.claim_notice("k1", now=T0, quiet=HOUR) is None
    # refused: the time of the claim that stands (the node need not ask before it lapses)
    assert await store.claim_notice("k1", now=T0 + 10, quiet=HOUR) == T0
    assert await store.claim_notice("k1", now=T0 + HOUR - 1, quiet=HOUR) == T0
    assert await store.claim_notice("k2", now=T0 + 10, quiet=HOUR) is None  # another key
    # lapsed: taken again, and refused from then on
    assert await store.claim_notice("k1", now=T0 + HOUR, quiet=HOUR) is None
    assert await store.claim_notice("k1", now=T0 + HOUR + 5, quiet=HOUR) == T0 + HOUR


async def test_a_claim_taken_removes_the_lapsed_ones(store: Store) -> None:
    for i in range(3):
        assert await store.claim_notice(f"old{i}", now=T0 + i, quiet=HOUR) is None
    assert await store.claim_notice("young", now=T0 + HOUR + 1, quiet=HOUR) is None
    # old0 and old1 lapsed; old2 has a second to go
    assert await _keys(store) == ["old2", "young"]
    # a refused claim writes nothing
    assert await store.claim_notice("young", now=T0 + HOUR + 2, quiet=HOUR) == T0 + HOUR + 1
    assert await _keys(store) == ["old2", "young"]


@pytest.mark.parametrize("lapsed", [False, True], ids=["new-key", "lapsed-key"])
async def test_two_nodes_claiming_at_once_have_one_winner(
    make_store: StoreFactory, lapsed: bool
) -> None:
    """Two stores on one database (two nodes), each claiming the same key at the same
    instant: a key never claimed (both insert) or one whose claim lapsed (both update)."""
    nodes = [make_store(), make_store()]
    for node in nodes:
        await node.open()
    try:
        if lapsed:
            assert await nodes[0].claim_notice("k", now=T0 - HOUR, quiet=HOUR) is None
        claims = [node.claim_notice("k", now=T0, quiet=HOUR) for node in nodes]
        first = nodes[0]
        if isinstance(first, PostgresStore):
            # both claims wait on the test's lock, then go together
            async with first._transaction() as holder:
                await holder.execute("LOCK TABLE notice_claims IN SHARE MODE")
                tasks = [asyncio.ensure_future(c) for c in claims]
                deadline = time.monotonic() + 30
                async with first._connection() as watcher:
                    while (await watcher.fetchrow(_WAITING))[0] < 2:  # type: ignore[index]
                        assert time.monotonic() < deadline, "the claims never waited"
                        assert not any(t.done() for t in tasks), [t.result() for t in tasks]
                        await asyncio.sleep(0.02)
            results = list(await asyncio.gather(*tasks))
        else:  # two writers on one file: SQLite lets one write at a time
            results = list(await asyncio.gather(*claims))
        assert sorted(results, key=lambda r: r is not None) == [None, T0]
        assert await _keys(first) == ["k"]
    finally:
        for node in nodes:
            await node.close()
