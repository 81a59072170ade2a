"""SQLite's lanes (gateway/ports/store/_sqlite_lane.py): how many hops the writer's thread
takes, and reads that never hold the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import StoreUnavailable
from gateway.model.records import Queue
from gateway.ports.store._sqlite_lane import InlineConn
from gateway.ports.store.sqlite import SQLiteStore
from tests.store.test_contract import setup_conversation
from tests.store.test_integration_contract import announce, conversation


@contextmanager
def hops_counted(store: SQLiteStore) -> Iterator[list[int]]:
    """The hops to the writer's thread taken inside the block (``[count]``)."""
    lane = store._lane
    assert lane is not None
    run, hops = lane.run, [0]

    async def counted(fn: Any, *args: Any) -> Any:
        hops[0] += 1
        return await run(fn, *args)

    lane.run = counted  # type: ignore[method-assign]
    try:
        yield hops
    finally:
        lane.run = run  # type: ignore[method-assign]


async def test_a_batch_of_appends_takes_no_hop_to_the_writer(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "gateway.db"))
    await store.open()
    try:
        await setup_conversation(store)
        with hops_counted(store) as hops:
            results = await asyncio.gather(
                *(
                    store.append(
                        "c1",
                        sender="contact",
                        sender_id="v-k1",
                        client_msg_id=f"m{i}",
                        body=f"hello {i}",
                        now=2.0,
                    )
                    for i in range(50)
                )
            )
        # every caller has its own committed message, in the order they asked
        assert [r.message.seq for r in results] == list(range(1, 51))
        assert results[-1].conversation.last_seq == 50
        assert results[-1].conversation.agent_unread == 50
        # two statements per message, BEGIN and COMMIT were 102 hops, then one per
        # batch; now the batch runs inline on the loop (the writer being free)
        assert hops[0] == 0
    finally:
        await store.close()


async def test_a_read_the_file_lock_turns_away_takes_the_writers_lane(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "gateway.db"))
    await store.open()
    # The reader's file is held exclusively by another process (a rollback-journal file,
    # as a WAL file would be during another process's recovery): SQLite answers BUSY at
    # once to a reader without a busy handler.
    locked = tmp_path / "locked.db"
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("CREATE TABLE queues (id TEXT)")
    holder.execute("BEGIN EXCLUSIVE")
    real = store._reader
    reader = sqlite3.connect(locked, isolation_level=None)
    reader.execute("PRAGMA busy_timeout = 0")
    try:
        await store.put_queue(Queue(id="q", name="Q"))
        store._reader = InlineConn(reader)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            reader.execute("SELECT 1 FROM queues").fetchall()
        started = time.monotonic()
        assert await store.get_queue("q") == Queue(id="q", name="Q")  # through the writer
        assert time.monotonic() - started < 1
    finally:
        store._reader = real
        reader.close()
        holder.close()
        await store.close()


async def test_an_inline_read_sees_what_the_writer_just_committed(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "gateway.db"))
    await store.open()
    try:
        assert store._reader is not None  # a file: reads take the reader
        await setup_conversation(store)
        for i in range(20):
            appended = await store.append(
                "c1", sender="contact", sender_id="v-k1", client_msg_id=f"m{i}", body="x", now=2.0
            )
            conv = await store.get_conversation("c1")
            assert conv.last_seq == appended.message.seq == i + 1
    finally:
        await store.close()
    with pytest.raises(StoreUnavailable):
        await store.get_conversation("c1")


async def test_the_outboxs_claim_and_record_take_one_hop_each(tmp_path: Path) -> None:
    """The outbox worker's two transactions (a claim of many events, a record of what
    came of them) run whole on the writer's thread: one hop each, not one a statement,
    so the chat's appends find the writer free again at once (docs/store.md)."""
    store = SQLiteStore(str(tmp_path / "gateway.db"))
    await store.open()
    try:
        for i in range(5):
            await conversation(store, f"cv{i}")
            await store.update_conversation(
                f"cv{i}", priority=1, announce=[announce(f"e{i}", "wh")]
            )
        with hops_counted(store) as hops:
            claimed = await store.claim_outbox(100.0, 30.0, 10)
            assert sorted(e.event_id for e in claimed) == [f"e{i}" for i in range(5)]
            assert hops[0] == 1  # a SELECT and five UPDATEs, BEGIN and COMMIT were eight
            await store.record_outbox(
                101.0,
                sent=[e.n for e in claimed[:3]],
                retry=[(e.n, 200.0, "HTTP 502") for e in claimed[3:]],
            )
        assert hops[0] == 2
        assert len(await store.list_outbox("wh", state="sent")) == 3
        assert [e.last_error for e in await store.list_outbox("wh", state="pending")] == [
            "HTTP 502"
        ] * 2
    finally:
        await store.close()
