"""An Inbox row carries the contact's text only to agents who may read the conversation
(PRODUCT.md, "Preview of Inbox conversations ... when the touchpoint allows it for the
agent's role"): on the live update and in the snapshot on connect, over a real process
and real agent sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from devkit.services import GatewayProcess
from gateway.model.records import FormField, Role, Touchpoint
from tests.gateway.client import AgentClient, Socket, Visitor
from tests.gateway.conftest import agent_record, seed

SECRET = "my card number is 4111"
LATER = "and my PIN is 1234"


def held_touchpoint(tp_id: str, port: int, preview_roles: list[Role]) -> Touchpoint:
    """A chat touchpoint whose conversations wait in q_support's Inbox, ringing nobody,
    until an agent assigns one."""
    return Touchpoint(
        id=tp_id,
        name=tp_id,
        channel="chat",
        active=True,
        routing_mode="flow",
        domain=f"127.0.0.1:{port}",
        queue_ids=["q_support"],
        flow={"default": {"queue_ids": ["q_support"], "priority": 1, "acceptance": "hold"}},
        form=[FormField(name="name", label="Your name", max_length=80)],
        preview_roles=preview_roles,
        created_at=time.time(),
    )


def node_with(
    gateway_factory: Callable[..., GatewayProcess], preview_roles: list[Role]
) -> GatewayProcess:
    """A gateway with touchpoint ``tp_held`` (``preview_roles``) and agent ``ag_b``
    (role agent, q_support)."""

    def setup(url: str, port: int) -> None:
        seed(
            url,
            agents=[agent_record("ag_b", "b@test", ["q_support"])],
            touchpoints=[held_touchpoint("tp_held", port, preview_roles)],
        )

    return gateway_factory(setup=setup)


async def agent_b(node: GatewayProcess) -> AgentClient:
    b = AgentClient(node, "b@test", "pw-ag_b")
    await b.login()
    await b.connect()
    return b


async def waiting_chat(node: GatewayProcess) -> tuple[Visitor, str]:
    """A visitor of ``tp_held`` whose conversation, started with SECRET, waits."""
    v = Visitor(
        node,
        "tp_held",
        f"http://127.0.0.1:{node.port}/demo",
        origin=f"http://127.0.0.1:{node.port}",
    )
    await v.bootstrap()
    await v.connect()
    return v, await v.start(SECRET, name="Lin")


async def inbox_row(sock: Socket, cid: str, **match: Any) -> dict[str, Any]:
    """The next ``conversation`` frame of ``cid`` in the Inbox matching ``match``."""
    while True:
        frame = await sock.expect("conversation")
        row: dict[str, Any] = frame["conversation"]
        if row["conversation_id"] == cid and all(row.get(k) == v for k, v in match.items()):
            assert row["place"] == "inbox", row
            return frame


def snapshot_row(agent: AgentClient, cid: str) -> dict[str, Any]:
    rows = [r for r in agent.snapshot["inbox"] if r["conversation_id"] == cid]
    assert len(rows) == 1, agent.snapshot["inbox"]
    return rows[0]


async def test_an_agent_whose_role_may_not_preview_gets_no_text_in_inbox_rows(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    node = node_with(gateway_factory, ["supervisor", "admin"])
    b = await agent_b(node)
    assert b.sock
    v, cid = await waiting_chat(node)

    # The live row: the conversation is there, with its count, and none of its text.
    arrived = await inbox_row(b.sock, cid)
    assert arrived["conversation"]["unread"] == 1 and not arrived["conversation"].get("preview")
    assert "last_message" not in arrived["conversation"]
    assert SECRET not in json.dumps(arrived)
    await v.say(LATER)
    later = await inbox_row(b.sock, cid, unread=2)
    assert LATER not in json.dumps(later) and SECRET not in json.dumps(later)

    # The snapshot on connect (a reload, a reconnect): the same row, no text either.
    await b.sock.close()
    await b.connect()
    row = snapshot_row(b, cid)
    assert row["unread"] == 2 and "last_message" not in row
    assert LATER not in json.dumps(b.snapshot) and SECRET not in json.dumps(b.snapshot)
    # nor by asking for its history
    assert b.sock
    await b.sock.send({"type": "history", "conversation_id": cid})
    refused = await b.sock.expect_any(("history", "error"))
    assert (refused["type"], refused.get("code")) == ("error", "forbidden"), refused

    # Its owner reads it: once b assigns it, b's row carries the text.
    assert (await b.act("assign", cid))["type"] == "ok"
    assert b.sock
    mine = await b.sock.expect("conversation")
    while mine["conversation"]["place"] != "assigned":
        mine = await b.sock.expect("conversation")
    assert mine["conversation"]["last_message"] == LATER


async def test_an_agent_whose_role_may_preview_gets_the_text_and_its_history(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    node = node_with(gateway_factory, ["agent", "supervisor", "admin"])
    b = await agent_b(node)
    assert b.sock
    v, cid = await waiting_chat(node)

    arrived = (await inbox_row(b.sock, cid))["conversation"]
    assert arrived["preview"] is True and arrived["last_message"] == SECRET
    await v.say(LATER)
    assert (await inbox_row(b.sock, cid, unread=2))["conversation"]["last_message"] == LATER

    await b.sock.close()
    await b.connect()
    row = snapshot_row(b, cid)
    assert row["preview"] is True and row["last_message"] == LATER

    # The preview itself: the history of a conversation b does not own.
    assert b.sock
    await b.sock.send({"type": "history", "conversation_id": cid})
    history = await b.sock.expect_any(("history", "error"))
    assert history["type"] == "history", history
    bodies = [i.get("body") for i in history["items"] if i["type"] == "message"]
    assert bodies == [SECRET, LATER]
