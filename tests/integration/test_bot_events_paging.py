"""An integration's events to its bot page by a cursor as a webhook's events do
(docs/admin-api.md, "list paging"): two pages hold every event once, events of one
instant across the pages' boundary included; on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid

from gateway.model.integrations import Announcement, bot_target
from gateway.model.records import Conversation
from gateway.ports.store.base import Store
from tests.integration.conftest import Node, admin_client, integration
from tests.integration.test_admin_races import gw, new_id, page_all

__all__ = ["gw"]  # the module's gateway, on each database (imported: a fixture)

AT = 1_700_000_000.75  # one instant for every event


async def test_a_bots_events_page_by_a_cursor_each_once(gw: Node) -> None:
    tp = new_id("tp")
    async with await admin_client(gw) as admin:
        # its bot's URL answers nothing: the events stay listed whatever their state
        await integration(admin, tp, "http://127.0.0.1:9/bot")

        async def announce(store: Store) -> list[str]:
            contact = await store.create_contact(new_id("ct"), now=AT)
            conv = await store.create_conversation(
                Conversation(
                    id=new_id("cv"),
                    touchpoint_id=tp,
                    channel="api",
                    contact_id=contact.id,
                    address=contact.id,
                    state="assigned",
                )
            )
            events = [f"ev_{uuid.uuid4().hex[:8]}_{i}" for i in range(4)]
            for n, event in enumerate(events):
                await store.update_conversation(
                    conv.id,
                    priority=n,
                    announce=[Announcement(event, "conversation.updated", (bot_target(tp),), AT)],
                )
            return events

        events = gw.with_store(announce)
        path = f"/api/admin/touchpoints/{tp}/bot-events"
        first = (await admin.get(path, params={"limit": 2})).json()
        assert [e["event_id"] for e in first] == events[:1:-1]
        second = (await admin.get(path, params={"limit": 2, "cursor": first[-1]["cursor"]})).json()
        assert [e["event_id"] for e in second] == events[1::-1]
        # of one instant, the boundary between two of them: each on one page only
        assert {e["created_at"] for e in first + second} == {AT}
        assert (
            await admin.get(path, params={"limit": 2, "cursor": second[-1]["cursor"]})
        ).json() == []
        # page after page, to the end, by the same helper as the other lists
        listed = await page_all(admin, path, {"limit": 3})
        assert [e["event_id"] for e in listed] == events[::-1]

        r = await admin.get(path, params={"cursor": "WyJ4Il0"})  # ["x"]
        assert r.status_code == 422, r.text
        assert [f["field"] for f in r.json()["error"]["fields"]] == ["cursor"]
