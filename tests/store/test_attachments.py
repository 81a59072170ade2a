"""The Store contract for attachments and the blob deletion queue, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.errors import Conflict, NotFound
from gateway.model.records import Attachment, AttachmentRef
from gateway.ports.store.base import Store
from tests.store.test_contract import say, setup_conversation


def upload(aid: str, cid: str = "c1", who: str = "v-k1", **kw: Any) -> Attachment:
    fields: dict[str, Any] = {
        "uploader": "contact",
        "uploader_id": who,
        "name": f"{aid}.png",
        "content_type": "image/png",
        "size": 100,
        "sha256": "ab" * 32,
        "blob_key": f"{cid}/{aid}",
        "created_at": 10.0,
        **kw,
    }
    return Attachment(id=aid, conversation_id=cid, **fields)


async def send(store: Store, ids: list[str], cid: str = "c1", **kw: Any) -> Any:
    return await store.append(
        cid,
        sender=kw.pop("sender", "contact"),
        sender_id=kw.pop("sender_id", "v-k1"),
        client_msg_id=kw.pop("client_msg_id", "m-" + "-".join(ids)),
        body=kw.pop("body", ""),
        now=kw.pop("now", 20.0),
        attachments=ids,
    )


async def test_an_upload_is_recorded_unattached(store: Store) -> None:
    await setup_conversation(store)
    a = upload("at1", thumb_key="c1/at1.thumb", width=40, height=30, seq=7)
    await store.create_attachment(a)
    got = await store.get_attachment("at1")
    assert got.seq == 0 and got.thumb_key == "c1/at1.thumb" and got.width == 40
    with pytest.raises(Conflict):
        await store.create_attachment(a)
    with pytest.raises(NotFound):
        await store.create_attachment(upload("at2", cid="nope"))
    with pytest.raises(NotFound):
        await store.get_attachment("at2")
    await store.create_attachment(upload("at3"))
    assert [x.id for x in await store.get_attachments(["at3", "gone", "at1"])] == ["at3", "at1"]
    assert await store.get_attachments([]) == []


async def test_a_message_carries_its_files_in_order(store: Store) -> None:
    await setup_conversation(store)
    await say(store, "before", sender_id="v-k1")
    for aid in ("at1", "at2"):
        await store.create_attachment(upload(aid, width=4, height=3, thumb_key=f"c1/{aid}.t"))
    message, created, conv = await send(store, ["at2", "at1"], body="two files")
    assert created and message.seq == 2 and conv.last_seq == 2 and conv.agent_unread == 2
    expected = tuple(
        AttachmentRef(id=i, name=f"{i}.png", content_type="image/png", size=100, width=4,
                      height=3, thumbnail=True)
        for i in ("at2", "at1")
    )  # fmt: skip
    assert message.attachments == expected
    assert (await store.messages("c1"))[-1].attachments == expected
    assert (await store.messages("c1", before_seq=3, limit=1))[0].attachments == expected
    assert [(await store.get_attachment(i)).seq for i in ("at1", "at2")] == [2, 2]
    assert (await store.messages("c1"))[0].attachments == ()


@pytest.mark.parametrize(
    ("ids", "kw"),
    [
        (["nope"], {}),
        (["at1", "at1"], {}),
        (["at1", "nope"], {}),
        (["other"], {}),  # another conversation's
        (["at1"], {"sender_id": "v-someone-else"}),
        (["at1"], {"sender": "agent", "sender_id": "v-k1"}),
    ],
)
async def test_files_that_may_not_be_attached_store_nothing(
    store: Store, ids: list[str], kw: dict[str, Any]
) -> None:
    await setup_conversation(store)
    await setup_conversation(store, "c2", "k2")
    await store.create_attachment(upload("at1"))
    await store.create_attachment(upload("other", cid="c2"))
    with pytest.raises(NotFound):
        await send(store, ids, **kw)
    assert (await store.get_conversation("c1")).last_seq == 0
    assert (await store.get_attachment("at1")).seq == 0


async def test_a_file_is_sent_once(store: Store) -> None:
    await setup_conversation(store)
    await store.create_attachment(upload("at1"))
    await send(store, ["at1"], client_msg_id="first")
    with pytest.raises(NotFound, match="sent already"):
        await send(store, ["at1"], client_msg_id="second")
    assert (await store.get_conversation("c1")).last_seq == 1


async def test_a_retry_of_a_message_with_files_stores_nothing_twice(store: Store) -> None:
    await setup_conversation(store)
    await store.create_attachment(upload("at1"))
    first, created, _ = await send(store, ["at1"], client_msg_id="m1", body="photo")
    again, created_again, conv = await send(store, ["at1"], client_msg_id="m1", body="photo")
    assert created and not created_again
    assert again == first and conv.last_seq == 1
    assert await store.message_by_client_id("c1", "contact", "v-k1", "m1") == first
    assert await store.message_by_client_id("c1", "contact", "v-k1", "m9") is None
    assert await store.message_by_client_id("c1", "agent", "v-k1", "m1") is None
    # concurrent retries of a new one: one message, one seq used
    await store.create_attachment(upload("at2"))
    results = await asyncio.gather(
        *(send(store, ["at2"], client_msg_id="m2") for _ in range(5)), return_exceptions=True
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(1 for r in results if r[1]) == 1
    assert {r[0].seq for r in results} == {2}
    assert (await store.get_conversation("c1")).last_seq == 2


async def test_the_deletion_queue(store: Store) -> None:
    await setup_conversation(store)
    # an upload queues its keys first; recording it takes them off
    await store.queue_blob_deletions(["c1/at1", "c1/at1.t", "c1/crashed"], due_at=100.0)
    assert await store.due_blob_deletions(now=99.0) == []
    await store.create_attachment(upload("at1", thumb_key="c1/at1.t"))
    assert await store.due_blob_deletions(now=100.0) == ["c1/crashed"]
    await store.queue_blob_deletions(["c1/crashed"], due_at=5.0)  # queued again: new time
    await store.queue_blob_deletions(["c1/later"], due_at=50.0)
    assert await store.due_blob_deletions(now=60.0) == ["c1/crashed", "c1/later"]
    assert await store.due_blob_deletions(now=60.0, limit=1) == ["c1/crashed"]
    await store.forget_blob_deletions(["c1/crashed", "c1/later"])
    assert await store.due_blob_deletions(now=1e12) == []


async def test_uploads_never_attached_expire(store: Store) -> None:
    await setup_conversation(store)
    await store.create_attachment(upload("old", created_at=10.0, thumb_key="c1/old.t"))
    await store.create_attachment(upload("young", created_at=90.0))
    await store.create_attachment(upload("sent", created_at=10.0))
    await send(store, ["sent"])
    assert await store.expire_unattached(created_before=50.0) == 1
    with pytest.raises(NotFound):
        await store.get_attachment("old")
    assert {a.id for a in await store.get_attachments(["young", "sent"])} == {"young", "sent"}
    assert sorted(await store.due_blob_deletions(now=0.0)) == ["c1/old", "c1/old.t"]
    assert await store.expire_unattached(created_before=50.0) == 0


async def test_deleting_a_contact_queues_its_files(store: Store) -> None:
    await setup_conversation(store, "c1", "k1")
    await setup_conversation(store, "c2", "k2")
    await store.create_attachment(upload("a1", thumb_key="c1/a1.t"))
    await store.create_attachment(upload("a2"))
    await send(store, ["a1"])
    await store.create_attachment(upload("b1", cid="c2", who="v-k2"))
    await store.delete_contact("k1")
    assert sorted(await store.due_blob_deletions(now=0.0)) == ["c1/a1", "c1/a1.t", "c1/a2"]
    assert [a.id for a in await store.get_attachments(["a1", "a2", "b1"])] == ["b1"]


async def test_the_export_lists_the_sent_files(store: Store) -> None:
    await setup_conversation(store)
    await store.create_attachment(upload("at1"))
    await store.create_attachment(upload("draft"))
    await send(store, ["at1"], body="see")
    data = await store.export_contact("k1")
    conv = data["conversations"][0]
    assert conv["messages"][0]["attachments"][0]["id"] == "at1"
    assert [(a["id"], a["seq"], a["sha256"]) for a in conv["attachments"]] == [
        ("at1", 1, "ab" * 32)
    ]
