"""The store contract for what migration 0008 added, on both dialects: ratings, sites
refused a touchpoint's chat, idle conversations, messages left for later and the
touchpoint's display name."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import Conflict, NotFound
from gateway.model.records import Rating, Touchpoint
from gateway.ports.store.base import Store
from tests.store.test_contract import conversation, say, setup_conversation


def rating(cid: str = "c1", **kw: Any) -> Rating:
    fields: dict[str, Any] = {
        "touchpoint_id": "tp1",
        "contact_id": "k1",
        "agent_id": "ag1",
        "score": 4,
        "comment": "quick and kind",
        "created_at": 300.0,
        **kw,
    }
    return Rating(conversation_id=cid, **fields)


async def test_a_rating_per_conversation(store: Store) -> None:
    await setup_conversation(store)
    await store.put_rating(rating())
    assert await store.get_rating("c1") == rating()
    with pytest.raises(Conflict):
        await store.put_rating(rating(score=1))
    assert (await store.get_rating("c1")).score == 4
    with pytest.raises(NotFound):
        await store.get_rating("c2")
    with pytest.raises(NotFound):
        await store.put_rating(rating("nope"))


async def test_a_score_outside_1_to_5_is_refused_by_the_database(store: Store) -> None:
    await setup_conversation(store)
    with pytest.raises(Exception):  # noqa: B017 - the CHECK, whatever the driver calls it
        await store.put_rating(rating(score=6))
    with pytest.raises(NotFound):
        await store.get_rating("c1")


async def test_ratings_are_listed_newest_first_by_touchpoint_and_time(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    for i, tp in enumerate(["tp1", "tp2", "tp1"]):
        await store.create_conversation(conversation(f"c{i}", touchpoint_id=tp, address=f"v{i}"))
        await store.put_rating(rating(f"c{i}", touchpoint_id=tp, created_at=100.0 + i))
    assert [r.conversation_id for r in await store.list_ratings()] == ["c2", "c1", "c0"]
    assert [r.conversation_id for r in await store.list_ratings(touchpoint_id="tp1")] == [
        "c2",
        "c0",
    ]
    assert [r.conversation_id for r in await store.list_ratings(since=101.0)] == ["c2", "c1"]
    assert len(await store.list_ratings(limit=1)) == 1


async def test_rating_scores_of_many_conversations(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    for i in range(3):
        await store.create_conversation(conversation(f"c{i}", address=f"v{i}"))
    await store.put_rating(rating("c0", score=2))
    await store.put_rating(rating("c2", score=5))
    # More ids than one statement's slice, unrated and unknown ones among them.
    asked = ["c0", "c1", "c2", *(f"x{i}" for i in range(1200))]
    assert await store.rating_scores(asked) == {"c0": 2, "c2": 5}
    assert await store.rating_scores([]) == {}


async def test_forgetting_a_contact_forgets_its_ratings(store: Store) -> None:
    await setup_conversation(store)
    await store.put_rating(rating())
    await store.delete_contact("k1")
    assert await store.list_ratings() == []


async def test_refusals_are_counted_per_origin_and_bounded(store: Store) -> None:
    await store.put_touchpoint(Touchpoint(id="tp1", name="Shop", domain="shop.example"))
    for now in (10.0, 20.0):
        await store.record_refusal(
            "tp1",
            "https://evil.example",
            page_url=f"https://evil.example/p{now:.0f}",
            code="domain_mismatch",
            reason="host evil.example is not shop.example",
            now=now,
        )
    await store.record_refusal(
        "tp1",
        "http://shop.example:8080",
        page_url="http://shop.example:8080/",
        code="origin_mismatch",
        reason="port 8080",
        now=15.0,
    )
    rows = await store.list_refusals("tp1")
    assert [(r.origin, r.times, r.first_at, r.last_at) for r in rows] == [
        ("https://evil.example", 2, 10.0, 20.0),
        ("http://shop.example:8080", 1, 15.0, 15.0),
    ]
    assert rows[0].page_url == "https://evil.example/p20" and rows[0].code == "domain_mismatch"
    # Only the most recent origins are kept.
    for i in range(5):
        await store.record_refusal(
            "tp1",
            f"https://o{i}.example",
            page_url="",
            code="touchpoint_inactive",
            reason="",
            now=100.0 + i,
            keep=3,
        )
    assert [r.origin for r in await store.list_refusals("tp1")] == [
        "https://o4.example",
        "https://o3.example",
        "https://o2.example",
    ]
    with pytest.raises(NotFound):
        await store.record_refusal(
            "nope", "https://x.example", page_url="", code="domain_mismatch", reason="", now=1.0
        )
    await store.delete_touchpoint("tp1")
    assert await store.list_refusals("tp1") == []


async def test_idle_conversations_are_the_live_ones_without_recent_messages(
    store: Store,
) -> None:
    await store.create_contact("k1", now=1.0)
    rows = {
        "quiet": {"state": "assigned", "created_at": 100.0},
        "talking": {"state": "assigned", "created_at": 100.0},
        "empty": {"state": "new", "created_at": 150.0},
        "waiting": {"state": "waiting", "created_at": 100.0},
        "held": {"state": "assigned", "created_at": 100.0, "acceptance": "hold"},
        "sms": {"state": "assigned", "created_at": 100.0, "channel": "sms"},
        "ended": {"state": "wrapup", "created_at": 100.0},
    }
    for cid, kw in rows.items():
        # one live conversation per address and touchpoint (migration 0018)
        await store.create_conversation(conversation(cid, address=f"v-{cid}", **kw))
    await say(store, "hi", cid="quiet", now=200.0)
    await say(store, "hi", cid="talking", now=200.0)
    await say(store, "still here", cid="talking", now=900.0)
    for cid in ("waiting", "held", "sms", "ended"):
        await say(store, "hi", cid=cid, now=200.0)
    idle = await store.idle_conversations(channels=["chat"], before=800.0)
    assert [c.id for c in idle] == ["quiet", "empty"]
    assert [c.id for c in await store.idle_conversations(channels=["chat"], before=180.0)] == [
        "empty"
    ]
    assert await store.idle_conversations(channels=[], before=1e9) == []
    assert len(await store.idle_conversations(channels=["chat", "sms"], before=1e9, limit=2)) == 2


async def test_left_messages_and_display_names_round_trip(store: Store) -> None:
    await store.put_touchpoint(Touchpoint(id="tp1", name="Shop (internal)", display_name="Shop"))
    assert (await store.get_touchpoint("tp1")).display_name == "Shop"
    await store.create_contact("k1", now=1.0)
    await store.create_conversation(conversation("c1", left_message=True, acceptance="hold"))
    conv = await store.get_conversation("c1")
    assert conv.left_message is True and conv.acceptance == "hold"
    assert (await store.update_conversation("c1", state="waiting")).left_message is True
