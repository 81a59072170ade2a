"""An admin API edit (PUT, PATCH, a touchpoint's activate) of a record that is gone is a
404 and writes nothing, also when it races the DELETE of the record: on SQLite and on
PostgreSQL, against a real gateway process. The edits upserted: an edit that had read
the record before a DELETE and wrote it after brought the deleted record back."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import msgspec
import pytest

from gateway.errors import NotFound
from gateway.model.integrations import Webhook
from gateway.model.records import Agent, DispositionSet, Queue, Template, Touchpoint
from gateway.ports.store.base import Store
from tests.integration.conftest import Node, admin_client
from tests.integration.test_admin_races import CREATES, gw, new_id

__all__ = ["gw"]  # the module's gateway, on each database (imported: a fixture)

# Edits sent around one DELETE: enough that some read the record before the DELETE
# and write after it (which the old upserting edits turned into a re-insert).
EDITS = 12
ROUNDS = 6
# Kinds of record with a PATCH beside their PUT (templates are only PUT).
PATCHABLE = {"queues", "disposition-sets", "agents", "touchpoints", "webhooks"}


async def exists(admin: httpx.AsyncClient, path: str) -> bool:
    r = await admin.get(path)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


@pytest.mark.parametrize("plural", CREATES)
async def test_an_edit_racing_a_delete_never_brings_the_record_back(gw: Node, plural: str) -> None:
    prefix, body = CREATES[plural]
    async with await admin_client(gw) as admin:
        for round_ in range(ROUNDS):
            id_ = new_id(prefix)
            path = f"/api/admin/{plural}/{id_}"
            made = await admin.post(f"/api/admin/{plural}", json=body(0, id_))
            assert made.status_code == 201, made.text
            edits = [admin.put(path, json=body(i, id_)) for i in range(1, EDITS + 1)]
            half = EDITS // 2
            *before, deleted, after = await asyncio.gather(
                *edits[:half], admin.delete(path), asyncio.gather(*edits[half:])
            )
            answers = [*before, *after]
            # Every edit either came before the DELETE (200, then deleted with the
            # record) or after it (404, nothing written): none recreates the record.
            assert deleted.status_code == 204, deleted.text
            assert sorted({r.status_code for r in answers}) in ([200], [404], [200, 404]), [
                (r.status_code, r.text) for r in answers
            ]
            for r in answers:
                if r.status_code == 404:
                    assert r.json()["error"]["code"] == "not_found", r.text
            assert not await exists(admin, path), (round_, [r.status_code for r in answers])

            # Once the DELETE has answered, an edit is a 404 and the record stays gone.
            late = [admin.put(path, json=body(99, id_))]
            if plural in PATCHABLE:
                late.append(admin.patch(path, json={"name": "Back again"}))
            if plural == "touchpoints":
                late.append(admin.post(f"{path}/deactivate"))
            for r in await asyncio.gather(*late):
                assert r.status_code == 404, r.text
            assert not await exists(admin, path)


async def test_the_stores_updates_never_insert(gw: Node) -> None:
    """What makes the 404 hold at any moment: the store's update replaces a row that is
    there or raises NotFound, writing nothing (the edits upserted)."""

    async def update_missing(store: Store) -> list[str]:
        email = f"{uuid.uuid4().hex}@races.test"
        records: list[tuple[object, object]] = [
            (store.update_queue, Queue(id=new_id("q"), name="Ghost")),
            (
                store.update_disposition_set,
                DispositionSet(id=new_id("ds"), name="Ghost", dispositions=["Done"]),
            ),
            (store.update_agent, Agent(id=new_id("ag"), email=email, name="Ghost")),
            (store.update_touchpoint, Touchpoint(id=new_id("tp"), name="Ghost", channel="api")),
            (
                store.update_webhook,
                Webhook(id=new_id("wh"), name="Ghost", url="https://crm.example/", secret="s"),
            ),
            (store.update_template, Template(id=new_id("tm"), collection="S", name="Ghost")),
        ]
        outcomes = []
        for update, record in records:
            try:
                await update(record)  # type: ignore[operator]
                outcomes.append("written")
            except NotFound:
                outcomes.append("not found")
        # nothing of them was written
        names = [q.name for q in await store.list_queues()]
        names += [d.name for d in await store.list_disposition_sets()]
        names += [a.name for a in await store.list_agents()]
        names += [t.name for t in await store.list_touchpoints()]
        names += [w.name for w in await store.list_webhooks()]
        names += [t.name for t in await store.list_templates()]
        outcomes.append(f"{names.count('Ghost')} ghosts")
        # and one that is there is replaced
        q = Queue(id=new_id("q"), name="Before")
        await store.create_queue(q)
        await store.update_queue(msgspec.structs.replace(q, name="After"))
        outcomes.append((await store.get_queue(q.id)).name)
        return outcomes

    assert gw.with_store(update_missing) == ["not found"] * 6 + ["0 ghosts", "After"]
