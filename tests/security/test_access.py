"""Every action is authorised: a visitor only in their own conversation, an agent only on
conversations their queues let them see, the admin API only for admins; tokens are bound
to what they were issued for and revocable."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import jwt
from websockets.asyncio.client import connect

from devkit.services import GatewayProcess
from tests.gateway.client import AgentClient, Socket
from tests.security.conftest import agent, bootstrap, visitor

KEY = "test-secret-key-0123456789abcdef-0123456789"
AGENT = ("agent@demo.test", "demo-agent")
BILLING = ("billing@demo.test", "pw-ag_billing")
ADMIN = ("admin@demo.test", "demo-admin")


async def test_a_visitor_cannot_read_or_write_another_visitors_conversation(
    node: GatewayProcess,
) -> None:
    alice = visitor(node)
    await alice.bootstrap()
    await alice.connect()
    alice_conv = await alice.start("Alice's secret", name="Alice")
    mallory = visitor(node)
    await mallory.bootstrap()
    await mallory.connect()
    await mallory.start(name="Mallory")
    assert mallory.sock and alice.sock
    for frame in (
        {"type": "send", "body": "injected", "client_msg_id": "m1", "conversation_id": alice_conv},
        {"type": "history", "conversation_id": alice_conv},
        {"type": "read", "seq": 1, "conversation_id": alice_conv},
        {"type": "typing", "active": True, "conversation_id": alice_conv},
    ):
        await mallory.sock.send(frame)
        error = await mallory.sock.expect("error")
        assert error["code"] == "not_found", frame
    # A resume point on Alice's conversation replays nothing of it.
    await mallory.sock.close()
    mallory.last_seq = {alice_conv: 0}
    await mallory.connect()
    await mallory.sock.send({"type": "history"})
    await mallory.sock.expect("history")
    leaked = [f for f in mallory.sock.seen if f.get("conversation_id") == alice_conv]
    assert leaked == []
    # Nothing was stored in Alice's conversation; she still sees only her message.
    await alice.sock.send({"type": "history"})
    items = (await alice.sock.expect("history"))["items"]
    assert [i["body"] for i in items if i.get("sender") != "system"] == ["Alice's secret"]


async def test_a_token_of_one_touchpoint_is_useless_on_another(node: GatewayProcess) -> None:
    v = visitor(node, "tp_demo_127")
    await v.bootstrap()
    # As the remembered visitor of another touchpoint's bootstrap: a new visitor id.
    r = await bootstrap(
        node,
        {
            "touchpoint_id": "tp_billing",
            "page_url": f"http://127.0.0.1:{node.port}/x",
            "visitor_token": v.token,
        },
    )
    assert r.status_code == 200 and r.json()["visitor_id"] != v.visitor_id
    # On the socket from the other touchpoint's site (localhost): refused.
    sock = Socket(
        await connect(node.ws_url + "/ws/visitor", origin=f"http://localhost:{node.port}")  # type: ignore[arg-type]
    )
    await sock.send({"type": "hello", "v": 1, "token": v.token})
    assert await sock.expect_close() == 4003
    # Without any Origin header (a script, not a browser): refused too.
    sock = Socket(await connect(node.ws_url + "/ws/visitor"))
    await sock.send({"type": "hello", "v": 1, "token": v.token})
    assert await sock.expect_close() == 4003


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_and_unsigned_tokens_are_refused(node: GatewayProcess) -> None:
    v = visitor(node)
    await v.bootstrap()
    header, payload, signature = v.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    tampered = ".".join([header, _b64({**claims, "vid": "vi_victim"}), signature])
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
    hs512 = jwt.encode({**claims}, KEY + KEY, algorithm="HS512")
    no_typ = jwt.encode({k: x for k, x in claims.items() if k != "typ"}, KEY, algorithm="HS256")
    for token in (tampered, unsigned, hs512, no_typ, "", "." * 3, "x" * 4096):
        sock = Socket(await connect(node.ws_url + "/ws/visitor", origin=v.origin))  # type: ignore[arg-type]
        await sock.send({"type": "hello", "v": 1, "token": token})
        assert await sock.expect_close() in (4000, 4001), token[:40]
    # The agent socket and the API refuse the same games with an agent token.
    ag = agent(node, *AGENT)
    await ag.login()
    header, payload, signature = ag.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    as_admin = ".".join([header, _b64({**claims, "sub": "ag_admin"}), signature])
    async with httpx.AsyncClient() as http:
        r = await http.get(
            node.base_url + "/api/admin/agents", headers={"Authorization": f"Bearer {as_admin}"}
        )
        assert r.status_code == 401
        # A validly signed token whose session belongs to someone else: refused.
        stolen_sid = jwt.encode(
            {"typ": "agent", "sub": "ag_admin", "sid": claims["sid"], "exp": time.time() + 60},
            KEY,
            algorithm="HS256",
        )
        r = await http.get(
            node.base_url + "/api/admin/agents", headers={"Authorization": f"Bearer {stolen_sid}"}
        )
        assert r.status_code == 401


async def test_an_agent_cannot_act_outside_their_queues(node: GatewayProcess) -> None:
    """ag_billing is only in q_billing; a tp_demo_127 conversation goes to q_support."""
    support = agent(node, *AGENT)
    await support.login()
    await support.connect()
    outsider = agent(node, *BILLING)
    await outsider.login()
    snap = await outsider.connect()
    v = visitor(node)
    await v.bootstrap()
    await v.connect()
    cid = await v.start("for support only", name="Quinn")
    assert all(row["conversation_id"] != cid for row in snap["inbox"])
    assert outsider.sock
    for action, extra in (
        ("assign", {}),
        ("accept", {}),
        ("reject", {}),
        ("end", {}),
        ("send_to_inbox", {}),
        ("transfer", {"to_queue_id": "q_billing"}),
        ("wrapup", {"notes": "x"}),
    ):
        refused = await outsider.act(action, cid, **extra)
        assert refused["type"] == "error" and refused["code"] == "not_found", action
    for frame in (
        {"type": "history", "conversation_id": cid},
        {"type": "read", "conversation_id": cid, "seq": 1},
        {"type": "typing", "conversation_id": cid, "active": True},
        {"type": "send", "conversation_id": cid, "body": "hijack", "client_msg_id": "h1"},
    ):
        await outsider.sock.send(frame)
        assert (await outsider.sock.expect("error"))["code"] == "not_found", frame
    # The conversation went untouched: still offered to or waiting for support, no
    # reply stored, and the outsider's typing never reached the visitor.
    assert v.sock
    await v.sock.send({"type": "history"})
    items = (await v.sock.expect("history"))["items"]
    assert [i["body"] for i in items if i.get("sender") != "system"] == ["for support only"]
    assert not [f for f in v.sock.seen if f["type"] == "typing"]


async def test_an_agent_cannot_reply_in_a_colleagues_conversation(node: GatewayProcess) -> None:
    v = visitor(node, "tp_billing")
    await v.bootstrap()
    await v.connect()
    cid = await v.start(name="Rita")
    owner = agent(node, *BILLING)
    await owner.login()
    await owner.connect()
    got = await owner.act("assign", cid)
    if got["type"] == "error":  # offered rather than in the Inbox: accept it
        got = await owner.act("accept", cid)
    assert got["type"] == "ok", got
    # The demo agent (q_support) cannot see it; nor can a forged id prefix trick.
    other = agent(node, *AGENT)
    await other.login()
    await other.connect()
    for action in ("end", "transfer", "send_to_inbox"):
        refused = await other.act(
            action, cid, **({"to_queue_id": "q_support"} if action == "transfer" else {})
        )
        assert refused["type"] == "error", action


async def test_revoked_and_expired_agent_tokens_are_refused_everywhere(
    node: GatewayProcess,
) -> None:
    admin = agent(node, *ADMIN)
    await admin.login()
    expired = jwt.encode(
        {"typ": "agent", "sub": "ag_admin", "sid": "se_x", "exp": time.time() - 1},
        KEY,
        algorithm="HS256",
    )
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {admin.token}"}
        assert (
            await http.get(node.base_url + "/api/admin/agents", headers=auth)
        ).status_code == 200
        r = await http.get(
            node.base_url + "/api/admin/agents", headers={"Authorization": f"Bearer {expired}"}
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"
        await admin.connect()
        assert admin.sock
        assert (await http.post(node.base_url + "/api/logout", headers=auth)).status_code == 204
        # Logout closes the open socket with 4001 ...
        assert await admin.sock.expect_close() == 4001
        # ... and the token is dead for the API and for a new socket.
        assert (
            await http.get(node.base_url + "/api/admin/agents", headers=auth)
        ).status_code == 401
    again = AgentClient(node, *ADMIN, token=admin.token)
    sock = Socket(await connect(node.ws_url + "/ws/agent", origin=node.base_url))  # type: ignore[arg-type]
    await sock.send({"type": "hello", "v": 1, "token": again.token})
    assert await sock.expect_close() == 4001
    sock = Socket(await connect(node.ws_url + "/ws/agent", origin=node.base_url))  # type: ignore[arg-type]
    await sock.send({"type": "hello", "v": 1, "token": expired})
    assert await sock.expect_close() == 4002


async def test_the_agent_socket_refuses_pages_other_than_the_console(node: GatewayProcess) -> None:
    ag = agent(node, *AGENT)
    await ag.login()
    for origin in (None, "http://evil.test", f"http://127.0.0.1:{node.port}.evil.test", "null"):
        ws = await connect(node.ws_url + "/ws/agent", origin=origin)  # type: ignore[arg-type]
        sock = Socket(ws)
        # Even with a valid token, the socket is closed before any frame is read.
        await asyncio.gather(
            sock.send({"type": "hello", "v": 1, "token": ag.token}), return_exceptions=True
        )
        assert await sock.expect_close() == 1008, origin
        assert not [f for f in sock.seen if f.get("type") == "snapshot"]
