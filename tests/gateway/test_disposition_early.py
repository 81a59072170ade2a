"""The disposition chosen before the wrap-up (FAQ 12: notes and dispositions "at that
stage or even before"): the ``disposition`` frame, while the conversation is assigned or
in wrap-up, by its agent or a supervisor; stored at once, carried by the agent's rows on
every console of theirs, kept by a wrap-up that names none and replaced by one that
names another. Refusals: another agent, a disposition not in the set, a closed or
unknown conversation, one nobody holds; each changes nothing. One real gateway process
for the module (docs/protocol.md, the ``disposition`` frame)."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from devkit import services
from tests.gateway.client import AgentClient
from tests.gateway.conftest import agent_record, seed
from tests.gateway.test_agent_frames_refused import connected, held

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    """The demo (its disposition set: Resolved, Follow-up, Spam), with agents a and b of
    q_support and a supervisor in no queue."""
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gw-disposition-')}/gateway.db"
    seed(
        url,
        agents=[
            agent_record("ag_a", "a@test", ["q_support"]),
            agent_record("ag_b", "b@test", ["q_support"]),
            agent_record("ag_sup", "sup@test", [], role="supervisor"),
        ],
    )
    env = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_DEMO": "1",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_FRAMES_PER_MINUTE": "0",
    }
    gw = services.start_gateway(env, port=services.free_port())
    yield gw
    gw.stop()


@dataclass
class World:
    node: services.GatewayProcess
    a: AgentClient
    a2: AgentClient  # a's second console
    b: AgentClient
    sup: AgentClient


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(node: services.GatewayProcess) -> World:
    a = await connected(node, "a")
    a2 = AgentClient(node, "a@test", "pw-ag_a", token=a.token)
    await a2.connect()
    return World(node, a, a2, await connected(node, "b"), await connected(node, "sup"))


async def taken(world: World) -> str:
    """One of a's conversations, assigned."""
    cid = await held(world.node)
    assert (await world.a.act("assign", cid))["type"] == "ok"
    return cid


def row(node: services.GatewayProcess, cid: str) -> tuple[str, str, str]:
    """(state, notes, disposition) as the gateway stored them."""
    db = node.env["GATEWAY_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db)) as c:
        found = c.execute(
            "SELECT state, notes, disposition FROM conversations WHERE id = ?", (cid,)
        ).fetchone()
    assert found is not None, cid
    return found[0], found[1], found[2]


def ok(answer: dict[str, Any]) -> None:
    assert answer["type"] == "ok", answer


async def shown(agent: AgentClient, cid: str, disposition: str) -> dict[str, Any]:
    """The row of ``cid`` that says ``disposition`` (absent from the row when empty)."""
    assert agent.sock
    while True:
        frame = await agent.sock.expect("conversation")
        conv = frame["conversation"]
        if conv["conversation_id"] == cid and conv.get("disposition", "") == disposition:
            return dict(conv)


async def test_chosen_while_assigned_it_is_stored_shown_and_kept_by_the_wrapup(
    world: World,
) -> None:
    a, a2 = world.a, world.a2
    cid = await taken(world)
    ok(await a.act("disposition", cid, disposition="Follow-up"))
    assert row(world.node, cid) == ("assigned", "", "Follow-up")
    # every console of the agent: the row carries it
    assert (await shown(a2, cid, "Follow-up"))["place"] == "assigned"
    await shown(a, cid, "Follow-up")
    # chosen again, then cleared, then chosen
    ok(await a.act("disposition", cid, disposition="Spam"))
    assert row(world.node, cid)[2] == "Spam"
    ok(await a.act("disposition", cid, disposition=""))
    assert row(world.node, cid)[2] == ""
    assert "disposition" not in await shown(a2, cid, "")
    ok(await a.act("disposition", cid, disposition="Resolved"))
    await shown(a2, cid, "Resolved")
    # a console that connects now has it in its snapshot
    later = AgentClient(world.node, "a@test", "pw-ag_a", token=a.token)
    snapshot = await later.connect()
    assert [c.get("disposition") for c in snapshot["assigned"] if c["conversation_id"] == cid] == [
        "Resolved"
    ]
    assert later.sock
    await later.sock.close()
    # the wrap-up names none: "a disposition is required" is met by the one chosen
    ok(await a.act("end", cid))
    assert (await shown(a2, cid, "Resolved"))["place"] == "wrapup"
    ok(await a.act("wrapup", cid, notes="Called back"))
    assert row(world.node, cid) == ("closed", "Called back", "Resolved")


async def test_chosen_in_wrap_up_or_replaced_by_the_wrapup(world: World) -> None:
    a = world.a
    cid = await taken(world)
    ok(await a.act("end", cid))
    ok(await a.act("disposition", cid, disposition="Spam"))
    assert row(world.node, cid) == ("wrapup", "", "Spam")
    ok(await a.act("wrapup", cid, notes="n", disposition="Follow-up"))
    assert row(world.node, cid) == ("closed", "n", "Follow-up")


async def test_a_wrapup_without_one_still_needs_one_when_none_was_chosen(world: World) -> None:
    a = world.a
    cid = await taken(world)
    ok(await a.act("end", cid))
    refused = await a.act("wrapup", cid, notes="n")
    assert (refused["type"], refused["code"]) == ("error", "invalid_field")
    assert "a disposition is required" in refused["message"]
    assert row(world.node, cid) == ("wrapup", "", "")


async def test_a_supervisor_chooses_for_the_agent_who_is_shown_it(world: World) -> None:
    cid = await taken(world)
    ok(await world.sup.act("disposition", cid, disposition="Follow-up"))
    assert row(world.node, cid) == ("assigned", "", "Follow-up")
    await shown(world.a, cid, "Follow-up")
    await shown(world.a2, cid, "Follow-up")


@pytest.mark.parametrize(
    ("who", "which", "disposition", "code"),
    [
        ("b", "assigned", "Resolved", "forbidden"),  # a's, in b's queue: b sees it
        ("b", "wrapup", "Resolved", "forbidden"),
        ("a", "assigned", "Nonsense", "invalid_field"),
        ("a", "closed", "Resolved", "unknown_conversation"),
        ("sup", "closed", "Resolved", "unknown_conversation"),
        ("b", "closed", "Resolved", "not_found"),  # b may not even see it
        ("a", "unknown", "Resolved", "not_found"),
        ("sup", "waiting", "Resolved", "not_assigned"),  # nobody holds it
        ("a", "waiting", "Resolved", "forbidden"),
    ],
)
async def test_refused_and_nothing_changes(
    world: World, who: str, which: str, disposition: str, code: str
) -> None:
    a = world.a
    if which == "unknown":
        cid = "cv_unknown"
    elif which == "waiting":
        cid = await held(world.node)
    else:
        cid = await taken(world)
        ok(await a.act("disposition", cid, disposition="Spam"))
        if which in ("wrapup", "closed"):
            ok(await a.act("end", cid))
        if which == "closed":
            ok(await a.act("wrapup", cid))
    before = row(world.node, cid) if which != "unknown" else None
    refused = await getattr(world, who).act("disposition", cid, disposition=disposition)
    assert (refused["type"], refused["code"]) == ("error", code), refused
    if before is not None:  # (a left message goes from new to waiting meanwhile)
        assert row(world.node, cid)[1:] == before[1:]


async def test_the_gateway_logged_no_unexpected_error(world: World) -> None:
    assert world.node.alive()
    log = world.node.output()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
