"""A supervisor's monitors of conversations that have closed since no longer count
towards the 20 one console socket may follow (docs/protocol.md, ``monitor``): 20
monitored conversations close, a 21st can be monitored, the bound still holds for
open ones (one in wrap-up included), and the closed ones send the socket nothing more.
One real gateway process and real sockets."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devkit import services
from tests.gateway.client import AgentClient, Socket
from tests.gateway.conftest import agent_record, seed
from tests.gateway.test_agent_frames_refused import connected, held

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_MONITORS = 20  # docs/protocol.md, the `monitor` row


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    """Agent a takes and closes the conversations; the supervisor, in no queue, only
    monitors them."""
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gw-monitor-')}/gateway.db"
    seed(
        url,
        agents=[
            agent_record("ag_a", "a@test", ["q_support"]),
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


async def monitor(sock: Socket, cid: str) -> dict[str, Any]:
    """Monitor ``cid``: its ``ok`` or ``error`` frame (one at a time: the frame names no
    ref of its own, so a refusal's ``ref`` is empty)."""
    await sock.send({"type": "monitor", "conversation_id": cid})
    return await sock.expect_any(("ok", "error"))


async def ok(agent: AgentClient, type_: str, cid: str, **fields: Any) -> None:
    answer = await agent.act(type_, cid, **fields)
    assert answer["type"] == "ok", answer


async def test_monitors_of_closed_conversations_make_room(
    node: services.GatewayProcess,
) -> None:
    a = await connected(node, "a")
    sup = await connected(node, "sup")
    assert a.sock and sup.sock
    watched = [await held(node) for _ in range(MAX_MONITORS)]
    for cid in watched:
        assert (await monitor(sup.sock, cid))["type"] == "ok"
    # all 20 end (wrap-up); 19 of them close, one stays in wrap-up, still open
    for cid in watched:
        await ok(a, "assign", cid)
        await ok(a, "end", cid)
    for cid in watched[1:]:
        await ok(a, "wrapup", cid, disposition="Resolved")
    # the socket is told of each close (the live view's `gone`): what the console
    # ends its monitoring view on
    closed = set(watched[1:])
    while closed:
        update = await sup.sock.expect("live_update")
        closed -= set(update.get("gone", []))
    told = len(sup.sock.seen)

    # a new one is monitored: the closed 19 no longer count...
    fresh = [await held(node) for _ in range(MAX_MONITORS)]
    assert (await monitor(sup.sock, fresh[0])) == {"type": "ok", "ref": f"monitor:{fresh[0]}"}
    # ... while the one in wrap-up does: the bound still holds for open conversations
    for cid in fresh[1:-1]:
        assert (await monitor(sup.sock, cid))["type"] == "ok"
    refused = await monitor(sup.sock, fresh[-1])
    assert refused["type"] == "error" and refused["code"] == "too_many_monitors", refused
    # the wrap-up one closes: it makes room in its turn
    await ok(a, "wrapup", watched[0], disposition="Resolved")
    assert (await monitor(sup.sock, fresh[-1]))["type"] == "ok"

    # a monitored conversation is followed; the closed ones sent nothing after their
    # close (the message below is sent after every close, so by its arrival anything
    # of theirs would have come)
    await ok(a, "assign", fresh[0])
    said = await a.say(fresh[0], "followed")
    await sup.sock.expect("message", seq=said["seq"], conversation_id=fresh[0])
    after = [
        f
        for f in sup.sock.seen[told:]
        if f["type"] in ("message", "event") and f["conversation_id"] in watched
    ]
    assert after == [], after
    # turning a dropped monitor off is answered as any other
    await sup.sock.send({"type": "monitor", "conversation_id": watched[1], "on": False})
    await sup.sock.expect("ok", ref=f"monitor:{watched[1]}")
    ref = uuid.uuid4().hex[:12]
    await sup.sock.send({"type": "status", "status": "available", "ref": ref})
    await sup.sock.expect("ok", ref=ref)
    assert not [f for f in sup.sock.drain() if f["type"] == "error"]


async def test_the_gateway_logged_no_unexpected_error(node: services.GatewayProcess) -> None:
    assert node.alive()
    log = node.output()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
