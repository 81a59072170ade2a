"""SQLite's group commit (gateway/ports/store/_group_commit.py): a batch in one
transaction on the event loop's thread when the writer is free, through the writer's
thread when it is not; a failing row, a cancelled caller, a busy file; seq order; and the
WAL checkpoint off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import DuplicateRecord, StoreUnavailable
from gateway.model.integrations import Announcement
from gateway.model.records import Conversation, Message
from gateway.ports.store.base import Appended
from gateway.ports.store.sqlite import CACHE_KIB, SQLiteStore
from tests.store.test_contract import setup_conversation


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "gateway.db"))
    await s.open()
    try:
        await setup_conversation(s)
        yield s
    finally:
        await s.close()


def send(store: SQLiteStore, i: int | str, **kw: Any) -> asyncio.Task[Appended]:
    return asyncio.create_task(
        store.append(
            kw.pop("cid", "c1"),
            sender="contact",
            sender_id="v-k1",
            client_msg_id=f"m{i}",
            body=f"hello {i}",
            now=2.0,
            **kw,
        )
    )


def flushed(store: SQLiteStore) -> asyncio.Event:
    """Set once the group commit has dealt with a batch (inline, or handed it on)."""
    event = asyncio.Event()
    real = store._flush

    def flush() -> None:
        real()
        event.set()

    store._flush = flush  # type: ignore[method-assign]
    return event


def statements(store: SQLiteStore) -> list[str]:
    """Every statement the writer runs from now on (on whichever thread)."""
    seen: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(seen.append)
    return seen


def conversation_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("SELECT") and "FROM conversations" in s]


async def test_a_batch_is_one_transaction_on_the_loop_with_no_hop(store: SQLiteStore) -> None:
    assert store._lane is not None
    hops = 0
    run = store._lane.run

    async def counted(fn: Any, *args: Any) -> Any:
        nonlocal hops
        hops += 1
        return await run(fn, *args)

    store._lane.run = counted  # type: ignore[method-assign]
    seen = statements(store)
    results = await asyncio.gather(*(send(store, i) for i in range(30)))
    assert [r.message.seq for r in results] == list(range(1, 31))
    assert hops == 0
    assert seen.count("BEGIN IMMEDIATE") == 1 and seen.count("COMMIT") == 1


async def test_a_row_the_database_refuses_rejects_only_its_caller(store: SQLiteStore) -> None:
    await store.update_conversation("c1", state="waiting")

    def announce(conv: Conversation, message: Message) -> list[Announcement]:
        # two messages of the batch announce the same event id: the outbox's key refuses
        # the second one's row
        event = "dup" if message.body in ("hello 3", "hello 5") else f"e-{message.seq}"
        return [Announcement(event, "message.created", ("wh",), 2.0)]

    results = await asyncio.gather(
        *(send(store, i, announce=announce) for i in range(8)), return_exceptions=True
    )
    failed = [i for i, r in enumerate(results) if not isinstance(r, Appended)]
    assert failed == [5]
    assert isinstance(results[5], DuplicateRecord)
    # the others are stored, in order, with no gap; nothing of the refused one is
    stored = await store.messages("c1")
    assert [m.body for m in stored] == [f"hello {i}" for i in range(8) if i != 5]
    assert [m.seq for m in stored] == list(range(1, 8))
    assert (await store.get_conversation("c1")).last_seq == 7


async def test_an_announcer_that_raises_fails_only_its_caller(store: SQLiteStore) -> None:
    await store.update_conversation("c1", state="waiting")

    def announce(conv: Conversation, message: Message) -> list[Announcement]:
        if message.body == "hello 2":
            raise ValueError("no")
        return []

    results = await asyncio.gather(
        *(send(store, i, announce=announce) for i in range(4)), return_exceptions=True
    )
    assert isinstance(results[2], ValueError)
    assert [isinstance(r, Appended) for r in results] == [True, True, False, True]
    assert [m.seq for m in await store.messages("c1")] == [1, 2, 3]


async def test_an_outage_met_one_by_one_fails_only_the_messages_it_failed(
    store: SQLiteStore,
) -> None:
    """A batch refused for one message is stored again one message at a time; a full
    disk met on the way fails the messages it stopped, not those committed before it
    (they are acknowledged), and the refused one hears its own error."""
    await store.update_conversation("c1", state="waiting")
    assert store._db is not None
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages + 3}")  # a nearly full disk

    def announce(conv: Conversation, message: Message) -> list[Announcement]:
        if message.body == "hello 2":
            raise ValueError("no")
        return []

    tasks = [send(store, i, announce=announce) for i in range(3)]
    tasks.append(
        asyncio.create_task(
            store.append(
                "c1",
                sender="contact",
                sender_id="v-k1",
                client_msg_id="huge",
                body="x" * 200_000,
                now=2.0,
                announce=announce,
            )
        )
    )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    store._db.execute("PRAGMA max_page_count = 1073741823")
    ok0, ok1, refused, huge = results
    assert isinstance(ok0, Appended) and isinstance(ok1, Appended)
    assert (ok0.message.seq, ok1.message.seq) == (1, 2)
    assert isinstance(refused, ValueError)
    assert isinstance(huge, StoreUnavailable)
    assert [(m.client_msg_id, m.seq) for m in await store.messages("c1")] == [
        ("m0", 1),
        ("m1", 2),
    ]
    assert (await send(store, "after")).message.seq == 3


async def test_a_cancelled_caller_leaves_a_whole_batch_and_a_free_writer(
    store: SQLiteStore,
) -> None:
    tasks = [send(store, i) for i in range(10)]
    await asyncio.sleep(0)  # every caller is waiting on the batch, not yet committed
    assert store._appends, "the batch has not been committed yet"
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    # The cancelled caller's message went with its batch (its retry finds it); the
    # others have theirs; seq has no gap.
    assert [m.seq for m in await store.messages("c1")] == list(range(1, 11))
    retry = await send(store, 3)
    assert not retry.created and retry.message.body == "hello 3"
    # the writer is free: the next append and an ordinary transaction go through
    assert (await send(store, 10)).message.seq == 11
    await store.update_conversation("c1", state="waiting")


async def test_batches_that_wait_for_the_writer_keep_their_order(store: SQLiteStore) -> None:
    await setup_conversation(store, "c2", contact_id="k2")
    async with store._lock:  # a transaction holds the writer: the batch must wait
        handed_on = flushed(store)
        first = [send(store, f"a{i}") for i in range(5)]
        await handed_on.wait()
        assert store._committer is not None
        later = [send(store, f"b{i}", cid=cid) for i in range(5) for cid in ("c1", "c2")]
        await asyncio.sleep(0)
        assert not any(t.done() for t in first + later)
    done = await asyncio.gather(*first, *later)
    seqs = [r.message.seq for r in done if r.message.conversation_id == "c1"]
    assert seqs == list(range(1, 11))  # the first batch's before the later one's
    assert [m.body for m in await store.messages("c1")][:5] == [f"hello a{i}" for i in range(5)]
    # once the writer is free again, batches are inline, on the rows those left
    seen = statements(store)
    await send(store, "z")
    assert seen[:1] == ["PRAGMA busy_timeout = 0"]
    assert conversation_reads(seen) == []


async def test_a_file_locked_by_another_process_is_waited_for_off_the_loop(
    store: SQLiteStore, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        handed_on = flushed(store)
        task = send(store, 1)
        await handed_on.wait()
        # the inline attempt gave way to the writer's thread, which waits; the loop runs
        assert store._committer is not None and not task.done()
        other.execute("ROLLBACK")
        assert (await task).message.seq == 1
    finally:
        other.close()
    assert (await send(store, 2)).message.seq == 2


async def test_the_wal_is_checkpointed_off_the_event_loop(store: SQLiteStore) -> None:
    checkpointer = store._checkpointer
    assert checkpointer is not None and store._db is not None
    # SQLite's own checkpoint would run in the COMMIT, on the loop's thread
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    checkpointer.EVERY = 20
    for round_ in range(5):
        await asyncio.gather(*(send(store, f"{round_}-{i}") for i in range(10)))
    running = checkpointer._running
    if running is not None:
        await running
    assert checkpointer.done >= 1


def _wal_salt(path: Path) -> bytes:
    """The WAL header's salt: SQLite draws a new one each time the WAL starts again from
    its first frame (https://sqlite.org/fileformat.html#the_write_ahead_log)."""
    with open(path, "rb") as f:
        return f.read(24)[16:24]


async def test_the_wal_starts_again_under_writes_that_never_pause(
    store: SQLiteStore, tmp_path: Path
) -> None:
    checkpointer = store._checkpointer
    assert checkpointer is not None and store._db is not None
    # A COMMIT never cuts the file back when the WAL starts again: that would free its
    # pages on the event loop's thread (the checkpointer truncates it in a pause).
    page = store._db.execute("PRAGMA page_size").fetchone()[0]
    assert store._db.execute("PRAGMA journal_size_limit").fetchone() == (-1,)
    checkpointer.EVERY = 20
    checkpointer.BOUND = 256
    # every pass past the bound is followed by one with the writes held, however long
    # the passes take on a busy machine
    checkpointer.TAIL = 10**9
    wal = tmp_path / "gateway.db-wal"
    salts: set[bytes] = set()
    largest = 0

    async def sender(k: int) -> None:
        nonlocal largest
        for j in range(300):
            await send(store, f"{k}-{j}")
            salts.add(_wal_salt(wal))
            largest = max(largest, wal.stat().st_size)

    # forty callers, each sending as soon as its last message is stored: the writer is
    # never idle while a checkpoint runs, so a pass that copies the WAL to its end is
    # rare, and the WAL starts again only after one
    await asyncio.gather(*(sender(k) for k in range(40)))
    # each held pass copied it all, and the next commit started it again
    assert checkpointer.held >= 1
    assert len(salts) > checkpointer.held
    # Without the held passes the file grew to 11 to 51 MB in four runs (a pass finishing
    # between two commits now and then let it start again, but not for long); with
    # them it stayed under 1.8 MB in three, the bound (1 MiB) and a pass's worth, and
    # reached 9.8 MB once beside the other store tests (-n 2: fsyncs slowed by theirs),
    # 19.8 MB once in the whole suite on four workers and two cores (a pass that is not
    # held runs as long as the machine lets its thread, the writes going on behind it).
    # So the size is no proof of the held passes (the two lines above are): this only
    # says the WAL never ran away (all 12,000 messages' frames would be over 90 MB).
    assert largest < 64 * checkpointer.BOUND * page
    # nothing lost, nothing out of order
    row = store._db.execute("SELECT count(*), min(seq), max(seq) FROM messages").fetchone()
    assert tuple(row) == (12000, 1, 12000)


async def test_the_writer_and_the_reader_keep_a_busy_nodes_pages(store: SQLiteStore) -> None:
    assert store._db is not None and store._reader_db is not None
    for db in (store._db, store._reader_db):
        assert db.execute("PRAGMA cache_size").fetchone() == (-CACHE_KIB,)


async def test_a_wal_a_burst_grew_is_truncated_once_the_writes_pause(
    store: SQLiteStore, tmp_path: Path
) -> None:
    checkpointer = store._checkpointer
    assert checkpointer is not None and store._db is not None
    checkpointer.EVERY = 10**9  # no pass during the burst: the WAL keeps every frame
    checkpointer.KEEP = 64
    checkpointer.IDLE_S = 1.0
    await asyncio.gather(*(send(store, i) for i in range(400)))
    wal = tmp_path / "gateway.db-wal"
    page = store._db.execute("PRAGMA page_size").fetchone()[0]
    burst = wal.stat().st_size
    assert burst > checkpointer.KEEP * page
    # The held pass that follows a burst's while the writes go on copies everything and
    # leaves the file as it is: truncating it there held the writes for as long as
    # freeing the file took, with the traffic coming (190 to 310 ms at 230 MiB).
    checkpointer._start(hold=True)
    running = checkpointer._running
    assert running is not None
    await running
    assert checkpointer.held == 1 and checkpointer.truncated == 0
    # Writes every 0.1 s, for twice IDLE_S: no pause, the file keeps its size (the WAL
    # starts again inside it).
    for i in range(400, 420):
        await send(store, i)
        await asyncio.sleep(0.1)
    assert checkpointer.truncated == 0 and wal.stat().st_size == burst
    # Then the writes pause: the first IDLE_S without a changed row truncates it, on the
    # checkpoint's thread.
    for _ in range(300):
        if checkpointer.truncated:
            break
        await asyncio.sleep(0.05)
    assert checkpointer.truncated == 1 and checkpointer.held == 2
    assert wal.stat().st_size == 0
    # the store goes on from there, everything kept
    assert (await send(store, 420)).message.seq == 421
    row = store._db.execute("SELECT count(*), max(seq) FROM messages").fetchone()
    assert tuple(row) == (421, 421)


async def test_a_held_checkpoint_keeps_the_batch_until_it_ends(store: SQLiteStore) -> None:
    checkpointer = store._checkpointer
    assert checkpointer is not None
    gate = threading.Event()
    blocked = asyncio.create_task(checkpointer._lane.run(gate.wait))
    checkpointer._start(hold=True)  # queued behind the gate on the checkpoint's thread
    assert store._writes_held()
    handed_on = flushed(store)
    task = send(store, 1)
    await handed_on.wait()
    # the flush ran and kept the batch: no transaction, inline or on the writer's thread
    assert store._committer is None and store._appends and not task.done()
    gate.set()
    await blocked
    assert (await task).message.seq == 1
    assert checkpointer.held == 1 and not store._writes_held()


async def test_a_store_closed_during_a_held_checkpoint_answers_the_batch(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(str(tmp_path / "gateway.db"))
    await store.open()
    await setup_conversation(store)
    checkpointer = store._checkpointer
    assert checkpointer is not None
    waiting = asyncio.Event()  # close() is waiting for the held pass
    real_close = checkpointer.close

    async def close() -> None:
        waiting.set()
        await real_close()

    checkpointer.close = close  # type: ignore[method-assign]
    gate = threading.Event()
    blocked = asyncio.create_task(checkpointer._lane.run(gate.wait))
    checkpointer._start(hold=True)
    task = send(store, 1)
    closing = asyncio.create_task(store.close())
    await waiting.wait()
    assert not task.done()
    gate.set()
    await blocked
    await closing
    # told, not left waiting for a store that is gone
    with pytest.raises(StoreUnavailable):
        await task


async def test_a_hop_whose_caller_gave_up_keeps_the_batch_off_the_loop(
    store: SQLiteStore,
) -> None:
    lane = store._lane
    assert lane is not None
    gate = threading.Event()
    hop = asyncio.create_task(lane.run(gate.wait))
    await asyncio.sleep(0)
    hop.cancel()  # its caller is gone; the thread still runs it, on the writer
    with pytest.raises(asyncio.CancelledError):
        await hop
    assert not lane.idle and not store._inline_ready()
    handed_on = flushed(store)
    task = send(store, 1)
    await handed_on.wait()
    # not inline beside the thread: through it, behind what it runs
    assert store._committer is not None and not task.done()
    gate.set()
    assert (await task).message.seq == 1
    assert lane.idle and store._inline_ready()


async def test_a_long_batch_is_split_over_turns_of_the_loop_in_order(
    store: SQLiteStore,
) -> None:
    store.INLINE_BATCH = 40
    seen = statements(store)
    turns: list[int] = []

    async def beside() -> None:  # runs between the transactions, if the loop turns
        for _ in range(10):
            turns.append(seen.count("COMMIT"))
            await asyncio.sleep(0)

    results = await asyncio.gather(*(send(store, i) for i in range(100)), beside())
    assert [r.message.seq for r in results[:100]] == list(range(1, 101))  # type: ignore[union-attr]
    assert seen.count("BEGIN IMMEDIATE") == 3  # 40 + 40 + 20
    assert {1, 2} <= set(turns)  # the loop ran other work between them


async def test_an_append_returns_no_rows_and_hands_back_the_stored_conversation(
    store: SQLiteStore,
) -> None:
    """Per message a plain insert and a plain update (after a point read of the
    conversation when this batch is the first to write it since someone else did): no
    RETURNING, which SQLite runs through a buffer of its own (dearer than the read). The
    conversation handed back, worked out from the row read, is the one stored."""
    await store.update_conversation("c1", state="assigned", owner_agent_id="ag1", notes="n")
    known = await store.get_conversation("c1")
    seen = statements(store)

    def reply(i: int) -> asyncio.Task[Appended]:
        return asyncio.create_task(
            store.append(
                "c1", sender="agent", sender_id="ag1", client_msg_id=f"r{i}", body="hi", now=3.0
            )
        )

    results = await asyncio.gather(
        send(store, 1, expect=known), reply(1), send(store, 2, expect=known), reply(2)
    )
    assert [r.message.seq for r in results] == [1, 2, 3, 4]
    assert [s for s in seen if "RETURNING" in s] == []
    stored = await store.get_conversation("c1")
    assert (stored.last_seq, stored.agent_unread, stored.contact_unread) == (4, 2, 2)
    assert results[-1].conversation == stored
    assert [(r.conversation.last_seq, r.conversation.agent_unread) for r in results] == [
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 2),
    ]
    # a retry: the stored message and conversation, nothing written
    again = await send(store, 1, expect=known)
    assert not again.created and again.message.seq == 1 and again.conversation == stored


async def test_an_append_decodes_the_row_again_only_when_it_changed(
    store: SQLiteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row the last append left is not decoded again; any other change to it (by
    this store or by another process) is, and shows in the conversation handed back. A
    batch rolled back leaves nothing behind."""
    from gateway.ports.store import _group_commit

    decodes = 0
    real = _group_commit.CONVERSATIONS.decode

    def counting(row: Any) -> Conversation:
        nonlocal decodes
        decodes += 1
        return real(row)

    monkeypatch.setattr(_group_commit.CONVERSATIONS, "decode", counting)

    async def decoded_in(task: asyncio.Task[Appended]) -> tuple[int, Appended]:
        before = decodes
        appended = await task
        return decodes - before, appended

    assert (await decoded_in(send(store, 1)))[0] == 1
    n, second = await decoded_in(send(store, 2))
    assert n == 0
    n, third = await decoded_in(send(store, 3, expect=second.conversation))
    assert n == 0 and third.created
    assert third.conversation == await store.get_conversation("c1")

    await store.update_conversation("c1", notes="changed here")
    n, fourth = await decoded_in(send(store, 4))
    assert n == 1 and fourth.conversation.notes == "changed here"

    other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)
    try:
        other.execute("UPDATE conversations SET priority = 7 WHERE id = 'c1'")
    finally:
        other.close()
    n, fifth = await decoded_in(send(store, 5))
    assert n == 1 and fifth.conversation.priority == 7
    assert fifth.conversation == await store.get_conversation("c1")

    # a batch that fails after its append: rolled back, its row never kept
    await store.update_conversation("c1", state="waiting")  # announced once not new
    await send(store, 6)

    def refuse(conv: Conversation, message: Message) -> list[Announcement]:
        raise ValueError("refused")

    with pytest.raises(ValueError):
        await send(store, 7, announce=refuse)
    n, after = await decoded_in(send(store, 8))
    assert n == 0
    assert after.message.seq == 7 and after.conversation == await store.get_conversation("c1")


async def test_an_append_reads_the_conversation_only_when_someone_else_wrote_since(
    store: SQLiteStore, tmp_path: Path
) -> None:
    """The row the last committed append left is the database's while nothing else
    wrote (this connection's changes and the file's data version unmoved): the next
    append is written on it, unread. Any other write, by this store or by another
    process, and the next append reads the row again, and is written on the change."""
    await setup_conversation(store, "c2", contact_id="k2")
    await send(store, 1)
    await send(store, 1, cid="c2")

    seen = statements(store)
    results = await asyncio.gather(send(store, 2), send(store, 2, cid="c2"), send(store, 3))
    assert [r.message.seq for r in results] == [2, 2, 3]
    assert conversation_reads(seen) == []

    await store.update_conversation("c1", notes="changed here")  # this store, one row
    seen.clear()
    c1, c2 = await asyncio.gather(send(store, 4), send(store, 3, cid="c2"))
    assert len(conversation_reads(seen)) == 2  # every row read again, not only the one changed
    assert c1.conversation.notes == "changed here" and c1.message.seq == 4
    assert c2.message.seq == 3
    seen.clear()
    await send(store, 5)
    assert conversation_reads(seen) == []

    other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)
    try:
        other.execute("UPDATE conversations SET priority = 7, last_seq = 9 WHERE id = 'c1'")
    finally:
        other.close()
    seen.clear()
    moved = await send(store, 6)
    assert len(conversation_reads(seen)) == 1
    assert moved.message.seq == 10 and moved.conversation.priority == 7
    assert moved.conversation == await store.get_conversation("c1")
