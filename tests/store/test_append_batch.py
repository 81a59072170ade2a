"""Appends from many callers at once (PostgreSQL batches them into one statement,
SQLite group-commits them) and the guarded append (``expect``), on both dialects."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from devkit import services
from gateway.errors import NotFound, StoreError, StoreUnavailable
from gateway.ports.store.base import Appended, Stale, Store
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.postgres import _translate as pg_translate
from tests.store.test_contract import say, setup_conversation, setup_conversations


async def _send(store: Store, cid: str, n: int, sender: str = "contact") -> Appended:
    return await store.append(
        cid,
        sender=sender,  # type: ignore[arg-type]
        sender_id=f"{sender}-{cid}",
        client_msg_id=f"{cid}:{n}",
        body=f"{cid} says {n}",
        now=200.0 + n,
    )


async def test_many_callers_at_once_each_get_their_own_row(store: Store) -> None:
    convs = await setup_conversations(store, 20)

    async def caller(cid: str, n: int) -> tuple[str, int, Appended]:
        return cid, n, await _send(store, cid, n, "contact" if n % 2 else "agent")

    # 20 conversations, 5 messages each, every one sent by its own caller at once
    results = await asyncio.gather(*(caller(cid, n) for n in range(5) for cid in convs))
    for cid, n, got in results:
        assert got.created
        assert got.message.conversation_id == got.conversation.id == cid
        assert (got.message.client_msg_id, got.message.body) == (f"{cid}:{n}", f"{cid} says {n}")
        # the conversation as this caller's message left it
        assert got.conversation.last_seq == got.message.seq
    for cid in convs:
        seqs = sorted(got.message.seq for c, _, got in results if c == cid)
        assert seqs == [1, 2, 3, 4, 5]
        stored = await store.messages(cid, limit=10)
        assert [m.seq for m in stored] == [1, 2, 3, 4, 5]  # each stored once, no gaps
        by_seq = {got.message.seq: got.message for c, _, got in results if c == cid}
        assert {m.seq: m.body for m in stored} == {s: m.body for s, m in by_seq.items()}
        conv = await store.get_conversation(cid)
        assert (conv.last_seq, conv.agent_unread, conv.contact_unread) == (5, 2, 3)
        # each caller's conversation row counts what was there once its message was
        unread = [
            (got.conversation.agent_unread + got.conversation.contact_unread)
            for c, _, got in sorted(results, key=lambda r: r[2].message.seq)
            if c == cid
        ]
        assert unread == [1, 2, 3, 4, 5]


async def test_one_callers_trouble_is_only_its_own(store: Store) -> None:
    for cid in ("a", "b", "c"):
        await setup_conversation(store, cid, contact_id=f"k{cid}")
    first = await _send(store, "b", 1)
    # at once: a new message, a retry of b:1, a message to an unknown conversation, and
    # a guarded one whose guard no longer holds
    before = await store.get_conversation("c")
    await store.update_conversation("c", state="waiting")
    results = await asyncio.gather(
        _send(store, "a", 1),
        _send(store, "b", 1),
        _send(store, "nope", 1),
        store.append(
            "c",
            sender="agent",
            sender_id="x",
            client_msg_id="c:guarded",
            body="late",
            now=300.0,
            expect=before,
        ),
        _send(store, "c", 2),
        return_exceptions=True,
    )
    new, retry, unknown, guarded, other = results
    assert isinstance(new, Appended) and new.created and new.message.seq == 1
    assert isinstance(retry, Appended) and not retry.created
    assert retry.message == first.message
    assert isinstance(unknown, NotFound)
    assert isinstance(guarded, Stale)
    assert isinstance(other, Appended) and other.created
    assert [m.seq for m in await store.messages("b")] == [1]
    assert (await store.get_conversation("a")).last_seq == 1
    assert [m.body for m in await store.messages("c")] == ["c says 2"]


async def test_guarded_append_stores_only_on_an_unchanged_conversation(store: Store) -> None:
    await setup_conversation(store)
    known = await store.get_conversation("c1")
    got = await store.append(
        "c1", sender="contact", sender_id="v", client_msg_id="m1", body="a", now=1.0, expect=known
    )
    assert got.created and got.message.seq == 1
    # counters moved, nothing guarded did: still accepted with the older row
    got = await store.append(
        "c1", sender="contact", sender_id="v", client_msg_id="m2", body="b", now=1.0, expect=known
    )
    assert got.created and got.message.seq == 2
    await store.update_conversation("c1", state="assigned", owner_agent_id="ag1")
    for changed in ("m3", "m4"):
        with pytest.raises(Stale):
            await store.append(
                "c1",
                sender="agent",
                sender_id="ag1",
                client_msg_id=changed,
                body="x",
                now=2.0,
                expect=known,
            )
    # a retry is answered whatever the guard says
    again = await store.append(
        "c1", sender="contact", sender_id="v", client_msg_id="m2", body="b", now=1.0, expect=known
    )
    assert not again.created and again.message.seq == 2
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread, conv.contact_unread) == (2, 2, 0)  # nothing burnt
    fresh = await store.append(
        "c1", sender="agent", sender_id="ag1", client_msg_id="m3", body="x", now=2.0, expect=conv
    )
    assert fresh.created and fresh.message.seq == 3
    # every guarded field counts; an unknown conversation is still NotFound
    for change in (
        {"queue_ids": ["q2"]},
        {"bot_id": "b1"},
        {"owner_agent_id": None},
    ):
        before = await store.get_conversation("c1")
        await store.update_conversation("c1", **change)
        with pytest.raises(Stale):
            await store.append(
                "c1",
                sender="agent",
                sender_id="ag1",
                client_msg_id="",
                body="y",
                now=3.0,
                expect=before,
            )
    with pytest.raises(NotFound):
        await store.append(
            "nope",
            sender="contact",
            sender_id="v",
            client_msg_id="z",
            body="x",
            now=1.0,
            expect=known,
        )
    await say(store, "still fine")


async def test_postgres_sends_concurrent_appends_in_one_statement(
    postgres: services.Postgres,
) -> None:
    """The batch statement itself stores them (its failures fall back to one message at
    a time, which the tests above would not notice)."""
    async with _opened(postgres, "batch") as store:
        await _batched(store)


@contextlib.asynccontextmanager
async def _opened(postgres: services.Postgres, name: str) -> AsyncIterator[PostgresStore]:
    """A PostgreSQL store on a database of its own, open for the block."""
    store = PostgresStore(services.createdb(postgres, f"{name}_{os.getpid()}"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _counted(store: PostgresStore) -> list[tuple[int, int, int]]:
    """Per batch statement from now on: (messages, conversations asked for, rows answered)."""
    batches: list[tuple[int, int, int]] = []
    run = store._append_many

    async def counted(convs: list[tuple[Any, ...]], msgs: list[tuple[Any, ...]]) -> Sequence[Any]:
        rows = await run(convs, msgs)
        batches.append((len(msgs), len(convs), len(rows)))
        return rows

    store._batcher._many = counted
    return batches


async def _batched(store: PostgresStore) -> None:
    convs = await setup_conversations(store, 30)
    batches = _counted(store)
    await asyncio.gather(*(_send(store, cid, n) for n in range(3) for cid in convs))
    assert batches and all(asked == answered for _, asked, answered in batches)
    assert sum(asked for asked, _, _ in batches) >= 60  # all but the first of each round alone
    for cid in convs:
        assert [m.seq for m in await store.messages(cid)] == [1, 2, 3]
    # guarded, in one batch: the guard is checked per row of the statement
    known = {cid: await store.get_conversation(cid) for cid in convs}
    await store.update_conversation("c0", queue_ids=["q9"])
    batches.clear()
    results = await asyncio.gather(
        *(
            store.append(
                cid,
                sender="agent",
                sender_id="ag",
                client_msg_id="guarded",
                body="hi",
                now=9.0,
                expect=known[cid],
            )
            for cid in convs
        ),
        return_exceptions=True,
    )
    assert isinstance(results[0], Stale)
    assert all(isinstance(r, Appended) and r.created and r.message.seq == 4 for r in results[1:])
    assert sum(answered for _, _, answered in batches) >= len(convs) - 2
    assert [m.seq for m in await store.messages("c0")] == [1, 2, 3]


async def test_postgres_sends_one_conversations_messages_in_one_statement(
    postgres: services.Postgres,
) -> None:
    """Several messages of one conversation that arrive together go in the same batch
    (the conversation bumped once by their number), not one batch each: a conversation
    that gets messages faster than batches come back would fall behind for good."""
    async with _opened(postgres, "fold") as store:
        await _folded(store)


async def _folded(store: PostgresStore) -> None:
    convs = await setup_conversations(store, 10)
    batches = _counted(store)
    calls = [(cid, n) for n in range(4) for cid in convs]
    results = await asyncio.gather(
        *(_send(store, cid, n, "contact" if n % 2 else "agent") for cid, n in calls)
    )
    assert batches == [(40, 10, 10)]  # one statement for all, a row per conversation
    for (cid, n), got in zip(calls, results, strict=True):
        # in the order they came: seq n + 1, and the conversation as that message left it
        assert got.created and got.message.seq == n + 1, (cid, n, got.message)
        assert got.conversation.last_seq == n + 1
        agent_unread = sum(1 for m in range(n + 1) if m % 2)
        assert (got.conversation.agent_unread, got.conversation.contact_unread) == (
            agent_unread,
            n + 1 - agent_unread,
        )
    # trouble in one conversation's group: its messages go alone, in order; the others'
    # stay in the batch
    before = await store.get_conversation("c0")
    await store.update_conversation("c0", queue_ids=["q9"])
    batches.clear()
    guarded = store.append(
        "c0", sender="agent", sender_id="ag", client_msg_id="g", body="x", now=9.0, expect=before
    )
    results = await asyncio.gather(
        _send(store, "c0", 10),
        guarded,
        _send(store, "c0", 11),
        _send(store, "c1", 10),
        _send(store, "c1", 10),  # the same message twice: a retry racing the original
        _send(store, "c2", 10),
        return_exceptions=True,
    )
    first, stale, third, once, twice, other = results
    assert isinstance(stale, Stale)
    assert isinstance(first, Appended) and isinstance(third, Appended)
    assert (first.message.seq, third.message.seq) == (5, 6)
    assert isinstance(once, Appended) and isinstance(twice, Appended)
    assert once.created and not twice.created and once.message == twice.message
    assert isinstance(other, Appended) and other.created and other.message.seq == 5
    assert [m.seq for m in await store.messages("c0")] == [1, 2, 3, 4, 5, 6]
    assert [m.seq for m in await store.messages("c1")] == [1, 2, 3, 4, 5]


async def test_postgres_cancelled_caller_leaves_its_message_in_the_batch(
    postgres: services.Postgres,
) -> None:
    """A caller cancelled while its batch is on its way, or while it waits for the next,
    gets CancelledError; its message is stored with the others all the same (its retry
    finds it), and the other callers get their answers."""
    async with _opened(postgres, "cancel") as store:
        await _cancelled(store)


async def _cancelled(store: PostgresStore) -> None:
    convs = await setup_conversations(store, 6)
    run = store._batcher._many
    entered, gate = asyncio.Event(), asyncio.Event()

    async def held(convs: list[tuple[Any, ...]], msgs: list[tuple[Any, ...]]) -> Sequence[Any]:
        entered.set()
        await gate.wait()
        return await run(convs, msgs)

    store._batcher._many = held
    first = [asyncio.create_task(_send(store, cid, 1)) for cid in convs[:4]]
    await asyncio.wait_for(entered.wait(), 10)  # the first batch is on its way
    first[1].cancel()
    later = [asyncio.create_task(_send(store, cid, 1)) for cid in convs[4:]]
    await asyncio.sleep(0)  # both wait for the next batch
    later[0].cancel()
    gate.set()
    results = await asyncio.gather(*first, *later, return_exceptions=True)
    assert [type(r).__name__ for r in results] == [
        "Appended",
        "CancelledError",
        "Appended",
        "Appended",
        "CancelledError",
        "Appended",
    ]
    for cid in convs:
        assert [m.seq for m in await store.messages(cid)] == [1], cid
    for cid in (convs[1], convs[4]):
        retry = await _send(store, cid, 1)
        assert not retry.created and retry.message.seq == 1
    assert (await _send(store, convs[1], 2)).message.seq == 2


async def test_postgres_batch_stores_values_exactly(postgres: services.Postgres) -> None:
    """The batch's values travel as JSON: a time with all its digits, text with quotes,
    backslashes, line breaks and characters outside ASCII come back as given, and as the
    callers were answered."""
    async with _opened(postgres, "exact") as store:
        convs = await setup_conversations(store, 4)
        batches = _counted(store)
        bodies = ['"quoted" \\ back\\slash', "line\nbreak\ttab", "é ü 中文 🙂", "null"]
        times = [1764590000.123456789, 0.1 + 0.2, 1e16 + 2.0, 5e-324]
        results = await asyncio.gather(
            *(
                store.append(
                    cid,
                    sender="contact",
                    sender_id=f"v{cid}",
                    client_msg_id=f"{cid}:x",
                    body=body,
                    now=now,
                )
                for cid, body, now in zip(convs, bodies, times, strict=True)
            )
        )
        assert sum(n for n, _, _ in batches) >= 3  # all but the first in a batch
        for cid, body, now, got in zip(convs, bodies, times, results, strict=True):
            (stored,) = await store.messages(cid)
            assert (stored.body, stored.created_at) == (body, now)
            assert got.message == stored


async def test_postgres_a_row_that_does_not_read_back_fails_only_its_conversation(
    postgres: services.Postgres,
) -> None:
    """A conversation whose stored row this version cannot read (a state a newer node
    wrote): its callers get the store's error, alone or in a batch (where the batch has
    committed it), and the batch's other conversations their answers; the batcher goes on
    serving the next batch."""
    async with _opened(postgres, "unreadable") as store:
        for cid in ("a", "b"):
            await setup_conversation(store, cid, contact_id=f"k{cid}")
        admin = await asyncpg.connect(store.dsn)
        try:
            await admin.execute("UPDATE conversations SET state = 'parked' WHERE id = 'a'")
        finally:
            await admin.close()
        with pytest.raises(StoreError, match="conversations does not read back"):
            await store.get_conversation("a")
        batches = _counted(store)
        a1, b1 = await asyncio.wait_for(
            asyncio.gather(_send(store, "a", 1), _send(store, "b", 1), return_exceptions=True),
            30,
        )
        assert [n for n, _, _ in batches] == [2]  # both in one statement
        assert isinstance(a1, StoreError) and not isinstance(a1, StoreUnavailable)
        assert isinstance(b1, Appended) and b1.message.seq == 1
        b2, b3 = await asyncio.wait_for(
            asyncio.gather(_send(store, "b", 2), _send(store, "b", 3)), 30
        )
        assert (b2.message.seq, b3.message.seq) == (2, 3)


async def test_postgres_terminated_backends_fail_appends_only_retryably(
    postgres: services.Postgres,
) -> None:
    """Every connection of the store's pools killed by the server (a failover, an
    operator's ``pg_terminate_backend``) between two batches: each append either is
    acknowledged and stored, or fails with ``store_unavailable`` (retryable), never
    with an error that tells the client to give up; its retry is stored once."""
    async with _opened(postgres, "terminated") as store:
        convs = await setup_conversations(store, 8)
        admin = await asyncpg.connect(store.dsn)
        failed: list[tuple[str, str, BaseException]] = []
        try:
            for round_ in range(6):
                # both pools' connections in use, then every one of them killed
                await asyncio.gather(*(_send(store, cid, 100 + round_) for cid in convs))
                await asyncio.gather(*(_say_alone(store, cid, round_) for cid in convs))
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'engagement-gateway'"
                )
                results = await asyncio.wait_for(
                    asyncio.gather(
                        *(_send(store, cid, round_) for cid in convs), return_exceptions=True
                    ),
                    60,
                )
                for cid, got in zip(convs, results, strict=True):
                    if isinstance(got, Appended):
                        assert got.message.client_msg_id == f"{cid}:{round_}"
                    else:
                        failed.append((cid, f"{cid}:{round_}", got))
        finally:
            await admin.close()
        for *_, exc in failed:
            assert isinstance(exc, StoreUnavailable), repr(exc)
            assert exc.retryable
        for cid, msg_id, _ in failed:  # each retried, now that the pools are whole again
            retried = await store.append(
                cid,
                sender="contact",
                sender_id=f"contact-{cid}",
                client_msg_id=msg_id,
                body="retry",
                now=400.0,
            )
            assert retried.message.client_msg_id == msg_id
        for cid in convs:
            stored = await store.messages(cid, limit=100)
            assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
            assert len(stored) == 3 * 6  # the two warm-ups and the round's, each once


async def _say_alone(store: Store, cid: str, n: int) -> None:
    """A message through the one-at-a-time path (an announcer: a transaction of its own),
    so that the main pool's connections are in use too."""
    await store.append(
        cid,
        sender="agent",
        sender_id=f"agent-{cid}",
        client_msg_id=f"{cid}:alone:{n}",
        body="alone",
        now=300.0 + n,
        announce=lambda conv, message: [],
    )


def test_a_connection_the_server_dropped_mid_use_is_unavailable() -> None:
    """asyncpg's "cannot switch to state" (a pooled connection whose backend is gone) is
    raised before anything is sent: retryable, as a refused connection is."""
    exc = pg_translate(
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )
    )
    assert isinstance(exc, StoreUnavailable) and exc.retryable
