"""The admin API's live conversations over a real gateway process: the list (what the
supervisor's ``live`` frame shows, filtered and paged by cursor), who may read it, and
the transfer, to an agent and to a queue, with the receiving agent's console socket
told as after a socket transfer; every refusal is its documented status and code and
changes nothing in the store (docs/admin-api.md, "Live conversations")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from devkit import services
from gateway.protocol import LiveConversation
from tests.gateway.client import AgentClient
from tests.gateway.conftest import demo_visitor
from tests.gateway.test_agent_frames_refused import connected, held, node, stored, taken

pytestmark = pytest.mark.asyncio(loop_scope="module")

__all__ = ["node"]  # the module's gateway: agents a, b, sup, off, gone (see there)

LIVE = "/api/admin/live/conversations"
CONVERSATIONS = "/api/admin/conversations"


@dataclass
class World:
    node: services.GatewayProcess
    a: AgentClient
    b: AgentClient
    sup: AgentClient
    tokens: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(node: services.GatewayProcess) -> World:
    """a is away (offers ring b only), b available, the supervisor online."""
    a = await connected(node, "a")
    assert a.sock
    await a.sock.send({"type": "status", "status": "away", "ref": "away"})
    await a.sock.expect("ok", ref="away")
    b = await connected(node, "b")
    sup = await connected(node, "sup")
    admin = await asyncio.to_thread(
        services.login_token, node.base_url, "admin@demo.test", "demo-admin"
    )
    tokens = {"sup": sup.token, "agent": a.token, "admin": admin}
    return World(node, a, b, sup, tokens)


def http(world: World, who: str = "sup") -> httpx.AsyncClient:
    return world.node.http(headers={"Authorization": f"Bearer {world.tokens[who]}"}, timeout=10)


async def every_page(world: World, query: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """All items of the list, page by page; and how many pages it took."""
    items: list[dict[str, Any]] = []
    pages = 0
    params = dict(query)
    async with http(world) as c:
        while True:
            r = await c.get(LIVE, params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            pages += 1
            assert len(page["items"]) <= int(query.get("limit", 50))
            items.extend(page["items"])
            if "next_cursor" not in page:
                return items, pages
            assert page["items"][-1]["cursor"] == page["next_cursor"]
            params["cursor"] = page["next_cursor"]


async def test_the_list_is_the_live_view_filtered_and_paged(world: World) -> None:
    waiting = [await held(world.node) for _ in range(3)]
    mine = await taken(world.a)
    moved = await taken(world.a)
    assert (await world.a.act("transfer", moved, to_queue_id="q_billing"))["type"] == "ok"

    everything, pages = await every_page(world, {"limit": 2})
    ids = [i["id"] for i in everything]
    assert len(ids) == len(set(ids)) and pages == -(-len(ids) // 2)
    assert [(i["arrived_at"], i["id"]) for i in everything] == sorted(
        (i["arrived_at"], i["id"]) for i in everything
    )
    # the same conversations as the socket's live view, each with every field of its row
    # there (the socket leaves out the fields at their defaults) and the same values
    assert world.sup.sock
    world.sup.sock.drain()
    await world.sup.sock.send({"type": "live", "on": True})
    live = await world.sup.sock.expect("live")
    names = LiveConversation.__struct_fields__
    defaults = LiveConversation.__struct_defaults__
    omitted = dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))
    fields = set(names) - {"conversation_id"}
    assert {
        c["conversation_id"]: {f: c.get(f, omitted.get(f)) for f in fields}
        for c in live["conversations"]
    } == {i["id"]: {f: i[f] for f in fields} for i in everything}

    rows = {i["id"]: i for i in everything}
    row = rows[mine]
    assert (row["state"], row["agent_id"], row["queue_ids"]) == ("assigned", "ag_a", ["q_support"])
    assert row["touchpoint_id"] == "tp_demo_127" and row["channel"] == "chat"
    assert row["contact_name"] == "Lin" and row["agent_unread"] >= 0 and row["age"] >= 0
    assert rows[waiting[0]]["state"] == "waiting" and rows[waiting[0]]["agent_id"] == ""

    async def ids_of(**query: Any) -> set[str]:
        return {i["id"] for i in (await every_page(world, query))[0]}

    assert set(waiting) <= await ids_of(state="waiting", limit=1)
    assert mine not in await ids_of(state="waiting")
    assert mine in await ids_of(agent_id="ag_a", state="assigned")
    assert await ids_of(agent_id="ag_sup") == set()
    billing = await ids_of(queue_id="q_billing")
    assert moved in billing and not billing & {mine, *waiting}
    assert set(waiting) | {mine, moved} <= await ids_of(touchpoint_id="tp_demo_127")
    assert await ids_of(touchpoint_id="tp_nope") == set()
    assert await ids_of(channel="sms") == set()

    async with http(world) as c:
        for query, field in [
            ({"state": "ringing"}, "state"),
            ({"limit": "0"}, "limit"),
            ({"limit": "201"}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"colour": "red"}, "colour"),
        ]:
            r = await c.get(LIVE, params=query)
            assert r.status_code == 422, (query, r.text)
            assert [f["field"] for f in r.json()["error"]["fields"]] == [field], r.text


async def test_only_supervisors_and_admins_see_and_transfer(world: World) -> None:
    mine = await taken(world.a)
    before = stored(world.node)
    async with http(world, "agent") as c:
        r = await c.get(LIVE)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        r = await c.post(f"{CONVERSATIONS}/{mine}/transfer", json={"to_agent_id": "ag_b"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    async with world.node.http() as c:
        assert (await c.get(LIVE)).status_code == 401
    assert stored(world.node) == before
    async with http(world, "admin") as c:
        r = await c.get(LIVE, params={"agent_id": "ag_a"})
        assert r.status_code == 200 and mine in {i["id"] for i in r.json()["items"]}


async def row_of(agent: AgentClient, cid: str, place: str) -> dict[str, Any]:
    """The ``conversation`` frame that puts ``cid`` in this place of the agent's lists."""
    assert agent.sock
    seen: list[dict[str, Any]] = []
    while True:
        try:
            frame = await agent.sock.expect("conversation")
        except TimeoutError:
            raise AssertionError(f"no {place} row of {cid}: {seen}") from None
        row: dict[str, Any] = frame["conversation"]
        seen.append(row)
        if (row["conversation_id"], row["place"]) == (cid, place):
            return row


async def test_a_transfer_to_an_agent_reaches_their_console(world: World) -> None:
    a, b = world.a, world.b
    assert a.sock and b.sock
    cid = await taken(a)
    a.sock.drain()
    b.sock.drain()
    async with http(world) as c:
        r = await c.post(
            f"{CONVERSATIONS}/{cid}/transfer", json={"to_agent_id": "ag_b", "note": "VIP, be nice"}
        )
        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["state"], r.json()["owner_agent_id"]) == (
            cid,
            "assigned",
            "ag_b",
        )
        # as after the console's transfer frame: b is told, with the transfer's sound
        assert (await b.sock.expect("sound", event="transferred"))["conversation_id"] == cid
        await row_of(b, cid, "assigned")
        await row_of(a, cid, "gone")
        listed = (await c.get(LIVE, params={"agent_id": "ag_b", "state": "assigned"})).json()
        assert cid in {i["id"] for i in listed["items"]}
        notes = await c.get(f"/api/console/conversations/{cid}/notes")
        assert [(n["body"], n["agent_id"]) for n in notes.json()] == [("VIP, be nice", "ag_sup")]


async def test_a_transfer_to_a_queue_rings_its_agents(world: World) -> None:
    """A chat b accepted, transferred to its queue: it rings a (b, who had it, is in its
    cooldown), as after b's own transfer frame."""
    a, b = world.a, world.b
    assert a.sock and b.sock
    visitor = demo_visitor(world.node)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Queued")
    assert (await b.sock.expect("offer"))["conversation"]["conversation_id"] == cid
    assert (await b.act("accept", cid))["type"] == "ok"
    await a.sock.send({"type": "status", "status": "available", "ref": "back"})
    await a.sock.expect("ok", ref="back")
    try:
        a.sock.drain()
        async with http(world) as c:
            r = await c.post(f"{CONVERSATIONS}/{cid}/transfer", json={"to_queue_id": "q_support"})
            assert r.status_code == 200, r.text
            assert r.json()["owner_agent_id"] is None
            assert (await a.sock.expect("offer"))["conversation"]["conversation_id"] == cid
            # out of b's Assigned list, into the Inbox b shares
            assert (await row_of(b, cid, "inbox"))["state"] in ("waiting", "offered")
            listed = (await c.get(LIVE, params={"state": "offered", "agent_id": "ag_a"})).json()
            assert [i["offer_agent_id"] for i in listed["items"] if i["id"] == cid] == ["ag_a"]
        assert (await a.act("accept", cid))["type"] == "ok"
        assert (await a.act("end", cid))["type"] == "ok"
        assert (await a.act("wrapup", cid, disposition="Resolved"))["type"] == "ok"
    finally:
        await a.sock.send({"type": "status", "status": "away", "ref": "away-again"})
        await a.sock.expect("ok", ref="away-again")
        assert visitor.sock
        await visitor.sock.close()


async def ended(agent: AgentClient, *, close: bool) -> str:
    cid = await taken(agent)
    assert (await agent.act("end", cid))["type"] == "ok"
    if close:
        assert (await agent.act("wrapup", cid, disposition="Resolved"))["type"] == "ok"
    return cid


# (the conversation, the body, the status, the code)
REFUSALS: list[tuple[str, Any, int, str]] = [
    ("unknown", {"to_agent_id": "ag_b"}, 404, "not_found"),
    ("waiting", {"to_agent_id": "ag_b"}, 409, "not_assigned"),
    # a supervisor moves what waits, but not to the only queue it is in
    ("waiting", {"to_queue_id": "q_support"}, 409, "invalid_transfer"),
    ("wrapup", {"to_agent_id": "ag_b"}, 409, "not_assigned"),
    ("closed", {"to_queue_id": "q_support"}, 409, "unknown_conversation"),
    ("mine", {"to_agent_id": "ag_off"}, 409, "agent_unavailable"),
    ("mine", {"to_agent_id": "ag_gone"}, 409, "unknown_agent"),
    ("mine", {"to_agent_id": "ag_nobody"}, 409, "unknown_agent"),
    ("mine", {"to_agent_id": "ag_a"}, 409, "invalid_transfer"),
    ("mine", {}, 422, "invalid"),
    ("mine", {"note": "n"}, 422, "invalid"),
    ("mine", {"to_agent_id": "ag_b", "to_queue_id": "q_support"}, 422, "invalid"),
    ("mine", {"to_queue_id": "q_nope"}, 422, "invalid"),
    ("mine", {"to_agent_id": "ag_b", "note": "n" * 2001}, 422, "invalid"),
    ("mine", {"to_agent_id": "ag_b", "colour": "red"}, 422, "invalid"),
    ("mine", {"to_agent_id": 7}, 422, "invalid"),
    ("mine", ["ag_b"], 422, "invalid"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def convs(world: World) -> dict[str, str]:
    return {
        "unknown": "cv_unknown",
        "waiting": await held(world.node),
        "wrapup": await ended(world.a, close=False),
        "closed": await ended(world.a, close=True),
        "mine": await taken(world.a),
    }


@pytest.mark.parametrize(
    ("conv", "body", "status", "code"),
    REFUSALS,
    ids=[f"{c}-{i}-{code}" for i, (c, _, _, code) in enumerate(REFUSALS)],
)
async def test_a_refused_transfer_is_its_status_and_changes_nothing(
    world: World, convs: dict[str, str], conv: str, body: Any, status: int, code: str
) -> None:
    before = stored(world.node)
    async with http(world) as c:
        r = await c.post(f"{CONVERSATIONS}/{convs[conv]}/transfer", json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert stored(world.node) == before
