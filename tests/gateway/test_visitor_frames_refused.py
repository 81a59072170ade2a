"""What the widget's socket refuses, case by case: every visitor frame on a conversation
that is unknown, another visitor's, ended or closed; seq and limit out of range; a rating
out of range, repeated or of an open conversation; a transcript to a bad address; a start
with fields the form does not have; files that are not the visitor's; a second hello.
Each refusal is the documented error frame (docs/protocol.md, "Error codes" and "Visitor
frames"), its ``ref`` names the request, the socket answers the next frame, and the store
is exactly as before; another visitor's conversation is ``not_found``, as one that does
not exist. One real gateway process for the module; malformed frames are the fuzzer's
(tests/security/test_fuzz.py), the agent's socket is tests/gateway/test_agent_frames_refused.py."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from devkit import services
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.poll import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gw-vrefused-')}/gateway.db"
    env = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_DEMO": "1",
        "GATEWAY_OFFER_TIMEOUT": "600",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_FRAMES_PER_MINUTE": "0",
    }
    gw = services.start_gateway(env, port=services.free_port())
    yield gw
    gw.stop()


@dataclass
class World:
    node: services.GatewayProcess
    v: Visitor
    w: Visitor
    fresh: Visitor  # no conversation yet
    convs: dict[str, str]
    files: dict[str, str]


async def upload(visitor: Visitor, name: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            visitor.node.base_url + "/widget/attachments",
            params={"name": name},
            content=b"plain text\n",
            headers={"Authorization": f"Bearer {visitor.token}", "Origin": visitor.origin},
        )
    r.raise_for_status()
    return str(r.json()["attachment"]["id"])


async def left(visitor: Visitor, message: str) -> str:
    """A message left for later (held in the Inbox, ringing nobody), its conversation."""
    assert visitor.sock
    cmid = uuid.uuid4().hex
    await visitor.sock.send(
        {
            "type": "start",
            "fields": {"name": "Lin", "email": "lin@example.com"},
            "message": message,
            "client_msg_id": cmid,
            "leave_message": True,
        }
    )
    cid = str((await visitor.sock.expect("started"))["conversation_id"])
    await visitor.sock.expect("ack", client_msg_id=cmid)
    return cid


async def ended(visitor: Visitor, cid: str) -> None:
    assert visitor.sock
    ref = uuid.uuid4().hex[:12]
    await visitor.sock.send({"type": "end", "conversation_id": cid, "ref": ref})
    await visitor.sock.expect("ok", ref=ref)


async def connected(node: services.GatewayProcess) -> Visitor:
    v = demo_visitor(node)
    await v.bootstrap()
    await v.connect()
    return v


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(node: services.GatewayProcess) -> World:
    agent: AgentClient = demo_agent(node)
    await agent.login()
    await agent.connect()
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "away"})
    await agent.sock.expect("ok", ref="away")
    v, w = await connected(node), await connected(node)
    # v: one in wrap-up (taken by the agent, ended by v), one closed and rated, one open
    wrapup = await left(v, "first")
    assert (await agent.act("assign", wrapup))["type"] == "ok"
    await ended(v, wrapup)
    closed = await left(v, "second")
    await ended(v, closed)
    assert v.sock
    await v.sock.send({"type": "rate", "conversation_id": closed, "score": 4, "ref": "rated"})
    await v.sock.expect("ok", ref="rated")
    mine = await left(v, "third")
    # w: one ended, one open with a file in it
    w_ended = await left(w, "w first")
    await ended(w, w_ended)
    others = await left(w, "w second")
    files = {"mine": await upload(v, "mine.txt"), "others": await upload(w, "others.txt")}
    files["sent"] = await upload(v, "sent.txt")
    await v.sock.send(
        {"type": "send", "body": "", "client_msg_id": "with-file", "attachments": [files["sent"]]}
    )
    await v.sock.expect("ack", client_msg_id="with-file")
    for cid in (wrapup, closed, mine):  # all read: a read beyond last_seq changes nothing
        await v.sock.send({"type": "read", "conversation_id": cid, "seq": 2**40})
        await v.sock.expect("unread", conversation_id=cid)
    convs = {
        "unknown": "cv_unknown",
        "mine": mine,
        "wrapup": wrapup,
        "closed": closed,
        "others": others,
        "others_ended": w_ended,
    }
    # `started` comes before the routing: the tests compare the store before and after
    # a refusal, and a left message goes from new to waiting in between (as in
    # test_agent_frames_refused, where a CI run caught it)
    await until(
        lambda: states(node),
        lambda now: now[mine] == now[others] == "waiting",
        what="the left messages waiting in the Inbox",
    )
    return World(node, v, w, await connected(node), convs, files)


def rows(node: services.GatewayProcess, sql: str) -> list[Any]:
    db = node.env["GATEWAY_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db)) as c:
        return c.execute(sql).fetchall()


def stored(node: services.GatewayProcess) -> dict[str, Any]:
    """What a refusal must not change: conversations, messages, ratings, contacts, files
    and transcripts as the gateway wrote them."""
    tables = ("conversations", "messages", "ratings", "contacts", "attachments", "transcripts")
    return {table: rows(node, f"SELECT * FROM {table} ORDER BY 1") for table in tables}


def states(node: services.GatewayProcess) -> dict[str, str]:
    return dict(rows(node, "SELECT id, state FROM conversations"))


def documented(code: str) -> bool:
    return f"| `{code}` |" in PROTOCOL or f"`{code}`" in PROTOCOL.split("## Visitor frames")[1]


async def answered(
    world: World, frame: dict[str, Any] | str, who: str = "v"
) -> list[dict[str, Any]]:
    """Send ``frame`` as visitor ``who``, then a request that must be answered (the
    socket is open and usable): the error frames that came before that answer (for the
    visitor with no conversation, a ``no_conversation`` error)."""
    sock = getattr(world, who).sock
    assert sock
    sock.drain()
    await sock.send(frame)
    # a visitor's frames are handled one at a time, in order
    ref = uuid.uuid4().hex[:12]
    probe: dict[str, Any] = {"type": "links", "attachment_ids": ["at_probe"], "ref": ref}
    if who == "v":
        probe["conversation_id"] = world.convs["mine"]
    await sock.send(probe)
    await sock.expect_any(("links", "error"), ref=ref)
    return [f for f in sock.drain() if f["type"] == "error" and f.get("ref") != ref]


FORM = {"name": "Lin", "email": "lin@example.com"}

# (frame type, conversation, extra fields, the error code; None: no answer at all)
CASES: list[tuple[str, str, dict[str, Any], str | None]] = [
    # -- a conversation that does not exist, or another visitor's: alike
    *[
        (t, conv, extra, "not_found")
        for conv in ("unknown", "others", "others_ended")
        for t, extra in (
            ("send", {}),
            ("typing", {"active": True}),
            ("read", {"seq": 1}),
            ("history", {}),
            ("links", {"attachment_ids": ["at_x"]}),
            ("end", {}),
            ("rate", {"score": 5}),
            ("transcript", {"email": "lin@example.com"}),
        )
    ],
    # -- ended (wrap-up) or closed, the visitor's own
    ("send", "wrapup", {}, "conversation_ended"),
    ("send", "closed", {}, "conversation_ended"),
    # typing to an ended one tells nobody (it may cross the end): no error, as the agent's
    ("typing", "wrapup", {"active": True}, None),
    ("typing", "closed", {"active": True}, None),
    # read up to beyond last_seq: all of it (the store clamps the marker), read already
    ("read", "closed", {"seq": 2**40}, None),
    ("end", "closed", {}, None),  # ending an ended one is not an error
    ("rate", "closed", {"score": 5}, "already_rated"),
    ("rate", "wrapup", {"score": 0}, "invalid_field"),
    ("rate", "wrapup", {"score": 6}, "invalid_field"),
    ("rate", "wrapup", {"score": -1}, "invalid_field"),
    ("rate", "mine", {"score": 5}, "not_ended"),
    ("transcript", "wrapup", {"email": "not an address"}, "invalid_field"),
    ("transcript", "wrapup", {"email": "lin@example.com"}, "transcript_unavailable"),
    ("transcript", "mine", {"email": "lin@example.com"}, "not_ended"),
    # -- the open one, values out of range
    ("read", "mine", {"seq": -1}, "invalid_field"),
    ("read", "mine", {"seq": 2**64}, "invalid_field"),
    ("read", "mine", {"seq": 2**40}, None),  # beyond last_seq: clamped, read already
    ("history", "mine", {"limit": 0}, "invalid_field"),
    ("history", "mine", {"limit": -1}, "invalid_field"),
    ("history", "mine", {"limit": 10**9}, "invalid_field"),
    ("history", "mine", {"before_seq": -1}, "invalid_field"),
    ("send", "mine", {"attachments": ["at_nobodys"]}, "not_found"),
    ("send", "mine", {"attachments": ["@others"]}, "not_found"),
    ("send", "", {"attachments": ["@others"]}, "not_found"),
    ("send", "mine", {"attachments": ["@sent"]}, "not_found"),  # sent already
    # -- start: one is open (the fields are not read then), or the form refuses them
    ("start", "", {"fields": {"colour": "red"}, "leave_message": True}, "invalid_field"),
    ("start", "", {"fields": {"name": "x" * 1001}}, "invalid_field"),
    ("start", "", {"fields": {"k" * 65: "x"}}, "invalid_field"),
    ("start", "", {"fields": {"email": "not an address"}, "message": " "}, "invalid_field"),
    # -- a visitor with no conversation: nothing to write in, a form refused whole
    *[
        (t, "fresh", extra, "no_conversation")
        for t, extra in (
            ("send", {}),
            ("typing", {"active": True}),
            ("read", {"seq": 1}),
            ("history", {}),
            ("links", {"attachment_ids": ["at_x"]}),
            ("end", {}),
        )
    ],
    ("start", "fresh", {"fields": {"colour": "red"}, "message": "hi"}, "invalid_field"),
    ("start", "fresh", {"fields": {"name": "x" * 81}, "message": "hi"}, "invalid_field"),
    ("start", "fresh", {"fields": {"email": "nope"}, "message": "hi"}, "invalid_field"),
    ("start", "fresh", {"fields": FORM, "message": " "}, "invalid_field"),
    (
        "start",
        "fresh",
        {"fields": {"name": "Lin"}, "message": "hi", "leave_message": True},
        "invalid_field",
    ),
    ("start", "fresh", {"fields": FORM, "leave_message": True}, "invalid_field"),
    ("start", "fresh", {"fields": FORM, "message": "hi", "client_msg_id": ""}, "invalid_field"),
    # -- a hello again, mid-session
    ("hello", "", {"v": 1, "token": "x"}, "bad_frame"),
]

REF_FIELD = {"send": "client_msg_id", "start": "client_msg_id"}


def frame_of(world: World, type_: str, conv: str, extra: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": type_, **extra}
    if conv and conv != "fresh":
        frame["conversation_id"] = world.convs[conv]
    if "attachments" in frame:
        frame["attachments"] = [
            world.files[a[1:]] if a.startswith("@") else a for a in frame["attachments"]
        ]
    if type_ in ("send", "start"):
        frame.setdefault("client_msg_id", uuid.uuid4().hex)
        if type_ == "send":
            frame.setdefault("body", "" if "attachments" in extra else "hello")
    elif type_ in ("end", "rate", "transcript", "links"):
        frame["ref"] = uuid.uuid4().hex[:12]
    return frame


@pytest.mark.parametrize(
    ("type_", "conv", "extra", "code"),
    CASES,
    ids=[f"{t}-{c or 'none'}-{i}" for i, (t, c, _, _) in enumerate(CASES)],
)
async def test_a_refused_visitor_frame_is_answered_and_changes_nothing(
    world: World, type_: str, conv: str, extra: dict[str, Any], code: str | None
) -> None:
    frame = frame_of(world, type_, conv, extra)
    before = stored(world.node)
    errors = await answered(world, frame, "fresh" if conv == "fresh" else "v")
    if code is None:
        assert errors == []
    else:
        assert [e["code"] for e in errors] == [code], errors
        assert documented(code), code
        assert errors[0].get("ref", "") == frame.get("ref", frame.get("client_msg_id", ""))
    if conv in ("others", "others_ended"):
        # told exactly what a conversation that does not exist is told
        unknown = await answered(world, frame_of(world, type_, "unknown", extra))
        assert [(e["code"], e["message"]) for e in errors] == [
            (e["code"], e["message"]) for e in unknown
        ]
    assert stored(world.node) == before


async def test_start_again_with_other_fields_keeps_the_open_conversation(world: World) -> None:
    """A second start while one is open (another tab's form): its message goes to the
    open conversation, its fields change nothing of the contact."""
    sock = world.v.sock
    assert sock
    before = stored(world.node)
    cmid = uuid.uuid4().hex
    await sock.send(
        {
            "type": "start",
            "fields": {"name": "Someone Else", "email": "else@example.com"},
            "message": "again",
            "client_msg_id": cmid,
        }
    )
    started = await sock.expect("started")
    ack = await sock.expect("ack", client_msg_id=cmid)
    assert started["conversation_id"] == ack["conversation_id"] == world.convs["mine"]
    after = stored(world.node)
    assert after["contacts"] == before["contacts"]
    assert [c[0] for c in after["conversations"]] == [c[0] for c in before["conversations"]]


async def test_the_gateway_logged_no_unexpected_error(world: World) -> None:
    """Last: none of the above reached the catch-all (an ``internal`` error frame)."""
    assert world.node.alive()
    log = world.node.output()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
