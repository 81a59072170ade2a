"""Bad input gets a documented error frame or close code; the gateway stays up and
nothing is half-stored. The app in-process, but for the frame size limit, which uvicorn
enforces (a real process)."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from devkit.endpoint import Endpoint
from devkit.inprocess import InProcessGateway
from devkit.services import SECRET_KEY, GatewayProcess
from tests.gateway.client import Socket
from tests.gateway.conftest import demo_agent, demo_visitor

pytestmark = pytest.mark.asyncio(loop_scope="module")  # shared_inprocess's event loop

SECRET = SECRET_KEY


async def _visitor_socket(node: Endpoint, origin: str | None = None) -> Socket:
    ws = await node.websocket("/ws/visitor", origin=origin or f"http://127.0.0.1:{node.port}")
    return Socket(ws)


async def _ready_visitor(node: Endpoint) -> Socket:
    v = demo_visitor(node)
    await v.bootstrap()
    await v.connect()
    await v.start()
    assert v.sock
    return v.sock


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "explode"}', "unknown_type"),
        ('{"type": "send", "body": "x"}', "invalid_field"),
        ('{"type": "send", "body": "", "client_msg_id": "a"}', "invalid_field"),
        ('{"type": "send", "body": "  \\n\\t ", "client_msg_id": "a"}', "invalid_field"),
        ('{"type": "send", "body": 5, "client_msg_id": "a"}', "invalid_field"),
        ('{"type": "send", "body": "x", "client_msg_id": "a", "admin": true}', "invalid_field"),
        ('{"type": "read", "seq": -1}', "invalid_field"),
        ('{"type": "history", "limit": 100000}', "invalid_field"),
        (
            '{"type": "send", "body": "x", "client_msg_id": "a", "conversation_id": "cv_nope"}',
            "not_found",
        ),
        ('{"type": "hello", "v": 1, "token": "again"}', "bad_frame"),
        ('{"type": "typing", "active": "yes"}', "invalid_field"),
        # the NUL character, which PostgreSQL's text cannot hold (a store_error there)
        ('{"type": "send", "body": "x", "client_msg_id": "a\\u0000"}', "invalid_field"),
        ('{"type": "history", "conversation_id": "cv\\u0000"}', "invalid_field"),
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_stays_open(
    shared_inprocess: InProcessGateway, frame: str, code: str
) -> None:
    sock = await _ready_visitor(shared_inprocess)
    await sock.send(frame)
    error = await sock.expect("error")
    assert error["code"] == code
    # Still open and working.
    await sock.send({"type": "send", "body": "still here", "client_msg_id": "ok-1"})
    assert (await sock.expect("ack"))["client_msg_id"] == "ok-1"
    assert shared_inprocess.alive()


async def test_invalid_form_fields_start_nothing(shared_inprocess: InProcessGateway) -> None:
    v = demo_visitor(shared_inprocess)
    await v.bootstrap()
    await v.connect()
    assert v.sock
    await v.sock.send({"type": "start", "fields": {"email": "not-an-email"}})
    error = await v.sock.expect("error")
    assert error["code"] == "invalid_field" and error["message"].startswith("email:")
    await v.sock.send({"type": "start", "fields": {"shoe_size": "44"}})
    assert (await v.sock.expect("error"))["message"].startswith("shoe_size:")
    await v.sock.send({"type": "send", "body": "hi", "client_msg_id": "x"})
    assert (await v.sock.expect("error"))["code"] == "no_conversation"


async def test_an_oversized_frame_closes_with_1009_and_others_are_unaffected(
    shared_gateway: GatewayProcess,
) -> None:
    bystander = await _ready_visitor(shared_gateway)
    sock = await _ready_visitor(shared_gateway)
    await sock.send("x" * 70_000)
    assert await sock.expect_close() == 1009
    await bystander.send({"type": "send", "body": "unaffected", "client_msg_id": "b-1"})
    assert (await bystander.expect("ack"))["client_msg_id"] == "b-1"


async def test_a_long_message_body_is_refused_not_truncated(
    shared_inprocess: InProcessGateway,
) -> None:
    sock = await _ready_visitor(shared_inprocess)
    await sock.send({"type": "send", "body": "y" * 4001, "client_msg_id": "long"})
    error = await sock.expect("error")
    assert error["code"] == "invalid_field" and "body" in error["message"]
    await sock.send({"type": "history"})
    history = await sock.expect("history")
    assert all(i.get("client_msg_id") != "long" for i in history["items"])


async def test_binary_frames_close_the_session(shared_inprocess: InProcessGateway) -> None:
    sock = await _ready_visitor(shared_inprocess)
    await sock.send(b"\x00\x01binary")
    assert await sock.expect_close() == 1003  # unsupported data (RFC 6455), not a bad hello


def _visitor_token(node: Endpoint, **over: object) -> str:
    now = time.time()
    claims = {
        "typ": "visitor",
        "tp": "tp_demo_127",
        "org": f"http://127.0.0.1:{node.port}",
        "page": f"http://127.0.0.1:{node.port}",
        "vid": "vi_forged",
        "exp": now + 60,
        "iat": now,
        "first": now,
        **over,
    }
    key = over.pop("key", SECRET) if "key" in over else SECRET
    claims.pop("key", None)
    return jwt.encode(claims, str(key), algorithm="HS256")


@pytest.mark.parametrize(
    ("hello", "origin", "code"),
    [
        ('{"type": "send", "body": "x", "client_msg_id": "a"}', None, 4000),
        ("not json", None, 4000),
        ('{"type": "hello", "v": 99, "token": "t"}', None, 4006),
        ('{"type": "hello", "v": 1, "token": "garbage"}', None, 4001),
        ("FORGED", None, 4001),
        ("EXPIRED", None, 4002),
        ("AGENT", None, 4001),
        ("OTHER_ORIGIN", "http://evil.test", 4003),
        ("OTHER_TOUCHPOINT", None, 4003),
    ],
)
async def test_session_failures_close_with_documented_codes(
    shared_inprocess: InProcessGateway, hello: str, origin: str | None, code: int
) -> None:
    tokens = {
        "FORGED": _visitor_token(shared_inprocess, key="another-secret-another-secret-123456"),
        "EXPIRED": _visitor_token(shared_inprocess, exp=time.time() - 5),
        "AGENT": jwt.encode(
            {"typ": "agent", "sub": "ag_demo", "sid": "x", "exp": time.time() + 60},
            SECRET,
            algorithm="HS256",
        ),
        "OTHER_ORIGIN": _visitor_token(shared_inprocess),
        "OTHER_TOUCHPOINT": _visitor_token(shared_inprocess, tp="tp_missing"),
    }
    if hello in tokens:
        hello = json.dumps({"type": "hello", "v": 1, "token": tokens[hello]})
    sock = await _visitor_socket(shared_inprocess, origin)
    await sock.send(hello)
    assert await sock.expect_close() == code
    assert shared_inprocess.alive()


async def test_a_token_replayed_from_another_origin_is_refused(
    shared_inprocess: InProcessGateway,
) -> None:
    v = demo_visitor(shared_inprocess)
    await v.bootstrap()
    sock = await _visitor_socket(shared_inprocess, origin="http://localhost:1")
    await sock.send({"type": "hello", "v": 1, "token": v.token})
    assert await sock.expect_close() == 4003


async def test_agent_socket_refuses_foreign_origins_and_visitor_tokens(
    shared_inprocess: InProcessGateway,
) -> None:
    ws = await shared_inprocess.websocket("/ws/agent", origin="http://evil.test")
    assert await Socket(ws).expect_close() == 1008
    v = demo_visitor(shared_inprocess)
    await v.bootstrap()
    ws = await shared_inprocess.websocket("/ws/agent", origin=shared_inprocess.base_url)
    sock = Socket(ws)
    await sock.send({"type": "hello", "v": 1, "token": v.token})
    assert await sock.expect_close() == 4001


async def test_agent_frames_for_unknown_conversations_are_refused(
    shared_inprocess: InProcessGateway,
) -> None:
    agent = demo_agent(shared_inprocess)
    await agent.login()
    await agent.connect()
    for action in ("assign", "accept", "reject", "end", "send_to_inbox"):
        refused = await agent.act(action, "cv_unknown")
        assert refused["type"] == "error" and refused["code"] == "not_found"
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "sleeping"})
    assert (await agent.sock.expect("error"))["code"] == "invalid_field"


@pytest.mark.parametrize(
    ("body", "origin", "status", "code"),
    [
        (
            {"touchpoint_id": "tp_demo_127", "page_url": "http://evil.test/"},
            "SELF",
            403,
            "domain_mismatch",
        ),
        (
            {"touchpoint_id": "tp_demo_127", "page_url": "http://127.0.0.1.evil.test/"},
            "SELF",
            403,
            "domain_mismatch",
        ),
        (
            {"touchpoint_id": "tp_unknown", "page_url": "PAGE"},
            "SELF",
            403,
            "touchpoint_unavailable",
        ),
        (
            {"touchpoint_id": "tp_demo_127", "page_url": "PAGE"},
            "http://evil.test",
            403,
            "origin_mismatch",
        ),
        ({"touchpoint_id": "tp_demo_127", "page_url": "PAGE"}, None, 403, "origin_required"),
        ({"touchpoint_id": "tp_demo_127"}, "SELF", 422, "invalid_request"),
        (
            {"touchpoint_id": "tp_demo_127", "page_url": "PAGE", "extra": 1},
            "SELF",
            422,
            "invalid_request",
        ),
    ],
)
async def test_bootstrap_refusals(
    shared_inprocess: InProcessGateway,
    body: dict[str, object],
    origin: str | None,
    status: int,
    code: str,
) -> None:
    page = f"http://127.0.0.1:{shared_inprocess.port}/demo"
    body = {k: (page if v == "PAGE" else v) for k, v in body.items()}
    headers = (
        {}
        if origin is None
        else {"Origin": shared_inprocess.base_url if origin == "SELF" else origin}
    )
    async with shared_inprocess.http() as http:
        r = await http.post("/widget/bootstrap", json=body, headers=headers)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
