"""The admin API under concurrent requests and across pages, on SQLite and PostgreSQL,
against a real gateway process (docs/admin-api.md, "Decisions"):

* creates of one given id at the same moment make one record: the first is a 201, every
  other a 409 on the field ``id`` (they upserted, each a 201, the last one winning);
* two admins demoting, deactivating or deleting each other at the same moment leave an
  active admin (both succeeded, and nobody could administer the gateway any more);
* notices, a webhook's events and ratings page by a cursor past any page's end, rows
  that share an instant included (notices paged by created_at alone lost them)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import msgspec
import pytest

from devkit import services
from gateway.errors import Conflict
from gateway.model.integrations import Announcement, Webhook
from gateway.model.records import (
    AdminNotice,
    Agent,
    Conversation,
    DispositionSet,
    Queue,
    Rating,
    Template,
    Touchpoint,
)
from gateway.ports.store.base import Store
from tests.integration.conftest import HOOK_SECRET, Node, admin_client

T = TypeVar("T")
# Requests sent at once for one id: enough for several to pass the early "is the id
# free?" check together, which the old code then let upsert one after the other (more
# than the store's connections: 8 duplicates on PostgreSQL went through one by one).
AT_ONCE = 32
# Times a test races (a race is likely, not certain, to interleave the requests)
ROUNDS = 3


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gw(request: pytest.FixtureRequest) -> Iterator[Node]:
    if request.param == "postgres":
        pg: services.Postgres = request.getfixturevalue("postgres")
        url = services.createdb(pg, f"races_{uuid.uuid4().hex[:8]}")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='gw-races-')}/gateway.db"
    env = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_DEMO": "1",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
    }
    node = Node(services.start_gateway(env), env, url)
    yield node
    node.proc.stop()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# -- 1. creates of one given id ----------------------------------------------------------


def queue_body(i: int, id_: str) -> dict[str, Any]:
    return {"id": id_, "name": f"Queue {i}"}


def set_body(i: int, id_: str) -> dict[str, Any]:
    return {"id": id_, "name": f"Set {i}", "dispositions": ["Done"]}


def agent_body(i: int, id_: str) -> dict[str, Any]:
    # each its own email: what conflicts is the id
    return {"id": id_, "name": f"Agent {i}", "email": f"{id_}-{i}@races.test", "role": "agent"}


def touchpoint_body(i: int, id_: str) -> dict[str, Any]:
    return {
        "id": id_,
        "name": f"Shop {i}",
        "channel": "chat",
        "domain": f"shop{i}.races.test",
        "flow": {"default": {"queue_ids": ["q_support"]}},
    }


def webhook_body(i: int, id_: str) -> dict[str, Any]:
    return {
        "id": id_,
        "name": f"Hook {i}",
        "url": "https://crm.example/hooks",
        "secret": HOOK_SECRET,
        "events": ["conversation.ended"],
    }


def template_body(i: int, id_: str) -> dict[str, Any]:
    return {"id": id_, "collection": "Support", "name": f"Reply {i}", "content": {"default": "Hi"}}


CREATES = {
    "templates": ("tm", template_body),
    "queues": ("q", queue_body),
    "disposition-sets": ("ds", set_body),
    "agents": ("ag", agent_body),
    "touchpoints": ("tp", touchpoint_body),
    "webhooks": ("wh", webhook_body),
}


@pytest.mark.parametrize("plural", CREATES)
async def test_creates_of_one_id_at_once_make_one_and_the_others_are_409(
    gw: Node, plural: str
) -> None:
    prefix, body = CREATES[plural]
    async with await admin_client(gw) as admin:
        for _ in range(ROUNDS):
            id_ = new_id(prefix)
            answers = await asyncio.gather(
                *(admin.post(f"/api/admin/{plural}", json=body(i, id_)) for i in range(AT_ONCE))
            )
            await assert_one_made(admin, f"/api/admin/{plural}/{id_}", answers)


async def test_duplicates_of_a_touchpoint_to_one_id_at_once_make_one(gw: Node) -> None:
    source = new_id("tp")
    async with await admin_client(gw) as admin:
        r = await admin.post("/api/admin/touchpoints", json=touchpoint_body(0, source))
        assert r.status_code == 201, r.text
        for _ in range(ROUNDS):
            copy = new_id("tp")
            answers = await asyncio.gather(
                *(
                    admin.post(
                        f"/api/admin/touchpoints/{source}/duplicate",
                        json={"id": copy, "name": f"Copy {i}"},
                    )
                    for i in range(AT_ONCE)
                )
            )
            await assert_one_made(admin, f"/api/admin/touchpoints/{copy}", answers)


async def test_the_stores_creates_never_replace(gw: Node) -> None:
    """What makes the 409 hold at any moment: the store's create inserts or refuses
    (the old create handlers upserted)."""

    async def twice(store: Store) -> list[tuple[str, str]]:
        q = Queue(id=new_id("q"), name="First")
        ds = DispositionSet(id=new_id("ds"), name="First", dispositions=["Done"])
        agent = Agent(id=new_id("ag"), email=f"{uuid.uuid4().hex}@races.test", name="First")
        tp = Touchpoint(id=new_id("tp"), name="First", channel="api")
        hook = Webhook(
            id=new_id("wh"), name="First", url="https://crm.example/", secret="s", active=False
        )
        reply = Template(id=new_id("tm"), collection="Support", name="First")
        outcomes = []
        for create, get, record in [
            (store.create_queue, store.get_queue, q),
            (store.create_disposition_set, store.get_disposition_set, ds),
            (store.create_agent, store.get_agent, agent),
            (store.create_touchpoint, store.get_touchpoint, tp),
            (store.create_webhook, store.get_webhook, hook),
            (store.create_template, store.get_template, reply),
        ]:
            await create(record)
            try:
                await create(msgspec.structs.replace(record, name="Second"))
                outcomes.append(("created", ""))
            except Conflict as exc:
                outcomes.append((exc.field, (await get(record.id)).name))
        return outcomes

    assert gw.with_store(twice) == [("id", "First")] * 6


async def assert_one_made(
    admin: httpx.AsyncClient, path: str, answers: list[httpx.Response]
) -> None:
    made = [r for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert len(made) == 1, [(r.status_code, r.text) for r in answers]
    for r in refused:
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "conflict", r.text
        assert [f["field"] for f in error["fields"]] == ["id"], r.text
    # what is stored is what the one 201 answered, not a later request's body
    stored = await admin.get(path)
    assert stored.status_code == 200 and stored.json()["name"] == made[0].json()["name"]


# -- 3. and 4. cursors -------------------------------------------------------------------


async def page_all(
    http: httpx.AsyncClient, path: str, params: dict[str, Any], *, items: str | None = None
) -> list[dict[str, Any]]:
    """Every item, page after page by the cursor, until an empty (or last) page."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        r = await http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        page = body if items is None else body[items]
        seen.extend(page)
        if items is None:
            if len(page) < params["limit"]:
                return seen
            cursor = page[-1]["cursor"]
        else:
            if "next_cursor" not in body:  # the last page
                return seen
            cursor = body["next_cursor"]
    raise AssertionError(f"no end after 100 pages: {len(seen)} items")


async def test_notices_of_one_instant_are_all_listed_across_pages(gw: Node) -> None:
    at = 1_700_000_000.25  # older than every notice the gateway makes itself
    ids = [f"nt_races_{uuid.uuid4().hex[:6]}_{i}" for i in range(5)]

    async def add(store: Store) -> None:
        for i, id_ in enumerate(ids):
            # two share each instant; the page size below puts one pair across a page end
            await store.add_notice(
                AdminNotice(id=id_, kind="provider_error", message=f"n{i}", created_at=at - i // 2)
            )

    gw.with_store(add)
    async with await admin_client(gw) as admin:
        # one a page: every tie is across a page end
        listed = await page_all(admin, "/api/admin/notices", {"limit": 1})
        mine = [n["id"] for n in listed if n["id"] in ids]
        # newest first, by created_at then id, each once
        expected = sorted(ids, key=lambda i: (at - ids.index(i) // 2, i), reverse=True)
        assert mine == expected, listed
        assert len({n["id"] for n in listed}) == len(listed)
        # the older form still answers: the notices created before a time
        r = await admin.get("/api/admin/notices", params={"before": at, "limit": 200})
        assert [n["id"] for n in r.json() if n["id"] in ids] == expected[2:]
        # a cursor it did not give, or both forms at once, is a 422 on its field
        for params, field in [
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": "WzFd"}, "cursor"),  # [1]
            ({"cursor": listed[0]["cursor"], "before": at}, "before"),
        ]:
            r = await admin.get("/api/admin/notices", params=params)
            assert r.status_code == 422, r.text
            assert [f["field"] for f in r.json()["error"]["fields"]] == [field], r.text


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


async def test_ratings_page_past_500_by_a_cursor(gw: Node) -> None:
    tp = new_id("tp")
    at = 1_700_000_000.5
    count = 7

    async def rate(store: Store) -> list[str]:
        convs = []
        for i in range(count):
            contact = await store.create_contact(new_id("ct"), now=at)
            conv = await store.create_conversation(
                Conversation(
                    id=new_id("cv"),
                    touchpoint_id=tp,
                    channel="chat",
                    contact_id=contact.id,
                    address=contact.id,
                    state="ended",
                    created_at=at,
                )
            )
            # three share an instant
            await store.put_rating(
                Rating(
                    conversation_id=conv.id,
                    touchpoint_id=tp,
                    contact_id=contact.id,
                    score=1 + i % 5,
                    created_at=at - (i // 3),
                )
            )
            convs.append(conv.id)
        return convs

    convs = gw.with_store(rate)
    async with await admin_client(gw) as admin:
        listed = await page_all(
            admin, "/api/admin/ratings", {"touchpoint_id": tp, "limit": 2}, items="items"
        )
        expected = sorted(convs, key=lambda c: (-(at - convs.index(c) // 3), c))
        assert [r["conversation_id"] for r in listed] == expected
        r = await admin.get("/api/admin/ratings", params={"touchpoint_id": tp, "limit": count})
        assert "next_cursor" not in r.json() and r.json()["count"] == count


async def test_a_webhooks_events_page_past_200_by_a_cursor(gw: Node) -> None:
    hook = new_id("wh")
    async with await admin_client(gw) as admin:
        r = await admin.post("/api/admin/webhooks", json=webhook_body(0, hook))
        assert r.status_code == 201, r.text

        async def announce(store: Store) -> list[str]:
            contact = await store.create_contact(new_id("ct"), now=1.0)
            conv = await store.create_conversation(
                Conversation(
                    id=new_id("cv"),
                    touchpoint_id="tp_none",
                    channel="chat",
                    contact_id=contact.id,
                    address=contact.id,
                    state="assigned",
                )
            )
            events = [new_id("ev") for _ in range(5)]
            for n, event in enumerate(events):
                await store.update_conversation(
                    conv.id,
                    priority=n,
                    announce=[Announcement(event, "conversation.ended", (hook,), 5.0)],
                )
            return events

        events = gw.with_store(announce)
        listed = await page_all(admin, f"/api/admin/webhooks/{hook}/events", {"limit": 2})
        assert [e["event_id"] for e in listed] == events[::-1]
        r = await admin.get(f"/api/admin/webhooks/{hook}/events", params={"cursor": "WyJ4Il0"})
        assert r.status_code == 422 and "cursor" in r.text, r.text


# -- 2. the last admin -------------------------------------------------------------------


async def login(node: Node, email: str, password: str) -> httpx.AsyncClient:
    async with node.proc.http(timeout=services.LOGIN_TIMEOUT) as http:
        r = await http.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return httpx.AsyncClient(
        base_url=node.base_url,
        headers={"Authorization": f"Bearer {r.json()['token']}"},
        timeout=30,
    )


PASSWORD = "races-admin-password"


def admin_body(agent_id: str) -> dict[str, Any]:
    return {
        "name": agent_id,
        "email": f"{agent_id}@races.test",
        "role": "admin",
        "active": True,
        "password": PASSWORD,
    }


async def make_admin(admin: httpx.AsyncClient, agent_id: str) -> None:
    """``agent_id`` an active admin with PASSWORD, made or restored."""
    r = await admin.put(f"/api/admin/agents/{agent_id}", json=admin_body(agent_id))
    if r.status_code == 404:
        r = await admin.post("/api/admin/agents", json={"id": agent_id, **admin_body(agent_id)})
    assert r.status_code in (200, 201), r.text


ATTACKS: dict[str, Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]] = {
    "demote": lambda c, other: c.patch(f"/api/admin/agents/{other}", json={"role": "agent"}),
    "deactivate": lambda c, other: c.patch(f"/api/admin/agents/{other}", json={"active": False}),
    "delete": lambda c, other: c.delete(f"/api/admin/agents/{other}"),
}


async def active_admins(node: Node) -> list[str]:
    def read() -> list[str]:
        async def agents(store: Store) -> list[str]:
            return [a.id for a in await store.list_agents() if a.role == "admin" and a.active]

        return node.with_store(agents)

    return await asyncio.to_thread(read)


async def test_two_admins_removing_each_other_at_once_leave_an_admin(gw: Node) -> None:
    one, two = new_id("ag"), new_id("ag")
    async with await admin_client(gw) as demo_admin:
        await make_admin(demo_admin, one)
        await make_admin(demo_admin, two)
    # The demo's admin steps down: `one` and `two` are the only admins left.
    async with await login(gw, f"{one}@races.test", PASSWORD) as first:
        r = await first.patch("/api/admin/agents/ag_admin", json={"role": "supervisor"})
        assert r.status_code == 200, r.text
    try:
        for round_, kind in zip(range(9), itertools.cycle(ATTACKS), strict=False):
            assert sorted(await active_admins(gw)) == sorted([one, two]), round_
            a = await login(gw, f"{one}@races.test", PASSWORD)
            b = await login(gw, f"{two}@races.test", PASSWORD)
            async with a, b:
                attack = ATTACKS[kind]
                answers = await asyncio.gather(attack(a, two), attack(b, one))
            left = await active_admins(gw)
            codes = [r.status_code for r in answers]
            assert len(left) == 1, (round_, kind, codes, [r.text for r in answers])
            assert sorted(codes) in ([200, 409], [204, 409], [200, 401], [204, 401]), codes
            for r in answers:
                if r.status_code == 409:
                    assert r.json()["error"]["code"] == "last_admin", r.text
            # the one left makes the other an admin again
            [survivor] = left
            async with await login(gw, f"{survivor}@races.test", PASSWORD) as c:
                await make_admin(c, two if survivor == one else one)
    finally:
        await step_back(gw, [one, two])


async def step_back(node: Node, admins: list[str]) -> None:
    """The demo's admin the only admin again, as the module's other tests expect."""
    survivor = (await active_admins(node))[0]
    async with await login(node, f"{survivor}@races.test", PASSWORD) as c:
        r = await c.patch("/api/admin/agents/ag_admin", json={"role": "admin"})
        assert r.status_code == 200, r.text
    async with await admin_client(node) as demo_admin:
        for agent_id in admins:
            r = await demo_admin.delete(f"/api/admin/agents/{agent_id}")
            assert r.status_code in (204, 404), r.text


async def test_the_last_admin_cannot_be_deleted_or_demoted_through_the_store(gw: Node) -> None:
    """The check is the store's, so it holds for every writer (the CLI too)."""

    async def attempt(store: Store) -> list[str]:
        admins = [a for a in await store.list_agents() if a.role == "admin" and a.active]
        outcomes = []
        if len(admins) == 1:
            [last] = admins
            for change in (
                lambda: store.put_agent(last.__class__(**{**_fields(last), "role": "agent"})),
                lambda: store.put_agent(last.__class__(**{**_fields(last), "active": False})),
                lambda: store.delete_agent(last.id),
            ):
                try:
                    await change()
                    outcomes.append("done")
                except Exception as exc:
                    outcomes.append(getattr(exc, "code", repr(exc)))
        return outcomes

    # made the only admin: the demo's steps down through another admin, who then goes
    one = new_id("ag")
    async with await admin_client(gw) as demo_admin:
        await make_admin(demo_admin, one)
    async with await login(gw, f"{one}@races.test", PASSWORD) as c:
        assert (
            await c.patch("/api/admin/agents/ag_admin", json={"role": "agent"})
        ).status_code == 200
    try:
        assert gw.with_store(attempt) == ["last_admin"] * 3
        assert await active_admins(gw) == [one]
    finally:
        await step_back(gw, [one])
