"""A revoked credential stays revoked, and what the gateway serves and stores is safe
(issue 11, items 5-11): visitor token grace, agent sessions revoked everywhere, demo
accounts never re-seeded, headers on every path, the Host header not trusted, private
data files, store failures and readiness, control and bidi characters."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devkit import services
from devkit.inprocess import InProcessGateway
from gateway.auth import Tokens
from gateway.model.records import Agent
from gateway.ports.store import create_store
from tests.gateway.client import AgentClient, Socket, accepted_chat
from tests.security.conftest import UNLIMITED, visitor

ADMIN = ("admin@demo.test", "demo-admin")
BOUND = 60.0


async def _post(
    node: services.GatewayProcess, path: str, token: str = "", **kw: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=BOUND) as http:
        return await http.post(node.base_url + path, headers=headers, **kw)  # type: ignore[arg-type]


async def _get(
    node: services.GatewayProcess, path: str, token: str = "", **kw: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=BOUND) as http:
        return await http.get(node.base_url + path, headers=headers)


async def _token(node: services.GatewayProcess, email: str, password: str) -> str:
    r = await _post(node, "/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


# -- 5. an expired visitor token buys a new one only within the grace ----------------------------


async def test_an_expired_visitor_token_is_renewed_only_within_the_grace(
    node: services.GatewayProcess,
) -> None:
    v = visitor(node)
    await v.bootstrap()
    tokens = Tokens(node.env["GATEWAY_SECRET_KEY"].encode(), visitor_ttl=900, agent_ttl=900)
    claims = tokens.verify_visitor(v.token)
    now = time.time()

    def expired(seconds_ago: float) -> str:
        token, _ = tokens.issue_visitor(
            touchpoint_id=claims.tp,
            origin=claims.org,
            page_origin=claims.page,
            visitor_id=claims.vid,
            now=now - 900 - seconds_ago,
            first_seen=claims.first,
        )
        return token

    async def bootstrap_with(token: str) -> str:
        r = await _post(
            node,
            "/widget/bootstrap",
            json={"touchpoint_id": v.touchpoint_id, "page_url": v.page_url, "visitor_token": token},
            headers={"Origin": v.origin},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["visitor_id"])

    assert await bootstrap_with(expired(60)) == claims.vid  # a reload after a short absence
    assert await bootstrap_with(expired(900 + 60)) != claims.vid  # past the 15-minute grace
    assert await bootstrap_with(expired(29 * 24 * 3600)) != claims.vid  # a stolen old token


# -- 6. agent sessions -------------------------------------------------------------------------


async def _closed_with(sock: Socket) -> int:
    return await sock.expect_close(BOUND)


async def test_log_out_everywhere_ends_every_session_of_the_agent(
    node: services.GatewayProcess,
) -> None:
    a = AgentClient(node, "billing@demo.test", "pw-ag_billing")
    await a.login()
    await a.connect()
    assert a.sock
    other = await _token(node, a.email, a.password)  # another device
    colleague = await _token(node, "agent@demo.test", "demo-agent")
    assert (await _post(node, "/api/logout/everywhere", other)).status_code == 204
    assert await _closed_with(a.sock) == 4001
    for token in (a.token, other):
        assert (await _get(node, "/api/me", token)).status_code == 401
    assert (await _get(node, "/api/me", colleague)).status_code == 200  # only theirs


async def test_a_new_password_or_deactivation_revokes_and_reactivation_does_not_revive(
    node_factory: object,
) -> None:
    node = node_factory()  # type: ignore[operator]
    admin = await _token(node, *ADMIN)
    auth = {"Authorization": f"Bearer {admin}"}
    a = AgentClient(node, "billing@demo.test", "pw-ag_billing")
    await a.login()
    await a.connect()
    assert a.sock
    old = a.token
    async with httpx.AsyncClient(timeout=BOUND) as http:
        url = node.base_url + "/api/admin/agents/ag_billing"
        r = await http.patch(url, json={"password": "a-brand-new-password"}, headers=auth)
        assert r.status_code == 200, r.text
        assert await _closed_with(a.sock) == 4001
        assert (await _get(node, "/api/me", old)).status_code == 401
        fresh = await _token(node, a.email, "a-brand-new-password")
        assert (await http.patch(url, json={"active": False}, headers=auth)).status_code == 200
        assert (await http.patch(url, json={"active": True}, headers=auth)).status_code == 200
        assert (await _get(node, "/api/me", fresh)).status_code == 401  # not revived
        second = await _token(node, a.email, "a-brand-new-password")
        r = await http.post(url + "/logout", headers=auth)
        assert r.status_code == 204
        assert (await _get(node, "/api/me", second)).status_code == 401
        r = await http.post(node.base_url + "/api/admin/agents/ag_nobody/logout", headers=auth)
        assert r.status_code == 404


async def test_a_supervisor_demoted_while_monitoring_stops_receiving_the_chat(
    node_factory: object,
) -> None:
    node = node_factory()  # type: ignore[operator]
    admin = await _token(node, *ADMIN)
    auth = {"Authorization": f"Bearer {admin}"}
    url = node.base_url + "/api/admin/agents/ag_billing"
    async with httpx.AsyncClient(timeout=BOUND) as http:
        r = await http.patch(url, json={"role": "supervisor"}, headers=auth)
        assert r.status_code == 200, r.text
        cid = await accepted_chat(AgentClient(node, "agent@demo.test", "demo-agent"), visitor(node))
        sup = AgentClient(node, "billing@demo.test", "pw-ag_billing")
        await sup.login()
        await sup.connect()
        assert sup.sock
        await sup.sock.send({"type": "monitor", "conversation_id": cid})
        await sup.sock.expect("ok", ref=f"monitor:{cid}")
        r = await http.patch(url, json={"role": "agent"}, headers=auth)
        assert r.status_code == 200, r.text
        # the watch ends with the session: the socket closes, the old token is refused
        assert await _closed_with(sup.sock) == 4001
        assert (await _get(node, "/api/me", sup.token)).status_code == 401


# -- 7. demo mode never re-seeds an account --------------------------------------------------


async def test_demo_mode_never_overwrites_an_account(tmp_path: Path) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db", "GATEWAY_DEMO": "1"}
    node = services.start_gateway(env)
    try:
        admin = await _token(node, *ADMIN)
        async with httpx.AsyncClient(timeout=BOUND) as http:
            auth = {"Authorization": f"Bearer {admin}"}
            base = node.base_url + "/api/admin/agents/"
            r = await http.patch(
                base + "ag_admin", json={"password": "operator-secret"}, headers=auth
            )
            assert r.status_code == 200
            admin = await _token(node, ADMIN[0], "operator-secret")
            auth = {"Authorization": f"Bearer {admin}"}
            assert (await http.delete(base + "ag_demo", headers=auth)).status_code == 204
    finally:
        node.stop()
    node = services.start_gateway(env)  # restarted, demo still on
    try:
        r = await _post(node, "/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        assert r.status_code == 401
        await _token(node, ADMIN[0], "operator-secret")
        r = await _post(
            node, "/api/login", json={"email": "agent@demo.test", "password": "demo-agent"}
        )
        assert r.status_code == 401  # the deleted demo agent stays deleted
    finally:
        node.stop()


async def test_demo_mode_seeds_nothing_into_a_store_with_real_agents(tmp_path: Path) -> None:
    """The demo's public passwords stay out of a real deployment's database, even when
    it runs with GATEWAY_DEMO=1 (./scripts/serve's default)."""
    url = f"sqlite:///{tmp_path}/gateway.db"
    store = create_store(url)
    await store.open()
    hashed = PasswordHasher().hash("a-real-password-123")
    await store.put_agent(
        Agent(
            id="ag_ops", email="ops@company.example", name="Ops", role="admin", password_hash=hashed
        )
    )
    await store.close()
    node = services.start_gateway({"GATEWAY_DATABASE_URL": url, "GATEWAY_DEMO": "1"})
    try:
        r = await _post(node, "/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        assert r.status_code == 401
        await _token(node, "ops@company.example", "a-real-password-123")
    finally:
        node.stop()
    store = create_store(url)
    await store.open()
    try:
        assert [a.id for a in await store.list_agents()] == ["ag_ops"]
    finally:
        await store.close()


# -- 8. headers on every path ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/console/index.html", "/console//index.html", "/widget//frame.html", "/console/"]
)
async def test_every_page_is_served_with_a_framing_policy(
    node: services.GatewayProcess, path: str
) -> None:
    r = await _get(node, path)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/demo", "/demo/phone", "/demo/email", "/demo/bot"])
async def test_every_demo_page_is_served_with_a_framing_policy(path: str) -> None:
    """Regression: /demo/phone set a policy of its own without frame-ancestors, so the
    guard's default was not added and any site could frame it."""
    env = {"GATEWAY_DEMO": "1", "GATEWAY_DEMO_PROVIDERS": "twilio=http://127.0.0.1:9"}
    async with InProcessGateway(env) as gw, gw.http() as http:
        r = await http.get(path)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"], path
    policy = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy or "frame-ancestors 'self'" in policy, policy
    assert r.headers["x-content-type-options"] == "nosniff"


# -- 9. the Host header is not the gateway's origin ------------------------------------------


async def test_a_forged_host_does_not_make_an_origin_the_gateways_own(
    node: services.GatewayProcess,
) -> None:
    token = await _token(node, "agent@demo.test", "demo-agent")
    with pytest.raises((ConnectionClosed, InvalidStatus)) as closed:
        # The URI's host is the Host header (one line: an additional "Host" header would
        # be a second, after the real one, which is the one the server reads); the TCP
        # connection goes to the gateway's real address, with no proxy in between.
        async with connect(
            "ws://evil.test/ws/agent",
            host="127.0.0.1",
            port=node.port,
            proxy=None,
            origin="http://evil.test",  # type: ignore[arg-type]
        ) as ws:
            assert ws.request is not None
            assert ws.request.headers.get_all("Host") == ["evil.test"]
            await ws.send(f'{{"type":"hello","v":1,"token":"{token}"}}')
            await asyncio.wait_for(ws.recv(), BOUND)
    if isinstance(closed.value, ConnectionClosed):
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    v = visitor(node)
    r = await _post(
        node,
        "/widget/bootstrap",
        json={"touchpoint_id": v.touchpoint_id, "page_url": v.page_url},
        headers={"Origin": "http://evil.test", "Host": "evil.test"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_mismatch"


# -- 10. data files, store failures, readiness --------------------------------------------------


async def test_the_sqlite_files_are_private(node: services.GatewayProcess) -> None:
    db = Path(node.env["GATEWAY_DATABASE_URL"].removeprefix("sqlite:///"))
    for path in (db, *db.parent.glob(db.name + "-*")):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_a_schema_from_the_future_is_not_ready_and_refuses_to_start() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gw-future-"))
    env = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/gateway.db", **UNLIMITED}
    node = services.start_gateway(env)
    try:
        assert _ready(node) == 200
        with sqlite3.connect(tmp / "gateway.db") as db:
            db.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', 0)")
        assert _ready(node) == 503
    finally:
        node.stop()
    with pytest.raises(RuntimeError, match="schema version is 9999"):
        services.start_gateway(env)


def test_a_missing_table_is_not_ready() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gw-table-"))
    node = services.start_gateway({"GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/gateway.db"})
    try:
        with sqlite3.connect(tmp / "gateway.db") as db:
            db.execute("DROP TABLE contact_addresses")
        assert _ready(node) == 503
    finally:
        node.stop()


def _ready(node: services.GatewayProcess) -> int:
    return httpx.get(node.base_url + "/readyz", timeout=BOUND).status_code


async def test_postgres_refusing_writes_or_down_is_unready_and_503(
    postgres: services.Postgres,
) -> None:
    url = services.createdb(postgres, "gw_outage")
    node = services.start_gateway({"GATEWAY_DATABASE_URL": url, "GATEWAY_DEMO": "1"})
    try:
        assert _ready(node) == 200
        conn = await __import__("asyncpg").connect(url)
        try:
            await conn.execute("ALTER DATABASE gw_outage SET default_transaction_read_only = on")
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = 'gw_outage' AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        assert _ready(node) == 503  # reads answer, writes do not: not ready
        r = await _post(node, "/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable", r.text
        assert "read-only" not in r.text and "transaction" not in r.text
        assert "Traceback" not in node.output()
    finally:
        node.stop()


def test_store_text_never_reaches_a_client() -> None:
    """The drivers' constraint errors name tables, columns and stored values: each
    dialect's translation keeps that text for the log and gives clients a generic
    sentence (what a client sees is ``public_message``: the HTTP error body, the error
    frame, the close reason)."""
    import asyncpg.exceptions as pgerr

    from gateway.ports.store import postgres, sqlite

    secret = "the visitor's stored message"
    raised = [
        sqlite._translate(
            sqlite3.IntegrityError(f"UNIQUE constraint failed: messages.body {secret}")
        ),
        sqlite._translate(sqlite3.IntegrityError("FOREIGN KEY constraint failed: conversations")),
        postgres._translate(
            pgerr.UniqueViolationError(
                f'duplicate key value violates unique constraint "messages_body" Key (body)=({secret})'
            )
        ),
        postgres._translate(
            pgerr.ForeignKeyViolationError(
                'Key (conversation_id)=(c1) is not in table "conversations"'
            )
        ),
    ]
    for exc in raised:
        shown = exc.public_message
        assert shown in ("this already exists", "a record this refers to does not exist"), shown
        assert secret not in shown and "constraint" not in shown.lower()
        assert secret in str(exc) or "conversations" in str(exc)  # kept for the log


# -- 11. control and bidi characters ----------------------------------------------------------


async def test_control_and_bidi_characters_are_stripped_from_names_and_messages(
    node: services.GatewayProcess,
) -> None:
    agent = AgentClient(node, "agent@demo.test", "demo-agent")
    v = visitor(node)
    cid = await accepted_chat(agent, v, name="\u202egnp.exe\u0007")
    await v.say("pay \u202e\u2066fdp.exe\u2069\x1b[31m\nnow")
    assert agent.sock
    message = await agent.sock.expect("message", conversation_id=cid)
    assert message["body"] == "pay fdp.exe[31m\nnow"
    admin = await _token(node, *ADMIN)
    history = await _get(node, f"/api/admin/conversations/{cid}/messages", admin)
    assert "pay fdp.exe[31m\nnow" in [m["body"] for m in history.json()["items"]]
    r = await _get(node, f"/api/admin/conversations/{cid}", admin)
    contact = await _get(node, f"/api/admin/contacts/{r.json()['contact_id']}", admin)
    assert contact.json()["name"] == "gnp.exe"
