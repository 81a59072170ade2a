"""The Store contract for the integration API, bots and automations: API keys,
idempotency keys, transcripts, webhooks, the outbox written in the same transaction as
the change it announces, and the dead letters of outbound messages. Run against both
implementations."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Conflict, NotFound
from gateway.model.integrations import (
    Announcement,
    ApiKey,
    TranscriptLine,
    Webhook,
)
from gateway.model.records import Attachment, Conversation, ConversationState, Message, Touchpoint
from gateway.ports.store.base import MessageAnnouncer, Store


async def conversation(
    store: Store, cid: str, contact_id: str = "k1", state: ConversationState = "new"
) -> Conversation:
    try:
        await store.get_contact(contact_id)
    except NotFound:
        await store.create_contact(contact_id, now=1.0)
    return await store.create_conversation(
        Conversation(
            id=cid,
            touchpoint_id="tp_api",
            channel="api",
            contact_id=contact_id,
            address=f"int-{cid}",  # one live conversation per address (0018)
            subject="Order 12",
            direction="outbound",
            state=state,
            created_at=10.0,
            arrived_at=10.0,
        )
    )


def announce(event_id: str, *targets: str, at: float = 50.0, **data: object) -> Announcement:
    return Announcement(event_id, "conversation.assigned", tuple(targets), at, dict(data))


def always(*announcements: Announcement) -> MessageAnnouncer:
    """A message's announcements, whatever the conversation and message."""

    def made(conv: Conversation, message: Message) -> list[Announcement]:
        return list(announcements)

    return made


# -- conversations keep their new fields ---------------------------------------------------


async def test_a_conversation_keeps_its_subject_direction_and_bot(store: Store) -> None:
    conv = await conversation(store, "cv1")
    assert (conv.subject, conv.direction, conv.bot_id, conv.bot_until) == (
        "Order 12",
        "outbound",
        "",
        None,
    )
    conv = await store.update_conversation(
        "cv1", state="bot", bot_id="tp_bot", bot_until=99.5, arrived_at=12.0
    )
    again = await store.get_conversation("cv1")
    assert again == conv and (again.state, again.bot_id, again.bot_until, again.arrived_at) == (
        "bot",
        "tp_bot",
        99.5,
        12.0,
    )
    assert [c.id for c in await store.list_conversations(states=["bot"])] == ["cv1"]


# -- API keys ------------------------------------------------------------------------------


async def test_api_keys_are_found_by_digest_listed_and_revoked(store: Store) -> None:
    await store.put_touchpoint(Touchpoint(id="tp_api", name="API", channel="api"))
    await store.put_touchpoint(Touchpoint(id="tp_other", name="Other", channel="api"))
    k1 = ApiKey(
        id="k1", touchpoint_id="tp_api", name="ci", digest="d1", prefix="gk_ab", created_at=1
    )
    k2 = ApiKey(
        id="k2", touchpoint_id="tp_api", name="prod", digest="d2", prefix="gk_cd", created_at=2
    )
    await store.create_api_key(k1)
    await store.create_api_key(k2)
    assert await store.api_key_by_digest("d2") == k2
    assert await store.api_key_by_digest("nope") is None
    with pytest.raises(Conflict):  # a digest is unique
        await store.create_api_key(
            ApiKey(id="k3", touchpoint_id="tp_api", name="x", digest="d1", prefix="p", created_at=3)
        )
    with pytest.raises(NotFound):
        await store.create_api_key(
            ApiKey(
                id="k4", touchpoint_id="tp_nope", name="x", digest="d4", prefix="p", created_at=4
            )
        )
    revoked = await store.revoke_api_key("tp_api", "k1", 10.0)
    assert revoked.revoked_at == 10.0
    assert (await store.revoke_api_key("tp_api", "k1", 20.0)).revoked_at == 10.0  # idempotent
    with pytest.raises(NotFound):  # a key of another touchpoint
        await store.revoke_api_key("tp_other", "k2", 10.0)
    assert [(k.id, k.revoked_at) for k in await store.list_api_keys("tp_api")] == [
        ("k1", 10.0),
        ("k2", None),
    ]
    await store.delete_touchpoint("tp_api")
    assert await store.api_key_by_digest("d2") is None


# -- idempotency keys ------------------------------------------------------------------------


async def test_an_idempotency_key_is_taken_once_answered_and_replayed(store: Store) -> None:
    assert await store.claim_idempotency("k1", "abc", "POST /x h1", 10.0, 100.0) is None
    running = await store.claim_idempotency("k1", "abc", "POST /x h1", 11.0, 101.0)
    assert running is not None and running.status == 0 and running.fingerprint == "POST /x h1"
    await store.finish_idempotency("k1", "abc", 201, '{"id": "cv1"}')
    done = await store.claim_idempotency("k1", "abc", "POST /x h2", 12.0, 102.0)
    assert done is not None and (done.status, done.body, done.fingerprint) == (
        201,
        '{"id": "cv1"}',
        "POST /x h1",
    )
    # scopes are apart; an expired record is taken over
    assert await store.claim_idempotency("k2", "abc", "POST /x h1", 12.0, 102.0) is None
    assert await store.claim_idempotency("k1", "abc", "POST /y", 100.0, 200.0) is None
    again = await store.claim_idempotency("k1", "abc", "POST /z", 101.0, 201.0)
    assert again is not None and again.fingerprint == "POST /y" and again.status == 0
    # a first request that failed frees its key (only while running)
    await store.release_idempotency("k1", "abc")
    assert await store.claim_idempotency("k1", "abc", "POST /z", 102.0, 202.0) is None
    await store.finish_idempotency("k1", "abc", 200, "{}")
    await store.release_idempotency("k1", "abc")
    assert (await store.claim_idempotency("k1", "abc", "-", 103.0, 203.0)) is not None
    assert await store.purge_idempotency(150.0) == 1  # k2's expired at 102
    assert await store.purge_idempotency(150.0) == 0


async def test_concurrent_first_requests_take_a_key_once(store: Store) -> None:
    got = await asyncio.gather(
        *(store.claim_idempotency("s", "same", "f", 1.0, 9.0) for _ in range(8))
    )
    assert sum(r is None for r in got) == 1


# -- transcripts -----------------------------------------------------------------------------


async def test_a_transcript_grows_with_each_escalation_and_goes_with_its_conversation(
    store: Store,
) -> None:
    await conversation(store, "cv1")
    assert await store.get_transcript("cv1") == []
    first = [
        TranscriptLine(sender="contact", text="Where is my parcel?", at=1.0),
        TranscriptLine(sender="bot", text="Let me check.", at=2.0, name="Botty"),
    ]
    assert await store.add_transcript("cv1", first, 5.0) == first
    more = [TranscriptLine(sender="contact", text="A person, please")]
    assert await store.add_transcript("cv1", more, 6.0) == first + more
    assert await store.get_transcript("cv1") == first + more
    with pytest.raises(NotFound):
        await store.add_transcript("nope", more, 7.0)
    await store.delete_contact("k1")
    assert await store.get_transcript("cv1") == []


async def test_a_first_transcript_is_kept_once_of_two_at_the_same_moment(store: Store) -> None:
    """The integration API's start keeps its transcript only as the conversation's first
    (two nodes' starts joining one conversation appended it twice)."""
    await conversation(store, "cv1")
    a = [TranscriptLine(sender="contact", text="from node a")]
    b = [TranscriptLine(sender="contact", text="from node b")]
    kept = await asyncio.gather(
        store.first_transcript("cv1", a, 5.0), store.first_transcript("cv1", b, 5.0)
    )
    assert sorted(kept) == [False, True]
    assert await store.get_transcript("cv1") == (a if kept[0] else b)
    assert await store.first_transcript("cv1", b, 6.0) is False
    with pytest.raises(NotFound):
        await store.first_transcript("nope", a, 7.0)


# -- webhooks ---------------------------------------------------------------------------------


async def test_webhooks_are_configuration(store: Store) -> None:
    hook = Webhook(
        id="wh1",
        name="CRM",
        url="https://crm.example/hooks",
        secret="s" * 32,
        events=["conversation.started", "conversation.ended"],
        channels=["chat", "api"],
        touchpoint_ids=["tp_api"],
        queue_ids=["q"],
        created_at=3.0,
    )
    await store.put_webhook(hook)
    await store.put_webhook(Webhook(id="wh0", name="Archive", url="http://x/", secret="t"))
    assert await store.get_webhook("wh1") == hook
    assert [w.id for w in await store.list_webhooks()] == ["wh0", "wh1"]  # by name
    await store.delete_webhook("wh0")
    with pytest.raises(NotFound):
        await store.delete_webhook("wh0")


async def test_a_webhooks_events_go_with_it(store: Store) -> None:
    """A webhook made again with a deleted one's id must not inherit its events (listed,
    replayable, pending ones delivered to the new URL)."""
    await conversation(store, "cv1")
    await store.put_webhook(Webhook(id="wh", name="CRM", url="http://x/", secret="t"))
    await store.update_conversation(
        "cv1", priority=1, announce=[announce("e1", "wh"), announce("e1", "bot:tp")]
    )
    await store.update_conversation("cv1", priority=2, announce=[announce("e2", "wh")])
    [first, *_] = [e for e in await store.claim_outbox(100.0, 30.0, 10) if e.target == "wh"]
    await store.record_outbox(150.0, dead=[(first.n, "HTTP 500")])
    assert len(await store.list_outbox("wh")) == 2  # one dead, one pending
    await store.delete_webhook("wh")
    await store.put_webhook(Webhook(id="wh", name="Another", url="http://y/", secret="u"))
    assert await store.list_outbox("wh") == []
    with pytest.raises(NotFound):
        await store.replay_outbox("wh", "e1", 200.0)
    assert [e.target for e in await store.list_outbox("bot:tp")] == ["bot:tp"]  # not its


# -- the outbox ---------------------------------------------------------------------------------


async def test_a_change_and_its_events_are_written_together(store: Store) -> None:
    await conversation(store, "cv1")
    conv = await store.update_conversation(
        "cv1",
        state="assigned",
        owner_agent_id="ag",
        announce=[announce("ev1", "wh1", "bot:tp", how="accept")],
    )
    [a, b] = await store.claim_outbox(100.0, 30.0, 10)
    assert {a.target, b.target} == {"wh1", "bot:tp"} and a.event_id == b.event_id == "ev1"
    assert a.payload["conversation"]["state"] == "assigned" and a.payload["how"] == "accept"
    assert a.payload["conversation"] == b.payload["conversation"]
    assert (a.attempts, a.due, a.state) == (1, 130.0, "pending")
    assert conv.owner_agent_id == "ag"


async def test_a_change_that_fails_announces_nothing_and_an_announcement_that_fails_changes_nothing(
    store: Store,
) -> None:
    await conversation(store, "cv1")
    with pytest.raises(NotFound):
        await store.update_conversation("nope", state="waiting", announce=[announce("e0", "wh")])
    with pytest.raises(NotFound):
        await store.append_message(
            "nope", sender="contact", sender_id="x", client_msg_id="m", body="b", now=1.0,
            announce=always(announce("e0", "wh")),
        )  # fmt: skip
    assert await store.claim_outbox(100.0, 30.0, 10) == []
    await store.update_conversation("cv1", state="waiting", announce=[announce("e1", "wh")])
    # the same event for the same target again violates the outbox's key: the whole
    # transaction, the change included, is rolled back
    with pytest.raises(Conflict):
        await store.update_conversation("cv1", state="assigned", announce=[announce("e1", "wh")])
    assert (await store.get_conversation("cv1")).state == "waiting"
    with pytest.raises(Conflict):
        await store.append_message(
            "cv1", sender="contact", sender_id="int-1", client_msg_id="m1", body="hello",
            now=60.0, announce=always(announce("e1", "wh")),
        )  # fmt: skip
    assert await store.messages("cv1") == []
    assert (await store.get_conversation("cv1")).last_seq == 0


async def test_an_append_announces_its_message_once(store: Store) -> None:
    await conversation(store, "cv1", state="bot")
    for _ in range(2):  # a retry stores nothing, and announces nothing
        msg, _ = await store.append_message(
            "cv1", sender="contact", sender_id="int-1", client_msg_id="m1", body="hello",
            now=60.0,
            announce=always(Announcement("em1", "message.created", ("bot:tp",), 60.0, {})),
        )  # fmt: skip
    [event] = await store.claim_outbox(100.0, 30.0, 10)
    assert event.type == "message.created" and event.payload["message"]["body"] == "hello"
    assert event.payload["message"]["seq"] == msg.seq == 1
    assert event.payload["conversation"]["last_seq"] == 1
    assert event.payload["conversation"]["agent_unread"] == 1


async def test_a_message_with_files_announces_them_in_its_transaction(store: Store) -> None:
    await conversation(store, "cv1", state="waiting")
    files = [
        Attachment(
            id=aid, conversation_id="cv1", uploader="contact", uploader_id="int-1",
            name=f"{aid}.png", content_type="image/png", size=100, sha256="ab" * 32,
            blob_key=f"cv1/{aid}", created_at=10.0,
        )
        for aid in ("at1", "at2")
    ]  # fmt: skip
    for f in files:
        await store.create_attachment(f)
    wanted = always(Announcement("em1", "message.created", ("bot:tp",), 60.0, {}))
    # a file that may not be attached: no message, no event
    with pytest.raises(NotFound):
        await store.append_message(
            "cv1", sender="contact", sender_id="int-1", client_msg_id="m0", body="",
            now=60.0, attachments=["at1", "missing"], announce=wanted,
        )  # fmt: skip
    assert await store.claim_outbox(100.0, 30.0, 10) == []
    for _ in range(2):  # a retry stores nothing, and announces nothing
        msg, _ = await store.append_message(
            "cv1", sender="contact", sender_id="int-1", client_msg_id="m1", body="",
            now=60.0, attachments=["at2", "at1"], announce=wanted,
        )  # fmt: skip
    [event] = await store.claim_outbox(100.0, 30.0, 10)
    assert [a["id"] for a in event.payload["message"]["attachments"]] == ["at2", "at1"]
    assert event.payload["message"]["seq"] == msg.seq == 1
    assert event.payload["conversation"]["last_seq"] == 1


async def test_each_target_gets_a_conversations_events_in_order(store: Store) -> None:
    await conversation(store, "cv1")
    await conversation(store, "cv2")
    for i in range(3):
        await store.update_conversation(
            "cv1", priority=i, announce=[announce(f"a{i}", "wh1", "wh2", at=50.0 + i)]
        )
    await store.update_conversation("cv2", priority=9, announce=[announce("b0", "wh1")])
    # only the first pending event of a (target, conversation) is due: claiming never
    # scans a backlog waiting behind it (a receiver down for hours)
    assert [(e.event_id, e.due) for e in await store.list_outbox("wh2")] == [
        ("a2", None),
        ("a1", None),
        ("a0", 50.0),
    ]
    first = await store.claim_outbox(100.0, 30.0, 10)
    assert sorted((e.target, e.event_id) for e in first) == [
        ("wh1", "a0"),
        ("wh1", "b0"),
        ("wh2", "a0"),
    ]
    # while a0 is claimed (not yet due again) nothing of cv1 is claimed for that target
    assert await store.claim_outbox(110.0, 30.0, 10) == []
    by = {(e.target, e.event_id): e for e in first}
    await store.record_outbox(
        111.0, sent=[by["wh1", "a0"].n], retry=[(by["wh2", "a0"].n, 115.0, "timeout")]
    )
    assert [(e.target, e.event_id) for e in await store.claim_outbox(112.0, 30.0, 10)] == [
        ("wh1", "a1")
    ]
    [again] = await store.claim_outbox(116.0, 30.0, 10)
    assert (again.target, again.event_id, again.attempts, again.last_error) == (
        "wh2",
        "a0",
        2,
        "timeout",
    )
    # dead-lettered, it steps aside: the target's next event of the conversation goes on
    await store.record_outbox(117.0, dead=[(again.n, "gave up")])
    [nxt] = await store.claim_outbox(117.0, 30.0, 10)
    assert (nxt.target, nxt.event_id) == ("wh2", "a1")
    await store.record_outbox(118.0, sent=[nxt.n])
    [last] = await store.list_outbox("wh2", state="pending")
    assert (last.event_id, last.due) == ("a2", 118.0)  # due when the one before was sent
    dead = await store.list_outbox("wh2", state="dead")
    assert [(e.event_id, e.last_error) for e in dead] == [("a0", "gave up")]
    assert [e.event_id for e in await store.list_outbox("wh2")] == ["a2", "a1", "a0"]


async def test_a_dead_event_is_replayed_and_old_sent_ones_are_purged(store: Store) -> None:
    await conversation(store, "cv1")
    await store.update_conversation("cv1", priority=1, announce=[announce("e1", "wh")])
    [e] = await store.claim_outbox(100.0, 30.0, 10)
    with pytest.raises(Conflict):
        await store.replay_outbox("wh", "e1", 101.0)
    await store.record_outbox(150.0, dead=[(e.n, "HTTP 500")])
    replayed = await store.replay_outbox("wh", "e1", 200.0)
    assert (replayed.state, replayed.attempts, replayed.due, replayed.last_error) == (
        "pending",
        0,
        200.0,
        "",
    )
    with pytest.raises(NotFound):
        await store.replay_outbox("other", "e1", 200.0)
    assert await store.claim_outbox(199.0, 30.0, 10) == []
    [e] = await store.claim_outbox(200.0, 30.0, 10)
    assert e.attempts == 1
    await store.record_outbox(210.0, sent=[e.n])
    assert (await store.list_outbox("wh"))[0].delivered_at == 210.0
    assert await store.purge_outbox(210.0) == 0
    assert await store.purge_outbox(211.0) == 1
    assert await store.list_outbox("wh") == []


async def test_a_claim_skips_the_targets_it_is_told_to(store: Store) -> None:
    await conversation(store, "cv1")
    await store.update_conversation("cv1", priority=1, announce=[announce("e1", "down", "up")])
    [e] = await store.claim_outbox(100.0, 30.0, 10, skip=["down"])
    assert e.target == "up"
    [e] = await store.claim_outbox(100.0, 30.0, 10, skip=["up", "other"])
    assert (e.target, e.attempts) == ("down", 1)


async def test_two_claimers_never_take_the_same_event(store: Store) -> None:
    for i in range(6):
        await conversation(store, f"cv{i}")
        await store.update_conversation(f"cv{i}", priority=1, announce=[announce(f"e{i}", "wh")])
    got = await asyncio.gather(*(store.claim_outbox(100.0, 30.0, 2) for _ in range(4)))
    taken = [e.event_id for batch in got for e in batch]
    assert sorted(taken) == [f"e{i}" for i in range(6)]


# -- dead letters of outbound messages ----------------------------------------------------------


async def test_a_failed_outbound_message_is_listed_and_replayed(store: Store) -> None:
    await conversation(store, "cv1")
    msg, _ = await store.append_message(
        "cv1", sender="agent", sender_id="ag", client_msg_id="a1", body="hi", now=20.0,
        delivery="pending",
    )  # fmt: skip
    [job] = await store.claim_deliveries(21.0, 60.0, 10)
    with pytest.raises(Conflict):
        await store.replay_delivery("cv1", msg.seq, 22.0)
    await store.set_delivery("cv1", msg.seq, "failed", "HTTP 500 after 8 attempts")
    [failed] = await store.failed_messages("tp_api")
    assert (failed.seq, failed.delivery_error) == (msg.seq, "HTTP 500 after 8 attempts")
    assert await store.failed_messages("tp_other") == []
    again = await store.replay_delivery("cv1", msg.seq, 30.0)
    assert (again.delivery, again.delivery_error) == ("pending", "")
    assert await store.failed_messages("tp_api") == []
    [job] = await store.claim_deliveries(30.0, 60.0, 10)
    assert job.message.seq == msg.seq and job.attempts == 1
    with pytest.raises(NotFound):
        await store.replay_delivery("cv1", 99, 31.0)


async def test_a_conversations_events_go_with_its_history(store: Store) -> None:
    """Their payloads hold its messages' text: the right to be forgotten and the history
    retention delete them with the conversation (a dead one was kept until replayed)."""
    await conversation(store, "cv1", contact_id="k1")
    await conversation(store, "cv2", contact_id="k2", state="closed")
    await conversation(store, "cv3", contact_id="k3")
    for cid in ("cv1", "cv2", "cv3"):
        await store.update_conversation(cid, priority=1, announce=[announce(f"e-{cid}", "wh")])
    [first, *_] = [e for e in await store.claim_outbox(100.0, 30.0, 10) if e.target == "wh"]
    await store.record_outbox(150.0, dead=[(first.n, "HTTP 500")])

    await store.delete_contact("k1")
    await store.update_conversation("cv2", closed_at=20.0)
    assert await store.purge_closed_conversations(1000.0, 10) == 1
    assert [e.conversation_id for e in await store.list_outbox("wh")] == ["cv3"]
