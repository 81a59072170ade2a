"""The admin notices' once-an-hour rule, decided by the store for the whole cluster
(``give_notice``, gateway/services/notices.py): of the notices of one key within the
quiet time one is kept, also when two nodes (two stores on one database) give it at
once; a lapsed claim is taken again, the old ones are removed, and a claim is never
taken without its notice."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from gateway.errors import Conflict
from gateway.model.records import AdminNotice
from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from tests.poll import until
from tests.store.conftest import StoreFactory

HOUR = 3600.0
T0 = 1_800_000_000.0

_WAITING = (
    "SELECT count(*) FROM pg_locks WHERE relation = 'notice_claims'::regclass AND NOT granted"
)


def claim(store: Store, key: str, *, now: float, quiet: float, nid: str = "") -> Any:
    """Give a notice of ``key`` at ``now`` (its id ``nid``, or a fresh one)."""
    notice = AdminNotice(
        id=nid or f"nt_{uuid.uuid4().hex[:12]}",
        kind="provider_error",
        message=f"about {key}",
        touchpoint_id="",
        conversation_id="",
        created_at=now,
    )
    return store.give_notice(notice, key, quiet=quiet)


async def _keys(store: Store) -> list[str]:
    async with store._connection() as c:  # type: ignore[attr-defined]
        rows = await c.fetch("SELECT key FROM notice_claims ORDER BY key")
    return [r[0] for r in rows]


async def test_two_claims_of_one_key_within_the_quiet_time_have_one_winner(
    store: Store,
) -> None:
    assert await claim(store, "k1", now=T0, quiet=HOUR) is None
    # refused: the time of the claim that stands (the node need not ask before it lapses)
    assert await claim(store, "k1", now=T0 + 10, quiet=HOUR) == T0
    assert await claim(store, "k1", now=T0 + HOUR - 1, quiet=HOUR) == T0
    assert await claim(store, "k2", now=T0 + 10, quiet=HOUR) is None  # another key
    # lapsed: taken again, and refused from then on
    assert await claim(store, "k1", now=T0 + HOUR, quiet=HOUR) is None
    assert await claim(store, "k1", now=T0 + HOUR + 5, quiet=HOUR) == T0 + HOUR


async def test_a_claim_taken_removes_the_lapsed_ones(store: Store) -> None:
    for i in range(3):
        assert await claim(store, f"old{i}", now=T0 + i, quiet=HOUR) is None
    assert await claim(store, "young", now=T0 + HOUR + 1, quiet=HOUR) is None
    # old0 and old1 lapsed; old2 has a second to go
    assert await _keys(store) == ["old2", "young"]
    # a refused claim writes nothing
    assert await claim(store, "young", now=T0 + HOUR + 2, quiet=HOUR) == T0 + HOUR + 1
    assert await _keys(store) == ["old2", "young"]


async def test_a_notice_not_kept_takes_no_claim(store: Store) -> None:
    """Regression: the claim was its own statement, before the notice's insert, so an
    insert that failed (or a node dying between the two) silenced the notice for an hour
    on every node."""
    assert await claim(store, "k0", now=T0, quiet=HOUR, nid="nt_taken") is None
    with pytest.raises(Conflict):  # the id exists: nothing kept, nothing claimed
        await claim(store, "k1", now=T0, quiet=HOUR, nid="nt_taken")
    assert await _keys(store) == ["k0"]
    assert await claim(store, "k1", now=T0 + 1, quiet=HOUR) is None
    notices = await store.list_notices()
    assert sorted(n.message for n in notices) == ["about k0", "about k1"]


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
            assert await claim(nodes[0], "k", now=T0 - HOUR, quiet=HOUR) is None
        claims = [claim(node, "k", now=T0, quiet=HOUR) for node in nodes]
        first = nodes[0]
        if isinstance(first, PostgresStore):
            # both claims wait on the test's lock, then go together
            async with first._transaction() as holder:
                await holder.execute("LOCK TABLE notice_claims IN SHARE MODE")
                tasks = [asyncio.ensure_future(c) for c in claims]
                async with first._connection() as watcher:

                    async def waiting() -> int:
                        # none may finish before both wait: they would not race
                        assert not any(t.done() for t in tasks), [t.result() for t in tasks]
                        return int((await watcher.fetchrow(_WAITING))[0])  # type: ignore[index]

                    await until(waiting, lambda n: n >= 2, what="both claims waiting", every=0.02)
            results = list(await asyncio.gather(*tasks))
        else:  # two writers on one file: SQLite lets one write at a time
            results = list(await asyncio.gather(*claims))
        assert sorted(results, key=lambda r: r is not None) == [None, T0]
        assert await _keys(first) == ["k"]
    finally:
        for node in nodes:
            await node.close()
