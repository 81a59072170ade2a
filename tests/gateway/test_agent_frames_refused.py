"""What the console's socket refuses, case by case: every agent frame on a conversation
that is unknown, another agent's, ended, closed, ringing for someone else or waiting;
seq and limit out of range; transfers to nobody, to oneself, to an offline or a
deactivated agent; monitoring without the role or beyond the maximum; a send repeated.
Each refusal is the documented error frame (docs/protocol.md, "Error codes", and the
router's codes in docs/routing.md), the socket answers the next frame, and the store is
exactly as before. One real gateway process for the module; malformed frames are the
fuzzer's (tests/security/test_fuzz.py)."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from devkit import services
from devkit.endpoint import Endpoint
from gateway.model.records import Queue
from tests.gateway.client import AgentClient
from tests.gateway.conftest import agent_record, demo_visitor, seed
from tests.poll import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

ERROR_CODES = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
ROUTING_CODES = (Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text()


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    """A gateway whose store holds, besides the demo's, agents a and b (q_support), a
    supervisor in no queue (never offered anything), an agent who never comes online and
    a deactivated one. Offers ring for ten minutes: one rings all along."""
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gw-refused-')}/gateway.db"
    port = services.free_port()
    gone = msgspec.structs.replace(
        agent_record("ag_gone", "gone@test", ["q_support"]), active=False
    )
    seed(
        url,
        queues=[Queue(id="q_billing", name="Billing")],  # nobody's: out of a's sight
        agents=[
            agent_record("ag_a", "a@test", ["q_support"]),
            agent_record("ag_b", "b@test", ["q_support"]),
            agent_record("ag_sup", "sup@test", [], role="supervisor"),
            agent_record("ag_off", "off@test", ["q_support"]),
            gone,
        ],
    )
    env = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_DEMO": "1",
        "GATEWAY_OFFER_TIMEOUT": "600",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_FRAMES_PER_MINUTE": "0",
    }
    gw = services.start_gateway(env, port=port)
    yield gw
    gw.stop()


@dataclass
class World:
    node: services.GatewayProcess
    a: AgentClient
    b: AgentClient
    sup: AgentClient
    convs: dict[str, str]


async def connected(node: services.GatewayProcess, who: str) -> AgentClient:
    agent = AgentClient(node, f"{who}@test", f"pw-ag_{who}")
    await agent.login()
    await agent.connect()
    return agent


async def held(node: Endpoint) -> str:
    """A message left for later: it waits in q_support's Inbox and rings nobody."""
    v = demo_visitor(node)
    await v.bootstrap()
    await v.connect()
    assert v.sock
    await v.sock.send(
        {
            "type": "start",
            "fields": {"name": "Lin", "email": "lin@example.com"},
            "message": "Call me back",
            "client_msg_id": uuid.uuid4().hex,
            "leave_message": True,
        }
    )
    cid = str((await v.sock.expect("started"))["conversation_id"])
    await v.sock.close()  # a left message waits without its visitor
    return cid


async def taken(agent: AgentClient) -> str:
    """A conversation of the agent's: a left message they assign to themselves."""
    cid = await held(agent.node)
    assert (await agent.act("assign", cid))["type"] == "ok"
    return cid


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(node: services.GatewayProcess) -> World:
    a = await connected(node, "a")
    assert a.sock
    await a.sock.send({"type": "status", "status": "away", "ref": "away"})
    await a.sock.expect("ok", ref="away")  # offers ring b only
    b = await connected(node, "b")
    sup = await connected(node, "sup")
    mine, wrapup, closed, others = await taken(a), await taken(a), await taken(a), await taken(b)
    assert (await a.act("end", wrapup))["type"] == "ok"
    assert (await a.act("end", closed))["type"] == "ok"
    assert (await a.act("wrapup", closed, disposition="Resolved"))["type"] == "ok"
    ringing = demo_visitor(node)  # stays: its chat rings for b all along
    await ringing.bootstrap()
    await ringing.connect()
    cv_ring = await ringing.start(name="Ring")
    assert b.sock
    offer = await b.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == cv_ring
    convs = {
        "unknown": "cv_unknown",
        "mine": mine,
        "others": others,
        "wrapup": wrapup,
        "closed": closed,
        "ringing": cv_ring,
        "waiting": await held(node),
    }
    # `started` comes before the routing: the tests compare the store before and after
    # a refusal, and the left message went from new to waiting in between (a CI run)
    await until(
        lambda: {row[0]: row[1] for row in stored(node)["conversations"]}[convs["waiting"]],
        lambda state: state == "waiting",
        what="the left message waiting in the Inbox",
    )
    # left open for the node's stop to close: a client that read few of its frames
    # waits out its close timeout (its reading is paused behind them)
    return World(node, a, b, sup, convs)


def stored(node: services.GatewayProcess) -> dict[str, Any]:
    """What a refusal must not change: every conversation's row, and every message and
    note (read from the node's database file, as the gateway wrote it)."""
    db = node.env["GATEWAY_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db)) as c:
        return {
            "conversations": c.execute(
                "SELECT id, state, owner_agent_id, last_seq, agent_read_seq, agent_unread,"
                " notes, disposition FROM conversations ORDER BY id"
            ).fetchall(),
            "messages": c.execute(
                "SELECT conversation_id, seq, sender_id, client_msg_id, body FROM messages"
                " ORDER BY conversation_id, seq"
            ).fetchall(),
            "notes": c.execute("SELECT id FROM conversation_notes ORDER BY id").fetchall(),
            "statuses": c.execute("SELECT * FROM agent_status ORDER BY 1").fetchall(),
        }


def documented(code: str) -> bool:
    """In docs/protocol.md's error codes, or one of the router's (docs/routing.md)."""
    return f"| `{code}` |" in ERROR_CODES or f"`{code}`" in ROUTING_CODES


async def answered(world: World, who: str, frame: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Send ``frame`` as agent ``who``, then a request that must be answered (the socket
    is open and usable): the error frames that came before that answer."""
    agent: AgentClient = getattr(world, who)
    sock = agent.sock
    assert sock
    sock.drain()
    await sock.send(frame)
    # frames are handled in order (a send before any other frame after it): the answer
    # to this comes after whatever answered ``frame``
    ref = uuid.uuid4().hex[:12]
    home = world.convs["others" if who == "b" else "mine"]
    await sock.send(
        {"type": "links", "conversation_id": home, "attachment_ids": ["at_probe"], "ref": ref}
    )
    await sock.expect("links", ref=ref)
    return [f for f in sock.drain() if f["type"] == "error"]


# (who, frame type, conversation, extra fields, the error code; None: no answer at all)
CASES: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    # -- a conversation that does not exist (actions: tests/gateway/test_bad_input.py)
    ("a", "wrapup", "unknown", {"disposition": "Resolved"}, "not_found"),
    ("a", "transfer", "unknown", {"to_queue_id": "q_support", "note": "n"}, "not_found"),
    ("a", "send", "unknown", {}, "not_found"),
    ("a", "note", "unknown", {"body": "n"}, "not_found"),
    ("a", "typing", "unknown", {"active": True}, "not_found"),
    ("a", "read", "unknown", {"seq": 1}, "not_found"),
    ("a", "history", "unknown", {}, "not_found"),
    ("a", "links", "unknown", {"attachment_ids": ["at_x"]}, "not_found"),
    ("a", "monitor", "unknown", {}, "not_found"),
    ("sup", "monitor", "unknown", {}, "not_found"),
    # -- another agent's (b's, assigned; a is of its queue and sees it)
    ("a", "assign", "others", {}, "already_assigned"),
    ("a", "accept", "others", {}, "already_assigned"),
    ("a", "reject", "others", {}, "already_assigned"),
    ("a", "send_to_inbox", "others", {}, "not_owner"),
    ("a", "end", "others", {}, "not_owner"),
    ("a", "wrapup", "others", {"disposition": "Resolved"}, "not_in_wrapup"),
    ("a", "transfer", "others", {"to_queue_id": "q_support", "note": "n"}, "not_owner"),
    ("a", "transfer", "others", {"to_agent_id": "ag_a", "note": "n"}, "not_owner"),
    ("a", "send", "others", {}, "forbidden"),
    ("a", "note", "others", {"body": "n"}, "forbidden"),
    ("a", "history", "others", {}, "forbidden"),
    ("a", "links", "others", {"attachment_ids": ["at_x"]}, "forbidden"),
    ("a", "monitor", "others", {}, "forbidden"),
    ("a", "typing", "others", {"active": True}, None),
    ("a", "read", "others", {"seq": 1}, None),  # documented: no error, no unread
    # -- ended (a's, in wrap-up)
    ("a", "assign", "wrapup", {}, "already_assigned"),
    ("a", "accept", "wrapup", {}, "already_assigned"),
    ("a", "end", "wrapup", {}, "not_assigned"),
    ("a", "send_to_inbox", "wrapup", {}, "not_assigned"),
    ("a", "transfer", "wrapup", {"to_agent_id": "ag_b", "note": "n"}, "not_assigned"),
    ("a", "send", "wrapup", {}, "conversation_ended"),
    ("a", "wrapup", "wrapup", {"disposition": "Nonsense"}, "invalid_field"),
    ("b", "wrapup", "wrapup", {"disposition": "Resolved"}, "not_owner"),
    ("a", "monitor", "wrapup", {}, "forbidden"),
    # -- closed (a's): the router holds it no more
    ("a", "accept", "closed", {}, "unknown_conversation"),
    ("a", "end", "closed", {}, "unknown_conversation"),
    ("a", "wrapup", "closed", {"disposition": "Resolved"}, "unknown_conversation"),
    ("a", "transfer", "closed", {"to_queue_id": "q_support", "note": "n"}, "unknown_conversation"),
    ("a", "send", "closed", {}, "conversation_ended"),
    ("sup", "monitor", "closed", {}, "forbidden"),
    ("b", "history", "closed", {}, "not_found"),
    ("b", "note", "closed", {"body": "n"}, "not_found"),
    # -- ringing for b
    ("a", "accept", "ringing", {}, "not_offered"),
    ("a", "reject", "ringing", {}, "not_offered"),
    ("a", "end", "ringing", {}, "not_assigned"),
    ("a", "transfer", "ringing", {"to_agent_id": "ag_b", "note": "n"}, "not_assigned"),
    ("a", "wrapup", "ringing", {"disposition": "Resolved"}, "not_in_wrapup"),
    ("a", "send", "ringing", {}, "forbidden"),
    ("a", "note", "ringing", {"body": "n"}, "forbidden"),
    ("a", "history", "ringing", {}, "forbidden"),
    # -- waiting in the Inbox, ringing nobody
    ("a", "accept", "waiting", {}, "not_offered"),
    ("a", "end", "waiting", {}, "not_assigned"),
    ("a", "send_to_inbox", "waiting", {}, "not_assigned"),
    ("a", "send", "waiting", {}, "forbidden"),
    ("a", "note", "waiting", {"body": "n"}, "forbidden"),
    # -- a's own, with a target or a value out of range
    ("a", "transfer", "mine", {"to_agent_id": "ag_nobody", "note": "n"}, "unknown_agent"),
    ("a", "transfer", "mine", {"to_agent_id": "ag_a", "note": "n"}, "invalid_transfer"),
    ("a", "transfer", "mine", {"to_agent_id": "ag_off", "note": "n"}, "agent_unavailable"),
    ("a", "transfer", "mine", {"to_agent_id": "ag_gone", "note": "n"}, "unknown_agent"),
    ("a", "transfer", "mine", {"to_queue_id": "q_nope", "note": "n"}, "invalid_field"),
    ("a", "transfer", "mine", {"to_agent_id": "ag_b", "to_queue_id": "q_support"}, "invalid_field"),
    ("a", "transfer", "mine", {"note": "n"}, "invalid_field"),
    ("a", "transfer", "mine", {"to_agent_id": "ag_b", "note": "n" * 2001}, "invalid_field"),
    ("a", "accept", "mine", {}, "already_assigned"),
    ("a", "wrapup", "mine", {"disposition": "Resolved"}, "not_in_wrapup"),
    ("a", "read", "mine", {"seq": -1}, "invalid_field"),
    ("a", "read", "mine", {"seq": 2**64}, "invalid_field"),
    ("a", "history", "mine", {"limit": 0}, "invalid_field"),
    ("a", "history", "mine", {"limit": -1}, "invalid_field"),
    ("a", "history", "mine", {"limit": 10**9}, "invalid_field"),
    ("a", "history", "mine", {"before_seq": -1}, "invalid_field"),
    ("a", "send", "mine", {"attachments": ["at_not_mine"]}, "not_found"),
    ("a", "note", "mine", {"body": " \n "}, "invalid_field"),
    ("a", "monitor", "mine", {}, "forbidden"),
    ("a", "live", "", {}, "forbidden"),
]


ACTIONS = ("assign", "accept", "reject", "end", "send_to_inbox", "wrapup", "transfer")


def frame_of(world: World, type_: str, conv: str, extra: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": type_, **extra}
    if conv:
        frame["conversation_id"] = world.convs[conv]
    if type_ in (*ACTIONS, "note", "links"):  # echoed in their ok or error
        frame["ref"] = uuid.uuid4().hex[:12]
    elif type_ == "send":
        frame.setdefault("body", "" if "attachments" in extra else "hello")
        frame["client_msg_id"] = uuid.uuid4().hex
    return frame


@pytest.mark.parametrize(
    ("who", "type_", "conv", "extra", "code"),
    CASES,
    ids=[f"{w}-{t}-{c or 'none'}-{i}" for i, (w, t, c, _, _) in enumerate(CASES)],
)
async def test_a_refused_frame_is_answered_and_changes_nothing(
    world: World, who: str, type_: str, conv: str, extra: dict[str, Any], code: str | None
) -> None:
    frame = frame_of(world, type_, conv, extra)
    before = stored(world.node)
    errors = await answered(world, who, frame)
    if code is None:
        assert errors == []
    else:
        assert [e["code"] for e in errors] == [code], errors
        assert documented(code)
        # the request's ref, also where the decoder refused the frame
        assert errors[0].get("ref", "") == frame.get("ref", frame.get("client_msg_id", ""))
    assert stored(world.node) == before


@pytest.mark.parametrize(
    ("type_", "conv", "says"),
    [
        ("note", "others", "this conversation is assigned to another agent"),
        ("history", "others", "this conversation is assigned to another agent"),
        ("history", "ringing", "preview of this conversation is not allowed for your role"),
        ("history", "waiting", "preview of this conversation is not allowed for your role"),
    ],
)
async def test_a_read_refusal_says_why(world: World, type_: str, conv: str, says: str) -> None:
    """Whose it is, or the touchpoint's preview rule: the reason the agent can act on (a
    note on another agent's chat was refused as a preview "not allowed for your role")."""
    errors = await answered(
        world, "a", frame_of(world, type_, conv, {"body": "n"} if type_ == "note" else {})
    )
    assert [(e["code"], e["message"]) for e in errors] == [("forbidden", says)], errors


async def test_a_refused_frame_nested_past_the_decoders_depth_is_answered(world: World) -> None:
    """A frame the decoder refuses whose ``ref`` cannot be read either (nested a thousand
    deep: msgspec stops with a RecursionError): answered without a ref, the socket open."""
    deep = "[" * 1000 + "]" * 1000
    frame = '{"type":"note","conversation_id":"cv_x","ref":"deep","body":' + deep + "}"
    before = stored(world.node)
    errors = await answered(world, "a", frame)
    assert len(errors) == 1 and documented(errors[0]["code"]), errors
    assert stored(world.node) == before


async def test_a_send_repeated_is_acked_twice_and_stored_once(world: World) -> None:
    a = world.a
    assert a.sock
    frame = {
        "type": "send",
        "conversation_id": world.convs["mine"],
        "client_msg_id": uuid.uuid4().hex,
        "body": "once",
    }
    await a.sock.send(frame)
    first = await a.sock.expect("ack", client_msg_id=frame["client_msg_id"])
    before = stored(world.node)
    await a.sock.send({**frame, "body": "twice"})
    again = await a.sock.expect("ack", client_msg_id=frame["client_msg_id"])
    assert (first.get("duplicate", False), again["duplicate"]) == (False, True)
    assert again["seq"] == first["seq"] and again["message"]["body"] == "once"
    assert stored(world.node) == before


@pytest.mark.parametrize("moved", ["ended", "transferred", "out of sight"])
async def test_a_send_retried_after_its_conversation_moved_on_is_acked_as_a_duplicate(
    world: World, moved: str
) -> None:
    """The console saw no ack (a dropped connection) and sends again, but meanwhile the
    conversation ended, went to another agent, or to a queue the agent is not in (it
    may not even see it now): the message stored the first time is acked, not refused,
    so the console does not show a delivered message as failed. A new message is still
    refused, and nothing is stored twice."""
    a = world.a
    assert a.sock
    cid = await taken(a)
    frame = {"type": "send", "conversation_id": cid, "client_msg_id": uuid.uuid4().hex}
    await a.sock.send({**frame, "body": "sent before"})
    first = await a.sock.expect("ack", client_msg_id=frame["client_msg_id"])
    if moved == "ended":
        assert (await a.act("end", cid))["type"] == "ok"
    elif moved == "transferred":
        assert (await a.act("transfer", cid, to_agent_id="ag_b"))["type"] == "ok"
    else:
        assert (await a.act("transfer", cid, to_queue_id="q_billing"))["type"] == "ok"
    before = stored(world.node)
    await a.sock.send({**frame, "body": "sent before"})
    # the only request in flight: its ack, or its error (whose ``ref`` names it)
    again = await a.sock.expect_any(("ack", "error"))
    assert again["type"] == "ack", again
    assert again["client_msg_id"] == frame["client_msg_id"]
    assert again["duplicate"] is True and again["seq"] == first["seq"]
    assert again["message"]["body"] == "sent before"
    errors = await answered(
        world, "a", {**frame, "client_msg_id": uuid.uuid4().hex, "body": "a new one"}
    )
    refused = {"ended": "conversation_ended", "transferred": "forbidden"}.get(moved, "not_found")
    assert [e["code"] for e in errors] == [refused]
    assert stored(world.node) == before


async def test_monitoring_beyond_the_maximum_is_refused_with_a_documented_code(
    world: World,
) -> None:
    """A socket of its own (the module's supervisor socket monitors nothing): 20
    conversations are followed, the 21st is refused with a code docs/protocol.md lists
    and is not followed (its messages do not reach the socket); turning one off makes
    room."""
    sup = AgentClient(world.node, "sup@test", "pw-ag_sup", token=world.sup.token)
    await sup.connect()
    assert sup.sock
    open_ids = [await held(world.node) for _ in range(21)]
    for cid in open_ids[:20]:
        await sup.sock.send({"type": "monitor", "conversation_id": cid})
        await sup.sock.expect("ok", ref=f"monitor:{cid}")
    world_sup = World(world.node, world.a, world.b, sup, world.convs)
    errors = await answered(world_sup, "sup", {"type": "monitor", "conversation_id": open_ids[20]})
    assert [e["code"] for e in errors] == ["too_many_monitors"]
    assert documented("too_many_monitors")
    # not followed: b takes it and writes; the socket gets nothing of it (another
    # socket that follows it is told, so it was sent by then)
    watcher = await connected(world.node, "sup")
    assert watcher.sock
    await watcher.sock.send({"type": "monitor", "conversation_id": open_ids[20]})
    await watcher.sock.expect("ok", ref=f"monitor:{open_ids[20]}")
    assert (await world.b.act("assign", open_ids[20]))["type"] == "ok"
    said = await world.b.say(open_ids[20], "followed by one socket only")
    await watcher.sock.expect("message", seq=said["seq"], conversation_id=open_ids[20])
    await answered(world_sup, "sup", {"type": "live"})
    assert not [
        f for f in sup.sock.seen if f["type"] == "message" and f["conversation_id"] == open_ids[20]
    ]
    # one turned off makes room for it
    await sup.sock.send({"type": "monitor", "conversation_id": open_ids[0], "on": False})
    await sup.sock.expect("ok", ref=f"monitor:{open_ids[0]}")
    await sup.sock.send({"type": "monitor", "conversation_id": open_ids[20]})
    await sup.sock.expect("ok", ref=f"monitor:{open_ids[20]}")


async def test_the_gateway_logged_no_unexpected_error(world: World) -> None:
    """Last: none of the above reached the catch-all (an ``internal`` error frame)."""
    assert world.node.alive()
    log = world.node.output()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
